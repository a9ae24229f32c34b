/*
 * cmd_stream.c — `streamfit stream`: learn from records as they arrive
 * (Kafka, a file, a watched directory, stdin), test-then-train, with live
 * metrics, predictions, checkpoints. Flags to sf_stream_options here, the
 * status line and messages on stderr; the run is the library's
 * (streamfit_stream.h, host/pipeline/).
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "record.h"
#include "sf_mpi.h"
#include "stream_demo.h"
#include "stream_http.h"
#include "streamfit_stream.h"

static const char stream_help[] =
    "Usage: streamfit stream --source SOURCE --model MODEL [options]\n"
    "       streamfit stream --broker embedded [--model MODEL] [options]\n"
    "\n"
    "Learn from records as they arrive. The first --warmup-rows records are fitted\n"
    "exactly; then every micro-batch is predicted and scored first, and learned from\n"
    "after (test-then-train). Stops at the end of a finite source, at --max-rows or\n"
    "--max-ms, or on SIGINT/SIGTERM (finishing the batch, writing outputs, the model\n"
    "and the checkpoint, and committing offsets).\n"
    "\n"
    "Under mpirun -np N (N > 1) the ranks share a Kafka topic's partitions (partition\n"
    "p to rank p mod N) and learn one model in lockstep; each rank writes its own\n"
    "predictions (file:P.EXT -> P.rankR.EXT), rank 0 the metrics, model and checkpoint\n"
    "(resumed by as many ranks only). Needs --columns, and --classes for classifiers.\n"
    "\n"
    "Source:\n"
    "  --source URI          kafka://HOST:PORT[,HOST:PORT]/TOPIC, file:PATH, dir:PATH\n"
    "                        (new files picked up as they appear), or stdin\n"
    "  --broker embedded     start the development broker and a data feed in this\n"
    "                        process and learn from them (a demo with nothing else running)\n"
    "  --feed FILE           embedded: replay this CSV (default: a synthetic stream)\n"
    "  --feed-rate N         embedded: records per second (default 50000)\n"
    "  --group ID            Kafka consumer group (default: assign all partitions)\n"
    "  --start earliest|latest|committed   where a new run starts (default earliest;\n"
    "                        committed with --group)\n"
    "  -X KEY=VALUE          a librdkafka setting (SASL, SSL, ...) for every Kafka client\n"
    "                        it applies to (consumer, predictions and dead-letter\n"
    "                        producers), repeatable\n"
    "  --consumer-X KEY=VALUE, --producer-X KEY=VALUE   the same for the consumer or the\n"
    "                        producers only. The defaults need none for low latency and\n"
    "                        high throughput (fetch wait a quarter of --batch-ms, a fetch\n"
    "                        queue of up to 1M messages / 1 GiB, producer linger.ms=1)\n"
    "  --on-lag-loss stop|continue   records deleted upstream before they were read\n"
    "                        (the consumer fell behind the topic's retention) are\n"
    "                        reported at once (partition, offsets, count); stop: end the\n"
    "                        run after checkpointing, exit status 1 (default); continue:\n"
    "                        go on after them\n"
    "  --broker-timeout-ms T  Kafka: when no broker of the source has answered for T ms\n"
    "                        (default 60000; 0: wait for ever), finish the batch, write\n"
    "                        the checkpoint and exit with status 3, naming the brokers\n"
    "                        and the offsets reached; outputs wait as long for delivery\n"
    "  --follow              file/stdin: wait for more data at the end instead of stopping\n"
    "\n"
    "Records:\n"
    "  --format csv|json|libsvm   one record per message or line (default csv)\n"
    "  --columns y,x1,...    column names (default: the file's header line, or the\n"
    "                        first record: x1..xd around the label)\n"
    "  --label NAME|INDEX    label column (default: the first)\n"
    "  --no-header           file sources have no header line\n"
    "  --features N          LIBSVM: number of features\n"
    "  --classes A,B,...     class labels (default: from the warm-up's labels: logistic the\n"
    "                        two values if there are exactly two, else 0,1; softmax every\n"
    "                        integer value)\n"
    "  --on-error skip|fail  bad records: skip (counted, reported) or stop (default skip)\n"
    "  --dead-letter URI     kafka://.../TOPIC or file:PATH: raw bad records with position\n"
    "                        and reason\n"
    "\n"
    "Model and learning:\n"
    "  --model ols|ridge|logistic|softmax  (default logistic with --broker embedded)\n"
    "  --lambda X, --l1 X, --standardize, --no-intercept, --solver S   as for train\n"
    "  --learning-rate X     FTRL alpha of the mini-batch update (default 0.1)\n"
    "  --decay F             least squares: weight of the past per batch (0 < F <= 1)\n"
    "  --refit-every N       logistic/softmax: refit exactly every N batches (default:\n"
    "                        never) on the last --refit-window rows (default 100000);\n"
    "                        that window is not part of checkpoints\n"
    "  --warmup-rows N       records before the first fit (default 10000)\n"
    "  --warmup-ms T         or milliseconds, whichever comes first\n"
    "  --batch-rows N        a batch closes at N records (default 65536) ...\n"
    "  --batch-ms T          ... or T ms after its first record (default 10)\n"
    "  --device auto|cpu|cuda, --threads N   (CPU threads; default all cores, one fewer\n"
    "                        with the pipeline)\n"
    "  --no-pipeline         one thread: read the next batch only after learning this one\n"
    "                        (default: after the warm-up a second thread reads and parses\n"
    "                        the next batch meanwhile; same results on the same batches)\n"
    "\n"
    "Outputs:\n"
    "  --predictions URI     kafka://.../TOPIC (key copied from the input), file:PATH or\n"
    "                        stdout (flushed every batch); value: prediction\n"
    "                        [,probabilities] as CSV, shortest round-trip digits\n"
    "  --predictions-format csv|json\n"
    "  --predictions-per-message N   Kafka: N predictions per message, one a line,\n"
    "                        without a key (default 1: one per message, the input's key)\n"
    "  --metrics-out PATH    one JSON line per batch: rows; end-to-end latency p50/p99/max\n"
    "                        (Kafka timestamp, or arrival, to the prediction handed out)\n"
    "                        of the batch and of the run; the batch's processing time;\n"
    "                        records lost; throughput; metrics of the batch, the window\n"
    "                        and cumulative\n"
    "  --window N            sliding-window size for metrics (default 10000)\n"
    "  --model-out PATH      model JSON, rewritten every --save-every batches and at exit\n"
    "  --save-every N        (default 100)\n"
    "  --checkpoint-dir DIR  save state and source positions every --checkpoint-every\n"
    "                        batches (default 1); a restart with the same DIR resumes\n"
    "                        (a checkpoint of another model, configuration or columns\n"
    "                        is refused)\n"
    "  --reset-checkpoint    start over: delete the checkpoint in --checkpoint-dir first\n"
    "  --exactly-once        Kafka source and predictions: the predictions of each\n"
    "                        checkpoint's batches and the consumer offsets after them\n"
    "                        are committed in one Kafka transaction, so that a\n"
    "                        read_committed consumer sees each record's prediction once\n"
    "                        across crashes (needs --group and --checkpoint-dir; reads\n"
    "                        on one thread). Without it predictions are at-least-once:\n"
    "                        after a crash those of the batches since the last\n"
    "                        checkpoint are written again\n"
    "  --max-rows N          stop after N records (restored ones included)\n"
    "  --max-ms T            stop after T milliseconds\n"
    "  --quiet               no status line\n"
    "\n"
    "Live page (builds with HTTP support: streamfit info says http=on):\n"
    "  --http [ADDR:]PORT    serve a live page (/), its JSON (/api/status), the model\n"
    "                        (/api/model), /healthz and Prometheus /metrics; PORT 0\n"
    "                        picks a free port; the URL is printed; ADDR 127.0.0.1 by\n"
    "                        default (another address prints a warning)\n"
    "  --http-token TOKEN    every request needs 'Authorization: Bearer TOKEN' (default:\n"
    "                        the environment's STREAMFIT_HTTP_TOKEN, if set)\n"
    "  --http-linger S       after the run, keep showing its final state for S seconds\n"
    "                        (default 0; Ctrl-C ends it sooner)\n"
    "\n"
    "The development broker (streamfit broker, --broker embedded) keeps data in memory\n"
    "and is for development and tests; production uses a real Kafka cluster.\n";

enum {
    OPT_SOURCE = 5000,
    OPT_BROKER_TIMEOUT,
    OPT_BROKER,
    OPT_FEED,
    OPT_FEED_RATE,
    OPT_GROUP,
    OPT_START,
    OPT_FOLLOW,
    OPT_SFORMAT,
    OPT_COLUMNS,
    OPT_SLABEL,
    OPT_SNO_HEADER,
    OPT_SFEATURES,
    OPT_CLASSES,
    OPT_SON_ERROR,
    OPT_DEAD_LETTER,
    OPT_MODEL,
    OPT_LAMBDA,
    OPT_L1,
    OPT_STANDARDIZE,
    OPT_NO_INTERCEPT,
    OPT_SOLVER,
    OPT_LEARNING_RATE,
    OPT_DECAY,
    OPT_REFIT_EVERY,
    OPT_REFIT_WINDOW,
    OPT_WARMUP_ROWS,
    OPT_WARMUP_MS,
    OPT_BATCH_ROWS,
    OPT_BATCH_MS,
    OPT_SDEVICE,
    OPT_STHREADS,
    OPT_PREDICTIONS,
    OPT_PRED_FORMAT,
    OPT_METRICS_OUT,
    OPT_WINDOW,
    OPT_MODEL_OUT,
    OPT_SAVE_EVERY,
    OPT_CHECKPOINT_DIR,
    OPT_CHECKPOINT_EVERY,
    OPT_RESET_CHECKPOINT,
    OPT_EXACTLY_ONCE,
    OPT_MAX_ROWS,
    OPT_MAX_MS,
    OPT_QUIET,
    OPT_NO_PIPELINE,
    OPT_SHELP,
    OPT_CONSUMER_X,
    OPT_PRODUCER_X,
    OPT_ON_LAG_LOSS,
    OPT_PRED_PER_MESSAGE,
    OPT_HTTP, /* --http, --http-token, --http-linger (stream_http.c) */
};

