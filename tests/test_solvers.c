/*
 * test_solvers.c — numerical tests of the fitting code through the public
 * API, on the CPU backend:
 *   - NIST StRD linear least squares (Longley, Norris, Wampler1): log relative
 *     error of every coefficient against the certified values, for solvers
 *     auto and qr, one batch and batches of 3 rows;
 *   - breast cancer: L2 logistic regression on standardized features against
 *     the stored reference fit (raw-unit coefficients), Newton and L-BFGS;
 *   - random problems cross-checked against the independent reference in
 *     reference.c: OLS / ridge (standardize, intercept, every least-squares
 *     solver, one batch vs many), logistic / softmax (Newton, L-BFGS);
 *   - the logistic solver chosen by estimated cost (L-BFGS wide, Newton
 *     narrow and tall), both solvers at the tolerance and in agreement, and
 *     (tall: started from a subsample's solution) against the reference;
 *   - the same fit bit for bit on 1, 2 and 3 CPU threads;
 *   - the streaming update on every NIST StRD linear set in batches of 3 and
 *     1 rows (certified digits), through a checkpoint (bit for bit) and a
 *     merge of states; an ill-conditioned stream with forgetting against a
 *     weighted fit, and for OLS / ridge, intercept, standardize against its
 *     exact (rational) solution;
 *   - streaming: merged least-squares statistics vs the exact fit, FTRL
 *     updates after an exact classifier fit and from a cold start;
 *   - a rank-deficient OLS problem, and the error statuses of the trainer.
 *
 * Error measures: "relative" means norm-wise, max_j |est_j - ref_j| /
 * max_j |ref_j| over all coefficients and intercepts of a model, unless a
 * check says component-wise. LRE = -log10(|est - cert| / |cert|), absolute
 * when cert == 0, capped at 16.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "streamfit.h"

static sf_context *g_ctx;

/* ---------------------------------------------------------------- helpers */

static int group_setup(void **state)
{
    (void)state;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    return sf_context_create(&co, &g_ctx) == SF_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    sf_context_destroy(g_ctx);
    g_ctx = NULL;
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

/* A CSV file with a header line and the label in the first column: X (n x d,
 * row-major) and y, both malloc'ed. */
static void read_csv(const char *path, double **X, double **y, size_t *n, size_t *d)
{
    char *text = read_text(path);
    if (!text) fail_msg("cannot read %s", path);
    char *p = strchr(text, '\n');
    assert_non_null(p);
    size_t cols = 1;
    for (const char *c = text; c < p; c++)
        cols += *c == ',';
    assert_true(cols >= 2);
    size_t cap = 64, rows = 0, dd = cols - 1;
    double *xs = malloc(sizeof(double) * cap * dd), *ys = malloc(sizeof(double) * cap);
    p++;
    while (*p) {
        if (*p == '\n' || *p == '\r') {
            p++;
            continue;
        }
        if (rows == cap) {
            cap *= 2;
            xs = realloc(xs, sizeof(double) * cap * dd);
            ys = realloc(ys, sizeof(double) * cap);
        }
        assert_non_null(xs);
        assert_non_null(ys);
        for (size_t c = 0; c < cols; c++) {
            char *end;
            double v = strtod(p, &end);
            if (end == p) fail_msg("%s: bad number at row %zu column %zu", path, rows + 1, c + 1);
            if (c == 0)
                ys[rows] = v;
            else
                xs[rows * dd + c - 1] = v;
            p = end;
            if (c + 1 < cols) {
                if (*p != ',') fail_msg("%s: row %zu has too few fields", path, rows + 1);
                p++;
            }
        }
        rows++;
    }
    free(text);
    *X = xs;
    *y = ys;
    *n = rows;
    *d = dd;
}

/* The numbers of the JSON array that follows the first occurrence of `key`
 * (a quoted key such as "\"coefficients\""); returns how many were read. */
static size_t json_array_after(const char *text, const char *key, double *out, size_t max)
{
    const char *p = strstr(text, key);
    if (!p) return 0;
    p = strchr(p + strlen(key), '[');
    if (!p) return 0;
    p++;
    size_t n = 0;
    while (*p && *p != ']') {
        if (*p == ',' || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
            p++;
            continue;
        }
        char *end;
        double v = strtod(p, &end);
        if (end == p || n == max) return 0;
        out[n++] = v;
        p = end;
    }
    return n;
}

static bool json_number_after(const char *text, const char *key, double *out)
{
    const char *p = strstr(text, key);
    if (!p) return false;
    p = strchr(p + strlen(key), ':');
    if (!p) return false;
    char *end;
    *out = strtod(p + 1, &end);
    return end != p + 1;
}

/* Fit a fresh trainer on rows added in batches of `batch` rows (0: one batch). */
static sf_status fit_rows(const sf_fit_params *par, size_t d, size_t K, const double *X,
                          const double *y, size_t n, size_t batch, sf_model **out,
                          sf_fit_report *rep)
{
    sf_trainer *t = NULL;
    *out = NULL;
    if (batch == 0) batch = n;
    sf_status st = sf_trainer_create(g_ctx, par, d, K, &t);
    for (size_t i = 0; st == SF_OK && i < n; i += batch) {
        size_t r = n - i < batch ? n - i : batch;
        st = sf_trainer_add_batch(t, X + i * d, y + i, r);
    }
    if (st == SF_OK) st = sf_trainer_fit(t, out);
    if (rep && t) sf_trainer_report(t, rep);
    sf_trainer_destroy(t);
    return st;
}

/* All coefficients (row by row) then all intercepts of a model. */
static size_t model_params(sf_model *m, double *out)
{
    size_t d = sf_model_n_features(m), outs = sf_model_n_outputs(m);
    for (size_t k = 0; k < outs; k++)
        memcpy(out + k * d, sf_model_coefficients(m, k), sizeof(double) * d);
    memcpy(out + outs * d, sf_model_intercepts(m), sizeof(double) * outs);
    return outs * (d + 1);
}

static bool all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

/* Mean log loss of a classifier on (X, y) through sf_predict's probabilities. */
static double model_log_loss(const sf_model *m, const double *X, const double *y, size_t n)
{
    size_t K = sf_model_n_classes(m);
    double *val = malloc(sizeof(double) * n), *proba = malloc(sizeof(double) * n * K);
    assert_non_null(val);
    assert_non_null(proba);
    assert_int_equal(sf_predict(g_ctx, m, X, n, val, proba), SF_OK);
    double ll = 0;
    for (size_t i = 0; i < n; i++) {
        double p = proba[i * K + (size_t)y[i]];
        ll -= log(p > 1e-300 ? p : 1e-300);
    }
    free(val);
    free(proba);
    return ll / (double)n;
}

/* --------------------------------------------------------------- NIST StRD */

static double nist_min_lre(sf_model *m, const double *cert, size_t d)
{
    double lre = ref_lre(sf_model_intercepts(m)[0], cert[0]);
    const double *w = sf_model_coefficients(m, 0);
    for (size_t j = 0; j < d; j++) {
        double l = ref_lre(w[j], cert[j + 1]);
        if (l < lre) lre = l;
    }
    return lre;
}

static void nist_check(const char *name)
{
    char path[1024];
    double *X, *y;
    size_t n, d;
    snprintf(path, sizeof path, "%s/nist/%s.csv", SF_TEST_DATA, name);
    read_csv(path, &X, &y, &n, &d);
    snprintf(path, sizeof path, "%s/nist/%s.json", SF_TEST_DATA, name);
    char *json = read_text(path);
    assert_non_null(json);
    double cert[32];
    size_t nc = json_array_after(json, "\"coefficients\"", cert, 32);
    free(json);
    assert_int_equal(nc, d + 1);

    const sf_solver_kind solvers[] = {SF_SOLVER_AUTO, SF_SOLVER_QR};
    const size_t batches[] = {0, 3};
    double worst = 16;
    for (size_t s = 0; s < 2; s++)
        for (size_t b = 0; b < 2; b++) {
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = SF_MODEL_OLS;
            par.solver = solvers[s];
            sf_model *m = NULL;
            sf_fit_report rep;
            assert_int_equal(fit_rows(&par, d, 0, X, y, n, batches[b], &m, &rep), SF_OK);
            double lre = nist_min_lre(m, cert, d);
            printf("NIST %-8s solver %-4s %s: min LRE %.2f (used %s, refinement steps %d)\n", name,
                   sf_solver_kind_name(solvers[s]), batches[b] ? "batches of 3" : "one batch   ",
                   lre, sf_solver_kind_name(rep.solver_used), rep.refinement_steps);
            if (lre < 9)
                fail_msg("%s solver %s batch %zu: min LRE %.2f < 9", name,
                         sf_solver_kind_name(solvers[s]), batches[b], lre);
            if (lre < worst) worst = lre;
            sf_model_destroy(m);
        }
    printf("NIST %-8s min LRE over all fits: %.2f\n", name, worst);
    free(X);
    free(y);
}

/* A NIST StRD linear set: rows, certified [intercept (0 without), coefficients]. */
static void nist_load(const char *name, double **X, double **y, size_t *n, size_t *d, double *cert,
                      bool *icpt)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/nist/%s.csv", SF_TEST_DATA, name);
    read_csv(path, X, y, n, d);
    snprintf(path, sizeof path, "%s/nist/%s.json", SF_TEST_DATA, name);
    char *json = read_text(path);
    assert_non_null(json);
    *icpt = strstr(json, "\"intercept\": false") == NULL;
    size_t nc = json_array_after(json, "\"coefficients\"", cert + (*icpt ? 0 : 1), 31);
    free(json);
    assert_int_equal(nc, *d + (*icpt ? 1 : 0));
    if (!*icpt) cert[0] = 0;
}

