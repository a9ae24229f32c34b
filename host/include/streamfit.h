/*
 * streamfit.h — the public C API of libstreamfit.
 *
 * Linear models (least squares: OLS, ridge; logistic regression: binary and
 * softmax) fitted from a stream of micro-batches on a compute backend (CPU
 * BLAS/LAPACK, or CUDA when built and present).
 *
 * Conventions: opaque handles created and destroyed in pairs (destroy(NULL)
 * does nothing); every call that can fail returns an sf_status; the library
 * never exits and never prints — messages go through the log callback.
 * Matrices passed in are row-major, rows x n_features, float64.
 *
 * Thread safety and ownership, per object:
 *  - Functions without an object (sf_version, sf_strerror, the *_name and
 *    *_parse helpers, sf_get_build_info, sf_describe_devices, the *_init
 *    functions on the caller's own structs) may be called from any thread at
 *    any time. Strings they return are static.
 *  - sf_context: owns a compute backend (a CUDA device and its streams, or
 *    the BLAS threads) and the log callback. Not thread-safe: use a context
 *    from one thread at a time; give each thread that computes its own
 *    context. Every trainer, stream and sf_predict call made with a context
 *    uses it, so it must outlive them. The log callback runs on the thread
 *    that made the call; it must not call back into the same context.
 *  - sf_trainer: belongs to the context it was created on and is used from
 *    the thread that uses that context. sf_trainer_create copies *params. The
 *    arrays given to sf_trainer_add_batch / sf_trainer_update are read during
 *    the call only, unless borrow_rows says otherwise; pointers from
 *    sf_trainer_stage belong to the trainer. Buffers from
 *    sf_trainer_save_state belong to the caller (free()).
 *  - sf_model: plain data owned by whoever created it (sf_model_create,
 *    sf_model_load, sf_trainer_fit, sf_trainer_snapshot,
 *    sf_stream_model_snapshot all hand the caller a new model to
 *    sf_model_destroy). Any number of threads may read one model at the same
 *    time (sf_predict, the getters, sf_model_save), each with its own
 *    context; writing to it (the setters, the arrays the non-const getters
 *    return) must not overlap with anything else on it. Strings returned by
 *    the getters belong to the model.
 */
#ifndef STREAMFIT_H
#define STREAMFIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers. The CMake project takes its version from
 * these three lines; sf_version() gives the version of the library actually
 * linked or loaded, which a program built against one release and run with
 * another may compare with SF_VERSION. */
#define SF_VERSION_MAJOR 0
#define SF_VERSION_MINOR 1
#define SF_VERSION_PATCH 0
/* One number that orders releases: 0xMMmmpp (0.1.0 is 0x000100). */
#define SF_VERSION ((SF_VERSION_MAJOR << 16) | (SF_VERSION_MINOR << 8) | SF_VERSION_PATCH)
#define SF_VERSION_STR_(x) #x
#define SF_VERSION_STR(x) SF_VERSION_STR_(x)
#define SF_VERSION_STRING                                                                          \
    SF_VERSION_STR(SF_VERSION_MAJOR)                                                               \
    "." SF_VERSION_STR(SF_VERSION_MINOR) "." SF_VERSION_STR(SF_VERSION_PATCH)

/* Every public function carries SF_API: the shared library is built with
 * hidden visibility, so these are the only symbols it exports. A program
 * that compiles the sources into itself may define SF_API (empty) first. */
#ifndef SF_API
#if defined(__GNUC__) || defined(__clang__)
#define SF_API __attribute__((visibility("default")))
#else
#define SF_API
#endif
#endif

/* The linked library's version: SF_VERSION's number, and "MAJOR.MINOR.PATCH". */
SF_API int sf_version(void);
SF_API const char *sf_version_string(void);

