/*
 * test_sources.c — the file, directory and stdin sources
 * (host/sources/source_file.c) and the file sink (host/sinks/sink_file.c),
 * through their interfaces (source.h, sink.h), on files this test writes:
 *
 *   - records are lines: '\n' and "\r\n" end them, empty lines are skipped but
 *     counted, a last line without '\n' is a record; positions carry the byte
 *     offset and the 1-based line;
 *   - a line over 1 MiB is handed out cut to 1 MiB + 1 bytes (so the parser
 *     reports it) and the next line follows intact;
 *   - the state after any prefix, given back as `resume`, continues with the
 *     next record exactly (every split point of a file); a saved position
 *     that does not fit the file, or is of another kind, is refused;
 *   - follow: lines appended while the source waits are handed out;
 *   - dir: files in name order, names ending .tmp/.part and dot files
 *     ignored, files that appear later picked up; resumed mid-file, finished
 *     files are not read again;
 *   - stdin resumes by skipping lines;
 *   - the file sink: lines written and flushed are on disk; a write to a full
 *     disk (/dev/full) fails with the path in its error.
 */
#define _GNU_SOURCE /* mkdtemp */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sink.h"
#include "source.h"

static char g_dir[64];

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/streamfit-sources-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}

static void write_text(const char *path, const char *text, size_t len, const char *mode)
{
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

typedef struct got {
    char text[64][64];
    uint64_t line[64];
    int64_t offset[64];
    size_t n;
    size_t long_len; /* length of a record over 64 bytes */
} got;

/* Poll until eof (or `limit` records), copying what comes out. */
static void drain(sf_source *s, got *g, size_t limit, int timeout_ms)
{
    sf_record recs[8];
    for (int idle = 0; g->n < limit && idle < 3;) {
        size_t n = 0;
        bool eof = false;
        size_t want = limit - g->n < 8 ? limit - g->n : 8;
        assert_int_equal(s->ops->poll(s, recs, want, timeout_ms, &n, &eof), SF_OK);
        for (size_t i = 0; i < n; i++) {
            if (recs[i].len >= 64) {
                g->long_len = recs[i].len;
                snprintf(g->text[g->n], 64, "<long>");
            } else {
                snprintf(g->text[g->n], 64, "%.*s", (int)recs[i].len, recs[i].data);
            }
            g->line[g->n] = recs[i].pos.line;
            g->offset[g->n] = recs[i].pos.offset;
            g->n++;
        }
        if (eof) break;
        idle = n ? 0 : idle + 1;
    }
}

static sf_source *open_uri(const char *uri, const char *resume, bool follow)
{
    sf_source_options o = {.uri = uri, .resume = resume, .follow = follow};
    sf_source *s = NULL;
    char err[256];
    sf_status st = sf_source_open(&o, &s, err, sizeof err);
    if (st != SF_OK) fail_msg("cannot open %s: %s", uri, err);
    return s;
}

static char *state_of(sf_source *s)
{
    sf_source_state st = {0};
    assert_int_equal(s->ops->state(s, &st), SF_OK);
    return st.blob;
}

static void test_file_lines_and_positions(void **state)
{
    (void)state;
    const char text[] = "a,1\r\n\nb,2\n\n\nc,3\nd,4";
    const char *p = path_of("lines.csv");
    write_text(p, text, sizeof text - 1, "w");
    char uri[300];
    snprintf(uri, sizeof uri, "file:%s", p);
    sf_source *s = open_uri(uri, NULL, false);
    got g = {0};
    drain(s, &g, 64, 10);
    assert_int_equal(g.n, 4);
    const char *want[] = {"a,1", "b,2", "c,3", "d,4"};
    const uint64_t lines[] = {1, 3, 6, 7};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(g.text[i], want[i]);
        assert_int_equal(g.line[i], lines[i]);
    }
    s->ops->destroy(s);
}