/* A streaming least-squares trainer (no rows kept). */
static sf_trainer *streaming_trainer(size_t d, bool icpt, double decay)
{
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.model = SF_MODEL_OLS;
    par.fit_intercept = icpt;
    par.keep_batches = false;
    par.decay = decay;
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, d, 0, &t), SF_OK);
    return t;
}

/* Rows [from, to) into t by sf_trainer_update, `batch` rows at a time. */
static void stream_rows(sf_trainer *t, const double *X, const double *y, size_t d, size_t from,
                        size_t to, size_t batch)
{
    for (size_t i = from; i < to; i += batch) {
        size_t r = to - i < batch ? to - i : batch;
        assert_int_equal(sf_trainer_update(t, X + i * d, y + i, r), SF_OK);
    }
}

/* The streaming update (no rows kept: sf_trainer_update merges each batch's
 * statistics) on every linear NIST StRD set in project data, batches of 3
 * rows and of one row: the certified digits of the exact fit (LRE >= 9, Filip
 * >= 7), however few rows each merged part holds. */
static void test_nist_streaming(void **state)
{
    (void)state;
    const char *sets[] = {"Longley",  "Norris",   "Pontius",  "NoInt1",   "Filip",
                          "Wampler1", "Wampler2", "Wampler3", "Wampler4", "Wampler5"};
    const size_t batches[] = {3, 1};
    int failures = 0;
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
        double *X, *y, cert[32];
        size_t n, d;
        bool icpt;
        nist_load(sets[k], &X, &y, &n, &d, cert, &icpt);
        double need = strcmp(sets[k], "Filip") == 0 ? 7 : 9;
        for (size_t b = 0; b < 2; b++) {
            sf_trainer *t = streaming_trainer(d, icpt, 0);
            stream_rows(t, X, y, d, 0, n, batches[b]);
            sf_model *m = NULL;
            assert_int_equal(sf_trainer_snapshot(t, &m), SF_OK);
            double lre = nist_min_lre(m, cert, d);
            printf("NIST %-8s streaming, batches of %zu: min LRE %.2f\n", sets[k], batches[b], lre);
            if (lre < need) failures++;
            sf_model_destroy(m);
            sf_trainer_destroy(t);
        }
        free(X);
        free(y);
    }
    if (failures) fail_msg("%d streaming NIST fits below their certified digits", failures);
}

static void assert_same_model(sf_model *a, sf_model *b)
{
    double va[33], vb[33];
    size_t k = model_params(a, va);
    assert_int_equal(model_params(b, vb), k);
    assert_memory_equal(va, vb, sizeof(double) * k);
}

/* An ill-conditioned stream (Wampler5, Filip) in batches of 3 through a
 * checkpoint: saved half way and loaded into a fresh trainer, it ends bit
 * for bit where the uninterrupted stream does (states byte for byte); two
 * halves streamed apart and merged (sf_trainer_merge_state) keep the
 * certified digits; a state saved without exact sums (after a warm-up with
 * kept rows) still loads and streams on. */
