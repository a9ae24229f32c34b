/*
 * cmd_predict.c — `streamfit predict`: one output line per good input row:
 * the value (regression), the class, or with --proba the class probabilities.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_predict.h"

static const char predict_help[] =
    "Usage: streamfit predict --model-file MODEL.json --input PATH|- [options]\n"
    "\n"
    "Predict every row of a file with a trained model: one line per row, the\n"
    "value (ols, ridge), the class (logistic, softmax), or with --proba the\n"
    "probability of each class in the model's class order, comma-separated.\n"
    "A label column, when present, is ignored. Bad records are reported on\n"
    "stderr with their line numbers and produce no output line.\n"
    "\n"
    "  --model-file PATH     model written by 'streamfit train' (required)\n"
    "  --input PATH|-        rows to predict (required)\n"
    "  --out PATH|-          where to write (default: stdout)\n"
    "  --proba               class probabilities instead of classes\n"
    "  --format csv|libsvm   input format (default csv)\n"
    "  --label NAME|INDEX    the label column to ignore (default: the model's)\n"
    "  --no-header           the CSV has no header line\n"
    "  --on-error skip|fail  bad records: skip and report (default), or stop\n"
    "  --device auto|cpu|cuda, --threads N   as for train\n";

enum { OPT_MODEL_FILE = 3000, OPT_OUT, OPT_PROBA, OPT_HELP };

static int write_predictions(FILE *f, const sf_model *m, const sf_table *t, const double *value,
                             const double *proba, bool want_proba)
{
    size_t K = sf_model_n_classes(m);
    bool classifier = K > 0; /* value holds the class label or the regression value */
    for (size_t i = 0; i < t->rows; i++) {
        if (want_proba && classifier) {
            for (size_t k = 0; k < K; k++)
                fprintf(f, k ? ",%.17g" : "%.17g", proba[i * K + k]);
            fputc('\n', f);
        } else {
            fprintf(f, "%.17g\n", value[i]);
        }
    }
    return ferror(f) ? SF_EXIT_FAILURE : SF_EXIT_OK;
}

int cmd_predict(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_INPUT_LONG_OPTIONS,
        {"model-file", required_argument, 0, OPT_MODEL_FILE},
        {"out", required_argument, 0, OPT_OUT},
        {"proba", no_argument, 0, OPT_PROBA},
        {"device", required_argument, 0, OPT_DEVICE},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    const char *cmd = "predict", *model_path = NULL, *out = "-";
    bool want_proba = false;
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
        case OPT_OUT: out = optarg; break;
        case OPT_PROBA: want_proba = true; break;
        case OPT_DEVICE:
            if (!sf_device_kind_parse(optarg, &device))
                return cli_usage_error(cmd, "unknown --device '%s' (auto, cpu, cuda)", optarg);
            break;
        case 'h':
        case OPT_HELP: fputs(predict_help, stdout); return SF_EXIT_OK;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage_error(cmd, "--model-file is required");
    if (!in.path) return cli_usage_error(cmd, "--input is required");
    sf_model *m = NULL;
    int rc = cli_load_model(model_path, &m);
    if (rc != SF_EXIT_OK) return rc;
    if (want_proba && sf_model_n_classes(m) == 0) {
        sf_model_destroy(m);
        return cli_usage_error(cmd, "--proba needs a logistic or softmax model");
    }
    sf_table t;
    memset(&t, 0, sizeof t);
    double *value = NULL, *proba = NULL;
    rc = cli_read_rows_for_model(&in, m, false, &t);
    if (rc == SF_EXIT_OK) rc = cli_predict_rows(device, in.parse.threads, m, &t, &value, &proba);
    if (rc == SF_EXIT_OK) {
        FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
        if (!f) {
            cli_error("cannot write '%s'", out);
            rc = SF_EXIT_FAILURE;
        } else {
            rc = write_predictions(f, m, &t, value, proba, want_proba);
            if (f != stdout && fclose(f) != 0) rc = SF_EXIT_FAILURE;
            if (rc != SF_EXIT_OK) cli_error("cannot write '%s'", out);
        }
    }
    free(value);
    free(proba);
    sf_table_free(&t);
    sf_model_destroy(m);
    return rc;
}
