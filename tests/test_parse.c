/*
 * test_parse.c — unit tests of the CSV and LIBSVM parser (host/parse):
 * layouts and labels, number syntax, bad records and their exact line
 * numbers, structural errors, files and stdin, and multi-chunk parses checked
 * bit for bit against strtod and against a single-threaded parse.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"

static char g_err[256];

static sf_parse_options csv_options(void)
{
    sf_parse_options o;
    sf_parse_options_init(&o);
    o.threads = 1;
    return o;
}

static sf_parse_options libsvm_options(void)
{
    sf_parse_options o = csv_options();
    o.format = SF_FORMAT_LIBSVM;
    o.has_header = false;
    return o;
}

static sf_status parse_text(const char *text, const sf_parse_options *o, sf_table *t)
{
    g_err[0] = '\0';
    return sf_parse_buffer(text, strlen(text), o, t, g_err, sizeof g_err);
}

/* Parses text that must succeed. */
static void parse_ok(const char *text, const sf_parse_options *o, sf_table *t)
{
    sf_status st = parse_text(text, o, t);
    if (st != SF_OK) fail_msg("status %d: %s", (int)st, g_err);
}

static void assert_bits_equal(double got, double want)
{
    if (memcmp(&got, &want, sizeof got) != 0) fail_msg("got %.17g, want %.17g", got, want);
}

static void assert_row(const sf_table *t, size_t r, const double *x, double y, uint64_t line)
{
    for (size_t j = 0; j < t->d; j++)
        assert_bits_equal(t->X[r * t->d + j], x[j]);
    assert_bits_equal(t->y[r], y);
    assert_int_equal(t->line[r], line);
}

static void assert_error(const sf_table *t, size_t k, uint64_t line, const char *reason)
{
    assert_true(k < t->n_errors);
    assert_int_equal(t->errors[k].line, line);
    assert_string_equal(t->errors[k].reason, reason);
}

/* ---- options and the number parser ---- */

static void test_options_defaults(void **state)
{
    (void)state;
    sf_parse_options o;
    memset(&o, 0x5a, sizeof o);
    sf_parse_options_init(&o);
    assert_int_equal(o.format, SF_FORMAT_CSV);
    assert_true(o.has_header);
    assert_null(o.label_name);
    assert_int_equal(o.label_index, 0);
    assert_false(o.label_optional);
    assert_int_equal(o.expected_features, 0);
    assert_int_equal(o.n_features, 0);
    assert_int_equal(o.threads, 0);
    assert_int_equal(o.max_line_bytes, 1 << 20);
    assert_int_equal(o.max_errors_kept, 10);
    sf_table_free(NULL);
}

static void test_parse_f64(void **state)
{
    (void)state;
    const char *ok[] = {"0",
                        "-0",
                        "+5",
                        "1.5",
                        "-2.5e-3",
                        "1E+2",
                        "+.5",
                        "5.",
                        "1e-400",
                        "0.1234567890123456789",
                        "1.7976931348623157e308",
                        "4.9e-324"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -1;
        const char *end = ok[i] + strlen(ok[i]);
        assert_ptr_equal(sf_parse_f64(ok[i], end, &v), end);
        assert_bits_equal(v, strtod(ok[i], NULL));
    }
    const char *bad[] = {"",     "+",        "-",     "+-1",    "++1", "nan", "NaN", "-inf",
                         "+inf", "infinity", "1e999", "-1e999", "abc", ".",   "e5",  " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 0;
        assert_null(sf_parse_f64(bad[i], bad[i] + strlen(bad[i]), &v));
    }
    /* Bounded by last: no NUL needed, nothing read past it. */
    const char digits[3] = {'1', '2', '3'};
    double v = 0;
    assert_ptr_equal(sf_parse_f64(digits, digits + 2, &v), digits + 2);
    assert_bits_equal(v, 12.0);
    const char *s = "1.5e3,7";
    assert_ptr_equal(sf_parse_f64(s, s + strlen(s), &v), s + 5);
    assert_bits_equal(v, 1500.0);
}

/* Plain decimals (the fast path: at most 19 digits, no exponent) and their
 * neighbours that must leave it (20 digits, 2^53 + 1, exponents, 23 fraction
 * digits), each against strtod bit for bit: 200,000 random spellings of
 * every length from 1 to 21 digits, with and without a sign, leading zeros
 * and a trailing delimiter. */
static void test_parse_f64_plain_decimals(void **state)
{
    (void)state;
    const char *edge[] = {"9007199254740992",
                          "9007199254740993",
                          "900719925474099.3",
                          "12345678901234567890",
                          "0.00000000000000000001",
                          "123456789.0123456789",
                          "-0.0",
                          "00000000000000000001.5",
                          "1.2345678e5",
                          "0.30000000000000004",
                          "1234567890123456789",
                          "-.75"};
    double v;
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        const char *end = edge[i] + strlen(edge[i]);
        assert_ptr_equal(sf_parse_f64(edge[i], end, &v), end);
        assert_bits_equal(v, strtod(edge[i], NULL));
    }
    unsigned seed = 12345;
    char buf[64];
    for (int k = 0; k < 200000; k++) {
        size_t n = 0, digits = 1 + (size_t)rand_r(&seed) % 21,
               dot = (size_t)rand_r(&seed) % (digits + 2);
        int sign = rand_r(&seed) % 3;
        if (sign) buf[n++] = sign == 1 ? '-' : '+';
        for (size_t j = 0; j < digits; j++) {
            if (j == dot) buf[n++] = '.';
            buf[n++] = (char)('0' + (j == 0 && rand_r(&seed) % 4 ? 0 : rand_r(&seed) % 10));
        }
        size_t len = n;
        buf[n++] = ',';
        buf[n] = 0;
        const char *end = sf_parse_f64(buf, buf + n, &v);
        assert_ptr_equal(end, buf + len);
        double ref = strtod(buf, NULL);
        if (memcmp(&v, &ref, sizeof v) != 0) fail_msg("'%s': %.17g, strtod %.17g", buf, v, ref);
    }
}