/* The run a signal asks to stop (set while sf_stream_run goes), and a
 * signal that came before there was one to ask. */
static sf_stream *volatile running_stream;
static volatile sig_atomic_t stop_before_start;

static void on_signal(int sig)
{
    (void)sig;
    stop_before_start = 1;
    sf_stream_request_stop(running_stream);
}

/* -X, --consumer-X or --producer-X settings: key, value, ..., NULL. */
typedef struct conf_list {
    const char *kv[130];
    size_t n;
} conf_list;

typedef struct stream_args {
    sf_stream_options o;
    sf_device_kind device;
    int threads;
    bool quiet, progress_tty;
    bool status_line_open; /* a \r status line is on the terminal */
    conf_list shared, consumer, producer;
    bool model_set, embedded;
    const char *feed;
    long feed_rate;
    stream_http_args http;
    int argc;
    char **argv;
} stream_args;

static bool size_arg(const char *s, long lo, long hi, size_t *out)
{
    long v;
    if (!cli_parse_long(s, lo, hi, &v)) return false;
    *out = (size_t)v;
    return true;
}

static bool ms_arg(const char *s, int64_t *out)
{
    long v;
    if (!cli_parse_long(s, 1, 1L << 40, &v)) return false;
    *out = v;
    return true;
}

static int add_conf(conf_list *l, const char *flag, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return cli_usage_error("stream", "%s needs KEY=VALUE, not '%s'", flag, kv);
    if (l->n + 2 >= sizeof l->kv / sizeof l->kv[0])
        return cli_usage_error("stream", "too many %s settings", flag);
    char *key = strndup(kv, (size_t)(eq - kv));
    if (!key) return SF_EXIT_FAILURE;
    l->kv[l->n++] = key;
    l->kv[l->n++] = eq + 1;
    l->kv[l->n] = NULL;
    return SF_EXIT_OK;
}

