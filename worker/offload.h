/*
 * offload.h - a small pool of threads for the work a command's decision
 * needs that waits on the network (worker/offload.c): a deploy's artifact
 * download and its backend's deploy hook, a validate. The loop never waits
 * for it: it submits a job and goes on consuming, deciding and committing
 * the other partitions; a finished job comes back through a queue that the
 * loop drains (floq_offload_next()), and the pool calls a wake-up function
 * of the loop's choosing when one is ready, so that the loop need not wait
 * for its poll slice to end. The pool knows nothing of the worker: a job is
 * the caller's struct with a floq_offload_job_t first, and nothing here
 * calls back up into the loop but the wake-up.
 *
 * Bounds: at most max_jobs jobs are queued, running or finished and not
 * yet taken (floq_offload_submit() refuses more); the work itself must be
 * bounded by its own timeouts (libcurl's connect and total timeouts, the
 * backends' 10 s validate), and the caller answers a job that takes longer
 * than its own deadline without it (the late result is then dropped).
 */
#ifndef FLOQ_WORKER_OFFLOAD_H
#define FLOQ_WORKER_OFFLOAD_H

#include <stddef.h>

#include "floq_common.h"

typedef struct floq_offload_s floq_offload_t;
typedef struct floq_offload_job_s floq_offload_job_t;

/** One job: embed it first in the caller's struct. */
struct floq_offload_job_s {
        /** The work, called once on a pool thread; must not touch the
         *  loop's state (only what the job itself holds). */
        void (*run)(floq_offload_job_t *job);
        /** Frees the job (any thread: a job still queued at destroy). */
        void (*free_)(floq_offload_job_t *job);
        floq_offload_job_t *next; /**< the pool's */
};

/**
 * A pool of @p threads threads (at least 1) holding at most @p max_jobs
 * jobs. @p wake (may be NULL) is called with @p wake_opaque from a pool
 * thread each time a job finished; it must be thread-safe and cheap.
 * @return the pool, or NULL with errstr.
 */
floq_offload_t *floq_offload_new(int threads, size_t max_jobs,
                                 void (*wake)(void *), void *wake_opaque,
                                 char *errstr, size_t errstr_size);

/**
 * Stop the pool: jobs not started are freed, running ones are waited for
 * (their own timeouts bound them), finished ones not taken are freed.
 * NULL-safe.
 */
void floq_offload_destroy(floq_offload_t *o);

/**
 * Queue @p job. Takes ownership on FLOQ_OK; FLOQ_ERR_TOO_LARGE when the
 * pool holds max_jobs already (the caller keeps @p job). Thread-safe.
 */
floq_err_t floq_offload_submit(floq_offload_t *o, floq_offload_job_t *job);

/** A finished job, oldest first, or NULL; the caller owns it (free it
 *  with job->free_). Thread-safe, never blocks. */
floq_offload_job_t *floq_offload_next(floq_offload_t *o);

/** Jobs held: queued, running or finished and not taken. Thread-safe. */
size_t floq_offload_held(floq_offload_t *o);

#endif /* FLOQ_WORKER_OFFLOAD_H */