/* ---- CSV layouts ---- */

static void test_header_label_by_name(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.label_name = "b";
    sf_table t;
    parse_ok("a,b,c\n1,2,3\n4,5,6\n", &o, &t);
    assert_int_equal(t.rows, 2);
    assert_int_equal(t.d, 2);
    assert_true(t.has_label);
    assert_string_equal(t.feature_names[0], "a");
    assert_string_equal(t.feature_names[1], "c");
    assert_string_equal(t.label_name, "b");
    assert_row(&t, 0, (double[]){1, 3}, 2, 2);
    assert_row(&t, 1, (double[]){4, 6}, 5, 3);
    assert_int_equal(t.bad_rows, 0);
    assert_int_equal(t.n_errors, 0);
    assert_int_equal(t.bytes, strlen("a,b,c\n1,2,3\n4,5,6\n"));
    sf_table_free(&t);
}

static void test_header_label_by_index(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.label_index = 2;
    sf_table t;
    parse_ok("a,b,c\n1,2,3\n4,5,6", &o, &t);
    assert_int_equal(t.d, 2);
    assert_string_equal(t.label_name, "c");
    assert_string_equal(t.feature_names[1], "b");
    assert_row(&t, 0, (double[]){1, 2}, 3, 2);
    assert_row(&t, 1, (double[]){4, 5}, 6, 3);
    sf_table_free(&t);

    o.label_index = -3; /* counts from the end: the first column */
    parse_ok("a,b,c\n1,2,3\n", &o, &t);
    assert_string_equal(t.label_name, "a");
    assert_row(&t, 0, (double[]){2, 3}, 1, 2);
    sf_table_free(&t);

    o.label_index = 0;
    parse_ok("a,b,c\n1,2,3\n", &o, &t);
    assert_string_equal(t.label_name, "a");
    sf_table_free(&t);
}

static void test_header_names_trimmed(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.label_name = "the label";
    sf_table t;
    parse_ok(" \"x one\" ,\tb\t, \"the label\" ,,\"\"\n1,2,3,4,5\n", &o, &t);
    assert_int_equal(t.d, 4);
    assert_string_equal(t.feature_names[0], "x one");
    assert_string_equal(t.feature_names[1], "b");
    assert_string_equal(t.feature_names[2], "x3");
    assert_string_equal(t.feature_names[3], "x4");
    assert_string_equal(t.label_name, "the label");
    assert_row(&t, 0, (double[]){1, 2, 4, 5}, 3, 2);
    sf_table_free(&t);
}

static void test_no_header(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.has_header = false;
    sf_table t;
    parse_ok("1,2,3\n4,5,6\n", &o, &t);
    assert_int_equal(t.rows, 2);
    assert_int_equal(t.d, 2);
    assert_string_equal(t.feature_names[0], "x1");
    assert_string_equal(t.feature_names[1], "x2");
    assert_string_equal(t.label_name, "y");
    assert_row(&t, 0, (double[]){2, 3}, 1, 1);
    assert_row(&t, 1, (double[]){5, 6}, 4, 2);
    sf_table_free(&t);

    /* The field count comes from the first non-blank line. */
    parse_ok("\n\n1,2\n3,4,5\n6,7\n", &o, &t);
    assert_int_equal(t.d, 1);
    assert_int_equal(t.rows, 2);
    assert_row(&t, 0, (double[]){2}, 1, 3);
    assert_row(&t, 1, (double[]){7}, 6, 5);
    assert_error(&t, 0, 4, "expected 2 fields, found 3");
    sf_table_free(&t);
}

static void test_crlf(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.label_name = "b";
    sf_table t;
    parse_ok("a,b\r\n1,2\r\n\r\n3,4\r\n", &o, &t);
    assert_string_equal(t.label_name, "b");
    assert_int_equal(t.rows, 2);
    assert_row(&t, 0, (double[]){1}, 2, 2);
    assert_row(&t, 1, (double[]){3}, 4, 4);
    assert_int_equal(t.bad_rows, 0);
    sf_table_free(&t);
}

static void test_blank_lines(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    sf_table t;
    parse_ok("\n \na,b\n\n1,2\n   \n\t\r\n3,4\n\n", &o, &t);
    assert_int_equal(t.rows, 2);
    assert_row(&t, 0, (double[]){2}, 1, 5);
    assert_row(&t, 1, (double[]){4}, 3, 8);
    assert_int_equal(t.bad_rows, 0);
    sf_table_free(&t);
}

static void test_spaces_around_numbers(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    sf_table t;
    parse_ok("a,b,c\n 1 ,\t2\t,  3  \n\t-4,5 , 6\r\n", &o, &t);
    assert_int_equal(t.rows, 2);
    assert_row(&t, 0, (double[]){2, 3}, 1, 2);
    assert_row(&t, 1, (double[]){5, 6}, -4, 3);
    sf_table_free(&t);
}