static void free_confs(stream_args *a)
{
    conf_list *lists[] = {&a->shared, &a->consumer, &a->producer};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < lists[k]->n; i += 2)
            free((char *)lists[k]->kv[i]);
}

static int bad_value(const char *opt, const char *v)
{
    return cli_usage_error("stream", "invalid value '%s' for --%s", v, opt);
}

static int parse_option(stream_args *a, int opt, const char *arg, const char *name)
{
    sf_stream_options *o = &a->o;
    double x;
    switch (opt) {
    case OPT_SOURCE: o->source = arg; break;
    case OPT_BROKER:
        if (strcmp(arg, "embedded") != 0)
            return cli_usage_error("stream", "--broker takes 'embedded' (use --source "
                                             "kafka://HOST:PORT/TOPIC for a real broker)");
        a->embedded = true;
        break;
    case OPT_FEED: a->feed = arg; break;
    case OPT_FEED_RATE:
        if (!cli_parse_long(arg, 1, 100000000L, &a->feed_rate)) return bad_value(name, arg);
        break;
    case OPT_GROUP: o->group = arg; break;
    case OPT_START:
        if (strcmp(arg, "earliest") && strcmp(arg, "latest") && strcmp(arg, "committed"))
            return bad_value(name, arg);
        o->start = arg;
        break;
    case 'X': return add_conf(&a->shared, "-X", arg);
    case OPT_CONSUMER_X: return add_conf(&a->consumer, "--consumer-X", arg);
    case OPT_PRODUCER_X: return add_conf(&a->producer, "--producer-X", arg);
    case OPT_ON_LAG_LOSS:
        if (strcmp(arg, "stop") && strcmp(arg, "continue")) return bad_value(name, arg);
        o->continue_on_lag_loss = strcmp(arg, "continue") == 0;
        break;
    case OPT_FOLLOW: o->follow = true; break;
    case OPT_SFORMAT:
        if (!sf_record_format_parse(arg, &o->format)) return bad_value(name, arg);
        break;
    case OPT_COLUMNS: o->columns = arg; break;
    case OPT_SLABEL: o->label = arg; break;
    case OPT_SNO_HEADER: o->header = false; break;
    case OPT_SFEATURES:
        if (!size_arg(arg, 1, 100000000L, &o->libsvm_features)) return bad_value(name, arg);
        break;
    case OPT_CLASSES: o->classes = arg; break;
    case OPT_SON_ERROR: {
        cli_on_error e;
        if (!cli_parse_on_error(arg, &e)) return bad_value(name, arg);
        o->fail_on_error = e == CLI_ON_ERROR_FAIL;
        break;
    }
    case OPT_DEAD_LETTER: o->dead_letter = arg; break;
    case OPT_MODEL:
        if (!sf_model_kind_parse(arg, &o->fit.model)) return bad_value(name, arg);
        a->model_set = true;
        break;
    case OPT_LAMBDA:
        if (!cli_parse_double(arg, &o->fit.lambda) || o->fit.lambda < 0)
            return bad_value(name, arg);
        break;
    case OPT_L1:
        if (!cli_parse_double(arg, &o->fit.l1) || o->fit.l1 < 0) return bad_value(name, arg);
        break;
    case OPT_STANDARDIZE: o->fit.standardize = true; break;
    case OPT_NO_INTERCEPT: o->fit.fit_intercept = false; break;
    case OPT_SOLVER:
        if (!sf_solver_kind_parse(arg, &o->fit.solver)) return bad_value(name, arg);
        break;
    case OPT_LEARNING_RATE:
        if (!cli_parse_double(arg, &o->fit.learning_rate) || o->fit.learning_rate <= 0)
            return bad_value(name, arg);
        break;
    case OPT_DECAY:
        if (!cli_parse_double(arg, &x) || x <= 0 || x > 1) return bad_value(name, arg);
        o->fit.decay = x;
        break;
    case OPT_REFIT_EVERY:
        if (!size_arg(arg, 1, 1L << 40, &o->refit_every)) return bad_value(name, arg);
        break;
    case OPT_REFIT_WINDOW:
        if (!size_arg(arg, 1, 1L << 30, &o->refit_window)) return bad_value(name, arg);
        break;
    case OPT_WARMUP_ROWS:
        if (!size_arg(arg, 1, 1L << 40, &o->warmup_rows)) return bad_value(name, arg);
        break;
    case OPT_WARMUP_MS:
        if (!ms_arg(arg, &o->warmup_ms)) return bad_value(name, arg);
        break;
    case OPT_BATCH_ROWS:
        if (!size_arg(arg, 1, 1L << 26, &o->batch_rows)) return bad_value(name, arg);
        break;
    case OPT_BATCH_MS:
        if (!ms_arg(arg, &o->batch_ms)) return bad_value(name, arg);
        break;
    case OPT_SDEVICE:
        if (!sf_device_kind_parse(arg, &a->device)) return bad_value(name, arg);
        break;
    case OPT_STHREADS: {
        long v;
        if (!cli_parse_long(arg, 1, 4096, &v)) return bad_value(name, arg);
        a->threads = (int)v;
        break;
    }
    case OPT_PREDICTIONS: o->predictions = arg; break;
    case OPT_PRED_FORMAT:
        if (strcmp(arg, "csv") && strcmp(arg, "json")) return bad_value(name, arg);
        o->predictions_json = strcmp(arg, "json") == 0;
        break;
    case OPT_PRED_PER_MESSAGE:
        if (!size_arg(arg, 1, 1000000, &o->predictions_per_message)) return bad_value(name, arg);
        break;
    case OPT_METRICS_OUT: o->metrics_out = arg; break;
    case OPT_WINDOW:
        if (!size_arg(arg, 1, 1L << 26, &o->window)) return bad_value(name, arg);
        break;
    case OPT_MODEL_OUT: o->model_out = arg; break;
    case OPT_SAVE_EVERY:
        if (!size_arg(arg, 1, 1L << 40, &o->save_every)) return bad_value(name, arg);
        break;
    case OPT_CHECKPOINT_DIR: o->checkpoint_dir = arg; break;
    case OPT_RESET_CHECKPOINT: o->reset_checkpoint = true; break;
    case OPT_EXACTLY_ONCE: o->exactly_once = true; break;
    case OPT_CHECKPOINT_EVERY:
        if (!size_arg(arg, 1, 1L << 40, &o->checkpoint_every)) return bad_value(name, arg);
        break;
    case OPT_MAX_ROWS: {
        size_t v;
        if (!size_arg(arg, 1, 1L << 62, &v)) return bad_value(name, arg);
        o->max_rows = v;
        break;
    }
    case OPT_MAX_MS:
        if (!ms_arg(arg, &o->max_ms)) return bad_value(name, arg);
        break;
    case OPT_QUIET: a->quiet = true; break;
    case OPT_BROKER_TIMEOUT: {
        long v;
        if (!cli_parse_long(arg, 0, 1L << 40, &v)) return bad_value(name, arg);
        o->broker_timeout_ms = v;
        break;
    }
    case OPT_NO_PIPELINE: o->pipeline = false; break;
    case OPT_HTTP: return stream_http_option(&a->http, name, arg);
    default: return -2;
    }
    return SF_EXIT_OK;
}

