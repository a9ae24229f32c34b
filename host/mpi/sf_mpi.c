/*
 * sf_mpi.c — the MPI wrappers of sf_mpi.h, and their single-rank stand-ins
 * in a build without MPI (STREAMFIT_HAVE_MPI undefined) or a process started
 * without a launcher.
 */
#include "sf_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

#ifdef STREAMFIT_HAVE_MPI
#include <mpi.h>
#endif

static struct {
    bool initialized_here;
    bool active;
    int rank, size, local_rank, local_size;
    sf_mpi_traffic traffic;
} g = {.size = 1, .local_size = 1};

bool sf_mpi_built(void)
{
#ifdef STREAMFIT_HAVE_MPI
    return true;
#else
    return false;
#endif
}

void sf_mpi_library(char *buf, size_t len)
{
    if (!len) return;
    buf[0] = '\0';
#ifdef STREAMFIT_HAVE_MPI
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (MPI_Get_library_version(v, &n) == MPI_SUCCESS) {
        v[strcspn(v, ",\n")] = '\0';
        snprintf(buf, len, "%s", v);
    }
#endif
}

bool sf_mpi_launched(void)
{
    /* Open MPI's mpirun, PMIx launchers (srun --mpi=pmix), PMI-1/2 (MPICH, srun). */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

void sf_mpi_host(char *buf, size_t len)
{
    if (!len) return;
    if (gethostname(buf, len) != 0) snprintf(buf, len, "unknown");
    buf[len - 1] = '\0';
}

bool sf_mpi_active(void) { return g.active && g.size > 1; }
int sf_mpi_rank(void) { return g.rank; }
int sf_mpi_size(void) { return g.size; }
int sf_mpi_local_rank(void) { return g.local_rank; }
int sf_mpi_local_size(void) { return g.local_size; }

void sf_mpi_traffic_get(sf_mpi_traffic *t) { *t = g.traffic; }

#ifdef STREAMFIT_HAVE_MPI

/* Time and count one MPI call, and the bytes it sends from this rank. */
#define SF_MPI_CALL(bytes, call)                                                                   \
    do {                                                                                           \
        double t0_ = sf_clock_mono_s();                                                            \
        rc_ = (call);                                                                              \
        g.traffic.seconds += sf_clock_mono_s() - t0_;                                              \
        g.traffic.bytes_sent += (uint64_t)(bytes);                                                 \
        g.traffic.calls++;                                                                         \
    } while (0)

static sf_status status_of(int rc) { return rc == MPI_SUCCESS ? SF_OK : SF_ERR_IO; }

sf_status sf_mpi_init(int *argc, char ***argv)
{
    int done = 0;
    MPI_Initialized(&done);
    if (!done) {
        if (!sf_mpi_launched()) return SF_OK;
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return SF_ERR_IO;
        g.initialized_here = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g.rank, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(node, &g.local_rank);
        MPI_Comm_size(node, &g.local_size);
        MPI_Comm_free(&node);
    }
    /* Errors come back as codes (reported, then every rank stopped by the
     * caller), not as a silent abort inside the library. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    g.active = true;
    /* GPU nodes: rank i of a node takes GPU (i mod device count), unless the
     * user chose already (the CUDA backend reads this; host-side combine). */
    char dev[16];
    snprintf(dev, sizeof dev, "%d", g.local_rank);
    setenv("STREAMFIT_CUDA_DEVICE", dev, 0);
    return SF_OK;
}

void sf_mpi_finalize(void)
{
    int finished = 0;
    MPI_Finalized(&finished);
    if (g.initialized_here && !finished) MPI_Finalize();
    g.initialized_here = false;
    g.active = false;
}

sf_status sf_mpi_allreduce_sum(double *v, size_t n)
{
    if (!sf_mpi_active() || n == 0) return SF_OK;
    /* A sum on rank 0, then its bits to everyone: MPI_Allreduce may round
     * differently on different ranks, and ranks whose steps differ in the
     * last bit could take different branches and stall a collective. */
    int rc_;
    SF_MPI_CALL(g.rank == 0 ? 0 : n * sizeof(double),
                MPI_Reduce(g.rank == 0 ? MPI_IN_PLACE : v, v, (int)n, MPI_DOUBLE, MPI_SUM, 0,
                           MPI_COMM_WORLD));
    if (rc_ != MPI_SUCCESS) return SF_ERR_IO;
    return sf_mpi_bcast(v, n, 0);
}

sf_status sf_mpi_allreduce_sum_u64(uint64_t *v, size_t n)
{
    if (!sf_mpi_active() || n == 0) return SF_OK;
    int rc_;
    SF_MPI_CALL(n * sizeof(uint64_t),
                MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
    return status_of(rc_);
}

sf_status sf_mpi_allreduce_max_u64(uint64_t *v)
{
    if (!sf_mpi_active()) return SF_OK;
    int rc_;
    SF_MPI_CALL(sizeof *v,
                MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD));
    return status_of(rc_);
}

sf_status sf_mpi_allreduce_max(double *v, size_t n)
{
    if (!sf_mpi_active() || n == 0) return SF_OK;
    int rc_;
    SF_MPI_CALL(n * sizeof(double),
                MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    return status_of(rc_);
}

sf_status sf_mpi_exscan_sum_u64(uint64_t v, uint64_t *before)
{
    *before = 0;
    if (!sf_mpi_active()) return SF_OK;
    uint64_t r = 0;
    int rc_;
    SF_MPI_CALL(sizeof v, MPI_Exscan(&v, &r, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
    if (g.rank > 0) *before = r; /* rank 0's receive buffer is undefined */
    return status_of(rc_);
}

sf_status sf_mpi_bcast(double *v, size_t n, int root)
{
    if (!sf_mpi_active() || n == 0) return SF_OK;
    int rc_;
    SF_MPI_CALL(g.rank == root ? n * sizeof(double) : 0,
                MPI_Bcast(v, (int)n, MPI_DOUBLE, root, MPI_COMM_WORLD));
    return status_of(rc_);
}

sf_status sf_mpi_gather_bytes(const void *v, size_t n, void *out, int root)
{
    if (!sf_mpi_active()) {
        memcpy(out, v, n);
        return SF_OK;
    }
    int rc_;
    SF_MPI_CALL(n, MPI_Gather(v, (int)n, MPI_BYTE, out, (int)n, MPI_BYTE, root, MPI_COMM_WORLD));
    return status_of(rc_);
}

/* The lengths first, then the bytes; root's buffer is allocated between, and
 * whether it could be is broadcast, so that no rank waits for a gather that
 * root cannot take. */
sf_status sf_mpi_gatherv_bytes(const void *v, size_t n, void **out, size_t *lens, int root)
{
    *out = NULL;
    if (!sf_mpi_active()) {
        *out = malloc(n ? n : 1);
        if (!*out) return SF_ERR_NO_MEMORY;
        if (n) memcpy(*out, v, n);
        lens[0] = n;
        return SF_OK;
    }
    int me = (int)n, rc_;
    int *counts = g.rank == root ? calloc((size_t)g.size * 2, sizeof(int)) : NULL;
    SF_MPI_CALL(sizeof me, MPI_Gather(&me, 1, MPI_INT, counts, 1, MPI_INT, root, MPI_COMM_WORLD));
    if (rc_ != MPI_SUCCESS) {
        free(counts);
        return status_of(rc_);
    }
    int ok = g.rank != root || counts != NULL;
    size_t total = 0;
    for (int r = 0; ok && g.rank == root && r < g.size; r++) {
        counts[g.size + r] = (int)total; /* displacements */
        total += (size_t)counts[r];
    }
    char *buf = ok && g.rank == root ? malloc(total ? total : 1) : NULL;
    if (g.rank == root && !buf) ok = 0;
    SF_MPI_CALL(sizeof ok, MPI_Bcast(&ok, 1, MPI_INT, root, MPI_COMM_WORLD));
    if (rc_ == MPI_SUCCESS && ok)
        SF_MPI_CALL(n, MPI_Gatherv(v, me, MPI_BYTE, buf, counts, counts ? counts + g.size : NULL,
                                   MPI_BYTE, root, MPI_COMM_WORLD));
    sf_status st = rc_ != MPI_SUCCESS ? status_of(rc_) : ok ? SF_OK : SF_ERR_NO_MEMORY;
    for (int r = 0; st == SF_OK && g.rank == root && r < g.size; r++)
        lens[r] = (size_t)counts[r];
    free(counts);
    if (st == SF_OK && g.rank == root)
        *out = buf;
    else
        free(buf);
    return st;
}

sf_status sf_mpi_barrier(void)
{
    if (!sf_mpi_active()) return SF_OK;
    int rc_;
    SF_MPI_CALL(0, MPI_Barrier(MPI_COMM_WORLD));
    return status_of(rc_);
}

void sf_mpi_abort(int code)
{
    if (g.active) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

sf_status sf_mpi_tree_merge(double *rec, size_t n, sf_mpi_merge_fn merge, void *user)
{
    if (!sf_mpi_active()) return SF_OK;
    double *in = malloc(sizeof(double) * (n ? n : 1));
    int ok = in != NULL;
    /* Every rank learns whether every rank has the buffer: no rank may be
     * left waiting in the tree for one that gave up. */
    int rc_;
    SF_MPI_CALL(sizeof ok, MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (rc_ != MPI_SUCCESS || !ok) {
        free(in);
        return rc_ != MPI_SUCCESS ? SF_ERR_IO : SF_ERR_NO_MEMORY;
    }
    sf_status st = SF_OK;
    /* Binomial tree: at step s, rank r (r % 2s == 0) folds in rank r + s,
     * whose record covers the rows of ranks r + s .. r + 2s - 1, all after
     * r's own: the merge order is the ranks' order, as in one process. A
     * failed merge still passes its record on, so the tree never stalls;
     * the status is shared at the end. */
    for (int s = 1; s < g.size; s *= 2) {
        if (g.rank % (2 * s) == s) {
            SF_MPI_CALL(n * sizeof(double),
                        MPI_Send(rec, (int)n, MPI_DOUBLE, g.rank - s, s, MPI_COMM_WORLD));
            if (rc_ != MPI_SUCCESS) st = SF_ERR_IO;
            break;
        }
        if (g.rank % (2 * s) == 0 && g.rank + s < g.size) {
            SF_MPI_CALL(0, MPI_Recv(in, (int)n, MPI_DOUBLE, g.rank + s, s, MPI_COMM_WORLD,
                                    MPI_STATUS_IGNORE));
            if (rc_ != MPI_SUCCESS) st = SF_ERR_IO;
            if (st == SF_OK) st = merge(rec, in, n, user);
        }
    }
    free(in);
    int failed = st != SF_OK;
    SF_MPI_CALL(sizeof failed,
                MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (rc_ != MPI_SUCCESS) return SF_ERR_IO;
    if (failed) return st != SF_OK ? st : SF_ERR_IO;
    return sf_mpi_bcast(rec, n, 0);
}

#else /* no MPI: one rank */

sf_status sf_mpi_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return SF_OK;
}
void sf_mpi_finalize(void) {}
sf_status sf_mpi_allreduce_sum(double *v, size_t n)
{
    (void)v;
    (void)n;
    return SF_OK;
}
sf_status sf_mpi_allreduce_sum_u64(uint64_t *v, size_t n)
{
    (void)v;
    (void)n;
    return SF_OK;
}
sf_status sf_mpi_allreduce_max_u64(uint64_t *v)
{
    (void)v;
    return SF_OK;
}
sf_status sf_mpi_allreduce_max(double *v, size_t n)
{
    (void)v;
    (void)n;
    return SF_OK;
}
sf_status sf_mpi_exscan_sum_u64(uint64_t v, uint64_t *before)
{
    (void)v;
    *before = 0;
    return SF_OK;
}
sf_status sf_mpi_bcast(double *v, size_t n, int root)
{
    (void)v;
    (void)n;
    (void)root;
    return SF_OK;
}
sf_status sf_mpi_gather_bytes(const void *v, size_t n, void *out, int root)
{
    (void)root;
    memcpy(out, v, n);
    return SF_OK;
}
sf_status sf_mpi_gatherv_bytes(const void *v, size_t n, void **out, size_t *lens, int root)
{
    (void)root;
    *out = malloc(n ? n : 1);
    if (!*out) return SF_ERR_NO_MEMORY;
    if (n) memcpy(*out, v, n);
    lens[0] = n;
    return SF_OK;
}
sf_status sf_mpi_barrier(void) { return SF_OK; }
void sf_mpi_abort(int code) { exit(code); }
sf_status sf_mpi_tree_merge(double *rec, size_t n, sf_mpi_merge_fn merge, void *user)
{
    (void)rec;
    (void)n;
    (void)merge;
    (void)user;
    return SF_OK;
}

#endif
