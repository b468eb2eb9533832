/*
 * cli.c - `floq-lineage`, the command for lineage consumers: `tail` prints
 * events as they arrive, `graph` draws what flows where from the topic or a
 * file of events, `forward` bridges the topic to an OpenLineage HTTP
 * endpoint (forward.c). Flags follow kcat: -b brokers, -t topic, -X
 * librdkafka settings, -F properties file, -o floq settings; precedence
 * flags > environment (FLOQ_*) > file. lineage/main.c only calls
 * floq_lineage_cli_main(), so the tests link the code the program runs.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lineage_int.h"

extern char **environ;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
        (void)sig;
        stop_flag = 1;
}

static const char usage_text[] =
        "usage: floq-lineage [options] COMMAND [command options]\n"
        "\n"
        "Commands:\n"
        "  tail [--json] [--from-beginning] [-e]\n"
        "        print lineage events as they arrive: one line each (time,\n"
        "        eventType, job, runId, datasets) or the raw JSON\n"
        "  graph [--format dot|json|svg] [--file EVENTS.jsonl|-]\n"
        "        [--output FILE] [--svg FILE]\n"
        "        read the topic up to its end (or a file of events, one\n"
        "        JSON per line) and write the lineage graph: datasets and\n"
        "        jobs as nodes, dataset->job->dataset edges with the last\n"
        "        run state; svg is rendered by Graphviz 'dot' (needs the\n"
        "        graphviz package); --svg FILE also writes the SVG to FILE\n"
        "  forward --url URL [--group ID] [--dlq-topic TOPIC]\n"
        "        [--token-file FILE | --basic-auth-file FILE]\n"
        "        [--max-in-flight N] [--queue-max N] [--timeout-ms MS]\n"
        "        [--retry-backoff-ms MS] [--retry-max-ms MS]\n"
        "        POST every event unchanged to an OpenLineage endpoint\n"
        "        (Marquez: http://HOST:5000/api/v1/lineage); offsets are\n"
        "        committed after a 2xx only; 5xx/408/429/connection errors\n"
        "        are retried with backoff and jitter in order; other 4xx go\n"
        "        to the dead-letter topic (default " FLOQ_LINEAGE_DLQ_DEFAULT
        ")\n"
        "        with headers floq.http.status and floq.http.body. The bearer\n"
        "        token may also come from FLOQ_LINEAGE_TOKEN.\n"
        "\n"
        "Options:\n"
        "  -b BROKERS        bootstrap servers (config 'brokers')\n"
        "  -t TOPIC          lineage topic (config 'topic.lineage')\n"
        "  -X KEY=VALUE      librdkafka setting, passed through\n"
        "  -F FILE           properties file (floq and librdkafka keys)\n"
        "  -o NAME=VALUE     floq setting (see floq --help-config)\n"
        "  -v, -q            more / less logging; --log-json for JSON lines\n"
        "  -h, --help        this text; -V, --version\n"
        "\n"
        "Examples:\n"
        "  floq-lineage -b localhost:9092 tail\n"
        "  floq-lineage -b localhost:9092 tail --json --from-beginning -e\n"
        "  floq-lineage -b localhost:9092 graph --format svg "
        "--output lineage.svg\n"
        "  floq-lineage graph --file events.jsonl --format json\n"
        "  floq-lineage -b kafka:9092 -X security.protocol=SSL forward \\\n"
        "      --url http://marquez:5000/api/v1/lineage "
        "--token-file /run/secrets/ol\n";

typedef struct cli_s {
        floq_conf_t *conf;
        const char *command;
        /* tail */
        int json, from_beginning, exit_at_end;
        /* graph */
        const char *format, *file, *svg, *output;
        /* forward */
        floq_lineage_forward_conf_t fc;
        const char *url, *token_file, *basic_file;
        char *token, *basic;
} cli_t;