static void test_signs_and_exponents(void **state)
{
    (void)state;
    static const char *fields[] = {"+1.5", "1e3",    "-2.5E-3",   "+.5",  "5.",
                                   "1E+2", "-0",     "+0.0",      "1e-5", "123456789012345678901",
                                   ".25",  "7e-310", "-1.25e+300"};
    const size_t n = sizeof fields / sizeof fields[0];
    char text[512] = "";
    for (size_t j = 0; j < n; j++) {
        strcat(text, fields[j]);
        strcat(text, j + 1 < n ? "," : "\n");
    }
    sf_parse_options o = csv_options();
    o.has_header = false;
    sf_table t;
    parse_ok(text, &o, &t);
    assert_int_equal(t.rows, 1);
    assert_bits_equal(t.y[0], strtod(fields[0], NULL));
    for (size_t j = 1; j < n; j++)
        assert_bits_equal(t.X[j - 1], strtod(fields[j], NULL));
    sf_table_free(&t);
}

static void test_bom(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.label_name = "a";
    sf_table t;
    /* Two literals, or the 'a' would join the hex escape. */
    parse_ok("\xEF\xBB\xBF"
             "a,b\n1,2\n",
             &o, &t);
    assert_string_equal(t.label_name, "a");
    assert_row(&t, 0, (double[]){2}, 1, 2);
    sf_table_free(&t);
}

/* ---- CSV bad records ---- */

static void test_bad_records(void **state)
{
    (void)state;
    const char *text = "y,a,b\n"     /* 1 */
                       "1,2,3\n"     /* 2 good */
                       "1,2\n"       /* 3 too few */
                       "1,2,3,4\n"   /* 4 too many */
                       "1,abc,3\n"   /* 5 not a number */
                       "1,,3\n"      /* 6 empty */
                       "1,2,nan\n"   /* 7 NaN */
                       "-inf,2,3\n"  /* 8 infinite */
                       "1,2,\n"      /* 9 empty at the end */
                       "1,2.5x,3\n"  /* 10 trailing junk */
                       "1,2 3,4\n"   /* 11 two numbers in a field */
                       "\n"          /* 12 blank */
                       "4,5,6\n"     /* 13 good */
                       "1,2,1e999\n" /* 14 overflow */
                       "\"1\",2,3\n" /* 15 quoted */
                       "7,8,9";      /* 16 good, no newline */
    sf_parse_options o = csv_options();
    o.max_errors_kept = 20;
    sf_table t;
    parse_ok(text, &o, &t);
    assert_int_equal(t.rows, 3);
    assert_row(&t, 0, (double[]){2, 3}, 1, 2);
    assert_row(&t, 1, (double[]){5, 6}, 4, 13);
    assert_row(&t, 2, (double[]){8, 9}, 7, 16);
    assert_int_equal(t.bad_rows, 11);
    assert_int_equal(t.n_errors, 11);
    assert_error(&t, 0, 3, "expected 3 fields, found 2");
    assert_error(&t, 1, 4, "expected 3 fields, found 4");
    assert_error(&t, 2, 5, "field 2 ('abc') is not a number");
    assert_error(&t, 3, 6, "field 2 is empty");
    assert_error(&t, 4, 7, "field 3 is NaN or infinite");
    assert_error(&t, 5, 8, "field 1 is NaN or infinite");
    assert_error(&t, 6, 9, "field 3 is empty");
    assert_error(&t, 7, 10, "field 2 ('2.5x') is not a number");
    assert_error(&t, 8, 11, "field 2 ('2 3') is not a number");
    assert_error(&t, 9, 14, "field 3 is NaN or infinite");
    assert_error(&t, 10, 15, "field 1 ('\"1\"') is not a number");
    sf_table_free(&t);
}

static void test_long_field_text_is_cut(void **state)
{
    (void)state;
    char text[256] = "a,b\n1,";
    for (int i = 0; i < 100; i++)
        strcat(text, "z");
    strcat(text, "\n");
    sf_parse_options o = csv_options();
    sf_table t;
    parse_ok(text, &o, &t);
    assert_int_equal(t.bad_rows, 1);
    assert_string_equal(t.errors[0].reason,
                        "field 2 ('zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...') is not a number");
    sf_table_free(&t);
}

static void test_errors_kept_limit(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.max_errors_kept = 3;
    sf_table t;
    parse_ok("a,b\nx,1\n1,2\nx,2\nx,3\nx,4\nx,5\n", &o, &t);
    assert_int_equal(t.rows, 1);
    assert_int_equal(t.bad_rows, 5);
    assert_int_equal(t.n_errors, 3);
    assert_error(&t, 0, 2, "field 1 ('x') is not a number");
    assert_error(&t, 1, 4, "field 1 ('x') is not a number");
    assert_error(&t, 2, 5, "field 1 ('x') is not a number");
    sf_table_free(&t);
}

