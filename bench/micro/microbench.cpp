/*
 * microbench.cpp — Google Benchmark harness over the library's C API and its
 * backend operations, for the CPU backend and the CUDA backend, at
 * d = 16, 64, 256, 1024 features.
 *
 * Every benchmark is named  OP/PLATFORM/d:D/rows:N  (PLATFORM: cpu, cuda, or
 * cpu-Nt for the parser with N threads) and reports items_per_second (rows/s)
 * and bytes_per_second (rows * d * 8 bytes of dense float64 input; the CSV
 * text for the parser; the n x n matrix for solve_spd). The number of rows
 * shrinks as d grows so that one iteration stays well under a second.
 *
 *   streamfit_microbench                                   # everything
 *   streamfit_microbench --benchmark_filter=/d:16/         # one width
 *   streamfit_microbench --benchmark_format=json --benchmark_out=micro.json
 *
 * The JSON written by --benchmark_out (the standard Google Benchmark format)
 * is what notebooks/throughput.ipynb reads (STREAMFIT_MICRO_JSON).
 *
 * Timing: every benchmark uses manual time from a steady clock around the one
 * call being measured, so per-iteration setup (copying a matrix a solver
 * overwrites, freeing a batch) stays out of the numbers. On the GPU this is
 * the device time too: the CUDA backend runs on its own non-blocking streams
 * inside a module the library opens at run time, and every operation timed
 * here returns only once its results are on the host (uploads come from
 * pinned memory, which the backend waits for), so the host clock spans the
 * whole device work. A CUDA event on the default stream would not be ordered
 * with those streams. A platform that cannot be created (no GPU, no driver, a
 * build without CUDA) marks its benchmarks with SkipWithError.
 */
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

extern "C" {
#include "backend.h"
#include "internal.h"
#include "parse.h"
#include "streamfit.h"
}

namespace
{

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0)
{
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

const size_t kWidths[] = {16, 64, 256, 1024};
const size_t kClasses = 4; /* softmax_terms */

/* Rows for a benchmark whose work grows like rows * d * per_row_d: about
 * `budget` multiply-adds of that kind per iteration, at least `min_rows`. */
size_t rows_for(size_t d, size_t budget, size_t per_row_d = 1, size_t min_rows = 256)
{
    size_t rows = budget / (d * per_row_d);
    return rows < min_rows ? min_rows : rows;
}

const size_t kDenseBudget = size_t(1) << 21; /* 16 MiB of float64 per batch */
const size_t kParseBudget = size_t(1) << 20; /* about 12 bytes of text per value */
const size_t kHessBudget = size_t(1) << 31;  /* multiply-adds of a Hessian per iteration */

/* ---- platforms: one context per device kind, created on first use ---- */

struct Platform {
    const char *name;
    sf_device_kind kind;
    bool tried;
    sf_context *ctx;
    std::string why; /* the first error the context logged */
};

Platform g_platforms[] = {
    {"cpu", SF_DEVICE_CPU, false, nullptr, ""},
    {"cuda", SF_DEVICE_CUDA, false, nullptr, ""},
};

void capture_log(void *user, sf_log_level level, const char *message)
{
    auto *p = static_cast<Platform *>(user);
    if (level == SF_LOG_ERROR && p->why.empty()) p->why = message;
}

/* The platform's context, or nullptr after marking the benchmark skipped. */
sf_context *acquire(Platform &p, benchmark::State &state)
{
    if (!p.tried) {
        p.tried = true;
        sf_context_options opt;
        sf_context_options_init(&opt);
        opt.device = p.kind;
        opt.log = capture_log;
        opt.log_user = &p;
        sf_status st = sf_context_create(&opt, &p.ctx);
        if (st != SF_OK) {
            p.ctx = nullptr;
            if (p.why.empty()) p.why = sf_strerror(st);
        }
        if (p.ctx) {
            p.ctx->log = nullptr; /* quiet from here on */
            p.ctx->be->log = nullptr;
        }
    }
    if (p.ctx) return p.ctx;
    std::string reason = p.why;
    const char *tag = "no usable GPU: ";
    size_t at = reason.find(tag);
    if (at != std::string::npos)
        reason = reason.substr(at + std::strlen(tag));
    else if (reason.rfind("--device cuda: ", 0) == 0)
        reason = reason.substr(15);
    std::string msg =
        p.kind == SF_DEVICE_CUDA ? "no usable GPU: " + reason : std::string(p.name) + ": " + reason;
    state.SkipWithError(msg.c_str());
    return nullptr;
}

void destroy_platforms()
{
    for (Platform &p : g_platforms) {
        sf_context_destroy(p.ctx);
        p.ctx = nullptr;
    }
}

/* ---- data: seeded, generated once per shape ---- */

struct Data {
    std::vector<double> X;     /* rows x d, N(0, 1) */
    std::vector<double> y_reg; /* x.w + 0.5 + noise */
    std::vector<double> y_bin; /* 0/1 */
    std::vector<double> y_cls; /* 0..kClasses-1 */
};

struct Rng {
    uint64_t s;
    uint64_t next()
    {
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return double(next() >> 11) * 0x1.0p-53 + 0x1.0p-54; }
    double normal()
    {
        return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform());
    }
};

