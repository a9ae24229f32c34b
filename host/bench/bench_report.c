/*
 * bench_report.c — the output of `streamfit bench`: per platform (and peer)
 * the median, min and max of each phase over the repeats, rows/s and GB/s
 * of the median wall, peak memory, holdout quality, the largest relative
 * coefficient difference and the speed-up against the reference (the first
 * streamfit platform that ran); for mpi platforms the hosts and the MPI
 * traffic; as an aligned table, one CSV row per platform, or JSON that also
 * names the machine, the build, the command line and the date.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char *phase_names[BENCH_PHASES] = {"parse", "transfer", "solve", "predict", "wall"};

typedef struct phase_stats {
    bool has;
    double med, min, max;
} phase_stats;

typedef struct row_stats {
    bool ok;
    phase_stats ph[BENCH_PHASES];
    double rows_per_s, gb_per_s, speedup, coef_diff;
} row_stats;

double bench_median(double *v, size_t n)
{
    if (n == 0) return NAN;
    for (size_t i = 1; i < n; i++) /* insertion sort: n is the repeat count */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double max_rel_diff(const bench_result *a, const bench_result *ref)
{
    if (!a->coef || !ref->coef || a->n_coef != ref->n_coef) return NAN;
    double worst = 0;
    for (size_t i = 0; i < a->n_coef; i++) {
        double den = fabs(ref->coef[i]) > 1e-12 ? fabs(ref->coef[i]) : 1e-12;
        double e = fabs(a->coef[i] - ref->coef[i]) / den;
        if (!(e <= worst)) worst = e; /* NaN propagates */
    }
    return worst;
}

static void compute_stats(const bench_data *shape, const bench_result *res, size_t n, row_stats *st,
                          const bench_result **ref_out)
{
    const bench_result *ref = NULL;
    for (size_t i = 0; i < n && !ref; i++)
        if (!res[i].peer && bench_result_ok(&res[i])) ref = &res[i];
    *ref_out = ref;
    double ref_wall = NAN;
    for (size_t i = 0; i < n; i++) {
        const bench_result *r = &res[i];
        row_stats *s = &st[i];
        memset(s, 0, sizeof *s);
        s->ok = bench_result_ok(r) && r->n_rep > 0;
        if (!s->ok) continue;
        for (int p = 0; p < BENCH_PHASES; p++) {
            if (!r->has_phase[p]) continue;
            double v[BENCH_MAX_REPEAT];
            for (int k = 0; k < r->n_rep; k++)
                v[k] = r->t[k][p];
            phase_stats *ps = &s->ph[p];
            ps->has = true;
            ps->med = bench_median(v, (size_t)r->n_rep);
            ps->min = v[0];
            ps->max = v[r->n_rep - 1];
        }
        double wall = s->ph[BENCH_WALL].med;
        s->rows_per_s = (double)shape->n_train / wall;
        s->gb_per_s = (double)shape->n_train * (double)shape->d * 8.0 / wall / 1e9;
        if (r == ref) ref_wall = wall;
        s->coef_diff = ref ? max_rel_diff(r, ref) : NAN;
    }
    for (size_t i = 0; i < n; i++)
        st[i].speedup = st[i].ok ? ref_wall / st[i].ph[BENCH_WALL].med : NAN;
}

/* ---- the machine ---- */

typedef struct machine {
    char cpu[200];
    int cores;
    double mem_gib;
    char os[200];
    char devices[4096];
    char driver[256];
} machine;

static void read_first_match(const char *path, const char *key, char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (key && strncmp(line, key, strlen(key)) != 0) continue;
        char *v = key ? strchr(line, ':') : line;
        if (!v) continue;
        if (key) v++;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strlen(v);
        while (n && (v[n - 1] == '\n' || v[n - 1] == ' '))
            v[--n] = 0;
        snprintf(out, len, "%s", v);
        break;
    }
    fclose(f);
}

/* sf_describe_devices starts the CUDA runtime: ask from a child, so that
 * this process stays free to fork more. */