static void test_file_long_line(void **state)
{
    (void)state;
    size_t big = ((size_t)1 << 20) + 5000;
    char *text = malloc(big + 32);
    assert_non_null(text);
    memcpy(text, "x,1\n", 4);
    memset(text + 4, '7', big);
    memcpy(text + 4 + big, "\ny,2\n", 5);
    const char *p = path_of("long.csv");
    write_text(p, text, 4 + big + 5, "w");
    free(text);
    char uri[300];
    snprintf(uri, sizeof uri, "file:%s", p);
    sf_source *s = open_uri(uri, NULL, false);
    got g = {0};
    drain(s, &g, 64, 10);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.text[0], "x,1");
    assert_string_equal(g.text[1], "<long>");
    assert_int_equal(g.long_len, ((size_t)1 << 20) + 1);
    assert_string_equal(g.text[2], "y,2");
    assert_int_equal(g.line[2], 3);
    s->ops->destroy(s);
}

static void test_file_resume_everywhere(void **state)
{
    (void)state;
    const char text[] = "r1\nr2\r\n\nr3\nr4\nr5\n\nr6";
    const char *p = path_of("resume.csv");
    write_text(p, text, sizeof text - 1, "w");
    char uri[300];
    snprintf(uri, sizeof uri, "file:%s", p);
    for (size_t k = 0; k <= 6; k++) {
        sf_source *s = open_uri(uri, NULL, false);
        got first = {0};
        drain(s, &first, k, 10);
        assert_int_equal(first.n, k);
        char *blob = state_of(s);
        s->ops->destroy(s);
        sf_source *r = open_uri(uri, blob, false);
        got rest = {0};
        drain(r, &rest, 64, 10);
        assert_int_equal(k + rest.n, 6);
        for (size_t i = 0; i < rest.n; i++) {
            char want[32];
            snprintf(want, sizeof want, "r%zu", k + i + 1);
            assert_string_equal(rest.text[i], want);
        }
        r->ops->destroy(r);
        free(blob);
    }
    /* Positions that do not fit: inside a line, past the end, another kind. */
    const char *bad[] = {"file v1\n1 0\n", "file v1\n999 3\n", "dir v1\nnext 0\n", "file v1\nx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sf_source_options o = {.uri = uri, .resume = bad[i]};
        sf_source *s = NULL;
        char err[256] = "";
        assert_int_not_equal(sf_source_open(&o, &s, err, sizeof err), SF_OK);
        assert_true(err[0] != '\0');
    }
}

static void test_file_follow(void **state)
{
    (void)state;
    const char *p = path_of("follow.csv");
    write_text(p, "f1\nf2\n", 6, "w");
    char uri[300];
    snprintf(uri, sizeof uri, "file:%s", p);
    sf_source *s = open_uri(uri, NULL, true);
    got g = {0};
    drain(s, &g, 2, 10);
    assert_int_equal(g.n, 2);
    write_text(p, "f3\nf4\n", 6, "a");
    drain(s, &g, 4, 500);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.text[3], "f4");
    assert_int_equal(g.line[3], 4);
    s->ops->destroy(s);
}