static void test_nist_streaming_checkpoint(void **state)
{
    (void)state;
    const char *sets[] = {"Wampler5", "Filip"};
    for (size_t k = 0; k < 2; k++) {
        double *X, *y, cert[32];
        size_t n, d;
        bool icpt;
        nist_load(sets[k], &X, &y, &n, &d, cert, &icpt);
        double need = strcmp(sets[k], "Filip") == 0 ? 7 : 9;
        size_t half = n / 2 / 3 * 3;
        sf_trainer *whole = streaming_trainer(d, icpt, 0);
        stream_rows(whole, X, y, d, 0, n, 3);

        sf_trainer *first = streaming_trainer(d, icpt, 0);
        stream_rows(first, X, y, d, 0, half, 3);
        unsigned char *buf = NULL, *end_a = NULL, *end_b = NULL;
        size_t len = 0, len_a = 0, len_b = 0;
        assert_int_equal(sf_trainer_save_state(first, &buf, &len), SF_OK);
        sf_trainer *resumed = streaming_trainer(d, icpt, 0);
        assert_int_equal(sf_trainer_load_state(resumed, buf, len), SF_OK);
        free(buf);
        stream_rows(resumed, X, y, d, half, n, 3);
        sf_model *a = NULL, *b = NULL;
        assert_int_equal(sf_trainer_snapshot(whole, &a), SF_OK);
        assert_int_equal(sf_trainer_snapshot(resumed, &b), SF_OK);
        assert_same_model(a, b);
        assert_int_equal(sf_trainer_save_state(whole, &end_a, &len_a), SF_OK);
        assert_int_equal(sf_trainer_save_state(resumed, &end_b, &len_b), SF_OK);
        assert_int_equal(len_a, len_b);
        assert_memory_equal(end_a, end_b, len_a);
        double lre_resumed = nist_min_lre(b, cert, d);
        sf_model_destroy(b);

        sf_trainer *second = streaming_trainer(d, icpt, 0);
        stream_rows(second, X, y, d, half, n, 3);
        assert_int_equal(sf_trainer_save_state(second, &buf, &len), SF_OK);
        assert_int_equal(sf_trainer_merge_state(first, buf, len), SF_OK);
        free(buf);
        assert_int_equal(sf_trainer_snapshot(first, &b), SF_OK);
        double lre_merged = nist_min_lre(b, cert, d);
        printf("NIST %-8s streaming through a checkpoint: min LRE %.2f (bit for bit), merged "
               "halves: %.2f\n",
               sets[k], lre_resumed, lre_merged);
        if (lre_resumed < need || lre_merged < need)
            fail_msg("%s: resumed LRE %.2f, merged LRE %.2f below %g", sets[k], lre_resumed,
                     lre_merged, need);
        sf_model_destroy(a);
        sf_model_destroy(b);

        /* Kept rows, then streaming: a state without exact sums. */
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.fit_intercept = icpt;
        sf_trainer *warm = NULL;
        assert_int_equal(sf_trainer_create(g_ctx, &par, d, 0, &warm), SF_OK);
        assert_int_equal(sf_trainer_add_batch(warm, X, y, half), SF_OK);
        assert_int_equal(sf_trainer_end_warmup(warm), SF_OK);
        assert_int_equal(sf_trainer_save_state(warm, &buf, &len), SF_OK);
        sf_trainer *plain = streaming_trainer(d, icpt, 0);
        assert_int_equal(sf_trainer_load_state(plain, buf, len), SF_OK);
        free(buf);
        stream_rows(plain, X, y, d, half, n, 3);
        assert_int_equal(sf_trainer_snapshot(plain, &b), SF_OK);
        assert_int_equal(sf_model_rows_seen(b), n);
        sf_model_destroy(b);

        free(end_a);
        free(end_b);
        sf_trainer_destroy(warm);
        sf_trainer_destroy(plain);
        sf_trainer_destroy(whole);
        sf_trainer_destroy(first);
        sf_trainer_destroy(second);
        sf_trainer_destroy(resumed);
        free(X);
        free(y);
    }
}

/* Exponential forgetting on an ill-conditioned stream (cubic and quartic
 * terms of x in [1, 7), batches of 3, decay 3/4 per batch): the snapshot
 * equals the weighted least-squares fit (weight decay^(batches after the
 * row's)) computed in long double, to near double precision. */
enum { POLY_N = 96, POLY_D = 4 };

/* Rows of an ill-conditioned polynomial stream: x, x^2, x^3, x^4 for x on a
 * grid in [1, 7) (every value exact in binary), a quartic label with noise. */
static void gen_poly(double *X, double *y)
{
    for (size_t i = 0; i < POLY_N; i++) {
        double x = 1 + (double)i / 16;
        for (size_t j = 0; j < POLY_D; j++)
            X[i * POLY_D + j] = pow(x, (double)(j + 1));
        y[i] = 2 - x + 0.5 * X[i * POLY_D + 1] - 0.25 * X[i * POLY_D + 3] +
               (double)((i * 7) % 11) / 64;
    }
}

static void test_streaming_decay_exact(void **state)
{
    (void)state;
    enum { N = POLY_N, D = POLY_D, B = 3 };
    const double decay = 0.75;
    double X[N * D], y[N];
    gen_poly(X, y);
    /* The reference: weighted, centered normal equations in long double. */
    long double wsum = 0, mean[D + 1] = {0}, C[D * D] = {0}, c[D] = {0};
    for (size_t i = 0; i < N; i++) {
        long double w = powl(decay, (long double)((N - 1) / B - i / B));
        wsum += w;
        for (size_t j = 0; j <= D; j++)
            mean[j] += w * (j < D ? X[i * D + j] : y[i]);
    }
    for (size_t j = 0; j <= D; j++)
        mean[j] /= wsum;
    for (size_t i = 0; i < N; i++) {
        long double w = powl(decay, (long double)((N - 1) / B - i / B));
        for (size_t r = 0; r < D; r++) {
            long double xr = X[i * D + r] - mean[r];
            for (size_t q = 0; q < D; q++)
                C[r * D + q] += w * xr * (X[i * D + q] - mean[q]);
            c[r] += w * xr * (y[i] - mean[D]);
        }
    }
    assert_true(ref_gauss_solve(D, C, c));
    double ref[D + 1];
    long double b0 = mean[D];
    for (size_t j = 0; j < D; j++) {
        ref[j] = (double)c[j];
        b0 -= mean[j] * c[j];
    }
    ref[D] = (double)b0;

    sf_trainer *t = streaming_trainer(D, true, decay);
    stream_rows(t, X, y, D, 0, N, B);
    sf_model *m = NULL;
    assert_int_equal(sf_trainer_snapshot(t, &m), SF_OK);
    double got[D + 1];
    model_params(m, got);
    double e = ref_max_comp_rel_err(got, ref, D + 1);
    printf("streaming least squares, decay %.2f, batches of %d: component-wise difference from "
           "the long double weighted fit %.3e\n",
           decay, B, e);
    if (!(e <= 1e-11)) fail_msg("decayed stream differs by %.3e from the weighted fit", e);
    sf_model_destroy(m);
    sf_trainer_destroy(t);
}

/* The same ill-conditioned stream in batches of 3 for OLS and ridge (lambda
 * 1e-6: the condition estimate stays low, the exact sums are kept), with and
 * without intercept and standardize: the exact least-squares solution of the
 * objective in README.md (penalty lambda std_j^2 w_j^2 with standardize,
 * lambda w_j^2 without; std the population std), computed in rational
 * arithmetic from the same doubles and rounded once, to a few units of
 * rounding. */
