/*
 * test_dashboard_api.c — `streamfit dashboard` through the public API
 * (streamfit_http.h: sf_dashboard_*): a metrics file of 2,500 lines with a
 * blank line and two malformed lines is counted line by line, drawn as
 * 1,200 evenly spaced points with the first and the last line among them,
 * and its malformed lines named; a short file keeps every line; the
 * shipped bench results give the speed-up over Spark MLlib and
 * scikit-learn computed from the file; the export writes the files a page
 * opened from disk needs, the data as scripts; bad files give their
 * statuses; a dashboard serves on a free port. Exit 77 without the HTTP
 * server (libmicrohttpd).
 */
#define _GNU_SOURCE /* mkdtemp */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "streamfit_http.h"

#define LINES 2500
#define BAD_AT_1 700 /* line numbers in the file of the malformed lines */
#define BAD_AT_2 1800
#define OLS_RESULTS SF_TEST_DATA "/../../bench/results/platform_ols_1Mx32.json"

static char tmpdir[256];

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmpdir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = malloc((size_t)n + 1);
    assert_non_null(t);
    assert_int_equal(fread(t, 1, (size_t)n, f), (size_t)n);
    t[n] = 0;
    fclose(f);
    return t;
}

/* "window.VAR = {...};" as written by the export, parsed. */
static cJSON *read_data_script(const char *path)
{
    char *t = read_text(path);
    assert_non_null(t);
    char *json = strchr(t, '=');
    char *end = strrchr(t, ';');
    assert_non_null(json);
    assert_non_null(end);
    *end = 0;
    cJSON *o = cJSON_Parse(json + 1);
    free(t);
    assert_non_null(o);
    return o;
}

/* Metrics line k (1-based): time 1000 + k/10, rows 10 k. */
static void write_metrics(const char *path, int n, bool with_bad)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    int lineno = 0;
    for (int k = 1; k <= n; k++) {
        if (with_bad && lineno + 1 == BAD_AT_1 - 1) {
            fputs("\n", f); /* blank: neither a line nor malformed */
            lineno++;
        }
        if (with_bad && (lineno + 1 == BAD_AT_1 || lineno + 1 == BAD_AT_2)) {
            fputs(lineno + 1 == BAD_AT_1 ? "{\"time\": 5, \"batch\":\n" : "[1, 2, 3]\n", f);
            lineno++;
        }
        fprintf(f,
                "{\"time\":%.1f,\"batch\":%d,\"batch_rows\":10,\"rows_total\":%d,"
                "\"rows_skipped\":0,\"latency_ms\":{\"p50\":1.5,\"p99\":3},\"processing_ms\":0.25,"
                "\"throughput_rps\":100,\"model_version\":\"b%d-x\",\"metrics\":{\"batch\":"
                "{\"rmse\":0.5},\"window\":{\"rmse\":%.3f},\"cumulative\":{\"rmse\":0.4}}}\n",
                1000 + k / 10.0, k, 10 * k, k, 1.0 / k);
        lineno++;
    }
    fclose(f);
}

static sf_status load_metrics(const char *path, sf_dashboard **d)
{
    sf_dashboard_options o;
    sf_dashboard_options_init(&o);
    o.metrics = path;
    char err[512] = "";
    return sf_dashboard_load(&o, d, err, sizeof err);
}

