/*
 * parse_options.c — the parser's defaults, and the lifetime of the table it
 * returns (default names, freeing).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

void sf_parse_options_init(sf_parse_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
    opt->format = SF_FORMAT_CSV;
    opt->has_header = true;
    opt->label_name = NULL;
    opt->label_index = 0;
    opt->label_optional = false;
    opt->expected_features = 0;
    opt->n_features = 0;
    opt->threads = 0; /* resolved to the online cores when parsing */
    opt->max_line_bytes = (size_t)1 << 20;
    opt->max_errors_kept = 10;
}

char *sf_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

sf_status sf_table_default_names(sf_table *t, size_t d)
{
    /* d is set first so that sf_table_free finds every name allocated so far. */
    t->d = d;
    t->feature_names = calloc(d ? d : 1, sizeof *t->feature_names);
    if (!t->feature_names) return SF_ERR_NO_MEMORY;
    for (size_t j = 0; j < d; j++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "x%zu", j + 1);
        t->feature_names[j] = sf_strndup(buf, (size_t)n);
        if (!t->feature_names[j]) return SF_ERR_NO_MEMORY;
    }
    if (!t->label_name) t->label_name = sf_strndup("y", 1);
    return t->label_name ? SF_OK : SF_ERR_NO_MEMORY;
}

void sf_table_free(sf_table *t)
{
    if (!t) return;
    if (t->feature_names) {
        for (size_t j = 0; j < t->d; j++)
            free(t->feature_names[j]);
        free(t->feature_names);
    }
    free(t->label_name);
    free(t->X);
    free(t->y);
    free(t->line);
    free(t->errors);
    memset(t, 0, sizeof *t);
}