/* ------------------------------------------------------------- helpers */

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...) {
        va_list ap;

        fputs("floq-lineage: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

/* First line of a secret file, or NULL (errno set). Caller frees. */
static char *read_first_line(const char *path) {
        FILE *fp = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        if (!fp)
                return NULL;
        n = getline(&line, &cap, fp);
        fclose(fp);
        if (n < 0) {
                free(line);
                errno = EINVAL;
                return NULL;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
        return line;
}

static void secret_free(char *s) {
        if (s) {
                memset(s, 0, strlen(s));
                free(s);
        }
}

static int parse_int(const char *s, int64_t min, int64_t *out) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < min)
                return -1;
        *out = v;
        return 0;
}

/* ------------------------------------------------------------ arguments */

/* Settings are collected first and applied file < env < flags. */
typedef struct setting_s {
        char kind; /* 'b' brokers, 't' topic, 'X', 'o' */
        const char *value;
} setting_t;

static int parse_args(cli_t *c, int argc, char **argv) {
        setting_t *set = calloc((size_t)argc + 1, sizeof(*set));
        const char *file = NULL;
        char errstr[512];
        int nset = 0, i, verbosity = 0, log_json = 0, rc = -1;
        int64_t v;

        if (!set) {
                die("out of memory");
                return -1;
        }
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *next = i + 1 < argc ? argv[i + 1] : NULL;

#define NEED_ARG()                                                             \
        do {                                                                   \
                if (!next) {                                                   \
                        die("option '%s' needs a value", a);                   \
                        goto out;                                              \
                }                                                              \
                i++;                                                           \
        } while (0)
#define INT_ARG(dst, min)                                                      \
        do {                                                                   \
                NEED_ARG();                                                    \
                if (parse_int(next, (min), &v)) {                              \
                        die("option '%s': '%s' is not a number >= %d", a,      \
                            next, (int)(min));                                 \
                        goto out;                                              \
                }                                                              \
                (dst) = v;                                                     \
        } while (0)

                if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                        fputs(usage_text, stdout);
                        rc = 1;
                        goto out;
                } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
                        printf("floq-lineage %s\n", FLOQ_VERSION_STR);
                        rc = 1;
                        goto out;
                } else if (!strcmp(a, "-b") || !strcmp(a, "-t") ||
                           !strcmp(a, "-X") || !strcmp(a, "-o")) {
                        NEED_ARG();
                        set[nset].kind = a[1];
                        set[nset++].value = next;
                } else if (!strcmp(a, "-F")) {
                        NEED_ARG();
                        file = next;
                } else if (!strcmp(a, "-v")) {
                        verbosity++;
                } else if (!strcmp(a, "-q")) {
                        verbosity--;
                } else if (!strcmp(a, "--log-json")) {
                        log_json = 1;
                } else if (!strcmp(a, "--json")) {
                        c->json = 1;
                } else if (!strcmp(a, "--from-beginning")) {
                        c->from_beginning = 1;
                } else if (!strcmp(a, "-e") || !strcmp(a, "--exit")) {
                        c->exit_at_end = 1;
                } else if (!strcmp(a, "--format")) {
                        NEED_ARG();
                        c->format = next;
                } else if (!strcmp(a, "--file")) {
                        NEED_ARG();
                        c->file = next;
                } else if (!strcmp(a, "--svg")) {
                        NEED_ARG();
                        c->svg = next;
                } else if (!strcmp(a, "--output")) {
                        NEED_ARG();
                        c->output = next;
                } else if (!strcmp(a, "--url")) {
                        NEED_ARG();
                        c->url = next;
                } else if (!strcmp(a, "--group")) {
                        NEED_ARG();
                        c->fc.group_id = next;
                } else if (!strcmp(a, "--dlq-topic")) {
                        NEED_ARG();
                        c->fc.dlq_topic = next;
                } else if (!strcmp(a, "--token-file")) {
                        NEED_ARG();
                        c->token_file = next;
                } else if (!strcmp(a, "--basic-auth-file")) {
                        NEED_ARG();
                        c->basic_file = next;
                } else if (!strcmp(a, "--max-in-flight")) {
                        INT_ARG(c->fc.max_in_flight, 1);
                } else if (!strcmp(a, "--queue-max")) {
                        INT_ARG(c->fc.queue_max, 1);
                } else if (!strcmp(a, "--timeout-ms")) {
                        INT_ARG(c->fc.http.timeout_ms, 1);
                } else if (!strcmp(a, "--retry-backoff-ms")) {
                        INT_ARG(c->fc.backoff_ms, 1);
                } else if (!strcmp(a, "--retry-max-ms")) {
                        INT_ARG(c->fc.backoff_max_ms, 1);
                } else if (a[0] != '-' && !c->command) {
                        c->command = a;
                } else {
                        die("unknown argument '%s' (see --help)", a);
                        goto out;
                }
        }
        if (!c->command) {
                fputs(usage_text, stderr);
                goto out;
        }

        if (!(c->conf = floq_conf_new())) {
                die("out of memory");
                goto out;
        }
        if (!file)
                file = getenv("FLOQ_CONFIG");
        if (file && floq_conf_load_file(c->conf, file, errstr, sizeof(errstr))) {
                die("%s", errstr);
                goto out;
        }
        if (floq_conf_load_env(c->conf, NULL, errstr, sizeof(errstr))) {
                die("%s", errstr);
                goto out;
        }
        for (i = 0; i < nset; i++) {
                floq_err_t err = FLOQ_OK;

                switch (set[i].kind) {
                case 'b':
                        err = floq_conf_set(c->conf, "brokers", set[i].value,
                                            errstr, sizeof(errstr));
                        break;
                case 't':
                        err = floq_conf_set(c->conf, "topic.lineage",
                                            set[i].value, errstr,
                                            sizeof(errstr));
                        break;
                case 'X':
                        err = floq_conf_set_pair(c->conf, set[i].value, 1,
                                                 errstr, sizeof(errstr));
                        break;
                case 'o':
                        err = floq_conf_set_pair(c->conf, set[i].value, 0,
                                                 errstr, sizeof(errstr));
                        break;
                }
                if (err) {
                        die("%s", errstr);
                        goto out;
                }
        }
        {
                const char *lvl = floq_conf_get(c->conf, "log.level");
                const char *fmt = floq_conf_get(c->conf, "log.format");
                int level = floq_log_level_parse(lvl ? lvl : "info");

                if (level < 0)
                        level = FLOQ_LOG_INFO;
                level += verbosity;
                if (level < FLOQ_LOG_ERR)
                        level = FLOQ_LOG_ERR;
                if (level > FLOQ_LOG_DEBUG)
                        level = FLOQ_LOG_DEBUG;
                floq_log_setup("floq-lineage", level,
                               log_json || (fmt && !strcmp(fmt, "json")),
                               stderr);
        }
        rc = 0;
