/*
 * test_model_io.c — model files: every model kind (OLS, ridge with the
 * standardize scaler, logistic, softmax) saved with sf_model_save and read
 * back with sf_model_load bit for bit (coefficients, intercepts, classes,
 * scaler, lambda, flags, names, counts), including awkward numbers (-0,
 * subnormals, 1e300, 1/3); the atomic write leaves no temporary file; the
 * errors of loading (missing file, not JSON, not a model, wrong shapes) and
 * saving; and a non-empty sf_strerror message for every status.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "reference.h"
#include "streamfit.h"

static sf_context *g_ctx;
static char g_dir[256];

static int group_setup(void **state)
{
    (void)state;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    co.threads = 1;
    if (sf_context_create(&co, &g_ctx) != SF_OK) return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/sf_model_io_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

/* Remove the files this test wrote, then the directory. */
static int group_teardown(void **state)
{
    (void)state;
    DIR *dir = opendir(g_dir);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(g_dir);
    sf_context_destroy(g_ctx);
    return 0;
}

static void path_in_dir(char *buf, size_t len, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", g_dir, name);
    assert_true(n > 0 && (size_t)n < len);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    path_in_dir(path, sizeof path, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* A fitted model of the given kind on small random data. */
static sf_model *fitted_model(sf_model_kind kind, size_t d, size_t K, bool standardize,
                              bool intercept, uint64_t seed)
{
    enum { N = 60 };
    double X[N * 8], y[N];
    ref_rng r;
    ref_rng_seed(&r, seed);
    for (size_t i = 0; i < N; i++) {
        double t = 0;
        for (size_t j = 0; j < d; j++) {
            X[i * d + j] = (double)j + (1.0 + (double)j) * ref_rng_normal(&r);
            t += X[i * d + j] * (j % 2 ? -0.3 : 0.5);
        }
        if (kind == SF_MODEL_OLS || kind == SF_MODEL_RIDGE)
            y[i] = 1.0 + t + ref_rng_normal(&r);
        else
            y[i] = (double)(ref_rng_u64(&r) % K);
    }
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.model = kind;
    par.standardize = standardize;
    par.fit_intercept = intercept;
    par.lambda = kind == SF_MODEL_OLS ? 0.0 : 0.37;
    sf_trainer *t = NULL;
    sf_model *m = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, d, K, &t), SF_OK);
    assert_int_equal(sf_trainer_add_batch(t, X, y, N), SF_OK);
    assert_int_equal(sf_trainer_fit(t, &m), SF_OK);
    sf_trainer_destroy(t);
    return m;
}

/* Bitwise comparison of n doubles; describes the first difference in why. */
static bool same_bits(const char *what, const double *a, const double *b, size_t n, char *why,
                      size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(double)) != 0) {
            snprintf(why, len, "%s[%zu]: %.17g (saved) != %.17g (loaded)", what, i, a[i], b[i]);
            return false;
        }
    return true;
}

#define SAME(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(why, len, "%s", #cond);                                                       \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

/* Everything a model file carries, compared without aborting (so that the
 * caller can free both models before it reports a difference). */
static bool same_model(sf_model *a, sf_model *b, const char *const *names, const char *label,
                       char *why, size_t len)
{
    size_t d = sf_model_n_features(a), outs = sf_model_n_outputs(a), K = sf_model_n_classes(a);
    SAME(sf_model_kind_of(b) == sf_model_kind_of(a));
    SAME(sf_model_n_features(b) == d);
    SAME(sf_model_n_outputs(b) == outs);
    SAME(sf_model_n_classes(b) == K);
    for (size_t k = 0; k < outs; k++)
        if (!same_bits("coefficients", sf_model_coefficients(a, k), sf_model_coefficients(b, k), d,
                       why, len))
            return false;
    if (!same_bits("intercept", sf_model_intercepts(a), sf_model_intercepts(b), outs, why, len))
        return false;
    if (!same_bits("classes", sf_model_classes(a), sf_model_classes(b), K, why, len)) return false;
    double la = sf_model_lambda(a), lb = sf_model_lambda(b);
    if (!same_bits("lambda", &la, &lb, 1, why, len)) return false;
    SAME(sf_model_standardized(b) == sf_model_standardized(a));
    SAME(sf_model_has_intercept(b) == sf_model_has_intercept(a));
    SAME(sf_model_rows_seen(b) == sf_model_rows_seen(a));
    SAME(b->rows_skipped == a->rows_skipped);
    if (sf_model_scaler_mean(a)) {
        SAME(sf_model_scaler_mean(b) != NULL && sf_model_scaler_std(b) != NULL);
        if (!same_bits("scaler mean", sf_model_scaler_mean(a), sf_model_scaler_mean(b), d, why,
                       len) ||
            !same_bits("scaler std", sf_model_scaler_std(a), sf_model_scaler_std(b), d, why, len))
            return false;
    } else {
        SAME(sf_model_scaler_mean(b) == NULL && sf_model_scaler_std(b) == NULL);
    }
    for (size_t j = 0; j < d; j++) {
        char fallback[32];
        snprintf(fallback, sizeof fallback, "x%zu", j + 1);
        const char *want = names ? names[j] : fallback, *got = sf_model_feature_name(b, j);
        if (!got || strcmp(got, want) != 0) {
            snprintf(why, len, "feature name %zu: '%s' != '%s'", j, got ? got : "(null)", want);
            return false;
        }
    }
    const char *want = label ? label : "y", *got = sf_model_label_name(b);
    if (!got || strcmp(got, want) != 0) {
        snprintf(why, len, "label: '%s' != '%s'", got ? got : "(null)", want);
        return false;
    }
    return true;
}
#undef SAME

