/*
 * cmd_dashboard.c — `streamfit dashboard`: the live page for runs that are
 * over (a --metrics-out file replayed) and the platform comparison
 * (`streamfit bench --format json` results), served like `stream --http`
 * or exported as static files. The library does the work
 * (streamfit_http.h: sf_dashboard_*); this file reads the flags, serves
 * until SIGINT or SIGTERM, and turns statuses into exit codes.
 */
#define _POSIX_C_SOURCE 200809L /* sigwait, pthread_sigmask */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "stream_http.h"
#include "streamfit_http.h"

static const char dashboard_help[] =
    "Usage: streamfit dashboard (--metrics FILE | --bench FILE [FILE...])\n"
    "                           (--http [ADDR:]PORT | --export DIR) [options]\n"
    "\n"
    "The live page for runs that are over, and the platform comparison.\n"
    "\n"
    "  --metrics FILE        replay a `streamfit stream --metrics-out` file: learning\n"
    "                        curve, latency, throughput over time, refits. Long runs\n"
    "                        are drawn with 1200 evenly spaced lines (the last kept);\n"
    "                        the page says so\n"
    "  --bench FILE...       `streamfit bench --format json` results side by side: wall\n"
    "                        time per platform by phase, speed-up over Spark MLlib and\n"
    "                        scikit-learn, quality; one group per machine\n"
    "  --label NAME          the machine of the Nth --bench file, for the Nth --label\n"
    "                        (default: the file's machine: its name, or CPU and cores)\n"
    "  --on-error fail|skip  malformed metrics lines (each reported with its line\n"
    "                        number): fail (default) exits 1; skip shows the rest and\n"
    "                        counts them on the page\n"
    "\n"
    "Where to show it:\n"
    "  --http [ADDR:]PORT    serve the page until Ctrl-C: / (the replay, or the\n"
    "                        comparison with --bench alone), /bench.html, /api/status,\n"
    "                        /api/bench, /metrics, /healthz. ADDR is 127.0.0.1 unless\n"
    "                        given (a warning for any other); PORT 0 picks a free one\n"
    "  --http-token TOKEN    every request needs 'Authorization: Bearer TOKEN' (default:\n"
    "                        $STREAMFIT_HTTP_TOKEN)\n"
    "  --export DIR          write the page into DIR as static files with its data as\n"
    "                        scripts: open DIR/index.html from disk, no server needed\n"
    "                        (with both: index.html the replay, bench.html the\n"
    "                        comparison)\n"
    "\n"
    "Exit status: 0 shown, 1 a file could not be read or is not what it should be,\n"
    "2 bad usage.\n";

enum {
    OPT_METRICS = 6000,
    OPT_BENCH,
    OPT_MACHINE_LABEL,
    OPT_HTTP_LISTEN,
    OPT_HTTP_TOKEN,
    OPT_EXPORT,
    OPT_ERRORS,
    OPT_HELP_DASHBOARD,
};

typedef struct dashboard_args {
    sf_dashboard_options o;
    const char **bench, **labels;
    size_t n_labels;
    const char *listen, *token, *export_dir;
    bool skip_malformed;
} dashboard_args;

static void say(void *user, sf_log_level level, const char *msg)
{
    (void)user;
    fprintf(stderr, "streamfit: %s%s\n", level <= SF_LOG_WARN ? "warning: " : "", msg);
}

static int parse(dashboard_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"metrics", required_argument, 0, OPT_METRICS},
        {"bench", required_argument, 0, OPT_BENCH},
        {"label", required_argument, 0, OPT_MACHINE_LABEL},
        {"http", required_argument, 0, OPT_HTTP_LISTEN},
        {"http-token", required_argument, 0, OPT_HTTP_TOKEN},
        {"export", required_argument, 0, OPT_EXPORT},
        {"on-error", required_argument, 0, OPT_ERRORS},
        {"help", no_argument, 0, OPT_HELP_DASHBOARD},
        {0, 0, 0, 0},
    };
    const char *cmd = "dashboard";
    bool bench_flag = false;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_METRICS:
            if (a->o.metrics) return cli_usage_error(cmd, "--metrics is given twice");
            a->o.metrics = optarg;
            break;
        case OPT_BENCH:
            bench_flag = true;
            a->bench[a->o.n_bench++] = optarg;
            break;
        case OPT_MACHINE_LABEL:
            if (!optarg[0]) return cli_usage_error(cmd, "--label needs a name");
            a->labels[a->n_labels++] = optarg;
            break;
        case OPT_HTTP_LISTEN: a->listen = optarg; break;
        case OPT_HTTP_TOKEN: a->token = optarg; break;
        case OPT_EXPORT: a->export_dir = optarg; break;
        case OPT_ERRORS:
            if (strcmp(optarg, "skip") != 0 && strcmp(optarg, "fail") != 0)
                return cli_usage_error(cmd, "--on-error is fail or skip, not '%s'", optarg);
            a->skip_malformed = strcmp(optarg, "skip") == 0;
            break;
        case 'h':
        case OPT_HELP_DASHBOARD: fputs(dashboard_help, stdout); return -1;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    for (; optind < argc; optind++) { /* --bench a.json b.json ... */
        if (!bench_flag) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        a->bench[a->o.n_bench++] = argv[optind];
    }
    if (!a->o.metrics && !a->o.n_bench)
        return cli_usage_error(cmd, "nothing to show: give --metrics FILE or --bench FILE...");
    if (!a->listen && !a->export_dir)
        return cli_usage_error(cmd, "where to show it: give --http [ADDR:]PORT or --export DIR");
    if (a->n_labels > a->o.n_bench)
        return cli_usage_error(cmd, "%zu --label for %zu --bench file(s): one per file, in order",
                               a->n_labels, a->o.n_bench);
    if (a->export_dir && !a->export_dir[0]) return cli_usage_error(cmd, "--export needs a folder");
    for (size_t i = 0; i < a->o.n_bench; i++)
        a->labels[i] = i < a->n_labels ? a->labels[i] : NULL;
    a->o.bench = a->bench;
    a->o.bench_labels = a->labels;
    return SF_EXIT_OK;
}