out:
        free(set);
        return rc;
#undef NEED_ARG
#undef INT_ARG
}

/* ------------------------------------------------------- topic reading */

/*
 * A consumer reading every partition of the lineage topic by assignment
 * (no group, nothing committed): from the beginning or the end, with
 * partition EOF events so `tail -e` and `graph` know when they caught up.
 */
static rd_kafka_t *reader_new(const cli_t *c, int from_beginning,
                              int *part_cnt) {
        const char *topic = floq_conf_str(c->conf, "topic.lineage");
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_conf_t *kc;
        rd_kafka_topic_t *rkt = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[512], group[64], uuid[37];
        rd_kafka_resp_err_t err;
        int i;

        if (!(kc = floq_kafka_conf_new(c->conf, "consumer", errstr,
                                       sizeof(errstr)))) {
                die("%s", errstr);
                return NULL;
        }
        floq_uuid_new(uuid);
        snprintf(group, sizeof(group), "floq-lineage-%s", uuid);
        if (rd_kafka_conf_set(kc, "group.id", group, errstr, sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                              sizeof(errstr))) {
                rd_kafka_conf_destroy(kc);
                die("%s", errstr);
                return NULL;
        }
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                sizeof(errstr)))) {
                rd_kafka_conf_destroy(kc);
                die("cannot create consumer: %s", errstr);
                return NULL;
        }
        rd_kafka_poll_set_consumer(rk);
        rkt = rd_kafka_topic_new(rk, topic, NULL);
        err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        if (err || md->topic_cnt != 1 || md->topics[0].err) {
                die("cannot read topic '%s': %s", topic,
                    rd_kafka_err2str(err ? err : md->topics[0].err));
                goto fail;
        }
        *part_cnt = md->topics[0].partition_cnt;
        l = rd_kafka_topic_partition_list_new(*part_cnt);
        for (i = 0; i < *part_cnt; i++)
                rd_kafka_topic_partition_list_add(
                        l, topic, md->topics[0].partitions[i].id)
                        ->offset = from_beginning ? RD_KAFKA_OFFSET_BEGINNING
                                                  : RD_KAFKA_OFFSET_END;
        if ((err = rd_kafka_assign(rk, l))) {
                die("cannot assign '%s': %s", topic, rd_kafka_err2str(err));
                goto fail;
        }
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return rk;
fail:
        if (l)
                rd_kafka_topic_partition_list_destroy(l);
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return NULL;
}

