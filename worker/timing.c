/*
 * timing.c - the worker's timing rules, which "never two live attempts of
 * one run" (G2) rests on. Three parts:
 *
 * - The margin rule, checked at start: an owner that stops committing
 *   stops its attempts (self-fence) after 2/3 of worker.heartbeat.timeout.ms
 *   (T) and they are dead process.kill.grace.ms (G) later; the last
 *   heartbeat a new owner saw may be up to worker.heartbeat.interval.ms (I)
 *   older than that last commit; timers of two hosts run apart by up to
 *   worker.clock.skew.ms (S). The new owner waits T on its own clock, so
 *   I + G + S < T/3 keeps the old attempt dead before the new one starts.
 *
 * - The takeover clock: a run that is not live here is judged by how long
 *   *this* worker has seen its RunState unchanged (monotonic time, from the
 *   restore that read it or the write that changed it), never by the
 *   heartbeat_at timestamps another host's clock wrote.
 *
 * - What the loop is doing, for the watchdog: time the loop spends in its
 *   own blocking work (a restore step, the rebalance callback; network work of commands
 *   is parked off the loop, commands.c)
 *   does not count as "heartbeats cannot reach Kafka", up to the consumer's
 *   session.timeout.ms: while the loop is busy librdkafka's own thread keeps
 *   the group membership, and the partitions cannot move to another worker
 *   sooner than a session timeout after that fails. Time inside Kafka calls
 *   (begin, send offsets, commit, abort) counts.
 */
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

/* ------------------------------------------------------------ the rule */

floq_err_t wtiming_check(int64_t interval_ms, int64_t kill_grace_ms,
                         int64_t skew_ms, int64_t timeout_ms, char *errstr,
                         size_t errstr_size) {
        int64_t sum = interval_ms + kill_grace_ms + skew_ms;

        if (sum * 3 < timeout_ms)
                return FLOQ_OK;
        return floq_seterr(
                errstr, errstr_size, FLOQ_ERR_CONFIG,
                "timing rule broken: process.kill.grace.ms (%lld) + "
                "worker.heartbeat.interval.ms (%lld) + worker.clock.skew.ms "
                "(%lld) = %lld ms must be below a third of "
                "worker.heartbeat.timeout.ms (%lld / 3 = %lld ms), or two "
                "attempts of one run could be live at once; raise the "
                "timeout to more than %lld ms or lower the others",
                (long long)kill_grace_ms, (long long)interval_ms,
                (long long)skew_ms, (long long)sum, (long long)timeout_ms,
                (long long)(timeout_ms / 3), (long long)(sum * 3));
}

floq_err_t worker_timing_check(const floq_conf_t *conf, char *errstr,
                               size_t errstr_size) {
        return wtiming_check(floq_conf_int(conf, "worker.heartbeat.interval.ms"),
                             floq_conf_int(conf, "process.kill.grace.ms"),
                             floq_conf_int(conf, "worker.clock.skew.ms"),
                             floq_conf_int(conf, "worker.heartbeat.timeout.ms"),
                             errstr, errstr_size);
}

/* ------------------------------------------------------------ takeover */

/* What changes whenever anyone writes the run: its heartbeat, status,
 * attempt, worker or due time. */
static char *run_signature(const json_t *rs) {
        char *sig = NULL;

        if (asprintf(&sig, "%lld/%lld/%s/%s/%lld",
                     (long long)wji(rs, "heartbeat_at", 0),
                     (long long)wji(rs, "attempt", 1),
                     wjs(rs, "status") ? wjs(rs, "status") : "",
                     wjs(rs, "worker") ? wjs(rs, "worker") : "",
                     (long long)wji(rs, "next_attempt_at", 0)) < 0)
                return NULL;
        return sig;
}

