/*
 * cli.c - the `floq` command-line tool over libfloq: parses the command
 * line with kcat's manners (-b brokers, -X librdkafka passthrough, -F
 * properties file, FLOQ_* environment), publishes one command, waits for
 * its reply (or, for `run --wait`, the run's terminal state) and turns the
 * outcome into an exit code scripts can branch on. `watch` follows the
 * reply (and lineage) topic live. producer/main.c is only a call to
 * floq_cli_main(), so the unit tests exercise this parser directly.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

static volatile sig_atomic_t cli_stop;

/* ------------------------------------------------------------ commands */

static const char *const cmd_names[FLOQ_CLI__CNT] = {
        [FLOQ_CLI_NONE] = "",
        [FLOQ_CLI_DEPLOY] = "deploy",
        [FLOQ_CLI_RUN] = "run",
        [FLOQ_CLI_STOP] = "stop",
        [FLOQ_CLI_SCHEDULE] = "schedule",
        [FLOQ_CLI_UNSCHEDULE] = "unschedule",
        [FLOQ_CLI_STATUS] = "status",
        [FLOQ_CLI_VALIDATE] = "validate",
        [FLOQ_CLI_WATCH] = "watch",
        [FLOQ_CLI_HELP] = "help",
        [FLOQ_CLI_VERSION] = "version",
        [FLOQ_CLI_CRON_NEXT] = "cron-next",
        [FLOQ_CLI_PAUSE] = "pause",
        [FLOQ_CLI_RESUME] = "resume",
};

const char *floq_cli_cmd_name(floq_cli_cmd_t cmd) {
        return cmd > FLOQ_CLI_NONE && cmd < FLOQ_CLI__CNT ? cmd_names[cmd]
                                                          : "";
}

static floq_cli_cmd_t cmd_lookup(const char *s) {
        for (int i = FLOQ_CLI_NONE + 1; i < FLOQ_CLI__CNT; i++)
                if (!strcmp(s, cmd_names[i]))
                        return (floq_cli_cmd_t)i;
        return FLOQ_CLI_NONE;
}

static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return 99;
        size_t d[65][65];
        for (size_t i = 0; i <= la; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= la; i++)
                for (size_t j = 1; j <= lb; j++) {
                        size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
                        if (d[i - 1][j] + 1 < c)
                                c = d[i - 1][j] + 1;
                        if (d[i][j - 1] + 1 < c)
                                c = d[i][j - 1] + 1;
                        d[i][j] = c;
                }
        return d[la][lb];
}

static const char *closest(const char *word, const char *const *cands,
                           size_t cnt) {
        const char *best = NULL;
        size_t bestd = 3; /* at most two edits away */
        for (size_t i = 0; i < cnt; i++) {
                if (!cands[i] || !*cands[i])
                        continue;
                size_t d = edit_distance(word, cands[i]);
                if (d < bestd ||
                    (!strncmp(word, cands[i], strlen(word)) && strlen(word) >= 2 &&
                     d < 99 && !best)) {
                        best = cands[i];
                        bestd = d < bestd ? d : bestd;
                }
        }
        return best;
}

const char *floq_cli_suggest(const char *word) {
        return closest(word, cmd_names, FLOQ_CLI__CNT);
}

/* ------------------------------------------------------------- options */

#define C(x) (1u << FLOQ_CLI_##x)
#define ALLCMDS 0xffffffffu

enum opt_id {
        O_BROKERS, O_XPROP, O_CONFIG, O_SET, O_JSON, O_VERBOSE, O_TIMEOUT,
        O_CORR, O_EXPIRES, O_HELP,
        O_BACKEND, O_SPEC, O_RUN_TIMEOUT, O_RETRIES, O_BACKOFF, O_ARTIFACT,
        O_SHA256, O_NAMESPACE,
        O_PARAM, O_IDEM, O_WAIT,
        O_RUN, O_DEPLOYMENT,
        O_CRON, O_TZ, O_CATCHUP, O_CATCHUP_MAX, O_OVERLAP, O_JITTER, O_ID,
        O_LINEAGE, O_FROM, O_COUNT,
        O_START, O_END, O_PAUSED, O_INPUT, O_OUTPUT,
};

static const struct opt {
        const char *lng;
        char shrt;
        int has_arg;
        unsigned cmds;
        enum opt_id id;
        const char *argname;
} opts[] = {
        {"brokers", 'b', 1, ALLCMDS, O_BROKERS, "BROKERS"},
        {"property", 'X', 1, ALLCMDS, O_XPROP, "KEY=VALUE"},
        {"config", 'F', 1, ALLCMDS, O_CONFIG, "FILE"},
        {"set", 'o', 1, ALLCMDS, O_SET, "NAME=VALUE"},
        {"json", 'j', 0, ALLCMDS, O_JSON, NULL},
        {"verbose", 'v', 0, ALLCMDS, O_VERBOSE, NULL},
        {"timeout", 't', 1, ALLCMDS, O_TIMEOUT, "DUR"},
        {"correlation-id", 0, 1, ALLCMDS, O_CORR, "ID"},
        {"expires", 0, 1, ALLCMDS, O_EXPIRES, "DUR"},
        {"help", 'h', 0, ALLCMDS, O_HELP, NULL},
        {"backend", 0, 1, C(DEPLOY), O_BACKEND, "BACKEND"},
        {"spec", 's', 1, C(DEPLOY) | C(VALIDATE), O_SPEC, "FILE"},
        {"run-timeout", 0, 1, C(DEPLOY) | C(RUN), O_RUN_TIMEOUT, "DUR"},
        {"retries", 0, 1, C(DEPLOY), O_RETRIES, "N"},
        {"backoff", 0, 1, C(DEPLOY), O_BACKOFF, "DUR"},
        {"artifact-url", 0, 1, C(DEPLOY), O_ARTIFACT, "URL"},
        {"sha256", 0, 1, C(DEPLOY), O_SHA256, "HEX"},
        {"namespace", 0, 1, C(DEPLOY), O_NAMESPACE, "NS"},
        {"input", 0, 1, C(DEPLOY), O_INPUT, "NAMESPACE,NAME"},
        {"output", 0, 1, C(DEPLOY), O_OUTPUT, "NAMESPACE,NAME"},
        {"param", 'p', 1, C(RUN) | C(SCHEDULE), O_PARAM, "KEY=VALUE"},
        {"idempotency-key", 'k', 1, C(RUN), O_IDEM, "KEY"},
        {"wait", 'w', 0, C(RUN), O_WAIT, NULL},
        {"run", 'r', 1, C(STOP) | C(STATUS), O_RUN, "RUN_ID"},
        {"deployment", 'd', 1, C(STATUS) | C(VALIDATE), O_DEPLOYMENT,
         "NAME"},
        {"cron", 0, 1, C(SCHEDULE), O_CRON, "EXPR"},
        {"tz", 0, 1, C(SCHEDULE) | C(CRON_NEXT), O_TZ, "ZONE"},
        {"catchup", 0, 1, C(SCHEDULE), O_CATCHUP, "skip|latest|all"},
        {"catchup-max", 0, 1, C(SCHEDULE), O_CATCHUP_MAX, "N"},
        {"overlap", 0, 1, C(SCHEDULE), O_OVERLAP,
         "allow|skip|buffer_one|cancel_previous"},
        {"jitter", 0, 1, C(SCHEDULE), O_JITTER, "DUR"},
        {"id", 0, 1, C(SCHEDULE) | C(UNSCHEDULE) | C(PAUSE) | C(RESUME), O_ID,
         "SCHEDULE_ID"},
        {"start", 0, 1, C(SCHEDULE), O_START, "ISO8601"},
        {"end", 0, 1, C(SCHEDULE), O_END, "ISO8601"},
        {"paused", 0, 0, C(SCHEDULE), O_PAUSED, NULL},
        {"lineage", 'l', 0, C(WATCH), O_LINEAGE, NULL},
        {"from", 0, 1, C(CRON_NEXT), O_FROM, "ISO8601"},
        {"count", 'n', 1, C(CRON_NEXT), O_COUNT, "N"},
};
#define OPT_CNT (sizeof(opts) / sizeof(opts[0]))