static void test_streaming_exact_variants(void **state)
{
    (void)state;
    enum { N = POLY_N, D = POLY_D };
    /* [w (4), b] by (ridge, intercept, standardize). */
    static const double exact[8][D + 1] = {
        {1.7047472665018548, -0.6595066505958791, 0.20045078253592336, -0.26206253107529476, 0},
        {1.7047472665018548, -0.6595066505958791, 0.20045078253592336, -0.26206253107529476, 0},
        {-0.99079852467247687, 0.49886093930450615, -0.00029237523686629756, -0.24995265788343865,
         2.0660765188319181},
        {-0.99079852467247687, 0.49886093930450615, -0.00029237523686629756, -0.24995265788343865,
         2.0660765188319181},
        {1.7047465245624076, -0.65950609367227986, 0.20045065493398753, -0.2620625219318321, 0},
        {1.7041711331981326, -0.65903912377559259, 0.20033760059452291, -0.2620540820321387, 0},
        {-0.99078525677251994, 0.49885509241108594, -0.00029134299952496512, -0.24995272103652469,
         2.0660666954187832},
        {-0.99569383992461491, 0.50111734701205446, -0.00070606873368544813, -0.24992654709513198,
         2.0695285611756802},
    };
    double X[N * D], y[N];
    gen_poly(X, y);
    double worst = 0;
    for (int k = 0; k < 8; k++) {
        int ridge = k >> 2, icpt = (k >> 1) & 1, stdz = k & 1;
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.model = ridge ? SF_MODEL_RIDGE : SF_MODEL_OLS;
        par.lambda = ridge ? 1e-6 : 0;
        par.fit_intercept = icpt;
        par.standardize = stdz;
        par.keep_batches = false;
        sf_trainer *t = NULL;
        assert_int_equal(sf_trainer_create(g_ctx, &par, D, 0, &t), SF_OK);
        stream_rows(t, X, y, D, 0, N, 3);
        sf_model *m = NULL;
        assert_int_equal(sf_trainer_snapshot(t, &m), SF_OK);
        double got[D + 1];
        model_params(m, got);
        double e = ref_max_comp_rel_err(got, exact[k], D + 1);
        if (!(e <= 1e-13))
            fail_msg("%s intercept %d standardize %d: component-wise %.3e from the exact solution",
                     ridge ? "ridge" : "ols", icpt, stdz, e);
        worst = fmax(worst, e);
        sf_model_destroy(m);
        sf_trainer_destroy(t);
    }
    printf("exact streams (ols, ridge; intercept, standardize): worst component-wise difference "
           "from the exact solution %.3e\n",
           worst);
}

static void test_nist_longley(void **state)
{
    (void)state;
    nist_check("Longley");
}

static void test_nist_norris(void **state)
{
    (void)state;
    nist_check("Norris");
}

static void test_nist_wampler1(void **state)
{
    (void)state;
    nist_check("Wampler1");
}

/* ----------------------------------------------------------- breast cancer */

static void test_breast_cancer_logistic(void **state)
{
    (void)state;
    char path[1024];
    double *X, *y;
    size_t n, d;
    snprintf(path, sizeof path, "%s/real/breast_cancer.csv", SF_TEST_DATA);
    read_csv(path, &X, &y, &n, &d);
    assert_int_equal(n, 569);
    assert_int_equal(d, 30);
    snprintf(path, sizeof path, "%s/real/breast_cancer_logreg.json", SF_TEST_DATA);
    char *json = read_text(path);
    assert_non_null(json);
    const char *raw = strstr(json, "\"raw_feature_equivalent\"");
    assert_non_null(raw);
    double ref[31];
    assert_int_equal(json_array_after(raw, "\"w_raw\"", ref, 30), 30);
    assert_true(json_number_after(raw, "\"b_raw\"", &ref[30]));
    free(json);

    const sf_solver_kind solvers[] = {SF_SOLVER_AUTO, SF_SOLVER_LBFGS};
    for (size_t s = 0; s < 2; s++) {
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.model = SF_MODEL_LOGISTIC;
        par.standardize = true;
        par.lambda = 1e-2;
        par.solver = solvers[s];
        sf_model *m = NULL;
        sf_fit_report rep;
        assert_int_equal(fit_rows(&par, d, 2, X, y, n, 0, &m, &rep), SF_OK);
        double est[31];
        model_params(m, est);
        double comp = ref_max_comp_rel_err(est, ref, 31);
        double norm = ref_rel_err(est, ref, 31);
        printf("breast cancer %-6s (used %s, %d iterations, grad norm %.2e): max relative "
               "error %.3e (norm-wise %.3e)\n",
               sf_solver_kind_name(solvers[s]), sf_solver_kind_name(rep.solver_used),
               rep.iterations, rep.grad_norm, comp, norm);
        if (!(comp <= 1e-6)) fail_msg("max relative error %.3e > 1e-6", comp);
        sf_model_destroy(m);
    }
    free(X);
    free(y);
}

/* ------------------------------------------------ random least squares */

/* n x d correlated features with different means and scales; y linear + noise. */
static void gen_lsq(uint64_t seed, size_t n, size_t d, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    double w[16];
    for (size_t j = 0; j < d; j++)
        w[j] = (0.5 + 1.5 * ref_rng_uniform(&r)) * (j % 2 ? -1 : 1);
    for (size_t i = 0; i < n; i++) {
        double common = ref_rng_normal(&r);
        double t = 2.0;
        for (size_t j = 0; j < d; j++) {
            double scale = pow(10.0, (double)(j % 3) - 1.0);
            double x = 3.0 * (double)(j + 1) + scale * (ref_rng_normal(&r) + 0.4 * common);
            X[i * d + j] = x;
            t += w[j] * x;
        }
        y[i] = t + 0.5 * ref_rng_normal(&r);
    }
}

