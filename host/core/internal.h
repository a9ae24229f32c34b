/*
 * internal.h — the structures behind the public handles, shared by the
 * library's own files (never installed).
 */
#ifndef STREAMFIT_INTERNAL_H
#define STREAMFIT_INTERNAL_H

#include <stdarg.h>

#include "backend.h"
#include "exact_gram.h"
#include "streamfit.h"

struct sf_context {
    sf_backend *be;
    int threads;
    sf_log_fn log;
    void *log_user;
};

void sf_logf(const sf_context *ctx, sf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct sf_model {
    sf_model_kind kind;
    size_t d;          /* features */
    size_t K;          /* classes (0 for least squares) */
    size_t outputs;    /* coefficient rows: 1, or K for softmax */
    double *coef;      /* outputs x d, raw feature units */
    double *intercept; /* outputs */
    double *classes;   /* K class labels */
    char **names;      /* d feature names (may hold NULLs) */
    char *label;
    double lambda;
    bool fit_intercept;
    bool standardize;
    double *scaler_mean; /* d, when standardize */
    double *scaler_std;  /* d, when standardize */
    uint64_t rows_seen, rows_skipped;
    uint64_t batches; /* stream batches learned after the fit (model_version.c) */
    sf_fit_report report;
};

/* Merged (count, mean, co-moment) of augmented rows [x, y], p = d + 1, and
 * optionally the merged R factor of the centered, column-scaled rows. */
typedef struct sf_moments {
    size_t p;
    double n;
    double *mean; /* p */
    double *m2;   /* p x p column-major */
    bool has_r;
    double *R;     /* p x p upper, column-major, of ([x,y] - mean) / scale */
    double *scale; /* p, fixed at the first batch */
    double decay;  /* weight of the past per merged batch (1: none) */
} sf_moments;

sf_status sf_moments_init(sf_moments *m, size_t d, bool with_r);
void sf_moments_free(sf_moments *m);
/* Chan-Golub-LeVeque pairwise merge of a batch's (n, mean, m2[, R]). */
sf_status sf_moments_merge(sf_backend *be, sf_moments *acc, double n, const double *mean,
                           const double *m2, const double *R);
/* Add one device batch: its moments (and R when acc->has_r) merged into acc. */
sf_status sf_moments_add_batch(sf_backend *be, sf_moments *acc, const sf_dbatch *b);
/* Population std of feature j (0 when constant). */
double sf_moments_std(const sf_moments *m, size_t j);
/* Start keeping R: the factor of the rows in `batches`, centered at the
 * current mean and scaled by the current std. */
sf_status sf_moments_build_r(sf_backend *be, sf_moments *m, sf_dbatch *const *batches,
                             size_t n_batches);

struct sf_trainer {
    sf_context *ctx;
    sf_backend *be;
    sf_fit_params par;
    size_t d, K;
    sf_dbatch **batches;
    size_t n_batches, cap_batches;
    /* The caller's rows behind the last kept batch when it was borrowed
     * (trainer.c joins slices that follow it in memory), else NULL. */
    const double *borrow_X, *borrow_y;
    size_t borrow_rows;
    bool batches_standardized;
    sf_moments mom;
    /* Classifiers: current parameters (standardized space when standardize),
     * P = outputs * (d + 1), and the FTRL state of the streaming update. */
    double *theta;
    double *shift, *scale; /* the scaler in use (d each), NULL when not standardizing */
    double *ftrl_z, *ftrl_n;
    bool has_theta;
    uint64_t rows;
    sf_fit_report report;
    /* Least squares through the backend's staging ring (trainer.c): rows
     * submitted whose statistics are still on the device, and what
     * sf_trainer_stage handed out last. */
    sf_ring *ring;
    uint64_t ring_pending;
    enum { SF_STAGED_NONE, SF_STAGED_RING, SF_STAGED_HOST } staged;
    size_t staged_cap;
    double *stage_X, *stage_y; /* the host staging buffer without a ring */
    /* The model of the current state in raw units (trainer.c), kept between
     * calls and solved again only after the state changed: what
     * sf_trainer_predict_update predicts with and sf_trainer_snapshot copies. */
    sf_model *live;
    bool live_valid;
    double *scores; /* rows x outputs scores of the last predicted batch */
    size_t scores_cap;
    /* Least squares streaming without an R factor: the one warning that the
     * condition estimate asked for the QR path it cannot take was given. */
    bool warned_no_r;
    /* Least squares streaming from the start (or after a warm-up,
     * sf_trainer_stream_after_warmup) on few features, one rank: the
     * exact sums of the rows (exact_gram.h; trainer.c keeps them while the
     * stream is ill-conditioned), and whether that was decided already. */
    sf_exact_gram *exact;
    bool exact_judged;
    /* sf_trainer_span_ranks: the fit combines every MPI rank's rows, and
     * whether the statistics were combined already (once). */
    bool span_ranks, ranks_merged;
};

/* Merge what the staging ring has folded on the device into t->mom (the
 * only wait on the device in a least-squares feed); a no-op without a ring. */
sf_status sf_trainer_drain(sf_trainer *t);

/* Before the first rows of a trainer that keeps batches: it streams after its
 * warm-up (the stream command). Least squares under the auto solver on few
 * features then keeps exact sums of the warm-up's rows too, which
 * sf_trainer_end_warmup keeps for the stream when the warm-up is
 * ill-conditioned (trainer.c). A file fit never calls it: it refines with its
 * rows instead. */
sf_status sf_trainer_stream_after_warmup(sf_trainer *t);

/* Model fitting, one file per family. */
sf_status sf_lsq_fit(sf_trainer *t, sf_model *m);
sf_status sf_logit_fit(sf_trainer *t, sf_model *m);
sf_status sf_logit_theta_to_model(sf_trainer *t, const double *theta, sf_model *m);
/* One FTRL step on the batch; scores (NULL: none) gets the batch's scores at
 * the parameters of before the step (rows x outputs, standardized units). */
sf_status sf_ftrl_update(sf_trainer *t, const sf_dbatch *b, double *scores);
/* The FTRL state (z, n) from the current parameters, once (ftrl.c). */
#define SF_FTRL_BETA 1.0
sf_status sf_ftrl_prepare(sf_trainer *t);
/* The streaming update of a trainer spanning the ranks, collective (b: this
 * rank's part, NULL without rows; trainer_ranks.c). */
sf_status sf_trainer_learn_ranks(sf_trainer *t, sf_dbatch *b);
/* Fix the scaler (mean or 0, population std or 1) from the merged moments, once. */
sf_status sf_logit_fix_scaler(sf_trainer *t);

/* Coefficient rows of a logistic (1) or softmax (K) trainer. */
size_t sf_logit_outputs(const sf_trainer *t);

/* Newton and L-BFGS on f(theta) = (1/n) sum loss + (lambda/2) ||w||^2
 * (logit_objective.c; the step test and norm they share: optim_step.c). */
typedef struct sf_objective {
    sf_trainer *t;
    size_t P; /* parameters */
    /* The rows it sums over: the trainer's kept batches, or a subsample. */
    sf_dbatch *const *batches;
    size_t n_batches;
    double n;
    double tol; /* gradient-norm target */
} sf_objective;
sf_status sf_objective_eval(const sf_objective *o, const double *theta, double *f, double *g,
                            double *H);
sf_status sf_minimize_newton(const sf_objective *o, double *theta, sf_fit_report *rep);
sf_status sf_minimize_lbfgs(const sf_objective *o, double *theta, sf_fit_report *rep);

double sf_norm2(const double *v, size_t n);
/* Line-search acceptance shared by Newton and L-BFGS. */
bool sf_step_acceptable(double f0, double f1, double slope, double alpha, double gn0, double gn1);

sf_model *sf_model_alloc(sf_model_kind kind, size_t d, size_t K);
sf_model *sf_model_clone(const sf_model *m);
/* The model file's text (what sf_model_save writes); cJSON_free it. NULL: no memory. */
char *sf_model_json_text(const sf_model *m);
/* Values (and class probabilities) of rows from their scores T (rows x
 * outputs, overwritten). */
void sf_model_classify_rows(const sf_model *m, double *T, size_t rows, double *value,
                            double *proba);

/* Least squares: the reciprocal condition estimate of the scaled normal
 * matrix of these statistics (0 when it is not positive definite), the
 * figure that sends a solve down the QR path below SF_LSQ_RCOND_QR. */
#define SF_LSQ_RCOND_QR 1e-5
sf_status sf_lsq_rcond(sf_trainer *t, const sf_moments *mo, double *rcond);
/* Least squares from exact statistics in double-double (model_lsq_exact.c):
 * w (d), *b0 (0 without intercept) and a pivot-ratio condition estimate;
 * SF_ERR_NOT_POSITIVE_DEFINITE when the system is rank deficient. */
sf_status sf_lsq_exact_solve(const sf_exact_gram *g, bool intercept, const double *pen, double *w,
                             double *b0, double *rcond);

#endif
