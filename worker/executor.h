/*
 * executor.h - the bounded pool that runs attempts off the poll loop. The
 * worker core submits an attempt and goes back to polling Kafka; one
 * executor thread per active attempt starts it through its backend, blocks
 * in wait(), enforces the timeout (stop with FLOQ_STOP_TIMEOUT) and queues
 * events (started, finished) that the core drains from its loop and turns
 * into replies, RunState records and lineage inside its transactions.
 */
#ifndef FLOQ_EXECUTOR_H
#define FLOQ_EXECUTOR_H

#include "backends/backend.h"

typedef struct floq_executor_s floq_executor_t;

typedef enum floq_exec_event_type_e {
        FLOQ_EXEC_STARTED,  /**< start() succeeded: backend_ref known */
        FLOQ_EXEC_FINISHED, /**< attempt ended: result filled */
} floq_exec_event_type_t;

typedef struct floq_exec_event_s {
        floq_exec_event_type_t type;
        char run_id[37];
        int attempt;
        void *opaque;             /**< as given to submit() */
        char *backend_ref;        /**< STARTED: malloc()ed, may be NULL */
        char *backend_url;        /**< STARTED: the backend's page of the
                                   *   attempt (url()), malloc()ed or NULL */
        const char *backend;      /**< the backend's name (static) */
        floq_run_result_t result; /**< FINISHED; start failures are
                                   *   FAILED with the reason */
} floq_exec_event_t;

/** Frees the strings inside @p ev (not @p ev itself). */
void floq_exec_event_release(floq_exec_event_t *ev);

/**
 * @param concurrency  attempts that may run at once (>= 1)
 * @param wakeup_fd    when >= 0, one byte is written to it whenever an
 *                     event is queued (lets the core wake from poll)
 */
floq_executor_t *floq_executor_new(int concurrency, int wakeup_fd,
                                   char *errstr, size_t errstr_size);

/**
 * Have @p fn(@p opaque) called whenever an event is queued, from the
 * thread that queued it, with the executor's lock held (so that the
 * core's loop wakes at once: the worker yields its consumer's poll). Once
 * this returns, the previous function is not running and will not be
 * called again (NULL: none). @p fn must be quick, thread-safe and must
 * not call into the executor.
 */
void floq_executor_set_notify(floq_executor_t *ex, void (*fn)(void *opaque),
                              void *opaque);

/**
 * Stop every attempt with FLOQ_STOP_DRAIN, join the threads and free.
 * Events not yet taken are dropped.
 */
void floq_executor_destroy(floq_executor_t *ex);

/**
 * Run one attempt on @p be. The request is deep-copied (spec and params
 * are json_deep_copy()ed), so the caller keeps ownership of @p req.
 * FLOQ_ERR_STATE when full (check floq_executor_free_slots()), or when a
 * live attempt of the same run_id is already there (never two at once).
 * With req->attach_ref set, the thread re-attaches to the remote run an
 * earlier worker started (attach(), retried with backoff while its error
 * is retriable, up to the backend's unreachable_ms) instead of starting
 * one: STARTED once attached; else FINISHED with FAILED (the remote run is
 * gone: FLOQ_ERR_NOT_FOUND) or LOST (no attach, a fatal error or the
 * bound passed; the reason has the last error).
 */
floq_err_t floq_executor_submit(floq_executor_t *ex, floq_backend_t *be,
                                const floq_run_req_t *req, void *opaque,
                                char *errstr, size_t errstr_size);

/** Slots left (concurrency - active). */
int floq_executor_free_slots(floq_executor_t *ex);
/** Attempts running or finished-but-not-yet-taken. */
int floq_executor_active(floq_executor_t *ex);
/** 1 if an attempt of @p run_id is live. */
int floq_executor_has(floq_executor_t *ex, const char *run_id);

/**
 * Ask the live attempt of @p run_id to stop. FLOQ_ERR_NOT_FOUND if none.
 */
floq_err_t floq_executor_stop(floq_executor_t *ex, const char *run_id,
                              floq_stop_why_t why);

/** Stop every live attempt with @p why. */
void floq_executor_stop_all(floq_executor_t *ex, floq_stop_why_t why);

/**
 * Take the next queued event into @p ev (caller releases it). Returns 1 when
 * an event was taken, 0 when none within @p wait_ms (0: don't wait).
 * Thread-safe; meant for the core's loop.
 */
int floq_executor_next_event(floq_executor_t *ex, floq_exec_event_t *ev,
                             int wait_ms);

#endif /* FLOQ_EXECUTOR_H */