static void test_overlong_line(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.max_line_bytes = 16;
    sf_table t;
    parse_ok("a,b\n1,2\n1.00000000000000,2\n3,4\n", &o, &t);
    assert_int_equal(t.rows, 2);
    assert_row(&t, 1, (double[]){4}, 3, 4);
    assert_error(&t, 0, 3, "line longer than 16 bytes");
    sf_table_free(&t);

    /* The default limit, 1 MiB, with a line of valid numbers just over it. */
    size_t n = (1u << 20) + 4096;
    char *text = malloc(n + 64);
    assert_non_null(text);
    size_t len = (size_t)sprintf(text, "a,b\n1,2\n");
    memcpy(text + len, "3,", 2);
    len += 2;
    memset(text + len, '0', n);
    len += n;
    len += (size_t)sprintf(text + len, "1\n5,6\n");
    sf_parse_options_init(&o);
    o.threads = 1;
    sf_status st = sf_parse_buffer(text, len, &o, &t, g_err, sizeof g_err);
    assert_int_equal(st, SF_OK);
    assert_int_equal(t.rows, 2);
    assert_row(&t, 1, (double[]){6}, 5, 4);
    assert_error(&t, 0, 3, "line longer than 1048576 bytes");
    sf_table_free(&t);
    free(text);
}

static void test_all_rows_bad(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    sf_table t;
    parse_ok("a,b\nx,1\n\n1,2,3\n", &o, &t);
    assert_int_equal(t.rows, 0);
    assert_int_equal(t.bad_rows, 2);
    assert_error(&t, 0, 2, "field 1 ('x') is not a number");
    assert_error(&t, 1, 4, "expected 2 fields, found 3");
    sf_table_free(&t);
}

/* ---- CSV labels that may be missing ---- */

static void test_label_optional_by_name(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.label_name = "price";
    o.label_optional = true;
    sf_table t;
    parse_ok("a,b\n1,2\n", &o, &t);
    assert_false(t.has_label);
    assert_int_equal(t.d, 2);
    assert_string_equal(t.feature_names[0], "a");
    assert_string_equal(t.feature_names[1], "b");
    assert_row(&t, 0, (double[]){1, 2}, NAN, 2);
    assert_true(isnan(t.y[0]));
    sf_table_free(&t);

    parse_ok("a,price,b\n1,9,2\n", &o, &t);
    assert_true(t.has_label);
    assert_int_equal(t.d, 2);
    assert_row(&t, 0, (double[]){1, 2}, 9, 2);
    sf_table_free(&t);
}

static void test_label_optional_expected_features(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.has_header = false;
    o.label_optional = true;
    o.expected_features = 3;
    sf_table t;
    parse_ok("1,2,3\n4,5,6\n", &o, &t);
    assert_false(t.has_label);
    assert_int_equal(t.d, 3);
    assert_row(&t, 1, (double[]){4, 5, 6}, NAN, 2);
    assert_true(isnan(t.y[1]));
    sf_table_free(&t);

    parse_ok("9,1,2,3\n", &o, &t);
    assert_true(t.has_label);
    assert_int_equal(t.d, 3);
    assert_row(&t, 0, (double[]){1, 2, 3}, 9, 1);
    sf_table_free(&t);

    /* Without label_optional the first column is the label as usual. */
    o.label_optional = false;
    parse_ok("1,2,3\n", &o, &t);
    assert_true(t.has_label);
    assert_int_equal(t.d, 2);
    sf_table_free(&t);
}

static void test_missing_label_column(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    o.label_name = "foo";
    sf_table t;
    assert_int_equal(parse_text("a,b\n1,2\n", &o, &t), SF_ERR_PARSE);
    assert_string_equal(g_err, "no column named 'foo' in the header");
    assert_null(t.X);
    assert_int_equal(t.rows, 0);
    sf_table_free(&t);

    o.label_name = NULL;
    o.label_index = 5;
    assert_int_equal(parse_text("a,b\n1,2\n", &o, &t), SF_ERR_PARSE);
    assert_string_equal(g_err, "label column index 5 is out of range: rows have 2 fields");
    sf_table_free(&t);

    o.label_index = 0;
    o.label_name = "a";
    o.has_header = false;
    assert_int_equal(parse_text("1,2\n", &o, &t), SF_ERR_INVALID_ARGUMENT);
    assert_string_equal(g_err, "the label column 'a' is named, but the input has no header");
    sf_table_free(&t);
}

/* ---- structural errors ---- */

static void test_empty_input(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    sf_table t;
    assert_int_equal(parse_text("", &o, &t), SF_ERR_EMPTY);
    assert_string_equal(g_err, "no data rows in input");
    assert_int_equal(sf_parse_buffer(NULL, 0, &o, &t, g_err, sizeof g_err), SF_ERR_EMPTY);
    assert_int_equal(parse_text("\n \r\n\n", &o, &t), SF_ERR_EMPTY);
    o.has_header = false;
    assert_int_equal(parse_text("\n\n", &o, &t), SF_ERR_EMPTY);
    assert_string_equal(g_err, "no data rows in input");
    sf_parse_options l = libsvm_options();
    assert_int_equal(parse_text("# only a comment\n\n", &l, &t), SF_ERR_EMPTY);
    assert_string_equal(g_err, "no data rows in input");
    sf_table_free(&t);
}

static void test_header_only(void **state)
{
    (void)state;
    sf_parse_options o = csv_options();
    sf_table t;
    assert_int_equal(parse_text("a,b,c\n", &o, &t), SF_ERR_EMPTY);
    assert_string_equal(g_err, "no data rows in input");
    assert_int_equal(parse_text("a,b,c", &o, &t), SF_ERR_EMPTY);
    assert_int_equal(parse_text("a,b,c\r\n\r\n  \n", &o, &t), SF_ERR_EMPTY);
    assert_null(t.feature_names);
    sf_table_free(&t);
}

/* ---- LIBSVM ---- */

