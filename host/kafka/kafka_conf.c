/*
 * kafka_conf.c — librdkafka configurations for streamfit's Kafka clients
 * (see kafka_conf.h).
 *
 * Defaults, and why:
 *  - consumer: the fetch queue holds up to a million messages / 1 GiB, so
 *    a consumer that keeps up never reaches the threshold at which
 *    librdkafka pauses a partition's fetching (and resumes it only after a
 *    fixed back-off of about a second); the fetch wait is set by the caller
 *    from its batch budget (the broker holds an empty fetch that long).
 *  - producer: linger.ms 1 and a deep local queue, so that a batch of
 *    predictions leaves at once and a large one never meets "queue full".
 *  - both: TCP_NODELAY, since the records are small and latency counts.
 *
 * Which role a key applies to is librdkafka's own property table
 * (rd_kafka_conf_properties_show), read once: a setting given for every
 * client (-X) is left out of the clients it does not apply to, instead of
 * making them warn.
 */
#include "kafka_conf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- property scopes ---- */

typedef struct scope_entry {
    char *name;
    char scope; /* 'C', 'P' or '*' */
} scope_entry;

static scope_entry *scopes;
static size_t n_scopes;
static pthread_once_t scopes_once = PTHREAD_ONCE_INIT;

#ifdef STREAMFIT_HAVE_KAFKA
static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* One table row: "name | C/P | range | default | importance | text". */
static void add_scope_row(char *line, size_t *cap)
{
    char *bar = strchr(line, '|');
    if (!bar) return;
    char *bar2 = strchr(bar + 1, '|');
    if (!bar2) return;
    *bar = *bar2 = 0;
    char *name = trim(line), *who = trim(bar + 1);
    char scope = strcmp(who, "C") == 0 ? 'C' : strcmp(who, "P") == 0 ? 'P' : '*';
    if (!name[0] || strcmp(name, "Property") == 0 || name[0] == '-') return;
    if (n_scopes == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        scope_entry *e = realloc(scopes, c * sizeof *e);
        if (!e) return;
        scopes = e;
        *cap = c;
    }
    char *copy = strdup(name);
    if (!copy) return;
    scopes[n_scopes++] = (scope_entry){.name = copy, .scope = scope};
}

static void load_scopes(void)
{
    char *text = NULL;
    size_t len = 0, cap = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return;
    rd_kafka_conf_properties_show(f);
    fclose(f);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        add_scope_row(line, &cap);
    free(text);
}
#else
static void load_scopes(void) {}
#endif

bool sf_kafka_key_applies(const char *key, sf_kafka_role role)
{
    pthread_once(&scopes_once, load_scopes);
    for (size_t i = 0; i < n_scopes; i++) {
        if (strcmp(scopes[i].name, key) != 0) continue;
        if (scopes[i].scope == '*') return true;
        return scopes[i].scope == (role == SF_KAFKA_CONSUMER ? 'C' : 'P');
    }
    return true;
}

bool sf_kafka_settings_has(const char *const *pairs, const char *key)
{
    for (size_t i = 0; pairs && pairs[i] && pairs[i + 1]; i += 2)
        if (strcmp(pairs[i], key) == 0) return true;
    return false;
}

#ifdef STREAMFIT_HAVE_KAFKA

static const char *const consumer_defaults[] = {
    "client.id",
    "streamfit",
    "socket.nagle.disable",
    "true",
    "queued.min.messages",
    "1000000",
    "queued.max.messages.kbytes",
    "1048576",
    NULL,
};

static const char *const producer_defaults[] = {
    "client.id", "streamfit", "socket.nagle.disable",         "true",
    "linger.ms", "1",         "queue.buffering.max.messages", "1000000",
    NULL,
};

/* err = "PREFIX KEY: REASON" for a setting librdkafka refused. The value
 * never appears: -X carries passwords and keys (sasl.password, ...), and
 * librdkafka's own reason can quote the value, so it is cut out of that too. */
static void refused_setting(char *err, size_t errlen, const char *prefix, const char *key,
                            const char *value, const char *reason)
{
    char scrubbed[512];
    size_t out = 0, vlen = strlen(value);
    static const char mark[] = "[value not shown]";
    for (const char *p = reason; *p && out + 1 < sizeof scrubbed;) {
        if (vlen && strncmp(p, value, vlen) == 0) {
            if (out + sizeof mark - 1 >= sizeof scrubbed) break;
            memcpy(scrubbed + out, mark, sizeof mark - 1);
            out += sizeof mark - 1;
            p += vlen;
        } else {
            scrubbed[out++] = *p++;
        }
    }
    scrubbed[out] = 0;
    snprintf(err, errlen, "%s %s: %s", prefix, key, scrubbed);
}

static bool set_all(rd_kafka_conf_t *conf, const char *const *pairs, const char *what, int only,
                    sf_kafka_role role, char *err, size_t errlen)
{
    char errstr[512];
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        const char *key = pairs[i], *value = pairs[i + 1];
        if (!value) {
            snprintf(err, errlen, "kafka: %s %s has no value", what, key);
            return false;
        }
        if (only && !sf_kafka_key_applies(key, role)) continue;
        if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            char prefix[64];
            snprintf(prefix, sizeof prefix, "kafka: %s", what);
            refused_setting(err, errlen, prefix, key, value, errstr);
            return false;
        }
    }
    return true;
}

rd_kafka_conf_t *sf_kafka_conf_build(sf_kafka_role role, const char *const *defaults,
                                     const sf_kafka_settings *user, const char *const *fixed,
                                     char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        snprintf(err, errlen, "kafka: out of memory");
        return NULL;
    }
    const char *own_flag = user && user->own_flag      ? user->own_flag
                           : role == SF_KAFKA_CONSUMER ? "--consumer-X"
                                                       : "--producer-X";
    bool ok = set_all(conf, role == SF_KAFKA_CONSUMER ? consumer_defaults : producer_defaults,
                      "default", 0, role, err, errlen) &&
              set_all(conf, defaults, "default", 0, role, err, errlen) &&
              set_all(conf, user ? user->shared : NULL, "-X", 1, role, err, errlen) &&
              set_all(conf, user ? user->own : NULL, own_flag, 0, role, err, errlen) &&
              set_all(conf, fixed, "setting", 0, role, err, errlen);
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

#endif /* STREAMFIT_HAVE_KAFKA */
