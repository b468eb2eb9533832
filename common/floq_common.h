/*
 * floq_common.h - the shared ground every floq component stands on: the one
 * error enum, leveled logging (text or JSON lines, librdkafka's log routed
 * through it), the configuration table (file < environment < flags, with
 * `-X key=value` passed straight to librdkafka) and the Kafka client set-up.
 * Everything here is plain C11 over librdkafka and jansson; nothing in it
 * exits or prints except through the logger a main() configured.
 */
#ifndef FLOQ_COMMON_H
#define FLOQ_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#define FLOQ_VERSION_STR "0.1.0"
#define FLOQ_PRODUCER_URI "https://github.com/floq-io/floq/tree/v" FLOQ_VERSION_STR

/* ---------------------------------------------------------------- errors */

/**
 * One error enum for all of floq; 0 is success. Each code is either
 * retriable (the same call may succeed later) or fatal, see
 * floq_err_is_retriable().
 */
typedef enum floq_err_e {
        FLOQ_OK = 0,
        FLOQ_ERR_INVALID_ARG,    /**< bad argument or value (fatal) */
        FLOQ_ERR_NOMEM,          /**< out of memory (fatal) */
        FLOQ_ERR_IO,             /**< file or socket i/o (retriable) */
        FLOQ_ERR_CONFIG,         /**< bad configuration (fatal) */
        FLOQ_ERR_DECODE,         /**< malformed message bytes (fatal) */
        FLOQ_ERR_ENCODE,         /**< value does not fit the schema (fatal) */
        FLOQ_ERR_TOO_LARGE,      /**< over a configured size bound (fatal) */
        FLOQ_ERR_TRUNCATED,      /**< input ends early (fatal) */
        FLOQ_ERR_UNKNOWN_SCHEMA, /**< fingerprint or schema id unknown (fatal) */
        FLOQ_ERR_KAFKA,          /**< Kafka client error (retriable) */
        FLOQ_ERR_TRANSPORT,      /**< cannot reach the brokers (retriable) */
        FLOQ_ERR_TIMED_OUT,      /**< deadline passed (retriable) */
        FLOQ_ERR_FENCED,         /**< producer fenced by a newer instance (fatal) */
        FLOQ_ERR_NOT_FOUND,      /**< no such deployment, run or key (fatal) */
        FLOQ_ERR_EXISTS,         /**< already there (fatal) */
        FLOQ_ERR_REJECTED,       /**< refused by policy or validation (fatal) */
        FLOQ_ERR_EXPIRED,        /**< command past its expires_at (fatal) */
        FLOQ_ERR_UNAUTHORIZED,   /**< signature missing or wrong (fatal) */
        FLOQ_ERR_UNSUPPORTED,    /**< not implemented / not available (fatal) */
        FLOQ_ERR_BACKEND,        /**< backend failed (retriable) */
        FLOQ_ERR_STATE,          /**< call not valid in this state (fatal) */
        FLOQ_ERR__CNT
} floq_err_t;

/** Human-readable description of @p err, never NULL. */
const char *floq_err2str(floq_err_t err);
/** Symbolic name of @p err ("FLOQ_ERR_DECODE"), never NULL. */
const char *floq_err_name(floq_err_t err);
/** 1 if repeating the failed call later may succeed, else 0. */
int floq_err_is_retriable(floq_err_t err);