/* --exactly-once: what a transaction of predictions and offsets needs. */
static int check_exactly_once(const stream_args *a)
{
    const sf_stream_options *o = &a->o;
    if (!o->exactly_once) return SF_EXIT_OK;
    bool kafka_in = o->source && strncmp(o->source, "kafka://", 8) == 0;
    bool kafka_out = o->predictions && strncmp(o->predictions, "kafka://", 8) == 0;
    const char *missing = a->embedded ? "a --source kafka://HOST:PORT/TOPIC (not --broker embedded)"
                          : !kafka_in ? "a Kafka source (--source kafka://HOST:PORT/TOPIC)"
                          : !o->group ? "a consumer group (--group ID)"
                          : !kafka_out ? "Kafka predictions (--predictions kafka://HOST:PORT/TOPIC)"
                          : !o->checkpoint_dir ? "a checkpoint directory (--checkpoint-dir DIR)"
                                               : NULL;
    if (missing) return cli_usage_error("stream", "--exactly-once needs %s", missing);
    return SF_EXIT_OK;
}

static int parse_stream_args(int argc, char **argv, stream_args *a)
{
    static const struct option longopts[] = {
        {"source", required_argument, 0, OPT_SOURCE},
        {"broker", required_argument, 0, OPT_BROKER},
        {"feed", required_argument, 0, OPT_FEED},
        {"feed-rate", required_argument, 0, OPT_FEED_RATE},
        {"group", required_argument, 0, OPT_GROUP},
        {"start", required_argument, 0, OPT_START},
        {"follow", no_argument, 0, OPT_FOLLOW},
        {"format", required_argument, 0, OPT_SFORMAT},
        {"columns", required_argument, 0, OPT_COLUMNS},
        {"label", required_argument, 0, OPT_SLABEL},
        {"no-header", no_argument, 0, OPT_SNO_HEADER},
        {"features", required_argument, 0, OPT_SFEATURES},
        {"classes", required_argument, 0, OPT_CLASSES},
        {"on-error", required_argument, 0, OPT_SON_ERROR},
        {"dead-letter", required_argument, 0, OPT_DEAD_LETTER},
        {"model", required_argument, 0, OPT_MODEL},
        {"lambda", required_argument, 0, OPT_LAMBDA},
        {"l1", required_argument, 0, OPT_L1},
        {"standardize", no_argument, 0, OPT_STANDARDIZE},
        {"no-intercept", no_argument, 0, OPT_NO_INTERCEPT},
        {"solver", required_argument, 0, OPT_SOLVER},
        {"learning-rate", required_argument, 0, OPT_LEARNING_RATE},
        {"decay", required_argument, 0, OPT_DECAY},
        {"refit-every", required_argument, 0, OPT_REFIT_EVERY},
        {"refit-window", required_argument, 0, OPT_REFIT_WINDOW},
        {"warmup-rows", required_argument, 0, OPT_WARMUP_ROWS},
        {"warmup-ms", required_argument, 0, OPT_WARMUP_MS},
        {"batch-rows", required_argument, 0, OPT_BATCH_ROWS},
        {"batch-ms", required_argument, 0, OPT_BATCH_MS},
        {"device", required_argument, 0, OPT_SDEVICE},
        {"threads", required_argument, 0, OPT_STHREADS},
        {"predictions", required_argument, 0, OPT_PREDICTIONS},
        {"predictions-format", required_argument, 0, OPT_PRED_FORMAT},
        {"metrics-out", required_argument, 0, OPT_METRICS_OUT},
        {"window", required_argument, 0, OPT_WINDOW},
        {"model-out", required_argument, 0, OPT_MODEL_OUT},
        {"save-every", required_argument, 0, OPT_SAVE_EVERY},
        {"checkpoint-dir", required_argument, 0, OPT_CHECKPOINT_DIR},
        {"checkpoint-every", required_argument, 0, OPT_CHECKPOINT_EVERY},
        {"reset-checkpoint", no_argument, 0, OPT_RESET_CHECKPOINT},
        {"exactly-once", no_argument, 0, OPT_EXACTLY_ONCE},
        {"max-rows", required_argument, 0, OPT_MAX_ROWS},
        {"max-ms", required_argument, 0, OPT_MAX_MS},
        {"quiet", no_argument, 0, OPT_QUIET},
        {"no-pipeline", no_argument, 0, OPT_NO_PIPELINE},
        {"help", no_argument, 0, OPT_SHELP},
        {"consumer-X", required_argument, 0, OPT_CONSUMER_X},
        {"producer-X", required_argument, 0, OPT_PRODUCER_X},
        {"on-lag-loss", required_argument, 0, OPT_ON_LAG_LOSS},
        {"predictions-per-message", required_argument, 0, OPT_PRED_PER_MESSAGE},
        {"broker-timeout-ms", required_argument, 0, OPT_BROKER_TIMEOUT},
        {"http", required_argument, 0, OPT_HTTP},
        {"http-token", required_argument, 0, OPT_HTTP},
        {"http-linger", required_argument, 0, OPT_HTTP},
        {0, 0, 0, 0},
    };
    int opt, idx = 0;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "X:h", longopts, &idx)) != -1) {
        if (opt == OPT_SHELP || opt == 'h') {
            fputs(stream_help, stdout);
            return -1;
        }
        const char *name = opt >= OPT_SOURCE ? longopts[idx].name : "X";
        int rc = opt == '?' || opt == ':' ? -2 : parse_option(a, opt, optarg, name);
        if (rc == -2)
            return cli_usage_error("stream", "unknown or incomplete option '%s'", argv[optind - 1]);
        if (rc != SF_EXIT_OK) return rc;
    }
    if (optind < argc) return cli_usage_error("stream", "unexpected argument '%s'", argv[optind]);
    sf_stream_options *o = &a->o;
    if (a->embedded && o->source)
        return cli_usage_error("stream", "--broker embedded and --source exclude each other");
    if (!a->embedded && !o->source) return cli_usage_error("stream", "--source is required");
    const char *u = o->source;
    if (u && strncmp(u, "kafka://", 8) && strncmp(u, "file:", 5) && strncmp(u, "dir:", 4) &&
        strcmp(u, "stdin") && strcmp(u, "-"))
        return cli_usage_error("stream",
                               "unknown source '%s' (kafka://HOST:PORT/TOPIC, file:PATH, "
                               "dir:PATH or stdin)",
                               u);
    if (!a->model_set && !a->embedded) return cli_usage_error("stream", "--model is required");
    if (o->fit.model == SF_MODEL_OLS && o->fit.lambda > 0)
        return cli_usage_error("stream", "--lambda applies to ridge, logistic and softmax");
    bool lsq = o->fit.model == SF_MODEL_OLS || o->fit.model == SF_MODEL_RIDGE;
    if (!lsq && o->fit.decay > 0 && o->fit.decay < 1)
        return cli_usage_error("stream", "--decay applies to ols and ridge");
    if (lsq && o->refit_every)
        return cli_usage_error("stream", "--refit-every applies to logistic and softmax "
                                         "(least squares updates are exact)");
    if (o->refit_every && !o->refit_window) o->refit_window = 100000;
    /* In a group, a partition this run has no checkpoint position for starts
     * where the group left it. */
    if (o->group && !o->start) o->start = "committed";
    if (o->format == SF_RECORD_LIBSVM && !o->libsvm_features)
        return cli_usage_error("stream", "--format libsvm needs --features N");
    if (lsq && o->classes) return cli_usage_error("stream", "--classes is for classifiers");
    /* Under mpirun the ranks share a Kafka topic (the library checks the rest). */
    if (sf_mpi_size() > 1 && a->embedded)
        return cli_usage_error("stream", "--broker embedded runs in one process, not under mpirun");
    if (sf_mpi_size() > 1 && a->http.listen)
        return cli_usage_error("stream", "--http is not supported under mpirun");
    if (sf_mpi_size() > 1 && a->o.exactly_once)
        return cli_usage_error("stream", "--exactly-once is not supported under mpirun");
    return check_exactly_once(a);
}