static void test_random_least_squares(void **state)
{
    (void)state;
    enum { N = 400, D = 5 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    assert_non_null(X);
    assert_non_null(y);
    gen_lsq(42, N, D, X, y);
    const sf_solver_kind solvers[] = {SF_SOLVER_CHOLESKY, SF_SOLVER_QR, SF_SOLVER_AUTO};
    double worst_ref = 0, worst_merge = 0;
    for (int model = 0; model < 2; model++)
        for (int stdz = 0; stdz < 2; stdz++)
            for (int icpt = 0; icpt < 2; icpt++) {
                double lambda = model ? 25.0 : 0.0;
                double rw[D], rb;
                assert_true(ref_least_squares(X, y, N, D, lambda, icpt, stdz, rw, &rb));
                double ref[D + 1];
                memcpy(ref, rw, sizeof rw);
                ref[D] = rb;
                for (size_t s = 0; s < 3; s++) {
                    sf_fit_params par;
                    sf_fit_params_init(&par);
                    par.model = model ? SF_MODEL_RIDGE : SF_MODEL_OLS;
                    par.lambda = lambda;
                    par.standardize = stdz;
                    par.fit_intercept = icpt;
                    par.solver = solvers[s];
                    double est[2][D + 1];
                    for (int b = 0; b < 2; b++) {
                        sf_model *m = NULL;
                        assert_int_equal(fit_rows(&par, D, 0, X, y, N, b ? 7 : 0, &m, NULL), SF_OK);
                        model_params(m, est[b]);
                        sf_model_destroy(m);
                        if (!icpt) assert_true(est[b][D] == 0.0);
                        double e = ref_max_comp_rel_err(est[b], ref, D + 1);
                        if (!(e <= 1e-8))
                            fail_msg("%s lambda %g standardize %d intercept %d solver %s "
                                     "batches %d: relative error vs reference %.3e",
                                     model ? "ridge" : "ols", lambda, stdz, icpt,
                                     sf_solver_kind_name(solvers[s]), b, e);
                        if (e > worst_ref) worst_ref = e;
                    }
                    double e = ref_max_comp_rel_err(est[1], est[0], D + 1);
                    if (!(e <= 1e-8))
                        fail_msg("%s standardize %d intercept %d solver %s: one batch vs "
                                 "batches of 7 differ by %.3e",
                                 model ? "ridge" : "ols", stdz, icpt,
                                 sf_solver_kind_name(solvers[s]), e);
                    if (e > worst_merge) worst_merge = e;
                }
            }
    printf("least squares: worst component-wise relative error vs reference %.3e, "
           "one batch vs batches of 7 %.3e\n",
           worst_ref, worst_merge);
    free(X);
    free(y);
}

/* --------------------------------------------- random logistic / softmax */

/* Non-separable classification data: labels drawn from the model itself. */
static void gen_cls(uint64_t seed, size_t n, size_t d, size_t K, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    size_t outs = K == 2 ? 1 : K;
    double W[8 * 8], b[8];
    for (size_t k = 0; k < outs; k++) {
        for (size_t j = 0; j < d; j++)
            W[k * d + j] = 0.8 * ref_rng_normal(&r);
        b[k] = 0.3 * ref_rng_normal(&r);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = 0.5 * (double)j + (0.5 + 0.5 * (double)j) * ref_rng_normal(&r) /
                                                 (1.0 + 0.5 * (double)(j % 2));
        double t[8], mx = -INFINITY;
        for (size_t k = 0; k < outs; k++) {
            t[k] = b[k];
            for (size_t j = 0; j < d; j++)
                t[k] += W[k * d + j] * (X[i * d + j] - 0.5 * (double)j);
            if (t[k] > mx) mx = t[k];
        }
        double u = ref_rng_uniform(&r);
        if (outs == 1) {
            y[i] = u < 1.0 / (1.0 + exp(-t[0])) ? 1.0 : 0.0;
        } else {
            double s = 0, acc = 0;
            for (size_t k = 0; k < K; k++)
                s += exp(t[k] - mx);
            y[i] = (double)(K - 1);
            for (size_t k = 0; k < K; k++) {
                acc += exp(t[k] - mx) / s;
                if (u < acc) {
                    y[i] = (double)k;
                    break;
                }
            }
        }
    }
}

static void test_random_classifiers(void **state)
{
    (void)state;
    enum { N = 600, D = 4, KS = 3 };
    double *X = malloc(sizeof(double) * N * D), *y2 = malloc(sizeof(double) * N),
           *y3 = malloc(sizeof(double) * N);
    assert_non_null(X);
    assert_non_null(y2);
    assert_non_null(y3);
    gen_cls(7, N, D, 2, X, y2);
    /* Softmax: its own draw of features and labels. */
    double *X3 = malloc(sizeof(double) * N * D);
    assert_non_null(X3);
    gen_cls(11, N, D, KS, X3, y3);
    const sf_solver_kind solvers[] = {SF_SOLVER_NEWTON, SF_SOLVER_LBFGS};
    const double lambdas[] = {1e-2, 0.0};
    double worst = 0;
    for (int soft = 0; soft < 2; soft++)
        for (size_t l = 0; l < 2; l++)
            for (int stdz = 0; stdz < 2; stdz++)
                for (int icpt = 0; icpt < 2; icpt++) {
                    const double *Xs = soft ? X3 : X, *ys = soft ? y3 : y2;
                    size_t K = soft ? KS : 2, outs = soft ? KS : 1, P = outs * (D + 1);
                    double ref[KS * (D + 1)];
                    bool ok =
                        soft ? ref_softmax(Xs, ys, N, D, K, lambdas[l], icpt, stdz, ref,
                                           ref + outs * D)
                             : ref_logistic(Xs, ys, N, D, lambdas[l], icpt, stdz, ref, ref + D);
                    assert_true(ok);
                    for (size_t s = 0; s < 2; s++) {
                        sf_fit_params par;
                        sf_fit_params_init(&par);
                        par.model = soft ? SF_MODEL_SOFTMAX : SF_MODEL_LOGISTIC;
                        par.solver = solvers[s];
                        par.lambda = lambdas[l];
                        par.standardize = stdz;
                        par.fit_intercept = icpt;
                        sf_model *m = NULL;
                        sf_fit_report rep;
                        assert_int_equal(fit_rows(&par, D, K, Xs, ys, N, 0, &m, &rep), SF_OK);
                        double est[KS * (D + 1)];
                        assert_int_equal(model_params(m, est), P);
                        double e = ref_rel_err(est, ref, P);
                        if (!(e <= 1e-7))
                            fail_msg("%s lambda %g standardize %d intercept %d solver %s: "
                                     "relative error %.3e (iterations %d, grad norm %.2e)",
                                     soft ? "softmax" : "logistic", lambdas[l], stdz, icpt,
                                     sf_solver_kind_name(solvers[s]), e, rep.iterations,
                                     rep.grad_norm);
                        if (e > worst) worst = e;
                        if (soft) {
                            const double *b = sf_model_intercepts(m);
                            double sum = 0, mx = 0;
                            for (size_t k = 0; k < outs; k++) {
                                sum += b[k];
                                mx = fmax(mx, fabs(b[k]));
                            }
                            if (!(fabs(sum) <= 1e-12 * (1.0 + mx)))
                                fail_msg("softmax intercepts sum to %.3e", sum);
                        }
                        if (!icpt)
                            for (size_t k = 0; k < outs; k++)
                                assert_true(sf_model_intercepts(m)[k] == 0.0);
                        sf_model_destroy(m);
                    }
                }
    printf("logistic/softmax: worst relative error vs reference %.3e\n", worst);
    free(X);
    free(X3);
    free(y2);
    free(y3);
}

/* ------------------------------------------------ solver chosen by cost */

/* Logistic data with d features of unit scale, labels drawn from the model. */
static void gen_wide(uint64_t seed, size_t n, size_t d, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    double *w = malloc(sizeof(double) * d);
    assert_non_null(w);
    for (size_t j = 0; j < d; j++)
        w[j] = 2.0 * ref_rng_normal(&r) / sqrt((double)d);
    for (size_t i = 0; i < n; i++) {
        double t = 0.2;
        for (size_t j = 0; j < d; j++) {
            X[i * d + j] = ref_rng_normal(&r);
            t += w[j] * X[i * d + j];
        }
        y[i] = ref_rng_uniform(&r) < 1.0 / (1.0 + exp(-t)) ? 1.0 : 0.0;
    }
    free(w);
}

/* AUTO picks the solver of lower estimated cost: L-BFGS on a wide problem
 * (d = 300: a Newton pass forms a 301 x 301 Hessian per row), Newton on a
 * narrow tall one (d = 8, 50,000 rows); both solvers reach the gradient-norm
 * tolerance there and agree on the coefficients. */
static void test_solver_chosen_by_cost(void **state)
{
    (void)state;
    const size_t ns[] = {3000, 50000}, ds[] = {300, 8};
    const sf_solver_kind want[] = {SF_SOLVER_LBFGS, SF_SOLVER_NEWTON};
    for (size_t c = 0; c < 2; c++) {
        size_t n = ns[c], d = ds[c];
        double *X = malloc(sizeof(double) * n * d), *y = malloc(sizeof(double) * n);
        double *a = malloc(sizeof(double) * (d + 1)), *b = malloc(sizeof(double) * (d + 1));
        assert_true(X && y && a && b);
        gen_wide(100 + c, n, d, X, y);
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.model = SF_MODEL_LOGISTIC;
        par.lambda = 1e-3;
        sf_model *m_auto = NULL, *m_other = NULL;
        sf_fit_report rep, rep_other;
        assert_int_equal(fit_rows(&par, d, 2, X, y, n, 0, &m_auto, &rep), SF_OK);
        printf("logistic %zu x %zu auto: %s (cost newton %.3g, lbfgs %.3g), %d iterations, "
               "grad norm %.2e\n",
               n, d, sf_solver_kind_name(rep.solver_used), rep.cost_newton, rep.cost_lbfgs,
               rep.iterations, rep.grad_norm);
        assert_int_equal(rep.solver_used, want[c]);
        assert_true(rep.cost_newton > 0 && rep.cost_lbfgs > 0);
        assert_true((rep.cost_lbfgs < rep.cost_newton) == (want[c] == SF_SOLVER_LBFGS));
        assert_true(rep.grad_norm <= par.tol);
        par.solver = want[c] == SF_SOLVER_LBFGS ? SF_SOLVER_NEWTON : SF_SOLVER_LBFGS;
        assert_int_equal(fit_rows(&par, d, 2, X, y, n, 0, &m_other, &rep_other), SF_OK);
        assert_true(rep_other.grad_norm <= par.tol);
        assert_true(rep_other.cost_newton == 0); /* a given solver is no choice */
        model_params(m_auto, a);
        model_params(m_other, b);
        double e = ref_rel_err(a, b, d + 1);
        printf("  %s: %d iterations, grad norm %.2e; relative difference %.2e\n",
               sf_solver_kind_name(par.solver), rep_other.iterations, rep_other.grad_norm, e);
        if (!(e <= 1e-7)) fail_msg("newton and lbfgs differ by %.3e", e);
        if (d <= 8) { /* tall enough for the subsample start: the independent reference */
            double ref[9];
            assert_true(ref_logistic(X, y, n, d, par.lambda, true, false, ref, ref + d));
            double er = ref_rel_err(a, ref, d + 1);
            printf("  auto vs reference: relative error %.2e\n", er);
            if (!(er <= 1e-7)) fail_msg("auto differs from the reference by %.3e", er);
        }
        sf_model_destroy(m_auto);
        sf_model_destroy(m_other);
        free(X);
        free(y);
        free(a);
        free(b);
    }
}

/* ------------------------------------------------------ thread count */

/* The CPU backend adds its row blocks' partial sums in block order, so a fit
 * is the same bit for bit on 1, 2 or 3 threads (OLS and logistic, narrow
 * rows split across threads). */
static void test_same_bits_any_thread_count(void **state)
{
    (void)state;
    enum { N = 40000, D = 6 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    double *yc = malloc(sizeof(double) * N);
    assert_true(X && y && yc);
    gen_wide(7, N, D, X, yc);
    for (size_t i = 0; i < N; i++)
        y[i] = X[i * D] - 2.0 * X[i * D + 3] + 0.1 * yc[i];
    for (int cls = 0; cls < 2; cls++) {
        double first[D + 1];
        for (int threads = 1; threads <= 3; threads++) {
            sf_context_options co;
            sf_context_options_init(&co);
            co.device = SF_DEVICE_CPU;
            co.threads = threads;
            sf_context *ctx = NULL;
            assert_int_equal(sf_context_create(&co, &ctx), SF_OK);
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = cls ? SF_MODEL_LOGISTIC : SF_MODEL_OLS;
            par.lambda = cls ? 1e-3 : 0.0;
            sf_trainer *t = NULL;
            sf_model *m = NULL;
            assert_int_equal(sf_trainer_create(ctx, &par, D, 2, &t), SF_OK);
            assert_int_equal(sf_trainer_add_batch(t, X, cls ? yc : y, N), SF_OK);
            assert_int_equal(sf_trainer_fit(t, &m), SF_OK);
            double got[D + 1];
            model_params(m, got);
            if (threads == 1)
                memcpy(first, got, sizeof got);
            else if (memcmp(first, got, sizeof got) != 0)
                fail_msg("%s on %d threads differs from 1 thread", cls ? "logistic" : "ols",
                         threads);
            sf_model_destroy(m);
            sf_trainer_destroy(t);
            sf_context_destroy(ctx);
        }
    }
    free(X);
    free(y);
    free(yc);
}

/* --------------------------------------------------------------- streaming */

static void test_streaming_least_squares(void **state)
{
    (void)state;
    enum { N = 400, D = 5, B = 25 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    assert_non_null(X);
    assert_non_null(y);
    gen_lsq(99, N, D, X, y);
    const sf_solver_kind solvers[] = {SF_SOLVER_AUTO, SF_SOLVER_QR};
    double worst = 0;
    for (size_t s = 0; s < 2; s++)
        for (int icpt = 0; icpt < 2; icpt++) {
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = SF_MODEL_OLS;
            par.solver = solvers[s];
            par.fit_intercept = icpt;
            sf_model *exact = NULL;
            assert_int_equal(fit_rows(&par, D, 0, X, y, N, 0, &exact, NULL), SF_OK);

            par.keep_batches = false;
            sf_trainer *t = NULL;
            assert_int_equal(sf_trainer_create(g_ctx, &par, D, 0, &t), SF_OK);
            for (size_t i = 0; i < N; i += B)
                assert_int_equal(sf_trainer_update(t, X + i * D, y + i, B), SF_OK);
            sf_model *snap = NULL;
            assert_int_equal(sf_trainer_snapshot(t, &snap), SF_OK);
            assert_int_equal(sf_model_rows_seen(snap), N);
            double a[D + 1], b[D + 1];
            model_params(exact, a);
            model_params(snap, b);
            double e = ref_max_comp_rel_err(b, a, D + 1);
            if (!(e <= 1e-9))
                fail_msg("streaming %s intercept %d: relative difference %.3e from the exact fit",
                         sf_solver_kind_name(solvers[s]), icpt, e);
            if (e > worst) worst = e;
            sf_model_destroy(snap);
            sf_model_destroy(exact);
            sf_trainer_destroy(t);
        }
    printf("streaming least squares: worst component-wise difference from the exact fit %.3e\n",
           worst);
    free(X);
    free(y);
}

static void ftrl_check(bool softmax, bool standardize)
{
    enum { N = 1000, D = 4, UPDATES = 10, UB = 100 };
    size_t K = softmax ? 3 : 2;
    uint64_t seed = softmax ? 31 : 21;
    /* One stream from one distribution: the first N rows for the exact fit,
     * the rest for the updates. */
    size_t total = N + UPDATES * UB;
    double *X = malloc(sizeof(double) * total * D), *y = malloc(sizeof(double) * total);
    assert_non_null(X);
    assert_non_null(y);
    gen_cls(seed, total, D, K, X, y);
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.model = softmax ? SF_MODEL_SOFTMAX : SF_MODEL_LOGISTIC;
    par.lambda = 1e-2;
    par.standardize = standardize;
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, K, &t), SF_OK);
    assert_int_equal(sf_trainer_add_batch(t, X, y, N), SF_OK);
    sf_model *exact = NULL;
    assert_int_equal(sf_trainer_fit(t, &exact), SF_OK);
    double ll0 = model_log_loss(exact, X, y, N);
    for (size_t u = 0; u < UPDATES; u++)
        assert_int_equal(sf_trainer_update(t, X + (N + u * UB) * D, y + N + u * UB, UB), SF_OK);
    sf_model *snap = NULL;
    assert_int_equal(sf_trainer_snapshot(t, &snap), SF_OK);
    double p[4 * 5];
    assert_true(all_finite(p, model_params(snap, p)));
    double ll1 = model_log_loss(snap, X, y, N);
    double ll1_new = model_log_loss(snap, X + N * D, y + N, UPDATES * UB);
    printf("FTRL %s standardize %d: training log loss exact %.4f, after %d updates %.4f "
           "(on the update rows %.4f)\n",
           softmax ? "softmax" : "logistic", standardize, ll0, UPDATES, ll1, ll1_new);
    if (!(ll1 <= 1.5 * ll0)) fail_msg("log loss %.4f > 1.5 x %.4f", ll1, ll0);
    sf_model_destroy(snap);
    sf_model_destroy(exact);
    sf_trainer_destroy(t);
    free(X);
    free(y);
}

static void test_streaming_ftrl(void **state)
{
    (void)state;
    ftrl_check(false, false);
    ftrl_check(false, true);
    ftrl_check(true, false);
    ftrl_check(true, true);
}

/* FTRL from a cold start (no batches kept, no exact fit) learns: after 1000
 * steps of 100 rows its training log loss is within 10% of the exact fit's
 * (softmax gets there more slowly than logistic: about 3% after 1000). */
static void ftrl_cold_check(bool softmax)
{
    enum { N = 100000, D = 4, B = 100 };
    size_t K = softmax ? 3 : 2;
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    assert_non_null(X);
    assert_non_null(y);
    gen_cls(softmax ? 41 : 51, N, D, K, X, y);
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.model = softmax ? SF_MODEL_SOFTMAX : SF_MODEL_LOGISTIC;
    par.lambda = 1e-3;
    sf_model *exact = NULL, *first = NULL, *last = NULL;
    assert_int_equal(fit_rows(&par, D, K, X, y, N, 0, &exact, NULL), SF_OK);
    par.keep_batches = false;
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, K, &t), SF_OK);
    for (size_t i = 0; i < N; i += B) {
        assert_int_equal(sf_trainer_update(t, X + i * D, y + i, B), SF_OK);
        if (i == 0) assert_int_equal(sf_trainer_snapshot(t, &first), SF_OK);
    }
    assert_int_equal(sf_trainer_snapshot(t, &last), SF_OK);
    double ll_exact = model_log_loss(exact, X, y, N), ll_first = model_log_loss(first, X, y, N),
           ll_last = model_log_loss(last, X, y, N);
    printf("FTRL cold start %s: training log loss after 1 update %.4f, after %d %.4f, exact "
           "fit %.4f\n",
           softmax ? "softmax" : "logistic", ll_first, N / B, ll_last, ll_exact);
    if (!(ll_last <= 1.1 * ll_exact && ll_last < ll_first))
        fail_msg("FTRL log loss %.4f (first %.4f, exact %.4f)", ll_last, ll_first, ll_exact);
    sf_model_destroy(exact);
    sf_model_destroy(first);
    sf_model_destroy(last);
    sf_trainer_destroy(t);
    free(X);
    free(y);
}