/** snprintf into errstr if errstr is non-NULL; returns @p err. */
floq_err_t floq_seterr(char *errstr, size_t errstr_size, floq_err_t err,
                       const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* --------------------------------------------------------------- logging */

/** syslog-style levels: lower is more severe. */
typedef enum floq_log_level_e {
        FLOQ_LOG_ERR = 3,
        FLOQ_LOG_WARN = 4,
        FLOQ_LOG_NOTICE = 5,
        FLOQ_LOG_INFO = 6,
        FLOQ_LOG_DEBUG = 7,
} floq_log_level_t;

/** Current threshold; read by the macros, set by floq_log_setup(). */
extern volatile int floq_log_level;

/**
 * Configure the process logger. Thread-safe to call once from main()
 * before threads start.
 * @param program  name printed in each line (not copied: must outlive logs)
 * @param level    threshold
 * @param json     non-zero: one JSON object per line
 * @param out      destination stream (stderr if NULL)
 */
void floq_log_setup(const char *program, int level, int json, FILE *out);

/** Parse "err|warn|notice|info|debug" (or 3..7); -1 when unknown. */
int floq_log_level_parse(const char *s);

/** Write one log line; use the floq_log() macro instead. Thread-safe. */
void floq_log_write(int level, const char *facility, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The level is checked before the arguments are evaluated. */
#define floq_log(level, facility, ...)                                         \
        do {                                                                   \
                if ((int)(level) <= floq_log_level)                            \
                        floq_log_write((level), (facility), __VA_ARGS__);      \
        } while (0)
#define floq_err(fac, ...)    floq_log(FLOQ_LOG_ERR, fac, __VA_ARGS__)
#define floq_warn(fac, ...)   floq_log(FLOQ_LOG_WARN, fac, __VA_ARGS__)
#define floq_notice(fac, ...) floq_log(FLOQ_LOG_NOTICE, fac, __VA_ARGS__)
#define floq_info(fac, ...)   floq_log(FLOQ_LOG_INFO, fac, __VA_ARGS__)
#define floq_debug(fac, ...)  floq_log(FLOQ_LOG_DEBUG, fac, __VA_ARGS__)

/**
 * Write one log line about a run and/or a command; use the floq_*_ids()
 * macros. With JSON lines the ids are the fields "run_id" and
 * "command_id" (each left out when NULL or empty), so a log pipeline can
 * select every line of a run; the text format prints the message alone
 * (it names the ids it needs). Borrows every string. Thread-safe.
 */
void floq_log_write_ids(int level, const char *facility, const char *run_id,
                        const char *command_id, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

#define floq_log_ids(level, facility, run_id, command_id, ...)                 \
        do {                                                                   \
                if ((int)(level) <= floq_log_level)                            \
                        floq_log_write_ids((level), (facility), (run_id),      \
                                           (command_id), __VA_ARGS__);         \
        } while (0)
#define floq_err_ids(fac, rid, cid, ...)                                       \
        floq_log_ids(FLOQ_LOG_ERR, fac, rid, cid, __VA_ARGS__)
#define floq_warn_ids(fac, rid, cid, ...)                                      \
        floq_log_ids(FLOQ_LOG_WARN, fac, rid, cid, __VA_ARGS__)
#define floq_notice_ids(fac, rid, cid, ...)                                    \
        floq_log_ids(FLOQ_LOG_NOTICE, fac, rid, cid, __VA_ARGS__)
#define floq_info_ids(fac, rid, cid, ...)                                      \
        floq_log_ids(FLOQ_LOG_INFO, fac, rid, cid, __VA_ARGS__)
#define floq_debug_ids(fac, rid, cid, ...)                                     \
        floq_log_ids(FLOQ_LOG_DEBUG, fac, rid, cid, __VA_ARGS__)

/** librdkafka log callback that routes into floq_log_write(). */
void floq_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf);

/* ---------------------------------------------------------------- config */

typedef enum floq_conf_type_e {
        FLOQ_CONF_STR,
        FLOQ_CONF_INT,  /**< int64, decimal */
        FLOQ_CONF_BOOL, /**< true/false, 1/0, yes/no, on/off */
        FLOQ_CONF_SIZE, /**< bytes, with optional k/M/G suffix */
        FLOQ_CONF_MS,   /**< milliseconds, with optional ms/s/m/h suffix */
} floq_conf_type_t;

/** One row of the configuration table (see common/config.c). */
typedef struct floq_conf_prop_s {
        const char *name;     /**< dotted key, "worker.concurrency" */
        floq_conf_type_t type;
        const char *defval;   /**< default as text, NULL for unset */
        const char *help;
        int secret;           /**< never printed by floq_conf_dump() */
} floq_conf_prop_t;

typedef struct floq_conf_s floq_conf_t;

/** A config holding every property at its default. NULL on ENOMEM. */
floq_conf_t *floq_conf_new(void);
void floq_conf_destroy(floq_conf_t *conf);
/** Deep copy, NULL on ENOMEM. */
floq_conf_t *floq_conf_dup(const floq_conf_t *conf);

/**
 * Set @p name to @p value after checking it parses as the property's type.
 * Names prefixed "kafka." (or set through floq_conf_set_kafka()) go to the
 * librdkafka passthrough instead. Unknown names: FLOQ_ERR_CONFIG, with the
 * closest known name suggested in errstr.
 */
floq_err_t floq_conf_set(floq_conf_t *conf, const char *name,
                         const char *value, char *errstr, size_t errstr_size);

/** `-X key=value`: stored and passed verbatim to librdkafka. */
floq_err_t floq_conf_set_kafka(floq_conf_t *conf, const char *key,
                               const char *value, char *errstr,
                               size_t errstr_size);

/** "key=value" as given to -X or found in a file; splits on the first '='. */
floq_err_t floq_conf_set_pair(floq_conf_t *conf, const char *pair, int kafka,
                              char *errstr, size_t errstr_size);

/**
 * Read a Java-style properties file: `key=value` lines, '#' comments, blank
 * lines. Keys that are not floq properties are librdkafka settings
 * (bootstrap.servers, security.protocol, ...). Errors name file and line.
 */
floq_err_t floq_conf_load_file(floq_conf_t *conf, const char *path,
                               char *errstr, size_t errstr_size);

/**
 * Apply FLOQ_* variables of @p envp (NULL: environ): FLOQ_WORKER_CONCURRENCY
 * sets worker.concurrency (upper case, '.' and '-' become '_').
 * FLOQ_CONFIG and FLOQ_LOG_* are read the same way.
 */
floq_err_t floq_conf_load_env(floq_conf_t *conf, char **envp, char *errstr,
                              size_t errstr_size);

/** Value as text; NULL when unset. Valid until the next set of @p name. */
const char *floq_conf_get(const floq_conf_t *conf, const char *name);
/** Typed getters; abort() on a name that is not in the table (a bug). */
const char *floq_conf_str(const floq_conf_t *conf, const char *name);
int64_t floq_conf_int(const floq_conf_t *conf, const char *name);
int floq_conf_bool(const floq_conf_t *conf, const char *name);

/** The table, terminated by a row with name NULL. */
const floq_conf_prop_t *floq_conf_props(void);

/** Print the table (name, type, default, help) for --help / man pages. */
void floq_conf_print_help(FILE *out);

/* ---- program start (prog.c): what every floq daemon's main.c shares */

/** A program's own option that sets one property ("--slot N" sets
 *  worker.slot). */
typedef struct floq_prog_opt_s {
        const char *long_name; /**< "slot"; NULL ends the list */
        int short_name;        /**< 'l', or 0 for the long name only */
        const char *property;  /**< "worker.slot" */
} floq_prog_opt_t;

typedef struct floq_prog_s {
        const char *name;             /**< "floq-worker": messages, logs */
        void (*usage)(FILE *out);     /**< --help text, and on bad usage */
        const floq_prog_opt_t *opts;  /**< its own options, or NULL */
} floq_prog_t;

/**
 * Parse the flags every daemon takes (-b BROKERS, -F/-c FILE, -X KEY=VALUE,
 * -o NAME=VALUE, -v/-q, --log-json, --dump-config, -h/--help,
 * -V/--version) and @p prog's own options; build the configuration (file
 * named by -F or FLOQ_CONFIG < environment < flags, in command-line
 * order) and set up the logger from log.level, log.format and -v/-q.
 * @return -1 with *confp the configuration (the caller destroys it) when
 * the program goes on; otherwise the exit status to return at once, the
 * message printed: 0 after --help, --version or --dump-config, 1 out of
 * memory, 2 a usage or configuration error.
 */
int floq_prog_config(const floq_prog_t *prog, int argc, char **argv,
                     floq_conf_t **confp);

/**
 * SIGTERM and SIGINT call @p stop(@p arg) (it must be async-signal-safe:
 * set a flag); a second one exits at once with 130. SIGPIPE is ignored.
 * Call it again with NULL before @p arg is freed, so a late signal does
 * not reach freed memory. A crash signal prints "floq: fatal signal N"
 * and the stack on stderr, then takes its default action.
 */
void floq_prog_signals(void (*stop)(void *arg), void *arg);

struct addrinfo;
/**
 * Resolve a daemon's listen address @p listen ("host:port", "[v6]:port",
 * ":port" for every address) for a passive TCP socket; @p key names the
 * property in the message ("metrics.listen '...': expected host:port").
 * @param aip  receives the first of the addresses (freeaddrinfo() it)
 * @return FLOQ_OK or FLOQ_ERR_CONFIG with errstr set.
 */
floq_err_t floq_listen_resolve(const char *key, const char *listen,
                               struct addrinfo **aip, char *errstr,
                               size_t errstr_size);
/** Print current values, secrets shown as "(set)". */
void floq_conf_dump(const floq_conf_t *conf, FILE *out);

/** FLOQ_ERR_CONFIG ("not supported yet: ...") when @p conf sets a property
 *  the table lists but no component implements (schema.registry.url). */
floq_err_t floq_conf_check_supported(const floq_conf_t *conf, char *errstr,
                                     size_t errstr_size);

/* ----------------------------------------------------------------- kafka */

/**
 * A librdkafka config from @p conf: bootstrap.servers from `brokers`, every
 * -X/kafka.* passthrough setting, our log callback, client.id, and for
 * producers partitioner=murmur2_random (Java's default partitioner) so keys
 * land where Java clients put them. The caller owns the result (hand it to
 * rd_kafka_new(), which takes ownership on success).
 * @param role  "producer", "consumer", "member" (the worker's group
 *              member: as "consumer" but auto.offset.reset=error) or
 *              "admin": picks role defaults
 */
rd_kafka_conf_t *floq_kafka_conf_new(const floq_conf_t *conf,
                                     const char *role, char *errstr,
                                     size_t errstr_size);

/**
 * Create each topic of @p conf (commands, replies, lineage, deployments,
 * schedules, runs, dlq) that does not exist, with topic.partitions and
 * topic.replication.factor; state topics get cleanup.policy=compact.
 * Topics that exist with another partition count: FLOQ_ERR_CONFIG (the
 * co-partitioning contract would break). Blocks up to @p timeout_ms.
 */
floq_err_t floq_kafka_ensure_topics(rd_kafka_t *rk, const floq_conf_t *conf,
                                    int timeout_ms, char *errstr,
                                    size_t errstr_size);

/** Partition of @p key among @p partition_cnt: Java's murmur2 partitioner. */
int32_t floq_kafka_partition(const char *key, size_t keylen,
                             int32_t partition_cnt);

/** Map a librdkafka error to a floq error. */
floq_err_t floq_kafka_err(rd_kafka_resp_err_t err);

/**
 * The first and the end offsets of @p topic [@p partition] (the end is the
 * last stable offset for a read_committed client), each query bounded by
 * @p timeout_ms. Use it instead of rd_kafka_query_watermark_offsets():
 * librdkafka 2.0.2 sends that to the leader in its metadata cache and, when
 * that node is down, waits for it to come back whatever the timeout;
 * rd_kafka_offsets_for_times() (-2 earliest, -1 latest) keeps its timeout.
 */
rd_kafka_resp_err_t floq_kafka_watermarks(rd_kafka_t *rk, const char *topic,
                                          int32_t partition, int64_t *lo,
                                          int64_t *hi, int timeout_ms);

/* ------------------------------------------------------------------ time */

/** Wall clock in Unix milliseconds. */
int64_t floq_now_ms(void);
/** Monotonic clock in milliseconds. */
int64_t floq_mono_ms(void);
/** Sleep @p ms milliseconds (nothing when <= 0), through signals. */
void floq_sleep_ms(int64_t ms);
/** RFC 3339 UTC text of @p ms ("2026-11-23T10:50:14.123Z") into buf. */
char *floq_ms_to_iso(int64_t ms, char *buf, size_t size);

/** A fresh random (v4) UUID in lower-case text form into buf[37]. */
void floq_uuid_new(char buf[37]);
/**
 * 1 when @p s is a UUID in its canonical text form (RFC 9562: 8-4-4-4-12
 * hex digits, lower case, as every UUID library writes it), the form the
 * schemas' `logicalType: uuid` fields must hold; 0 otherwise (NULL too).
 * Upper case is refused so that one UUID has one spelling: floq compares
 * ids as strings (G3).
 */
int floq_uuid_valid(const char *s);

/* ---- cron and time zones ---- */
/*
 * Schedules (common/cron.c, common/tz.c; semantics in docs/schedules.md):
 * cron expressions, IANA time zones read from the system tz database without
 * touching the process-wide TZ, and the next fire instant of a schedule.
 */

/** floq_cron_t.flags */
#define FLOQ_CRON_F_SECONDS  0x1 /**< 6-field form: a leading seconds field */
#define FLOQ_CRON_F_DOM_STAR 0x2 /**< day-of-month field began with '*' */
#define FLOQ_CRON_F_DOW_STAR 0x4 /**< day-of-week field began with '*' */

/**
 * A parsed cron expression: one bitset per field, bit n set when value n
 * matches. Caller-owned, plain data (copy it freely); no release needed.
 */
typedef struct floq_cron_s {
        uint64_t second;  /**< bits 0-59 (just bit 0 in the 5-field form) */
        uint64_t minute;  /**< bits 0-59 */
        uint32_t hour;    /**< bits 0-23 */
        uint32_t dom;     /**< bits 1-31 */
        uint16_t month;   /**< bits 1-12 */
        uint8_t dow;      /**< bits 0-6, Sunday = 0 (7 is folded into 0) */
        uint8_t flags;    /**< FLOQ_CRON_F_* */
} floq_cron_t;

/** An IANA time zone, immutable once loaded: share it between threads. */
typedef struct floq_tz_s floq_tz_t;

/** Longest line floq_cron_format_fire() writes, with its NUL. */
#define FLOQ_CRON_FIRE_BUFSZ 80

/**
 * Parse a cron expression: 5 fields (minute hour day-of-month month
 * day-of-week) or 6 with a leading seconds field; lists, ranges, steps,
 * names (JAN-DEC, SUN-SAT, any case), 7 = Sunday and the macros @hourly
 * @daily @midnight @weekly @monthly @yearly @annually.
 * @param out  caller-owned, written only on success
 * @return FLOQ_OK, or FLOQ_ERR_INVALID_ARG with errstr set to
 *         "position N: reason" (N counts characters of @p expr from 1).
 * Thread-safe.
 */
floq_err_t floq_cron_parse(const char *expr, floq_cron_t *out, char *errstr,
                           size_t errstr_size);

/**
 * The first fire instant of @p c strictly after @p after_utc_ms, evaluated
 * in the wall time of @p tz with the daylight-saving rules of
 * docs/schedules.md (gap: once at the end of the gap; fold: once at the
 * first pass; an hour field of every hour: every real instant whose wall
 * time matches, so both passes of a fold).
 * @return Unix milliseconds (a whole second), or -1 when nothing fires in
 *         the 8 years after @p after_utc_ms (e.g. "0 0 30 2 *") or the
 *         instant is outside years 1-9990. Thread-safe.
 */
int64_t floq_cron_next(const floq_cron_t *c, const floq_tz_t *tz,
                       int64_t after_utc_ms);

/**
 * One line describing a fire instant, the UTC instant then the wall time
 * with its offset: "2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00"
 * (milliseconds are shown only when not zero). What `floq cron-next`
 * prints. @p size should be FLOQ_CRON_FIRE_BUFSZ. Returns @p buf.
 */
char *floq_cron_format_fire(int64_t ms, const floq_tz_t *tz, char *buf,
                            size_t size);

/**
 * Parse an ISO 8601 / RFC 3339 instant: "2026-03-08T01:59:00Z",
 * "2026-03-08T01:59:00.250+05:30" ('T', 't' or ' ' between date and time,
 * seconds optional, any number of fraction digits, truncated to ms,
 * offsets Z, +hh:mm, +hhmm or +hh). An offset is required: a bare wall
 * time is ambiguous. @return FLOQ_OK or FLOQ_ERR_INVALID_ARG.
 */
floq_err_t floq_iso_parse(const char *s, int64_t *ms);

/**
 * Load IANA zone @p name ("Europe/London") from $TZDIR or
 * /usr/share/zoneinfo (TZif v1-v4, validated; the process TZ is never
 * touched). "UTC", "GMT", "Z", "Etc/UTC" need no file; fixed offsets are
 * written "UTC+05:30", "UTC-3", "+05:45" (ISO sign: east is positive;
 * unlike the POSIX-signed "Etc/GMT+5", which is read from its file).
 * Names with "." components, absolute paths or odd characters are
 * rejected.
 * @return a zone the caller owns (floq_tz_destroy()), or NULL with errstr.
 */
floq_tz_t *floq_tz_load(const char *name, char *errstr, size_t errstr_size);

/** Free @p tz (NULL is fine). */
void floq_tz_destroy(floq_tz_t *tz);

/** The name @p tz was loaded with. */
const char *floq_tz_name(const floq_tz_t *tz);

/**
 * UTC offset in seconds (east positive) in effect at @p utc_sec.
 * @param is_dst  if non-NULL, set to 1 during daylight-saving time
 */
int floq_tz_offset_at(const floq_tz_t *tz, int64_t utc_sec, int *is_dst);

/** Wall time (seconds since 1970-01-01T00:00 local) at @p utc_sec. */
int64_t floq_tz_utc_to_local(const floq_tz_t *tz, int64_t utc_sec);

/**
 * The UTC instants whose wall time in @p tz is @p local_sec.
 * @return 1: one instant, utc[0] == utc[1];
 *         2: a fold (fall back), utc[0] the first pass, utc[1] the second;
 *         0: a gap (spring forward), the wall time never happens: utc[0]
 *            == utc[1] == the first valid instant after the gap.
 */
int floq_tz_local_to_utc(const floq_tz_t *tz, int64_t local_sec,
                         int64_t utc[2]);
/* ---- end of cron and time zones ---- */

/* ---- the HTTP adapter (http.c) ---- */

/*
 * One HTTP call as every HTTP backend makes it, over libcurl: connect and
 * total timeouts, TLS verified unless turned off, retries with exponential
 * backoff and jitter on connection errors, 429 and 5xx (a Retry-After
 * header is honoured), none on any other status, a bounded response body,
 * JSON in and out through jansson, and every failure said as
 * "<what>: <METHOD> <path>: <status> <reason>: <detail>".
 */

/** Options of a call; zero values take the defaults named. Borrowed. */
typedef struct floq_http_opts_s {
        const char *what;        /**< prefix of messages ("airflow") */
        long connect_timeout_ms; /**< one connect; default 5000 */
        long timeout_ms;         /**< the whole call, retries and waits
                                  *   included; default 30000 */
        int max_retries;         /**< tries after the first; default 4,
                                  *   -1 for none */
        long backoff_ms;         /**< first retry delay; default 200 */
        long max_backoff_ms;     /**< delay cap; default 5000 */
        size_t max_body;         /**< response bound; default 1 MiB */
        const char *ca_file;     /**< CA bundle; NULL: the system's */
        int insecure;            /**< 1: no TLS verification */
        const char *bearer;      /**< "Authorization: Bearer" (secret) */
        const char *basic;       /**< "user:password" (secret) */
        const char *const *headers; /**< extra "Name: value", NULL-ended */
} floq_http_opts_t;

/** The answer of a call (floq_http_resp_release() frees it). */
typedef struct floq_http_resp_s {
        long status;   /**< HTTP status of the last try; 0: none */
        char *body;    /**< NUL-terminated, malloc()ed; NULL when empty */
        size_t len;
        json_t *json;  /**< body parsed as JSON, NULL when it is not */
        int attempts;  /**< tries made */
} floq_http_resp_t;

/**
 * @p method @p url with @p body (JSON, sent as application/json; NULL: no
 * body). A 2xx answer: FLOQ_OK. Otherwise the last answer is still in
 * @p resp and errstr says why: FLOQ_ERR_UNAUTHORIZED (401, 403),
 * FLOQ_ERR_NOT_FOUND (404), FLOQ_ERR_EXISTS (409), FLOQ_ERR_REJECTED (any
 * other 4xx, 3xx), FLOQ_ERR_BACKEND (5xx after the retries),
 * FLOQ_ERR_TRANSPORT (no connection, TLS failure), FLOQ_ERR_TIMED_OUT (the
 * total timeout), FLOQ_ERR_TOO_LARGE (a body over max_body).
 * Thread-safe; secrets never reach errstr.
 */
floq_err_t floq_http_request(const floq_http_opts_t *opts, const char *method,
                             const char *url, const json_t *body,
                             floq_http_resp_t *resp, char *errstr,
                             size_t errstr_size);

/** Free what @p resp holds; it can be reused. */
void floq_http_resp_release(floq_http_resp_t *resp);

/**
 * 1 when @p url goes where one of the comma-separated URL @p prefixes
 * allows: the same scheme (http or https), host and port, no user info,
 * and a path under the prefix's path on a segment boundary, both parsed
 * as libcurl will send them (dot segments removed): with the prefix
 * "https://api.example.com/v1", "https://api.example.com/v1/x" is allowed,
 * ".../v10", ".../v1/../admin", "https://api.example.com.evil.org/v1" and
 * "https://api.example.com:443@evil/v1" are not, nor any path with an
 * encoded dot, slash or backslash (%2E, %2F, %5C), which servers resolve
 * after the check. Thread-safe.
 */
int floq_http_url_allowed(const char *prefixes, const char *url);

/** libcurl's global initialisation, once per process (thread-safe).
 *  @return 0 on success. */
int floq_http_global_init(void);
/* ---- end of the HTTP adapter ---- */

#endif /* FLOQ_COMMON_H */
