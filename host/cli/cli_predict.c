/*
 * cli_predict.c — what `predict` and `eval` share: load a model, read rows
 * that match it, and predict them through a backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_predict.h"

int cli_load_model(const char *path, sf_model **out)
{
    char err[512] = "";
    sf_status st = sf_model_load(path, out, err, sizeof err);
    if (st != SF_OK) {
        cli_error("%s", err[0] ? err : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    return SF_EXIT_OK;
}

int cli_read_rows_for_model(cli_input *in, const sf_model *m, bool need_label, sf_table *t)
{
    in->parse.label_optional = !need_label && !in->label_set;
    in->parse.expected_features = sf_model_n_features(m);
    if (in->parse.format == SF_FORMAT_LIBSVM && in->parse.n_features == 0)
        in->parse.n_features = sf_model_n_features(m);
    if (in->parse.format == SF_FORMAT_CSV && in->parse.has_header && !in->label_set &&
        sf_model_label_name(m))
        in->parse.label_name = sf_model_label_name(m);
    int rc = cli_read_input(in, t);
    if (rc != SF_EXIT_OK) return rc;
    if (t->d != sf_model_n_features(m)) {
        cli_error("the input has %zu feature column(s), the model expects %zu", t->d,
                  sf_model_n_features(m));
        return SF_EXIT_FAILURE;
    }
    if (need_label && !t->has_label) {
        cli_error("the input has no label column");
        return SF_EXIT_FAILURE;
    }
    return SF_EXIT_OK;
}

int cli_predict_rows(sf_device_kind device, int threads, const sf_model *m, const sf_table *t,
                     double **value, double **proba)
{
    sf_context *ctx = cli_context(device, threads, cli_log, NULL);
    if (!ctx) return SF_EXIT_FAILURE;
    size_t K = sf_model_n_classes(m);
    *value = malloc(sizeof(double) * (t->rows + 1));
    *proba = K ? malloc(sizeof(double) * (t->rows * K + 1)) : NULL;
    sf_status st = (*value && (!K || *proba)) ? SF_OK : SF_ERR_NO_MEMORY;
    const size_t step = 65536;
    for (size_t r = 0; st == SF_OK && r < t->rows; r += step) {
        size_t n = t->rows - r < step ? t->rows - r : step;
        st = sf_predict(ctx, m, t->X + r * t->d, n, *value + r, K ? *proba + r * K : NULL);
    }
    sf_context_destroy(ctx);
    if (st != SF_OK) {
        cli_error("prediction failed: %s", sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    return SF_EXIT_OK;
}
