/*
 * test_robustness.c — damaged and extreme input meets the library: each case
 * here once crashed, hung or went through silently (most found by the fuzz
 * targets in tests/fuzz, whose corpora hold the inputs), and must now be
 * refused with a status and a message.
 *
 *   - least squares on values whose squares overflow float64: SF_ERR_NOT_FINITE,
 *     not a model of NaN coefficients (and LAPACK never sees an infinity);
 *   - a trainer state holding a NaN, a negative sum of squares, or an array
 *     the model has no place for: refused, and a good state still loads;
 *   - a checkpoint cut at every length and with every single byte changed:
 *     refused, the message naming the file and the reason;
 *   - a LIBSVM record whose last index runs to the end of an unterminated
 *     buffer (a Kafka payload): a bad record, no read past its end;
 *   - a LIBSVM index beyond what a dense row can hold: a bad record with its
 *     reason, not an allocation of terabytes; a table over 1 GiB dense
 *     with under 1 value in 64 set: refused before it is allocated;
 *   - a header-less CSV schema asked for a label by name: an error, no crash;
 *   - model files with a negative row count or an infinite coefficient: refused.
 */
#define _GNU_SOURCE /* mkdtemp */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "parse.h"
#include "record.h"
#include "streamfit.h"

static sf_context *g_ctx;
static char g_dir[64];

static int group_setup(void **state)
{
    (void)state;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    snprintf(g_dir, sizeof g_dir, "/tmp/streamfit-robust-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    return sf_context_create(&co, &g_ctx) == SF_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    sf_context_destroy(g_ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static sf_trainer *ols_trainer(void)
{
    sf_fit_params p;
    sf_fit_params_init(&p);
    p.model = SF_MODEL_OLS;
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &p, 2, 0, &t), SF_OK);
    return t;
}

static void test_huge_values_not_finite(void **state)
{
    (void)state;
    const double X[] = {1e300, 2, 3, 1e300, 1e299, -1e300, 8, 9, 2, 3};
    const double y[] = {1e300, -1e300, 5, 7, 1};
    sf_trainer *t = ols_trainer();
    assert_int_equal(sf_trainer_add_batch(t, X, y, 5), SF_OK);
    sf_model *m = NULL;
    assert_int_equal(sf_trainer_fit(t, &m), SF_ERR_NOT_FINITE);
    assert_null(m);
    assert_non_null(strstr(sf_strerror(SF_ERR_NOT_FINITE), "float64"));
    sf_trainer_destroy(t);
}

/* A saved OLS streaming state (after a snapshot the trainer streams). */
static void saved_state(unsigned char **buf, size_t *len)
{
    const double X[] = {1, 2, 2, 1, 3, 5, 4, 4, 5, 1, 6, 0};
    const double y[] = {1, 2, 3, 4, 5, 6};
    sf_trainer *t = ols_trainer();
    assert_int_equal(sf_trainer_add_batch(t, X, y, 6), SF_OK);
    assert_int_equal(sf_trainer_save_state(t, buf, len), SF_OK);
    sf_trainer_destroy(t);
}