static void test_libsvm_densify_auto(void **state)
{
    (void)state;
    sf_parse_options o = libsvm_options();
    sf_table t;
    parse_ok("1 1:0.5 3:2\n-1 2:1.5\n+1\t4:-1e2\n\n0\n", &o, &t);
    assert_true(t.has_label);
    assert_int_equal(t.rows, 4);
    assert_int_equal(t.d, 4);
    assert_string_equal(t.feature_names[3], "x4");
    assert_string_equal(t.label_name, "y");
    assert_row(&t, 0, (double[]){0.5, 0, 2, 0}, 1, 1);
    assert_row(&t, 1, (double[]){0, 1.5, 0, 0}, -1, 2);
    assert_row(&t, 2, (double[]){0, 0, 0, -100}, 1, 3);
    assert_row(&t, 3, (double[]){0, 0, 0, 0}, 0, 5);
    sf_table_free(&t);
}

static void test_libsvm_n_features(void **state)
{
    (void)state;
    sf_parse_options o = libsvm_options();
    o.n_features = 5;
    sf_table t;
    parse_ok("1 1:1 3:3\n2 2:2 6:6\n3 5:5\n", &o, &t);
    assert_int_equal(t.d, 5);
    assert_int_equal(t.rows, 2);
    assert_row(&t, 0, (double[]){1, 0, 3, 0, 0}, 1, 1);
    assert_row(&t, 1, (double[]){0, 0, 0, 0, 5}, 3, 3);
    assert_int_equal(t.bad_rows, 1);
    assert_error(&t, 0, 2, "index 6 is larger than the 5 features");
    sf_table_free(&t);
}

static void test_libsvm_qid_and_comments(void **state)
{
    (void)state;
    sf_parse_options o = libsvm_options();
    sf_table t;
    parse_ok("# a comment line\n"
             "2 qid:1 1:1 2:2\n"
             "   # indented comment\n"
             "1 qid:2 2:3 # trailing comment 9:9\n"
             "0 1:4#tight comment\r\n"
             "3#label only\n",
             &o, &t);
    assert_int_equal(t.rows, 4);
    assert_int_equal(t.d, 2);
    assert_row(&t, 0, (double[]){1, 2}, 2, 2);
    assert_row(&t, 1, (double[]){0, 3}, 1, 4);
    assert_row(&t, 2, (double[]){4, 0}, 0, 5);
    assert_row(&t, 3, (double[]){0, 0}, 3, 6);
    assert_int_equal(t.bad_rows, 0);
    sf_table_free(&t);
}

static void test_libsvm_bad_records(void **state)
{
    (void)state;
    sf_parse_options o = libsvm_options();
    o.max_errors_kept = 20;
    sf_table t;
    parse_ok("1 1:1\n"     /* 1 good */
             "1 0:1\n"     /* 2 */
             "1 2:abc\n"   /* 3 */
             "1 2:nan\n"   /* 4 */
             "1 3:1 2:1\n" /* 5 */
             "1 3:1 3:2\n" /* 6 */
             "1 x:1\n"     /* 7 */
             "abc 1:1\n"   /* 8 */
             "inf 1:1\n"   /* 9 */
             "1 2:\n"      /* 10 */
             "1 2 3\n"     /* 11 */
             "1:2 3:4\n"   /* 12 */
             "1 2:1e999\n" /* 13 */
             "-1 7:1\n",   /* 14 good */
             &o, &t);
    assert_int_equal(t.rows, 2);
    /* Bad rows do not widen the table: index 3 on line 5 and 6 never counted. */
    assert_int_equal(t.d, 7);
    assert_row(&t, 0, (double[]){1, 0, 0, 0, 0, 0, 0}, 1, 1);
    assert_row(&t, 1, (double[]){0, 0, 0, 0, 0, 0, 1}, -1, 14);
    assert_int_equal(t.bad_rows, 12);
    assert_error(&t, 0, 2, "index 0 is not allowed (indices start at 1)");
    assert_error(&t, 1, 3, "the value of index 2 ('abc') is not a number");
    assert_error(&t, 2, 4, "the value of index 2 is NaN or infinite");
    assert_error(&t, 3, 5, "index 2 does not follow 3 in increasing order");
    assert_error(&t, 4, 6, "index 3 does not follow 3 in increasing order");
    assert_error(&t, 5, 7, "'x:1' is not index:value");
    assert_error(&t, 6, 8, "the label ('abc') is not a number");
    assert_error(&t, 7, 9, "the label is NaN or infinite");
    assert_error(&t, 8, 10, "the value of index 2 is empty");
    assert_error(&t, 9, 11, "'2' is not index:value");
    assert_error(&t, 10, 12, "the label ('1:2') is not a number");
    assert_error(&t, 11, 13, "the value of index 2 is NaN or infinite");
    sf_table_free(&t);
}

static void test_libsvm_overlong_line(void **state)
{
    (void)state;
    sf_parse_options o = libsvm_options();
    o.max_line_bytes = 10;
    sf_table t;
    parse_ok("1 1:1\n1 1:1 2:2 3:3\n2 2:2\n", &o, &t);
    assert_int_equal(t.rows, 2);
    assert_int_equal(t.d, 2);
    assert_error(&t, 0, 2, "line longer than 10 bytes");
    sf_table_free(&t);
}

/* ---- multi-chunk parses ---- */

typedef struct generated {
    char *text;
    size_t len;
    size_t rows, d;
    double *X, *y;
    uint64_t *line;
    uint64_t bad_lines[8];
    size_t n_bad;
} generated;