/* Save m, check no temporary file is left, load it back and compare; save
 * the loaded model again and compare once more. Destroys m. */
static void round_trip(sf_model *m, const char *file, const char *const *names, const char *label)
{
    char path[512], path2[512], again_name[128], err[512] = "", why[1400] = "";
    path_in_dir(path, sizeof path, file);
    snprintf(again_name, sizeof again_name, "again_%s", file);
    path_in_dir(path2, sizeof path2, again_name);
    sf_model *back = NULL, *again = NULL;
    bool ok = false;
    sf_status st = sf_model_save(m, path, err, sizeof err);
    if (st != SF_OK) {
        snprintf(why, sizeof why, "save %s: %s (%s)", path, sf_strerror(st), err);
        goto done;
    }
    DIR *dir = opendir(g_dir);
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (strstr(e->d_name, ".tmp.")) snprintf(why, sizeof why, "%s left behind", e->d_name);
    closedir(dir);
    if (why[0]) goto done;
    st = sf_model_load(path, &back, err, sizeof err);
    if (st != SF_OK) {
        snprintf(why, sizeof why, "load %s: %s (%s)", path, sf_strerror(st), err);
        goto done;
    }
    if (!same_model(m, back, names, label, why, sizeof why)) goto done;
    if (sf_model_save(back, path2, err, sizeof err) != SF_OK ||
        sf_model_load(path2, &again, err, sizeof err) != SF_OK) {
        snprintf(why, sizeof why, "second round: %s", err);
        goto done;
    }
    ok = same_model(m, again, names, label, why, sizeof why);
done:
    sf_model_destroy(again);
    sf_model_destroy(back);
    sf_model_destroy(m);
    if (!ok) fail_msg("%s: %s", file, why);
}

static void test_round_trip_ols(void **state)
{
    (void)state;
    sf_model *m = fitted_model(SF_MODEL_OLS, 3, 0, false, true, 1);
    double *w = sf_model_coefficients(m, 0);
    w[0] = -0.0;
    w[1] = 1.0 / 3.0;
    sf_model_intercepts(m)[0] = 0x1p-1074; /* the smallest subnormal */
    const char *names[] = {"alpha", "beta gamma", "\"quoted\"\\ and unicode \xc3\xa9"};
    assert_int_equal(sf_model_set_feature_names(m, names, "target"), SF_OK);
    sf_model_set_counts(m, 123456789012ULL, 42);
    round_trip(m, "ols.json", names, "target");
}

static void test_round_trip_ridge_standardized(void **state)
{
    (void)state;
    sf_model *m = fitted_model(SF_MODEL_RIDGE, 4, 0, true, true, 2);
    assert_true(sf_model_standardized(m));
    assert_non_null(sf_model_scaler_mean(m));
    assert_non_null(sf_model_scaler_std(m));
    double *w = sf_model_coefficients(m, 0);
    w[2] = 1e300;
    w[3] = -DBL_MIN;
    /* No names set: the file gets x1..x4 and label y. */
    round_trip(m, "ridge.json", NULL, NULL);
}

static void test_round_trip_logistic(void **state)
{
    (void)state;
    sf_model *m = fitted_model(SF_MODEL_LOGISTIC, 3, 2, false, false, 3);
    assert_false(sf_model_has_intercept(m));
    double *c = sf_model_classes(m);
    c[0] = -1.0;
    c[1] = 1.0;
    const char *names[] = {"a", "b", "c"};
    assert_int_equal(sf_model_set_feature_names(m, names, "label"), SF_OK);
    sf_model_set_counts(m, 60, 7);
    round_trip(m, "logistic.json", names, "label");
}