int64_t floq_cli_parse_duration(const char *s) {
        char *end;
        if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
                return -1;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0)
                return -1;
        double mul;
        if (!*end || !strcmp(end, "s"))
                mul = 1000;
        else if (!strcmp(end, "ms"))
                mul = 1;
        else if (!strcmp(end, "m"))
                mul = 60000;
        else if (!strcmp(end, "h"))
                mul = 3600000;
        else if (!strcmp(end, "d"))
                mul = 86400000;
        else
                return -1;
        v *= mul;
        if (v > 365.0 * 86400000)
                return -1;
        return (int64_t)(v + 0.5);
}

static int parse_int(const char *s, long min, long max, long *out) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

/* "skip" -> "SKIP" when it is one of @p syms (NULL-terminated). */
static const char *enum_symbol(const char *s, const char *const *syms) {
        char up[32];
        size_t i;
        for (i = 0; s[i] && i < sizeof(up) - 1; i++)
                up[i] = s[i] == '-' ? '_' : (char)toupper((unsigned char)s[i]);
        up[i] = '\0';
        for (i = 0; syms[i]; i++)
                if (!strcmp(up, syms[i]))
                        return syms[i];
        return NULL;
}

static const char *const catchup_syms[] = {"SKIP", "LATEST", "ALL", NULL};
static const char *const overlap_syms[] = {"ALLOW", "SKIP", "BUFFER_ONE",
                                           "CANCEL_PREVIOUS", NULL};

static int usage_err(char *errstr, size_t errstr_size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int usage_err(char *errstr, size_t errstr_size, const char *fmt,
                     ...) {
        va_list ap;
        va_start(ap, fmt);
        if (errstr && errstr_size)
                vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
        return FLOQ_EXIT_USAGE;
}

static int add_param(floq_cli_args_t *args, const char *kv, char *errstr,
                     size_t errstr_size) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
                return usage_err(errstr, errstr_size,
                                 "bad parameter '%s': expected KEY=VALUE",
                                 kv);
        char *key = strndup(kv, (size_t)(eq - kv));
        if (!key)
                return usage_err(errstr, errstr_size, "out of memory");
        if (!args->params)
                args->params = json_object();
        json_t *val = json_string(eq + 1);
        if (!val) {
                free(key);
                return usage_err(errstr, errstr_size,
                                 "bad parameter '%s': value is not UTF-8",
                                 kv);
        }
        json_object_set_new(args->params, key, val);
        free(key);
        return 0;
}

/* --input/--output NAMESPACE,NAME: split at the first ','. OpenLineage
 * namespaces are a scheme and an authority (postgres://db:5432, s3://bkt,
 * kafka://broker:9092, bigquery) and never hold a ',', while names
 * (tables, paths, topics) may, so the first ',' is always the split;
 * ':', '/' and '@' all occur in namespaces and could not be. */
static int add_dataset(json_t **arr, const char *opt, const char *val,
                       char *errstr, size_t errstr_size) {
        const char *comma = strchr(val, ',');
        json_t *ds, *ns, *nm;
        char *nstext;

        if (!comma || comma == val || !comma[1])
                return usage_err(errstr, errstr_size,
                                 "bad --%s '%s': expected NAMESPACE,NAME, "
                                 "e.g. postgres://db:5432,shop.orders",
                                 opt, val);
        if (!(nstext = strndup(val, (size_t)(comma - val))))
                return usage_err(errstr, errstr_size, "out of memory");
        ns = json_string(nstext);
        nm = json_string(comma + 1);
        free(nstext);
        if (!ns || !nm) {
                json_decref(ns);
                json_decref(nm);
                return usage_err(errstr, errstr_size,
                                 "bad --%s '%s': not UTF-8", opt, val);
        }
        if (!*arr)
                *arr = json_array();
        ds = json_object();
        json_object_set_new(ds, "namespace", ns);
        json_object_set_new(ds, "name", nm);
        json_array_append_new(*arr, ds);
        return 0;
}

static int pair_ok(const char *kv) {
        const char *eq = strchr(kv, '=');
        return eq && eq != kv;
}

static int apply_opt(floq_cli_args_t *args, const struct opt *o,
                     const char *val, char *errstr, size_t errstr_size) {
        long n;
        int64_t ms;
        switch (o->id) {
        case O_BROKERS:
                args->brokers = val;
                break;
        case O_XPROP:
        case O_SET:
                if (!pair_ok(val))
                        return usage_err(errstr, errstr_size,
                                         "bad -%c '%s': expected KEY=VALUE",
                                         o->shrt, val);
                if (o->id == O_XPROP) {
                        if (args->kafka_cnt == FLOQ_CLI_MAX_PAIRS)
                                return usage_err(errstr, errstr_size,
                                                 "too many -X");
                        args->kafka_pairs[args->kafka_cnt++] = val;
                } else {
                        if (args->floq_cnt == FLOQ_CLI_MAX_PAIRS)
                                return usage_err(errstr, errstr_size,
                                                 "too many -o");
                        args->floq_pairs[args->floq_cnt++] = val;
                }
                break;
        case O_CONFIG:
                args->config_file = val;
                break;
        case O_JSON:
                args->json = 1;
                break;
        case O_VERBOSE:
                args->verbose++;
                break;
        case O_HELP:
                break; /* handled by the caller */
        case O_TIMEOUT:
        case O_RUN_TIMEOUT:
        case O_BACKOFF:
        case O_JITTER:
        case O_EXPIRES:
                if ((ms = floq_cli_parse_duration(val)) < 0)
                        return usage_err(errstr, errstr_size,
                                         "bad duration '%s' for --%s: "
                                         "expected e.g. 500ms, 30s, 5m, 2h",
                                         val, o->lng);
                if (o->id == O_TIMEOUT)
                        args->timeout_ms = ms;
                else if (o->id == O_RUN_TIMEOUT)
                        args->run_timeout_ms = ms;
                else if (o->id == O_BACKOFF)
                        args->backoff_ms = ms;
                else if (o->id == O_JITTER)
                        args->jitter_ms = ms;
                else
                        args->expires_in_ms = ms;
                break;
        case O_CORR:
                args->correlation_id = val;
                break;
        case O_BACKEND:
                args->backend = val;
                break;
        case O_SPEC:
                args->spec_file = val;
                break;
        case O_RETRIES:
                if (parse_int(val, 0, 1000, &n))
                        return usage_err(errstr, errstr_size,
                                         "bad --retries '%s': expected a "
                                         "number 0..1000",
                                         val);
                args->retries = (int)n;
                break;
        case O_ARTIFACT:
                args->artifact_url = val;
                break;
        case O_SHA256:
                args->artifact_sha256 = val;
                break;
        case O_NAMESPACE:
                args->namespace_ = val;
                break;
        case O_PARAM:
                return add_param(args, val, errstr, errstr_size);
        case O_IDEM:
                args->idempotency_key = val;
                break;
        case O_WAIT:
                args->wait = 1;
                break;
        case O_RUN:
                args->run_id = val;
                break;
        case O_DEPLOYMENT:
                args->deployment = val;
                break;
        case O_CRON:
                args->cron = val;
                break;
        case O_TZ:
                args->tz = val;
                break;
        case O_CATCHUP:
                if (!(args->catchup = enum_symbol(val, catchup_syms)))
                        return usage_err(errstr, errstr_size,
                                         "bad --catchup '%s': expected skip, "
                                         "latest or all",
                                         val);
                break;
        case O_CATCHUP_MAX:
                if (parse_int(val, 1, 100000, &n))
                        return usage_err(errstr, errstr_size,
                                         "bad --catchup-max '%s': expected a "
                                         "number 1..100000",
                                         val);
                args->catchup_max = (int)n;
                break;
        case O_OVERLAP:
                if (!(args->overlap = enum_symbol(val, overlap_syms)))
                        return usage_err(errstr, errstr_size,
                                         "bad --overlap '%s': expected allow, "
                                         "skip, buffer_one or "
                                         "cancel_previous",
                                         val);
                break;
        case O_ID:
                args->schedule_id = val;
                break;
        case O_LINEAGE:
                args->lineage = 1;
                break;
        case O_FROM: {
                int64_t t;
                if (floq_iso_parse(val, &t))
                        return usage_err(errstr, errstr_size,
                                         "bad --from '%s': expected an ISO "
                                         "8601 instant with Z or an offset, "
                                         "e.g. 2026-03-08T01:59:00Z",
                                         val);
                args->from = val;
                break;
        }
        case O_START:
        case O_END: {
                int64_t t;
                if (floq_iso_parse(val, &t) || t <= 0)
                        return usage_err(errstr, errstr_size,
                                         "bad --%s '%s': expected an ISO "
                                         "8601 instant with Z or an offset, "
                                         "e.g. 2026-03-08T01:59:00Z",
                                         o->lng, val);
                if (o->id == O_START)
                        args->start_at_ms = t;
                else
                        args->end_at_ms = t;
                break;
        }
        case O_PAUSED:
                args->paused = 1;
                break;
        case O_INPUT:
                return add_dataset(&args->inputs, o->lng, val, errstr,
                                   errstr_size);
        case O_OUTPUT:
                return add_dataset(&args->outputs, o->lng, val, errstr,
                                   errstr_size);
        case O_COUNT:
                if (parse_int(val, 1, 10000, &n))
                        return usage_err(errstr, errstr_size,
                                         "bad --count '%s': expected a "
                                         "number 1..10000",
                                         val);
                args->count = (int)n;
                break;
        }
        return 0;
}