static void test_damaged_trainer_state_refused(void **state)
{
    (void)state;
    unsigned char *buf = NULL;
    size_t len = 0;
    saved_state(&buf, &len);
    /* Layout: magic (8), kind, d, K, rows (8 each), n (8), mean (3 doubles), m2 (9). */
    const size_t mean_at = 8 + 4 * 8 + 8, m2_at = mean_at + 3 * 8;
    const double nan = NAN, negative = -1.0;
    struct {
        size_t at;
        const double *value;
    } damage[] = {{mean_at + 8, &nan}, {m2_at, &negative}, {m2_at + 4 * 8, &nan}};
    for (size_t k = 0; k < sizeof damage / sizeof *damage; k++) {
        unsigned char *bad = malloc(len);
        assert_non_null(bad);
        memcpy(bad, buf, len);
        memcpy(bad + damage[k].at, damage[k].value, sizeof(double));
        sf_trainer *t = ols_trainer();
        assert_int_equal(sf_trainer_load_state(t, bad, len), SF_ERR_BAD_MODEL_FILE);
        sf_trainer_destroy(t);
        free(bad);
    }
    /* A parameter array in the state of a model that has none (OLS). */
    size_t theta_flag_at = m2_at + 9 * 8 + 8 + 8 + 8; /* R and scale absent, has_theta */
    unsigned char *bad = malloc(len + 64);
    assert_non_null(bad);
    memcpy(bad, buf, len);
    uint64_t one = 1;
    memcpy(bad + theta_flag_at + 8, &one, sizeof one); /* theta "present" */
    sf_trainer *t = ols_trainer();
    assert_int_equal(sf_trainer_load_state(t, bad, len), SF_ERR_BAD_MODEL_FILE);
    sf_trainer_destroy(t);
    free(bad);
    /* The undamaged state loads and fits. */
    t = ols_trainer();
    assert_int_equal(sf_trainer_load_state(t, buf, len), SF_OK);
    sf_model *m = NULL;
    assert_int_equal(sf_trainer_snapshot(t, &m), SF_OK);
    sf_model_destroy(m);
    sf_trainer_destroy(t);
    free(buf);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_file(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void expect_refused(const char *path)
{
    sf_checkpoint c;
    char err[512] = "";
    sf_status st = sf_checkpoint_read(g_dir, &c, err, sizeof err);
    if (st == SF_OK) {
        sf_checkpoint_free(&c);
        fail_msg("a damaged checkpoint was accepted");
    }
    assert_int_equal(st, SF_ERR_BAD_MODEL_FILE);
    assert_non_null(strstr(err, path));
    if (!strstr(err, "cut short") && !strstr(err, "checksum") && !strstr(err, "does not start"))
        fail_msg("the refusal gives no reason: %s", err);
}

static void test_checkpoint_cut_and_changed(void **state)
{
    (void)state;
    unsigned char *trainer = NULL;
    size_t trainer_len = 0;
    saved_state(&trainer, &trainer_len);
    sf_checkpoint c = {.rows_total = 6,
                       .batches = 1,
                       .config = "v1 model=ols d=2",
                       .trainer = trainer,
                       .trainer_len = trainer_len,
                       .source = "file v1\n12 3\n",
                       .classes = "",
                       .names = "a,b,y"};
    char err[512];
    assert_int_equal(sf_checkpoint_write(g_dir, &c, err, sizeof err), SF_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoint.bin", g_dir);
    size_t len = 0;
    unsigned char *good = read_file(path, &len);
    for (size_t cut = 0; cut < len; cut++) {
        write_file(path, good, cut);
        expect_refused(path);
    }
    for (size_t at = 0; at < len; at++) {
        good[at] ^= (unsigned char)(1u << (at % 8));
        write_file(path, good, len);
        expect_refused(path);
        good[at] ^= (unsigned char)(1u << (at % 8));
    }
    write_file(path, good, len);
    sf_checkpoint back;
    assert_int_equal(sf_checkpoint_read(g_dir, &back, err, sizeof err), SF_OK);
    assert_int_equal(back.trainer_len, trainer_len);
    assert_memory_equal(back.trainer, trainer, trainer_len);
    sf_checkpoint_free(&back);
    free(good);
    free(trainer);
}

static void test_libsvm_record_unterminated(void **state)
{
    (void)state;
    sf_record_schema s;
    assert_int_equal(sf_schema_libsvm(20, &s), SF_OK);
    static const char *const records[] = {"1 12", "1 3:1 12", "1 qid:4 2:1",
                                          "1 99999999999999999999:1"};
    const bool good[] = {false, false, true, false};
    for (size_t k = 0; k < sizeof records / sizeof *records; k++) {
        size_t n = strlen(records[k]);
        char *exact = malloc(n); /* no terminator, as a Kafka payload */
        assert_non_null(exact);
        memcpy(exact, records[k], n);
        double x[20], y = 0;
        char why[160] = "";
        bool ok = sf_record_parse(&s, exact, n, x, &y, why, sizeof why);
        if (ok != good[k]) fail_msg("record '%s': %s", records[k], ok ? "accepted" : why);
        if (!ok) assert_true(why[0] != '\0');
        free(exact);
    }
    sf_schema_free(&s);
}

static void test_libsvm_index_beyond_dense_width(void **state)
{
    (void)state;
    const char *text = "1 1:0.5 3:2\n0 2000000000000:1\n1 2:1\n";
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.format = SF_FORMAT_LIBSVM;
    opt.threads = 1;
    sf_table t;
    char err[256];
    assert_int_equal(sf_parse_buffer(text, strlen(text), &opt, &t, err, sizeof err), SF_OK);
    assert_int_equal(t.rows, 2);
    assert_int_equal(t.d, 3);
    assert_int_equal(t.bad_rows, 1);
    assert_int_equal(t.errors[0].line, 2);
    assert_non_null(strstr(t.errors[0].reason, "beyond"));
    sf_table_free(&t);
}

static void test_libsvm_too_sparse_to_densify(void **state)
{
    (void)state;
    /* 200 rows, 2 values each, as wide as 10^7 - 1: 14.9 GiB dense. */
    size_t cap = 200 * 40, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d 1:0.5 9999999:%d\n", i % 2, i);
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.format = SF_FORMAT_LIBSVM;
    sf_table t;
    char err[256] = "";
    assert_int_equal(sf_parse_buffer(text, len, &opt, &t, err, sizeof err), SF_ERR_NO_MEMORY);
    assert_non_null(strstr(err, "too sparse"));
    free(text);
}

static void test_headerless_label_by_name(void **state)
{
    (void)state;
    sf_record_schema s;
    char err[256] = "";
    assert_int_not_equal(
        sf_schema_from_record(SF_RECORD_CSV, "1,2,3", 5, false, "price", &s, err, sizeof err),
        SF_OK);
    assert_non_null(strstr(err, "price"));
    assert_int_equal(
        sf_schema_from_record(SF_RECORD_CSV, "1,2,3", 5, false, "2", &s, err, sizeof err), SF_OK);
    assert_int_equal(s.label_col, 2);
    sf_schema_free(&s);
}

static void test_model_file_bad_numbers(void **state)
{
    (void)state;
    static const char *const files[] = {
        "{\"format\": \"streamfit-model\", \"version\": 1, \"model\": \"ols\", \"n_features\": 1, "
        "\"intercept\": 1, \"coefficients\": [2], \"rows_seen\": -69}",
        "{\"format\": \"streamfit-model\", \"version\": 1, \"model\": \"ols\", \"n_features\": 1, "
        "\"intercept\": 1, \"coefficients\": [1e999]}",
        "{\"format\": \"streamfit-model\", \"version\": 1, \"model\": \"ols\", \"n_features\": 1, "
        "\"intercept\": -1e999, \"coefficients\": [1]}",
    };
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/model.json", g_dir);
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        write_file(path, (const unsigned char *)files[k], strlen(files[k]));
        sf_model *m = NULL;
        err[0] = 0;
        assert_int_equal(sf_model_load(path, &m, err, sizeof err), SF_ERR_BAD_MODEL_FILE);
        assert_true(err[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_values_not_finite),
        cmocka_unit_test(test_damaged_trainer_state_refused),
        cmocka_unit_test(test_checkpoint_cut_and_changed),
        cmocka_unit_test(test_libsvm_record_unterminated),
        cmocka_unit_test(test_libsvm_index_beyond_dense_width),
        cmocka_unit_test(test_libsvm_too_sparse_to_densify),
        cmocka_unit_test(test_headerless_label_by_name),
        cmocka_unit_test(test_model_file_bad_numbers),
    };
    return cmocka_run_group_tests_name("robustness", tests, group_setup, group_teardown);
}
