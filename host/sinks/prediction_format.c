/*
 * prediction_format.c — predictions to text, a batch at a time (see the
 * header). The buffer is sized for the worst case once per batch, so the
 * per-record loop only copies bytes.
 */
#include "prediction_format.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "float_text.h"

#define RECORD_OVERHEAD 96  /* JSON names, brackets, the position */
#define VERSION_OVERHEAD 24 /* ",\"model_version\":\"\"" */

static char *put_str(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

static char *put_num(char *p, double v, bool json)
{
    if (json && !isfinite(v)) return PUT_LIT(p, "null");
    return p + sf_float_text(v, p);
}

static sf_status reserve(sf_prediction_text *t, size_t rows, size_t bytes)
{
    if (bytes > t->cap) {
        char *x = realloc(t->text, bytes);
        if (!x) return SF_ERR_NO_MEMORY;
        t->text = x;
        t->cap = bytes;
    }
    if (rows > t->rows_cap) {
        size_t *o = realloc(t->off, sizeof(size_t) * rows);
        if (!o) return SF_ERR_NO_MEMORY;
        t->off = o;
        size_t *l = realloc(t->len_of, sizeof(size_t) * rows);
        if (!l) return SF_ERR_NO_MEMORY;
        t->len_of = l;
        t->rows_cap = rows;
    }
    return SF_OK;
}

static char *format_one(const sf_prediction_rows *r, size_t i, char *p)
{
    size_t K = r->proba ? r->K : 0;
    const double *pr = K ? r->proba + i * K : NULL;
    if (!r->json) {
        p = put_num(p, r->pred[i], false);
        for (size_t k = 0; k < K; k++) {
            *p++ = ',';
            p = put_num(p, pr[k], false);
        }
        return p;
    }
    p = PUT_LIT(p, "{\"prediction\":");
    p = put_num(p, r->pred[i], true);
    if (K) {
        p = PUT_LIT(p, ",\"proba\":[");
        for (size_t k = 0; k < K; k++) {
            if (k) *p++ = ',';
            p = put_num(p, pr[k], true);
        }
        *p++ = ']';
    }
    const sf_record_pos *pos = &r->pos[i];
    if (pos->partition >= 0) {
        p = PUT_LIT(p, ",\"partition\":");
        p += sf_int_text(pos->partition, p);
        p = PUT_LIT(p, ",\"offset\":");
        p += sf_int_text(pos->offset, p);
    } else {
        p = PUT_LIT(p, ",\"line\":");
        p += sf_int_text((int64_t)pos->line, p);
    }
    if (r->model_version) { /* letters, digits and '-' only: no escaping */
        p = PUT_LIT(p, ",\"model_version\":\"");
        p = put_str(p, r->model_version, strlen(r->model_version));
        *p++ = '"';
    }
    *p++ = '}';
    return p;
}

sf_status sf_prediction_format(sf_prediction_text *t, const sf_prediction_rows *r)
{
    size_t K = r->proba ? r->K : 0;
    size_t per_record = (K + 1) * (SF_FLOAT_TEXT_MAX + 1) + 2 * SF_FLOAT_TEXT_MAX + RECORD_OVERHEAD;
    if (r->json && r->model_version) per_record += strlen(r->model_version) + VERSION_OVERHEAD;
    t->len = 0;
    sf_status st = reserve(t, r->rows + 1, r->rows * per_record + 1);
    if (st != SF_OK) return st;
    char *p = t->text;
    for (size_t i = 0; i < r->rows; i++) {
        char *start = p;
        p = format_one(r, i, p);
        t->off[i] = (size_t)(start - t->text);
        t->len_of[i] = (size_t)(p - start);
        *p++ = '\n';
    }
    t->len = (size_t)(p - t->text);
    return SF_OK;
}

size_t sf_prediction_text_group(sf_prediction_text *t, size_t rows, size_t per)
{
    if (per <= 1) return rows;
    size_t groups = 0;
    for (size_t first = 0; first < rows; first += per, groups++) { /* in place: g <= first */
        size_t last = first + per < rows ? first + per - 1 : rows - 1;
        size_t start = t->off[first];
        t->len_of[groups] = t->off[last] + t->len_of[last] - start;
        t->off[groups] = start;
    }
    return groups;
}

void sf_prediction_text_free(sf_prediction_text *t)
{
    free(t->text);
    free(t->off);
    free(t->len_of);
    memset(t, 0, sizeof *t);
}
