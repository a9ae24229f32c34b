/*
 * fuzz_model_json.c — the model file loader (sf_model_load) on any bytes.
 * A file it accepts must describe a usable model: predicting a row of ones
 * works, and saving it and loading it again gives the same predictions bit
 * for bit.
 */
#include <string.h>

#include "fuzz_util.h"
#include "streamfit.h"

static sf_context *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ctx = fuzz_cpu_context();
    return 0;
}

static void predict_ones(const sf_model *m, double *value, double *proba)
{
    size_t d = sf_model_n_features(m);
    double *x = malloc(sizeof(double) * (d ? d : 1));
    FUZZ_CHECK(x != NULL);
    for (size_t j = 0; j < d; j++)
        x[j] = 1.0;
    FUZZ_CHECK(sf_predict(ctx, m, x, 1, value, proba) == SF_OK);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[256];
    fuzz_write_file("model.json", data, size, path, sizeof path);
    sf_model *m = NULL;
    if (sf_model_load(path, &m, err, sizeof err) != SF_OK) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    size_t K = sf_model_n_classes(m);
    FUZZ_CHECK(K <= 1000000);
    double v1 = 0, v2 = 0, *p1 = calloc(K ? K : 1, sizeof(double)),
           *p2 = calloc(K ? K : 1, sizeof(double));
    FUZZ_CHECK(p1 && p2);
    predict_ones(m, &v1, K ? p1 : NULL);
    char again[300];
    snprintf(again, sizeof again, "%s/again.json", fuzz_tmpdir());
    FUZZ_CHECK(sf_model_save(m, again, err, sizeof err) == SF_OK);
    sf_model *m2 = NULL;
    FUZZ_CHECK(sf_model_load(again, &m2, err, sizeof err) == SF_OK);
    predict_ones(m2, &v2, K ? p2 : NULL);
    FUZZ_CHECK(memcmp(&v1, &v2, sizeof v1) == 0);
    FUZZ_CHECK(memcmp(p1, p2, sizeof(double) * K) == 0);
    sf_model_destroy(m2);
    sf_model_destroy(m);
    free(p1);
    free(p2);
    return 0;
}