static void test_streaming_ftrl_cold_start(void **state)
{
    (void)state;
    ftrl_cold_check(false);
    ftrl_cold_check(true);
}

/* ---------------------------------------------------------- rank deficient */

static void test_rank_deficient_ols(void **state)
{
    (void)state;
    enum { N = 200, D = 4 };
    double X[N * D], Xr[N * (D - 1)], y[N], fitted[N], pred[N];
    ref_rng r;
    ref_rng_seed(&r, 5);
    for (size_t i = 0; i < N; i++) {
        double a = 1 + ref_rng_normal(&r), b = 2 * ref_rng_normal(&r), c = -3 + ref_rng_normal(&r);
        double row[D] = {a, b, c, b}; /* column 4 duplicates column 2 */
        memcpy(X + i * D, row, sizeof row);
        Xr[i * 3] = a;
        Xr[i * 3 + 1] = b;
        Xr[i * 3 + 2] = c;
        y[i] = 1.5 + 0.7 * a - 1.2 * b + 0.4 * c + 0.3 * ref_rng_normal(&r);
    }
    double rw[D - 1], rb;
    assert_true(ref_least_squares(Xr, y, N, D - 1, 0.0, true, false, rw, &rb));
    double fmax_abs = 0;
    for (size_t i = 0; i < N; i++) {
        fitted[i] = rb + rw[0] * Xr[i * 3] + rw[1] * Xr[i * 3 + 1] + rw[2] * Xr[i * 3 + 2];
        fmax_abs = fmax(fmax_abs, fabs(fitted[i]));
    }
    /* Exact fits (auto, qr) and the streaming snapshot (auto: merged R). */
    const sf_solver_kind solvers[] = {SF_SOLVER_AUTO, SF_SOLVER_QR, SF_SOLVER_AUTO};
    for (size_t s = 0; s < 3; s++) {
        bool streaming = s == 2;
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.solver = solvers[s];
        sf_model *m = NULL;
        sf_fit_report rep;
        if (streaming) {
            par.keep_batches = false;
            sf_trainer *t = NULL;
            assert_int_equal(sf_trainer_create(g_ctx, &par, D, 0, &t), SF_OK);
            for (size_t i = 0; i < N; i += 50)
                assert_int_equal(sf_trainer_update(t, X + i * D, y + i, 50), SF_OK);
            assert_int_equal(sf_trainer_snapshot(t, &m), SF_OK);
            sf_trainer_report(t, &rep);
            sf_trainer_destroy(t);
        } else {
            assert_int_equal(fit_rows(&par, D, 0, X, y, N, 0, &m, &rep), SF_OK);
        }
        double p[D + 1];
        assert_true(all_finite(p, model_params(m, p)));
        if (!rep.rank_deficient)
            fail_msg("solver %s%s: rank_deficient not reported", sf_solver_kind_name(solvers[s]),
                     streaming ? " (streaming)" : "");
        assert_int_equal(sf_predict(g_ctx, m, X, N, pred, NULL), SF_OK);
        double e = 0;
        for (size_t i = 0; i < N; i++)
            e = fmax(e, fabs(pred[i] - fitted[i]));
        e /= fmax_abs;
        printf("rank-deficient OLS solver %s%s: fitted values relative error %.3e\n",
               sf_solver_kind_name(solvers[s]), streaming ? " (streaming)" : "", e);
        if (!(e <= 1e-8)) fail_msg("fitted values differ by %.3e", e);
        sf_model_destroy(m);
    }
}