const Data &data(size_t rows, size_t d)
{
    static std::map<std::pair<size_t, size_t>, std::unique_ptr<Data>> cache;
    auto &slot = cache[{rows, d}];
    if (slot) return *slot;
    slot.reset(new Data);
    Data &D = *slot;
    Rng rng{rows * 1000003u + d};
    D.X.resize(rows * d);
    D.y_reg.resize(rows);
    D.y_bin.resize(rows);
    D.y_cls.resize(rows);
    for (size_t i = 0; i < rows; i++) {
        double *x = &D.X[i * d];
        double t = 0.5, best = -1e300;
        size_t cls = 0;
        for (size_t j = 0; j < d; j++) {
            x[j] = rng.normal();
            t += ((j & 1) ? -1.0 : 1.0) / std::sqrt(double(j + 1)) * x[j];
        }
        for (size_t k = 0; k < kClasses; k++) {
            double s = x[k % d] + 0.5 * rng.normal();
            if (s > best) best = s, cls = k;
        }
        D.y_reg[i] = t + 0.1 * rng.normal();
        D.y_bin[i] = rng.uniform() < 1.0 / (1.0 + std::exp(-t)) ? 1.0 : 0.0;
        D.y_cls[i] = double(cls);
    }
    return D;
}

/* The CSV text of `rows` rows: header "y,x1,..", label first, 9 significant digits. */
const std::string &csv_text(size_t rows, size_t d)
{
    static std::map<std::pair<size_t, size_t>, std::string> cache;
    std::string &s = cache[{rows, d}];
    if (!s.empty()) return s;
    const Data &D = data(rows, d);
    s.reserve(rows * (d + 1) * 14);
    s += "y";
    for (size_t j = 0; j < d; j++)
        s += ",x" + std::to_string(j + 1);
    s += '\n';
    char buf[32];
    for (size_t i = 0; i < rows; i++) {
        std::snprintf(buf, sizeof buf, "%.9g", D.y_reg[i]);
        s += buf;
        for (size_t j = 0; j < d; j++) {
            std::snprintf(buf, sizeof buf, ",%.9g", D.X[i * d + j]);
            s += buf;
        }
        s += '\n';
    }
    return s;
}

/* ---- helpers ---- */

/* A batch on the backend, freed with it. */
struct DeviceBatch {
    sf_backend *be = nullptr;
    sf_dbatch *b = nullptr;
    ~DeviceBatch()
    {
        if (b) be->ops->batch_free(be, b);
    }
};

bool check(benchmark::State &state, sf_status st, const char *what)
{
    if (st == SF_OK) return true;
    std::string msg = std::string(what) + ": " + sf_strerror(st);
    state.SkipWithError(msg.c_str());
    return false;
}

bool upload(benchmark::State &state, sf_backend *be, const std::vector<double> &X,
            const std::vector<double> &y, size_t rows, size_t d, DeviceBatch &out)
{
    out.be = be;
    return check(state, be->ops->batch_upload(be, X.data(), y.data(), rows, d, &out.b),
                 "batch_upload");
}

void report(benchmark::State &state, size_t rows, size_t bytes_per_iter)
{
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(rows));
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes_per_iter));
}

size_t dense_bytes(size_t rows, size_t d) { return rows * d * sizeof(double); }

/* Parameters theta = K blocks of [w (d), b], small and deterministic. */
std::vector<double> make_theta(size_t d, size_t K)
{
    std::vector<double> theta(K * (d + 1));
    for (size_t i = 0; i < theta.size(); i++)
        theta[i] = 0.02 * ((i % 7) - 3.0) / std::sqrt(double(d));
    return theta;
}

/* ---- benchmarks ---- */

