/*
 * backend.h - the one interface every execution backend implements
 * (process, http, airflow, dagster, prefect, kubernetes: one file each in
 * worker/backends/). The worker core never knows which backend runs a job:
 * it validates a deployment's spec through deploy(), starts attempts through
 * start(), and the executor's threads block in wait() while the core's
 * poll loop stays free. stop() may be called from any thread at any time.
 */
#ifndef FLOQ_BACKEND_H
#define FLOQ_BACKEND_H

#include <stdint.h>

#include <jansson.h>

#include "floq_common.h"

/** Terminal outcome of one attempt. */
typedef enum floq_outcome_e {
        FLOQ_OUTCOME_SUCCEEDED,
        FLOQ_OUTCOME_FAILED,
        FLOQ_OUTCOME_CANCELLED, /**< stop() with FLOQ_STOP_CANCEL */
        FLOQ_OUTCOME_TIMED_OUT, /**< stop() with FLOQ_STOP_TIMEOUT */
        FLOQ_OUTCOME_ABANDONED, /**< stop() with FLOQ_STOP_DRAIN: the worker
                                 *   is leaving, the next owner retries */
        FLOQ_OUTCOME_LOST,      /**< the backend lost track of the remote
                                 *   run (unreachable past its bound) */
} floq_outcome_t;

const char *floq_outcome_name(floq_outcome_t o);

typedef enum floq_stop_why_e {
        FLOQ_STOP_CANCEL,
        FLOQ_STOP_TIMEOUT,
        FLOQ_STOP_DRAIN,
} floq_stop_why_t;

/** What to run: borrowed by start() for the duration of the call only. */
typedef struct floq_run_req_s {
        const char *run_id;     /**< UUID; backends derive idempotent ids */
        const char *deployment;
        int attempt;            /**< 1-based */
        const json_t *spec;     /**< the deployment's spec object, as
                                 *   accepted by deploy() */
        const json_t *params;   /**< object of string values, may be empty */
        int64_t timeout_ms;     /**< 0: none */
        int64_t scheduled_for;  /**< due time in ms, 0 when not scheduled */
        const char *attach_ref; /**< executor only: when set, the attempt
                                 *   is re-attached through attach() with
                                 *   this backend_ref instead of start()ed
                                 *   (a takeover of a remote run) */
} floq_run_req_t;

/** Outcome of an attempt; strings are malloc()ed, freed by
 *  floq_run_result_release(). */
typedef struct floq_run_result_s {
        floq_outcome_t outcome;
        int exit_code;          /**< process exit status, -1 when n/a */
        int term_signal;        /**< signal that ended it, 0 when none */
        char *reason;           /**< short human text for FAILED & co. */
        char *output_tail;      /**< last bytes of stdout+stderr, or NULL */
        char *backend_ref;      /**< backend's id: pid, dag run id, job */
} floq_run_result_t;

void floq_run_result_release(floq_run_result_t *res);

typedef struct floq_backend_s floq_backend_t;
typedef struct floq_attempt_s floq_attempt_t; /**< backend-private */

