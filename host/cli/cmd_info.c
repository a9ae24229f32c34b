/*
 * cmd_info.c — `streamfit info`: version, build options, BLAS, threads and
 * the compute devices this process can see.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "streamfit_http.h"

int cmd_info(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("Usage: streamfit info\n\nPrint the version, build options, BLAS library, threads "
             "and compute devices.");
        return SF_EXIT_OK;
    }
    if (argc > 1) return cli_usage_error("info", "unexpected argument '%s'", argv[1]);
    sf_build_info bi;
    sf_get_build_info(&bi);
    printf("streamfit %s\n", bi.version);
    printf("build: cuda=%s kafka=%s http=%s\n", bi.cuda_built ? "on" : "off",
           bi.kafka_built ? "on" : "off", sf_http_available() ? "on" : "off");
    printf("blas: %s\n", bi.blas ? bi.blas : "unknown");
    printf("threads: %d (cores online: %d)\n", bi.blas_threads, bi.cores);
    char devices[2048];
    sf_describe_devices(devices, sizeof devices);
    printf("devices:\n");
    for (char *line = strtok(devices, "\n"); line; line = strtok(NULL, "\n"))
        printf("  %s\n", line);
    return SF_EXIT_OK;
}
