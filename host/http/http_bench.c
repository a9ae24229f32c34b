/*
 * http_bench.c — `streamfit dashboard --bench FILE...`: the results of
 * `streamfit bench --format json` gathered into one JSON for the platform
 * comparison page (web/bench.html): per file its machine's label, the
 * workload, and per platform the median of each phase, the speed-up over
 * Spark MLlib and scikit-learn run on the same machine, and the quality.
 * The per-run arrays (repeats, coefficients) stay behind.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http_dashboard.h"

#define MAX_BENCH_FILE (64u << 20)

static const char *const phase_names[] = {"parse", "transfer", "solve", "predict", "wall"};

static char *read_file(const char *path, char *err, size_t errlen, sf_status *st)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: %s", path, f ? "not a regular file" : strerror(errno));
        if (f) fclose(f);
        *st = SF_ERR_IO;
        return NULL;
    }
    if ((unsigned long long)sb.st_size > MAX_BENCH_FILE) {
        snprintf(err, errlen, "%s: larger than %u MiB, not a bench result", path,
                 MAX_BENCH_FILE >> 20);
        fclose(f);
        *st = SF_ERR_PARSE;
        return NULL;
    }
    size_t len = (size_t)sb.st_size;
    char *text = malloc(len + 1);
    size_t got = text ? fread(text, 1, len, f) : 0;
    fclose(f);
    if (!text || got != len) {
        free(text);
        snprintf(err, errlen, "%s: %s", path, text ? "read error" : "out of memory");
        *st = text ? SF_ERR_IO : SF_ERR_NO_MEMORY;
        return NULL;
    }
    text[len] = 0;
    return text;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void add_num(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

static void copy_item(cJSON *to, const cJSON *from, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, key);
    cJSON_AddItemToObject(to, key, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* The machine's name when the file gives one, else "CPU, N cores[, GPU]". */
static void machine_label(const cJSON *m, char *out, size_t len)
{
    const char *named = str(m, "label");
    if (!named) named = str(m, "name");
    if (!named) named = str(m, "hostname");
    if (named) {
        snprintf(out, len, "%s", named);
        return;
    }
    const char *cpu = str(m, "cpu");
    double cores = num(m, "cores");
    const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(m, "gpus");
    const cJSON *gpu = cJSON_IsArray(gpus) ? cJSON_GetArrayItem(gpus, 0) : NULL;
    int n = snprintf(out, len, "%s", cpu ? cpu : "unnamed machine");
    if (isfinite(cores) && n >= 0 && (size_t)n < len)
        n += snprintf(out + n, len - (size_t)n, ", %.0f cores", cores);
    if (cJSON_IsString(gpu) && n >= 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, ", %s", gpu->valuestring);
}

/* The median wall time of the platform named name, NaN if it did not run. */
static double wall_of(const cJSON *platforms, const char *name)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, platforms)
    {
        const char *n = str(p, "name"), *status = str(p, "status");
        if (n && strcmp(n, name) == 0 && status && strcmp(status, "ok") == 0) {
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(p, "phases"), "wall");
            return num(w, "median");
        }
    }
    return NAN;
}

static cJSON *platform_entry(const cJSON *p, double spark_wall, double sklearn_wall)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const copied[] = {
        "name",     "kind",    "status",  "backend", "threads",           "processes",
        "detail",   "repeats", "quality", "speedup", "max_coef_rel_diff", "rows_per_s",
        "gb_per_s", "peak_mib"};
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
        copy_item(o, p, copied[i]);
    const cJSON *phases = cJSON_GetObjectItemCaseSensitive(p, "phases");
    cJSON *med = cJSON_AddObjectToObject(o, "phases");
    for (size_t i = 0; i < sizeof phase_names / sizeof phase_names[0]; i++)
        add_num(med, phase_names[i],
                num(cJSON_GetObjectItemCaseSensitive(phases, phase_names[i]), "median"));
    const cJSON *wall = cJSON_GetObjectItemCaseSensitive(phases, "wall");
    add_num(o, "wall_min", num(wall, "min"));
    add_num(o, "wall_max", num(wall, "max"));
    const char *status = str(p, "status");
    double w = status && strcmp(status, "ok") == 0 ? num(wall, "median") : NAN;
    add_num(o, "speedup_vs_spark", w > 0 ? spark_wall / w : NAN);
    add_num(o, "speedup_vs_sklearn", w > 0 ? sklearn_wall / w : NAN);
    return o;
}

static bool is_bench_result(const cJSON *doc)
{
    const char *kind = str(doc, "benchmark");
    const cJSON *platforms = cJSON_GetObjectItemCaseSensitive(doc, "platforms");
    if (!kind || strcmp(kind, "streamfit bench") != 0 || !cJSON_IsArray(platforms)) return false;
    const cJSON *p;
    cJSON_ArrayForEach(p, platforms)
    {
        if (!str(p, "name") || !str(p, "status") ||
            !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(p, "phases")))
            return false;
    }
    return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "workload"));
}

static cJSON *run_entry(const cJSON *doc, const char *path, const char *label, size_t *n_platforms)
{
    cJSON *o = cJSON_CreateObject();
    const char *slash = strrchr(path, '/');
    cJSON_AddStringToObject(o, "file", slash ? slash + 1 : path);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "machine");
    char named[300];
    machine_label(m, named, sizeof named);
    cJSON_AddStringToObject(o, "label", label ? label : named);
    cJSON_AddStringToObject(o, "label_from", label ? "option" : "file");
    static const char *const copied[] = {"date",     "command",   "machine", "build",
                                         "workload", "reference", "notes"};
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++)
        copy_item(o, doc, copied[i]);
    const cJSON *platforms = cJSON_GetObjectItemCaseSensitive(doc, "platforms");
    double spark = wall_of(platforms, "spark"), sklearn = wall_of(platforms, "sklearn");
    cJSON *out = cJSON_AddArrayToObject(o, "platforms");
    const cJSON *p;
    cJSON_ArrayForEach(p, platforms)
    {
        cJSON_AddItemToArray(out, platform_entry(p, spark, sklearn));
        ++*n_platforms;
    }
    return o;
}

char *sf_bench_collect(const char *const *paths, const char *const *labels, size_t n,
                       size_t *n_platforms, sf_status *st, char *err, size_t errlen)
{
    *n_platforms = 0;
    *st = SF_OK;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "schema", 1);
    cJSON *runs = cJSON_AddArrayToObject(root, "runs");
    for (size_t i = 0; i < n && *st == SF_OK; i++) {
        char *text = read_file(paths[i], err, errlen, st);
        if (!text) break;
        cJSON *doc = cJSON_ParseWithOpts(text, NULL, true); /* nothing after the value */
        if (!doc) {
            const char *at = cJSON_GetErrorPtr();
            snprintf(err, errlen, "%s: not JSON (at byte %zu)", paths[i],
                     at && at >= text ? (size_t)(at - text) : (size_t)0);
            *st = SF_ERR_PARSE;
        } else if (!is_bench_result(doc)) {
            snprintf(err, errlen,
                     "%s: not a `streamfit bench --format json` result (it needs \"benchmark\": "
                     "\"streamfit bench\", a workload and its platforms)",
                     paths[i]);
            *st = SF_ERR_PARSE;
        } else {
            cJSON_AddItemToArray(runs,
                                 run_entry(doc, paths[i], labels ? labels[i] : NULL, n_platforms));
        }
        cJSON_Delete(doc);
        free(text);
    }
    char *json = *st == SF_OK ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (*st == SF_OK && !json) *st = SF_ERR_NO_MEMORY;
    return json;
}