static const struct opt *find_long(const char *name, size_t len) {
        for (size_t i = 0; i < OPT_CNT; i++)
                if (strlen(opts[i].lng) == len &&
                    !strncmp(opts[i].lng, name, len))
                        return &opts[i];
        return NULL;
}

static const struct opt *find_short(char c) {
        for (size_t i = 0; i < OPT_CNT; i++)
                if (opts[i].shrt == c)
                        return &opts[i];
        return NULL;
}

static int unknown_opt(const char *arg, floq_cli_cmd_t cmd, char *errstr,
                       size_t errstr_size) {
        const char *names[OPT_CNT];
        char want[80];
        for (size_t i = 0; i < OPT_CNT; i++)
                names[i] = opts[i].lng;
        const char *word = arg;
        while (*word == '-')
                word++;
        snprintf(want, sizeof(want), "%.*s", (int)strcspn(word, "="), word);
        const char *s = closest(want, names, OPT_CNT);
        return usage_err(errstr, errstr_size,
                         "unknown option '%s'%s%s%s%s%s%s", arg,
                         cmd ? " for '" : "", cmd ? cmd_names[cmd] : "",
                         cmd ? "'" : "", s ? "; did you mean --" : "",
                         s ? s : "", s ? "?" : "");
}

static int looks_like_uuid(const char *s) {
        if (strlen(s) != 36)
                return 0;
        for (int i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return 0;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return 0;
                }
        }
        return 1;
}

/* What each command needs once every word was read. */
static int check_args(floq_cli_args_t *args, char *errstr,
                      size_t errstr_size) {
        const char *cn = cmd_names[args->cmd];
        switch (args->cmd) {
        case FLOQ_CLI_DEPLOY:
                if (!args->name)
                        return usage_err(errstr, errstr_size,
                                         "deploy needs a deployment NAME");
                if (args->spec_file && args->exec_argc > 0)
                        return usage_err(errstr, errstr_size,
                                         "give either --spec FILE or "
                                         "'-- EXECUTABLE ARGS...', not both");
                if (!args->spec_file && args->exec_argc == 0)
                        return usage_err(errstr, errstr_size,
                                         "deploy needs --spec FILE or "
                                         "'-- EXECUTABLE [ARGS...]'");
                if (!args->backend)
                        args->backend = "process";
                if (args->exec_argc > 0 && strcmp(args->backend, "process"))
                        return usage_err(errstr, errstr_size,
                                         "'-- EXECUTABLE' builds a process "
                                         "spec; use --spec FILE for backend "
                                         "'%s'",
                                         args->backend);
                if (args->exec_argc > 0 && !*args->exec_argv[0])
                        return usage_err(errstr, errstr_size,
                                         "empty executable after '--'");
                break;
        case FLOQ_CLI_RUN:
        case FLOQ_CLI_STOP:
        case FLOQ_CLI_UNSCHEDULE:
        case FLOQ_CLI_PAUSE:
        case FLOQ_CLI_RESUME:
                if (!args->name)
                        return usage_err(errstr, errstr_size,
                                         "%s needs a deployment NAME", cn);
                break;
        case FLOQ_CLI_SCHEDULE:
                if (!args->name)
                        return usage_err(errstr, errstr_size,
                                         "schedule needs a deployment NAME");
                if (!args->cron)
                        return usage_err(errstr, errstr_size,
                                         "schedule needs --cron EXPR");
                if (args->start_at_ms && args->end_at_ms &&
                    args->end_at_ms < args->start_at_ms)
                        return usage_err(errstr, errstr_size,
                                         "--end is before --start");
                break;
        case FLOQ_CLI_STATUS:
                if (!args->name)
                        return usage_err(errstr, errstr_size,
                                         "status needs a deployment NAME or "
                                         "a RUN_ID");
                if (looks_like_uuid(args->name) && !args->run_id) {
                        args->run_id = args->name;
                        args->name = args->deployment; /* may be NULL:
                                                          looked up */
                } else if (args->deployment) {
                        return usage_err(errstr, errstr_size,
                                         "-d NAME goes with 'status RUN_ID'");
                }
                break;
        case FLOQ_CLI_VALIDATE:
                if (!args->name)
                        return usage_err(errstr, errstr_size,
                                         "validate needs a BACKEND name");
                break;
        case FLOQ_CLI_CRON_NEXT:
                if (!args->name)
                        return usage_err(errstr, errstr_size,
                                         "cron-next needs a cron EXPR");
                break;
        default:
                break;
        }
        if (args->exec_argc > 0 && args->cmd != FLOQ_CLI_DEPLOY)
                return usage_err(errstr, errstr_size,
                                 "unexpected '--' for '%s'", cn);
        return 0;
}