static void test_round_trip_softmax(void **state)
{
    (void)state;
    sf_model *m = fitted_model(SF_MODEL_SOFTMAX, 3, 4, false, true, 4);
    assert_int_equal(sf_model_n_outputs(m), 4);
    double *c = sf_model_classes(m);
    for (size_t k = 0; k < 4; k++)
        c[k] = (double)(3 * k + 2);
    sf_model_coefficients(m, 3)[2] = -123456.789e-200;
    const char *names[] = {"u", "v", "w"};
    assert_int_equal(sf_model_set_feature_names(m, names, "class"), SF_OK);
    round_trip(m, "softmax.json", names, "class");
}

static void test_round_trip_created(void **state)
{
    (void)state;
    /* A model built by hand through the public API, not by a trainer. */
    sf_model *m = sf_model_create(SF_MODEL_SOFTMAX, 2, 3);
    assert_non_null(m);
    for (size_t k = 0; k < 3; k++) {
        sf_model_coefficients(m, k)[0] = 0.1 * (double)(k + 1);
        sf_model_coefficients(m, k)[1] = -0.7 / (double)(k + 1);
        sf_model_intercepts(m)[k] = (double)k - 1.0;
    }
    round_trip(m, "created.json", NULL, NULL);
}

/* ---------------------------------------------------------------- errors */

static void expect_bad_file(const char *name, const char *text)
{
    char path[512], err[512] = "";
    write_file(name, text);
    path_in_dir(path, sizeof path, name);
    sf_model *m = NULL;
    sf_status st = sf_model_load(path, &m, err, sizeof err);
    if (st != SF_ERR_BAD_MODEL_FILE)
        fail_msg("%s: status %d (%s), expected SF_ERR_BAD_MODEL_FILE", name, (int)st,
                 sf_strerror(st));
    assert_null(m);
    if (err[0] == '\0') fail_msg("%s: no message", name);
}

