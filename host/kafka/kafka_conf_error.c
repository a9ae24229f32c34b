/*
 * kafka_conf_error.c — see kafka_conf_error.h.
 */
#include "kafka_conf_error.h"

#include <stdio.h>
#include <string.h>

void sf_kafka_conf_error(char *err, size_t errlen, const char *prefix, const char *key,
                         const char *value, const char *reason)
{
    char scrubbed[512];
    size_t out = 0, vlen = value ? strlen(value) : 0;
    for (const char *p = reason ? reason : ""; *p && out + 1 < sizeof scrubbed;) {
        if (vlen && strncmp(p, value, vlen) == 0) {
            const char *mark = "[value not shown]";
            size_t m = strlen(mark);
            if (out + m >= sizeof scrubbed) break;
            memcpy(scrubbed + out, mark, m);
            out += m;
            p += vlen;
        } else {
            scrubbed[out++] = *p++;
        }
    }
    scrubbed[out] = 0;
    snprintf(err, errlen, "%s %s: %s", prefix, key, scrubbed);
}
