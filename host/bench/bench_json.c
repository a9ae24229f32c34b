/*
 * bench_json.c — a recursive-descent JSON reader, enough for the peers'
 * results: objects, arrays, strings (escapes decoded, \u to UTF-8), numbers
 * (strtod; NaN and Infinity as Python's json writes them), true/false/null.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_json.h"

typedef struct reader {
    const char *p;
    int depth;
} reader;

static void skip_ws(reader *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static bool parse_value(reader *r, bench_json *v);

static size_t put_utf8(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
}

static bool parse_string(reader *r, char **out)
{
    if (*r->p != '"') return false;
    const char *s = ++r->p;
    size_t cap = 0;
    while (s[cap] && s[cap] != '"')
        cap += s[cap] == '\\' && s[cap + 1] ? 2 : 1;
    char *buf = malloc(cap + 1), *w = buf;
    if (!buf) return false;
    while (*r->p && *r->p != '"') {
        char ch = *r->p++;
        if (ch != '\\') {
            *w++ = ch;
            continue;
        }
        ch = *r->p++;
        switch (ch) {
        case 'n': *w++ = '\n'; break;
        case 't': *w++ = '\t'; break;
        case 'r': *w++ = '\r'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'u': {
            uint32_t c = 0;
            for (int i = 0; i < 4; i++) {
                char h = *r->p++;
                c <<= 4;
                if (h >= '0' && h <= '9')
                    c |= (uint32_t)(h - '0');
                else if (h >= 'a' && h <= 'f')
                    c |= (uint32_t)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                    c |= (uint32_t)(h - 'A' + 10);
                else {
                    free(buf);
                    return false;
                }
            }
            w += put_utf8(w, c); /* 6 escaped bytes give at most 3 */
            break;
        }
        case 0: free(buf); return false;
        default: *w++ = ch; break; /* \" \\ \/ */
        }
    }
    if (*r->p != '"') {
        free(buf);
        return false;
    }
    r->p++;
    *w = 0;
    *out = buf;
    return true;
}

static bool push(bench_json *v, size_t *cap)
{
    if (v->n < *cap) return true;
    size_t nc = *cap ? 2 * *cap : 8;
    bench_json *items = realloc(v->items, nc * sizeof *items);
    if (!items) return false;
    v->items = items;
    if (v->type == BENCH_JSON_OBJECT) {
        char **keys = realloc(v->keys, nc * sizeof *keys);
        if (!keys) return false;
        v->keys = keys;
    }
    *cap = nc;
    return true;
}

static bool parse_container(reader *r, bench_json *v, bool object)
{
    v->type = object ? BENCH_JSON_OBJECT : BENCH_JSON_ARRAY;
    char close = object ? '}' : ']';
    size_t cap = 0;
    r->p++;
    skip_ws(r);
    if (*r->p == close) {
        r->p++;
        return true;
    }
    for (;;) {
        skip_ws(r);
        if (!push(v, &cap)) return false;
        char *key = NULL;
        if (object) {
            if (!parse_string(r, &key)) return false;
            skip_ws(r);
            if (*r->p != ':') {
                free(key);
                return false;
            }
            r->p++;
        }
        if (!parse_value(r, &v->items[v->n])) {
            bench_json_free(&v->items[v->n]); /* what it built before failing */
            free(key);
            return false;
        }
        if (object) v->keys[v->n] = key;
        v->n++;
        skip_ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p != close) return false;
        r->p++;
        return true;
    }
}

static bool word(reader *r, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(r->p, w, n) != 0) return false;
    r->p += n;
    return true;
}

static bool parse_value(reader *r, bench_json *v)
{
    memset(v, 0, sizeof *v);
    skip_ws(r);
    if (++r->depth > 64) return false;
    bool ok = true;
    char c = *r->p;
    if (c == '{' || c == '[')
        ok = parse_container(r, v, c == '{');
    else if (c == '"') {
        v->type = BENCH_JSON_STRING;
        ok = parse_string(r, &v->string);
    } else if (word(r, "true") || word(r, "false")) {
        v->type = BENCH_JSON_BOOL;
        v->boolean = r->p[-1] == 'e' && r->p[-2] == 'u';
    } else if (word(r, "null")) {
        v->type = BENCH_JSON_NULL;
    } else if (word(r, "NaN")) {
        v->type = BENCH_JSON_NUMBER;
        v->number = NAN;
    } else if (word(r, "Infinity")) {
        v->type = BENCH_JSON_NUMBER;
        v->number = INFINITY;
    } else if (word(r, "-Infinity")) {
        v->type = BENCH_JSON_NUMBER;
        v->number = -INFINITY;
    } else {
        char *end;
        v->type = BENCH_JSON_NUMBER;
        v->number = strtod(r->p, &end);
        ok = end != r->p;
        r->p = end;
    }
    r->depth--;
    return ok;
}

void bench_json_free(bench_json *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        bench_json_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    memset(v, 0, sizeof *v);
}

bool bench_json_parse(const char *text, bench_json *out)
{
    reader r = {.p = text};
    bool ok = parse_value(&r, out);
    skip_ws(&r);
    if (!ok || *r.p) {
        bench_json_free(out);
        return false;
    }
    return true;
}

const bench_json *bench_json_get(const bench_json *obj, const char *key)
{
    if (!obj || obj->type != BENCH_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

double bench_json_number(const bench_json *obj, const char *key)
{
    const bench_json *v = bench_json_get(obj, key);
    return v && v->type == BENCH_JSON_NUMBER ? v->number : NAN;
}

const char *bench_json_string(const bench_json *obj, const char *key)
{
    const bench_json *v = bench_json_get(obj, key);
    return v && v->type == BENCH_JSON_STRING ? v->string : NULL;
}
