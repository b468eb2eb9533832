/*
 * log.c - the process logger. One line per call (control characters in
 * a text line are escaped), either text
 *   2026-11-23T10:50:14.123Z floq-worker INFO  [fac] msg
 * or a JSON object per line (jansson does the escaping), put together in
 * memory and written in one write under a mutex, so lines from worker
 * threads and librdkafka's threads never interleave, nor, on a shared
 * stderr, with other processes' lines (up to PIPE_BUF bytes on a pipe).
 * Lines about a run or a command (floq_*_ids()) carry its run_id /
 * command_id as JSON fields. The floq_log() macros check floq_log_level
 * before evaluating their arguments (Redis serverLog); librdkafka's own
 * log is routed here by floq_log_rdkafka_cb(). Nothing else in libfloq
 * prints.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "floq_common.h"

volatile int floq_log_level = FLOQ_LOG_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *log_program = "floq";
static int log_json;
static FILE *log_out; /* NULL: stderr, resolved at write time */

static const struct {
        const char *name; /* for json and level parsing */
        const char *text; /* fixed-width column of the text format */
} levels[] = {
        [FLOQ_LOG_ERR] = { "error", "ERROR" },
        [FLOQ_LOG_WARN] = { "warn", "WARN " },
        [FLOQ_LOG_NOTICE] = { "notice", "NOTE " },
        [FLOQ_LOG_INFO] = { "info", "INFO " },
        [FLOQ_LOG_DEBUG] = { "debug", "DEBUG" },
};

/* Clamp to our range: callers (librdkafka) may pass 0..7. */
static int level_clamp(int level) {
        if (level < FLOQ_LOG_ERR)
                return FLOQ_LOG_ERR;
        if (level > FLOQ_LOG_DEBUG)
                return FLOQ_LOG_DEBUG;
        return level;
}

void floq_log_setup(const char *program, int level, int json, FILE *out) {
        pthread_mutex_lock(&log_lock);
        log_program = program ? program : "floq";
        log_json = json;
        log_out = out;
        floq_log_level = level;
        pthread_mutex_unlock(&log_lock);
}

int floq_log_level_parse(const char *s) {
        static const struct {
                const char *name;
                int level;
        } aliases[] = {
                { "err", FLOQ_LOG_ERR },       { "error", FLOQ_LOG_ERR },
                { "warn", FLOQ_LOG_WARN },     { "warning", FLOQ_LOG_WARN },
                { "notice", FLOQ_LOG_NOTICE }, { "info", FLOQ_LOG_INFO },
                { "debug", FLOQ_LOG_DEBUG },
        };
        size_t i;

        if (!s)
                return -1;
        if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
                if (!strcasecmp(s, aliases[i].name))
                        return aliases[i].level;
        return -1;
}

/* A line being put together, so that it reaches the stream in one write:
 * stderr is unbuffered, and a line written piece by piece took five
 * write(2)s and could be split by another process writing to the same
 * stderr (a write of up to PIPE_BUF bytes to a pipe is not). On the
 * stack up to its size, then on the heap; when that fails, what fits is
 * written. */
typedef struct lbuf_s {
        char *p;
        size_t len, cap;
        int oom;
        char stack[1536];
} lbuf_t;

static void lbuf_init(lbuf_t *b) {
        b->p = b->stack;
        b->len = 0;
        b->cap = sizeof(b->stack);
        b->oom = 0;
}

static void lbuf_put(lbuf_t *b, const char *s, size_t n) {
        if (b->len + n > b->cap && !b->oom) {
                size_t cap = (b->len + n) * 2;
                char *np = b->p == b->stack ? malloc(cap)
                                            : realloc(b->p, cap);

                if (np) {
                        if (b->p == b->stack)
                                memcpy(np, b->stack, b->len);
                        b->p = np;
                        b->cap = cap;
                } else {
                        b->oom = 1;
                }
        }
        if (b->len + n > b->cap)
                n = b->cap - b->len;
        memcpy(b->p + b->len, s, n);
        b->len += n;
}

static void lbuf_puts(lbuf_t *b, const char *s) { lbuf_put(b, s, strlen(s)); }

/* Write the line out, in one fwrite() and flush, and free it. A line cut
 * short by a failed allocation still ends with its newline. */
static void lbuf_flush(lbuf_t *b, FILE *out) {
        if (b->oom && b->len > 0 && b->p[b->len - 1] != '\n')
                b->p[b->len - 1] = '\n';
        fwrite(b->p, 1, b->len, out);
        fflush(out);
        if (b->p != b->stack)
                free(b->p);
        lbuf_init(b);
}