static void test_replay_downsamples_evenly(void **state)
{
    (void)state;
    char path[300], dir[300], status[400];
    path_in(path, sizeof path, "long.jsonl");
    path_in(dir, sizeof dir, "long-export");
    write_metrics(path, LINES, true);
    sf_dashboard *d = NULL;
    assert_int_equal(load_metrics(path, &d), SF_OK);
    sf_dashboard_info in;
    sf_dashboard_get_info(d, &in);
    assert_int_equal(in.metrics_lines, LINES);
    assert_int_equal(in.malformed_lines, 2);
    assert_int_equal(in.first_malformed, BAD_AT_1);
    assert_int_equal(in.points, 1200);
    assert_true(in.downsampled);
    char err[512] = "";
    assert_int_equal(sf_dashboard_export(d, dir, err, sizeof err), SF_OK);
    sf_dashboard_destroy(d);

    snprintf(status, sizeof status, "%s/status.js", dir);
    cJSON *s = read_data_script(status);
    const cJSON *h = cJSON_GetObjectItem(s, "history");
    assert_int_equal(cJSON_GetArraySize(h), 1200);
    /* every line counted; the first and the last line drawn; even gaps */
    assert_int_equal(
        (int)cJSON_GetObjectItem(cJSON_GetObjectItem(s, "counters"), "rows_total")->valuedouble,
        10 * LINES);
    double prev = -1, min_gap = 1e9, max_gap = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, h)
    {
        double rows = cJSON_GetObjectItem(p, "rows_total")->valuedouble;
        if (prev >= 0) {
            min_gap = fmin(min_gap, rows - prev);
            max_gap = fmax(max_gap, rows - prev);
        } else {
            assert_true(rows == 10);
        }
        prev = rows;
    }
    assert_true(prev == 10 * LINES);
    assert_true(min_gap >= 10 && max_gap <= 40); /* 2500/1200 lines apart, +1 at a malformed one */
    const cJSON *r = cJSON_GetObjectItem(s, "replay");
    assert_int_equal(cJSON_GetObjectItem(r, "malformed")->valueint, 2);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "malformed_lines"), 1)->valueint,
                     BAD_AT_2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "downsampled")));
    assert_string_equal(cJSON_GetObjectItem(s, "model_version")->valuestring, "b2500-x");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "run"), "live")));
    cJSON_Delete(s);
    const char *files[] = {"index.html", "app.js", "style.css", "chart.min.js"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char f[400];
        snprintf(f, sizeof f, "%s/%s", dir, files[i]);
        assert_int_equal(access(f, R_OK), 0);
    }
    char bench_page[400];
    snprintf(bench_page, sizeof bench_page, "%s/bench.html", dir);
    assert_int_not_equal(access(bench_page, F_OK), 0); /* no bench results: no comparison */
}

static void test_replay_short_keeps_every_line(void **state)
{
    (void)state;
    char path[300];
    path_in(path, sizeof path, "short.jsonl");
    write_metrics(path, 10, false);
    sf_dashboard *d = NULL;
    assert_int_equal(load_metrics(path, &d), SF_OK);
    sf_dashboard_info in;
    sf_dashboard_get_info(d, &in);
    assert_int_equal(in.metrics_lines, 10);
    assert_int_equal(in.points, 10);
    assert_false(in.downsampled);
    assert_int_equal(in.malformed_lines, 0);
    sf_http_options ho;
    sf_http_options_init(&ho);
    ho.listen = "0";
    sf_http *h = NULL;
    char err[512] = "";
    assert_int_equal(sf_dashboard_serve(d, &ho, &h, err, sizeof err), SF_OK);
    sf_dashboard_destroy(d); /* the server keeps its copy */
    assert_true(sf_http_port(h) > 0);
    sf_http_stop(h);
}

/* cJSON prints a number to within an ulp or so. */
static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= 1e-14 * fabs(want))) fail_msg("got %.17g, expected %.17g", got, want);
}

static double wall_of(const cJSON *platforms, const char *name)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, platforms)
    {
        if (strcmp(cJSON_GetObjectItem(p, "name")->valuestring, name) == 0)
            return cJSON_GetObjectItem(
                       cJSON_GetObjectItem(cJSON_GetObjectItem(p, "phases"), "wall"), "median")
                ->valuedouble;
    }
    return NAN;
}