static void gen_free(generated *g)
{
    free(g->text);
    free(g->X);
    free(g->y);
    free(g->line);
}

static void gen_append(generated *g, const char *s)
{
    size_t n = strlen(s);
    memcpy(g->text + g->len, s, n);
    g->len += n;
}

/* A number in one of several spellings; *v is what strtod makes of it. */
static void gen_number(unsigned *seed, char *buf, size_t n, double *v)
{
    double u = (double)rand_r(seed) / RAND_MAX - 0.5;
    switch (rand_r(seed) % 6) {
    case 0: snprintf(buf, n, "%.17g", u * 1e6); break;
    case 1: snprintf(buf, n, "%.9f", u); break;
    case 2: snprintf(buf, n, "%.4e", u * 1e-8); break;
    case 3: snprintf(buf, n, "%d", rand_r(seed) % 100000 - 50000); break;
    case 4: snprintf(buf, n, "+%.6g", fabs(u) * 1e3); break;
    default: snprintf(buf, n, " %.3f\t", u * 10); break;
    }
    *v = strtod(buf, NULL);
}

/* A CSV of about `bytes` with a header (label "y" third of 9 columns), blank
 * lines, CRLF lines and bad lines at known places. */
static void gen_csv(generated *g, size_t bytes)
{
    memset(g, 0, sizeof *g);
    const size_t ncols = 9, label_col = 2;
    size_t max_rows = bytes / 40 + 16;
    g->d = ncols - 1;
    g->text = malloc(bytes + 4096);
    g->X = malloc(max_rows * g->d * sizeof *g->X);
    g->y = malloc(max_rows * sizeof *g->y);
    g->line = malloc(max_rows * sizeof *g->line);
    assert_true(g->text && g->X && g->y && g->line);
    gen_append(g, "a,b,y,c,d,e,f,g,h\n");
    unsigned seed = 12345;
    for (uint64_t line = 2; g->len < bytes; line++) {
        if (line % 997 == 0) {
            gen_append(g, line % 2 ? "\n" : "  \r\n");
            continue;
        }
        bool bad = (line == 7 || line == 1001 || line % 20011 == 0) && g->n_bad < 8;
        if (bad) g->bad_lines[g->n_bad++] = line;
        for (size_t j = 0; j < ncols; j++) {
            char buf[64];
            double v;
            gen_number(&seed, buf, sizeof buf, &v);
            if (bad && j == 4) snprintf(buf, sizeof buf, "%s", line % 2 ? "oops" : "nan");
            gen_append(g, buf);
            if (j == label_col)
                g->y[g->rows] = v;
            else
                g->X[g->rows * g->d + j - (j > label_col)] = v;
            if (j + 1 < ncols) gen_append(g, ",");
        }
        gen_append(g, line % 5 ? "\n" : "\r\n");
        if (!bad) g->line[g->rows++] = line;
    }
    assert_true(g->rows < max_rows);
}

static void assert_matches_generated(const sf_table *t, const generated *g)
{
    assert_int_equal(t->rows, g->rows);
    assert_int_equal(t->d, g->d);
    assert_memory_equal(t->line, g->line, g->rows * sizeof *g->line);
    assert_memory_equal(t->y, g->y, g->rows * sizeof *g->y);
    assert_memory_equal(t->X, g->X, g->rows * g->d * sizeof *g->X);
    assert_int_equal(t->bad_rows, g->n_bad);
    assert_int_equal(t->n_errors, g->n_bad);
    for (size_t k = 0; k < g->n_bad; k++)
        assert_int_equal(t->errors[k].line, g->bad_lines[k]);
}

static void assert_tables_equal(const sf_table *a, const sf_table *b)
{
    assert_int_equal(a->rows, b->rows);
    assert_int_equal(a->d, b->d);
    assert_int_equal(a->bad_rows, b->bad_rows);
    assert_int_equal(a->n_errors, b->n_errors);
    assert_memory_equal(a->X, b->X, a->rows * a->d * sizeof *a->X);
    assert_memory_equal(a->y, b->y, a->rows * sizeof *a->y);
    assert_memory_equal(a->line, b->line, a->rows * sizeof *a->line);
    for (size_t k = 0; k < a->n_errors; k++) {
        assert_int_equal(a->errors[k].line, b->errors[k].line);
        assert_string_equal(a->errors[k].reason, b->errors[k].reason);
    }
}

static void test_multi_chunk_csv(void **state)
{
    (void)state;
    generated g;
    gen_csv(&g, 6u << 20);
    assert_true(g.n_bad >= 4);
    sf_parse_options o = csv_options();
    o.label_name = "y";
    o.max_errors_kept = 8;
    int threads[] = {2, 1, 3, 7};
    sf_table first;
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        o.threads = threads[i];
        sf_table t;
        assert_int_equal(sf_parse_buffer(g.text, g.len, &o, &t, g_err, sizeof g_err), SF_OK);
        assert_matches_generated(&t, &g);
        assert_string_equal(t.errors[0].reason, "field 5 ('oops') is not a number");
        assert_string_equal(t.errors[1].reason, "field 5 ('oops') is not a number");
        assert_string_equal(t.label_name, "y");
        assert_string_equal(t.feature_names[2], "c");
        assert_int_equal(t.bytes, g.len);
        if (i == 0) {
            first = t;
        } else {
            assert_tables_equal(&t, &first);
            sf_table_free(&t);
        }
    }
    sf_table_free(&first);

    /* Only the first errors are kept, in input order, whichever chunk they are in. */
    o.threads = 4;
    o.max_errors_kept = 2;
    sf_table t;
    assert_int_equal(sf_parse_buffer(g.text, g.len, &o, &t, g_err, sizeof g_err), SF_OK);
    assert_int_equal(t.bad_rows, g.n_bad);
    assert_int_equal(t.n_errors, 2);
    assert_int_equal(t.errors[0].line, g.bad_lines[0]);
    assert_int_equal(t.errors[1].line, g.bad_lines[1]);
    sf_table_free(&t);
    gen_free(&g);
}

