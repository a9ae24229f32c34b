/*
 * main.c — the `streamfit` command: dispatch to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sf_mpi.h"

static const char main_help[] =
    "Usage: streamfit COMMAND [options]\n"
    "\n"
    "Fit linear models (least squares, logistic, softmax) on CPU BLAS or CUDA,\n"
    "from files or from records as they arrive.\n"
    "\n"
    "Commands:\n"
    "  train     fit a model on a file and write it as JSON\n"
    "  predict   predict rows with a model file\n"
    "  eval      score a model on labelled rows (JSON metrics)\n"
    "  stream    learn from records as they arrive (Kafka, files, a directory, stdin)\n"
    "  broker    run the in-memory development Kafka broker\n"
    "  produce   replay a file into a Kafka topic at a steady rate\n"
    "  info      version, build options, BLAS, threads and devices\n"
    "  bench     compare platforms (CPU, GPU, processes) and peer libraries on one fit\n"
    "  dashboard the live page for a finished run, and bench results side by side\n"
    "\n"
    "Run 'streamfit COMMAND --help' for a command's options.\n";

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"train", cmd_train},   {"predict", cmd_predict}, {"eval", cmd_eval},
    {"info", cmd_info},     {"broker", cmd_broker},   {"produce", cmd_produce},
    {"stream", cmd_stream}, {"bench", cmd_bench},     {"dashboard", cmd_dashboard},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return SF_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        fputs(main_help, stdout);
        return SF_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("streamfit %s\n", sf_version_string());
        return SF_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0) continue;
        /* Under mpirun or srun every rank runs the same command; alone, one rank. */
        if (sf_mpi_init(&argc, &argv) != SF_OK) {
            fprintf(stderr, "streamfit: MPI initialization failed\n");
            return SF_EXIT_FAILURE;
        }
        int rc = commands[i].run(argc - 1, argv + 1);
        sf_mpi_finalize();
        return rc;
    }
    fprintf(stderr, "streamfit: unknown command '%s' (see 'streamfit --help')\n", name);
    return SF_EXIT_USAGE;
}