static void test_bench_speedups(void **state)
{
    (void)state;
    char dir[300], data[400];
    path_in(dir, sizeof dir, "bench-export");
    const char *files[] = {OLS_RESULTS};
    const char *labels[] = {"laptop"};
    sf_dashboard_options o;
    sf_dashboard_options_init(&o);
    o.bench = files;
    o.bench_labels = labels;
    o.n_bench = 1;
    sf_dashboard *d = NULL;
    char err[512] = "";
    assert_int_equal(sf_dashboard_load(&o, &d, err, sizeof err), SF_OK);
    sf_dashboard_info in;
    sf_dashboard_get_info(d, &in);
    assert_int_equal(in.bench_files, 1);
    assert_int_equal(in.bench_platforms, 7);
    assert_int_equal(sf_dashboard_export(d, dir, err, sizeof err), SF_OK);
    sf_dashboard_destroy(d);

    char *text = read_text(OLS_RESULTS);
    cJSON *src = cJSON_Parse(text);
    free(text);
    const cJSON *sp = cJSON_GetObjectItem(src, "platforms");
    double spark = wall_of(sp, "spark"), sklearn = wall_of(sp, "sklearn"), cpu = wall_of(sp, "cpu");
    snprintf(data, sizeof data, "%s/bench-data.js", dir);
    cJSON *b = read_data_script(data);
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(b, "runs"), 0);
    assert_string_equal(cJSON_GetObjectItem(run, "label")->valuestring, "laptop");
    const cJSON *p;
    bool seen_cpu = false, seen_cuda = false;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(run, "platforms"))
    {
        const char *name = cJSON_GetObjectItem(p, "name")->valuestring;
        if (strcmp(name, "cpu") == 0) {
            seen_cpu = true;
            assert_close(cJSON_GetObjectItem(p, "speedup_vs_spark")->valuedouble, spark / cpu);
            assert_close(cJSON_GetObjectItem(p, "speedup_vs_sklearn")->valuedouble, sklearn / cpu);
            assert_close(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "phases"), "wall")->valuedouble,
                         cpu);
            assert_true(
                cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "phases"), "parse")));
        } else if (strcmp(name, "cuda") == 0) { /* did not run: no figures */
            seen_cuda = true;
            assert_true(cJSON_IsNull(cJSON_GetObjectItem(p, "speedup_vs_spark")));
        }
        assert_null(cJSON_GetObjectItem(p, "coefficients")); /* left behind */
    }
    assert_true(seen_cpu && seen_cuda);
    cJSON_Delete(b);
    cJSON_Delete(src);
    char index[400];
    snprintf(index, sizeof index, "%s/index.html", dir); /* bench only: the comparison */
    char *page = read_text(index);
    assert_non_null(page);
    assert_non_null(strstr(page, "bench.js"));
    free(page);
}

static void test_bad_files(void **state)
{
    (void)state;
    char missing[300], empty[300], bad[300], notbench[300], trailing[300];
    path_in(missing, sizeof missing, "missing.jsonl");
    path_in(empty, sizeof empty, "empty.jsonl");
    path_in(bad, sizeof bad, "bad.jsonl");
    path_in(notbench, sizeof notbench, "notbench.json");
    path_in(trailing, sizeof trailing, "trailing.json");
    write_text(empty, "\n\n");
    write_text(bad, "{\n  \"benchmark\": 1\n}\n");
    write_text(notbench, "{\"benchmark\": \"something else\", \"platforms\": []}");
    char *ols = read_text(OLS_RESULTS);
    assert_non_null(ols);
    FILE *f = fopen(trailing, "w");
    fputs(ols, f);
    fputs("{}", f);
    fclose(f);
    free(ols);

    sf_dashboard *d = NULL;
    assert_int_equal(load_metrics(missing, &d), SF_ERR_IO);
    assert_null(d);
    assert_int_equal(load_metrics(empty, &d), SF_ERR_PARSE);
    assert_int_equal(load_metrics(bad, &d), SF_ERR_PARSE);
    const char *cases[] = {notbench, trailing, bad, missing};
    const sf_status want[] = {SF_ERR_PARSE, SF_ERR_PARSE, SF_ERR_PARSE, SF_ERR_IO};
    for (size_t i = 0; i < 4; i++) {
        sf_dashboard_options o;
        sf_dashboard_options_init(&o);
        o.bench = &cases[i];
        o.n_bench = 1;
        char err[512] = "";
        assert_int_equal(sf_dashboard_load(&o, &d, err, sizeof err), want[i]);
        assert_non_null(strstr(err, cases[i]));
        assert_null(d);
    }
    sf_dashboard_options o;
    sf_dashboard_options_init(&o);
    char err[512] = "";
    assert_int_equal(sf_dashboard_load(&o, &d, err, sizeof err), SF_ERR_INVALID_ARGUMENT);
    sf_dashboard_destroy(NULL);
}

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sf-dashboard-api-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    if (!sf_http_available()) {
        printf("skipped: this build has no HTTP server (libmicrohttpd)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_downsamples_evenly),
        cmocka_unit_test(test_replay_short_keeps_every_line),
        cmocka_unit_test(test_bench_speedups),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