int floq_cli_parse(int argc, char **argv, floq_cli_args_t *args,
                   char *errstr, size_t errstr_size) {
        int help = 0;
        memset(args, 0, sizeof(*args));
        args->timeout_ms = -1;
        args->retries = -1;
        if (errstr && errstr_size)
                errstr[0] = '\0';

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                const struct opt *o = NULL;
                const char *val = NULL;

                if (!strcmp(a, "--")) {
                        args->exec_argv = &argv[i + 1];
                        args->exec_argc = argc - i - 1;
                        if (args->cmd != FLOQ_CLI_DEPLOY)
                                return usage_err(errstr, errstr_size,
                                                 "unexpected '--'%s%s%s",
                                                 args->cmd ? " for '" : "",
                                                 cmd_names[args->cmd],
                                                 args->cmd ? "'" : "");
                        break;
                }
                if (a[0] == '-' && a[1] == '-') {
                        const char *name = a + 2;
                        size_t len = strcspn(name, "=");
                        o = find_long(name, len);
                        if (!o)
                                return unknown_opt(a, args->cmd, errstr,
                                                   errstr_size);
                        if (name[len] == '=') {
                                if (!o->has_arg)
                                        return usage_err(errstr, errstr_size,
                                                         "--%s takes no "
                                                         "value",
                                                         o->lng);
                                val = name + len + 1;
                        }
                } else if (a[0] == '-' && a[1]) {
                        o = find_short(a[1]);
                        if (!o)
                                return unknown_opt(a, args->cmd, errstr,
                                                   errstr_size);
                        if (a[2]) {
                                if (!o->has_arg)
                                        return unknown_opt(a, args->cmd,
                                                           errstr,
                                                           errstr_size);
                                val = a + 2;
                        }
                } else {
                        /* A word: the command, then its operand. */
                        if (args->cmd == FLOQ_CLI_NONE) {
                                args->cmd = cmd_lookup(a);
                                if (args->cmd == FLOQ_CLI_NONE) {
                                        const char *s = floq_cli_suggest(a);
                                        return usage_err(
                                                errstr, errstr_size,
                                                "unknown command '%s'%s%s%s",
                                                a,
                                                s ? "; did you mean '" : "",
                                                s ? s : "", s ? "'?" : "");
                                }
                        } else if (args->cmd == FLOQ_CLI_HELP &&
                                   args->help_cmd == FLOQ_CLI_NONE) {
                                args->help_cmd = cmd_lookup(a);
                                if (!args->help_cmd) {
                                        const char *s = floq_cli_suggest(a);
                                        return usage_err(
                                                errstr, errstr_size,
                                                "no help for '%s'%s%s%s", a,
                                                s ? "; did you mean '" : "",
                                                s ? s : "", s ? "'?" : "");
                                }
                        } else if (!args->name &&
                                   args->cmd != FLOQ_CLI_HELP &&
                                   args->cmd != FLOQ_CLI_VERSION) {
                                args->name = a;
                        } else {
                                return usage_err(errstr, errstr_size,
                                                 "unexpected argument '%s'",
                                                 a);
                        }
                        continue;
                }

                if (o->id == O_HELP) {
                        help = 1;
                        continue;
                }
                if (args->cmd && !(o->cmds & (1u << args->cmd)) &&
                    args->cmd != FLOQ_CLI_HELP)
                        return usage_err(errstr, errstr_size,
                                         "option --%s does not apply to "
                                         "'%s'",
                                         o->lng, cmd_names[args->cmd]);
                if (o->has_arg && !val) {
                        if (i + 1 >= argc)
                                return usage_err(errstr, errstr_size,
                                                 "option --%s needs a value "
                                                 "(%s)",
                                                 o->lng, o->argname);
                        val = argv[++i];
                }
                int rc = apply_opt(args, o, val, errstr, errstr_size);
                if (rc)
                        return rc;
        }

        if (help) {
                if (args->cmd != FLOQ_CLI_HELP)
                        args->help_cmd = args->cmd;
                args->cmd = FLOQ_CLI_HELP;
                return 0;
        }
        if (args->cmd == FLOQ_CLI_NONE)
                return usage_err(errstr, errstr_size, "no command given");
        return check_args(args, errstr, errstr_size);
}

void floq_cli_args_release(floq_cli_args_t *args) {
        json_decref(args->params);
        json_decref(args->inputs);
        json_decref(args->outputs);
        args->params = args->inputs = args->outputs = NULL;
}

/* ---------------------------------------------------------------- config */

floq_conf_t *floq_cli_conf(const floq_cli_args_t *args, char **envp,
                           char *errstr, size_t errstr_size) {
        floq_conf_t *conf = floq_conf_new();
        const char *file = args->config_file;
        if (!conf) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        if (!envp)
                envp = environ;
        if (!file && envp)
                for (char **e = envp; *e; e++)
                        if (!strncmp(*e, "FLOQ_CONFIG=", 12) && (*e)[12])
                                file = *e + 12;
        /* Quiet librdkafka unless asked: our own error says what failed. */
        if (floq_conf_set_kafka(conf, "log_level",
                                args->verbose > 1 ? "7"
                                : args->verbose ? "5"
                                                : "2",
                                errstr, errstr_size))
                goto fail;
        if (file && floq_conf_load_file(conf, file, errstr, errstr_size))
                goto fail;
        if (floq_conf_load_env(conf, envp, errstr, errstr_size))
                goto fail;
        for (size_t i = 0; i < args->floq_cnt; i++)
                if (floq_conf_set_pair(conf, args->floq_pairs[i], 0, errstr,
                                       errstr_size))
                        goto fail;
        for (size_t i = 0; i < args->kafka_cnt; i++)
                if (floq_conf_set_pair(conf, args->kafka_pairs[i], 1, errstr,
                                       errstr_size))
                        goto fail;
        if (args->brokers &&
            floq_conf_set(conf, "brokers", args->brokers, errstr,
                          errstr_size))
                goto fail;
        return conf;
fail:
        floq_conf_destroy(conf);
        return NULL;
}

/* -------------------------------------------------------------- helpers */

char *floq_cli_process_spec(const floq_cli_args_t *args) {
        json_t *spec = json_object();
        json_t *av = json_array();
        if (args->exec_argc > 0)
                json_object_set_new(spec, "executable",
                                    json_string(args->exec_argv[0]));
        for (int i = 1; i < args->exec_argc; i++)
                json_array_append_new(av, json_string(args->exec_argv[i]));
        json_object_set_new(spec, "args", av);
        char *s = json_dumps(spec, JSON_COMPACT);
        json_decref(spec);
        return s;
}

int floq_cli_exit_for_status(const char *status) {
        return floq_reply_status_is_ok(status) ? FLOQ_EXIT_OK
                                               : FLOQ_EXIT_FAILED;
}

int floq_cli_exit_for_err(floq_err_t err) {
        switch (err) {
        case FLOQ_OK:
                return FLOQ_EXIT_OK;
        case FLOQ_ERR_TRANSPORT:
        case FLOQ_ERR_KAFKA:
                return FLOQ_EXIT_KAFKA;
        case FLOQ_ERR_TIMED_OUT:
                return FLOQ_EXIT_TIMEOUT;
        case FLOQ_ERR_INVALID_ARG:
        case FLOQ_ERR_CONFIG:
        case FLOQ_ERR_ENCODE:
        case FLOQ_ERR_TOO_LARGE:
                return FLOQ_EXIT_USAGE;
        default:
                return FLOQ_EXIT_FAILED;
        }
}

static void appendf(char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t size, const char *fmt, ...) {
        size_t len = strlen(buf);
        if (len + 1 >= size)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
}

/* key=value, quoted when the value has blanks or quotes. */
static void append_kv(char *buf, size_t size, const char *key,
                      const char *val) {
        if (!val)
                return;
        if (strpbrk(val, " \t\n\"'") || !*val) {
                json_t *s = json_string(val);
                char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
                appendf(buf, size, " %s=%s", key, q ? q : "?");
                free(q);
                json_decref(s);
        } else {
                appendf(buf, size, " %s=%s", key, val);
        }
}

void floq_cli_format_reply(const json_t *reply, char *buf, size_t size) {
        char iso[40];
        json_t *v;
        buf[0] = '\0';
        appendf(buf, size, "%s", floq_reply_status(reply));
        append_kv(buf, size, "deployment",
                  json_string_value(json_object_get(reply, "deployment")));
        append_kv(buf, size, "run_id",
                  json_string_value(json_object_get(reply, "run_id")));
        append_kv(buf, size, "url",
                  json_string_value(json_object_get(reply, "url")));
        append_kv(buf, size, "worker",
                  json_string_value(json_object_get(reply, "worker")));
        v = json_object_get(reply, "attempt");
        if (json_integer_value(v) > 1)
                appendf(buf, size, " attempt=%lld",
                        (long long)json_integer_value(v));
        v = json_object_get(reply, "exit_code");
        if (json_is_integer(v))
                appendf(buf, size, " exit_code=%lld",
                        (long long)json_integer_value(v));
        append_kv(buf, size, "reason",
                  json_string_value(json_object_get(reply, "reason")));
        v = json_object_get(reply, "cancelled_runs");
        if (json_array_size(v) > 0) {
                appendf(buf, size, " cancelled=");
                for (size_t i = 0; i < json_array_size(v); i++)
                        appendf(buf, size, "%s%s", i ? "," : "",
                                json_string_value(json_array_get(v, i)));
        }
        v = json_object_get(reply, "next_fire_times");
        if (json_array_size(v) > 0) {
                appendf(buf, size, " next=");
                for (size_t i = 0; i < json_array_size(v) && i < 3; i++)
                        appendf(buf, size, "%s%s", i ? "," : "",
                                floq_ms_to_iso(json_integer_value(
                                                       json_array_get(v, i)),
                                               iso, sizeof(iso)));
        }
        const char *detail = json_string_value(json_object_get(reply,
                                                               "detail"));
        if (detail)
                appendf(buf, size, " detail=%s", detail);
}

/* ------------------------------------------------------------------ help */