/* Append-only: values never change meaning. */
typedef enum sf_status {
    SF_OK = 0,
    SF_ERR_INVALID_ARGUMENT = 1,
    SF_ERR_NO_MEMORY = 2,
    SF_ERR_IO = 3,
    SF_ERR_PARSE = 4,
    SF_ERR_NOT_POSITIVE_DEFINITE = 5,
    SF_ERR_SINGULAR = 6,
    SF_ERR_NOT_CONVERGED = 7,
    SF_ERR_UNSUPPORTED = 8,
    SF_ERR_DEVICE = 9,
    SF_ERR_BAD_MODEL_FILE = 10,
    SF_ERR_EMPTY = 11,
    SF_ERR_BAD_LABEL = 12,
    SF_ERR_LAPACK = 13,
    SF_ERR_NOT_FINITE = 14,  /* values overflowed float64: statistics or a solution not finite */
    SF_ERR_DATA_LOST = 15,   /* a source skipped records (e.g. deleted by retention first) */
    SF_ERR_UNREACHABLE = 16, /* no broker answered for longer than the limit */
} sf_status;

SF_API const char *sf_strerror(sf_status status);

typedef enum sf_model_kind {
    SF_MODEL_OLS = 0,
    SF_MODEL_RIDGE = 1,
    SF_MODEL_LOGISTIC = 2,
    SF_MODEL_SOFTMAX = 3,
} sf_model_kind;

typedef enum sf_solver_kind {
    SF_SOLVER_AUTO = 0,
    SF_SOLVER_CHOLESKY = 1,
    SF_SOLVER_QR = 2,
    SF_SOLVER_NEWTON = 3,
    SF_SOLVER_LBFGS = 4,
} sf_solver_kind;

typedef enum sf_device_kind {
    SF_DEVICE_AUTO = 0,
    SF_DEVICE_CPU = 1,
    SF_DEVICE_CUDA = 2,
} sf_device_kind;

SF_API const char *sf_model_kind_name(sf_model_kind kind);
SF_API const char *sf_solver_kind_name(sf_solver_kind kind);
/* Parse names ("ols", "qr", "cuda", ...); return false for an unknown name. */
SF_API bool sf_model_kind_parse(const char *name, sf_model_kind *out);
SF_API bool sf_solver_kind_parse(const char *name, sf_solver_kind *out);
SF_API bool sf_device_kind_parse(const char *name, sf_device_kind *out);

/* ---- logging ---- */
typedef enum sf_log_level {
    SF_LOG_ERROR = 0,
    SF_LOG_WARN = 1,
    SF_LOG_INFO = 2,
    SF_LOG_DEBUG = 3
} sf_log_level;
typedef void (*sf_log_fn)(void *user, sf_log_level level, const char *message);

/* ---- context: a backend, its threads and the log sink ---- */
typedef struct sf_context sf_context;

typedef struct sf_context_options {
    sf_device_kind device; /* AUTO: CUDA when built and usable, else CPU (with a notice) */
    int threads;           /* CPU threads (<=0: all cores) */
    sf_log_fn log;         /* NULL: silent */
    void *log_user;
} sf_context_options;

SF_API void sf_context_options_init(sf_context_options *opt);
SF_API sf_status sf_context_create(const sf_context_options *opt, sf_context **out);
SF_API void sf_context_destroy(sf_context *ctx);
/* "cpu" or "cuda" */
SF_API const char *sf_context_backend_name(const sf_context *ctx);
SF_API int sf_context_threads(const sf_context *ctx);

/* Build and run-time facts for `streamfit info`. */
typedef struct sf_build_info {
    const char *version;
    bool cuda_built;
    bool kafka_built;
    const char *blas; /* e.g. "OpenBLAS 0.3.21 (pthread)" */
    int blas_threads;
    int cores;
} sf_build_info;
SF_API void sf_get_build_info(sf_build_info *info);
/* One line per compute device it sees, or why there is none; returns chars written. */
SF_API size_t sf_describe_devices(char *buf, size_t len);

