/* Platform comparison: bench.js fetches api/bench. A page saved with its
   data (streamfit dashboard --export) replaces this file by one that sets
   window.STREAMFIT_BENCH to that JSON. */
