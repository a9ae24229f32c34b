/*
 * stream_source_status.c — what a live display asks about the source while
 * the run goes (streamfit_stream.h): per-partition positions and high
 * watermarks, and whether the brokers are reachable. The source answers
 * these on any thread without a round trip (source.h).
 */
#include "stream_internal.h"

size_t sf_stream_partitions(sf_stream *s, sf_stream_partition *out, size_t max)
{
    if (!s || !out || !s->source || !s->source->ops->partitions) return 0;
    sf_source_partition parts[256];
    if (max > sizeof parts / sizeof parts[0]) max = sizeof parts / sizeof parts[0];
    size_t n = s->source->ops->partitions(s->source, parts, max);
    for (size_t i = 0; i < n; i++)
        out[i] = (sf_stream_partition){.partition = parts[i].partition,
                                       .position = parts[i].position,
                                       .high_watermark = parts[i].high};
    return n;
}

bool sf_stream_source_down(sf_stream *s)
{
    return s && s->source && s->source->ops->down && s->source->ops->down(s->source);
}
