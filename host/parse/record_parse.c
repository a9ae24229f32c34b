/*
 * record_parse.c — schemas and the parsing of single streaming records.
 * Numbers go through fast_float (sf_parse_f64, which refuses NaN and
 * infinities); JSON objects through cJSON.
 */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "record.h"

bool sf_record_format_parse(const char *name, sf_record_format *out)
{
    if (strcmp(name, "csv") == 0)
        *out = SF_RECORD_CSV;
    else if (strcmp(name, "json") == 0)
        *out = SF_RECORD_JSON;
    else if (strcmp(name, "libsvm") == 0 || strcmp(name, "svmlight") == 0)
        *out = SF_RECORD_LIBSVM;
    else
        return false;
    return true;
}

void sf_schema_free(sf_record_schema *s)
{
    if (s->columns)
        for (size_t i = 0; i < s->ncols; i++)
            free(s->columns[i]);
    free(s->columns);
    memset(s, 0, sizeof *s);
}

const char *sf_schema_feature_name(const sf_record_schema *s, size_t j)
{
    if (!s->columns) return NULL;
    size_t c = (s->label_col != SF_RECORD_NO_LABEL && j >= s->label_col) ? j + 1 : j;
    return c < s->ncols ? s->columns[c] : NULL;
}

const char *sf_schema_label_name(const sf_record_schema *s)
{
    if (!s->columns || s->label_col >= s->ncols) return "y";
    return s->columns[s->label_col];
}

static char *trimmed_copy(const char *b, const char *e)
{
    while (b < e && (*b == ' ' || *b == '\t' || *b == '"'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '"' || e[-1] == '\r'))
        e--;
    char *s = malloc((size_t)(e - b) + 1);
    if (s) {
        memcpy(s, b, (size_t)(e - b));
        s[e - b] = 0;
    }
    return s;
}

/* Split "a,b,c" into names. */
static sf_status split_names(const char *data, size_t len, sf_record_schema *out)
{
    const char *p = data, *end = data + len;
    size_t n = 1;
    for (const char *q = p; q < end; q++)
        n += *q == ',';
    out->columns = calloc(n, sizeof(char *));
    if (!out->columns) return SF_ERR_NO_MEMORY;
    out->ncols = n;
    for (size_t i = 0; i < n; i++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        out->columns[i] = trimmed_copy(p, e);
        if (!out->columns[i]) return SF_ERR_NO_MEMORY;
        p = comma ? comma + 1 : end;
    }
    return SF_OK;
}

/* Resolve the label (a name, an index, or NULL for the first column). */
static sf_status resolve_label(sf_record_schema *s, const char *label, char *err, size_t errlen)
{
    s->label_col = 0;
    if (label) {
        char *endp;
        long idx = strtol(label, &endp, 10);
        if (*label && !*endp) {
            if (idx < 0 || (size_t)idx >= s->ncols) {
                snprintf(err, errlen, "--label %ld: records have %zu columns", idx, s->ncols);
                return SF_ERR_INVALID_ARGUMENT;
            }
            s->label_col = (size_t)idx;
        } else {
            size_t i = 0;
            /* Records without a header have no names yet: a name matches nothing. */
            while (i < s->ncols && (!s->columns[i] || strcmp(s->columns[i], label) != 0))
                i++;
            if (i == s->ncols) {
                snprintf(err, errlen, "no column named '%s' in the record schema", label);
                return SF_ERR_INVALID_ARGUMENT;
            }
            s->label_col = i;
        }
    }
    if (s->ncols < 2) {
        snprintf(err, errlen, "records need a label and at least one feature");
        return SF_ERR_INVALID_ARGUMENT;
    }
    s->d = s->ncols - 1;
    return SF_OK;
}

sf_status sf_schema_from_list(sf_record_format fmt, const char *columns, const char *label,
                              sf_record_schema *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->format = fmt;
    sf_status st = split_names(columns, strlen(columns), out);
    if (st == SF_OK) st = resolve_label(out, label, err, errlen);
    if (st != SF_OK) sf_schema_free(out);
    return st;
}

static sf_status json_keys(const char *data, size_t len, sf_record_schema *out, char *err,
                           size_t errlen)
{
    cJSON *o = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        snprintf(err, errlen, "the first record is not a JSON object; give --columns");
        return SF_ERR_PARSE;
    }
    size_t n = (size_t)cJSON_GetArraySize(o), i = 0;
    out->columns = calloc(n + 1, sizeof(char *));
    sf_status st = out->columns ? SF_OK : SF_ERR_NO_MEMORY;
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (st != SF_OK) break;
        if (!cJSON_IsNumber(it)) continue; /* only numeric fields are columns */
        out->columns[i] = strdup(it->string);
        if (!out->columns[i++]) st = SF_ERR_NO_MEMORY;
    }
    out->ncols = i;
    cJSON_Delete(o);
    return st;
}

