/*
 * cli_common.c — helpers shared by the subcommands: messages, option values,
 * reading an input with bad-record reporting, class labels.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CLI_ERRORS_SHOWN 5

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("streamfit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "streamfit %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'streamfit %s --help')\n", cmd);
    va_end(ap);
    return SF_EXIT_USAGE;
}

bool cli_parse_double(const char *s, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool cli_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

void cli_log(void *user, sf_log_level level, const char *msg)
{
    bool verbose = user && *(const bool *)user;
    if (level <= SF_LOG_WARN || verbose) fprintf(stderr, "streamfit: %s\n", msg);
}

bool cli_parse_on_error(const char *s, cli_on_error *out)
{
    if (strcmp(s, "skip") == 0)
        *out = CLI_ON_ERROR_SKIP;
    else if (strcmp(s, "fail") == 0)
        *out = CLI_ON_ERROR_FAIL;
    else
        return false;
    return true;
}

void cli_input_init(cli_input *in)
{
    memset(in, 0, sizeof *in);
    sf_parse_options_init(&in->parse);
    in->on_error = CLI_ON_ERROR_SKIP;
}

bool cli_input_option(cli_input *in, const char *cmd, int opt, const char *arg, bool *bad)
{
    long v;
    *bad = false;
    switch (opt) {
    case OPT_INPUT: in->path = arg; return true;
    case OPT_LABEL:
        in->label_set = true;
        if (cli_parse_long(arg, 0, 1000000000L, &v)) {
            in->parse.label_index = v;
            in->parse.label_name = NULL;
        } else {
            in->parse.label_name = arg;
        }
        return true;
    case OPT_FORMAT:
        if (strcmp(arg, "csv") == 0)
            in->parse.format = SF_FORMAT_CSV;
        else if (strcmp(arg, "libsvm") == 0 || strcmp(arg, "svmlight") == 0)
            in->parse.format = SF_FORMAT_LIBSVM;
        else
            *bad = cli_usage_error(cmd, "unknown --format '%s' (csv or libsvm)", arg) != 0;
        return true;
    case OPT_NO_HEADER: in->parse.has_header = false; return true;
    case OPT_FEATURES:
        if (cli_parse_long(arg, 1, 100000000L, &v))
            in->parse.n_features = (size_t)v;
        else
            *bad = cli_usage_error(cmd, "--features needs a positive integer, not '%s'", arg);
        return true;
    case OPT_THREADS:
        if (cli_parse_long(arg, 1, 4096, &v))
            in->parse.threads = (int)v;
        else
            *bad = cli_usage_error(cmd, "--threads needs a positive integer, not '%s'", arg);
        return true;
    case OPT_ON_ERROR:
        if (!cli_parse_on_error(arg, &in->on_error))
            *bad = cli_usage_error(cmd, "--on-error must be skip or fail, not '%s'", arg);
        return true;
    default: return false;
    }
}

void cli_report_bad_row(uint64_t line, const char *reason, size_t *shown)
{
    if (*shown < CLI_ERRORS_SHOWN)
        fprintf(stderr, "streamfit: line %llu: %s\n", (unsigned long long)line, reason);
    (*shown)++;
}

void cli_report_bad_total(uint64_t bad, size_t shown, size_t kept)
{
    if (bad == 0) return;
    if (shown > CLI_ERRORS_SHOWN) shown = CLI_ERRORS_SHOWN; /* counted past the printed ones */
    if (bad > shown)
        fprintf(stderr, "streamfit: ... and %llu more bad records\n",
                (unsigned long long)(bad - shown));
    fprintf(stderr, "streamfit: skipped %llu bad records, kept %zu rows\n", (unsigned long long)bad,
            kept);
}

void cli_log_held(void *user, sf_log_level level, const char *msg)
{
    cli_log_hold *h = user;
    bool shown = level <= SF_LOG_WARN || (h->verbose && *h->verbose);
    if (!shown) return;
    if (!h->holding) {
        fprintf(stderr, "streamfit: %s\n", msg);
        return;
    }
    size_t used = strlen(h->held);
    snprintf(h->held + used, sizeof h->held - used, "streamfit: %s\n", msg);
}

void cli_log_release(cli_log_hold *h, bool print)
{
    if (h->holding && print) fputs(h->held, stderr);
    h->held[0] = '\0';
    h->holding = false;
}

sf_context *cli_context(sf_device_kind device, int threads, sf_log_fn log, void *log_user)
{
    sf_context_options copt;
    sf_context_options_init(&copt);
    copt.device = device;
    copt.threads = threads;
    copt.log = log;
    copt.log_user = log_user;
    sf_context *ctx = NULL;
    sf_status st = sf_context_create(&copt, &ctx);
    if (st == SF_OK) return ctx;
    /* A device failure has been explained by the log already. */
    if (st != SF_ERR_DEVICE) cli_error("cannot start a backend: %s", sf_strerror(st));
    return NULL;
}

static int report_table(const cli_input *in, sf_table *t);

int cli_read_input(cli_input *in, sf_table *t)
{
    if (in->parse.format == SF_FORMAT_LIBSVM && in->label_set && in->parse.label_name) {
        cli_error("--label by name needs CSV with a header");
        return SF_EXIT_USAGE;
    }
    char err[512] = "";
    sf_status st = sf_parse_file(in->path, &in->parse, t, err, sizeof err);
    if (st != SF_OK) {
        cli_error("%s", err[0] ? err : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    return report_table(in, t);
}

int cli_read_loaded_input(cli_input *in, const char *data, size_t len, sf_table *t)
{
    char err[512] = "";
    sf_status st = sf_parse_buffer(data, len, &in->parse, t, err, sizeof err);
    if (st != SF_OK) {
        cli_error("%s", err[0] ? err : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    return report_table(in, t);
}

/* Bad records of a parsed table: the first few with their line, and the
 * total; fatal under --on-error fail. */
static int report_table(const cli_input *in, sf_table *t)
{
    if (t->bad_rows == 0) return SF_EXIT_OK;
    if (in->on_error == CLI_ON_ERROR_FAIL) {
        const sf_parse_error *e = &t->errors[0];
        cli_error("line %llu: %s (--on-error fail)", (unsigned long long)e->line, e->reason);
        return SF_EXIT_FAILURE;
    }
    size_t shown = 0;
    for (size_t i = 0; i < t->n_errors; i++)
        cli_report_bad_row(t->errors[i].line, t->errors[i].reason, &shown);
    cli_report_bad_total(t->bad_rows, shown, t->rows);
    return SF_EXIT_OK;
}