static const char *const cmd_help[FLOQ_CLI__CNT] = {
        [FLOQ_CLI_DEPLOY] =
                "usage: floq deploy NAME [--backend process] -- EXECUTABLE "
                "[ARG|{param}]...\n"
                "       floq deploy NAME --backend BACKEND --spec FILE.json\n"
                "\n"
                "Register or update deployment NAME and wait for DEPLOYED or "
                "REJECTED.\n"
                "After '--' come the executable (an absolute path inside the "
                "worker's\n"
                "process.allowed.dirs) and its arguments; {param} in an "
                "argument is\n"
                "replaced by the run's parameter 'param'. No shell is "
                "involved.\n"
                "\n"
                "  --backend B        process (default), http, airflow, "
                "dagster, prefect,\n"
                "                     kubernetes\n"
                "  -s, --spec FILE    backend spec as a JSON object ('-' for "
                "stdin)\n"
                "  --run-timeout DUR  kill runs after DUR (e.g. 30s, 10m)\n"
                "  --retries N        retry failed or lost runs N times\n"
                "  --backoff DUR      delay before the first retry\n"
                "  --artifact-url URL --sha256 HEX   artifact the worker "
                "fetches and verifies\n"
                "                     before DEPLOYED (both required); "
                "'{artifact}' as the\n"
                "                     executable or in an argument is its "
                "path\n"
                "  --namespace NS     OpenLineage job namespace\n"
                "  --input NAMESPACE,NAME    lineage input dataset "
                "(repeatable); split\n"
                "  --output NAMESPACE,NAME   at the first ',' (namespaces "
                "hold none)\n"
                "\n"
                "examples:\n"
                "  floq deploy nightly -- /opt/jobs/etl.sh --date {date}\n"
                "  floq deploy etl --input postgres://db:5432,shop.orders "
                "\\\n"
                "      --output s3://lake,daily/orders -- /opt/jobs/etl.sh\n"
                "  floq deploy nightly --run-timeout 1h --retries 2 -- "
                "/opt/jobs/etl.sh\n"
                "  floq deploy tool --artifact-url https://repo/tool "
                "--sha256 HEX -- '{artifact}'\n"
                "  floq deploy report --backend airflow --spec report.json\n",
        [FLOQ_CLI_RUN] =
                "usage: floq run NAME [-p KEY=VALUE]... [--idempotency-key K] "
                "[--wait]\n"
                "\n"
                "Start a run of NAME. Without --wait, prints ACCEPTED with "
                "the run id\n"
                "and URL and exits 0. With --wait, follows the run to its "
                "end: on a\n"
                "terminal an updating line (state, elapsed time, worker), on "
                "a pipe one\n"
                "line per state; exit 0 on SUCCEEDED, 1 on FAILED, "
                "CANCELLED,\n"
                "TIMED_OUT, LOST or REJECTED, 3 when --timeout passes "
                "first.\n"
                "\n"
                "  -p, --param K=V          run parameter (repeatable)\n"
                "  -k, --idempotency-key K  a repeat with K returns the "
                "original run\n"
                "  -w, --wait               wait for the terminal state\n"
                "  --run-timeout DUR        override the deployment's run "
                "timeout\n"
                "  -t, --timeout DUR        give up waiting after DUR "
                "(default\n"
                "                           client.timeout.ms for ACCEPTED; "
                "with --wait\n"
                "                           no limit on the run itself)\n"
                "\n"
                "examples:\n"
                "  floq run nightly -p date=2026-11-23\n"
                "  floq run nightly -p date=2026-11-23 -k nightly-2026-11-23 "
                "--wait\n"
                "  floq run nightly --wait --timeout 10m --json | jq .status\n",
        [FLOQ_CLI_STOP] =
                "usage: floq stop NAME [--run RUN_ID]\n"
                "\n"
                "Cancel one run (--run), or every active run of NAME and "
                "disable NAME\n"
                "until it is deployed again. Prints STOPPED with the "
                "cancelled runs.\n"
                "\n"
                "examples:\n"
                "  floq stop nightly --run 0b6e2f0c-5d7a-4c51-9a43-"
                "2f4b1c8e9d10\n"
                "  floq stop nightly\n",
        [FLOQ_CLI_SCHEDULE] =
                "usage: floq schedule NAME --cron EXPR [--tz ZONE] "
                "[--id ID] [policies] [-p K=V]...\n"
                "                     [--start ISO8601] [--end ISO8601] "
                "[--paused]\n"
                "\n"
                "Add or replace a cron schedule (5 fields, 6 with seconds, or "
                "@hourly...)\n"
                "in an IANA time zone. Prints SCHEDULED with the next fire "
                "times.\n"
                "\n"
                "  --tz ZONE                 IANA zone (default UTC)\n"
                "  --id ID                   schedule id (default "
                "\"default\")\n"
                "  --catchup skip|latest|all missed fire times after "
                "downtime\n"
                "  --catchup-max N           at most N catch-up runs "
                "(with all)\n"
                "  --overlap allow|skip|buffer_one|cancel_previous\n"
                "  --jitter DUR              random delay up to DUR\n"
                "  --start ISO8601           no fire time before this "
                "instant\n"
                "  --end ISO8601             no fire time after it "
                "(inclusive)\n"
                "  --paused                  store it paused (see 'floq "
                "resume')\n"
                "  -p, --param K=V           parameter of every run\n"
                "\n"
                "Replacing a paused schedule without --paused resumes it.\n"
                "\n"
                "examples:\n"
                "  floq schedule nightly --cron '0 2 * * *' --tz "
                "Europe/Berlin\n"
                "  floq schedule poll --cron '*/5 * * * *' --overlap skip "
                "--jitter 30s\n"
                "  floq schedule promo --cron '0 9 * * *' --start "
                "2026-12-01T00:00:00Z \\\n"
                "      --end 2026-12-24T23:59:59Z\n",
        [FLOQ_CLI_PAUSE] =
                "usage: floq pause NAME [--id SCHEDULE_ID]\n"
                "\n"
                "Pause one schedule of NAME, or all of them: no run starts "
                "until\n"
                "'floq resume'. Prints SCHEDULED with detail "
                "{\"paused\":true}.\n"
                "\n"
                "examples:\n"
                "  floq pause nightly\n"
                "  floq pause nightly --id weekend\n",
        [FLOQ_CLI_RESUME] =
                "usage: floq resume NAME [--id SCHEDULE_ID]\n"
                "\n"
                "Resume paused schedules of NAME. Fire times that fell while "
                "paused are\n"
                "skipped, not caught up: the schedule continues from now. "
                "Prints\n"
                "SCHEDULED with the next fire times.\n"
                "\n"
                "examples:\n"
                "  floq resume nightly\n"
                "  floq resume nightly --id weekend\n",
        [FLOQ_CLI_UNSCHEDULE] =
                "usage: floq unschedule NAME [--id SCHEDULE_ID]\n"
                "\n"
                "Remove one schedule of NAME, or all of them.\n"
                "\n"
                "examples:\n"
                "  floq unschedule nightly\n"
                "  floq unschedule nightly --id weekend\n",
        [FLOQ_CLI_STATUS] =
                "usage: floq status NAME [--run RUN_ID]\n"
                "       floq status RUN_ID [-d NAME]\n"
                "\n"
                "Report a deployment's or a run's current state (STATUS with "
                "detail).\n"
                "For a bare RUN_ID the deployment is looked up in the runs "
                "topic unless\n"
                "-d gives it.\n"
                "\n"
                "examples:\n"
                "  floq status nightly\n"
                "  floq status 0b6e2f0c-5d7a-4c51-9a43-2f4b1c8e9d10 --json\n",
        [FLOQ_CLI_VALIDATE] =
                "usage: floq validate BACKEND [--spec FILE] [-d NAME]\n"
                "\n"
                "Ask a worker to check a backend's connectivity (answer "
                "within 10 s):\n"
                "VALID, or INVALID with what to fix. -d routes the command "
                "like\n"
                "deployment NAME (default: the backend name).\n"
                "\n"
                "examples:\n"
                "  floq validate process\n"
                "  floq validate airflow --spec airflow.json\n",
        [FLOQ_CLI_WATCH] =
                "usage: floq watch [NAME] [--lineage] [--timeout DUR]\n"
                "\n"
                "Follow the reply topic live from its end, one line per "
                "reply (of\n"
                "deployment NAME, or all); with --lineage also the "
                "OpenLineage events.\n"
                "Runs until interrupted or --timeout passes (exit 0).\n"
                "\n"
                "examples:\n"
                "  floq watch\n"
                "  floq watch nightly --lineage --json\n",
        [FLOQ_CLI_HELP] = "usage: floq help [COMMAND]\n",
        [FLOQ_CLI_VERSION] = "usage: floq version\n",
        [FLOQ_CLI_CRON_NEXT] =
                "usage: floq cron-next EXPR [--tz ZONE] [--from ISO8601] "
                "[--count N]\n"
                "\n"
                "Print the next N (default 5) fire times of a cron "
                "expression in an IANA\n"
                "zone, strictly after --from (default now), one a line: the "
                "UTC instant,\n"
                "then the wall time in the zone with its offset. Needs no "
                "Kafka; a bad\n"
                "expression is reported with its position (exit 2).\n"
                "\n"
                "examples:\n"
                "  floq cron-next '30 2 * * *' --tz America/New_York "
                "--from 2026-03-06T12:00:00Z\n"
                "  floq cron-next '*/15 * * * *' --tz Australia/Lord_Howe "
                "-n 10\n",
};

