/*
 * model_json.c — model files: JSON (cJSON), written atomically.
 *
 * {"format": "streamfit-model", "version": 1, "model": "ols", "n_features": d,
 *  "feature_names": [...], "label": "y", "classes": [...], "intercept": b | [b_k],
 *  "coefficients": [...] | [[...], ...], "lambda": x, "fit_intercept": true,
 *  "standardize": false, "scaler": {"mean": [...], "std": [...]},
 *  "rows_seen": n, "rows_skipped": n, "batches": n, "model_version": "b<n>-<hash>",
 *  "fit": {"solver": "qr", ...}}
 * "batches" and "model_version" (model_version.c) are optional when read: a
 * file without them is a model of 0 batches; the version is always
 * recomputed from the parameters. Numbers are written with enough digits to read back bit for bit.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define SF_MODEL_FORMAT "streamfit-model"
#define SF_MODEL_VERSION 1

/* cJSON prints 15 digits when they read back within a rounding unit, which can
 * lose the last bit; 17 significant digits always read back exactly. */
static cJSON *exact_number(double v)
{
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

static void add_number(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, exact_number(v));
}

static cJSON *number_array(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, exact_number(v[i]));
    return a;
}

static cJSON *model_to_json(const sf_model *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "format", SF_MODEL_FORMAT);
    cJSON_AddNumberToObject(o, "version", SF_MODEL_VERSION);
    cJSON_AddStringToObject(o, "model", sf_model_kind_name(m->kind));
    cJSON_AddNumberToObject(o, "n_features", (double)m->d);
    cJSON *names = cJSON_AddArrayToObject(o, "feature_names");
    for (size_t j = 0; names && j < m->d; j++) {
        char fallback[32];
        snprintf(fallback, sizeof fallback, "x%zu", j + 1);
        cJSON_AddItemToArray(names, cJSON_CreateString(m->names[j] ? m->names[j] : fallback));
    }
    cJSON_AddStringToObject(o, "label", m->label ? m->label : "y");
    bool multi = m->kind == SF_MODEL_SOFTMAX;
    if (m->K) cJSON_AddItemToObject(o, "classes", number_array(m->classes, m->K));
    if (multi) {
        cJSON_AddItemToObject(o, "intercept", number_array(m->intercept, m->outputs));
        cJSON *rows = cJSON_AddArrayToObject(o, "coefficients");
        for (size_t k = 0; rows && k < m->outputs; k++)
            cJSON_AddItemToArray(rows, number_array(m->coef + k * m->d, m->d));
    } else {
        add_number(o, "intercept", m->intercept[0]);
        cJSON_AddItemToObject(o, "coefficients", number_array(m->coef, m->d));
    }
    add_number(o, "lambda", m->lambda);
    cJSON_AddBoolToObject(o, "fit_intercept", m->fit_intercept);
    cJSON_AddBoolToObject(o, "standardize", m->standardize);
    if (m->standardize && m->scaler_mean && m->scaler_std) {
        cJSON *sc = cJSON_AddObjectToObject(o, "scaler");
        cJSON_AddItemToObject(sc, "mean", number_array(m->scaler_mean, m->d));
        cJSON_AddItemToObject(sc, "std", number_array(m->scaler_std, m->d));
    }
    cJSON_AddNumberToObject(o, "rows_seen", (double)m->rows_seen);
    cJSON_AddNumberToObject(o, "rows_skipped", (double)m->rows_skipped);
    char version[SF_MODEL_VERSION_LEN];
    sf_model_version(m, version, sizeof version);
    cJSON_AddNumberToObject(o, "batches", (double)m->batches);
    cJSON_AddStringToObject(o, "model_version", version);
    cJSON *fit = cJSON_AddObjectToObject(o, "fit");
    cJSON_AddStringToObject(fit, "solver", sf_solver_kind_name(m->report.solver_used));
    cJSON_AddNumberToObject(fit, "iterations", m->report.iterations);
    add_number(fit, "grad_norm", m->report.grad_norm);
    add_number(fit, "rcond", m->report.rcond);
    cJSON_AddNumberToObject(fit, "refinement_steps", m->report.refinement_steps);
    cJSON_AddBoolToObject(fit, "rank_deficient", m->report.rank_deficient);
    if (m->report.cost_newton > 0) { /* a classifier's solver chosen by cost */
        cJSON_AddStringToObject(fit, "solver_choice", "cost");
        add_number(fit, "cost_newton", m->report.cost_newton);
        add_number(fit, "cost_lbfgs", m->report.cost_lbfgs);
        cJSON_AddBoolToObject(fit, "newton_finished", m->report.newton_finished);
    }
    return o;
}

/* Write all of buf to path through a temporary file in the same directory,
 * fsync it, then rename over path: a reader sees the old or the new file. */
static sf_status write_atomically(const char *path, const char *buf, char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return SF_ERR_NO_MEMORY;
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return SF_ERR_IO;
    }
    size_t len = strlen(buf), done = 0;
    bool ok = true;
    while (ok && done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        ok = w > 0;
        if (ok) done += (size_t)w;
    }
    ok = ok && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return SF_ERR_IO;
    }
    free(tmp);
    return SF_OK;
}

sf_status sf_model_save(const sf_model *m, const char *path, char *err, size_t errlen)
{
    cJSON *o = model_to_json(m);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return SF_ERR_NO_MEMORY;
    sf_status st;
    if (strcmp(path, "-") == 0) {
        st = (fputs(text, stdout) >= 0 && fputc('\n', stdout) != EOF) ? SF_OK : SF_ERR_IO;
    } else {
        st = write_atomically(path, text, err, errlen);
    }
    cJSON_free(text);
    return st;
}