static void reader_destroy(rd_kafka_t *rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
}

/* ----------------------------------------------------------------- tail */

static const char *jstr(const json_t *obj, const char *key) {
        const char *v = json_string_value(json_object_get(obj, key));

        return v ? v : "-";
}

/* One readable line: time, type, job, run, datasets, error message. */
static void print_line(const rd_kafka_message_t *rkm, FILE *out) {
        json_error_t jerr;
        json_t *ev = json_loadb(rkm->payload, rkm->len, 0, &jerr);
        const char *msg;

        if (!json_is_object(ev)) {
                fprintf(out, "[%d] @%lld: not a JSON event (%zu bytes)\n",
                        (int)rkm->partition, (long long)rkm->offset,
                        rkm->len);
                json_decref(ev);
                return;
        }
        fprintf(out, "%s %-8s %s/%s run %s in:%zu out:%zu",
                jstr(ev, "eventTime"), jstr(ev, "eventType"),
                jstr(json_object_get(ev, "job"), "namespace"),
                jstr(json_object_get(ev, "job"), "name"),
                jstr(json_object_get(ev, "run"), "runId"),
                json_array_size(json_object_get(ev, "inputs")),
                json_array_size(json_object_get(ev, "outputs")));
        msg = json_string_value(json_object_get(
                json_object_get(json_object_get(json_object_get(ev, "run"),
                                                "facets"),
                                "errorMessage"),
                "message"));
        if (msg) {
                /* one line, whatever the message holds */
                fputs(" error: ", out);
                for (; *msg; msg++)
                        fputc((unsigned char)*msg < 0x20 ? ' ' : *msg, out);
        }
        fputc('\n', out);
        json_decref(ev);
}

static int cmd_tail(cli_t *c) {
        int part_cnt = 0, eofs = 0;
        rd_kafka_t *rk = reader_new(c, c->from_beginning, &part_cnt);

        if (!rk)
                return 1;
        while (!stop_flag) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);

                if (!rkm)
                        continue;
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (c->exit_at_end && ++eofs >= part_cnt) {
                                rd_kafka_message_destroy(rkm);
                                break;
                        }
                } else if (rkm->err) {
                        floq_warn("tail", "%s", rd_kafka_message_errstr(rkm));
                } else if (c->json) {
                        fwrite(rkm->payload, 1, rkm->len, stdout);
                        fputc('\n', stdout);
                } else {
                        print_line(rkm, stdout);
                }
                fflush(stdout);
                rd_kafka_message_destroy(rkm);
        }
        reader_destroy(rk);
        return 0;
}

/* ---------------------------------------------------------------- graph */

static void graph_add_text(floq_lineage_graph_t *g, const char *text,
                           size_t len) {
        json_error_t jerr;
        json_t *ev = json_loadb(text, len, 0, &jerr);

        if (ev && floq_lineage_graph_add(g, ev) == FLOQ_OK) {
                json_decref(ev);
                return;
        }
        if (!ev) {
                /* counted as skipped like any event that is no RunEvent */
                json_t *none = json_object();

                floq_lineage_graph_add(g, none);
                json_decref(none);
        }
        json_decref(ev);
}

