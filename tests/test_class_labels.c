/*
 * test_class_labels.c — the one class-label policy (host/model/class_labels.h)
 * that train, bench and stream share, against the rule README states:
 * logistic takes the two label values when there are exactly two, otherwise
 * 0 and 1; softmax takes every integer label value; other labels are no class.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka needs the includes above first
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "class_labels.h"

static void expect_classes(sf_model_kind kind, const double *y, size_t n, const double *want,
                           size_t K)
{
    double *c = NULL;
    size_t k = 0;
    char why[160];
    assert_int_equal(sf_class_labels_choose(kind, y, n, &c, &k, why, sizeof why), SF_OK);
    assert_int_equal(k, K);
    for (size_t i = 0; i < K; i++)
        assert_true(c[i] == want[i]); /* exact: labels are copied, never computed */
    free(c);
}

static void test_logistic_two_values(void **state)
{
    (void)state;
    const double y[] = {1, -1, -1, 1, 1};
    const double want[] = {-1, 1};
    expect_classes(SF_MODEL_LOGISTIC, y, 5, want, 2);
}

static void test_logistic_otherwise_zero_one(void **state)
{
    (void)state;
    const double zero_one[] = {0, 1};
    const double three[] = {0, 1, 2, 1};
    expect_classes(SF_MODEL_LOGISTIC, three, 4, zero_one, 2);
    const double one[] = {1, 1, 1};
    expect_classes(SF_MODEL_LOGISTIC, one, 3, zero_one, 2);
    expect_classes(SF_MODEL_LOGISTIC, NULL, 0, zero_one, 2);
    /* With three values, 2 is no class. */
    assert_int_equal(sf_class_index(zero_one, 2, 2.0), -1);
}

static void test_softmax_integers(void **state)
{
    (void)state;
    const double y[] = {3, 0.5, -2, 3, 7, 0.5};
    const double want[] = {-2, 3, 7};
    expect_classes(SF_MODEL_SOFTMAX, y, 6, want, 3);
    assert_false(sf_class_label_valid(SF_MODEL_SOFTMAX, 0.5));
    assert_false(sf_class_label_valid(SF_MODEL_SOFTMAX, 0x1p60));
    assert_false(sf_class_label_valid(SF_MODEL_SOFTMAX, NAN));
    assert_true(sf_class_label_valid(SF_MODEL_SOFTMAX, -4));
    assert_true(sf_class_label_valid(SF_MODEL_LOGISTIC, 0.25));
}

static void test_softmax_needs_two(void **state)
{
    (void)state;
    const double y[] = {4, 4, 0.5};
    double *c = (double *)1;
    size_t k = 9;
    char why[160] = "";
    assert_int_equal(sf_class_labels_choose(SF_MODEL_SOFTMAX, y, 3, &c, &k, why, sizeof why),
                     SF_ERR_BAD_LABEL);
    assert_null(c);
    assert_int_equal(k, 0);
    assert_true(why[0] != 0);
}

static void test_index(void **state)
{
    (void)state;
    const double c[] = {-3, 0, 2.5, 10};
    assert_int_equal(sf_class_index(c, 4, -3), 0);
    assert_int_equal(sf_class_index(c, 4, 2.5), 2);
    assert_int_equal(sf_class_index(c, 4, 10), 3);
    assert_int_equal(sf_class_index(c, 4, 1), -1);
    assert_int_equal(sf_class_index(c, 4, 11), -1);
    assert_int_equal(sf_class_index(c, 0, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logistic_two_values),
        cmocka_unit_test(test_logistic_otherwise_zero_one),
        cmocka_unit_test(test_softmax_integers),
        cmocka_unit_test(test_softmax_needs_two),
        cmocka_unit_test(test_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