static void test_multi_chunk_bad_first_chunk(void **state)
{
    (void)state;
    /* Many bad and blank lines early make later chunks' rows move down. */
    size_t n = 3u << 20, len = 0;
    char *text = malloc(n + 64);
    assert_non_null(text);
    len += (size_t)sprintf(text + len, "a,b\n");
    uint64_t line = 2, rows = 0, blank = 0;
    while (len < n) {
        if (line < 20000 && line % 3 == 0) {
            len += (size_t)sprintf(text + len, "%s", line % 2 ? "bad,1\n" : "\n");
            blank += line % 2 == 0;
        } else {
            len += (size_t)sprintf(text + len, "%llu,%llu.5\n", (unsigned long long)line,
                                   (unsigned long long)line);
        }
        line++;
    }
    sf_parse_options o = csv_options();
    o.threads = 3;
    sf_table t;
    assert_int_equal(sf_parse_buffer(text, len, &o, &t, g_err, sizeof g_err), SF_OK);
    for (size_t r = 0; r < t.rows; r++) {
        assert_bits_equal(t.y[r], (double)t.line[r]);
        assert_bits_equal(t.X[r], (double)t.line[r] + 0.5);
        if (r) assert_true(t.line[r] > t.line[r - 1]);
        rows++;
    }
    assert_int_equal(t.line[t.rows - 1], line - 1);
    assert_int_equal(rows + t.bad_rows + blank, line - 2);
    assert_int_equal(t.bad_rows, 3333);
    sf_table o1;
    o.threads = 1;
    assert_int_equal(sf_parse_buffer(text, len, &o, &o1, g_err, sizeof g_err), SF_OK);
    assert_tables_equal(&t, &o1);
    sf_table_free(&o1);
    sf_table_free(&t);
    free(text);
}

static void test_multi_chunk_libsvm(void **state)
{
    (void)state;
    size_t n = 3u << 20, len = 0;
    char *text = malloc(n + 256);
    assert_non_null(text);
    unsigned seed = 99;
    for (uint64_t line = 1; len < n; line++) {
        if (line == 20000) {
            len += (size_t)sprintf(text + len, "1 4:x\n");
            continue;
        }
        len += (size_t)sprintf(text + len, "%d", rand_r(&seed) % 3);
        for (int idx = 1; idx <= 40; idx++)
            if (rand_r(&seed) % 5 == 0)
                len += (size_t)sprintf(text + len, " %d:%.6g", idx, (double)rand_r(&seed) / 7.0);
        len += (size_t)sprintf(text + len, line % 7 ? "\n" : " # c\n");
    }
    len += (size_t)sprintf(text + len, "2 123:1\n");
    sf_parse_options o = libsvm_options();
    sf_table a, b;
    o.threads = 1;
    assert_int_equal(sf_parse_buffer(text, len, &o, &a, g_err, sizeof g_err), SF_OK);
    o.threads = 3;
    assert_int_equal(sf_parse_buffer(text, len, &o, &b, g_err, sizeof g_err), SF_OK);
    assert_int_equal(a.d, 123);
    assert_int_equal(a.bad_rows, 1);
    assert_error(&a, 0, 20000, "the value of index 4 ('x') is not a number");
    assert_tables_equal(&a, &b);
    assert_bits_equal(a.X[(a.rows - 1) * a.d + 122], 1.0);
    sf_table_free(&a);
    sf_table_free(&b);
    free(text);
}

/* ---- files and stdin ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_parse_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_parse_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "a,b\n1,2\n3,4\n");
    sf_parse_options o = csv_options();
    sf_table t;
    assert_int_equal(sf_parse_file(path, &o, &t, g_err, sizeof g_err), SF_OK);
    assert_int_equal(t.rows, 2);
    assert_row(&t, 1, (double[]){4}, 3, 3);
    assert_int_equal(t.bytes, 12);
    sf_table_free(&t);

    write_file(path, "");
    assert_int_equal(sf_parse_file(path, &o, &t, g_err, sizeof g_err), SF_ERR_EMPTY);
    assert_string_equal(g_err, "no data rows in input");
    unlink(path);

    assert_int_equal(sf_parse_file("/nonexistent/dir/x.csv", &o, &t, g_err, sizeof g_err),
                     SF_ERR_IO);
    assert_string_equal(g_err, "cannot open '/nonexistent/dir/x.csv': No such file or directory");
    assert_int_equal(sf_parse_file("/tmp", &o, &t, g_err, sizeof g_err), SF_ERR_IO);
    assert_string_equal(g_err, "cannot read '/tmp': Is a directory");
}

/* The row stream gives the generated table's rows, lines and bad records,
 * whatever the window size and thread count (windows end mid-chunk, on bad
 * and blank lines, and span several threads). */