/* Rows given to sf_trainer_update on a trainer that keeps its batches must
 * count in the next fit or snapshot like rows given to sf_trainer_add_batch
 * (they are merged into the statistics; the first update ends the exact
 * phase, so nothing is solved from the kept batches alone). */
static void test_mixed_add_and_update(void **state)
{
    (void)state;
    enum { N = 400, D = 5 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    assert_non_null(X);
    assert_non_null(y);
    gen_lsq(3, N, D, X, y);
    double ref[D + 1];
    assert_true(ref_least_squares(X, y, N, D, 0.0, true, false, ref, &ref[D]));
    sf_fit_params par;
    sf_fit_params_init(&par);
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, 0, &t), SF_OK);
    assert_int_equal(sf_trainer_add_batch(t, X, y, N / 2), SF_OK);
    assert_int_equal(sf_trainer_update(t, X + N / 2 * D, y + N / 2, N / 2), SF_OK);
    sf_model *m = NULL;
    assert_int_equal(sf_trainer_snapshot(t, &m), SF_OK);
    double est[D + 1];
    model_params(m, est);
    double e = ref_max_comp_rel_err(est, ref, D + 1);
    sf_model_destroy(m);
    sf_trainer_destroy(t);
    free(X);
    free(y);
    if (!(e <= 1e-9)) fail_msg("add_batch + update: relative error %.3e vs all rows", e);
}

