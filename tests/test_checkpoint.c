/*
 * test_checkpoint.c — the checkpoint file (host/pipeline/checkpoint.c)
 * written and read back whole: every counter and section of a full
 * sf_checkpoint comes back byte for byte (binary sections with zero bytes
 * and every byte value, 64-bit counters past 2^32, empty strings and an
 * empty section); a second write replaces the first and leaves no temporary
 * file; a directory without a checkpoint reads as SF_ERR_EMPTY. Damaged
 * files are test_robustness.c's.
 */
#define _GNU_SOURCE /* mkdtemp */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

static char g_dir[64];

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/streamfit-checkpoint-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void assert_same(const sf_checkpoint *a, const sf_checkpoint *b)
{
    assert_true(a->rows_total == b->rows_total);
    assert_true(a->rows_skipped == b->rows_skipped);
    assert_true(a->batches == b->batches);
    assert_string_equal(a->config, b->config);
    assert_int_equal(a->trainer_len, b->trainer_len);
    if (a->trainer_len) assert_memory_equal(a->trainer, b->trainer, a->trainer_len);
    assert_int_equal(a->metrics_len, b->metrics_len);
    if (a->metrics_len) assert_memory_equal(a->metrics, b->metrics, a->metrics_len);
    assert_string_equal(a->source, b->source);
    assert_string_equal(a->classes, b->classes);
    assert_string_equal(a->names, b->names);
}

/* Only checkpoint.bin in the directory: no temporary file left behind. */
static void assert_only_checkpoint(void)
{
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        assert_string_equal(e->d_name, "checkpoint.bin");
        files++;
    }
    closedir(d);
    assert_int_equal(files, 1);
}

static void test_empty_directory(void **state)
{
    (void)state;
    sf_checkpoint c;
    memset(&c, 0, sizeof c);
    char err[256] = "";
    assert_int_equal(sf_checkpoint_read(g_dir, &c, err, sizeof err), SF_ERR_EMPTY);
    sf_checkpoint_free(&c);
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char trainer[1000], metrics[300];
    for (size_t i = 0; i < sizeof trainer; i++)
        trainer[i] = (unsigned char)(i * 7 + (i >> 8)); /* every byte value, zeros included */
    for (size_t i = 0; i < sizeof metrics; i++)
        metrics[i] = (unsigned char)(255 - i);
    char config[] = "model=logistic d=3 classes=2 standardize=1";
    char source[] = "kafka v1\nevents\n0 1234567890123\n3 5\n";
    char classes[] = "-1,1";
    char names[] = "x1,x2,x3,label";
    sf_checkpoint w = {.rows_total = (UINT64_C(1) << 40) + 3,
                       .rows_skipped = UINT64_C(0xFFFFFFFF) + 2,
                       .batches = 99,
                       .config = config,
                       .trainer = trainer,
                       .trainer_len = sizeof trainer,
                       .metrics = metrics,
                       .metrics_len = sizeof metrics,
                       .source = source,
                       .classes = classes,
                       .names = names};
    char err[256] = "";
    assert_int_equal(sf_checkpoint_write(g_dir, &w, err, sizeof err), SF_OK);
    assert_only_checkpoint();
    sf_checkpoint r;
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_checkpoint_read(g_dir, &r, err, sizeof err), SF_OK);
    assert_same(&w, &r);
    sf_checkpoint_free(&r);

    /* A regression run's checkpoint: no classes, no metrics yet. It replaces
     * the first one whole. */
    char empty[] = "";
    sf_checkpoint w2 = {.rows_total = 10,
                        .rows_skipped = 0,
                        .batches = 1,
                        .config = config,
                        .trainer = trainer,
                        .trainer_len = 17,
                        .metrics = NULL,
                        .metrics_len = 0,
                        .source = source,
                        .classes = empty,
                        .names = names};
    assert_int_equal(sf_checkpoint_write(g_dir, &w2, err, sizeof err), SF_OK);
    assert_only_checkpoint();
    memset(&r, 0, sizeof r);
    assert_int_equal(sf_checkpoint_read(g_dir, &r, err, sizeof err), SF_OK);
    assert_same(&w2, &r);
    sf_checkpoint_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_directory),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
