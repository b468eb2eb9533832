/*
 * notify.h - the worker's service-manager notifications (sd_notify(3)):
 * readiness, status, watchdog keep-alive and stopping, from the rules
 * /readyz and /healthz answer by (metrics.c). Loop thread only.
 */
#ifndef FLOQ_WORKER_NOTIFY_H
#define FLOQ_WORKER_NOTIFY_H

#include "floq_common.h"
#include "floq_worker.h"

/**
 * One pass of the loop: READY=1 the first time @p m says ready (in the
 * group, every owned partition restored, producer not fenced), STATUS= when
 * what it says changes, WATCHDOG=1 every half WATCHDOG_USEC while the loop
 * is alive by wmetrics_alive() (a drain included). A no-op without NOTIFY_SOCKET or without
 * w->metrics. Borrows @p w.
 */
void wnotify_pass(floq_worker_t *w);

/** The loop ended with @p why (FLOQ_OK: a drain): STOPPING=1 and a STATUS
 *  saying why. No-op without NOTIFY_SOCKET. */
void wnotify_stopping(floq_err_t why);

/** Forget what was read from the environment and what was sent, as at
 *  the start of the process (tests running several cases in one
 *  process). */
void wnotify_reset(void);

#endif /* FLOQ_WORKER_NOTIFY_H */
