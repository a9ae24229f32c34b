/*
 * stream_dead_letter.c — bad records of a streaming run: counted, the first
 * few reported with their position, the first one fatal when the options say
 * fail_on_error, and each written to the dead-letter sink
 * with position, reason and (when still at hand) the raw record.
 *
 * Records are found bad where batches are filled: with the pipeline on the
 * filling thread, so the count and the message go into the batch's sf_fill
 * and the sink is written under its lock. Exactly-once runs (one thread) put
 * Kafka dead letters into the transaction of their batch (stream_txn.c).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_internal.h"

#define SF_BAD_SHOWN 5

static void describe_pos(const sf_record_pos *p, char *buf, size_t len)
{
    if (p->partition >= 0)
        snprintf(buf, len, "partition %d offset %lld", (int)p->partition, (long long)p->offset);
    else if (p->file > 0)
        snprintf(buf, len, "file %u line %llu", (unsigned)p->file, (unsigned long long)p->line);
    else
        snprintf(buf, len, "line %llu", (unsigned long long)p->line);
}

/* Count (in *skipped), report (the first few; the error in err) and
 * dead-letter one bad row; rec may be NULL when the raw record is gone. */
static void bad(sf_run *r, uint64_t *skipped, char *err, const sf_record_pos *pos,
                const sf_record *rec, const char *why)
{
    char where[96];
    describe_pos(pos, where, sizeof where);
    (*skipped)++;
    if (r->o->on_bad_record) r->o->on_bad_record(r->o->user, where, why);
    if (r->o->fail_on_error) {
        snprintf(err, sizeof r->err, "%s: %s", where, why);
    } else if (r->bad_shown < SF_BAD_SHOWN) {
        sf_run_log(r, SF_LOG_WARN, "%s: %s (skipped)", where, why);
        r->bad_shown++;
    }
    if (!r->dead_letter) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reason", why);
    if (pos->partition >= 0) {
        cJSON_AddNumberToObject(o, "partition", pos->partition);
        cJSON_AddNumberToObject(o, "offset", (double)pos->offset);
    } else {
        cJSON_AddNumberToObject(o, "file", pos->file);
        cJSON_AddNumberToObject(o, "line", (double)pos->line);
        cJSON_AddNumberToObject(o, "byte_offset", (double)pos->offset);
    }
    char *raw = rec ? malloc(rec->len + 1) : NULL;
    if (raw) {
        memcpy(raw, rec->data, rec->len);
        raw[rec->len] = 0;
        cJSON_AddStringToObject(o, "record", raw);
        free(raw);
    }
    char *text = cJSON_PrintUnformatted(o);
    if (text) {
        /* A failed write stays in the sink and fails the next flush (and,
         * exactly-once, aborts the transaction it belongs to). */
        pthread_mutex_lock(&r->dead_letter_lock);
        if (r->dead_letter_in_txn) (void)sf_txn_begin(r);
        sf_sink_write(r->dead_letter, rec ? rec->key : NULL, rec ? rec->key_len : 0, text,
                      strlen(text));
        pthread_mutex_unlock(&r->dead_letter_lock);
    }
    cJSON_free(text);
    cJSON_Delete(o);
}

void sf_run_bad_record(sf_run *r, sf_fill *f, const sf_record *rec, const char *why)
{
    bad(r, &f->skipped, f->err, &rec->pos, rec, why);
}

void sf_run_bad_row(sf_run *r, const sf_record_pos *pos, const char *why)
{
    bad(r, &r->rows_skipped, r->err, pos, NULL, why);
}