static void describe_devices(char *out, size_t len)
{
    out[0] = 0;
    int fds[2];
    if (pipe(fds) != 0) return;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        char buf[4096] = "";
        sf_describe_devices(buf, sizeof buf);
        bench_write_all(fds[1], buf, strlen(buf));
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    size_t used = 0;
    while (pid > 0 && used + 1 < len) {
        ssize_t n = read(fds[0], out + used, len - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
    }
    out[used] = 0;
    close(fds[0]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
}

static void describe_machine(machine *m)
{
    memset(m, 0, sizeof *m);
    read_first_match("/proc/cpuinfo", "model name", m->cpu, sizeof m->cpu);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores = cores > 0 ? (int)cores : 1;
    char mem[64];
    read_first_match("/proc/meminfo", "MemTotal", mem, sizeof mem);
    m->mem_gib = strtod(mem, NULL) / (1024.0 * 1024.0);
    struct utsname u;
    if (uname(&u) == 0) snprintf(m->os, sizeof m->os, "%s %s %s", u.sysname, u.release, u.machine);
    describe_devices(m->devices, sizeof m->devices);
    read_first_match("/proc/driver/nvidia/version", NULL, m->driver, sizeof m->driver);
}

/* ---- JSON ---- */

static void json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The shortest %g that reads back as the same double. */
static void json_number(FILE *f, double v)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

static void json_phase(FILE *f, const bench_result *r, const phase_stats *ps, int p)
{
    if (!ps->has) {
        fputs("null", f);
        return;
    }
    fputs("{\"median\": ", f);
    json_number(f, ps->med);
    fputs(", \"min\": ", f);
    json_number(f, ps->min);
    fputs(", \"max\": ", f);
    json_number(f, ps->max);
    fputs(", \"runs\": [", f);
    for (int k = 0; k < r->n_rep; k++) {
        if (k) fputs(", ", f);
        json_number(f, r->t[k][p]);
    }
    fputs("]}", f);
}

static const char *quality_name(const bench_data *shape, int i)
{
    static const char *reg[2] = {"rmse", "r2"}, *cls[2] = {"accuracy", "log_loss"};
    return shape->K ? cls[i] : reg[i];
}

static void json_devices(FILE *f, const char *devices, bool gpus_only)
{
    fputc('[', f);
    bool first = true;
    const char *p = devices;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        bool is_gpu = strncmp(p, "cuda:", 5) == 0 && strncmp(p, "cuda: not available", 19) != 0;
        if (n && (!gpus_only || is_gpu)) {
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            if (!first) fputs(", ", f);
            json_string(f, line);
            first = false;
        }
        p += n + (nl ? 1 : 0);
    }
    fputc(']', f);
}

/* Bytes one rank sent per solver iteration (least squares: one exchange). */
static double mpi_bytes_per_iteration(const bench_result *r)
{
    int ranks = r->procs > 0 ? r->procs : 1, it = r->mpi_iterations > 0 ? r->mpi_iterations : 1;
    return (double)r->mpi_bytes / ranks / it;
}

static void json_mpi(FILE *f, const bench_result *r)
{
    fputs(",\n     \"hosts\": ", f);
    json_string(f, r->hosts[0] ? r->hosts : NULL);
    fputs(", \"mpi\": ", f);
    if (!r->has_mpi) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"bytes_sent_all_ranks\": %llu, \"calls_rank0\": %llu, \"seconds_in_mpi_max\": ",
            (unsigned long long)r->mpi_bytes, (unsigned long long)r->mpi_calls);
    json_number(f, r->mpi_seconds);
    fprintf(f, ", \"iterations\": %d, \"bytes_per_rank_per_iteration\": ", r->mpi_iterations);
    json_number(f, mpi_bytes_per_iteration(r));
    fputs(", \"d2_bound_bytes_per_iteration\": ", f);
    json_number(f, r->mpi_bound_bytes);
    fputc('}', f);
}

