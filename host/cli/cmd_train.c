/*
 * cmd_train.c — `streamfit train`: a file (or stdin) to a fitted model file.
 * Parse all rows (in parallel), map class labels, feed micro-batches to the
 * trainer, fit exactly, write the model atomically. Least squares on CSV
 * through a staging ring parses window by window straight into the ring's
 * slots instead (train_stream.c).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "class_labels.h"
#include "cli.h"
#include "sf_mpi.h"
#include "train.h"

static const char train_help[] =
    "Usage: streamfit train --model MODEL --input PATH|- --out MODEL.json [options]\n"
    "\n"
    "Fit a model on a whole file and write it as JSON.\n"
    "\n"
    "Model:\n"
    "  --model ols|ridge|logistic|softmax   what to fit (required)\n"
    "  --lambda X            L2 strength (ridge, logistic, softmax; default 0)\n"
    "  --standardize         fit on standardized features (population std);\n"
    "                        coefficients are still reported in raw units\n"
    "  --no-intercept        fit without an intercept\n"
    "  --solver S            auto|cholesky|qr (least squares), auto|newton|lbfgs\n"
    "                        (logistic, softmax); default auto (least squares:\n"
    "                        Cholesky, QR when the condition estimate asks;\n"
    "                        classifiers: the solver of lower estimated cost)\n"
    "  --max-iter N          Newton / L-BFGS iterations (default 100 / 1000)\n"
    "  --tol X               gradient-norm target (default 1e-10)\n"
    "\n"
    "Input:\n"
    "  --input PATH|-        CSV or LIBSVM file, '-' for stdin (required)\n"
    "  --format csv|libsvm   input format (default csv)\n"
    "  --label NAME|INDEX    label column (default: the first column)\n"
    "  --no-header           the CSV has no header line\n"
    "  --features N          LIBSVM: number of features (default: largest index)\n"
    "  --batch-rows N        rows per micro-batch (default 65536)\n"
    "  --on-error skip|fail  bad records: skip and report (default), or stop\n"
    "\n"
    "Compute:\n"
    "  --device auto|cpu|cuda  backend (default auto: GPU when usable, else CPU)\n"
    "  --staging auto|ring|direct  how least-squares batches reach the device: a\n"
    "                        ring of page-locked slots that CSV rows are parsed\n"
    "                        into while the GPU copies and folds the previous ones\n"
    "                        (ring), or whole-file parse then batches (direct);\n"
    "                        auto: ring on a GPU, direct on the CPU\n"
    "  --float32             least squares: features travel through the ring as\n"
    "                        float32 (half the bytes to the GPU; rounded on input,\n"
    "                        fitted exactly in float64 from there; implies ring)\n"
    "  --threads N           CPU threads for parsing and BLAS (default: all cores)\n"
    "  --verbose             say what the solver did and why it was chosen\n"
    "\n"
    "Output:\n"
    "  --out MODEL.json      model file, written atomically ('-': stdout)\n";

enum {
    OPT_MODEL = 2000,
    OPT_LAMBDA,
    OPT_STANDARDIZE,
    OPT_NO_INTERCEPT,
    OPT_SOLVER,
    OPT_MAX_ITER,
    OPT_TOL,
    OPT_BATCH_ROWS,
    OPT_OUT,
    OPT_VERBOSE,
    OPT_STAGING,
    OPT_FLOAT32,
    OPT_HELP,
};

static int parse_train_args(int argc, char **argv, train_args *a)
{
    static const struct option longopts[] = {
        CLI_INPUT_LONG_OPTIONS,
        {"model", required_argument, 0, OPT_MODEL},
        {"lambda", required_argument, 0, OPT_LAMBDA},
        {"standardize", no_argument, 0, OPT_STANDARDIZE},
        {"no-intercept", no_argument, 0, OPT_NO_INTERCEPT},
        {"solver", required_argument, 0, OPT_SOLVER},
        {"max-iter", required_argument, 0, OPT_MAX_ITER},
        {"tol", required_argument, 0, OPT_TOL},
        {"batch-rows", required_argument, 0, OPT_BATCH_ROWS},
        {"device", required_argument, 0, OPT_DEVICE},
        {"out", required_argument, 0, OPT_OUT},
        {"verbose", no_argument, 0, OPT_VERBOSE},
        {"staging", required_argument, 0, OPT_STAGING},
        {"float32", no_argument, 0, OPT_FLOAT32},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    const char *cmd = "train";
    int opt;
    long v;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool bad = false;
        if (cli_input_option(&a->in, cmd, opt, optarg, &bad)) {
            if (bad) return SF_EXIT_USAGE;
            continue;
        }
        switch (opt) {
        case OPT_MODEL:
            if (!sf_model_kind_parse(optarg, &a->fit.model))
                return cli_usage_error(cmd, "unknown --model '%s' (ols, ridge, logistic, softmax)",
                                       optarg);
            a->model_set = true;
            break;
        case OPT_LAMBDA:
            if (!cli_parse_double(optarg, &a->fit.lambda) || a->fit.lambda < 0)
                return cli_usage_error(cmd, "--lambda needs a number >= 0, not '%s'", optarg);
            break;
        case OPT_STANDARDIZE: a->fit.standardize = true; break;
        case OPT_NO_INTERCEPT: a->fit.fit_intercept = false; break;
        case OPT_SOLVER:
            if (!sf_solver_kind_parse(optarg, &a->fit.solver))
                return cli_usage_error(cmd, "unknown --solver '%s'", optarg);
            break;
        case OPT_MAX_ITER:
            if (!cli_parse_long(optarg, 1, 100000000L, &v))
                return cli_usage_error(cmd, "--max-iter needs a positive integer, not '%s'",
                                       optarg);
            a->fit.max_iter = (int)v;
            break;
        case OPT_TOL:
            if (!cli_parse_double(optarg, &a->fit.tol) || a->fit.tol < 0)
                return cli_usage_error(cmd, "--tol needs a number >= 0, not '%s'", optarg);
            break;
        case OPT_BATCH_ROWS:
            if (!cli_parse_long(optarg, 1, 1L << 30, &a->batch_rows))
                return cli_usage_error(cmd, "--batch-rows needs a positive integer, not '%s'",
                                       optarg);
            break;
        case OPT_DEVICE:
            if (!sf_device_kind_parse(optarg, &a->device))
                return cli_usage_error(cmd, "unknown --device '%s' (auto, cpu, cuda)", optarg);
            break;
        case OPT_OUT: a->out = optarg; break;
        case OPT_VERBOSE: a->verbose = true; break;
        case OPT_FLOAT32: a->fit.staging_float32 = true; break;
        case OPT_STAGING:
            if (!strcmp(optarg, "auto"))
                a->fit.staging = SF_STAGING_AUTO;
            else if (!strcmp(optarg, "ring"))
                a->fit.staging = SF_STAGING_RING;
            else if (!strcmp(optarg, "direct"))
                a->fit.staging = SF_STAGING_DIRECT;
            else
                return cli_usage_error(cmd, "unknown --staging '%s' (auto, ring, direct)", optarg);
            break;
        case 'h':
        case OPT_HELP: fputs(train_help, stdout); return -1;
        default:
            if (optopt || opt == '?')
                return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
            return cli_usage_error(cmd, "bad option");
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!a->model_set) return cli_usage_error(cmd, "--model is required");
    if (!a->in.path) return cli_usage_error(cmd, "--input is required");
    if (!a->out) return cli_usage_error(cmd, "--out is required");
    if (a->fit.model == SF_MODEL_OLS && a->fit.lambda > 0)
        return cli_usage_error(cmd, "--lambda applies to ridge, logistic and softmax, not ols");
    bool lsq = a->fit.model == SF_MODEL_OLS || a->fit.model == SF_MODEL_RIDGE;
    sf_solver_kind s = a->fit.solver;
    if (lsq && (s == SF_SOLVER_NEWTON || s == SF_SOLVER_LBFGS))
        return cli_usage_error(cmd, "--solver %s is for logistic and softmax",
                               sf_solver_kind_name(s));
    if (!lsq && (s == SF_SOLVER_CHOLESKY || s == SF_SOLVER_QR))
        return cli_usage_error(cmd, "--solver %s is for ols and ridge", sf_solver_kind_name(s));
    if (a->fit.staging_float32) {
        if (!lsq) return cli_usage_error(cmd, "--float32 is for ols and ridge");
        if (a->in.parse.format != SF_FORMAT_CSV)
            return cli_usage_error(cmd, "--float32 reads CSV input");
        if (a->fit.staging == SF_STAGING_DIRECT)
            return cli_usage_error(cmd, "--float32 goes through the staging ring, not direct");
        a->fit.staging = SF_STAGING_RING;
    }
    return SF_EXIT_OK;
}

/* Drop row i of the table (keeping order) when keep[i] is false. */
static void drop_rows(sf_table *t, const bool *keep)
{
    size_t w = 0;
    for (size_t i = 0; i < t->rows; i++) {
        if (!keep[i]) continue;
        if (w != i) {
            memmove(t->X + w * t->d, t->X + i * t->d, sizeof(double) * t->d);
            t->y[w] = t->y[i];
            t->line[w] = t->line[i];
        }
        w++;
    }
    t->bad_rows += t->rows - w;
    t->rows = w;
}

