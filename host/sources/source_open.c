/*
 * source_open.c — open a streaming source from its URI: kafka://HOST:PORT/TOPIC,
 * file:PATH, dir:PATH or stdin. Each kind lives in its own file
 * (source_kafka.c, source_file.c); this one only picks the kind, checks the
 * options every kind shares, and frees position blobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

/* The kinds' constructors (source_kafka.c, source_file.c). `spec` is the URI
 * without its scheme; for stdin the path is NULL. */
sf_status sf_source_kafka_open(const sf_source_options *opt, const char *spec, sf_source **out,
                               char *err, size_t errlen);
sf_status sf_source_file_open(const sf_source_options *opt, const char *path, sf_source **out,
                              char *err, size_t errlen);
sf_status sf_source_dir_open(const sf_source_options *opt, const char *path, sf_source **out,
                             char *err, size_t errlen);

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

sf_status sf_source_open(const sf_source_options *opt, sf_source **out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) return SF_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!opt || !opt->uri || !opt->uri[0]) {
        snprintf(err, errlen,
                 "no source given (kafka://HOST:PORT/TOPIC, file:PATH, dir:PATH or "
                 "stdin)");
        return SF_ERR_INVALID_ARGUMENT;
    }
    const char *uri = opt->uri;
    if (has_prefix(uri, "kafka://")) {
        const char *start = opt->start ? opt->start : "earliest";
        if (strcmp(start, "earliest") != 0 && strcmp(start, "latest") != 0 &&
            strcmp(start, "committed") != 0) {
            snprintf(err, errlen, "unknown start '%s' (earliest, latest or committed)", start);
            return SF_ERR_INVALID_ARGUMENT;
        }
#ifdef STREAMFIT_HAVE_KAFKA
        return sf_source_kafka_open(opt, uri + strlen("kafka://"), out, err, errlen);
#else
        snprintf(err, errlen, "cannot read '%s': this build has no Kafka support", uri);
        return SF_ERR_UNSUPPORTED;
#endif
    }
    if (has_prefix(uri, "file:")) {
        const char *path = uri + strlen("file:");
        if (!path[0]) {
            snprintf(err, errlen, "source 'file:' needs a path (file:PATH)");
            return SF_ERR_INVALID_ARGUMENT;
        }
        return sf_source_file_open(opt, path, out, err, errlen);
    }
    if (has_prefix(uri, "dir:")) {
        const char *path = uri + strlen("dir:");
        if (!path[0]) {
            snprintf(err, errlen, "source 'dir:' needs a directory (dir:PATH)");
            return SF_ERR_INVALID_ARGUMENT;
        }
        return sf_source_dir_open(opt, path, out, err, errlen);
    }
    if (strcmp(uri, "stdin") == 0 || strcmp(uri, "-") == 0)
        return sf_source_file_open(opt, NULL, out, err, errlen);
    snprintf(err, errlen,
             "unknown source '%s' (kafka://HOST:PORT/TOPIC, file:PATH, dir:PATH or stdin)", uri);
    return SF_ERR_INVALID_ARGUMENT;
}

void sf_source_state_free(sf_source_state *st)
{
    if (!st) return;
    free(st->blob);
    free(st->commit);
    st->blob = NULL;
    st->commit = NULL;
    st->n_commit = 0;
}