void floq_cli_usage(FILE *out, floq_cli_cmd_t cmd) {
        if (cmd > FLOQ_CLI_NONE && cmd < FLOQ_CLI__CNT && cmd_help[cmd]) {
                fputs(cmd_help[cmd], out);
                fputs("\nCommon options: -b BROKERS, -X KEY=VALUE, -F FILE, "
                      "-o NAME=VALUE,\n--json, --timeout DUR, "
                      "--correlation-id ID, --expires DUR, -v\n"
                      "(see 'floq help').\n",
                      out);
                return;
        }
        fputs("usage: floq [OPTIONS] COMMAND [ARGS]\n"
              "\n"
              "Publish commands to a floq worker fleet through Kafka and "
              "wait for the\n"
              "replies.\n"
              "\n"
              "commands:\n"
              "  deploy NAME -- EXE ARGS...  register a deployment "
              "(process backend)\n"
              "  deploy NAME --spec FILE     register a deployment (any "
              "backend)\n"
              "  run NAME [-p K=V] [--wait]  start a run\n"
              "  stop NAME [--run RUN_ID]    cancel a run or all runs\n"
              "  schedule NAME --cron EXPR   add a cron schedule\n"
              "  unschedule NAME [--id ID]   remove schedules\n"
              "  pause NAME [--id ID]        pause schedules\n"
              "  resume NAME [--id ID]       resume them (no backfill)\n"
              "  status NAME|RUN_ID          show current state\n"
              "  validate BACKEND            check a backend's "
              "connectivity\n"
              "  watch [NAME] [--lineage]    follow replies (and lineage) "
              "live\n"
              "  cron-next EXPR [--tz ZONE]  print a cron expression's next "
              "fire times\n"
              "  ops resources|helm-values --size S  deployment settings "
              "(floq ops --help)\n"
              "  help [COMMAND]              this text, or a command's "
              "with examples\n"
              "\n"
              "options (any command):\n"
              "  -b, --brokers LIST     bootstrap brokers (else "
              "$FLOQ_BROKERS)\n"
              "  -X KEY=VALUE           librdkafka property, e.g. "
              "-X security.protocol=ssl\n"
              "  -F, --config FILE      properties file (else "
              "$FLOQ_CONFIG)\n"
              "  -o, --set NAME=VALUE   floq property, e.g. -o "
              "topic.replies=my.replies\n"
              "  -o security.hmac.keys.file=FILE  sign commands (HMAC-"
              "SHA256) with the\n"
              "                         file's first key, or -o "
              "security.hmac.key.id=ID\n"
              "  -j, --json             one JSON object per reply line\n"
              "  -t, --timeout DUR      how long to wait for replies "
              "(default\n"
              "                         client.timeout.ms, 30s)\n"
              "  --correlation-id ID    echoed in every reply (default: "
              "the command id)\n"
              "  --expires DUR          workers reject the command after "
              "DUR\n"
              "  -v, --verbose          log more (twice: librdkafka "
              "debug)\n"
              "  -h, --help             help (also: floq COMMAND --help)\n"
              "\n"
              "Settings come from the file, then FLOQ_* variables "
              "(FLOQ_BROKERS,\n"
              "FLOQ_TOPIC_REPLIES, ...: the name upper-cased, dots as "
              "underscores),\n"
              "then flags; later wins.\n"
              "\n"
              "exit status:\n"
              "  0  succeeded, accepted (run without --wait), done\n"
              "  1  the run failed, was cancelled, timed out or was lost; "
              "the command\n"
              "     was rejected or found invalid\n"
              "  2  usage: bad command line, option or configuration\n"
              "  3  timed out waiting for a reply or the run's end\n"
              "  4  cannot reach Kafka\n"
              "\n"
              "examples:\n"
              "  export FLOQ_BROKERS=localhost:9092\n"
              "  floq deploy hello -- /usr/local/jobs/hello.sh {who}\n"
              "  floq run hello -p who=world --wait\n"
              "  floq schedule hello --cron '0 * * * *' --tz UTC -p "
              "who=cron\n"
              "  floq watch hello\n",
              out);
}

/* ------------------------------------------------------------- running */

static void on_signal(int sig) {
        (void)sig;
        cli_stop = 1;
}

static void install_signals(void) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
}

typedef struct cli_run_s {
        floq_cli_args_t *args;
        floq_client_t *client;
        int tty;
        int64_t started_ms;
        char line[4096];
} cli_run_t;

/* @p elapsed_ms >= 0 adds the time since the command was sent. */
static void print_reply(cli_run_t *cr, const json_t *reply,
                        int64_t elapsed_ms) {
        if (cr->args->json) {
                char *s = json_dumps(reply, JSON_COMPACT);
                if (s) {
                        printf("%s\n", s);
                        free(s);
                }
        } else {
                floq_cli_format_reply(reply, cr->line, sizeof(cr->line));
                if (elapsed_ms >= 0)
                        printf("%s elapsed=%.1fs\n", cr->line,
                               (double)elapsed_ms / 1000.0);
                else
                        printf("%s\n", cr->line);
                const char *tail = json_string_value(json_object_get(
                        reply, "output_tail"));
                if (tail && *tail &&
                    !floq_reply_status_is_ok(floq_reply_status(reply)))
                        fprintf(stderr, "--- output (tail) ---\n%s%s", tail,
                                tail[strlen(tail) - 1] == '\n' ? "" : "\n");
        }
        fflush(stdout);
}

static char *read_file(const char *path, char *errstr, size_t errstr_size) {
        FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
        size_t cap = 4096, len = 0, max = 4 * 1024 * 1024;
        char *buf = NULL;
        if (!fp) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                            "cannot open '%s': %s", path, strerror(errno));
                return NULL;
        }
        buf = malloc(cap);
        while (buf) {
                if (len + 1 >= cap) {
                        if (cap >= max) {
                                floq_seterr(errstr, errstr_size,
                                            FLOQ_ERR_TOO_LARGE,
                                            "'%s' is larger than 4 MiB",
                                            path);
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        char *nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = nb;
                        cap *= 2;
                }
                size_t n = fread(buf + len, 1, cap - len - 1, fp);
                len += n;
                if (n == 0)
                        break;
        }
        if (buf)
                buf[len] = '\0';
        if (fp != stdin)
                fclose(fp);
        return buf;
}

/* The spec file as compact JSON text, checked to be an object. */
static char *read_spec(const char *path, char *errstr, size_t errstr_size) {
        char *text = read_file(path, errstr, errstr_size);
        json_error_t jerr;
        if (!text)
                return NULL;
        json_t *j = json_loads(text, 0, &jerr);
        free(text);
        if (!json_is_object(j)) {
                if (j)
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                    "'%s' is not a JSON object", path);
                else
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                    "'%s' line %d: %s", path, jerr.line,
                                    jerr.text);
                json_decref(j);
                return NULL;
        }
        char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return s;
}

