/*
 * cmd_eval.c — `streamfit eval`: a model's quality on labelled rows, as JSON
 * on stdout.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "class_labels.h"
#include "cli.h"
#include "cli_predict.h"
#include "metrics.h"

static const char eval_help[] =
    "Usage: streamfit eval --model-file MODEL.json --input PATH|- [options]\n"
    "\n"
    "Score a model on labelled rows; print JSON metrics on stdout:\n"
    "regression: rows, rmse, mae, r2; classification: rows, accuracy, log_loss,\n"
    "auc (binary), macro_f1 and per-class precision, recall, f1, support.\n"
    "Rows whose label is not one of the model's classes are bad records.\n"
    "\n"
    "  --model-file PATH     model written by 'streamfit train' (required)\n"
    "  --input PATH|-        labelled rows (required)\n"
    "  --format, --label, --no-header, --on-error, --device, --threads   as for train\n";

enum { OPT_MODEL_FILE = 4000, OPT_HELP };

static void print_number(const char *key, double v, bool comma)
{
    if (isfinite(v))
        printf("  \"%s\": %.17g%s\n", key, v, comma ? "," : "");
    else
        printf("  \"%s\": null%s\n", key, comma ? "," : "");
}

static int eval_regression(const sf_table *t, const double *value)
{
    sf_regression_metrics r;
    sf_metrics_regression(t->y, value, t->rows, &r);
    printf("{\n  \"task\": \"regression\",\n  \"rows\": %zu,\n  \"rows_skipped\": %llu,\n", t->rows,
           (unsigned long long)t->bad_rows);
    print_number("rmse", r.rmse, true);
    print_number("mae", r.mae, true);
    print_number("r2", r.r2, false);
    printf("}\n");
    return SF_EXIT_OK;
}

static int eval_classification(sf_model *m, sf_table *t, const double *proba, cli_on_error on_error)
{
    size_t K = sf_model_n_classes(m), n = 0, shown = 0;
    const double *classes = sf_model_classes_const(m);
    size_t *label = malloc(sizeof(size_t) * (t->rows + 1));
    double *kept = malloc(sizeof(double) * (t->rows * K + 1));
    if (!label || !kept) {
        free(label);
        free(kept);
        cli_error("out of memory");
        return SF_EXIT_FAILURE;
    }
    for (size_t i = 0; i < t->rows; i++) {
        long k = sf_class_index(classes, K, t->y[i]);
        if (k < 0) {
            char why[96];
            snprintf(why, sizeof why, "unknown class label %.17g", t->y[i]);
            if (on_error == CLI_ON_ERROR_FAIL) {
                cli_error("line %llu: %s (--on-error fail)", (unsigned long long)t->line[i], why);
                free(label);
                free(kept);
                return SF_EXIT_FAILURE;
            }
            cli_report_bad_row(t->line[i], why, &shown);
            continue;
        }
        label[n] = (size_t)k;
        memcpy(kept + n * K, proba + i * K, sizeof(double) * K);
        n++;
    }
    sf_classification_metrics c;
    sf_status st = sf_metrics_classification(label, kept, n, K, &c);
    free(label);
    free(kept);
    if (st != SF_OK) {
        cli_error("%s", sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    printf("{\n  \"task\": \"classification\",\n  \"rows\": %zu,\n  \"rows_skipped\": %llu,\n", n,
           (unsigned long long)(t->bad_rows + shown));
    print_number("accuracy", c.accuracy, true);
    print_number("log_loss", c.log_loss, true);
    if (K == 2) print_number("auc", c.auc, true);
    print_number("macro_f1", c.macro_f1, true);
    printf("  \"per_class\": [\n");
    for (size_t k = 0; k < K; k++) {
        const sf_class_metrics *pc = &c.per_class[k];
        printf("    {\"class\": %.17g, \"precision\": %.17g, \"recall\": %.17g, \"f1\": %.17g, "
               "\"support\": %zu}%s\n",
               classes[k], pc->precision, pc->recall, pc->f1, pc->support, k + 1 < K ? "," : "");
    }
    printf("  ]\n}\n");
    sf_classification_metrics_free(&c);
    return SF_EXIT_OK;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_INPUT_LONG_OPTIONS,
        {"model-file", required_argument, 0, OPT_MODEL_FILE},
        {"device", required_argument, 0, OPT_DEVICE},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    const char *cmd = "eval", *model_path = NULL;
    sf_device_kind device = SF_DEVICE_AUTO;
    cli_input in;
    cli_input_init(&in);
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool bad = false;
        if (cli_input_option(&in, cmd, opt, optarg, &bad)) {
            if (bad) return SF_EXIT_USAGE;
            continue;
        }
        switch (opt) {
        case OPT_MODEL_FILE: model_path = optarg; break;
        case OPT_DEVICE:
            if (!sf_device_kind_parse(optarg, &device))
                return cli_usage_error(cmd, "unknown --device '%s' (auto, cpu, cuda)", optarg);
            break;
        case 'h':
        case OPT_HELP: fputs(eval_help, stdout); return SF_EXIT_OK;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage_error(cmd, "--model-file is required");
    if (!in.path) return cli_usage_error(cmd, "--input is required");
    sf_model *m = NULL;
    int rc = cli_load_model(model_path, &m);
    if (rc != SF_EXIT_OK) return rc;
    sf_table t;
    memset(&t, 0, sizeof t);
    double *value = NULL, *proba = NULL;
    rc = cli_read_rows_for_model(&in, m, true, &t);
    if (rc == SF_EXIT_OK) rc = cli_predict_rows(device, in.parse.threads, m, &t, &value, &proba);
    if (rc == SF_EXIT_OK)
        rc = sf_model_n_classes(m) ? eval_classification(m, &t, proba, in.on_error)
                                   : eval_regression(&t, value);
    free(value);
    free(proba);
    sf_table_free(&t);
    sf_model_destroy(m);
    return rc;
}