sf_status sf_schema_from_record(sf_record_format fmt, const char *data, size_t len, bool as_header,
                                const char *label, sf_record_schema *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->format = fmt;
    sf_status st;
    if (fmt == SF_RECORD_JSON) {
        st = json_keys(data, len, out, err, errlen);
    } else if (as_header) {
        st = split_names(data, len, out);
    } else { /* names x1..xd around the label */
        size_t n = 1;
        for (size_t i = 0; i < len; i++)
            n += data[i] == ',';
        out->columns = calloc(n, sizeof(char *));
        out->ncols = n;
        st = out->columns ? SF_OK : SF_ERR_NO_MEMORY;
        st = st == SF_OK ? resolve_label(out, label, err, errlen) : st;
        for (size_t i = 0, j = 0; st == SF_OK && i < n; i++) {
            char name[32];
            if (i == out->label_col)
                snprintf(name, sizeof name, "y");
            else
                snprintf(name, sizeof name, "x%zu", ++j);
            out->columns[i] = strdup(name);
            if (!out->columns[i]) st = SF_ERR_NO_MEMORY;
        }
        if (st != SF_OK) sf_schema_free(out);
        return st;
    }
    if (st == SF_OK) st = resolve_label(out, label, err, errlen);
    if (st != SF_OK) sf_schema_free(out);
    return st;
}

sf_status sf_schema_libsvm(size_t d, sf_record_schema *out)
{
    memset(out, 0, sizeof *out);
    out->format = SF_RECORD_LIBSVM;
    out->d = d;
    out->ncols = d + 1;
    out->label_col = 0;
    return d > 0 ? SF_OK : SF_ERR_INVALID_ARGUMENT;
}

/* Write the reason for a bad record; returns false for the caller to return. */
static bool bad(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool bad(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return false;
}

static const char *skip_blanks(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static bool parse_csv(const sf_record_schema *s, const char *p, const char *end, double *x,
                      double *y, char *why, size_t whylen)
{
    while (end > p && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    size_t col = 0, j = 0;
    for (;; col++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (col >= s->ncols) return bad(why, whylen, "expected %zu fields, found more", s->ncols);
        double v;
        const char *b = skip_blanks(p, e), *q = b < e && *b == '+' ? b + 1 : b;
        const char *stop = q < e ? sf_parse_f64(q, e, &v) : NULL;
        if (!stop || skip_blanks(stop, e) != e)
            return bad(why, whylen, "field %zu is not a finite number", col + 1);
        if (col == s->label_col)
            *y = v;
        else
            x[j++] = v;
        if (!comma) break;
        p = comma + 1;
    }
    if (col + 1 != s->ncols)
        return bad(why, whylen, "expected %zu fields, found %zu", s->ncols, col + 1);
    return true;
}

/* A feature index: decimal digits within [p, end) (a record is not
 * NUL-terminated: a Kafka payload ends where its length says). Returns the
 * first byte after them, or NULL when there are none or they overflow. */
static const char *parse_index(const char *p, const char *end, long *idx)
{
    long v = 0;
    const char *q = p;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v > (LONG_MAX - 9) / 10) return NULL;
        v = v * 10 + (*q - '0');
    }
    if (q == p) return NULL;
    *idx = v;
    return q;
}

static bool parse_libsvm(const sf_record_schema *s, const char *p, const char *end, double *x,
                         double *y, char *why, size_t whylen)
{
    const char *hash = memchr(p, '#', (size_t)(end - p));
    if (hash) end = hash;
    memset(x, 0, sizeof(double) * s->d);
    p = skip_blanks(p, end);
    const char *q = p < end && *p == '+' ? p + 1 : p;
    const char *stop = q < end ? sf_parse_f64(q, end, y) : NULL;
    if (!stop) return bad(why, whylen, "the label is not a finite number");
    p = stop;
    while ((p = skip_blanks(p, end)) < end && *p != '\r' && *p != '\n') {
        if (end - p >= 4 && memcmp(p, "qid:", 4) == 0) { /* ranking groups carry no feature */
            while (p < end && *p != ' ' && *p != '\t')
                p++;
            continue;
        }
        long idx = 0;
        const char *colon = parse_index(p, end, &idx);
        if (!colon || colon >= end || *colon != ':')
            return bad(why, whylen, "expected index:value at byte %ld", (long)(p - q));
        if (idx < 1 || (size_t)idx > s->d)
            return bad(why, whylen, "feature index %ld out of range 1..%zu", idx, s->d);
        double v;
        const char *vb = colon + 1, *vq = vb < end && *vb == '+' ? vb + 1 : vb;
        stop = vq < end ? sf_parse_f64(vq, end, &v) : NULL;
        if (!stop) return bad(why, whylen, "value of feature %ld is not a finite number", idx);
        x[idx - 1] = v;
        p = stop;
    }
    return true;
}

static bool parse_json(const sf_record_schema *s, const char *data, size_t len, double *x,
                       double *y, char *why, size_t whylen)
{
    cJSON *o = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return bad(why, whylen, "not a JSON object");
    }
    bool ok = true;
    for (size_t c = 0, j = 0; ok && c < s->ncols; c++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, s->columns[c]);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            ok = bad(why, whylen, "field '%s' is missing or not a finite number", s->columns[c]);
            break;
        }
        if (c == s->label_col)
            *y = v->valuedouble;
        else
            x[j++] = v->valuedouble;
    }
    cJSON_Delete(o);
    return ok;
}

bool sf_record_parse(const sf_record_schema *s, const char *data, size_t len, double *x, double *y,
                     char *why, size_t whylen)
{
    if (len > (1u << 20)) return bad(why, whylen, "record longer than %ld bytes", 1L << 20);
    switch (s->format) {
    case SF_RECORD_CSV: return parse_csv(s, data, data + len, x, y, why, whylen);
    case SF_RECORD_LIBSVM: return parse_libsvm(s, data, data + len, x, y, why, whylen);
    case SF_RECORD_JSON: return parse_json(s, data, len, x, y, why, whylen);
    }
    return bad(why, whylen, "unknown record format");
}