void bm_parse_csv(benchmark::State &state, int threads, size_t d, size_t rows)
{
    const std::string &text = csv_text(rows, d);
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.format = SF_FORMAT_CSV;
    opt.has_header = true;
    opt.label_index = 0;
    opt.threads = threads;
    char err[256];
    for (auto _ : state) {
        sf_table t;
        std::memset(&t, 0, sizeof t);
        Clock::time_point t0 = Clock::now();
        sf_status st = sf_parse_buffer(text.data(), text.size(), &opt, &t, err, sizeof err);
        state.SetIterationTime(seconds_since(t0));
        if (st != SF_OK) {
            std::string msg = std::string("sf_parse_buffer: ") + err;
            state.SkipWithError(msg.c_str());
            break;
        }
        benchmark::DoNotOptimize(t.X);
        if (t.rows != rows) {
            sf_table_free(&t);
            state.SkipWithError("sf_parse_buffer: wrong row count");
            break;
        }
        sf_table_free(&t);
    }
    report(state, rows, text.size());
}

void bm_batch_upload(benchmark::State &state, Platform *p, size_t d, size_t rows)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    sf_backend *be = ctx->be;
    const Data &D = data(rows, d);
    /* Stage in pinned memory where the backend has it (cuda), as the stream does. */
    size_t bytes = (rows * d + rows) * sizeof(double);
    double *host =
        be->ops->host_alloc ? static_cast<double *>(be->ops->host_alloc(be, bytes)) : nullptr;
    std::vector<double> plain;
    if (!host) {
        plain.resize(rows * d + rows);
        host = plain.data();
    }
    std::memcpy(host, D.X.data(), rows * d * sizeof(double));
    std::memcpy(host + rows * d, D.y_reg.data(), rows * sizeof(double));
    for (auto _ : state) {
        sf_dbatch *b = nullptr;
        Clock::time_point t0 = Clock::now();
        sf_status st = be->ops->batch_upload(be, host, host + rows * d, rows, d, &b);
        state.SetIterationTime(seconds_since(t0));
        if (!check(state, st, "batch_upload")) break;
        benchmark::DoNotOptimize(b);
        be->ops->batch_free(be, b);
    }
    if (plain.empty()) be->ops->host_free(be, host);
    report(state, rows, dense_bytes(rows, d));
}

void bm_batch_moments(benchmark::State &state, Platform *p, size_t d, size_t rows)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    sf_backend *be = ctx->be;
    const Data &D = data(rows, d);
    DeviceBatch b;
    if (!upload(state, be, D.X, D.y_reg, rows, d, b)) return;
    std::vector<double> mean(d + 1), m2((d + 1) * (d + 1));
    for (auto _ : state) {
        Clock::time_point t0 = Clock::now();
        sf_status st = be->ops->batch_moments(be, b.b, mean.data(), m2.data());
        state.SetIterationTime(seconds_since(t0));
        if (!check(state, st, "batch_moments")) break;
        benchmark::DoNotOptimize(mean.data());
        benchmark::DoNotOptimize(m2.data());
        benchmark::ClobberMemory();
    }
    report(state, rows, dense_bytes(rows, d));
}

void bm_batch_qr(benchmark::State &state, Platform *p, size_t d, size_t rows)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    sf_backend *be = ctx->be;
    const Data &D = data(rows, d);
    DeviceBatch b;
    if (!upload(state, be, D.X, D.y_reg, rows, d, b)) return;
    size_t p1 = d + 1;
    std::vector<double> mean(p1), m2(p1 * p1), scale(p1), R(p1 * p1);
    if (!check(state, be->ops->batch_moments(be, b.b, mean.data(), m2.data()), "batch_moments"))
        return;
    for (size_t j = 0; j < p1; j++) {
        double s = std::sqrt(m2[j * p1 + j] / double(rows));
        scale[j] = s > 0 ? s : 1.0;
    }
    for (auto _ : state) {
        Clock::time_point t0 = Clock::now();
        sf_status st = be->ops->batch_qr(be, b.b, mean.data(), scale.data(), R.data());
        state.SetIterationTime(seconds_since(t0));
        if (!check(state, st, "batch_qr")) break;
        benchmark::DoNotOptimize(R.data());
        benchmark::ClobberMemory();
    }
    report(state, rows, dense_bytes(rows, d));
}

/* The library's exact least-squares fit from host rows: sf_trainer_add_batch
 * (upload, moments) then sf_trainer_fit (the solve, refinement over the kept
 * batch), on a fresh trainer each iteration (created and destroyed untimed).
 * The solve alone is solve_spd. */