/* ---- fitting ---- */

/* How least-squares batches reach the backend (sf_fit_params.staging). */
typedef enum sf_staging_mode {
    /* through a staging ring where the device overlaps (cuda), else direct */
    SF_STAGING_AUTO = 0,
    /* always through the backend's staging ring */
    SF_STAGING_RING = 1,
    /* each batch uploaded and its statistics merged before the call returns */
    SF_STAGING_DIRECT = 2
} sf_staging_mode;

typedef struct sf_fit_params {
    sf_model_kind model;
    sf_solver_kind solver;
    double lambda;           /* ridge / L2 strength (see README for each model's objective) */
    double l1;               /* L1 strength of the mini-batch (FTRL) update */
    bool fit_intercept;      /* default true */
    bool standardize;        /* fit on z = (x - mean) / std (population std); report raw units */
    int max_iter;            /* Newton / L-BFGS iterations (default 100 / 1000) */
    double tol;              /* gradient-norm target (default 1e-10) */
    bool keep_batches;       /* keep uploaded batches for exact solves and refinement (train) */
    double learning_rate;    /* mini-batch update: FTRL alpha (default 0.1) */
    double decay;            /* least squares streaming: weight of the past per batch, in (0, 1];
                                0 or 1: no forgetting */
    bool borrow_rows;        /* with keep_batches: the caller keeps the arrays given to
                                sf_trainer_add_batch alive and unchanged until the trainer is
                                destroyed, so a host backend need not copy them */
    sf_staging_mode staging; /* least squares without decay or a kept R factor (see
                                sf_trainer_stage); default AUTO */
    size_t staging_rows;     /* rows per staging slot (0: 65536, fewer for rows wider than
                                512 features: slots of at most 256 MiB) */
    bool staging_float32;    /* the staging ring's slots hold features as float32: half the
                                bytes to the device; values are rounded to float on entry and
                                everything after is float64 (exact for the rounded values).
                                Applies while least squares feeds through the ring */
} sf_fit_params;

SF_API void sf_fit_params_init(sf_fit_params *p);

typedef struct sf_trainer sf_trainer;
typedef struct sf_model sf_model;

/* n_classes: 2 for logistic, K >= 2 for softmax (labels are class indices
 * 0..K-1 as doubles), ignored for least squares. */
SF_API sf_status sf_trainer_create(sf_context *ctx, const sf_fit_params *params, size_t n_features,
                                   size_t n_classes, sf_trainer **out);
SF_API void sf_trainer_destroy(sf_trainer *t);

/* Add a micro-batch to the exact fit (statistics merged at once; batches kept
 * on the backend when keep_batches). */
SF_API sf_status sf_trainer_add_batch(sf_trainer *t, const double *X, const double *y, size_t rows);

/* Zero-copy feeding: the rows of the next micro-batch are written straight
 * into the trainer's staging memory (page-locked on a GPU), at most *cap rows,
 * then handed over with sf_trainer_commit, which returns without waiting for
 * the device. Commit is sf_trainer_add_batch (or, after the warm-up,
 * sf_trainer_update) on those rows: add_batch while the trainer keeps
 * batches, update after. Without a staging ring (classifiers, a decaying or
 * R-keeping least-squares fit, SF_STAGING_DIRECT), and with float32 slots
 * (staging_float32: commit rounds the rows into a slot), the memory is a host
 * buffer of the trainer and commit copies as add_batch would. The pointers
 * are valid until the next stage, commit or destroy. */
SF_API sf_status sf_trainer_stage(sf_trainer *t, double **X, double **y, size_t *cap);
SF_API sf_status sf_trainer_commit(sf_trainer *t, size_t rows);