/* Map labels to class indices in place under the library's class-label
 * policy (class_labels.h); rows whose label is not a class are bad records
 * (reported, then skipped or fatal). Returns the classes, or NULL with
 * *status set. */
static double *map_classes(train_args *a, sf_table *t, size_t *K, int *status)
{
    double *classes = NULL;
    size_t k = 0;
    char none_why[160] = "";
    *status = SF_EXIT_FAILURE;
    sf_status cst = sf_class_labels_choose(a->fit.model, t->y, t->rows, &classes, &k, none_why,
                                           sizeof none_why);
    bool *keep = malloc(t->rows + 1);
    if (cst == SF_ERR_NO_MEMORY || !keep) {
        cli_error("out of memory");
        free(classes);
        free(keep);
        return NULL;
    }
    size_t shown = 0, dropped = 0;
    for (size_t i = 0; i < t->rows; i++) {
        keep[i] = sf_class_label_valid(a->fit.model, t->y[i]) &&
                  (!classes || sf_class_index(classes, k, t->y[i]) >= 0);
        if (keep[i]) continue;
        dropped++;
        char why[96];
        snprintf(why, sizeof why, "unknown class label %.17g%s", t->y[i],
                 a->fit.model == SF_MODEL_SOFTMAX ? " (classes are integers)"
                                                  : " (logistic classes are 0 and 1)");
        if (a->in.on_error == CLI_ON_ERROR_FAIL) {
            cli_error("line %llu: %s (--on-error fail)", (unsigned long long)t->line[i], why);
            free(classes);
            free(keep);
            return NULL;
        }
        cli_report_bad_row(t->line[i], why, &shown);
    }
    if (dropped) {
        fprintf(stderr, "streamfit: skipped %zu rows with unknown class labels\n", dropped);
        drop_rows(t, keep);
    }
    free(keep);
    if (cst != SF_OK) {
        cli_error("%s", none_why);
        return NULL;
    }
    for (size_t i = 0; i < t->rows; i++)
        t->y[i] = (double)sf_class_index(classes, k, t->y[i]);
    *K = k;
    *status = SF_EXIT_OK;
    return classes;
}

