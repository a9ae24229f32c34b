/*
 * http_dashboard.c — `streamfit dashboard` (streamfit_http.h): reads a
 * metrics file (http_replay.c) and bench results (http_bench.c) once, then
 * serves them (http_server.c) or writes them out (http_export.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_dashboard.h"

void sf_dashboard_options_init(sf_dashboard_options *o) { memset(o, 0, sizeof *o); }

void sf_dashboard_destroy(sf_dashboard *d)
{
    if (!d) return;
    if (d->replay) sf_board_free(d->replay);
    free(d->replay);
    free(d->bench_json);
    free(d);
}

static sf_status load_replay(sf_dashboard *d, const sf_dashboard_options *o, char *err,
                             size_t errlen)
{
    d->replay = malloc(sizeof *d->replay);
    if (!d->replay) return SF_ERR_NO_MEMORY;
    sf_board_init(d->replay);
    sf_board_snapshot *s = &d->replay->s;
    snprintf(s->command_line, sizeof s->command_line, "%s", o->command_line ? o->command_line : "");
    snprintf(s->version, sizeof s->version, "%s", sf_version_string());
    sf_status st = sf_replay_read(o->metrics, d->replay, o->log, o->log_user, err, errlen);
    if (st != SF_OK) return st;
    d->info.metrics_lines = s->replay_lines;
    d->info.malformed_lines = s->replay_malformed;
    d->info.first_malformed = s->n_replay_bad ? s->replay_bad_lines[0] : 0;
    d->info.points = s->n_hist;
    d->info.downsampled = s->replay_downsampled;
    return SF_OK;
}

sf_status sf_dashboard_load(const sf_dashboard_options *o, sf_dashboard **out, char *err,
                            size_t errlen)
{
    if (!o || !out || (!o->metrics && !o->n_bench) || (o->n_bench && !o->bench)) {
        snprintf(err, errlen, "dashboard: nothing to show (a metrics file or bench results)");
        return SF_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    sf_dashboard *d = calloc(1, sizeof *d);
    if (!d) return SF_ERR_NO_MEMORY;
    sf_status st = o->metrics ? load_replay(d, o, err, errlen) : SF_OK;
    if (st == SF_OK && o->n_bench) {
        d->bench_json = sf_bench_collect(o->bench, o->bench_labels, o->n_bench,
                                         &d->info.bench_platforms, &st, err, errlen);
        d->info.bench_files = o->n_bench;
    }
    if (st != SF_OK) {
        if (st == SF_ERR_NO_MEMORY && err && errlen) snprintf(err, errlen, "out of memory");
        sf_dashboard_destroy(d);
        return st;
    }
    *out = d;
    return SF_OK;
}

void sf_dashboard_get_info(const sf_dashboard *d, sf_dashboard_info *info)
{
    if (d)
        *info = d->info;
    else
        memset(info, 0, sizeof *info);
}

sf_status sf_dashboard_serve(const sf_dashboard *d, const sf_http_options *o, sf_http **out,
                             char *err, size_t errlen)
{
    if (!d) return SF_ERR_INVALID_ARGUMENT;
    sf_status st = sf_http_start(o, out, err, errlen);
    if (st == SF_OK) sf_http_show_dashboard(*out, d);
    return st;
}