static void progress(cli_run_t *cr, const char *state, const char *worker,
                     const char *run_id) {
        static const char spin[] = "|/-\\";
        static unsigned tick;
        double el = (double)(floq_mono_ms() - cr->started_ms) / 1000.0;
        fprintf(stdout, "\r\033[K%c %-9s %7.1fs  worker=%s  run=%s",
                spin[tick++ % 4], state, el, worker ? worker : "-",
                run_id ? run_id : "-");
        fflush(stdout);
}

/* Wait for replies to @p id until the final one; prints them.
 * @param accept_only  stop after the first reply (run without --wait) */
static int follow(cli_run_t *cr, const char *id, int accept_only) {
        floq_cli_args_t *args = cr->args;
        int64_t now = floq_mono_ms();
        int64_t deadline;
        int wait_run = args->cmd == FLOQ_CLI_RUN && args->wait;
        int client_to = (int)floq_conf_int(floq_client_conf(cr->client),
                                           "client.timeout.ms");
        char state[32] = "SENT", worker[128] = "", run_id[64] = "";
        int seen_any = 0;

        /* --timeout bounds everything; otherwise the first reply is
         * bounded by client.timeout.ms and a followed run is not. */
        deadline = now + (args->timeout_ms >= 0 ? args->timeout_ms
                                                : client_to);
        cr->started_ms = now;
        for (;;) {
                json_t *reply = NULL;
                int64_t rem = deadline - floq_mono_ms();
                if (cli_stop) {
                        if (cr->tty && wait_run && !args->json)
                                fputs("\n", stdout);
                        fprintf(stderr,
                                "floq: interrupted%s%s%s\n",
                                *run_id ? "; run " : "", run_id,
                                *run_id ? " continues" : "");
                        return FLOQ_EXIT_INTR;
                }
                if (rem <= 0) {
                        if (cr->tty && wait_run && !args->json)
                                fputs("\n", stdout);
                        fprintf(stderr,
                                "floq: timed out after %.1fs waiting for %s "
                                "(last state: %s)%s\n",
                                (double)(floq_mono_ms() - cr->started_ms) /
                                        1000.0,
                                seen_any ? "the final reply"
                                         : "a reply from a worker",
                                state,
                                seen_any ? ""
                                         : "; is a floq-worker running on "
                                           "these topics?");
                        return FLOQ_EXIT_TIMEOUT;
                }
                floq_err_t err = floq_client_wait_reply(
                        cr->client, id, 0, rem < 200 ? (int)rem : 200,
                        &reply);
                if (err == FLOQ_ERR_TIMED_OUT) {
                        if (cr->tty && wait_run && !args->json && seen_any)
                                progress(cr, state, worker, run_id);
                        continue;
                }
                if (err) {
                        fprintf(stderr, "floq: reading replies: %s\n",
                                floq_err2str(err));
                        return floq_cli_exit_for_err(err);
                }
                const char *st = floq_reply_status(reply);
                int fin = floq_reply_is_final(reply);
                snprintf(state, sizeof(state), "%s", st);
                const char *w = json_string_value(json_object_get(reply,
                                                                  "worker"));
                const char *r = json_string_value(json_object_get(reply,
                                                                  "run_id"));
                if (w)
                        snprintf(worker, sizeof(worker), "%s", w);
                if (r)
                        snprintf(run_id, sizeof(run_id), "%s", r);
                if (!seen_any && wait_run && args->timeout_ms < 0)
                        deadline = INT64_MAX / 2; /* accepted: follow it */
                seen_any = 1;

                if (wait_run && cr->tty && !args->json && !fin) {
                        progress(cr, state, worker, run_id);
                } else {
                        if (wait_run && cr->tty && !args->json)
                                fputs("\r\033[K", stdout);
                        print_reply(cr, reply,
                                    wait_run && fin
                                            ? floq_mono_ms() - cr->started_ms
                                            : -1);
                }
                json_decref(reply);
                if (fin || (accept_only && !fin)) {
                        if (!fin)
                                floq_client_forget(cr->client, id);
                        return floq_cli_exit_for_status(state);
                }
        }
}

static void watch_reply_cb(floq_client_t *client, json_t *reply, int tracked,
                           void *opaque) {
        cli_run_t *cr = opaque;
        const char *dep = json_string_value(json_object_get(reply,
                                                            "deployment"));
        char iso[40];
        (void)client;
        (void)tracked;
        if (cr->args->name && (!dep || strcmp(dep, cr->args->name)))
                return;
        if (cr->args->json) {
                print_reply(cr, reply, -1);
                return;
        }
        floq_cli_format_reply(reply, cr->line, sizeof(cr->line));
        const char *cid = json_string_value(json_object_get(reply,
                                                            "command_id"));
        printf("%s reply %s command=%.8s\n",
               floq_ms_to_iso(json_integer_value(json_object_get(
                                      reply, "produced_at")),
                              iso, sizeof(iso)),
               cr->line, cid ? cid : "-");
        fflush(stdout);
}

static void watch_lineage_cb(floq_client_t *client, json_t *ev,
                             void *opaque) {
        cli_run_t *cr = opaque;
        json_t *job = json_object_get(ev, "job");
        const char *jname = json_string_value(json_object_get(job, "name"));
        (void)client;
        if (cr->args->name && (!jname || strcmp(jname, cr->args->name)))
                return;
        if (cr->args->json) {
                char *s = json_dumps(ev, JSON_COMPACT);
                if (s)
                        printf("%s\n", s);
                free(s);
        } else {
                const char *t = json_string_value(json_object_get(ev,
                                                                  "eventTime"));
                const char *et = json_string_value(json_object_get(
                        ev, "eventType"));
                const char *ns = json_string_value(json_object_get(
                        job, "namespace"));
                const char *rid = json_string_value(json_object_get(
                        json_object_get(ev, "run"), "runId"));
                printf("%s lineage %s job=%s/%s run_id=%s\n", t ? t : "-",
                       et ? et : "-", ns ? ns : "-", jname ? jname : "-",
                       rid ? rid : "-");
        }
        fflush(stdout);
}

static int do_watch(cli_run_t *cr) {
        char errstr[512];
        floq_client_set_reply_cb(cr->client, watch_reply_cb,
                                 FLOQ_REPLY_CB_ALL, cr);
        if (cr->args->lineage)
                floq_client_set_lineage_cb(cr->client, watch_lineage_cb, cr);
        floq_err_t err = floq_client_connect(cr->client, errstr,
                                             sizeof(errstr));
        if (err) {
                fprintf(stderr, "floq: %s\n", errstr);
                return floq_cli_exit_for_err(err);
        }
        if (cr->tty && !cr->args->json)
                fprintf(stderr, "floq: watching (Ctrl-C to stop)\n");
        int64_t deadline = cr->args->timeout_ms >= 0
                                   ? floq_mono_ms() + cr->args->timeout_ms
                                   : INT64_MAX;
        while (!cli_stop && floq_mono_ms() < deadline) {
                if (floq_client_poll(cr->client, 200) < 0) {
                        fprintf(stderr, "floq: reply consumer failed\n");
                        return FLOQ_EXIT_KAFKA;
                }
        }
        return FLOQ_EXIT_OK;
}

