/*
 * cli.h — what the `streamfit` subcommands share: exit codes, messages,
 * option-value parsing, the library's log sink, and bad-record reports.
 */
#ifndef STREAMFIT_CLI_H
#define STREAMFIT_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "clock.h" /* sf_clock_mono_s for timing phases */
#include "parse.h"
#include "streamfit.h"

/* 3: a stream stopped because no broker answered for longer than
 * --broker-timeout-ms (checkpointed; a restart resumes). */
enum { SF_EXIT_OK = 0, SF_EXIT_FAILURE = 1, SF_EXIT_USAGE = 2, SF_EXIT_UNREACHABLE = 3 };

int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_broker(int argc, char **argv);
int cmd_produce(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_dashboard(int argc, char **argv);

/* "streamfit: message" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message plus a hint to --help; returns SF_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool cli_parse_double(const char *s, double *out);
bool cli_parse_long(const char *s, long lo, long hi, long *out);

/* Log sink for the library: warnings and errors to stderr; info when verbose. */
void cli_log(void *user, sf_log_level level, const char *msg);
/* A log that holds its lines back until released, so that a command can
 * report a bad input before any notice about the device it started. */
typedef struct cli_log_hold {
    const bool *verbose; /* as cli_log's user: info lines too when true */
    bool holding;
    char held[1024];
} cli_log_hold;
void cli_log_held(void *user, sf_log_level level, const char *msg);
/* Print (or drop) what was held; from now on lines go out at once. */
void cli_log_release(cli_log_hold *h, bool print);

/* A context on `device` with this log (cli_log with a bool *verbose, or
 * cli_log_held), or NULL after saying why on stderr. */
sf_context *cli_context(sf_device_kind device, int threads, sf_log_fn log, void *log_user);

typedef enum cli_on_error { CLI_ON_ERROR_SKIP, CLI_ON_ERROR_FAIL } cli_on_error;
bool cli_parse_on_error(const char *s, cli_on_error *out);

/* Options common to commands that read records. */
typedef struct cli_input {
    const char *path;
    sf_parse_options parse;
    cli_on_error on_error;
    bool label_set;
} cli_input;

void cli_input_init(cli_input *in);
/* Handle --label/--format/--no-header/--features/--threads; false if `opt`
 * is none of them; *bad set when its value is invalid (usage printed). */
bool cli_input_option(cli_input *in, const char *cmd, int opt, const char *arg, bool *bad);

/* Read and parse the input; report bad records (first few with line numbers,
 * and the total). Returns SF_EXIT_OK, or the exit status to leave with. */
int cli_read_input(cli_input *in, sf_table *t);
/* The same for an input already in memory (data, len). */
int cli_read_loaded_input(cli_input *in, const char *data, size_t len, sf_table *t);

/* Report one more bad record found after parsing (e.g. an unknown class). */
void cli_report_bad_row(uint64_t line, const char *reason, size_t *shown);
/* After the bad rows (shown: cli_report_bad_row's count): how many more were
 * not printed, and the total. */
void cli_report_bad_total(uint64_t bad, size_t shown, size_t kept);

/* Common long-option ids above the char range. */
enum {
    OPT_LABEL = 1000,
    OPT_FORMAT,
    OPT_NO_HEADER,
    OPT_FEATURES,
    OPT_THREADS,
    OPT_ON_ERROR,
    OPT_INPUT,
    OPT_DEVICE,
};

#define CLI_INPUT_LONG_OPTIONS                                                                     \
    {"input", required_argument, 0, OPT_INPUT}, {"label", required_argument, 0, OPT_LABEL},        \
        {"format", required_argument, 0, OPT_FORMAT},                                              \
        {"no-header", no_argument, 0, OPT_NO_HEADER},                                              \
        {"features", required_argument, 0, OPT_FEATURES},                                          \
        {"threads", required_argument, 0, OPT_THREADS},                                            \
    {                                                                                              \
        "on-error", required_argument, 0, OPT_ON_ERROR                                             \
    }

#endif
