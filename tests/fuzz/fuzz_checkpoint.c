/*
 * fuzz_checkpoint.c — the checkpoint loader (sf_checkpoint_read) and the
 * state blobs inside it (sf_trainer_load_state, sf_stream_metrics_load) on
 * any bytes. With the first byte odd, a correct checksum is appended to the
 * rest, so that the fuzzer reaches the sections behind it (a file written by
 * another version, say); with it even, the bytes are the file as they are
 * (torn or flipped files must be refused by the checksum). Whatever the
 * loaders accept, the trainer can still be fitted or asked for its model.
 */
#include <string.h>

#include "checkpoint.h"
#include "fuzz_util.h"
#include "stream_metrics.h"
#include "streamfit.h"

static sf_context *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ctx = fuzz_cpu_context();
    return 0;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* The trainer blob into trainers of each model kind (the file says which it
 * holds only through the config, which a damaged file may contradict). */
static void load_trainer_blob(const unsigned char *blob, size_t len)
{
    static const sf_model_kind kinds[] = {SF_MODEL_OLS, SF_MODEL_LOGISTIC, SF_MODEL_SOFTMAX};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        sf_fit_params p;
        sf_fit_params_init(&p);
        p.model = kinds[k];
        sf_trainer *t = NULL;
        if (sf_trainer_create(ctx, &p, 3, kinds[k] == SF_MODEL_SOFTMAX ? 3 : 2, &t) != SF_OK)
            continue;
        if (sf_trainer_load_state(t, blob, len) == SF_OK) {
            sf_model *m = NULL;
            if (sf_trainer_snapshot(t, &m) == SF_OK) sf_model_destroy(m);
        }
        sf_trainer_destroy(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *file = malloc(n + sizeof(uint64_t));
    FUZZ_CHECK(file != NULL);
    memcpy(file, data + 1, n);
    if (data[0] & 1) {
        uint64_t sum = fnv1a(file, n);
        memcpy(file + n, &sum, sizeof sum);
        n += sizeof sum;
    }
    char path[256];
    fuzz_write_file("checkpoint.bin", file, n, path, sizeof path);
    free(file);
    sf_checkpoint c;
    char err[256] = "";
    sf_status st = sf_checkpoint_read(fuzz_tmpdir(), &c, err, sizeof err);
    if (st != SF_OK) {
        FUZZ_CHECK(st == SF_ERR_EMPTY || err[0] != '\0');
        return 0;
    }
    if (c.trainer) load_trainer_blob(c.trainer, c.trainer_len);
    if (c.metrics) {
        for (size_t K = 0; K <= 3; K += 2) {
            sf_stream_metrics m;
            if (sf_stream_metrics_init(&m, K, 100) != SF_OK) continue;
            (void)sf_stream_metrics_load(&m, c.metrics, c.metrics_len);
            sf_stream_metrics_free(&m);
        }
    }
    sf_checkpoint_free(&c);
    return 0;
}