int64_t wtakeover_age(wpart_t *part, const char *run_id, const json_t *rs,
                      int64_t now_mono, int *mine) {
        json_t *e = json_object_get(part->seen, run_id);
        char *sig = run_signature(rs);
        int64_t age = 0;

        *mine = 0;
        if (!sig)
                return 0; /* out of memory: not stale */
        if (e && !strcmp(json_string_value(json_array_get(e, 0)), sig)) {
                age = now_mono - json_integer_value(json_array_get(e, 1));
                *mine = json_is_true(json_array_get(e, 2));
        } else {
                json_object_set_new(part->seen, run_id,
                                    json_pack("[sIb]", sig,
                                              (json_int_t)now_mono, 0));
        }
        free(sig);
        return age < 0 ? 0 : age;
}

void wtakeover_mark_mine(wpart_t *part, const char *run_id,
                         const json_t *rs) {
        char *sig = run_signature(rs);

        if (!sig)
                return;
        json_object_set_new(part->seen, run_id,
                            json_pack("[sIb]", sig,
                                      (json_int_t)floq_mono_ms(), 1));
        free(sig);
}

void wtakeover_prune(wpart_t *part, json_t *keep) {
        const char *k;
        json_t *v, *tmp;

        json_object_foreach_safe(part->seen, tmp, k, v) {
                if (!json_object_get(keep, k))
                        json_object_del(part->seen, k);
        }
}

/* ------------------------------------------------------------ the loop */

void worker_busy_begin(floq_worker_t *w, const char *what) {
        if (w->busy_depth++ > 0)
                return;
        w->busy_what = what;
        atomic_store(&w->busy_since_mono, floq_mono_ms());
}

void worker_busy_end(floq_worker_t *w) {
        int64_t now, start, lc, d, room;

        if (w->busy_depth <= 0 || --w->busy_depth > 0)
                return;
        now = floq_mono_ms();
        start = atomic_load(&w->busy_since_mono);
        lc = atomic_load(&w->last_commit_mono);
        /* A commit since the last credit starts a new allowance. */
        if (lc != atomic_load(&w->busy_credit_lc))
                atomic_store(&w->busy_credit, 0);
        d = now - (start > lc ? start : lc);
        room = w->session_timeout_ms - atomic_load(&w->busy_credit);
        if (d > room)
                d = room;
        if (d > 0) {
                atomic_fetch_add(&w->busy_credit, d);
                lc += d;
                /* Only the loop thread writes last_commit_mono; the
                 * watchdog sees at worst one tick of double credit. */
                atomic_store(&w->busy_credit_lc, lc);
                atomic_store(&w->last_commit_mono, lc);
        }
        atomic_store(&w->busy_credit_lc, lc);
        atomic_store(&w->busy_since_mono, 0);
        if (now - start > w->hb_timeout_ms / 3)
                floq_info("worker", "the loop was busy for %lld ms (%s)",
                          (long long)(now - start),
                          w->busy_what ? w->busy_what : "?");
}

int64_t worker_loop_quiet_ms(floq_worker_t *w, int64_t now) {
        int64_t lc = atomic_load(&w->last_commit_mono);
        int64_t start = atomic_load(&w->busy_since_mono);
        int64_t quiet = now - lc;

        if (start > 0) {
                /* Inside its own work: that part is not Kafka's silence,
                 * up to what is left of the session-timeout allowance. */
                int64_t d = now - (start > lc ? start : lc);
                int64_t room = w->session_timeout_ms -
                               (lc == atomic_load(&w->busy_credit_lc)
                                        ? atomic_load(&w->busy_credit)
                                        : 0);

                if (d > room)
                        d = room;
                if (d > 0)
                        quiet -= d;
        }
        return quiet;
}

void worker_runs_self_fence(floq_worker_t *w) {
        int64_t quiet;
        int active = floq_executor_active(w->ex);

        if (atomic_load(&w->self_fenced) || active == 0)
                return;
        quiet = worker_loop_quiet_ms(w, floq_mono_ms());
        if (quiet <= w->hb_timeout_ms * 2 / 3)
                return;
        atomic_store(&w->self_fenced, 1);
        floq_err("run", "no transaction committed for %lld ms: stopping %d "
                        "live attempt(s) before another worker may take "
                        "them over",
                 (long long)quiet, active);
        floq_executor_stop_all(w->ex, FLOQ_STOP_DRAIN);
}