/* ------------------------------------------------------------- error cases */

static void test_errors(void **state)
{
    (void)state;
    sf_fit_params par;
    sf_fit_params_init(&par);
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, 0, 0, &t), SF_ERR_INVALID_ARGUMENT);
    assert_null(t);
    assert_int_equal(sf_trainer_create(NULL, &par, 2, 0, &t), SF_ERR_INVALID_ARGUMENT);
    par.lambda = -1;
    assert_int_equal(sf_trainer_create(g_ctx, &par, 2, 0, &t), SF_ERR_INVALID_ARGUMENT);
    sf_fit_params_init(&par);
    par.solver = SF_SOLVER_NEWTON;
    assert_int_equal(sf_trainer_create(g_ctx, &par, 2, 0, &t), SF_ERR_INVALID_ARGUMENT);
    sf_fit_params_init(&par);
    par.model = SF_MODEL_SOFTMAX;
    assert_int_equal(sf_trainer_create(g_ctx, &par, 2, 1, &t), SF_ERR_INVALID_ARGUMENT);

    /* Fit on nothing. */
    sf_fit_params_init(&par);
    assert_int_equal(sf_trainer_create(g_ctx, &par, 2, 0, &t), SF_OK);
    sf_model *m = NULL;
    assert_int_equal(sf_trainer_fit(t, &m), SF_ERR_EMPTY);
    assert_null(m);
    assert_int_equal(sf_trainer_snapshot(t, &m), SF_ERR_EMPTY);
    assert_int_equal(sf_trainer_add_batch(t, NULL, NULL, 0), SF_OK);
    assert_int_equal(sf_trainer_fit(t, &m), SF_ERR_EMPTY);
    sf_trainer_destroy(t);

    /* Logistic labels outside {0, 1}; a rejected batch leaves the trainer as it was. */
    sf_fit_params_init(&par);
    par.model = SF_MODEL_LOGISTIC;
    assert_int_equal(sf_trainer_create(g_ctx, &par, 1, 2, &t), SF_OK);
    const double X[4] = {-1, 0.5, 1, 2};
    const double bad[][4] = {{0, 1, 2, 1}, {0, -1, 1, 0}, {0, 1, 0.5, 1}, {0, 1, NAN, 0}};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(sf_trainer_add_batch(t, X, bad[i], 4), SF_ERR_BAD_LABEL);
    assert_int_equal(sf_trainer_fit(t, &m), SF_ERR_EMPTY);
    const double good[4] = {0, 1, 0, 1};
    assert_int_equal(sf_trainer_add_batch(t, X, good, 4), SF_OK);
    assert_int_equal(sf_trainer_fit(t, &m), SF_OK);
    assert_int_equal(sf_model_rows_seen(m), 4);
    sf_model_destroy(m);
    sf_trainer_destroy(t);

    /* Softmax: label K is out of range. */
    sf_fit_params_init(&par);
    par.model = SF_MODEL_SOFTMAX;
    assert_int_equal(sf_trainer_create(g_ctx, &par, 1, 3, &t), SF_OK);
    const double y3[4] = {0, 1, 3, 2};
    assert_int_equal(sf_trainer_add_batch(t, X, y3, 4), SF_ERR_BAD_LABEL);
    assert_int_equal(sf_trainer_update(t, X, y3, 4), SF_ERR_BAD_LABEL);
    sf_trainer_destroy(t);

    /* An exact classifier fit needs the batches. */
    sf_fit_params_init(&par);
    par.model = SF_MODEL_LOGISTIC;
    par.keep_batches = false;
    assert_int_equal(sf_trainer_create(g_ctx, &par, 1, 2, &t), SF_OK);
    assert_int_equal(sf_trainer_add_batch(t, X, good, 4), SF_OK);
    m = NULL;
    assert_int_equal(sf_trainer_fit(t, &m), SF_ERR_UNSUPPORTED);
    assert_null(m);
    sf_trainer_destroy(t);

    /* destroy(NULL) does nothing. */
    sf_trainer_destroy(NULL);
    sf_model_destroy(NULL);
    sf_context_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nist_longley),
        cmocka_unit_test(test_nist_norris),
        cmocka_unit_test(test_nist_wampler1),
        cmocka_unit_test(test_nist_streaming),
        cmocka_unit_test(test_nist_streaming_checkpoint),
        cmocka_unit_test(test_streaming_decay_exact),
        cmocka_unit_test(test_streaming_exact_variants),
        cmocka_unit_test(test_breast_cancer_logistic),
        cmocka_unit_test(test_random_least_squares),
        cmocka_unit_test(test_random_classifiers),
        cmocka_unit_test(test_solver_chosen_by_cost),
        cmocka_unit_test(test_same_bits_any_thread_count),
        cmocka_unit_test(test_streaming_least_squares),
        cmocka_unit_test(test_streaming_ftrl),
        cmocka_unit_test(test_streaming_ftrl_cold_start),
        cmocka_unit_test(test_rank_deficient_ols),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mixed_add_and_update),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