void bm_trainer_fit(benchmark::State &state, Platform *p, size_t d, size_t rows)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    const Data &D = data(rows, d);
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.model = SF_MODEL_OLS;
    for (auto _ : state) {
        sf_trainer *t = nullptr;
        if (!check(state, sf_trainer_create(ctx, &par, d, 0, &t), "sf_trainer_create")) break;
        sf_model *m = nullptr;
        Clock::time_point t0 = Clock::now();
        sf_status st = sf_trainer_add_batch(t, D.X.data(), D.y_reg.data(), rows);
        if (st == SF_OK) st = sf_trainer_fit(t, &m);
        state.SetIterationTime(seconds_since(t0));
        if (m) benchmark::DoNotOptimize(sf_model_coefficients(m, 0));
        sf_model_destroy(m);
        sf_trainer_destroy(t);
        if (!check(state, st, "sf_trainer_add_batch/fit")) break;
    }
    report(state, rows, dense_bytes(rows, d));
}

/* Cholesky solve of an n x n SPD system (the Kac-Murdock-Szego matrix 0.5^|i-j|,
 * well conditioned), one right-hand side. Items: matrix rows. */
void bm_solve_spd(benchmark::State &state, Platform *p, size_t n)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    sf_backend *be = ctx->be;
    std::vector<double> A0(n * n), A(n * n), B(n);
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < n; i++)
            A0[j * n + i] = std::pow(0.5, double(i > j ? i - j : j - i));
    for (auto _ : state) {
        A = A0;
        std::fill(B.begin(), B.end(), 1.0);
        double rcond = 0;
        Clock::time_point t0 = Clock::now();
        sf_status st = be->ops->solve_spd(be, n, A.data(), B.data(), 1, &rcond);
        state.SetIterationTime(seconds_since(t0));
        if (!check(state, st, "solve_spd")) break;
        benchmark::DoNotOptimize(B.data());
        benchmark::DoNotOptimize(rcond);
        benchmark::ClobberMemory();
    }
    report(state, n, n * n * sizeof(double));
}

void bm_logistic_terms(benchmark::State &state, Platform *p, size_t d, size_t rows, bool hessian)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    sf_backend *be = ctx->be;
    const Data &D = data(rows, d);
    DeviceBatch b;
    if (!upload(state, be, D.X, D.y_bin, rows, d, b)) return;
    std::vector<double> theta = make_theta(d, 1), grad(d + 1),
                        hess(hessian ? (d + 1) * (d + 1) : 0);
    for (auto _ : state) {
        double loss = 0;
        Clock::time_point t0 = Clock::now();
        sf_status st = be->ops->logistic_terms(be, b.b, theta.data(), &loss, grad.data(),
                                               hessian ? hess.data() : nullptr);
        state.SetIterationTime(seconds_since(t0));
        if (!check(state, st, "logistic_terms")) break;
        benchmark::DoNotOptimize(loss);
        benchmark::DoNotOptimize(grad.data());
        benchmark::DoNotOptimize(hess.data());
        benchmark::ClobberMemory();
    }
    report(state, rows, dense_bytes(rows, d));
}

void bm_softmax_terms(benchmark::State &state, Platform *p, size_t d, size_t rows, bool hessian)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    sf_backend *be = ctx->be;
    const Data &D = data(rows, d);
    DeviceBatch b;
    if (!upload(state, be, D.X, D.y_cls, rows, d, b)) return;
    size_t P = kClasses * (d + 1);
    std::vector<double> theta = make_theta(d, kClasses), grad(P), hess(hessian ? P * P : 0);
    for (auto _ : state) {
        double loss = 0;
        Clock::time_point t0 = Clock::now();
        sf_status st = be->ops->softmax_terms(be, b.b, theta.data(), kClasses, &loss, grad.data(),
                                              hessian ? hess.data() : nullptr);
        state.SetIterationTime(seconds_since(t0));
        if (!check(state, st, "softmax_terms")) break;
        benchmark::DoNotOptimize(loss);
        benchmark::DoNotOptimize(grad.data());
        benchmark::DoNotOptimize(hess.data());
        benchmark::ClobberMemory();
    }
    report(state, rows, dense_bytes(rows, d));
}

