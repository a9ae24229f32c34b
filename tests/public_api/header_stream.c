/* streamfit_stream.h compiles on its own in C. */
#include <streamfit_stream.h>

int sf_header_stream_c(void);
int sf_header_stream_c(void) { return (int)sizeof(sf_stream_options); }
