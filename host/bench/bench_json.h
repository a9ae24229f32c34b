/*
 * bench_json.h — a small JSON reader for the one-line objects the benchmark
 * peers print (the scripts in bench/peers): a tree of values, looked up by key.
 */
#ifndef STREAMFIT_BENCH_JSON_H
#define STREAMFIT_BENCH_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum bench_json_type {
    BENCH_JSON_NULL,
    BENCH_JSON_BOOL,
    BENCH_JSON_NUMBER,
    BENCH_JSON_STRING,
    BENCH_JSON_ARRAY,
    BENCH_JSON_OBJECT,
} bench_json_type;

typedef struct bench_json {
    bench_json_type type;
    bool boolean;
    double number;
    char *string;             /* STRING */
    size_t n;                 /* ARRAY, OBJECT: items */
    struct bench_json *items; /* ARRAY, OBJECT */
    char **keys;              /* OBJECT: n keys */
} bench_json;

/* Parse a whole text; false on malformed input (nothing to free then). */
bool bench_json_parse(const char *text, bench_json *out);
void bench_json_free(bench_json *v);
/* Member of an object, or NULL. */
const bench_json *bench_json_get(const bench_json *obj, const char *key);
/* A number member (NaN when missing or not a number); a string member, or NULL. */
double bench_json_number(const bench_json *obj, const char *key);
const char *bench_json_string(const bench_json *obj, const char *key);

#endif
