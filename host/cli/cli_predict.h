/*
 * cli_predict.h — model loading and batch prediction shared by `predict` and `eval`.
 */
#ifndef STREAMFIT_CLI_PREDICT_H
#define STREAMFIT_CLI_PREDICT_H

#include "cli.h"

int cli_load_model(const char *path, sf_model **out);
/* Read the input; the label column is optional unless need_label. */
int cli_read_rows_for_model(cli_input *in, const sf_model *m, bool need_label, sf_table *t);
/* value: rows predictions; proba: rows x classes (classifiers), both malloc'd. */
int cli_predict_rows(sf_device_kind device, int threads, const sf_model *m, const sf_table *t,
                     double **value, double **proba);

#endif
