/*
 * http_export.c — `streamfit dashboard --export DIR`: the page written as
 * static files that open from disk (file://, where a page cannot fetch
 * JSON): the compiled-in page, Chart.js, and the data as scripts that set
 * window.STREAMFIT_STATUS (status.js) and window.STREAMFIT_BENCH
 * (bench-data.js), which the page draws once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http_dashboard.h"
#include "http_internal.h"

static sf_status write_parts(const char *dir, const char *name, const char *const *parts,
                             const size_t *lens, size_t n, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    errno = 0;
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(parts[i], 1, lens[i], f) == lens[i];
    if (f && fclose(f) != 0) ok = false;
    if (!ok) {
        snprintf(err, errlen, "%s: %s", path, errno ? strerror(errno) : "write error");
        return SF_ERR_IO;
    }
    return SF_OK;
}

/* The compiled-in file at url, written as name. */
static sf_status write_asset(const char *dir, const char *name, const char *url, char *err,
                             size_t errlen)
{
    const sf_http_asset *a = sf_http_asset_find(url);
    if (!a) {
        snprintf(err, errlen, "export: %s is not compiled in", url);
        return SF_ERR_INVALID_ARGUMENT;
    }
    const char *parts[] = {(const char *)a->data};
    return write_parts(dir, name, parts, &a->len, 1, err, errlen);
}

/* "window.VAR = JSON;": the data for a page opened from disk. */
static sf_status write_data(const char *dir, const char *name, const char *var, const char *json,
                            char *err, size_t errlen)
{
    char head[96];
    snprintf(head, sizeof head,
             "/* streamfit dashboard --export: the page's data */\nwindow.%s = ", var);
    const char *parts[] = {head, json, ";\n"};
    size_t lens[] = {strlen(head), strlen(json), 2};
    return write_parts(dir, name, parts, lens, 3, err, errlen);
}

static sf_status export_replay(const sf_dashboard *d, const char *dir, char *err, size_t errlen)
{
    char *status = sf_board_status_json(&d->replay->s, NULL, NULL, 0, 0);
    if (!status) return SF_ERR_NO_MEMORY;
    sf_status st = write_data(dir, "status.js", "STREAMFIT_STATUS", status, err, errlen);
    free(status);
    if (st == SF_OK) st = write_asset(dir, "index.html", "/", err, errlen);
    if (st == SF_OK) st = write_asset(dir, "app.js", "/app.js", err, errlen);
    return st;
}

static sf_status export_bench(const sf_dashboard *d, const char *dir, char *err, size_t errlen)
{
    /* bench results alone: the comparison is the folder's index.html */
    const char *page = d->replay ? "bench.html" : "index.html";
    sf_status st = write_data(dir, "bench-data.js", "STREAMFIT_BENCH", d->bench_json, err, errlen);
    if (st == SF_OK) st = write_asset(dir, page, "/bench.html", err, errlen);
    if (st == SF_OK) st = write_asset(dir, "bench.js", "/bench.js", err, errlen);
    return st;
}

sf_status sf_dashboard_export(const sf_dashboard *d, const char *dir, char *err, size_t errlen)
{
    if (!d || !dir || !dir[0]) return SF_ERR_INVALID_ARGUMENT;
    struct stat sb;
    if (mkdir(dir, 0755) != 0 && (errno != EEXIST || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        snprintf(err, errlen, "%s: %s", dir, errno == EEXIST ? "not a folder" : strerror(errno));
        return SF_ERR_IO;
    }
    sf_status st = write_asset(dir, "style.css", "/style.css", err, errlen);
    if (st == SF_OK) st = write_asset(dir, "chart.min.js", "/chart.min.js", err, errlen);
    if (st == SF_OK && d->replay) st = export_replay(d, dir, err, errlen);
    if (st == SF_OK && d->bench_json) st = export_bench(d, dir, err, errlen);
    return st;
}
