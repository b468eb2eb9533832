/*
 * floq_worker.h - the public face of the worker component: one object that
 * joins the worker fleet (the consumer group on the commands topic), owns
 * the deployments, schedules and runs of the partitions it is assigned,
 * executes runs through the backends and answers every command exactly once
 * inside Kafka transactions. worker/main.c is a thin program over it; tests
 * link the same library. See docs/worker.md for the design as built.
 */
#ifndef FLOQ_WORKER_H
#define FLOQ_WORKER_H

#include "floq_common.h"

typedef struct floq_worker_s floq_worker_t;

/**
 * Create a worker from @p conf (copied; the caller keeps @p conf): Kafka
 * clients, codec, backends and the executor. Nothing is consumed until
 * floq_worker_run().
 * @return NULL on error with the reason in errstr.
 */
floq_worker_t *floq_worker_new(const floq_conf_t *conf, char *errstr,
                               size_t errstr_size);

/**
 * Run the worker until floq_worker_stop() (drain, G6) or a fatal error.
 * Creates missing topics (topic.create), subscribes, then loops: consume
 * commands, drain executor events, write heartbeats and take over stale
 * runs, commit a transaction per batch.
 * @return FLOQ_OK after a clean drain; FLOQ_ERR_FENCED when another
 *         instance with the same worker id took over; another error when
 *         Kafka failed fatally (the reason is logged).
 * Thread-safety: call from one thread.
 */
floq_err_t floq_worker_run(floq_worker_t *w);

/**
 * Ask a running worker to drain and return. Async-signal-safe: only sets a
 * flag that the loop reads.
 */
void floq_worker_stop(floq_worker_t *w);

/** Free everything; the worker must not be running. NULL is a no-op. */
void floq_worker_destroy(floq_worker_t *w);

/** This worker's id (worker.id, or hostname-pid / group.instance.id). */
const char *floq_worker_id(const floq_worker_t *w);

#endif /* FLOQ_WORKER_H */
