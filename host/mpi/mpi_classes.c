/*
 * mpi_classes.c — the union of every rank's distinct labels, then the one
 * class-label policy on it (see mpi_classes.h).
 */
#include "mpi_classes.h"

#include <stdlib.h>
#include <string.h>

#include "class_labels.h"
#include "sf_mpi.h"

sf_status sf_mpi_class_labels(sf_model_kind model, const double *y, size_t n, double **classes,
                              size_t *K, char *why, size_t whylen)
{
    double *mine = NULL;
    size_t m = sf_class_labels_distinct(y, n, &mine);
    if (!mine && n) return SF_ERR_NO_MEMORY;
    uint64_t most = m;
    if (sf_mpi_allreduce_max_u64(&most) != SF_OK) {
        free(mine);
        return SF_ERR_IO;
    }
    /* Row r of the table: [count, values...] of rank r, zeros elsewhere; the
     * sum across ranks is every rank's row, exactly. */
    size_t ranks = (size_t)sf_mpi_size(), w = (size_t)most + 1;
    double *rows = calloc(ranks * w, sizeof(double));
    sf_status st = rows ? SF_OK : SF_ERR_NO_MEMORY;
    if (st == SF_OK) {
        double *me = rows + (size_t)sf_mpi_rank() * w;
        me[0] = (double)m;
        if (m) memcpy(me + 1, mine, sizeof(double) * m);
        st = sf_mpi_allreduce_sum(rows, ranks * w);
    }
    free(mine);
    size_t all = 0;
    for (size_t r = 0; st == SF_OK && r < ranks; r++) {
        size_t c = (size_t)rows[r * w];
        memmove(rows + all, rows + r * w + 1, sizeof(double) * c);
        all += c;
    }
    if (st == SF_OK) st = sf_class_labels_choose(model, rows, all, classes, K, why, whylen);
    free(rows);
    return st;
}