static void test_load_errors(void **state)
{
    (void)state;
    char path[512], err[512] = "";
    sf_model *m = NULL;

    path_in_dir(path, sizeof path, "no_such_model.json");
    assert_int_equal(sf_model_load(path, &m, err, sizeof err), SF_ERR_IO);
    assert_null(m);
    if (!strstr(err, path)) fail_msg("message '%s' does not name '%s'", err, path);

    expect_bad_file("empty.json", "");
    expect_bad_file("garbage.json", "this is not JSON {\n");
    expect_bad_file("truncated.json", "{\"format\": \"streamfit-model\", \"version\": 1,");
    expect_bad_file("array.json", "[1, 2, 3]\n");
    expect_bad_file("no_format.json", "{\"version\": 1, \"model\": \"ols\", \"n_features\": 1, "
                                      "\"intercept\": 0, \"coefficients\": [1]}");
    expect_bad_file("other_format.json",
                    "{\"format\": \"something-else\", \"version\": 1, \"model\": \"ols\", "
                    "\"n_features\": 1, \"intercept\": 0, \"coefficients\": [1]}");
#define HDR "{\"format\": \"streamfit-model\", "
    expect_bad_file("version.json", HDR "\"version\": 2, \"model\": \"ols\", \"n_features\": 1, "
                                        "\"intercept\": 0, \"coefficients\": [1]}");
    expect_bad_file("kind.json", HDR "\"version\": 1, \"model\": \"lasso\", \"n_features\": 1, "
                                     "\"intercept\": 0, \"coefficients\": [1]}");
    expect_bad_file("n_features.json", HDR "\"version\": 1, \"model\": \"ols\", "
                                           "\"n_features\": 0, \"intercept\": 0, "
                                           "\"coefficients\": []}");
    expect_bad_file("short_coef.json", HDR "\"version\": 1, \"model\": \"ols\", "
                                           "\"n_features\": 2, \"intercept\": 0, "
                                           "\"coefficients\": [1]}");
    expect_bad_file("long_coef.json", HDR "\"version\": 1, \"model\": \"ridge\", "
                                          "\"n_features\": 2, \"intercept\": 0, "
                                          "\"coefficients\": [1, 2, 3]}");
    expect_bad_file("string_coef.json", HDR "\"version\": 1, \"model\": \"ols\", "
                                            "\"n_features\": 2, \"intercept\": 0, "
                                            "\"coefficients\": [1, \"2\"]}");
    expect_bad_file("array_intercept.json", HDR "\"version\": 1, \"model\": \"ols\", "
                                                "\"n_features\": 1, \"intercept\": [0], "
                                                "\"coefficients\": [1]}");
    expect_bad_file("no_classes.json", HDR "\"version\": 1, \"model\": \"logistic\", "
                                           "\"n_features\": 1, \"intercept\": 0, "
                                           "\"coefficients\": [1]}");
    expect_bad_file("logistic_3.json", HDR "\"version\": 1, \"model\": \"logistic\", "
                                           "\"n_features\": 1, \"classes\": [0, 1, 2], "
                                           "\"intercept\": 0, \"coefficients\": [1]}");
    expect_bad_file("softmax_rows.json", HDR "\"version\": 1, \"model\": \"softmax\", "
                                             "\"n_features\": 2, \"classes\": [0, 1, 2], "
                                             "\"intercept\": [0, 0, 0], "
                                             "\"coefficients\": [[1, 2], [3, 4]]}");
    expect_bad_file("softmax_row_len.json", HDR "\"version\": 1, \"model\": \"softmax\", "
                                                "\"n_features\": 2, \"classes\": [0, 1, 2], "
                                                "\"intercept\": [0, 0, 0], "
                                                "\"coefficients\": [[1, 2], [3], [5, 6]]}");
    expect_bad_file("softmax_icpt.json", HDR "\"version\": 1, \"model\": \"softmax\", "
                                             "\"n_features\": 2, \"classes\": [0, 1, 2], "
                                             "\"intercept\": [0, 0], "
                                             "\"coefficients\": [[1, 2], [3, 4], [5, 6]]}");
    expect_bad_file("scaler.json", HDR "\"version\": 1, \"model\": \"ridge\", "
                                       "\"n_features\": 2, \"intercept\": 0, "
                                       "\"coefficients\": [1, 2], \"standardize\": true, "
                                       "\"scaler\": {\"mean\": [0, 1], \"std\": [1]}}");
#undef HDR

    /* A minimal valid file loads, with defaults for what it leaves out. */
    write_file("minimal.json", "{\"format\": \"streamfit-model\", \"version\": 1, "
                               "\"model\": \"ols\", \"n_features\": 2, \"intercept\": 0.5, "
                               "\"coefficients\": [1, -2]}");
    path_in_dir(path, sizeof path, "minimal.json");
    assert_int_equal(sf_model_load(path, &m, err, sizeof err), SF_OK);
    assert_int_equal(sf_model_kind_of(m), SF_MODEL_OLS);
    assert_int_equal(sf_model_n_features(m), 2);
    assert_true(sf_model_intercepts(m)[0] == 0.5);
    assert_true(sf_model_coefficients(m, 0)[1] == -2.0);
    assert_true(sf_model_has_intercept(m));
    assert_false(sf_model_standardized(m));
    sf_model_destroy(m);
}

static void test_save_errors(void **state)
{
    (void)state;
    sf_model *m = sf_model_create(SF_MODEL_OLS, 2, 0);
    assert_non_null(m);
    char path[512], err[512] = "";
    path_in_dir(path, sizeof path, "no_such_dir/model.json");
    assert_int_equal(sf_model_save(m, path, err, sizeof err), SF_ERR_IO);
    if (!strstr(err, path)) fail_msg("message '%s' does not name '%s'", err, path);
    sf_model_destroy(m);
}

static void test_strerror(void **state)
{
    (void)state;
    const char *seen[14];
    for (int s = 0; s <= 13; s++) {
        const char *msg = sf_strerror((sf_status)s);
        assert_non_null(msg);
        if (msg[0] == '\0') fail_msg("status %d has an empty message", s);
        if (strcmp(msg, sf_strerror((sf_status)99)) == 0)
            fail_msg("status %d has the unknown-status message", s);
        for (int t = 0; t < s; t++)
            if (strcmp(seen[t], msg) == 0) fail_msg("statuses %d and %d share '%s'", t, s, msg);
        seen[s] = msg;
    }
    assert_non_null(sf_strerror((sf_status)99));
    /* The model kind names written to files parse back. */
    for (int k = 0; k < 4; k++) {
        sf_model_kind kind;
        assert_true(sf_model_kind_parse(sf_model_kind_name((sf_model_kind)k), &kind));
        assert_int_equal(kind, k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_ols),
        cmocka_unit_test(test_round_trip_ridge_standardized),
        cmocka_unit_test(test_round_trip_logistic),
        cmocka_unit_test(test_round_trip_softmax),
        cmocka_unit_test(test_round_trip_created),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
