/*
 * http_replay.c — `streamfit dashboard --metrics FILE`: a --metrics-out file
 * read into a board the way a live run fills it (sf_board_add_line), so
 * that the live page draws it. Every line counts; the history shows at most
 * SF_BOARD_HISTORY lines, evenly spaced over the run with the last one
 * always kept (the page says when it was downsampled). A line that is not a
 * metrics line is counted and its number kept, never fatal here.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_dashboard.h"

#define MALFORMED_LOGGED 10

static bool blank(const char *line) { return line[strspn(line, " \t\r\n")] == 0; }

static double field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A metrics line: an object with a time, a batch number and a row count. */
static cJSON *parse_metrics_line(const char *line)
{
    cJSON *o = cJSON_Parse(line);
    if (cJSON_IsObject(o) && isfinite(field(o, "time")) && isfinite(field(o, "batch")) &&
        isfinite(field(o, "rows_total")))
        return o;
    cJSON_Delete(o);
    return NULL;
}

/* A line's quality names tell classification from regression; the number
 * of classes is not in the line: 2 stands for "classification". */
static size_t classes_of(const cJSON *line)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(line, "metrics");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(m, "window");
    return cJSON_GetObjectItemCaseSensitive(w, "accuracy") ? 2 : 0;
}

/* Non-blank lines of f, which is rewound. */
static uint64_t count_lines(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    uint64_t n = 0;
    while (getline(&line, &cap, f) >= 0)
        n += !blank(line);
    free(line);
    rewind(f);
    return n;
}

static void note_malformed(sf_board *b, const char *path, uint64_t lineno, sf_log_fn log,
                           void *log_user)
{
    sf_board_snapshot *s = &b->s;
    if (s->n_replay_bad < SF_BOARD_BAD) s->replay_bad_lines[s->n_replay_bad++] = lineno;
    if (log && s->replay_malformed < MALFORMED_LOGGED) {
        char msg[700];
        snprintf(msg, sizeof msg,
                 "%s:%llu: not a metrics line (a JSON object with time, batch "
                 "and rows_total), skipped",
                 path, (unsigned long long)lineno);
        log(log_user, SF_LOG_WARN, msg);
    }
    s->replay_malformed++;
}

/* The newest history point becomes p (the last line is always shown). */
static void keep_last(sf_board *b, const sf_board_point *p)
{
    sf_board_snapshot *s = &b->s;
    if (s->n_hist < SF_BOARD_HISTORY)
        sf_board_add_point(b, p);
    else
        s->hist[(s->hist_head + s->n_hist - 1) % SF_BOARD_HISTORY] = *p;
}

sf_status sf_replay_read(const char *path, sf_board *b, sf_log_fn log, void *log_user, char *err,
                         size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return SF_ERR_IO;
    }
    sf_board_snapshot *s = &b->s;
    b->own_history = true;
    s->live = false;
    snprintf(s->replay_file, sizeof s->replay_file, "%s", path);
    snprintf(s->metrics_out, sizeof s->metrics_out, "%s", path);
    uint64_t n = count_lines(f);
    s->replay_downsampled = n > SF_BOARD_HISTORY;

    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0, index = 0, next_kept = 0, kept_j = 0;
    bool last_kept = false, classes_known = false;
    bool keep_next = false; /* a line to be kept was malformed: the next good one stands in */
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (blank(line)) continue;
        uint64_t i = index++;
        /* evenly spaced: line i is kept when it is round(j (n-1) / (H-1)) */
        bool keep = !s->replay_downsampled || i == next_kept;
        if (s->replay_downsampled && i == next_kept)
            next_kept = (uint64_t)llround((double)++kept_j * (double)(n - 1) /
                                          (double)(SF_BOARD_HISTORY - 1));
        cJSON *o = parse_metrics_line(line);
        if (!o) {
            note_malformed(b, path, lineno, log, log_user);
            keep_next = keep_next || keep;
            continue;
        }
        keep = keep || keep_next;
        keep_next = false;
        if (!classes_known) {
            s->n_classes = classes_of(o);
            s->started = field(o, "time");
            classes_known = true;
        }
        cJSON_Delete(o);
        sf_board_add_line(b, line);
        s->replay_lines++;
        if (keep) sf_board_add_point(b, &s->last);
        last_kept = keep;
    }
    bool read_error = ferror(f) != 0;
    free(line);
    fclose(f);
    if (read_error) {
        snprintf(err, errlen, "%s: read error", path);
        return SF_ERR_IO;
    }
    if (!s->replay_lines) {
        snprintf(err, errlen, "%s: no metrics line (%llu lines, none a --metrics-out line)", path,
                 (unsigned long long)s->replay_malformed);
        return SF_ERR_PARSE;
    }
    if (!last_kept) keep_last(b, &s->last);
    s->state = SF_BOARD_FINISHED;
    return SF_OK;
}