static void test_dir_order_ignores_and_resume(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/in", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char p[300];
    snprintf(p, sizeof p, "%s/b.csv", dir);
    write_text(p, "b1\nb2\n", 6, "w");
    snprintf(p, sizeof p, "%s/a.csv", dir);
    write_text(p, "a1\na2\na3\n", 9, "w");
    snprintf(p, sizeof p, "%s/c.csv.tmp", dir);
    write_text(p, "tmp\n", 4, "w");
    snprintf(p, sizeof p, "%s/d.csv.part", dir);
    write_text(p, "part\n", 5, "w");
    snprintf(p, sizeof p, "%s/.hidden", dir);
    write_text(p, "hidden\n", 7, "w");
    char uri[300];
    snprintf(uri, sizeof uri, "dir:%s", dir);
    sf_source *s = open_uri(uri, NULL, false);
    got g = {0};
    drain(s, &g, 4, 50); /* a1 a2 a3 b1 */
    assert_int_equal(g.n, 4);
    assert_string_equal(g.text[0], "a1");
    assert_string_equal(g.text[3], "b1");
    char *blob = state_of(s);
    s->ops->destroy(s);
    /* A file that appears later (renamed into place), after the resume. */
    snprintf(p, sizeof p, "%s/e.csv", dir);
    write_text(p, "e1\n", 3, "w");
    sf_source *r = open_uri(uri, blob, false);
    got rest = {0};
    drain(r, &rest, 64, 50);
    const char *want[] = {"b2", "e1"};
    assert_int_equal(rest.n, 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(rest.text[i], want[i]);
    assert_int_equal(rest.line[0], 2);
    r->ops->destroy(r);
    free(blob);
}

static void test_stdin_resume_skips_lines(void **state)
{
    (void)state;
    const char *p = path_of("stdin.csv");
    write_text(p, "s1\ns2\ns3\ns4\n", 12, "w");
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    int saved = dup(STDIN_FILENO);
    assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    sf_source *s = open_uri("stdin", "file v1\n6 2\n", false);
    got g = {0};
    drain(s, &g, 64, 10);
    s->ops->destroy(s);
    dup2(saved, STDIN_FILENO);
    close(saved);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.text[0], "s3");
    assert_int_equal(g.line[0], 3);
}

static void test_file_sink(void **state)
{
    (void)state;
    const char *p = path_of("out.csv");
    char uri[300], err[256];
    snprintf(uri, sizeof uri, "file:%s", p);
    sf_sink *k = NULL;
    assert_int_equal(sf_sink_open(uri, NULL, &k, err, sizeof err), SF_OK);
    assert_int_equal(sf_sink_write(k, NULL, 0, "1.5", 3), SF_OK);
    assert_int_equal(sf_sink_write(k, "key", 3, "2.5", 3), SF_OK);
    assert_int_equal(sf_sink_flush(k, 1000), SF_OK);
    char buf[64] = "";
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_string_equal(buf, "1.5\n2.5\n"); /* on disk after the flush, before the close */
    sf_sink_destroy(k);

    assert_int_equal(sf_sink_open("file:/dev/full", NULL, &k, err, sizeof err), SF_OK);
    sf_status st = sf_sink_write(k, NULL, 0, "3.5", 3);
    if (st == SF_OK) st = sf_sink_flush(k, 1000);
    assert_int_equal(st, SF_ERR_IO);
    assert_non_null(strstr(sf_sink_error(k), "/dev/full"));
    sf_sink_destroy(k);
}

/* A spread Kafka source's checkpoint: each partition's position from the
 * rank it belongs to (p mod ranks), whatever the others resumed with. */
static void test_merge_spread_positions(void **state)
{
    (void)state;
    const char *blobs[2] = {"kafka v1\nrows\n0 10\n1 3\n2 20\n3 5\n",
                            "kafka v1\nrows\n0 7\n1 11\n3 31\n"};
    char *m = sf_source_merge_spread(blobs, 2);
#ifdef STREAMFIT_HAVE_KAFKA
    assert_non_null(m);
    assert_string_equal(m, "kafka v1\nrows\n0 10\n2 20\n1 11\n3 31\n");
    const char *bad[2] = {"kafka v1\nrows\n", "file v1\n0 0\n"};
    char *none = sf_source_merge_spread(bad, 2);
    assert_null(none);
#else
    assert_null(m);
#endif
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_lines_and_positions),
        cmocka_unit_test(test_file_long_line),
        cmocka_unit_test(test_file_resume_everywhere),
        cmocka_unit_test(test_file_follow),
        cmocka_unit_test(test_dir_order_ignores_and_resume),
        cmocka_unit_test(test_stdin_resume_skips_lines),
        cmocka_unit_test(test_file_sink),
        cmocka_unit_test(test_merge_spread_positions),
    };
    return cmocka_run_group_tests_name("sources", tests, group_setup, group_teardown);
}