static int send_cmd(cli_run_t *cr, char id[37]) {
        floq_cli_args_t *args = cr->args;
        floq_client_t *client = cr->client;
        char errstr[512] = "";
        floq_send_opts_t so = {0};
        floq_err_t err = FLOQ_OK;
        char *spec = NULL, *found = NULL;
        const char *name = args->name;

        so.correlation_id = args->correlation_id;
        if (args->expires_in_ms > 0)
                so.expires_at_ms = floq_now_ms() + args->expires_in_ms;

        switch (args->cmd) {
        case FLOQ_CLI_DEPLOY: {
                floq_deploy_opts_t d = {0};
                spec = args->spec_file
                               ? read_spec(args->spec_file, errstr,
                                           sizeof(errstr))
                               : floq_cli_process_spec(args);
                if (!spec) {
                        fprintf(stderr, "floq: %s\n", errstr);
                        return FLOQ_EXIT_USAGE;
                }
                d.artifact_url = args->artifact_url;
                d.artifact_sha256 = args->artifact_sha256;
                d.namespace_ = args->namespace_;
                d.timeout_ms = args->run_timeout_ms;
                d.max_attempts = args->retries >= 0 ? args->retries + 1 : 0;
                d.backoff_ms = args->backoff_ms;
                d.inputs = args->inputs;
                d.outputs = args->outputs;
                err = floq_deploy(client, name, args->backend, spec, &d, &so,
                                  id, errstr, sizeof(errstr));
                break;
        }
        case FLOQ_CLI_RUN:
                err = floq_run(client, name, args->params,
                               args->idempotency_key, args->run_timeout_ms,
                               &so, id, errstr, sizeof(errstr));
                break;
        case FLOQ_CLI_STOP:
                err = floq_stop(client, name, args->run_id, &so, id, errstr,
                                sizeof(errstr));
                break;
        case FLOQ_CLI_SCHEDULE: {
                floq_schedule_opts_t s = {0};
                s.schedule_id = args->schedule_id;
                s.timezone = args->tz;
                s.catchup = args->catchup;
                s.catchup_max = args->catchup_max;
                s.overlap = args->overlap;
                s.jitter_ms = args->jitter_ms;
                s.params = args->params;
                s.start_at_ms = args->start_at_ms;
                s.end_at_ms = args->end_at_ms;
                s.paused = args->paused;
                err = floq_schedule(client, name, args->cron, &s, &so, id,
                                    errstr, sizeof(errstr));
                break;
        }
        case FLOQ_CLI_UNSCHEDULE:
                err = floq_unschedule(client, name, args->schedule_id, &so, id,
                                      errstr, sizeof(errstr));
                break;
        case FLOQ_CLI_PAUSE:
                err = floq_pause(client, name, args->schedule_id, &so, id,
                                 errstr, sizeof(errstr));
                break;
        case FLOQ_CLI_RESUME:
                err = floq_resume(client, name, args->schedule_id, &so, id,
                                  errstr, sizeof(errstr));
                break;
        case FLOQ_CLI_STATUS:
                if (!name) {
                        err = floq_client_find_run(
                                client, args->run_id,
                                args->timeout_ms >= 0 ? (int)args->timeout_ms
                                                      : -1,
                                &found, errstr, sizeof(errstr));
                        if (err)
                                break;
                        name = found;
                }
                err = floq_status(client, name, args->run_id, &so, id, errstr,
                                  sizeof(errstr));
                break;
        case FLOQ_CLI_VALIDATE:
                if (args->spec_file &&
                    !(spec = read_spec(args->spec_file, errstr,
                                       sizeof(errstr)))) {
                        fprintf(stderr, "floq: %s\n", errstr);
                        return FLOQ_EXIT_USAGE;
                }
                err = floq_validate(client, args->deployment, name, spec, &so,
                                    id, errstr, sizeof(errstr));
                break;
        default:
                break;
        }
        free(spec);
        free(found);
        if (err) {
                fprintf(stderr, "floq: %s\n", errstr[0] ? errstr
                                                        : floq_err2str(err));
                return floq_cli_exit_for_err(err);
        }
        return FLOQ_EXIT_OK;
}

/* `floq cron-next`: local, no Kafka. */
static int cron_next_main(const floq_cli_args_t *args) {
        char errstr[512], line[FLOQ_CRON_FIRE_BUFSZ];
        floq_cron_t c;
        floq_tz_t *tz;
        int64_t t = floq_now_ms();
        int i, count = args->count > 0 ? args->count : 5;

        if (floq_cron_parse(args->name, &c, errstr, sizeof(errstr))) {
                fprintf(stderr, "floq: invalid cron expression '%s': %s\n",
                        args->name, errstr);
                return FLOQ_EXIT_USAGE;
        }
        if (!(tz = floq_tz_load(args->tz ? args->tz : "UTC", errstr,
                                sizeof(errstr)))) {
                fprintf(stderr, "floq: %s\n", errstr);
                return FLOQ_EXIT_USAGE;
        }
        if (args->from)
                floq_iso_parse(args->from, &t); /* checked by the parser */
        for (i = 0; i < count; i++) {
                if ((t = floq_cron_next(&c, tz, t)) < 0)
                        break;
                printf("%s\n", floq_cron_format_fire(t, tz, line,
                                                     sizeof(line)));
        }
        floq_tz_destroy(tz);
        if (i == 0) {
                fprintf(stderr, "floq: '%s' never fires\n", args->name);
                return FLOQ_EXIT_FAILED;
        }
        return 0;
}

int floq_cli_main(int argc, char **argv) {
        floq_cli_args_t args;
        char errstr[512];
        floq_conf_t *conf = NULL;
        floq_client_t *client = NULL;
        cli_run_t cr;
        int rc;

        /* `floq ops` has options of its own and needs no Kafka. */
        if (argc > 1 && !strcmp(argv[1], "ops"))
                return floq_cli_ops_main(argc - 1, argv + 1);
        if (argc > 2 && !strcmp(argv[1], "help") && !strcmp(argv[2], "ops"))
                return floq_cli_ops_main(2, (char *[]){ argv[2], "--help" });
        rc = floq_cli_parse(argc, argv, &args, errstr, sizeof(errstr));

        if (rc) {
                fprintf(stderr, "floq: %s\n", errstr);
                fprintf(stderr, "Try 'floq help%s%s'.\n",
                        args.cmd ? " " : "", floq_cli_cmd_name(args.cmd));
                goto out;
        }
        if (args.cmd == FLOQ_CLI_HELP) {
                floq_cli_usage(stdout, args.help_cmd);
                goto out;
        }
        if (args.cmd == FLOQ_CLI_VERSION) {
                printf("floq %s (librdkafka %s)\n", FLOQ_VERSION_STR,
                       rd_kafka_version_str());
                goto out;
        }
        if (args.cmd == FLOQ_CLI_CRON_NEXT) {
                rc = cron_next_main(&args);
                goto out;
        }

        floq_log_setup("floq",
                       args.verbose > 1 ? FLOQ_LOG_DEBUG
                       : args.verbose   ? FLOQ_LOG_INFO
                                        : FLOQ_LOG_ERR,
                       0, stderr);
        conf = floq_cli_conf(&args, NULL, errstr, sizeof(errstr));
        if (!conf) {
                fprintf(stderr, "floq: %s\n", errstr);
                rc = FLOQ_EXIT_USAGE;
                goto out;
        }
        if (args.timeout_ms >= 0 && args.cmd != FLOQ_CLI_WATCH) {
                /* --timeout also bounds delivery of the command itself. */
                char num[32];
                snprintf(num, sizeof(num), "%lld",
                         (long long)(args.timeout_ms > 1000 ? args.timeout_ms
                                                            : 1000));
                if (floq_conf_get(conf, "client.timeout.ms") &&
                    args.timeout_ms < floq_conf_int(conf, "client.timeout.ms"))
                        floq_conf_set(conf, "client.timeout.ms", num, NULL, 0);
        }
        client = floq_client_new(conf, errstr, sizeof(errstr));
        if (!client) {
                fprintf(stderr, "floq: %s\n", errstr);
                floq_conf_destroy(conf);
                rc = FLOQ_EXIT_USAGE;
                goto out;
        }
        conf = NULL; /* the client's now */
        install_signals();

        memset(&cr, 0, sizeof(cr));
        cr.args = &args;
        cr.client = client;
        cr.tty = isatty(STDOUT_FILENO);

        if (args.cmd == FLOQ_CLI_WATCH) {
                rc = do_watch(&cr);
                goto out;
        }

        floq_err_t err = floq_client_connect(client, errstr, sizeof(errstr));
        if (err) {
                fprintf(stderr, "floq: %s\n", errstr);
                rc = floq_cli_exit_for_err(err);
                goto out;
        }
        char id[37];
        if ((rc = send_cmd(&cr, id)))
                goto out;
        rc = follow(&cr, id, args.cmd == FLOQ_CLI_RUN && !args.wait);
out:
        floq_client_destroy(client);
        floq_cli_args_release(&args);
        return rc;
}