char *sf_model_json_text(const sf_model *m)
{
    cJSON *o = model_to_json(m);
    char *text = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* ---- loading ---- */

static bool read_numbers(const cJSON *a, double *out, size_t n)
{
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n) return false;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        /* 1e999 parses as infinity: no model has such a parameter. */
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return false;
        out[i++] = it->valuedouble;
    }
    return true;
}

/* A count: a whole number from 0 to 2^64 (exclusive). */
static bool read_count(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double x = v->valuedouble;
    if (!(x >= 0 && x < 18446744073709551616.0) || x != floor(x)) return false;
    *out = (uint64_t)x;
    return true;
}

static char *read_whole_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open model file '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (len + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        snprintf(err, errlen, "cannot read model file '%s'", path);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        goto fail;                                                                                 \
    } while (0)

static sf_status model_from_json(const cJSON *o, const char *path, sf_model **out, char *err,
                                 size_t errlen)
{
    sf_model *m = NULL;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SF_MODEL_FORMAT) != 0)
        BAD("'%s' is not a streamfit model file (no \"format\": \"%s\")", path, SF_MODEL_FORMAT);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "version");
    if (!cJSON_IsNumber(ver) || ver->valueint != SF_MODEL_VERSION)
        BAD("'%s': unsupported model file version", path);
    sf_model_kind kind;
    const cJSON *mk = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(mk) || !sf_model_kind_parse(mk->valuestring, &kind))
        BAD("'%s': unknown \"model\"", path);
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(o, "n_features");
    if (!cJSON_IsNumber(nf) || nf->valuedouble < 1 || nf->valuedouble > 1e8)
        BAD("'%s': bad \"n_features\"", path);
    size_t d = (size_t)nf->valuedouble, K = 0;
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(o, "classes");
    if (kind == SF_MODEL_LOGISTIC || kind == SF_MODEL_SOFTMAX) {
        if (!cJSON_IsArray(classes) || cJSON_GetArraySize(classes) < 2)
            BAD("'%s': a classifier needs \"classes\"", path);
        K = (size_t)cJSON_GetArraySize(classes);
        if (kind == SF_MODEL_LOGISTIC && K != 2) BAD("'%s': logistic needs 2 classes", path);
    }
    m = sf_model_alloc(kind, d, K);
    if (!m) BAD("out of memory");
    if (K && !read_numbers(classes, m->classes, K)) BAD("'%s': bad \"classes\"", path);
    const cJSON *ic = cJSON_GetObjectItemCaseSensitive(o, "intercept");
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(o, "coefficients");
    if (kind == SF_MODEL_SOFTMAX) {
        if (!read_numbers(ic, m->intercept, K)) BAD("'%s': bad \"intercept\"", path);
        if (!cJSON_IsArray(co) || (size_t)cJSON_GetArraySize(co) != K)
            BAD("'%s': \"coefficients\" must hold one array per class", path);
        size_t k = 0;
        const cJSON *row;
        cJSON_ArrayForEach(row, co)
        {
            if (!read_numbers(row, m->coef + k++ * d, d))
                BAD("'%s': bad \"coefficients\" row %zu", path, k);
        }
    } else {
        if (!cJSON_IsNumber(ic) || !isfinite(ic->valuedouble)) BAD("'%s': bad \"intercept\"", path);
        m->intercept[0] = ic->valuedouble;
        if (!read_numbers(co, m->coef, d))
            BAD("'%s': \"coefficients\" must hold n_features numbers", path);
    }
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "feature_names");
    if (cJSON_IsArray(names) && (size_t)cJSON_GetArraySize(names) == d) {
        size_t j = 0;
        const cJSON *nm;
        cJSON_ArrayForEach(nm, names)
        {
            if (cJSON_IsString(nm)) m->names[j] = strdup(nm->valuestring);
            j++;
        }
    }
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(o, "label");
    if (cJSON_IsString(lab)) m->label = strdup(lab->valuestring);
    const cJSON *lam = cJSON_GetObjectItemCaseSensitive(o, "lambda");
    if (cJSON_IsNumber(lam)) m->lambda = lam->valuedouble;
    m->fit_intercept = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "fit_intercept"));
    m->standardize = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "standardize"));
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scaler");
    if (m->standardize && sc) {
        m->scaler_mean = malloc(sizeof(double) * d);
        m->scaler_std = malloc(sizeof(double) * d);
        if (!m->scaler_mean || !m->scaler_std ||
            !read_numbers(cJSON_GetObjectItemCaseSensitive(sc, "mean"), m->scaler_mean, d) ||
            !read_numbers(cJSON_GetObjectItemCaseSensitive(sc, "std"), m->scaler_std, d))
            BAD("'%s': bad \"scaler\"", path);
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "rows_seen");
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(o, "rows_skipped");
    if (rs && !read_count(rs, &m->rows_seen)) BAD("'%s': bad \"rows_seen\"", path);
    if (rk && !read_count(rk, &m->rows_skipped)) BAD("'%s': bad \"rows_skipped\"", path);
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(o, "batches");
    if (nb && !read_count(nb, &m->batches)) BAD("'%s': bad \"batches\"", path);
    *out = m;
    return SF_OK;
fail:
    sf_model_destroy(m);
    return SF_ERR_BAD_MODEL_FILE;
}

sf_status sf_model_load(const char *path, sf_model **out, char *err, size_t errlen)
{
    char *text = read_whole_file(path, err, errlen);
    if (!text) return SF_ERR_IO;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!o) {
        snprintf(err, errlen, "'%s' is not valid JSON", path);
        return SF_ERR_BAD_MODEL_FILE;
    }
    sf_status st = model_from_json(o, path, out, err, errlen);
    cJSON_Delete(o);
    return st;
}