/* sf_predict of a least-squares model: upload, scores, copy back. */
void bm_predict(benchmark::State &state, Platform *p, size_t d, size_t rows)
{
    sf_context *ctx = acquire(*p, state);
    if (!ctx) return;
    const Data &D = data(rows, d);
    std::unique_ptr<sf_model, void (*)(sf_model *)> m(sf_model_create(SF_MODEL_OLS, d, 0),
                                                      sf_model_destroy);
    if (!m) {
        state.SkipWithError("sf_model_create failed");
        return;
    }
    double *w = sf_model_coefficients(m.get(), 0);
    for (size_t j = 0; j < d; j++)
        w[j] = ((j & 1) ? -1.0 : 1.0) / std::sqrt(double(j + 1));
    sf_model_intercepts(m.get())[0] = 0.5;
    std::vector<double> value(rows);
    for (auto _ : state) {
        Clock::time_point t0 = Clock::now();
        sf_status st = sf_predict(ctx, m.get(), D.X.data(), rows, value.data(), nullptr);
        state.SetIterationTime(seconds_since(t0));
        if (!check(state, st, "sf_predict")) break;
        benchmark::DoNotOptimize(value.data());
        benchmark::ClobberMemory();
    }
    report(state, rows, dense_bytes(rows, d));
}

/* ---- registration ---- */

std::string bench_name(const char *op, const char *platform, size_t d, size_t rows)
{
    return std::string(op) + "/" + platform + "/d:" + std::to_string(d) +
           "/rows:" + std::to_string(rows);
}

template <class Fn> void add(const std::string &name, Fn &&fn)
{
    benchmark::RegisterBenchmark(name.c_str(), std::forward<Fn>(fn))
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

void register_all()
{
    int cores = int(std::thread::hardware_concurrency());
    if (cores < 1) cores = 1;
    for (size_t d : kWidths) {
        size_t parse_rows = rows_for(d, kParseBudget);
        for (int th : {1, cores}) {
            if (th == cores && cores == 1) break;
            std::string plat = "cpu-" + std::to_string(th) + "t";
            add(bench_name("parse_csv", plat.c_str(), d, parse_rows),
                [th, d, parse_rows](benchmark::State &s) { bm_parse_csv(s, th, d, parse_rows); });
        }
        size_t rows = rows_for(d, kDenseBudget);
        size_t soft_rows = rows_for(d, kDenseBudget, kClasses);
        /* The softmax Hessian costs about (K d)^2 per row: cap its rows. */
        size_t soft_hess_rows =
            std::min(soft_rows, rows_for(kClasses * d, kHessBudget, kClasses * d));
        for (Platform &pl : g_platforms) {
            Platform *p = &pl;
            add(bench_name("batch_upload", p->name, d, rows),
                [p, d, rows](benchmark::State &s) { bm_batch_upload(s, p, d, rows); });
            add(bench_name("batch_moments", p->name, d, rows),
                [p, d, rows](benchmark::State &s) { bm_batch_moments(s, p, d, rows); });
            add(bench_name("batch_qr", p->name, d, rows),
                [p, d, rows](benchmark::State &s) { bm_batch_qr(s, p, d, rows); });
            add(bench_name("trainer_fit_ols", p->name, d, rows),
                [p, d, rows](benchmark::State &s) { bm_trainer_fit(s, p, d, rows); });
            add(bench_name("solve_spd", p->name, d, d),
                [p, d](benchmark::State &s) { bm_solve_spd(s, p, d); });
            add(bench_name("logistic_terms", p->name, d, rows),
                [p, d, rows](benchmark::State &s) { bm_logistic_terms(s, p, d, rows, false); });
            add(bench_name("logistic_terms_hess", p->name, d, rows),
                [p, d, rows](benchmark::State &s) { bm_logistic_terms(s, p, d, rows, true); });
            add(bench_name("softmax_terms", p->name, d, soft_rows),
                [p, d, soft_rows](benchmark::State &s) {
                    bm_softmax_terms(s, p, d, soft_rows, false);
                });
            add(bench_name("softmax_terms_hess", p->name, d, soft_hess_rows),
                [p, d, soft_hess_rows](benchmark::State &s) {
                    bm_softmax_terms(s, p, d, soft_hess_rows, true);
                });
            add(bench_name("predict_ols", p->name, d, rows),
                [p, d, rows](benchmark::State &s) { bm_predict(s, p, d, rows); });
        }
    }
}

} // namespace

int main(int argc, char **argv)
{
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("streamfit", SF_VERSION_STRING);
    sf_build_info info;
    sf_get_build_info(&info);
    benchmark::AddCustomContext("blas", info.blas ? info.blas : "unknown");
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    destroy_platforms();
    return 0;
}