/* The exact fit over everything added so far. */
SF_API sf_status sf_trainer_fit(sf_trainer *t, sf_model **out);
/* Make the next sf_trainer_fit one fit over the rows of every MPI rank: each
 * rank adds its own rows (rows never move), then every rank calls
 * sf_trainer_fit, which combines the least-squares statistics (the same
 * pairwise merges, rank by rank) or sums each iteration's loss, gradient and
 * Hessian, so that every rank gets the same model. Needs keep_batches; one
 * fit per trainer. Without MPI or with one rank, nothing changes.
 * After the exact phase the streaming updates span the ranks too, and are
 * collective: every rank calls sf_trainer_predict_update once per logical
 * batch with its part of it (rows = 0 for an empty part); least squares
 * merges the parts' statistics (then forgets once per batch with decay),
 * logistic/softmax take one FTRL step on the union's mean gradient, so every
 * rank holds the model one process gets from the union of the parts in rank
 * order. Not with a kept R factor (solver qr): SF_ERR_UNSUPPORTED. */
SF_API sf_status sf_trainer_span_ranks(sf_trainer *t);

/* Streaming update with one micro-batch: least squares merges the batch's
 * statistics exactly; logistic/softmax take one FTRL-Proximal step. The first
 * update on a trainer that keeps batches ends its exact phase
 * (sf_trainer_end_warmup). */
SF_API sf_status sf_trainer_update(sf_trainer *t, const double *X, const double *y, size_t rows);

/* Test-then-train on one micro-batch: the rows are uploaded (staged) once,
 * predicted with the model as it was before the batch, then learned from
 * exactly as sf_trainer_update would. value (rows): the regression value, or
 * the predicted class index (the trainer's labels, 0..K-1); proba (rows x
 * n_classes, may be NULL): class probabilities. The predictions are those
 * sf_predict gives with a sf_trainer_snapshot taken before the call (bit for
 * bit on the CPU backend), without building one. Labels are checked first: a
 * bad label changes nothing. Like sf_trainer_update, the first call on a
 * trainer that keeps batches ends its exact phase. */
SF_API sf_status sf_trainer_predict_update(sf_trainer *t, const double *X, const double *y,
                                           size_t rows, double *value, double *proba);

/* The current model of the streaming state (after sf_trainer_update). */
SF_API sf_status sf_trainer_snapshot(sf_trainer *t, sf_model **out);

/* ---- streaming state ---- */

/* After the warm-up fit: release the kept batches; from now on the trainer
 * learns with sf_trainer_update (least squares keeps its merged statistics,
 * and its R factor with the qr solver, or with auto when the condition
 * estimate of the warm-up asks for the QR path). */
SF_API sf_status sf_trainer_end_warmup(sf_trainer *t);

/* Logistic/softmax: replace the parameters by an exact fit on these rows
 * (with the trainer's scaler) and restart the mini-batch update from them. */
SF_API sf_status sf_trainer_refit(sf_trainer *t, const double *X, const double *y, size_t rows);

/* Rows merged so far. */
SF_API uint64_t sf_trainer_rows(const sf_trainer *t);

/* The whole streaming state (statistics, parameters, optimizer state,
 * scaler) as bytes, and back: a restored trainer continues bit for bit.
 * sf_trainer_save_state allocates *buf (free with free()). A state that is
 * cut short, of another model, or holds non-finite numbers is refused
 * (SF_ERR_BAD_MODEL_FILE / SF_ERR_INVALID_ARGUMENT); the trainer is then left
 * without a streaming state, fit only to be destroyed or loaded again. */
SF_API sf_status sf_trainer_save_state(const sf_trainer *t, unsigned char **buf, size_t *len);
SF_API sf_status sf_trainer_load_state(sf_trainer *t, const unsigned char *buf, size_t len);

/* Least squares: merge the statistics of another trainer's saved state (same
 * model, features and solver) into this one, exactly (the pairwise update),
 * e.g. to combine the work of several processes. */
SF_API sf_status sf_trainer_merge_state(sf_trainer *t, const unsigned char *buf, size_t len);

