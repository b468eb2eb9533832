/*
 * floq.h - libfloq, the C client of floq: the one public header event
 * producers include (installed as <floq/floq.h>, pkg-config name `floq`).
 *
 * A client publishes commands (deploy, run, stop, schedule, unschedule,
 * status, validate) to the commands topic with an idempotent producer
 * (acks=all) keyed by deployment name, partitioned like Java clients
 * (murmur2), and reads the answers from the reply topic through its own
 * consumer. That consumer uses assign() (no consumer group), reads
 * read_committed, and is positioned at the end of every partition of the
 * reply topic (queried high watermarks, not a lazy "end" offset) before the
 * first command is sent, so no reply to a command of this client can be
 * missed. Replies are matched to commands by command_id, and by
 * correlation_id when both sides carry one.
 *
 * Messages are jansson objects shaped by schemas/Command.avsc and
 * schemas/Reply.avsc (see floq_schemas.h for the mapping); a reply looks
 * like {"command_id": "...", "status": "SUCCEEDED", "final": true,
 * "run_id": "...", "exit_code": 0, ...}.
 *
 * Thread-safety: every floq_client_*() function may be called from any
 * thread at the same time, except floq_client_destroy() (no other call may
 * be running or start) and the setters floq_client_set_reply_cb() /
 * floq_client_set_lineage_cb(), which must be called before
 * floq_client_connect() or the first send. Callbacks run on the thread
 * calling floq_client_poll() / floq_client_wait_reply() or on the
 * background thread of floq_client_start(); they must not call
 * floq_client_destroy().
 *
 * The library never exits and never prints: errors come back as floq_err_t
 * with a message in the caller's errstr; diagnostics go to the floq logger
 * (floq_log_setup(), silent until a main() configures it).
 */
#ifndef FLOQ_H
#define FLOQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "floq_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct floq_client_s floq_client_t;

/* ------------------------------------------------------------- lifecycle */

/**
 * A new client from @p conf. Reads: `brokers` and every librdkafka
 * passthrough setting (-X, security.*, sasl.*), `topic.commands`,
 * `topic.replies`, `topic.lineage`, `topic.runs`, `client.timeout.ms`
 * (default reply wait and delivery timeout, 30 s when the table has no such
 * key), `client.connect.timeout.ms` (bound on reaching the brokers, 10 s),
 * `security.hmac.keys.file` and `security.hmac.key.id` (when set, every
 * command is signed, docs/producing.md "Signing commands"; a bad keys file
 * fails here). `schema.registry.url` is not supported yet and fails here.
 * Does no network i/o: brokers are first contacted by floq_client_connect()
 * (or the first send).
 *
 * @param conf  taken over by the client on success (do not use or destroy
 *              it afterwards); left to the caller on failure
 * @return the client, or NULL with the reason in @p errstr
 */
floq_client_t *floq_client_new(floq_conf_t *conf, char *errstr,
                               size_t errstr_size);

/**
 * Stop the background thread (if started), wait up to the delivery timeout
 * for commands still in flight, close both Kafka handles and free
 * everything, including replies nobody took. NULL is ignored.
 */
void floq_client_destroy(floq_client_t *client);

/**
 * Reach the brokers, create the floq topics when missing (same partition
 * count and replication as the worker, see floq_kafka_ensure_topics()),
 * and position the reply consumer at the end of every reply partition
 * (and the lineage topic's, when a lineage callback is set). Idempotent;
 * sends call it when the application did not.
 * @return FLOQ_OK; FLOQ_ERR_TRANSPORT when no broker answered within
 *         client.connect.timeout.ms; FLOQ_ERR_CONFIG / FLOQ_ERR_KAFKA
 *         otherwise, with the reason in @p errstr
 */
floq_err_t floq_client_connect(floq_client_t *client, char *errstr,
                               size_t errstr_size);

/** The configuration in use (owned by the client). */
const floq_conf_t *floq_client_conf(const floq_client_t *client);

/* ----------------------------------------------------------- publishing */

