/*
 * cmd_info.c — `streamfit info`: version, build options, BLAS, threads and
 * the compute devices this process can see; under mpirun, rank 0 prints
 * every rank's rank, size and host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sf_mpi.h"
#include "streamfit_http.h"

int cmd_info(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("Usage: streamfit info\n\nPrint the version, build options, BLAS library, threads "
             "and compute devices.");
        return SF_EXIT_OK;
    }
    if (argc > 1) return cli_usage_error("info", "unexpected argument '%s'", argv[1]);
    /* Each rank's line, gathered on rank 0, which alone prints. */
    char me[128];
    char host[64];
    sf_mpi_host(host, sizeof host);
    snprintf(me, sizeof me, "rank %d of %d on %s (local rank %d)", sf_mpi_rank(), sf_mpi_size(),
             host, sf_mpi_local_rank());
    size_t ranks = (size_t)sf_mpi_size();
    char *all = sf_mpi_rank() == 0 ? calloc(ranks, sizeof me) : NULL;
    if (sf_mpi_rank() == 0 && !all) {
        cli_error("out of memory");
        return SF_EXIT_FAILURE;
    }
    char scratch[sizeof me];
    if (sf_mpi_gather_bytes(me, sizeof me, all ? all : scratch, 0) != SF_OK) {
        free(all);
        cli_error("MPI gather failed");
        return SF_EXIT_FAILURE;
    }
    if (sf_mpi_rank() != 0) return SF_EXIT_OK;
    sf_build_info bi;
    sf_get_build_info(&bi);
    printf("streamfit %s\n", bi.version);
    printf("build: cuda=%s kafka=%s http=%s\n", bi.cuda_built ? "on" : "off",
           bi.kafka_built ? "on" : "off", sf_http_available() ? "on" : "off");
    char lib[256];
    sf_mpi_library(lib, sizeof lib);
    printf("mpi: %s%s%s%s\n", sf_mpi_built() ? "on" : "off", lib[0] ? " (" : "", lib,
           lib[0] ? ")" : "");
    for (size_t r = 0; r < ranks; r++)
        printf("  %s\n", all + r * sizeof me);
    free(all);
    printf("blas: %s\n", bi.blas ? bi.blas : "unknown");
    printf("threads: %d (cores online: %d)\n", bi.blas_threads, bi.cores);
    char devices[2048];
    sf_describe_devices(devices, sizeof devices);
    printf("devices:\n");
    for (char *line = strtok(devices, "\n"); line; line = strtok(NULL, "\n"))
        printf("  %s\n", line);
    return SF_EXIT_OK;
}
