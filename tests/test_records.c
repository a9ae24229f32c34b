/*
 * test_records.c — the streaming record parser (host/parse/record_parse.c):
 * schemas from a column list, a header, a first record or a JSON object, and
 * CSV, JSON and LIBSVM records parsed into features and label, each refusal
 * with its reason. Records are given without a terminating NUL, as Kafka
 * payloads are (a read past the end shows under the sanitizer build).
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

/* Parse `text` (copied without a terminator); true when accepted. */
static bool parse(const sf_record_schema *s, const char *text, double *x, double *y, char *why)
{
    size_t n = strlen(text);
    char *exact = malloc(n ? n : 1);
    assert_non_null(exact);
    memcpy(exact, text, n);
    why[0] = 0;
    bool ok = sf_record_parse(s, exact, n, x, y, why, 160);
    free(exact);
    if (!ok) assert_true(why[0] != '\0');
    return ok;
}

static void test_csv_schema_and_records(void **state)
{
    (void)state;
    sf_record_schema s;
    char err[256];
    assert_int_equal(
        sf_schema_from_list(SF_RECORD_CSV, "a, b ,price,c", "price", &s, err, sizeof err), SF_OK);
    assert_int_equal(s.d, 3);
    assert_int_equal(s.label_col, 2);
    assert_string_equal(sf_schema_feature_name(&s, 1), "b");
    assert_string_equal(sf_schema_feature_name(&s, 2), "c");
    assert_string_equal(sf_schema_label_name(&s), "price");
    double x[3], y = 0;
    char why[160];
    assert_true(parse(&s, "1, 2.5,+7,-1e-3\r\n", x, &y, why));
    assert_true(x[0] == 1 && x[1] == 2.5 && x[2] == -1e-3 && y == 7);
    static const char *const bad[] = {"1,2,3",     "1,2,3,4,5", "1,x,3,4",  "1,,3,4",
                                      "1,nan,3,4", "1,inf,3,4", "1,2,3,4 5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parse(&s, bad[i], x, &y, why)) fail_msg("'%s' was accepted", bad[i]);
    sf_schema_free(&s);

    /* No names given: from the first record, x1..xd around the label. */
    assert_int_equal(
        sf_schema_from_record(SF_RECORD_CSV, "5,6,7", 5, false, "1", &s, err, sizeof err), SF_OK);
    assert_string_equal(sf_schema_label_name(&s), "y");
    assert_string_equal(sf_schema_feature_name(&s, 0), "x1");
    assert_string_equal(sf_schema_feature_name(&s, 1), "x2");
    assert_true(parse(&s, "5,6,7", x, &y, why));
    assert_true(y == 6 && x[0] == 5 && x[1] == 7);
    sf_schema_free(&s);

    /* A header; a label that is not there; too few columns. */
    assert_int_equal(
        sf_schema_from_record(SF_RECORD_CSV, "y,\"a\",b", 8, true, NULL, &s, err, sizeof err),
        SF_OK);
    assert_string_equal(sf_schema_feature_name(&s, 0), "a");
    sf_schema_free(&s);
    assert_int_not_equal(
        sf_schema_from_record(SF_RECORD_CSV, "y,a", 3, true, "z", &s, err, sizeof err), SF_OK);
    assert_non_null(strstr(err, "z"));
    assert_int_not_equal(sf_schema_from_list(SF_RECORD_CSV, "y", NULL, &s, err, sizeof err), SF_OK);
}

static void test_json_records(void **state)
{
    (void)state;
    sf_record_schema s;
    char err[256];
    const char *first = "{\"id\": \"k1\", \"y\": 1, \"a\": 2, \"b\": 3}";
    assert_int_equal(sf_schema_from_record(SF_RECORD_JSON, first, strlen(first), false, "y", &s,
                                           err, sizeof err),
                     SF_OK);
    assert_int_equal(s.d, 2); /* only the numeric fields are columns */
    double x[2], y = 0;
    char why[160];
    assert_true(parse(&s, "{\"b\": 30, \"y\": 0, \"a\": 20, \"extra\": [1]}", x, &y, why));
    assert_true(x[0] == 20 && x[1] == 30 && y == 0);
    static const char *const bad[] = {"{\"y\": 1, \"a\": 2}", "{\"y\": 1, \"a\": \"2\", \"b\": 3}",
                                      "[1, 2, 3]", "{\"y\": 1, \"a\": 2, \"b\": 1e999}", "{"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parse(&s, bad[i], x, &y, why)) fail_msg("'%s' was accepted", bad[i]);
    sf_schema_free(&s);
    assert_int_not_equal(
        sf_schema_from_record(SF_RECORD_JSON, "[1]", 3, false, NULL, &s, err, sizeof err), SF_OK);
}

static void test_libsvm_records(void **state)
{
    (void)state;
    sf_record_schema s;
    assert_int_equal(sf_schema_libsvm(5, &s), SF_OK);
    double x[5], y = 0;
    char why[160];
    assert_true(parse(&s, "+1 1:0.5 qid:7 4:-2 5:1e2", x, &y, why));
    assert_true(y == 1 && x[0] == 0.5 && x[1] == 0 && x[3] == -2 && x[4] == 100);
    assert_true(parse(&s, "0", x, &y, why)); /* all features zero */
    assert_true(y == 0 && x[0] == 0 && x[4] == 0);
    static const char *const bad[] = {"1 6:1", "1 0:1", "1 -1:1",  "1 2:x",
                                      "1 2",   "x 1:1", "1 2:nan", "1 99999999999999999999999:1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parse(&s, bad[i], x, &y, why)) fail_msg("'%s' was accepted", bad[i]);
    sf_schema_free(&s);
    assert_int_not_equal(sf_schema_libsvm(0, &s), SF_OK);
}

static void test_formats_and_limits(void **state)
{
    (void)state;
    sf_record_format f;
    assert_true(sf_record_format_parse("json", &f) && f == SF_RECORD_JSON);
    assert_true(sf_record_format_parse("libsvm", &f) && f == SF_RECORD_LIBSVM);
    assert_false(sf_record_format_parse("xml", &f));
    sf_record_schema s;
    char err[256];
    assert_int_equal(sf_schema_from_list(SF_RECORD_CSV, "y,a", NULL, &s, err, sizeof err), SF_OK);
    size_t n = ((size_t)1 << 20) + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, '1', n);
    big[1] = ',';
    big[n] = 0;
    double x[1], y;
    char why[160];
    assert_false(parse(&s, big, x, &y, why));
    assert_non_null(strstr(why, "longer"));
    free(big);
    sf_schema_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_schema_and_records),
        cmocka_unit_test(test_json_records),
        cmocka_unit_test(test_libsvm_records),
        cmocka_unit_test(test_formats_and_limits),
    };
    return cmocka_run_group_tests_name("records", tests, NULL, NULL);
}