/** Flags of floq_client_send(). */
#define FLOQ_SEND_ASYNC   0x1 /**< return once queued; confirm with
                                   floq_client_flush() */
#define FLOQ_SEND_NOTRACK 0x2 /**< keep no reply for wait_reply() / the
                                   callback: fire and forget */

/** Envelope options common to all commands; all fields optional (zero). */
typedef struct floq_send_opts_s {
        const char *correlation_id; /**< NULL: the command id */
        int64_t expires_at_ms;      /**< Unix ms; 0: never expires */
        const char *reply_to;       /**< NULL: the configured reply topic
                                         (replies elsewhere are not read) */
        int flags;                  /**< FLOQ_SEND_* */
} floq_send_opts_t;

/**
 * Publish one Command (schemas/Command.avsc). The client fills what
 * @p command lacks: command_id (a new UUID), issued_at (now),
 * correlation_id (from @p opts, else the command id), expires_at and
 * reply_to (from @p opts; when the client signs and neither gives an
 * expiry, half of security.command.max.lifetime.ms from now, since workers
 * refuse signed commands without one). @p command must carry `deployment`
 * (the record key) and `body` ({"RunBody": {...}} etc.). A command_id the
 * caller set is kept as it is, so a retry with it executes once (G3); one
 * that is not a canonical UUID (lower-case 8-4-4-4-12) is refused with
 * FLOQ_ERR_INVALID_ARG before anything is sent, as workers would reject it.
 *
 * Unless FLOQ_SEND_ASYNC is set the call returns after the broker
 * acknowledged the command (acks=all) or the delivery timeout passed.
 * Unless FLOQ_SEND_NOTRACK is set the command's replies are kept for
 * floq_client_wait_reply() (or given to the reply callback when one is
 * set) until its final reply was handed out or floq_client_forget().
 *
 * @param command      borrowed; the filled-in fields are added to it
 * @param opts         NULL for defaults
 * @param command_id   receives the command id (may be NULL)
 * @return FLOQ_OK, FLOQ_ERR_INVALID_ARG (no deployment, bad command_id),
 *         FLOQ_ERR_ENCODE (does not fit the schema),
 *         FLOQ_ERR_TRANSPORT (brokers unreachable), FLOQ_ERR_TIMED_OUT
 *         (not acknowledged in time), FLOQ_ERR_KAFKA
 */
floq_err_t floq_client_send(floq_client_t *client, json_t *command,
                            const floq_send_opts_t *opts,
                            char command_id[37], char *errstr,
                            size_t errstr_size);

/**
 * Wait until every command queued so far was acknowledged, or
 * @p timeout_ms (-1: the delivery timeout) passed.
 * @return FLOQ_OK when all were delivered; otherwise the error of the
 *         first failed delivery since the last flush, or
 *         FLOQ_ERR_TIMED_OUT
 */
floq_err_t floq_client_flush(floq_client_t *client, int timeout_ms,
                             char *errstr, size_t errstr_size);

/* Typed helpers: each builds the command, calls floq_client_send() and
 * returns its result. Strings are borrowed (copied into the command). */

/** Deploy options; zero/NULL fields are left to the worker's defaults. */
typedef struct floq_deploy_opts_s {
        const char *artifact_url;
        const char *artifact_sha256;
        const char *namespace_;  /**< OpenLineage job namespace */
        int64_t timeout_ms;      /**< run timeout; 0: none */
        int max_attempts;        /**< retry policy; 0: no policy */
        int64_t backoff_ms;      /**< first retry delay; 0: default */
        json_t *inputs;          /**< borrowed array of {namespace,name} */
        json_t *outputs;         /**< borrowed array of {namespace,name} */
} floq_deploy_opts_t;

/** deploy: register or update @p name. @p spec_json: a JSON object text. */
floq_err_t floq_deploy(floq_client_t *client, const char *name,
                       const char *backend, const char *spec_json,
                       const floq_deploy_opts_t *dopts,
                       const floq_send_opts_t *opts, char command_id[37],
                       char *errstr, size_t errstr_size);