static int graph_from_file(floq_lineage_graph_t *g, const char *path) {
        FILE *fp = strcmp(path, "-") ? fopen(path, "r") : stdin;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        if (!fp)
                return die("cannot open '%s': %s", path, strerror(errno));
        while ((n = getline(&line, &cap, fp)) >= 0) {
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                                 line[n - 1] == ' '))
                        line[--n] = '\0';
                if (n > 0)
                        graph_add_text(g, line, (size_t)n);
        }
        free(line);
        if (fp != stdin)
                fclose(fp);
        return 0;
}

static int graph_from_topic(floq_lineage_graph_t *g, cli_t *c) {
        int part_cnt = 0, eofs = 0;
        rd_kafka_t *rk = reader_new(c, 1, &part_cnt);

        if (!rk)
                return 1;
        /* up to the end as it was when we got there, partition by
         * partition; read_committed: open transactions are not waited on
         * beyond the last stable offset */
        while (!stop_flag && eofs < part_cnt) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 500);

                if (!rkm)
                        continue;
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        eofs++;
                else if (rkm->err)
                        floq_warn("graph", "%s",
                                  rd_kafka_message_errstr(rkm));
                else if (rkm->payload)
                        graph_add_text(g, rkm->payload, rkm->len);
                rd_kafka_message_destroy(rkm);
        }
        reader_destroy(rk);
        return stop_flag ? 1 : 0;
}

/* Where a graph goes: stdout, or a file written atomically (PATH.tmp,
 * fsync, rename), so a failed render never leaves half a file behind; a
 * path that exists and is no regular file (/dev/stdout, a FIFO) is
 * written directly. */
typedef struct sink_s {
        FILE *fp;
        const char *path; /* NULL: stdout or direct */
        char tmp[4096];
} sink_t;

static int sink_open(sink_t *s, const char *path) {
        struct stat st;

        memset(s, 0, sizeof(*s));
        s->fp = stdout;
        if (!path)
                return 0;
        if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
                if (!(s->fp = fopen(path, "w")))
                        return die("cannot open '%s': %s", path,
                                   strerror(errno));
                return 0;
        }
        if ((size_t)snprintf(s->tmp, sizeof(s->tmp), "%s.tmp", path) >=
            sizeof(s->tmp))
                return die("path too long: '%s'", path);
        if (!(s->fp = fopen(s->tmp, "w"))) {
                s->fp = NULL;
                return die("cannot open '%s': %s", s->tmp, strerror(errno));
        }
        s->path = path;
        return 0;
}

/* Finish @p s: on @p ok publish the file (or flush stdout), else remove
 * the temporary file. Returns 0 when the output is complete. */
static int sink_close(sink_t *s, int ok) {
        int rc = 0;

        if (!s->fp)
                return 1;
        if (!s->path) {
                if ((s->fp == stdout ? fflush(s->fp) : fclose(s->fp)) && ok)
                        rc = die("cannot write the graph: %s",
                                 strerror(errno));
                s->fp = NULL;
                return rc || !ok;
        }
        if (ok && (fflush(s->fp) || fsync(fileno(s->fp))))
                rc = die("cannot write '%s': %s", s->tmp, strerror(errno));
        if (fclose(s->fp) && ok && !rc)
                rc = die("cannot write '%s': %s", s->tmp, strerror(errno));
        s->fp = NULL;
        if (ok && !rc && rename(s->tmp, s->path))
                rc = die("cannot rename '%s' to '%s': %s", s->tmp, s->path,
                         strerror(errno));
        if (!ok || rc)
                unlink(s->tmp);
        return rc || !ok;
}

/* The executable @p name on $PATH into @p buf; 0, or -1 when there is
 * none. Looked up here rather than left to posix_spawnp() so that a
 * missing program is told apart from one that fails, whatever the libc
 * (or valgrind) reports for an exec that fails after the spawn. */