static int fit_and_save(train_args *a, sf_context *ctx, sf_table *t, const double *classes,
                        size_t K)
{
    sf_trainer *tr = NULL;
    a->fit.borrow_rows = true; /* the parsed table outlives the trainer */
    sf_status st = sf_trainer_create(ctx, &a->fit, t->d, K, &tr);
    size_t step = (size_t)a->batch_rows;
    for (size_t r = 0; st == SF_OK && r < t->rows; r += step) {
        size_t n = t->rows - r < step ? t->rows - r : step;
        st = sf_trainer_add_batch(tr, t->X + r * t->d, t->y + r, n);
    }
    int rc = SF_EXIT_FAILURE;
    if (st != SF_OK)
        cli_error("training failed: %s", sf_strerror(st));
    else
        rc = train_finish(a, ctx, tr, t, classes, K);
    sf_trainer_destroy(tr);
    return rc;
}

/* Parse the whole input (the one a row stream holds already, if any), map
 * class labels, fit on ctx. Without one, the backend starts after the input
 * is read, so a bad input is reported before any notice about the device;
 * with one, its held notices (hold) are printed only once the input is good. */
static int train_from_table(train_args *a, sf_row_stream *rs, sf_context *ctx, cli_log_hold *hold)
{
    sf_table t;
    memset(&t, 0, sizeof t);
    double t0 = sf_clock_mono_s();
    int rc;
    if (rs) {
        const char *data;
        size_t len;
        sf_row_stream_input(rs, &data, &len);
        rc = cli_read_loaded_input(&a->in, data, len, &t);
    } else {
        rc = cli_read_input(&a->in, &t);
    }
    if (hold) cli_log_release(hold, rc == SF_EXIT_OK);
    if (a->verbose && rc == SF_EXIT_OK)
        fprintf(stderr, "streamfit: parsed %zu rows x %zu features (%.1f MB) in %.1f ms\n", t.rows,
                t.d, (double)t.bytes / 1e6, (sf_clock_mono_s() - t0) * 1e3);
    double *classes = NULL;
    size_t K = 0;
    if (rc == SF_EXIT_OK &&
        (a->fit.model == SF_MODEL_LOGISTIC || a->fit.model == SF_MODEL_SOFTMAX)) {
        classes = map_classes(a, &t, &K, &rc);
        if (!classes && rc == SF_EXIT_OK) rc = SF_EXIT_FAILURE;
    }
    sf_context *own = rc == SF_EXIT_OK && !ctx
                          ? cli_context(a->device, a->in.parse.threads, cli_log, &a->verbose)
                          : NULL;
    if (!ctx) ctx = own;
    if (rc == SF_EXIT_OK && !ctx) rc = SF_EXIT_FAILURE;
    if (rc == SF_EXIT_OK) rc = fit_and_save(a, ctx, &t, classes, K);
    sf_context_destroy(own);
    free(classes);
    sf_table_free(&t);
    return rc;
}