/**
 * run: start a run of @p name.
 * @param params           borrowed JSON object of string values, or NULL
 * @param idempotency_key  NULL for none
 * @param timeout_ms       run timeout override; 0: the deployment's
 */
floq_err_t floq_run(floq_client_t *client, const char *name, json_t *params,
                    const char *idempotency_key, int64_t timeout_ms,
                    const floq_send_opts_t *opts, char command_id[37],
                    char *errstr, size_t errstr_size);

/** run with params as @p param_cnt "key=value" strings. */
floq_err_t floq_run_kv(floq_client_t *client, const char *name,
                       const char **params, size_t param_cnt,
                       const char *idempotency_key,
                       const floq_send_opts_t *opts, char command_id[37],
                       char *errstr, size_t errstr_size);

/** stop: one run (@p run_id), or with NULL every active run of @p name
 *  and disable the deployment until it is deployed again. */
floq_err_t floq_stop(floq_client_t *client, const char *name,
                     const char *run_id, const floq_send_opts_t *opts,
                     char command_id[37], char *errstr, size_t errstr_size);

/** Schedule options (schemas/Command.avsc ScheduleBody). */
typedef struct floq_schedule_opts_s {
        const char *schedule_id; /**< NULL: "default" */
        const char *timezone;    /**< IANA zone; NULL: "UTC" */
        const char *catchup;     /**< "SKIP" | "LATEST" | "ALL"; NULL: SKIP */
        int catchup_max;         /**< 0: default (10) */
        const char *overlap;     /**< "ALLOW" | "SKIP" | "BUFFER_ONE" |
                                      "CANCEL_PREVIOUS"; NULL: ALLOW */
        int64_t jitter_ms;
        json_t *params;          /**< borrowed object of strings, or NULL */
        /* Added later: zero means unset, so older initialisers keep their
         * meaning. */
        int64_t start_at_ms;     /**< no fire before (Unix ms); 0: none */
        int64_t end_at_ms;       /**< no fire after (Unix ms); 0: none */
        int paused;              /**< store the schedule paused */
} floq_schedule_opts_t;

/** schedule: add or replace a cron schedule of @p name. */
floq_err_t floq_schedule(floq_client_t *client, const char *name,
                         const char *cron, const floq_schedule_opts_t *sopts,
                         const floq_send_opts_t *opts, char command_id[37],
                         char *errstr, size_t errstr_size);

/** unschedule: remove one schedule, or all with @p schedule_id NULL. */
floq_err_t floq_unschedule(floq_client_t *client, const char *name,
                           const char *schedule_id,
                           const floq_send_opts_t *opts, char command_id[37],
                           char *errstr, size_t errstr_size);

/** pause: one schedule of @p name, or all with @p schedule_id NULL, fires
 *  nothing until resumed (UnscheduleBody action PAUSE). Answered
 *  SCHEDULED with detail {"paused":true}. */
floq_err_t floq_pause(floq_client_t *client, const char *name,
                      const char *schedule_id, const floq_send_opts_t *opts,
                      char command_id[37], char *errstr, size_t errstr_size);

/** resume: undo floq_pause(); the due times that fell while paused are
 *  not backfilled. Answered SCHEDULED with the next five fire times. */
floq_err_t floq_resume(floq_client_t *client, const char *name,
                       const char *schedule_id, const floq_send_opts_t *opts,
                       char command_id[37], char *errstr, size_t errstr_size);

/** status: of a run (@p run_id) or, with NULL, of the deployment. */
floq_err_t floq_status(floq_client_t *client, const char *name,
                       const char *run_id, const floq_send_opts_t *opts,
                       char command_id[37], char *errstr,
                       size_t errstr_size);

/** validate: check a backend's connectivity (the worker answers within
 *  10 s). @p deployment routes the command; NULL uses @p backend. */
floq_err_t floq_validate(floq_client_t *client, const char *deployment,
                         const char *backend, const char *spec_json,
                         const floq_send_opts_t *opts, char command_id[37],
                         char *errstr, size_t errstr_size);