/* What was read, on stderr; SF_EXIT_FAILURE when malformed lines are not
 * to be skipped. */
static int report_loaded(const dashboard_args *a, const sf_dashboard *d)
{
    sf_dashboard_info in;
    sf_dashboard_get_info(d, &in);
    if (a->o.metrics && in.malformed_lines) {
        cli_error("%s: %llu malformed line(s), the first at line %llu%s", a->o.metrics,
                  (unsigned long long)in.malformed_lines, (unsigned long long)in.first_malformed,
                  a->skip_malformed ? "; skipped (--on-error skip)"
                                    : "; nothing shown (--on-error skip shows the other lines)");
        if (!a->skip_malformed) return SF_EXIT_FAILURE;
    }
    if (a->o.metrics)
        fprintf(stderr, "streamfit: %s: %llu metrics lines, %zu points drawn%s\n", a->o.metrics,
                (unsigned long long)in.metrics_lines, in.points,
                in.downsampled ? " (evenly spaced over the run, the last kept)" : "");
    if (in.bench_files)
        fprintf(stderr, "streamfit: %zu bench result file(s), %zu platform runs\n", in.bench_files,
                in.bench_platforms);
    return SF_EXIT_OK;
}

static int serve(const dashboard_args *a, const sf_dashboard *d)
{
    /* the stop signals are blocked in every thread (the server's inherit
     * the mask) and taken here with sigwait */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    const char *token = a->token ? a->token : getenv("STREAMFIT_HTTP_TOKEN");
    sf_http_options ho;
    sf_http_options_init(&ho);
    ho.listen = a->listen;
    ho.token = token;
    ho.command_line = a->o.command_line;
    ho.log = say;
    char err[512] = "";
    sf_http *h = NULL;
    sf_status st = sf_dashboard_serve(d, &ho, &h, err, sizeof err);
    if (st != SF_OK) {
        cli_error("%s", err[0] ? err : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    fprintf(stderr, "streamfit: dashboard on %s (%s%s%s)%s; Ctrl-C ends\n", sf_http_url(h),
            a->o.metrics ? "/api/status, /metrics" : "", a->o.metrics && a->o.n_bench ? ", " : "",
            a->o.n_bench ? "/bench.html, /api/bench" : "",
            token && token[0] ? "; token required" : "");
    int sig = 0;
    sigwait(&stop, &sig);
    sf_http_stop(h);
    return SF_EXIT_OK;
}

int cmd_dashboard(int argc, char **argv)
{
    dashboard_args a;
    memset(&a, 0, sizeof a);
    sf_dashboard_options_init(&a.o);
    a.bench = calloc((size_t)argc + 1, sizeof *a.bench);
    a.labels = calloc((size_t)argc + 1, sizeof *a.labels);
    char command_line[4096];
    cli_masked_command_line(command_line, sizeof command_line, "dashboard", argc, argv);
    a.o.command_line = command_line;
    a.o.log = say;
    int rc = a.bench && a.labels ? parse(&a, argc, argv) : SF_EXIT_FAILURE;
    if (!a.bench || !a.labels) cli_error("out of memory");
    sf_dashboard *d = NULL;
    if (rc == SF_EXIT_OK) {
        char err[1024] = "";
        sf_status st = sf_dashboard_load(&a.o, &d, err, sizeof err);
        if (st != SF_OK) {
            cli_error("%s", err[0] ? err : sf_strerror(st));
            rc = st == SF_ERR_INVALID_ARGUMENT ? SF_EXIT_USAGE : SF_EXIT_FAILURE;
        }
    }
    if (rc == SF_EXIT_OK) rc = report_loaded(&a, d);
    if (rc == SF_EXIT_OK && a.export_dir) {
        char err[1024] = "";
        sf_status st = sf_dashboard_export(d, a.export_dir, err, sizeof err);
        if (st != SF_OK) {
            cli_error("export: %s", err[0] ? err : sf_strerror(st));
            rc = SF_EXIT_FAILURE;
        } else {
            fprintf(stderr, "streamfit: page written to %s/index.html (opens from disk)\n",
                    a.export_dir);
        }
    }
    if (rc == SF_EXIT_OK && a.listen) rc = serve(&a, d);
    sf_dashboard_destroy(d);
    free(a.bench);
    free(a.labels);
    return rc < 0 ? SF_EXIT_OK : rc;
}