/* Least squares on CSV may go window by window into a staging ring. The
 * input is opened first, then the backend decides; its notices are held
 * until the input has proved readable. */
static int train_maybe_streamed(train_args *a)
{
    char err[512] = "";
    sf_row_stream *rs = NULL;
    sf_table info;
    sf_status st = sf_row_stream_open(a->in.path, &a->in.parse, &rs, &info, err, sizeof err);
    if (st != SF_OK) {
        cli_error("%s", err[0] ? err : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    int rc = SF_EXIT_FAILURE;
    cli_log_hold hold = {.verbose = &a->verbose, .holding = true, .held = ""};
    sf_context *ctx = cli_context(a->device, a->in.parse.threads, cli_log_held, &hold);
    if (!ctx) {
        cli_log_release(&hold, true);
    } else if (train_streams(a, ctx)) {
        cli_log_release(&hold, true);
        rc = train_stream(a, ctx, rs, &info);
    } else {
        rc = train_from_table(a, rs, ctx, &hold);
    }
    sf_context_destroy(ctx);
    sf_row_stream_close(rs);
    sf_table_free(&info);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    memset(&a, 0, sizeof a);
    cli_input_init(&a.in);
    sf_fit_params_init(&a.fit);
    a.device = SF_DEVICE_AUTO;
    a.batch_rows = 65536;
    int rc = parse_train_args(argc, argv, &a);
    if (rc != SF_EXIT_OK) return rc < 0 ? SF_EXIT_OK : rc;
    if (sf_mpi_size() > 1) return train_mpi(&a);
    return train_may_stream(&a) ? train_maybe_streamed(&a) : train_from_table(&a, NULL, NULL, NULL);
}