/**
 * Find the deployment a run belongs to by reading the runs state topic
 * (compacted; bounded by @p timeout_ms). For `floq status RUN_ID`.
 * @param deployment  receives a malloc()ed name the caller frees
 * @return FLOQ_OK, FLOQ_ERR_NOT_FOUND, FLOQ_ERR_TIMED_OUT, ...
 */
floq_err_t floq_client_find_run(floq_client_t *client, const char *run_id,
                                int timeout_ms, char **deployment,
                                char *errstr, size_t errstr_size);

/* -------------------------------------------------------------- replies */

/**
 * Wait for the next reply to a tracked command.
 * @param final_only  non-zero: skip (and free) non-final replies and return
 *                    only the final one
 * @param timeout_ms  -1: client.timeout.ms; 0: do not block
 * @param reply       receives a new reference (json_decref() it)
 * @return FLOQ_OK; FLOQ_ERR_TIMED_OUT; FLOQ_ERR_NOT_FOUND when the command
 *         is not tracked (never sent, sent NOTRACK, or its final reply was
 *         already taken); FLOQ_ERR_KAFKA on a consumer error
 * After the final reply was returned the command is no longer tracked.
 */
floq_err_t floq_client_wait_reply(floq_client_t *client,
                                  const char *command_id, int final_only,
                                  int timeout_ms, json_t **reply);

/** Stop tracking @p command_id and free its queued replies. */
void floq_client_forget(floq_client_t *client, const char *command_id);

/** Number of commands whose final reply has not been handed out. */
size_t floq_client_pending_cnt(floq_client_t *client);

/**
 * Reply callback. @p reply is borrowed for the call (json_incref() to keep
 * it). @p tracked is 1 for replies to this client's commands, 0 for other
 * replies (only with FLOQ_REPLY_CB_ALL).
 */
typedef void (floq_reply_cb_t)(floq_client_t *client, json_t *reply,
                               int tracked, void *opaque);

#define FLOQ_REPLY_CB_ALL 0x1 /**< also every other reply on the topic
                                   (what `floq watch` shows) */

/**
 * Route replies to @p cb instead of the wait_reply() queue (commands sent
 * after this call; tracking ends with the final reply). Call before
 * floq_client_connect(). @p cb NULL restores queueing.
 */
void floq_client_set_reply_cb(floq_client_t *client, floq_reply_cb_t *cb,
                              int flags, void *opaque);

/** Lineage callback: @p event is an OpenLineage RunEvent (borrowed). */
typedef void (floq_lineage_cb_t)(floq_client_t *client, json_t *event,
                                 void *opaque);

/** Also follow the lineage topic from its end; call before connect. */
void floq_client_set_lineage_cb(floq_client_t *client, floq_lineage_cb_t *cb,
                                void *opaque);

/**
 * Read replies for up to @p timeout_ms, calling the callbacks and queueing
 * replies for waiters. Not needed when floq_client_start() runs the
 * background thread or a thread is inside floq_client_wait_reply().
 * @return number of replies and lineage events read, or -1 on a consumer
 *         error (logged)
 */
int floq_client_poll(floq_client_t *client, int timeout_ms);

/** Start a background thread that polls until floq_client_destroy(). */
floq_err_t floq_client_start(floq_client_t *client, char *errstr,
                             size_t errstr_size);

/* ------------------------------------------------------- reply helpers */

/** 1 if @p status ("SUCCEEDED", ...) ends a run or a command well:
 *  DEPLOYED ACCEPTED SUCCEEDED STOPPED SCHEDULED UNSCHEDULED STATUS VALID */
int floq_reply_status_is_ok(const char *status);

/** 1 if @p status is a terminal state of a run (SUCCEEDED FAILED
 *  CANCELLED TIMED_OUT LOST) or a command's only answer (anything but
 *  ACCEPTED and RUNNING). */
int floq_reply_status_is_terminal(const char *status);

/** The reply's "status" string, "UNKNOWN" when absent. */
const char *floq_reply_status(const json_t *reply);

/** 1 if the reply is the last one to its command. */
int floq_reply_is_final(const json_t *reply);

#ifdef __cplusplus
}
#endif

#endif /* FLOQ_H */