/* What the last fit did (for logs and tests). */
typedef struct sf_fit_report {
    sf_solver_kind solver_used;
    int iterations;
    double grad_norm;
    double rcond; /* reciprocal condition estimate of the scaled system */
    int refinement_steps;
    bool rank_deficient; /* the rank-revealing fallback was used */
    /* Logistic/softmax with solver AUTO: the estimated cost of each solver
     * that chose it (model_logit.c: multiply-adds over the rows, iteration
     * counts estimated); both 0 when the solver was given. */
    double cost_newton, cost_lbfgs;
    /* L-BFGS stopped short of the tolerance and Newton finished from there. */
    bool newton_finished;
} sf_fit_report;
SF_API void sf_trainer_report(const sf_trainer *t, sf_fit_report *out);

/* ---- models ---- */
SF_API sf_model *sf_model_create(sf_model_kind kind, size_t n_features, size_t n_classes);
SF_API void sf_model_destroy(sf_model *m);
SF_API sf_model_kind sf_model_kind_of(const sf_model *m);
SF_API size_t sf_model_n_features(const sf_model *m);
/* 1 for least squares and binary logistic (one coefficient row), K for softmax. */
SF_API size_t sf_model_n_outputs(const sf_model *m);
SF_API size_t sf_model_n_classes(const sf_model *m);
/* Row k of the coefficients in raw feature units (n_features values). */
SF_API double *sf_model_coefficients(sf_model *m, size_t k);
SF_API double *sf_model_intercepts(sf_model *m); /* n_outputs values */
/* Class labels as they appeared in the data (n_classes values). */
SF_API double *sf_model_classes(sf_model *m);
SF_API const double *sf_model_classes_const(const sf_model *m);

SF_API sf_status sf_model_set_feature_names(sf_model *m, const char *const *names,
                                            const char *label);
SF_API const char *sf_model_feature_name(const sf_model *m, size_t j);
SF_API const char *sf_model_label_name(const sf_model *m);
SF_API void sf_model_set_counts(sf_model *m, uint64_t rows_seen, uint64_t rows_skipped);
SF_API uint64_t sf_model_rows_seen(const sf_model *m);
/* The version of a model, "b<batches>-<hash>" (e.g. "b1234-3fa9c2d1"): the
 * stream batches learned after its fit (sf_model_set_batches; 0 for a model
 * from sf_trainer_fit) and 8 hex digits of a 64-bit FNV-1a hash, folded to
 * 32 bits, over its kind name, shape, classes, intercepts and coefficients
 * (the float64 bytes as stored, little-endian). Equal parameters give equal
 * versions on every run; the model file keeps it ("model_version"). buf
 * needs SF_MODEL_VERSION_LEN bytes. */
#define SF_MODEL_VERSION_LEN 32
SF_API void sf_model_set_batches(sf_model *m, uint64_t batches);
SF_API uint64_t sf_model_batches(const sf_model *m);
SF_API void sf_model_version(const sf_model *m, char *buf, size_t len);
SF_API double sf_model_lambda(const sf_model *m);
SF_API bool sf_model_standardized(const sf_model *m);
SF_API bool sf_model_has_intercept(const sf_model *m);
/* Scaler (n_features each) when standardized, else NULL. */
SF_API const double *sf_model_scaler_mean(const sf_model *m);
SF_API const double *sf_model_scaler_std(const sf_model *m);

/* Predict rows. `value` (rows): the regression value, or the predicted class
 * label; `proba` (rows x n_classes, may be NULL): class probabilities. */
SF_API sf_status sf_predict(sf_context *ctx, const sf_model *m, const double *X, size_t rows,
                            double *value, double *proba);

/* Model files: JSON, written atomically (temp file, fsync, rename). */
SF_API sf_status sf_model_save(const sf_model *m, const char *path, char *err, size_t errlen);
SF_API sf_status sf_model_load(const char *path, sf_model **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