static int find_in_path(const char *name, char *buf, size_t size) {
        const char *path = getenv("PATH"), *p, *end;
        struct stat st;
        size_t len;

        if (!path)
                path = "/usr/bin:/bin";
        for (p = path;; p = end + 1) {
                end = strchr(p, ':');
                len = end ? (size_t)(end - p) : strlen(p);
                if ((size_t)snprintf(buf, size, "%.*s%s%s", (int)len, p,
                                     len ? "/" : "", name) < size &&
                    !stat(buf, &st) && S_ISREG(st.st_mode) &&
                    !access(buf, X_OK))
                        return 0;
                if (!end)
                        return -1;
        }
}

/*
 * SVG of @p g on @p out: the DOT text piped through Graphviz's dot -Tsvg,
 * run without a shell, its stdout being @p out's descriptor. @p path names
 * the destination in errors (NULL: stdout). Returns 0 or 1 (error printed).
 */
static int render_svg(const floq_lineage_graph_t *g, FILE *out,
                      const char *path) {
        char *argv[] = { "dot", "-Tsvg", NULL };
        posix_spawn_file_actions_t fa;
        int in[2], status, rc, werr;
        char dot[4096], what[4096];
        FILE *dot_in;
        pid_t pid;

        if (path)
                snprintf(what, sizeof(what), "'%s'", path);
        else
                snprintf(what, sizeof(what), "the SVG");
        if (find_in_path("dot", dot, sizeof(dot)))
                return die("cannot write %s: Graphviz 'dot' is not "
                           "installed (package graphviz); --format dot "
                           "writes the DOT text to render elsewhere",
                           what);
        if (fflush(out))
                return die("cannot write %s: %s", what, strerror(errno));
        if (pipe(in))
                return die("cannot make a pipe: %s", strerror(errno));
        if (posix_spawn_file_actions_init(&fa)) {
                close(in[0]);
                close(in[1]);
                return die("out of memory");
        }
        posix_spawn_file_actions_addclose(&fa, in[1]);
        if (in[0] != STDIN_FILENO) {
                posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
                posix_spawn_file_actions_addclose(&fa, in[0]);
        }
        if (fileno(out) != STDOUT_FILENO)
                posix_spawn_file_actions_adddup2(&fa, fileno(out),
                                                 STDOUT_FILENO);
        rc = posix_spawn(&pid, dot, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        if (rc) {
                close(in[1]);
                return die("cannot run '%s': %s", dot, strerror(rc));
        }
        /* SIGPIPE is ignored: a dot that dies early gives EPIPE here and
         * its exit status below says why */
        werr = 1;
        if ((dot_in = fdopen(in[1], "w"))) {
                werr = floq_lineage_graph_write_dot(g, dot_in);
                werr |= fclose(dot_in);
        } else {
                close(in[1]);
        }
        while ((rc = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
                ;
        if (rc < 0)
                return die("cannot wait for 'dot': %s", strerror(errno));
        if (WIFSIGNALED(status))
                return die("'dot' was killed by signal %d rendering %s",
                           WTERMSIG(status), what);
        if (WEXITSTATUS(status))
                return die("'%s' failed rendering %s (exit status %d%s)",
                           dot, what, WEXITSTATUS(status),
                           WEXITSTATUS(status) == 127 ? ": cannot execute"
                                                      : "");
        if (werr)
                return die("cannot hand the graph to 'dot'");
        return 0;
}

static int cmd_graph(cli_t *c) {
        floq_lineage_graph_t *g = floq_lineage_graph_new();
        const char *format = c->format ? c->format : "dot";
        sink_t out = { 0 }, svg = { 0 };
        int rc = 1, werr;

        if (!g)
                return die("out of memory");
        if (strcmp(format, "dot") && strcmp(format, "json") &&
            strcmp(format, "svg")) {
                die("unknown format '%s': expected dot, json or svg",
                    format);
                goto out;
        }
        if (c->file ? graph_from_file(g, c->file) : graph_from_topic(g, c))
                goto out;
        if (sink_open(&out, c->output))
                goto out;
        if (!strcmp(format, "json")) {
                json_t *gj = floq_lineage_graph_to_json(g);

                werr = !gj || json_dumpf(gj, out.fp, JSON_INDENT(2)) ||
                       fputc('\n', out.fp) == EOF;
                json_decref(gj);
                if (werr)
                        die("cannot write the graph");
        } else if (!strcmp(format, "svg")) {
                werr = render_svg(g, out.fp, c->output);
        } else {
                werr = floq_lineage_graph_write_dot(g, out.fp);
                if (werr)
                        die("cannot write the graph");
        }
        if (sink_close(&out, !werr))
                goto out;
        if (c->svg) {
                if (sink_open(&svg, c->svg))
                        goto out;
                if (sink_close(&svg, !render_svg(g, svg.fp, c->svg)))
                        goto out;
        }
        rc = 0;
out:
        if (out.fp)
                sink_close(&out, 0);
        floq_lineage_graph_destroy(g);
        return rc;
}

/* -------------------------------------------------------------- forward */

static int cmd_forward(cli_t *c) {
        char errstr[512];
        const char *env_token = getenv("FLOQ_LINEAGE_TOKEN");
        floq_err_t err;

        if (!c->url)
                return die("forward needs --url URL (e.g. "
                           "http://marquez:5000/api/v1/lineage)");
        if (c->token_file && c->basic_file)
                return die("--token-file and --basic-auth-file exclude each "
                           "other");
        if (c->token_file) {
                if (!(c->token = read_first_line(c->token_file)))
                        return die("cannot read '%s': %s", c->token_file,
                                   strerror(errno));
        } else if (env_token && *env_token && !c->basic_file) {
                if (!(c->token = strdup(env_token)))
                        return die("out of memory");
        }
        if (c->basic_file) {
                if (!(c->basic = read_first_line(c->basic_file)))
                        return die("cannot read '%s': %s", c->basic_file,
                                   strerror(errno));
                if (!strchr(c->basic, ':'))
                        return die("'%s' must hold user:password",
                                   c->basic_file);
        }
        c->fc.conf = c->conf;
        c->fc.topic = floq_conf_str(c->conf, "topic.lineage");
        if (!c->fc.group_id)
                c->fc.group_id = "floq-lineage-forward";
        if (!c->fc.dlq_topic)
                c->fc.dlq_topic = FLOQ_LINEAGE_DLQ_DEFAULT;
        c->fc.http.url = c->url;
        c->fc.http.bearer_token = c->token;
        c->fc.http.basic_auth = c->basic;
        if (!c->fc.http.timeout_ms)
                c->fc.http.timeout_ms =
                        (long)floq_conf_int(c->conf, "http.timeout.ms");
        if (!c->fc.max_in_flight)
                c->fc.max_in_flight = 16;
        if (!c->fc.queue_max)
                c->fc.queue_max = 256;
        if (!c->fc.backoff_ms)
                c->fc.backoff_ms = 200;
        if (!c->fc.backoff_max_ms)
                c->fc.backoff_max_ms = 30000;
        if (c->fc.backoff_max_ms < c->fc.backoff_ms)
                c->fc.backoff_max_ms = c->fc.backoff_ms;
        c->fc.commit_interval_ms = 200;
        c->fc.drain_ms = 10000;
        c->fc.stop = &stop_flag;
        if ((err = floq_lineage_forward(&c->fc, errstr, sizeof(errstr))))
                return die("%s", errstr);
        return 0;
}

/* ----------------------------------------------------------------- main */

int floq_lineage_cli_main(int argc, char **argv) {
        cli_t c;
        struct sigaction sa;
        int rc;

        memset(&c, 0, sizeof(c));
        rc = parse_args(&c, argc, argv);
        if (rc) {
                floq_conf_destroy(c.conf);
                return rc > 0 ? 0 : 2; /* --help/--version : usage error */
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (!strcmp(c.command, "tail"))
                rc = cmd_tail(&c);
        else if (!strcmp(c.command, "graph"))
                rc = cmd_graph(&c);
        else if (!strcmp(c.command, "forward"))
                rc = cmd_forward(&c);
        else
                rc = die("unknown command '%s': expected tail, graph or "
                         "forward",
                         c.command) + 1;
        secret_free(c.token);
        secret_free(c.basic);
        floq_conf_destroy(c.conf);
        return rc;
}