/* ---- what the run tells the terminal ---- */

static void end_status_line(stream_args *a)
{
    if (a->status_line_open) fputc('\n', stderr);
    a->status_line_open = false;
}

static void stream_log(void *user, sf_log_level level, const char *msg)
{
    stream_args *a = user;
    if (a->quiet && level > SF_LOG_ERROR) return;
    end_status_line(a);
    if (sf_mpi_size() > 1)
        fprintf(stderr, "streamfit[rank %d]: %s\n", sf_mpi_rank(), msg);
    else
        fprintf(stderr, "streamfit: %s\n", msg);
}

static void stream_progress(void *user, const sf_stream_progress *p)
{
    stream_args *a = user;
    if (a->quiet || sf_mpi_rank() != 0) return; /* every rank's rows, said once */
    char metric[64] = "warming up";
    if (isfinite(p->headline))
        snprintf(metric, sizeof metric, "%s %.4f", p->n_classes ? "accuracy" : "rmse", p->headline);
    char p99[32] = "-";
    if (isfinite(p->latency_p99_ms)) snprintf(p99, sizeof p99, "%.2f ms", p->latency_p99_ms);
    fprintf(stderr, "%sstreamfit: %llu rows | %.0f rows/s | %s | p99 %s | skipped %llu%s",
            a->progress_tty ? "\r" : "", (unsigned long long)p->rows_total, p->rows_per_s, metric,
            p99, (unsigned long long)p->rows_skipped, a->progress_tty && !p->final ? "   " : "\n");
    a->status_line_open = a->progress_tty && !p->final;
}

