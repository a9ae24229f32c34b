/*
 * sink_file.h — the file (or stdout, path NULL) sink behind sf_sink
 * (sink_open.c): one line per record, flushed every batch.
 */
#ifndef STREAMFIT_SINK_FILE_H
#define STREAMFIT_SINK_FILE_H

#include <stddef.h>

#include "streamfit.h"

typedef struct sink_file sink_file;
sf_status sf_sink_file_open(const char *path, sink_file **out, char *err, size_t errlen);
sf_status sf_sink_file_write(sink_file *s, const char *value, size_t value_len);
sf_status sf_sink_file_write_text(sink_file *s, const char *text, size_t len);
sf_status sf_sink_file_flush(sink_file *s);
const char *sf_sink_file_error(const sink_file *s);
void sf_sink_file_destroy(sink_file *s);

#endif
