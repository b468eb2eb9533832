/*
 * notify.c - tells a service manager (systemd's Type=notify, through
 * sd_notify(3) of libsystemd) what the operator endpoint tells a prober:
 * READY=1 once the worker is ready by /readyz's rule (wmetrics_not_ready:
 * in the group, every owned partition restored, producer not fenced),
 * STATUS= lines saying what it waits for or what it holds, WATCHDOG=1
 * while the loop is alive by /healthz's rule (wmetrics_alive), and
 * STOPPING=1 when the loop ends (a drain or a fatal error). The keep-alive
 * is sent from the loop's own pass, so a loop stuck outside its bounded
 * work stops it and the manager's WatchdogSec restarts the worker. Restores
 * run from the loop, a step a pass, so they keep it fed; but READY=1 waits
 * for every assigned partition, which with many partitions (each up to
 * worker.restore.timeout.ms) outlasts any fixed TimeoutStartSec: while not
 * yet ready and restoring, each keep-alive period also sends
 * EXTEND_TIMEOUT_USEC= (four periods) so the start goes on while it
 * progresses (ops/systemd/floq-worker@.service).
 * Without NOTIFY_SOCKET every call is a cheap no-op. NOTIFY_SOCKET is the
 * process's, so the state here is too: one worker per process notifies.
 */
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "notify.h"
#include "worker_int.h"

static struct {
        int checked;        /**< NOTIFY_SOCKET looked at */
        int on;             /**< NOTIFY_SOCKET is set */
        int64_t wd_every_ms; /**< keep-alive period, 0: no watchdog */
        int64_t wd_next_mono;
        int64_t extend_next_mono; /**< next EXTEND_TIMEOUT_USEC=, mono ms */
        int ready_sent, stopping_sent;
        char status[256];   /**< the last STATUS= sent */
} wn;

static int wnotify_on(void) {
        uint64_t usec = 0;

        if (!wn.checked) {
                const char *s = getenv("NOTIFY_SOCKET");

                wn.checked = 1;
                wn.on = s && *s;
                /* Half the manager's period, as sd_watchdog_enabled(3)
                 * advises; > 0 only when WATCHDOG_PID (if set) is us. */
                if (wn.on && sd_watchdog_enabled(0, &usec) > 0 && usec) {
                        wn.wd_every_ms = (int64_t)(usec / 2000);
                        if (wn.wd_every_ms < 1)
                                wn.wd_every_ms = 1;
                }
        }
        return wn.on;
}

static void wnotify_send(const char *state) {
        int rc = sd_notify(0, state);

        if (rc < 0)
                floq_debug("notify", "sd_notify: %s", strerror(-rc));
}

/* READY=1 the first time @p m says ready, STATUS= when what it says
 * changes. */
static void wnotify_status(const floq_worker_t *w, wmetrics_t *m) {
        char status[sizeof(wn.status)], msg[sizeof(wn.status) + 32];
        const char *why = wmetrics_not_ready(m);

        if (why)
                snprintf(status, sizeof(status), "not ready: %s", why);
        else
                snprintf(status, sizeof(status),
                         "ready: worker %.120s, %d partition(s), %d of %d "
                         "slot(s) busy",
                         w->id, atomic_load(&m->owned),
                         atomic_load(&m->slots_used), m->concurrency);
        if (!why && !wn.ready_sent) {
                snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
                wn.ready_sent = 1;
        } else if (strcmp(status, wn.status)) {
                snprintf(msg, sizeof(msg), "STATUS=%s", status);
        } else {
                return;
        }
        wnotify_send(msg);
        snprintf(wn.status, sizeof(wn.status), "%s", status);
}

void wnotify_pass(floq_worker_t *w) {
        wmetrics_t *m = w ? w->metrics : NULL;
        int64_t now;

        if (!m || !wnotify_on())
                return;
        now = floq_mono_ms();
        /* A drain still passes the loop: the keep-alive goes on, the
         * status stays the stopping one. */
        if (!wn.stopping_sent)
                wnotify_status(w, m);
        if (wn.wd_every_ms > 0 && now >= wn.wd_next_mono &&
            wmetrics_alive(m, now)) {
                wnotify_send("WATCHDOG=1");
                wn.wd_next_mono = now + wn.wd_every_ms;
        }
        /* a start that restores many partitions: more time while it
         * progresses (systemd >= 236), every keep-alive period */
        if (wn.wd_every_ms > 0 && !wn.ready_sent && !wn.stopping_sent &&
            atomic_load(&m->restoring) && now >= wn.extend_next_mono) {
                char msg[64];

                snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%lld",
                         (long long)wn.wd_every_ms * 4000);
                wnotify_send(msg);
                wn.extend_next_mono = now + wn.wd_every_ms;
        }
}

void wnotify_stopping(floq_err_t why) {
        char msg[160];

        if (!wnotify_on() || wn.stopping_sent)
                return;
        if (why == FLOQ_OK)
                snprintf(msg, sizeof(msg),
                         "STOPPING=1\nSTATUS=draining: intake stopped, "
                         "runs finishing within the grace");
        else
                snprintf(msg, sizeof(msg),
                         "STOPPING=1\nSTATUS=stopping on a fatal error: %s",
                         floq_err2str(why));
        wnotify_send(msg);
        wn.stopping_sent = 1;
}

void wnotify_reset(void) {
        memset(&wn, 0, sizeof(wn));
}