static void print_banner(const char *banner)
{
    for (const char *p = banner; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(stderr, "streamfit: %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

/* The run, on a context of its own; returns the exit status. */
static int run_stream(stream_args *a)
{
    /* The pipeline's reading thread needs a core of its own: the CPU backend's
     * threads, waiting for work between batches, would take it (measured on
     * 2 cores: slower than no pipeline at all). */
    int threads = a->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads == 0 && a->o.pipeline && !a->o.exactly_once)
        threads = cores > 2 ? (int)cores - 1 : 1;
    sf_context *ctx = cli_context(a->device, threads, cli_log, NULL);
    if (!ctx) return SF_EXIT_FAILURE;
    if (stream_http_start(&a->http, &a->o, ctx, a->argc, a->argv) != SF_EXIT_OK) {
        sf_context_destroy(ctx);
        return SF_EXIT_FAILURE;
    }
    sf_stream *s = NULL;
    sf_status st = sf_stream_create(ctx, &a->o, &s);
    if (st != SF_OK) {
        cli_error("%s", sf_strerror(st));
        stream_http_finish(&a->http, st, sf_strerror(st), &stop_before_start);
        sf_context_destroy(ctx);
        return SF_EXIT_FAILURE;
    }
    sf_http_set_stream(a->http.server, s);
    running_stream = s;
    if (stop_before_start) sf_stream_request_stop(s);
    st = sf_stream_run(s);
    running_stream = NULL;
    sf_stream_counters c;
    sf_stream_get_counters(s, &c);
    if (st != SF_OK) {
        end_status_line(a);
        /* The library names no flags; the command line says which one chose this. */
        char rank[32] = ""; /* under mpirun: which rank says it */
        if (sf_mpi_size() > 1) snprintf(rank, sizeof rank, "rank %d: ", sf_mpi_rank());
        cli_error("%s%s%s", rank, sf_stream_error(s),
                  st == SF_ERR_PARSE && a->o.fail_on_error ? " (--on-error fail)"
                  : st == SF_ERR_DATA_LOST && c.rows_lost
                      ? " (--on-lag-loss continue goes on after them)"
                      : "");
    } else if (!a->quiet && sf_mpi_rank() == 0) {
        fprintf(stderr, "streamfit: done: %llu rows in %llu batches, %llu bad records skipped",
                (unsigned long long)c.rows_total, (unsigned long long)c.batches,
                (unsigned long long)c.rows_skipped);
        if (c.rows_lost)
            fprintf(stderr, ", %llu records lost upstream (--on-lag-loss continue)",
                    (unsigned long long)c.rows_lost);
        fputc('\n', stderr);
    }
    stream_http_finish(&a->http, st, sf_stream_error(s), &stop_before_start);
    sf_stream_destroy(s);
    sf_context_destroy(ctx);
    return st == SF_OK                ? SF_EXIT_OK
           : st == SF_ERR_UNREACHABLE ? SF_EXIT_UNREACHABLE
                                      : SF_EXIT_FAILURE;
}

int cmd_stream(int argc, char **argv)
{
    stream_args a;
    memset(&a, 0, sizeof a);
    sf_stream_options_init(&a.o);
    a.o.fit.model = SF_MODEL_LOGISTIC;
    a.o.kafka_conf = a.shared.kv;
    a.o.consumer_conf = a.consumer.kv;
    a.o.producer_conf = a.producer.kv;
    a.feed_rate = 50000;
    a.argc = argc;
    a.argv = argv;
    int rc = parse_stream_args(argc, argv, &a);
    if (rc != SF_EXIT_OK) {
        free_confs(&a);
        return rc < 0 ? SF_EXIT_OK : rc;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    a.progress_tty = isatty(STDERR_FILENO);
    a.o.log = stream_log;
    a.o.log_user = &a;
    a.o.on_progress = stream_progress;
    a.o.user = &a;
    a.o.progress_every_ms = a.progress_tty ? 250 : 5000;
    sf_stream_demo demo;
    memset(&demo, 0, sizeof demo);
    char err[512] = "";
    if (a.embedded) {
        sf_status st = sf_stream_demo_start(&demo, &a.o, a.feed, a.feed_rate, err, sizeof err);
        if (st != SF_OK) {
            cli_error("%s", err);
            sf_stream_demo_stop(&demo);
            free_confs(&a);
            return SF_EXIT_FAILURE;
        }
        print_banner(demo.banner);
    }
    rc = run_stream(&a);
    if (a.embedded) sf_stream_demo_stop(&demo);
    free_confs(&a);
    return rc;
}