typedef struct floq_backend_ops_s {
        const char *name; /**< "process" */
        /**
         * 1 when an attempt goes on by itself after its worker died (a
         * remote job: webhook, orchestrator, Kubernetes). The next owner
         * then must not start another attempt beside it: the run ends
         * LOST instead (until the backend can re-attach). 0 for the
         * process backend, whose attempts die with their worker.
         */
        int outlives_worker;

        /** Create the backend instance from worker config. */
        floq_backend_t *(*new_)(const floq_conf_t *conf, char *errstr,
                                size_t errstr_size);
        void (*destroy)(floq_backend_t *be);

        /**
         * Check (and normalise in place) a deployment spec. Called for every
         * deploy command; an error's errstr becomes the REJECTED reason.
         * Must not block on the network for more than a few seconds.
         */
        floq_err_t (*deploy)(floq_backend_t *be, const char *deployment,
                             json_t *spec, char *errstr, size_t errstr_size);

        /**
         * Start one attempt. On success *attp is the handle, owned by the
         * caller until attempt_destroy(). Thread-safe.
         */
        floq_err_t (*start)(floq_backend_t *be, const floq_run_req_t *req,
                            floq_attempt_t **attp, char *errstr,
                            size_t errstr_size);

        /**
         * Block up to @p wait_ms for the attempt to end. Returns FLOQ_OK and
         * fills @p res when it ended, FLOQ_ERR_TIMED_OUT when still running.
         * Called from one executor thread per attempt.
         */
        floq_err_t (*wait)(floq_backend_t *be, floq_attempt_t *att,
                           int wait_ms, floq_run_result_t *res);

        /**
         * Ask the attempt to stop (process: TERM to its group, KILL after
         * the grace period). Returns at once; wait() reports the outcome
         * matching @p why. Thread-safe, idempotent.
         */
        floq_err_t (*stop)(floq_backend_t *be, floq_attempt_t *att,
                           floq_stop_why_t why);

        /** Backend's id for the attempt (pid, ...); borrowed, may be NULL. */
        const char *(*ref)(floq_backend_t *be, floq_attempt_t *att);

        void (*attempt_destroy)(floq_backend_t *be, floq_attempt_t *att);

        /**
         * Check connectivity/configuration within 10 s; errstr says what
         * to fix. @p spec may be NULL.
         */
        floq_err_t (*validate)(floq_backend_t *be, const json_t *spec,
                               char *errstr, size_t errstr_size);

        /**
         * Re-attach to attempt req->attempt of a run that an earlier
         * worker started and that went on without it (outlives_worker
         * backends only). @p ref is the backend_ref stored in the run's
         * RunState (what ref() returned). On success *attp tracks the
         * remote run as if start() had made it: wait() and stop() work
         * on it, and no second remote run is created. Must not create a
         * remote run. FLOQ_ERR_NOT_FOUND: the remote run no longer
         * exists (the run ends FAILED with errstr); a retriable error
         * (FLOQ_ERR_TRANSPORT, FLOQ_ERR_BACKEND, ...): try again later.
         * NULL: the backend cannot re-attach (the run ends LOST).
         * Thread-safe; may block on the network (executor threads only).
         */
        floq_err_t (*attach)(floq_backend_t *be, const floq_run_req_t *req,
                             const char *ref, floq_attempt_t **attp,
                             char *errstr, size_t errstr_size);

        /**
         * The page of the attempt in the backend's own UI (the Airflow
         * DAG run, Dagster run, Prefect flow run), for replies, lineage
         * and the console; borrowed, NULL when there is none. May be
         * NULL itself.
         */
        const char *(*url)(floq_backend_t *be, floq_attempt_t *att);
} floq_backend_ops_t;

/** Every backend built in; NULL-terminated. */
extern const floq_backend_ops_t *const floq_backends[];

/** The ops named @p name, or NULL. */
const floq_backend_ops_t *floq_backend_find(const char *name);

/* Backend instance header: each backend's struct starts with this. */
struct floq_backend_s {
        const floq_backend_ops_t *ops;
        /** How long the backend may stay unreachable before a run it
         *  tracks ends LOST (airflow.unreachable.ms, ...): the executor
         *  retries a retriable attach() this long. 0: 5 minutes. */
        int64_t unreachable_ms;
};

extern const floq_backend_ops_t floq_backend_process;
extern const floq_backend_ops_t floq_backend_http;
extern const floq_backend_ops_t floq_backend_airflow;
extern const floq_backend_ops_t floq_backend_prefect;
extern const floq_backend_ops_t floq_backend_kubernetes;
extern const floq_backend_ops_t floq_backend_dagster;
extern const floq_backend_ops_t floq_backend_noop;

#endif /* FLOQ_BACKEND_H */