static void test_row_stream(void **state)
{
    (void)state;
    generated g;
    gen_csv(&g, 3u << 20);
    char path[] = "/tmp/test_rowstream_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, g.text, g.len), (ssize_t)g.len);
    close(fd);
    sf_parse_options o = csv_options();
    o.label_name = "y";
    o.max_errors_kept = 8;
    const size_t caps[] = {1, 7, 1000, 4096, 65536, 1u << 20};
    const int threads[] = {1, 3, 4, 2, 7, 4};
    double *X = malloc(sizeof(double) * g.rows * g.d), *y = malloc(sizeof(double) * g.rows);
    uint64_t *line = malloc(sizeof(uint64_t) * g.rows);
    assert_true(X && y && line);
    for (size_t k = 0; k < sizeof caps / sizeof *caps; k++) {
        o.threads = threads[k];
        sf_row_stream *rs = NULL;
        sf_table info;
        assert_int_equal(sf_row_stream_open(path, &o, &rs, &info, g_err, sizeof g_err), SF_OK);
        assert_int_equal(info.d, g.d);
        assert_string_equal(info.label_name, "y");
        assert_string_equal(info.feature_names[2], "c");
        size_t total = 0, rows = 0, errors = 0, added = 0;
        do {
            size_t cap = caps[k] < g.rows - total ? caps[k] : g.rows - total;
            if (cap == 0) cap = 1; /* the last call finds the end */
            double *xw = total < g.rows ? X + total * g.d : X, *yw = total < g.rows ? y + total : y;
            uint64_t *lw = total < g.rows ? line + total : line;
            assert_int_equal(sf_row_stream_next(rs, &info, xw, yw, lw, cap, &rows, &added), SF_OK);
            assert_true(rows <= cap);
            total += rows;
            errors += added;
        } while (rows > 0);
        assert_int_equal(total, g.rows);
        assert_memory_equal(line, g.line, g.rows * sizeof *line);
        assert_memory_equal(y, g.y, g.rows * sizeof *y);
        assert_memory_equal(X, g.X, g.rows * g.d * sizeof *X);
        assert_int_equal(info.rows, g.rows);
        assert_int_equal(info.bad_rows, g.n_bad);
        assert_int_equal(errors, g.n_bad);
        for (size_t e = 0; e < g.n_bad; e++)
            assert_int_equal(info.errors[e].line, g.bad_lines[e]);
        assert_string_equal(info.errors[0].reason, "field 5 ('oops') is not a number");
        sf_row_stream_close(rs);
        sf_table_free(&info);
    }
    /* Errors of the open: no such file, LIBSVM, a header only. */
    sf_row_stream *rs = NULL;
    sf_table info;
    assert_int_equal(sf_row_stream_open("/nonexistent/x.csv", &o, &rs, &info, g_err, sizeof g_err),
                     SF_ERR_IO);
    sf_parse_options l = libsvm_options();
    assert_int_equal(sf_row_stream_open(path, &l, &rs, &info, g_err, sizeof g_err),
                     SF_ERR_UNSUPPORTED);
    unlink(path);
    free(X);
    free(y);
    free(line);
    gen_free(&g);
}

static void test_parse_stdin(void **state)
{
    (void)state;
    char path[] = "/tmp/test_parse_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "1 2:5\n");
    int saved = dup(STDIN_FILENO);
    int in = open(path, O_RDONLY);
    assert_true(saved >= 0 && in >= 0);
    assert_true(dup2(in, STDIN_FILENO) >= 0);
    close(in);
    sf_parse_options o = libsvm_options();
    sf_table t;
    sf_status st = sf_parse_file("-", &o, &t, g_err, sizeof g_err);
    dup2(saved, STDIN_FILENO);
    close(saved);
    unlink(path);
    assert_int_equal(st, SF_OK);
    assert_int_equal(t.d, 2);
    assert_row(&t, 0, (double[]){0, 5}, 1, 1);
    sf_table_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_defaults),
        cmocka_unit_test(test_parse_f64),
        cmocka_unit_test(test_parse_f64_plain_decimals),
        cmocka_unit_test(test_row_stream),
        cmocka_unit_test(test_header_label_by_name),
        cmocka_unit_test(test_header_label_by_index),
        cmocka_unit_test(test_header_names_trimmed),
        cmocka_unit_test(test_no_header),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_blank_lines),
        cmocka_unit_test(test_spaces_around_numbers),
        cmocka_unit_test(test_signs_and_exponents),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_long_field_text_is_cut),
        cmocka_unit_test(test_errors_kept_limit),
        cmocka_unit_test(test_overlong_line),
        cmocka_unit_test(test_all_rows_bad),
        cmocka_unit_test(test_label_optional_by_name),
        cmocka_unit_test(test_label_optional_expected_features),
        cmocka_unit_test(test_missing_label_column),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_header_only),
        cmocka_unit_test(test_libsvm_densify_auto),
        cmocka_unit_test(test_libsvm_n_features),
        cmocka_unit_test(test_libsvm_qid_and_comments),
        cmocka_unit_test(test_libsvm_bad_records),
        cmocka_unit_test(test_libsvm_overlong_line),
        cmocka_unit_test(test_multi_chunk_csv),
        cmocka_unit_test(test_multi_chunk_bad_first_chunk),
        cmocka_unit_test(test_multi_chunk_libsvm),
        cmocka_unit_test(test_parse_file),
        cmocka_unit_test(test_parse_stdin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