static void json_platform(FILE *f, const bench_data *shape, const bench_result *r,
                          const row_stats *s)
{
    fputs("    {\"name\": ", f);
    json_string(f, r->name);
    fprintf(f, ", \"kind\": \"%s\", \"status\": ", r->peer ? "peer" : "streamfit");
    json_string(f, r->status);
    fputs(", \"backend\": ", f);
    json_string(f, r->backend[0] ? r->backend : NULL);
    fputs(", \"threads\": ", f);
    if (r->threads > 0)
        fprintf(f, "%d", r->threads);
    else
        fputs("null", f);
    fprintf(f, ", \"processes\": %d, \"detail\": ", r->procs > 0 ? r->procs : 1);
    json_string(f, r->detail[0] ? r->detail : NULL);
    fputs(",\n     \"generate_s\": ", f);
    json_number(f, r->peer || r->generate_s <= 0 ? NAN : r->generate_s);
    fputs(", \"startup_s\": ", f);
    json_number(f, r->startup_s);
    fprintf(f, ", \"repeats\": %d,\n     \"phases\": {", r->n_rep);
    for (int p = 0; p < BENCH_PHASES; p++) {
        fprintf(f, "%s\"%s\": ", p ? ",\n                " : "", phase_names[p]);
        json_phase(f, r, &s->ph[p], p);
    }
    fputs("},\n     \"rows_per_s\": ", f);
    json_number(f, s->ok ? s->rows_per_s : NAN);
    fputs(", \"gb_per_s\": ", f);
    json_number(f, s->ok ? s->gb_per_s : NAN);
    fputs(", \"peak_mib\": ", f);
    json_number(f, r->peak_mib > 0 ? r->peak_mib : NAN);
    fputs(",\n     \"quality\": ", f);
    if (r->has_quality) {
        fprintf(f, "{\"%s\": ", quality_name(shape, 0));
        json_number(f, r->q[0]);
        fprintf(f, ", \"%s\": ", quality_name(shape, 1));
        json_number(f, r->q[1]);
        fputc('}', f);
    } else {
        fputs("null", f);
    }
    fputs(", \"max_coef_rel_diff\": ", f);
    json_number(f, s->ok ? s->coef_diff : NAN);
    fputs(", \"speedup\": ", f);
    json_number(f, s->ok ? s->speedup : NAN);
    json_mpi(f, r);
    fputs(",\n     \"coefficients\": ", f);
    if (r->coef) {
        fputc('[', f);
        for (size_t i = 0; i < r->n_coef; i++) {
            if (i) fputs(", ", f);
            json_number(f, r->coef[i]);
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fputc('}', f);
}

static void report_json(const bench_config *c, const bench_run_info *info, const bench_result *res,
                        const row_stats *st, size_t n, const bench_result *ref, FILE *f)
{
    const bench_data *shape = info->shape;
    machine m;
    describe_machine(&m);
    sf_build_info bi;
    sf_get_build_info(&bi);
    fputs("{\n  \"benchmark\": \"streamfit bench\",\n  \"command\": ", f);
    json_string(f, info->command_line);
    fputs(",\n  \"date\": ", f);
    json_string(f, info->date);
    fputs(",\n  \"machine\": {", f);
    if (c->machine) {
        fputs("\"label\": ", f);
        json_string(f, c->machine);
        fputs(", ", f);
    }
    fputs("\"cpu\": ", f);
    json_string(f, m.cpu[0] ? m.cpu : NULL);
    fprintf(f, ", \"cores\": %d, \"memory_gib\": %.1f, \"os\": ", m.cores, m.mem_gib);
    json_string(f, m.os);
    fputs(",\n              \"load_average\": [", f);
    for (int i = 0; i < 3; i++) {
        if (i) fputs(", ", f);
        json_number(f, info->load_avg[i]);
    }
    fputs("],\n              \"devices\": ", f);
    json_devices(f, m.devices, false);
    fputs(",\n              \"gpus\": ", f);
    json_devices(f, m.devices, true);
    fputs(", \"gpu_driver\": ", f);
    json_string(f, m.driver[0] ? m.driver : NULL);
    fputs("},\n  \"build\": {\"version\": ", f);
    json_string(f, bi.version);
    fprintf(f, ", \"cuda\": %s, \"kafka\": %s, \"blas\": ", bi.cuda_built ? "true" : "false",
            bi.kafka_built ? "true" : "false");
    json_string(f, bi.blas);
    fprintf(f,
            ", \"blas_threads\": %d},\n  \"workload\": {\"name\": \"%s\", \"source\": \"%s\", "
            "\"input\": ",
            bi.blas_threads, sf_model_kind_name(c->model), c->input ? "file" : "generated");
    json_string(f, c->input);
    fputs(", \"seed\": ", f);
    if (c->input)
        fputs("null", f);
    else
        fprintf(f, "%llu", (unsigned long long)c->seed);
    fprintf(f, ",\n               \"rows\": %zu, \"features\": %zu, \"classes\": ", shape->n,
            shape->d);
    if (shape->K)
        fprintf(f, "%zu", shape->K);
    else
        fputs("null", f);
    fprintf(f,
            ", \"train_rows\": %zu, \"holdout_rows\": %zu, \"holdout_fraction\": ", shape->n_train,
            shape->n_hold);
    json_number(f, c->holdout);
    fputs(",\n               \"lambda\": ", f);
    json_number(f, c->model == SF_MODEL_OLS ? 0.0 : c->lambda);
    fprintf(f, ", \"batch_rows\": %zu, \"repeat\": %d, \"bad_rows\": %llu},\n", c->batch_rows,
            c->repeat, (unsigned long long)shape->bad_rows);
    fputs("  \"notes\": \"every platform and peer reads the same CSV; wall = parse + transfer + "
          "solve ('(in memory)' rows: transfer + solve; mpi: the slowest rank's); generate and "
          "startup are not in wall; a peer's wall is read + fit (reading the CSV included); "
          "speedup = reference median wall / median wall; max_coef_rel_diff against the "
          "reference, coefficients then intercept per output; mpi: bytes and calls of the last "
          "repeat's add and fit\",\n  \"reference\": ",
          f);
    json_string(f, ref ? ref->name : NULL);
    fputs(",\n  \"platforms\": [\n", f);
    for (size_t i = 0; i < n; i++) {
        json_platform(f, shape, &res[i], &st[i]);
        fputs(i + 1 < n ? ",\n" : "\n", f);
    }
    fputs("  ]\n}\n", f);
}

/* ---- CSV ---- */

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_number(FILE *f, double v)
{
    fputc(',', f);
    if (isfinite(v)) fprintf(f, "%.9g", v);
}

static void report_csv(const bench_data *shape, const bench_result *res, const row_stats *st,
                       size_t n, FILE *f)
{
    fprintf(f,
            "platform,kind,status,backend,threads,processes,repeats,startup_s,generate_s,"
            "parse_s,transfer_s,solve_s,predict_s,wall_s,wall_min_s,wall_max_s,rows_per_s,"
            "gb_per_s,peak_mib,%s,%s,max_coef_rel_diff,speedup,hosts,mpi_bytes_sent,"
            "mpi_seconds,mpi_iterations,mpi_bytes_per_rank_per_iteration,mpi_d2_bound_bytes\n",
            quality_name(shape, 0), quality_name(shape, 1));
    for (size_t i = 0; i < n; i++) {
        const bench_result *r = &res[i];
        const row_stats *s = &st[i];
        csv_field(f, r->name);
        fprintf(f, ",%s,", r->peer ? "peer" : "streamfit");
        csv_field(f, r->status);
        fputc(',', f);
        csv_field(f, r->backend);
        fputc(',', f);
        if (r->threads > 0) fprintf(f, "%d", r->threads);
        fprintf(f, ",%d,%d", r->procs > 0 ? r->procs : 1, r->n_rep);
        csv_number(f, s->ok ? r->startup_s : NAN);
        csv_number(f, s->ok && !r->peer ? r->generate_s : NAN);
        for (int p = 0; p < BENCH_PHASES; p++)
            csv_number(f, s->ph[p].has ? s->ph[p].med : NAN);
        csv_number(f, s->ph[BENCH_WALL].has ? s->ph[BENCH_WALL].min : NAN);
        csv_number(f, s->ph[BENCH_WALL].has ? s->ph[BENCH_WALL].max : NAN);
        csv_number(f, s->ok ? s->rows_per_s : NAN);
        csv_number(f, s->ok ? s->gb_per_s : NAN);
        csv_number(f, r->peak_mib > 0 ? r->peak_mib : NAN);
        csv_number(f, r->has_quality ? r->q[0] : NAN);
        csv_number(f, r->has_quality ? r->q[1] : NAN);
        csv_number(f, s->ok ? s->coef_diff : NAN);
        csv_number(f, s->ok ? s->speedup : NAN);
        fputc(',', f);
        csv_field(f, r->hosts);
        csv_number(f, r->has_mpi ? (double)r->mpi_bytes : NAN);
        csv_number(f, r->has_mpi ? r->mpi_seconds : NAN);
        csv_number(f, r->has_mpi ? r->mpi_iterations : NAN);
        csv_number(f, r->has_mpi ? mpi_bytes_per_iteration(r) : NAN);
        csv_number(f, r->has_mpi ? r->mpi_bound_bytes : NAN);
        fputc('\n', f);
    }
}

/* ---- table ---- */

#define TABLE_COLS 16

static void fmt_ms(char *out, size_t len, const phase_stats *ps)
{
    if (!ps->has)
        snprintf(out, len, "-");
    else
        snprintf(out, len, "%.1f", ps->med * 1e3);
}

static void fmt_si(char *out, size_t len, double v)
{
    if (!isfinite(v))
        snprintf(out, len, "-");
    else if (v >= 1e9)
        snprintf(out, len, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, len, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, len, "%.1fk", v / 1e3);
    else
        snprintf(out, len, "%.0f", v);
}

static void fmt_num(char *out, size_t len, const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(out, len, fmt, v);
    else
        snprintf(out, len, "-");
}

static void table_row(const bench_result *r, const row_stats *s, char cell[TABLE_COLS][96])
{
    for (int k = 0; k < TABLE_COLS; k++)
        snprintf(cell[k], 96, "-");
    snprintf(cell[0], 96, "%s", r->name);
    if (r->threads > 0) snprintf(cell[1], 96, "%d", r->threads);
    snprintf(cell[TABLE_COLS - 1], 96, "%s", r->status);
    if (!s->ok) return;
    fmt_num(cell[2], 96, "%.1f", r->startup_s * 1e3);
    for (int p = 0; p < BENCH_PREDICT + 1; p++)
        fmt_ms(cell[3 + p], 96, &s->ph[p]);
    const phase_stats *w = &s->ph[BENCH_WALL];
    snprintf(cell[7], 96, "%.1f [%.1f-%.1f]", w->med * 1e3, w->min * 1e3, w->max * 1e3);
    fmt_si(cell[8], 96, s->rows_per_s);
    fmt_num(cell[9], 96, "%.3f", s->gb_per_s);
    fmt_num(cell[10], 96, "%.0f", r->peak_mib > 0 ? r->peak_mib : NAN);
    if (r->has_quality) {
        fmt_num(cell[11], 96, "%.4f", r->q[0]);
        fmt_num(cell[12], 96, "%.4f", r->q[1]);
    }
    fmt_num(cell[13], 96, "%.1e", s->coef_diff);
    if (isfinite(s->speedup))
        snprintf(cell[14], 96, s->speedup >= 0.1 ? "%.2fx" : "%.2gx", s->speedup);
}

/* mpi rows: the hosts and what the last repeat's add and fit exchanged. */
static void table_mpi_note(const bench_result *r, FILE *f)
{
    if (!r->has_mpi) return;
    char its[64];
    if (r->mpi_iterations > 0)
        snprintf(its, sizeof its, "%d iterations", r->mpi_iterations);
    else
        snprintf(its, sizeof its, "one merge of the statistics");
    fprintf(f,
            "%s on %s: %.1f kB sent by all ranks in %llu calls (rank 0), at most %.1f ms in "
            "MPI calls; %s, %.1f kB per rank per iteration (d^2 bound %.1f kB)\n",
            r->name, r->hosts, (double)r->mpi_bytes / 1e3, (unsigned long long)r->mpi_calls,
            r->mpi_seconds * 1e3, its, mpi_bytes_per_iteration(r) / 1e3, r->mpi_bound_bytes / 1e3);
}

static void report_table(const bench_config *c, const bench_data *shape, const bench_result *res,
                         const row_stats *st, size_t n, const bench_result *ref, FILE *f)
{
    char head[TABLE_COLS][96] = {
        "platform",   "threads",           "startup ms", "parse ms", "transfer ms", "solve ms",
        "predict ms", "wall ms [min-max]", "rows/s",     "GB/s",     "peak MiB",    "",
        "",           "coef diff",         "speed-up",   "status"};
    snprintf(head[11], 96, "%s", quality_name(shape, 0));
    snprintf(head[12], 96, "%s", quality_name(shape, 1));
    char(*cells)[TABLE_COLS][96] = calloc(n + 1, sizeof *cells);
    if (!cells) return;
    memcpy(cells[0], head, sizeof head);
    for (size_t i = 0; i < n; i++)
        table_row(&res[i], &st[i], cells[i + 1]);
    size_t width[TABLE_COLS] = {0};
    for (size_t i = 0; i <= n; i++)
        for (int k = 0; k < TABLE_COLS; k++)
            if (strlen(cells[i][k]) > width[k]) width[k] = strlen(cells[i][k]);
    fprintf(f, "streamfit bench: %s, %zu training + %zu held-out rows x %zu features",
            sf_model_kind_name(c->model), shape->n_train, shape->n_hold, shape->d);
    if (shape->K) fprintf(f, ", %zu classes", shape->K);
    if (c->model != SF_MODEL_OLS) fprintf(f, ", lambda %g", c->lambda);
    if (c->input)
        fprintf(f, ", from %s", c->input);
    else
        fprintf(f, ", generated (seed %llu)", (unsigned long long)c->seed);
    fprintf(f, "; median of %d repeat%s\n", c->repeat, c->repeat == 1 ? "" : "s");
    for (size_t i = 0; i <= n; i++) {
        for (int k = 0; k < TABLE_COLS; k++) {
            bool left = k == 0 || k == TABLE_COLS - 1;
            if (k == TABLE_COLS - 1)
                fprintf(f, "%s", cells[i][k]);
            else if (left)
                fprintf(f, "%-*s  ", (int)width[k], cells[i][k]);
            else
                fprintf(f, "%*s  ", (int)width[k], cells[i][k]);
        }
        fputc('\n', f);
    }
    fprintf(f,
            "Every platform and peer reads the same CSV. wall = parse + transfer + solve\n"
            "('(in memory)' rows: transfer + solve; mpi: the slowest rank's); startup (context,\n"
            "interpreter, or mpirun launch) and data generation are not in wall; a peer's wall\n"
            "is read + fit; speed-up and coef diff against %s.\n",
            ref ? ref->name : "(no platform ran)");
    for (size_t i = 0; i < n; i++)
        table_mpi_note(&res[i], f);
    free(cells);
}

bool bench_report(const bench_config *c, const bench_run_info *info, bench_result *res,
                  size_t n_res, FILE *f)
{
    row_stats *st = calloc(n_res + 1, sizeof *st);
    if (!st) return false;
    const bench_result *ref = NULL;
    compute_stats(info->shape, res, n_res, st, &ref);
    switch (c->format) {
    case BENCH_OUT_JSON: report_json(c, info, res, st, n_res, ref, f); break;
    case BENCH_OUT_CSV: report_csv(info->shape, res, st, n_res, f); break;
    case BENCH_OUT_TABLE: report_table(c, info->shape, res, st, n_res, ref, f); break;
    }
    free(st);
    return !ferror(f);
}