static void write_json(lbuf_t *out, const char *ts, int level,
                       const char *facility, const char *run_id,
                       const char *command_id, const char *msg) {
        json_t *obj = json_object();
        char *line = NULL;

        if (!obj)
                return;
        json_object_set_new(obj, "ts", json_string(ts));
        json_object_set_new(obj, "level", json_string(levels[level].name));
        json_object_set_new(obj, "program", json_string(log_program));
        json_object_set_new(obj, "facility", json_string(facility));
        /* ids come from decoded commands: json_string() refuses invalid
         * UTF-8, and then the field is simply left out */
        if (run_id && *run_id)
                json_object_set_new(obj, "run_id", json_string(run_id));
        if (command_id && *command_id)
                json_object_set_new(obj, "command_id",
                                    json_string(command_id));
        /* json_stringn replaces nothing: invalid UTF-8 makes it NULL, so
         * fall back to a lossy copy rather than drop the line. */
        if (json_object_set_new(obj, "msg", json_string(msg)) == -1) {
                char *copy = strdup(msg);
                char *p;

                if (copy) {
                        for (p = copy; *p; p++)
                                if ((unsigned char)*p >= 0x80)
                                        *p = '?';
                        json_object_set_new(obj, "msg", json_string(copy));
                        free(copy);
                }
        }
        line = json_dumps(obj, JSON_PRESERVE_ORDER | JSON_COMPACT);
        if (line) {
                json_free_t jfree = NULL;

                lbuf_puts(out, line);
                lbuf_put(out, "\n", 1);
                /* jansson's own free: a program may count what jansson
                 * holds (floq-console's byte budget) */
                json_get_alloc_funcs(NULL, &jfree);
                (jfree ? jfree : free)(line);
        }
        json_decref(obj);
}

/* @p msg on one line: a newline, carriage return or other control
 * character in it (a reason, a backend's answer, an id from a command)
 * is written as an escape (\n, \r, \xNN), so that no message can start
 * a line that looks like another one. Tabs stay. */
static void write_text_msg(lbuf_t *out, const char *msg) {
        const char *run = msg, *p;

        for (p = msg; *p; p++) {
                unsigned char c = (unsigned char)*p;
                char esc[8];

                if ((c >= 0x20 && c != 0x7f) || c == '\t')
                        continue;
                lbuf_put(out, run, (size_t)(p - run));
                if (c == '\n')
                        lbuf_put(out, "\\n", 2);
                else if (c == '\r')
                        lbuf_put(out, "\\r", 2);
                else
                        lbuf_put(out, esc,
                                 (size_t)snprintf(esc, sizeof(esc), "\\x%02x",
                                                  c));
                run = p + 1;
        }
        lbuf_puts(out, run);
}

static void log_vwrite(int level, const char *facility, const char *run_id,
                       const char *command_id, const char *fmt, va_list ap) {
        char stackbuf[1024];
        char *msg = stackbuf;
        char *heap = NULL;
        char ts[32];
        lbuf_t line;
        FILE *out;
        va_list ap2;
        int n;

        level = level_clamp(level);
        if (!facility)
                facility = "";
        va_copy(ap2, ap);
        n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
        if (n < 0) {
                stackbuf[0] = '\0';
        } else if ((size_t)n >= sizeof(stackbuf)) {
                heap = malloc((size_t)n + 1);
                if (heap) {
                        vsnprintf(heap, (size_t)n + 1, fmt, ap2);
                        msg = heap;
                }
        }
        va_end(ap2);
        floq_ms_to_iso(floq_now_ms(), ts, sizeof(ts));

        lbuf_init(&line);
        pthread_mutex_lock(&log_lock);
        out = log_out ? log_out : stderr;
        if (log_json) {
                write_json(&line, ts, level, facility, run_id, command_id,
                           msg);
        } else {
                lbuf_puts(&line, ts);
                lbuf_put(&line, " ", 1);
                lbuf_puts(&line, log_program);
                lbuf_put(&line, " ", 1);
                lbuf_puts(&line, levels[level].text);
                lbuf_put(&line, " [", 2);
                write_text_msg(&line, facility);
                lbuf_put(&line, "] ", 2);
                write_text_msg(&line, msg);
                lbuf_put(&line, "\n", 1);
        }
        lbuf_flush(&line, out);
        pthread_mutex_unlock(&log_lock);
        free(heap);
}

void floq_log_write(int level, const char *facility, const char *fmt, ...) {
        va_list ap;

        /* The macros filter before evaluating arguments; direct callers
         * get the same threshold here. */
        if (level > floq_log_level)
                return;
        va_start(ap, fmt);
        log_vwrite(level, facility, NULL, NULL, fmt, ap);
        va_end(ap);
}

void floq_log_write_ids(int level, const char *facility, const char *run_id,
                        const char *command_id, const char *fmt, ...) {
        va_list ap;

        if (level > floq_log_level)
                return;
        va_start(ap, fmt);
        log_vwrite(level, facility, run_id, command_id, fmt, ap);
        va_end(ap);
}

void floq_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf) {
        char facility[64];

        /* syslog 0..3 (emerg..err) are all errors to us; 4..7 map 1:1. */
        level = level_clamp(level);
        if (level > floq_log_level)
                return;
        snprintf(facility, sizeof(facility), "rdkafka:%s", fac ? fac : "");
        (void)rk;
        floq_log_write(level, facility, "%s", buf ? buf : "");
}
