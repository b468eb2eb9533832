/*
 * runs.c - the life of a run on its owning worker. ACCEPTED is written by
 * the run command's transaction and the attempt is submitted to the
 * executor only after that commit (a crash can never run something Kafka
 * does not know about). Executor events become RUNNING and terminal
 * RunStates plus replies; live runs refresh heartbeat_at; runs whose
 * owner vanished (heartbeat older than worker.heartbeat.timeout.ms and not
 * live here) are retried per the deployment's policy or end LOST (G2),
 * except remote runs (their RunState's backend outlives its worker),
 * which the new owner re-attaches to (executor.c) and tracks to their end;
 * runs of partitions this worker gives up are stopped with DRAIN and,
 * once ended, recorded RETRYING without consuming an attempt (a drain) or
 * announced to the next owner by a handover notice (a revocation, a lost
 * assignment), never waited for on the loop, so the next owner restarts
 * them and two attempts never overlap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

/* How often stale runs and due retries are looked for. */
#define WSCAN_INTERVAL_MS 500

static void heartbeat_forget(floq_worker_t *w, int32_t p, const char *id);

static const char *lineage_event_of(const char *status) {
        if (!strcmp(status, "SUCCEEDED"))
                return "COMPLETE";
        if (!strcmp(status, "CANCELLED") || !strcmp(status, "LOST"))
                return "ABORT";
        return "FAIL";
}

int worker_runs_load(floq_worker_t *w) {
        return floq_executor_active(w->ex) + (int)json_object_size(w->inflight);
}

static void set_str(json_t *o, const char *key, const char *v) {
        json_object_set_new(o, key, v ? json_string(v) : json_null());
}

/* A backend's reference of an attempt comes from outside (a webhook's
 * answer): kept only when it is short and printable, so that it can never
 * make the run's own records too large to write (a run that cannot write
 * its state never gets its final reply) nor flood the log. */
#define WREF_MAX 512

static const char *ref_ok(const char *ref) {
        size_t i;

        for (i = 0; ref && ref[i]; i++)
                if (i >= WREF_MAX || (unsigned char)ref[i] < 0x20 ||
                    ref[i] == 0x7f)
                        return NULL;
        return ref;
}

/* The ACCEPTED RunState of a new run of @p cmd (@p body its run body).
 * New reference. */
static json_t *run_state_new(floq_worker_t *w, const json_t *cmd,
                             const json_t *body, char run_id[37]) {
        static const char *const from_body[] = { "timeout_ms",
                                                 "scheduled_for",
                                                 "schedule_id",
                                                 "parent_run_id" };
        int64_t now = floq_now_ms();
        json_t *rs = json_object(), *params;
        size_t i;

        /* A schedule names its run (derived from the due time); a run
         * command's decoded body never has run_id. */
        if (wjs(body, "run_id") && strlen(wjs(body, "run_id")) == 36)
                memcpy(run_id, wjs(body, "run_id"), 37);
        else
                floq_uuid_new(run_id);
        json_object_set_new(rs, "run_id", json_string(run_id));
        set_str(rs, "deployment", wjs(cmd, "deployment"));
        set_str(rs, "command_id", wjs(cmd, "command_id"));
        set_str(rs, "correlation_id", wjs(cmd, "correlation_id"));
        set_str(rs, "reply_to", wjs(cmd, "reply_to"));
        set_str(rs, "idempotency_key", wjs(cmd, "idempotency_key"));
        json_object_set_new(rs, "status", json_string("ACCEPTED"));
        json_object_set_new(rs, "attempt", json_integer(1));
        set_str(rs, "worker", w->id);
        json_object_set_new(rs, "heartbeat_at", json_integer(now));
        json_object_set_new(rs, "created_at", json_integer(now));
        params = json_object_get(body, "params");
        json_object_set_new(rs, "params", json_is_object(params)
                                                  ? json_deep_copy(params)
                                                  : json_object());
        for (i = 0; i < sizeof(from_body) / sizeof(from_body[0]); i++) {
                json_t *v = json_object_get(body, from_body[i]);

                if (v && !json_is_null(v))
                        json_object_set(rs, from_body[i], v);
        }
        return rs;
}

/* Room a RunState keeps for what its run adds later, beyond the output
 * tail (which is cut to fit): started/finished times, exit code, a reason
 * (cut to 1000 bytes when too large), a backend reference, the worker.
 * An eighth of the budget when that is less. */
#define WRUN_STATE_SLACK (8 * 1024)

floq_err_t worker_run_check_size(floq_worker_t *w, const json_t *cmd,
                                 const json_t *body, char *why,
                                 size_t why_size) {
        char run_id[37];
        json_t *rs = run_state_new(w, cmd, body, run_id);
        size_t size = wtxn_msg_size(w, FLOQ_MSG_RUN_STATE, rs);
        size_t budget = wtxn_budget(w);
        /* a small budget (a small message.max.bytes) keeps less */
        size_t slack = budget / 8 < WRUN_STATE_SLACK ? budget / 8
                                                     : WRUN_STATE_SLACK;
        floq_err_t err = FLOQ_OK;

        if (!size || size + sizeof(run_id) + slack > budget)
                err = floq_seterr(
                        why, why_size, FLOQ_ERR_TOO_LARGE,
                        "run params too large: its state record would be "
                        "%s%zu bytes, over the %zu bytes a run may use (size "
                        "budget %zu bytes minus %zu for the run's progress)",
                        size ? "" : "more than ",
                        size ? size : w->max_message + 4096,
                        budget - slack - sizeof(run_id), budget, slack);
        json_decref(rs);
        return err;
}

json_t *worker_run_accept(floq_worker_t *w, int32_t p, const json_t *cmd,
                          const json_t *body) {
        char run_id[37];
        json_t *rs = run_state_new(w, cmd, body, run_id);
        const json_t *dep = wpart_deployment(&w->parts[p],
                                            wjs(cmd, "deployment"));

        /* The backend is the run's own from here on: a redeploy to
         * another one does not change what a takeover finds running. */
        set_str(rs, "backend", dep ? wjs(dep, "backend") : NULL);
        if (wtxn_put_run(w, p, json_incref(rs))) {
                json_decref(rs);
                return NULL;
        }
        wtxn_after(w, WAFTER_SUBMIT, p, run_id);
        return rs;
}

/* A final reply for the run's command, from its (new) RunState. */
static void run_reply(floq_worker_t *w, const json_t *rs, const char *status,
                      int final) {
        json_t *r = worker_reply_new(w, wjs(rs, "command_id"),
                                     wjs(rs, "correlation_id"),
                                     wjs(rs, "deployment"), status, final);
        const char *id = wjs(rs, "run_id");
        const char *ref = wjs(rs, "backend_ref");
        const char *burl = wjs(rs, "backend_url");
        char *url = wurl_expand(w->url_template, id, wjs(rs, "deployment"));
        json_t *v;

        json_object_set_new(r, "run_id", json_string(id));
        /* The run's page in its backend's own UI (the Airflow DAG run, the
         * Prefect flow run) names it better than the template; a reference
         * that is a URL (an older worker's airflow runs) too. */
        if (burl)
                json_object_set_new(r, "url", json_string(burl));
        else if (ref && (!strncmp(ref, "http://", 7) ||
                         !strncmp(ref, "https://", 8)))
                json_object_set_new(r, "url", json_string(ref));
        else if (url)
                json_object_set_new(r, "url", json_string(url));
        free(url);
        json_object_set_new(r, "attempt", json_integer(wji(rs, "attempt", 1)));
        if (final) {
                if ((v = json_object_get(rs, "exit_code")) &&
                    json_is_integer(v))
                        json_object_set(r, "exit_code", v);
                if ((v = json_object_get(rs, "output_tail")) &&
                    json_is_string(v))
                        json_object_set(r, "output_tail", v);
                if ((v = json_object_get(rs, "reason")) && json_is_string(v))
                        json_object_set(r, "reason", v);
        }
        worker_reply(w, wjs(rs, "reply_to"), r);
}

static void set_result(json_t *n, const floq_run_result_t *res) {
        if (!res)
                return;
        if (res->exit_code >= 0)
                json_object_set_new(n, "exit_code",
                                    json_integer(res->exit_code));
        if (res->output_tail)
                json_object_set_new(n, "output_tail",
                                    json_string(res->output_tail));
        if (ref_ok(res->backend_ref))
                json_object_set_new(n, "backend_ref",
                                    json_string(res->backend_ref));
}

void worker_run_terminal(floq_worker_t *w, int32_t p, json_t *rs,
                         const char *status, const char *reason,
                         const floq_run_result_t *res) {
        json_t *n = json_deep_copy(rs);
        int64_t now = floq_now_ms();

        json_object_set_new(n, "status", json_string(status));
        json_object_set_new(n, "finished_at", json_integer(now));
        json_object_set_new(n, "heartbeat_at", json_integer(now));
        json_object_set_new(n, "next_attempt_at", json_null());
        set_str(n, "reason", reason);
        set_result(n, res);
        floq_info_ids("run", wjs(n, "run_id"), wjs(n, "command_id"),
                      "run %s of '%s' ended %s (attempt %lld)%s%s",
                      wjs(n, "run_id"), wjs(n, "deployment"), status,
                      (long long)wji(n, "attempt", 1), reason ? ": " : "",
                      reason ? reason : "");
        json_incref(n);
        if (!wtxn_put_run(w, p, n)) {
                heartbeat_forget(w, p, wjs(n, "run_id"));
                run_reply(w, n, status, 1);
                worker_lineage_emit(w, p, n, lineage_event_of(status));
                wmetrics_run_end(w, p, n);
                /* Kept for repeats and status until retention: the
                 * outcome, not the (possibly large) params. */
                json_object_del(n, "params");
        }
        json_decref(n);
}

/* RETRYING with attempt @p attempt due at @p due. @p handover: the
 * attempt was seen to end and this worker will not start another (drain,
 * revocation, self-fence): the record names no worker, so the next owner
 * need not wait for one to die (scan()). */
static void run_retrying(floq_worker_t *w, int32_t p, json_t *rs,
                         int attempt, int64_t due, const char *reason,
                         const floq_run_result_t *res, int handover) {
        json_t *n = json_deep_copy(rs);
        char id[37];

        snprintf(id, sizeof(id), "%s", wjs(rs, "run_id") ? wjs(rs, "run_id")
                                                          : "");
        json_object_set_new(n, "status", json_string("RETRYING"));
        if (handover)
                json_object_set_new(n, "worker", json_null());
        json_object_set_new(n, "attempt", json_integer(attempt));
        json_object_set_new(n, "next_attempt_at", json_integer(due));
        json_object_set_new(n, "heartbeat_at", json_integer(floq_now_ms()));
        set_str(n, "reason", reason);
        set_result(n, res);
        floq_info_ids("run", wjs(n, "run_id"), wjs(n, "command_id"),
                      "run %s of '%s': attempt %d due in %lld ms: %s",
                      wjs(n, "run_id"), wjs(n, "deployment"), attempt,
                      (long long)(due - floq_now_ms()), reason ? reason : "");
        json_incref(n);
        if (!wtxn_put_run(w, p, n))
                wtakeover_mark_mine(&w->parts[p], id, n);
        json_decref(n);
}

static const json_t *run_retry_policy(floq_worker_t *w, int32_t p,
                                      const json_t *rs) {
        json_t *dep = wpart_deployment(&w->parts[p],
                                      wjs(rs, "deployment"));

        return dep ? json_object_get(dep, "retry") : NULL;
}

/* The name of the backend running @p rs's attempt: the run's own
 * (RunState.backend), or for a record of an older worker without one its
 * deployment's (NULL when that is gone too). */
static const char *run_backend_name(floq_worker_t *w, int32_t p,
                                    const json_t *rs) {
        const json_t *dep;

        if (wjs(rs, "backend"))
                return wjs(rs, "backend");
        dep = wpart_deployment(&w->parts[p], wjs(rs, "deployment"));
        return dep ? wjs(dep, "backend") : NULL;
}

/* 1 when run @p rs's attempts go on without their worker: the backend
 * that started it says so, whatever the deployment names today (a
 * redeploy to another backend does not stop a remote run). */
static int run_outlives_worker(floq_worker_t *w, int32_t p, const json_t *rs) {
        const char *name = run_backend_name(w, p, rs);
        const floq_backend_ops_t *ops = name ? floq_backend_find(name) : NULL;

        return ops && ops->outlives_worker;
}

/* The backend instance that can re-attach to @p rs's remote run, or NULL
 * (no attach, not configured here, or no stored reference). */
static floq_backend_t *run_attach_backend(floq_worker_t *w, int32_t p,
                                          const json_t *rs) {
        floq_backend_t *be = worker_backend(w, run_backend_name(w, p, rs));

        return be && be->ops->outlives_worker && be->ops->attach &&
                               wjs(rs, "backend_ref") &&
                               ref_ok(wjs(rs, "backend_ref"))
                       ? be
                       : NULL;
}

/* A failed attempt: retry when the policy allows, else end @p status. */
static void run_failed(floq_worker_t *w, int32_t p, json_t *rs,
                       const char *status, const char *reason,
                       const floq_run_result_t *res) {
        const json_t *retry = run_retry_policy(w, p, rs);
        int attempt = (int)wji(rs, "attempt", 1);
        char why[600];

        if (attempt < wretry_max_attempts(retry)) {
                int64_t delay = wretry_delay_ms(retry, attempt,
                                                worker_rand_unit(w));

                snprintf(why, sizeof(why), "attempt %d %s%s%s", attempt,
                         status, reason ? ": " : "", reason ? reason : "");
                run_retrying(w, p, rs, attempt + 1, floq_now_ms() + delay,
                             why, res, 0);
                return;
        }
        worker_run_terminal(w, p, rs, status, reason, res);
}

void worker_run_event(floq_worker_t *w, floq_exec_event_t *ev) {
        int32_t p = (int32_t)((intptr_t)ev->opaque - 1);
        json_t *rs, *n;
        const char *status;

        if (p >= 0 && p < w->part_cnt && w->parts[p].restoring &&
            w->parts[p].rewound) {
                /* Restoring again after an abort: applied once the
                 * partition's state is back (worker_runs_rewound_done()). */
                wevlist_push(&w->replay, ev);
                return;
        }
        if (p < 0 || p >= w->part_cnt || !w->parts[p].owned ||
            !(rs = wpart_run(&w->parts[p], ev->run_id))) {
                floq_debug_ids("run", ev->run_id, NULL,
                               "event for run %s of a partition not "
                               "owned any more, dropped",
                               ev->run_id);
                floq_exec_event_release(ev);
                return;
        }
        status = wjs(rs, "status");
        if (wji(rs, "attempt", 1) != ev->attempt ||
            wrun_status_terminal(status)) {
                floq_debug_ids("run", ev->run_id, wjs(rs, "command_id"),
                               "stale event for run %s attempt %d (%s)",
                               ev->run_id, ev->attempt, status ? status : "?");
                floq_exec_event_release(ev);
                return;
        }
        if (wtxn_begin(w)) {
                /* Kept with the step's events: the commit that follows
                 * rewinds (begin_failed), and the rewind applies them
                 * again once the partition is restored; released, the
                 * attempt's end would be lost (the executor does not send
                 * it twice) and the run retried by a takeover. */
                wtxn_keep_event(w, ev);
                return;
        }
        if (ev->type == FLOQ_EXEC_STARTED && status &&
            !strcmp(status, "RUNNING")) {
                /* Re-attached (a takeover, scan()): the run started long
                 * ago and said so; only its new worker is news. */
                n = json_deep_copy(rs);
                json_object_set_new(n, "heartbeat_at",
                                    json_integer(floq_now_ms()));
                set_str(n, "worker", w->id);
                if (ev->backend_url && ref_ok(ev->backend_url))
                        set_str(n, "backend_url", ev->backend_url);
                floq_notice("run", "run %s of '%s': re-attached to remote "
                                   "run %s (attempt %d)",
                            ev->run_id, wjs(n, "deployment"),
                            wjs(n, "backend_ref") ? wjs(n, "backend_ref")
                                                  : "-",
                            ev->attempt);
                wtxn_put_run(w, p, n);
        } else if (ev->type == FLOQ_EXEC_STARTED) {
                int64_t now = floq_now_ms();
                /* START once per run; a later attempt is RUNNING (G7) */
                const char *ol = json_is_integer(json_object_get(
                                         rs, "started_at"))
                                         ? "RUNNING"
                                         : "START";

                n = json_deep_copy(rs);
                json_object_set_new(n, "status", json_string("RUNNING"));
                json_object_set_new(n, "started_at", json_integer(now));
                json_object_set_new(n, "heartbeat_at", json_integer(now));
                json_object_set_new(n, "next_attempt_at", json_null());
                set_str(n, "worker", w->id);
                if (ev->backend)
                        set_str(n, "backend", ev->backend);
                set_str(n, "backend_url", ref_ok(ev->backend_url)
                                                  ? ev->backend_url
                                                  : NULL);
                if (ref_ok(ev->backend_ref))
                        set_str(n, "backend_ref", ev->backend_ref);
                else if (ev->backend_ref)
                        floq_warn_ids("run", ev->run_id, wjs(n, "command_id"),
                                      "run %s: backend reference of %zu "
                                      "bytes not kept (longer than %d "
                                      "or not printable)",
                                      ev->run_id, strlen(ev->backend_ref),
                                      WREF_MAX);
                floq_info_ids("run", ev->run_id, wjs(n, "command_id"),
                              "run %s of '%s' started (attempt %d, %s)",
                              ev->run_id, wjs(n, "deployment"), ev->attempt,
                              ref_ok(ev->backend_ref) ? ev->backend_ref : "-");
                json_incref(n);
                if (!wtxn_put_run(w, p, n)) {
                        run_reply(w, n, "RUNNING", 0);
                        wmetrics_run_start(w, p, n);
                        worker_lineage_emit(w, p, n, ol);
                }
                json_decref(n);
        } else {
                const floq_run_result_t *res = &ev->result;

                switch (res->outcome) {
                case FLOQ_OUTCOME_SUCCEEDED:
                        worker_run_terminal(w, p, rs, "SUCCEEDED", NULL, res);
                        break;
                case FLOQ_OUTCOME_FAILED:
                        run_failed(w, p, rs, "FAILED", res->reason, res);
                        break;
                case FLOQ_OUTCOME_TIMED_OUT:
                        run_failed(w, p, rs, "TIMED_OUT",
                                   res->reason ? res->reason
                                               : "timed out",
                                   res);
                        break;
                case FLOQ_OUTCOME_CANCELLED:
                        worker_run_terminal(w, p, rs, "CANCELLED",
                                            res->reason ? res->reason
                                                        : "cancelled",
                                            res);
                        break;
                case FLOQ_OUTCOME_LOST:
                        /* The backend cannot tell what became of the
                         * remote run: running it again could run it
                         * twice, so no retry. */
                        worker_run_terminal(w, p, rs, "LOST",
                                            res->reason ? res->reason
                                                        : "lost",
                                            res);
                        break;
                case FLOQ_OUTCOME_ABANDONED:
                default: {
                        char why[300];

                        /* Handed over: the same attempt starts again on
                         * the next owner (no attempt consumed). */
                        snprintf(why, sizeof(why),
                                 "attempt %d handed over by worker %s",
                                 ev->attempt, w->id);
                        run_retrying(w, p, rs, ev->attempt, floq_now_ms(),
                                     why, res, 1);
                        break;
                }
                }
        }
        wtxn_keep_event(w, ev);
}

/* ------------------------------------------------------------ submit */

static void submit_failed(floq_worker_t *w, int32_t p, json_t *rs,
                          const char *why) {
        floq_warn_ids("run", wjs(rs, "run_id"), wjs(rs, "command_id"),
                      "run %s: cannot start: %s", wjs(rs, "run_id"), why);
        if (wtxn_begin(w))
                return;
        run_failed(w, p, rs, "FAILED", why, NULL);
}

/* A re-attach that cannot even be submitted: the remote run may still go
 * on, so LOST (never a retry beside it). */
static void attach_lost(floq_worker_t *w, int32_t p, json_t *rs,
                        const char *why) {
        char reason[700];

        snprintf(reason, sizeof(reason),
                 "cannot re-attach to remote run %s: %s: it may still run",
                 wjs(rs, "backend_ref") ? wjs(rs, "backend_ref") : "-", why);
        if (!wtxn_begin(w))
                worker_run_terminal(w, p, rs, "LOST", reason, NULL);
}

/* Hand run @p rs of partition @p p to the executor on @p be: @p req (its
 * other fields set by the caller) gets the run's id, deployment, attempt,
 * params and schedule, @p spec (taken) and @p timeout (ms; <= 0: none). */
static floq_err_t submit_req(floq_worker_t *w, int32_t p, floq_backend_t *be,
                             floq_run_req_t *req, json_t *rs, json_t *spec,
                             int64_t timeout, char *errstr,
                             size_t errstr_size) {
        floq_err_t err;

        req->run_id = wjs(rs, "run_id");
        req->deployment = wjs(rs, "deployment");
        req->attempt = (int)wji(rs, "attempt", 1);
        req->spec = spec;
        req->params = json_object_get(rs, "params");
        req->timeout_ms = timeout > 0 ? timeout : 0;
        req->scheduled_for = wji(rs, "scheduled_for", 0);
        err = floq_executor_submit(w->ex, be, req, (void *)(intptr_t)(p + 1),
                                   errstr, errstr_size);
        json_decref(spec);
        return err;
}

/* Submit the re-attach of RUNNING run @p rs that scan() took over: the
 * executor calls the backend's attach() with the stored backend_ref on
 * the attempt's thread (it may block on the network), and tracks the
 * remote run as if it had started it. The spec is the deployment's only
 * while it still names the run's backend (a redeploy to another backend
 * leaves the backend only its reference). The timeout counts from the
 * attempt's start. 1: handled; 0: no slot. */
static int submit_attach(floq_worker_t *w, int32_t p, json_t *rs) {
        const char *name = run_backend_name(w, p, rs);
        floq_backend_t *be = run_attach_backend(w, p, rs);
        const json_t *dep = wpart_deployment(&w->parts[p],
                                            wjs(rs, "deployment"));
        json_t *spec = NULL;
        floq_run_req_t req;
        json_error_t jerr;
        char errstr[512];
        floq_err_t err;
        int64_t timeout = wji(rs, "timeout_ms", -1);

        if (!be) {
                attach_lost(w, p, rs, "its backend cannot re-attach here");
                return 1;
        }
        if (dep && wjs(dep, "backend") && !strcmp(wjs(dep, "backend"), name))
                spec = json_loads(wjs(dep, "spec") ? wjs(dep, "spec") : "", 0,
                                  &jerr);
        if (!spec)
                spec = json_object();
        if (timeout < 0)
                timeout = dep ? wji(dep, "timeout_ms", 0) : 0;
        if (timeout > 0) {
                timeout -= floq_now_ms() -
                           wji(rs, "started_at", floq_now_ms());
                if (timeout < 1)
                        timeout = 1;
        }
        memset(&req, 0, sizeof(req));
        req.attach_ref = wjs(rs, "backend_ref");
        err = submit_req(w, p, be, &req, rs, spec, timeout, errstr,
                         sizeof(errstr));
        if (err == FLOQ_ERR_STATE && floq_executor_free_slots(w->ex) <= 0)
                return 0;
        if (err) {
                attach_lost(w, p, rs, errstr);
                return 1;
        }
        floq_debug("run", "run %s: re-attach submitted (attempt %d, %s)",
                   req.run_id, req.attempt, req.attach_ref);
        return 1;
}

/* 1: handled (started, dropped or failed); 0: no slot, try later. */
static int submit_one(floq_worker_t *w, const wafter_t *a) {
        int32_t p = a->partition;
        json_t *rs, *dep, *spec;
        const char *status;
        floq_backend_t *be;
        floq_run_req_t req;
        json_error_t jerr;
        char errstr[512];
        floq_err_t err;
        int64_t timeout;

        if (!w->parts[p].owned ||
            !(rs = wpart_run(&w->parts[p], a->run_id)))
                return 1;
        status = wjs(rs, "status");
        if (floq_executor_has(w->ex, a->run_id))
                return 1;
        /* scan() took it over to re-attach to its remote run */
        if (status && !strcmp(status, "RUNNING") && wjs(rs, "worker") &&
            !strcmp(wjs(rs, "worker"), w->id) && run_attach_backend(w, p, rs))
                return submit_attach(w, p, rs);
        if (!status || (strcmp(status, "ACCEPTED") &&
                        strcmp(status, "RETRYING")))
                return 1;
        dep = wpart_deployment(&w->parts[p], wjs(rs, "deployment"));
        if (!dep) {
                submit_failed(w, p, rs, "its deployment no longer exists");
                return 1;
        }
        if (!(be = worker_backend(w, wjs(dep, "backend")))) {
                snprintf(errstr, sizeof(errstr),
                         "backend '%s' is not available on this worker",
                         wjs(dep, "backend") ? wjs(dep, "backend") : "");
                submit_failed(w, p, rs, errstr);
                return 1;
        }
        if (!(spec = json_loads(wjs(dep, "spec") ? wjs(dep, "spec") : "",
                                0, &jerr))) {
                submit_failed(w, p, rs, "the deployment's spec is not JSON");
                return 1;
        }
        timeout = wji(rs, "timeout_ms", -1);
        if (timeout < 0)
                timeout = wji(dep, "timeout_ms", 0);
        memset(&req, 0, sizeof(req));
        err = submit_req(w, p, be, &req, rs, spec, timeout, errstr,
                         sizeof(errstr));
        if (err == FLOQ_ERR_STATE && floq_executor_free_slots(w->ex) <= 0)
                return 0;
        if (err) {
                submit_failed(w, p, rs, errstr);
                return 1;
        }
        floq_debug_ids("run", a->run_id, NULL,
                       "run %s submitted (attempt %d)", a->run_id,
                       req.attempt);
        return 1;
}

void worker_runs_pump(floq_worker_t *w) {
        size_t i, k;
        int full = 0;

        if (w->draining)
                return;
        /* In order; a run of a partition being restored (again, after an
         * abort) keeps its place until its state is back. */
        for (i = 0, k = 0; i < w->queue.cnt; i++) {
                wafter_t *a = &w->queue.items[i];

                if (full || w->parts[a->partition].restoring ||
                    floq_executor_free_slots(w->ex) <= 0 ||
                    !submit_one(w, a)) {
                        if (!w->parts[a->partition].restoring)
                                full = 1;
                        w->queue.items[k++] = *a;
                        continue;
                }
                json_object_del(w->inflight, a->run_id);
        }
        w->queue.cnt = k;
}

/* ------------------------------------------------------------ ticks */

static int run_is_ours(floq_worker_t *w, const char *run_id) {
        return floq_executor_has(w->ex, run_id) ||
               json_object_get(w->inflight, run_id) != NULL;
}

/* Which runs a pass over a partition acts on (see pick_runs). */
typedef int (*run_pick_t)(floq_worker_t *w, const char *run_id,
                          const json_t *rs, int64_t now);

/* The ids of partition @p p's non-terminal runs that @p want picks, at
 * most @p max, copied into @p ids (cleared first): the passes below change
 * the runs object while they walk the ids. Only the live index is walked,
 * never the retained finished runs. */
static void pick_runs(floq_worker_t *w, int32_t p, run_pick_t want,
                      int64_t now, size_t max, json_t *ids) {
        const char *dep, *k;
        json_t *set, *v, *rs;

        json_array_clear(ids);
        json_object_foreach(w->parts[p].live, dep, set) {
                json_object_foreach(set, k, v) {
                        if (json_array_size(ids) >= max)
                                return;
                        if ((rs = wpart_run(&w->parts[p], k)) &&
                            want(w, k, rs, now))
                                json_array_append_new(ids, json_string(k));
                }
        }
}

/* Live here: an attempt on this worker's executor (accepted or running).
 * A run still queued here (w->inflight) gets no heartbeat: nothing of it
 * runs, so nothing could overlap with another worker's attempt, and under
 * a backlog those heartbeats outnumbered the state changes. It stays ours
 * (no takeover here, run_is_ours()); a new owner after a rebalance or a
 * crash waits the heartbeat timeout on its own clock as for any run. */
static int pick_live(floq_worker_t *w, const char *run_id, const json_t *rs,
                     int64_t now) {
        const char *s = wjs(rs, "status");

        (void)now;
        return s && (!strcmp(s, "RUNNING") || !strcmp(s, "ACCEPTED")) &&
               floq_executor_has(w->ex, run_id);
}

/* Not finished and not ours: possibly orphaned, or a retry that is due. */
static int pick_unowned(floq_worker_t *w, const char *run_id,
                        const json_t *rs, int64_t now) {
        (void)now;
        return !wrun_status_terminal(wjs(rs, "status")) &&
               !run_is_ours(w, run_id);
}

/* The heartbeat record of @p rs at @p now: a RunState with only the run's
 * identity, status, attempt, worker and heartbeat_at (params, output and
 * the rest left at their defaults), heartbeat_only=true, keyed
 * "<run_id>:hb" so compaction keeps one per live run apart from the run's
 * full state. A restore (restore.c) takes heartbeat_at and worker from it
 * into the run when the attempt matches. NULL when out of memory. */
static json_t *heartbeat_record(const json_t *rs, const char *worker,
                                int64_t now) {
        json_t *hb = json_object();

        if (!hb)
                return NULL;
        set_str(hb, "run_id", wjs(rs, "run_id"));
        set_str(hb, "deployment", wjs(rs, "deployment") ? wjs(rs, "deployment")
                                                         : "");
        set_str(hb, "command_id", wjs(rs, "command_id") ? wjs(rs, "command_id")
                                                         : "");
        set_str(hb, "status", wjs(rs, "status"));
        json_object_set_new(hb, "attempt",
                            json_integer(wji(rs, "attempt", 1)));
        set_str(hb, "worker", worker);
        json_object_set_new(hb, "heartbeat_at", json_integer(now));
        json_object_set_new(hb, "created_at",
                            json_integer(wji(rs, "created_at", now)));
        json_object_set_new(hb, "heartbeat_only", json_true());
        return hb;
}

/* Heartbeats do not rewrite the run's state (its params may be large):
 * one small record per live run, and the run in memory updated. */
static void heartbeats(floq_worker_t *w) {
        int64_t now = floq_now_ms();
        json_t *ids = json_array(), *v;
        char key[64];
        int32_t p;
        size_t i;

        for (p = 0; p < w->part_cnt; p++) {
                if (!w->parts[p].owned)
                        continue;
                pick_runs(w, p, pick_live, now, SIZE_MAX, ids);
                json_array_foreach(ids, i, v) {
                        const char *id = json_string_value(v);
                        json_t *rs = wpart_run(&w->parts[p], id);
                        json_t *hb, *n;
                        floq_err_t err;

                        if (!rs || wtxn_begin(w) ||
                            !(hb = heartbeat_record(rs, w->id, now)))
                                continue;
                        snprintf(key, sizeof(key), "%s%s", id,
                                 WRUN_HB_SUFFIX);
                        err = wtxn_produce_msg(w, w->t_runs, p, key,
                                               FLOQ_MSG_RUN_STATE, hb);
                        json_decref(hb);
                        if (err)
                                continue;
                        n = json_deep_copy(rs);
                        json_object_set_new(n, "heartbeat_at",
                                            json_integer(now));
                        set_str(n, "worker", w->id);
                        wpart_put_run(&w->parts[p], id, n);
                }
        }
        json_decref(ids);
}

/* A run that ended or left: its heartbeat key goes too (a tombstone in
 * the open transaction), so compaction removes it. */
static void heartbeat_forget(floq_worker_t *w, int32_t p, const char *id) {
        char key[64];

        snprintf(key, sizeof(key), "%s%s", id, WRUN_HB_SUFFIX);
        wtxn_produce_raw(w, w->t_runs, p, key, strlen(key), NULL, 0, NULL);
}

/* Retention: finished runs older than worker.run.retention.ms are
 * tombstoned, at most WEXPIRE_BATCH a pass so one transaction stays small.
 * Commands issued before the same window are rejected (wcmd_check), so a
 * repeat never meets a forgotten run. */
#define WEXPIRE_BATCH 512

static void expire(floq_worker_t *w) {
        int64_t now = floq_now_ms();
        json_t *ids = json_array(), *v;
        size_t i, n = 0;
        int32_t p;

        for (p = 0; p < w->part_cnt && w->run_retention_ms > 0; p++) {
                if (!w->parts[p].owned)
                        continue;
                json_array_clear(ids);
                wpart_expired(&w->parts[p], now, w->run_retention_ms,
                              WEXPIRE_BATCH - n, ids);
                json_array_foreach(ids, i, v) {
                        if (wtxn_del_run(w, p, json_string_value(v)))
                                break;
                        heartbeat_forget(w, p, json_string_value(v));
                        n++;
                }
                if (n >= WEXPIRE_BATCH)
                        break;
        }
        if (n)
                floq_info("run", "retention: %zu finished run(s) older than "
                                 "%lld ms removed", n,
                          (long long)w->run_retention_ms);
        json_decref(ids);
}

/* The backoff a RETRYING record asks for, measured between two stamps of
 * its writer's clock (so another host's skew cancels out). */
static int64_t retry_delay_of(const json_t *rs) {
        int64_t d = wji(rs, "next_attempt_at", 0) - wji(rs, "heartbeat_at", 0);

        return d > 0 ? d : 0;
}

/* Runs nobody looks after: runs whose owner is gone (their record
 * unchanged for worker.heartbeat.timeout.ms on this worker's own clock,
 * timing.c) and RETRYING runs that are due. A RETRYING record this worker
 * wrote itself, or one whose attempt its previous owner saw end (a
 * handover: no worker named), starts when its backoff has passed; any
 * other one (its writer may have started the next attempt before it
 * vanished) also waits the heartbeat timeout. */
static void scan(floq_worker_t *w) {
        int64_t mono = floq_mono_ms();
        json_t *ids = json_array(), *keep = json_object(), *v;
        int32_t p;
        size_t i;

        for (p = 0; p < w->part_cnt; p++) {
                if (!w->parts[p].owned)
                        continue;
                json_object_clear(keep);
                pick_runs(w, p, pick_unowned, floq_now_ms(), SIZE_MAX, ids);
                json_array_foreach(ids, i, v) {
                        const char *id = json_string_value(v);
                        json_t *rs = wpart_run(&w->parts[p], id);
                        const char *s = rs ? wjs(rs, "status") : NULL;
                        const char *prev;
                        int64_t age;
                        int mine;
                        char why[400];

                        if (!s)
                                continue;
                        json_object_set_new(keep, id, json_true());
                        age = wtakeover_age(&w->parts[p], id, rs, mono, &mine);
                        if (!strcmp(s, "RETRYING")) {
                                int handover = !wjs(rs, "worker");

                                if (age >= retry_delay_of(rs) &&
                                    (mine || handover ||
                                     age > w->hb_timeout_ms))
                                        wtxn_after(w, WAFTER_SUBMIT, p, id);
                                continue;
                        }
                        if (age <= w->hb_timeout_ms)
                                continue;
                        if (wtxn_begin(w))
                                break;
                        prev = wjs(rs, "worker") ? wjs(rs, "worker") : "?";
                        if (!strcmp(s, "ACCEPTED")) {
                                /* Never started as far as Kafka knows, and a
                                 * dead worker's children died with it: start
                                 * the same attempt here. */
                                json_t *n = json_deep_copy(rs);

                                floq_notice_ids("run", id, wjs(rs, "command_id"),
                                                "run %s: taking over from "
                                                "worker %s (accepted, "
                                                "unchanged for %lld ms)",
                                                id, prev, (long long)age);
                                json_object_set_new(n, "heartbeat_at",
                                                    json_integer(floq_now_ms()));
                                set_str(n, "worker", w->id);
                                if (!wtxn_put_run(w, p, n))
                                        wtxn_after(w, WAFTER_SUBMIT, p, id);
                                continue;
                        }
                        snprintf(why, sizeof(why),
                                 "worker %s lost: no heartbeat seen for "
                                 "%lld ms",
                                 prev, (long long)age);
                        floq_notice_ids("run", id, wjs(rs, "command_id"),
                                        "run %s (attempt %lld): %s", id,
                                        (long long)wji(rs, "attempt", 1), why);
                        if (!strcmp(s, "RUNNING") &&
                            run_attach_backend(w, p, rs)) {
                                /* Its remote run goes on: track it from
                                 * here (re-attach on an executor thread,
                                 * submit_one()), never start another. */
                                json_t *n = json_deep_copy(rs);

                                floq_notice_ids("run", id,
                                                wjs(rs, "command_id"),
                                                "run %s: re-attaching to "
                                                "remote run %s",
                                                id, wjs(rs, "backend_ref"));
                                json_object_set_new(n, "heartbeat_at",
                                                    json_integer(floq_now_ms()));
                                set_str(n, "worker", w->id);
                                if (!wtxn_put_run(w, p, n))
                                        wtxn_after(w, WAFTER_SUBMIT, p, id);
                                continue;
                        }
                        if (wpart_stop_recorded(&w->parts[p], rs, id)) {
                                /* A committed stop had cancelled it
                                 * before its worker died: the stop
                                 * stands, never a retry (a remote run
                                 * was re-attached above instead: its
                                 * stop went out after that commit, and
                                 * it ends as its backend says). */
                                size_t n = strlen(why);

                                snprintf(why + n, sizeof(why) - n,
                                         "; it had been stopped");
                                worker_run_terminal(w, p, rs, "CANCELLED",
                                                    why, NULL);
                                continue;
                        }
                        if (run_outlives_worker(w, p, rs)) {
                                /* Its remote job may still be going on:
                                 * another attempt would run beside it
                                 * (G2), and this backend cannot re-attach
                                 * to it. */
                                size_t n = strlen(why);

                                snprintf(why + n, sizeof(why) - n,
                                         "; its remote job %s may still run, "
                                         "so the run is not retried",
                                         wjs(rs, "backend_ref")
                                                 ? wjs(rs, "backend_ref")
                                                 : "(unknown)");
                                worker_run_terminal(w, p, rs, "LOST", why,
                                                    NULL);
                                continue;
                        }
                        run_failed(w, p, rs, "LOST", why, NULL);
                }
                wtakeover_prune(&w->parts[p], keep);
        }
        json_decref(keep);
        json_decref(ids);
}

void worker_runs_tick(floq_worker_t *w, int force) {
        int64_t now = floq_mono_ms();

        if (force || now >= w->next_heartbeat) {
                w->next_heartbeat = now + w->hb_interval_ms;
                heartbeats(w);
        }
        if (!w->draining && (force || now >= w->next_scan)) {
                w->next_scan = now + WSCAN_INTERVAL_MS;
                scan(w);
                expire(w);
        }
}

int worker_run_cancel(floq_worker_t *w, int32_t p, json_t *rs,
                      const char *reason) {
        const char *id = wjs(rs, "run_id");

        if (!id || wrun_status_terminal(wjs(rs, "status")))
                return 0;
        if (floq_executor_has(w->ex, id)) {
                wtxn_after(w, WAFTER_STOP, p, id);
                return 1;
        }
        /* Queued, retrying or left by a dead worker: it ends now; a queued
         * submission sees the terminal status and is dropped. */
        worker_run_terminal(w, p, rs, "CANCELLED", reason, NULL);
        return 1;
}

/* ------------------------------------------------------------ handover */

static void orphan_add(floq_worker_t *w, int32_t p, const char *run_id,
                       int attempt, const char *deployment,
                       const char *command_id, int64_t deadline);

/* No wait here (issue 9, item 5): the ends of the stopped attempts come
 * back as executor events, which the loop records (a drain, which waits
 * for them in the loop before it leaves the group) or announces to the
 * next owner (a revocation, @p announce). */
int worker_runs_handover(floq_worker_t *w, const unsigned char *which,
                         int announce) {
        int64_t deadline = floq_mono_ms() + w->kill_grace_ms + 5000;
        const char *k;
        json_t *v, *rs;
        int32_t p;
        size_t i, j;
        int stopped = 0;

        for (p = 0; p < w->part_cnt; p++) {
                if (!which[p] || !w->parts[p].owned)
                        continue;
                json_object_foreach(w->parts[p].runs, k, v) {
                        if (!floq_executor_has(w->ex, k))
                                continue;
                        floq_executor_stop(w->ex, k, FLOQ_STOP_DRAIN);
                        stopped++;
                        if (announce)
                                orphan_add(w, p, k, (int)wji(v, "attempt", 1),
                                           wjs(v, "deployment"),
                                           wjs(v, "command_id"), deadline);
                }
        }
        if (stopped)
                floq_notice("run", "handing over %d live run(s)%s", stopped,
                            announce ? ": their next owner is told once "
                                       "they have ended"
                                     : "");

        /* Queued runs that never started: RETRYING now, same attempt. */
        for (i = 0, j = 0; i < w->queue.cnt; i++) {
                wafter_t *a = &w->queue.items[i];

                p = a->partition;
                if (!which[p]) {
                        w->queue.items[j++] = *a;
                        continue;
                }
                json_object_del(w->inflight, a->run_id);
                rs = w->parts[p].owned
                             ? wpart_run(&w->parts[p], a->run_id)
                             : NULL;
                if (rs && wjs(rs, "status") &&
                    !strcmp(wjs(rs, "status"), "ACCEPTED") &&
                    !wtxn_begin(w))
                        run_retrying(w, p, rs, (int)wji(rs, "attempt", 1),
                                     floq_now_ms(),
                                     "handed over before it started", NULL,
                                     1);
        }
        w->queue.cnt = j;
        return stopped;
}

/* ------------------------------------------------------------ lost */

/* A handover notice on the commands topic: the header that tells it from
 * a command, and its value, a heartbeat-shaped RunState (runs.c's
 * heartbeat_record(): run id, deployment, command id, attempt, worker). */
#define WNOTICE_HEADER "floq.handover"

static void orphan_add(floq_worker_t *w, int32_t p, const char *run_id,
                       int attempt, const char *deployment,
                       const char *command_id, int64_t deadline) {
        json_t *o = json_object_get(w->orphans, run_id);

        if (o)
                return;
        o = json_pack("{s:i, s:i, s:s, s:s, s:I}", "p", (int)p, "attempt",
                      attempt, "deployment", deployment ? deployment : "",
                      "command_id", command_id ? command_id : "", "deadline",
                      (json_int_t)deadline);
        if (o)
                json_object_set_new(w->orphans, run_id, o);
}

void worker_runs_lost(floq_worker_t *w, const unsigned char *which) {
        int64_t deadline = floq_mono_ms() + w->kill_grace_ms + 5000;
        const char *k;
        json_t *v;
        int32_t p;
        size_t i;

        for (p = 0; p < w->part_cnt; p++) {
                if (!which[p] || !w->parts[p].owned)
                        continue;
                json_object_foreach(w->parts[p].runs, k, v) {
                        if (!floq_executor_has(w->ex, k))
                                continue;
                        floq_executor_stop(w->ex, k, FLOQ_STOP_DRAIN);
                        orphan_add(w, p, k, (int)wji(v, "attempt", 1),
                                   wjs(v, "deployment"), wjs(v, "command_id"),
                                   deadline);
                }
        }
        /* Attempts that ended in the transaction being aborted: their end
         * is not in Kafka, where they are still RUNNING. */
        for (i = 0; i < w->txn.events.cnt; i++) {
                const floq_exec_event_t *ev = &w->txn.events.evs[i];
                json_t *rs;

                p = (int32_t)((intptr_t)ev->opaque - 1);
                if (p < 0 || p >= w->part_cnt || !which[p] ||
                    ev->type == FLOQ_EXEC_STARTED || !ev->run_id[0])
                        continue;
                rs = wpart_run(&w->parts[p], ev->run_id);
                orphan_add(w, p, ev->run_id, ev->attempt,
                           rs ? wjs(rs, "deployment") : NULL,
                           rs ? wjs(rs, "command_id") : NULL, deadline);
        }
        if (json_object_size(w->orphans))
                floq_notice("run", "%zu attempt(s) of lost partitions: "
                                   "stopping them, their next owner is told "
                                   "once they have ended",
                            json_object_size(w->orphans));
}

void worker_runs_rewound_gone(floq_worker_t *w, int32_t p) {
        int64_t deadline = floq_mono_ms() + w->kill_grace_ms + 5000;
        const char *k;
        json_t *v, *tmp;
        size_t i, n;

        json_object_foreach_safe(w->rewound_live, tmp, k, v) {
                if (wji(v, "p", -1) != p)
                        continue;
                if (floq_executor_has(w->ex, k)) {
                        floq_executor_stop(w->ex, k, FLOQ_STOP_DRAIN);
                        orphan_add(w, p, k, (int)wji(v, "attempt", 1),
                                   wjs(v, "deployment"), wjs(v, "command_id"),
                                   deadline);
                }
        }
        /* Ended while the partition was being restored: their end is not
         * in Kafka, where they are still RUNNING. */
        for (i = 0, n = 0; i < w->replay.cnt; i++) {
                floq_exec_event_t *ev = &w->replay.evs[i];

                if ((int32_t)((intptr_t)ev->opaque - 1) != p) {
                        w->replay.evs[n++] = *ev;
                        continue;
                }
                if (ev->type != FLOQ_EXEC_STARTED && ev->run_id[0] &&
                    (v = json_object_get(w->rewound_live, ev->run_id)))
                        orphan_add(w, p, ev->run_id, ev->attempt,
                                   wjs(v, "deployment"), wjs(v, "command_id"),
                                   deadline);
                else if (ev->type != FLOQ_EXEC_STARTED && ev->run_id[0])
                        orphan_add(w, p, ev->run_id, ev->attempt, NULL, NULL,
                                   deadline);
                floq_exec_event_release(ev);
        }
        w->replay.cnt = n;
        /* only now: the loop above names its notices from these */
        json_object_foreach_safe(w->rewound_live, tmp, k, v)
                if (wji(v, "p", -1) == p)
                        json_object_del(w->rewound_live, k);
}

void worker_runs_rewound_done(floq_worker_t *w, int32_t p) {
        wevlist_t mine;
        const char *k;
        json_t *v, *tmp;
        size_t i, n;

        json_object_foreach_safe(w->rewound_live, tmp, k, v) {
                if (wji(v, "p", -1) == p)
                        json_object_del(w->rewound_live, k);
        }
        memset(&mine, 0, sizeof(mine));
        for (i = 0, n = 0; i < w->replay.cnt; i++) {
                floq_exec_event_t *ev = &w->replay.evs[i];

                if ((int32_t)((intptr_t)ev->opaque - 1) == p)
                        wevlist_push(&mine, ev);
                else
                        w->replay.evs[n++] = *ev;
        }
        w->replay.cnt = n;
        for (i = 0; i < mine.cnt; i++)
                worker_run_event(w, &mine.evs[i]);
        free(mine.evs);
}

static rd_kafka_t *notices_producer(floq_worker_t *w) {
        char errstr[512];
        rd_kafka_conf_t *kc;

        if (w->notices)
                return w->notices;
        if (!(kc = floq_kafka_conf_new(w->conf, "producer", errstr,
                                       sizeof(errstr))))
                goto fail;
        if (!(w->notices = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                        sizeof(errstr)))) {
                rd_kafka_conf_destroy(kc);
                goto fail;
        }
        return w->notices;
fail:
        floq_err("run", "cannot create the producer of handover notices: %s",
                 errstr);
        return NULL;
}

/* Tell partition @p p's owner that attempt @p attempt of run @p run_id
 * ended on this worker after the partition was lost. Not state: a
 * plain record on the commands partition, which only its owner acts on. */
static void notice_send(floq_worker_t *w, const char *run_id,
                        const json_t *o) {
        rd_kafka_t *rk = notices_producer(w);
        int32_t p = (int32_t)wji(o, "p", 0);
        json_t *rs = json_object(), *hb;
        rd_kafka_resp_err_t err;
        void *buf = NULL;
        size_t len = 0;

        json_object_set_new(rs, "run_id", json_string(run_id));
        json_object_set(rs, "deployment", json_object_get(o, "deployment"));
        json_object_set(rs, "command_id", json_object_get(o, "command_id"));
        json_object_set_new(rs, "status", json_string("RUNNING"));
        json_object_set(rs, "attempt", json_object_get(o, "attempt"));
        hb = heartbeat_record(rs, w->id, floq_now_ms());
        json_decref(rs);
        if (!rk || !hb ||
            floq_codec_encode(w->codec, FLOQ_MSG_RUN_STATE, hb, &buf, &len,
                              NULL, 0)) {
                json_decref(hb);
                return;
        }
        err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(w->t_commands), RD_KAFKA_V_PARTITION(p),
                RD_KAFKA_V_KEY(wjs(hb, "deployment"),
                               strlen(wjs(hb, "deployment"))),
                RD_KAFKA_V_VALUE(buf, len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADER(WNOTICE_HEADER, "1", 1), RD_KAFKA_V_END);
        if (err)
                floq_err("run", "run %s: cannot send its handover notice: %s",
                         run_id, rd_kafka_err2str(err));
        else
                floq_notice("run", "run %s: attempt %lld ended after "
                                   "partition %d was lost: handover notice "
                                   "sent to its next owner",
                            run_id, (long long)wji(hb, "attempt", 1), (int)p);
        free(buf);
        json_decref(hb);
}

void worker_runs_orphans_tick(floq_worker_t *w) {
        int64_t now = floq_mono_ms();
        const char *k;
        json_t *v, *tmp;

        if (w->notices)
                rd_kafka_poll(w->notices, 0);
        json_object_foreach_safe(w->orphans, tmp, k, v) {
                int32_t p = (int32_t)wji(v, "p", 0);

                if (floq_executor_has(w->ex, k)) {
                        if (now < wji(v, "deadline", 0))
                                continue;
                        /* Still live: no notice (the heartbeat timeout
                         * settles it, as after a death). */
                        floq_err("run", "run %s: its attempt did not stop "
                                        "in time after partition %d was "
                                        "lost; no handover",
                                 k, (int)p);
                } else {
                        /* Also when p is ours again: its event may have
                         * been dropped while it was not, and a notice the
                         * state no longer matches is ignored. */
                        notice_send(w, k, v);
                }
                json_object_del(w->orphans, k);
        }
}

int worker_runs_is_notice(const rd_kafka_message_t *m) {
        rd_kafka_headers_t *h = NULL;
        const void *val;
        size_t size;

        return !rd_kafka_message_headers(m, &h) &&
               !rd_kafka_header_get_last(h, WNOTICE_HEADER, &val, &size);
}

void worker_runs_notice(floq_worker_t *w, int32_t p,
                        const rd_kafka_message_t *m) {
        json_t *hb = NULL, *rs, *n;
        const char *id, *by, *s;
        char errstr[256], why[400];
        int attempt;

        if (!m->payload ||
            floq_codec_decode(w->codec, FLOQ_MSG_RUN_STATE, m->payload,
                              m->len, &hb, errstr, sizeof(errstr))) {
                floq_warn("run", "partition %d offset %lld: a handover "
                                 "notice that does not decode, ignored",
                          (int)p, (long long)m->offset);
                return;
        }
        id = wjs(hb, "run_id");
        by = wjs(hb, "worker");
        attempt = (int)wji(hb, "attempt", 1);
        rs = id ? wpart_run(&w->parts[p], id) : NULL;
        s = rs ? wjs(rs, "status") : NULL;
        if (!rs || !s || strcmp(s, "RUNNING") || !by || !wjs(rs, "worker") ||
            strcmp(by, wjs(rs, "worker")) || wji(rs, "attempt", 1) != attempt ||
            run_is_ours(w, id)) {
                floq_info("run", "run %s: handover notice of worker %s "
                                 "(attempt %d) does not match its state, "
                                 "ignored",
                          id ? id : "?", by ? by : "?", attempt);
                json_decref(hb);
                return;
        }
        if (wpart_stop_recorded(&w->parts[p], rs, id)) {
                /* A committed stop had cancelled it: its CANCELLED was
                 * the old owner's to write, and it lost the partition
                 * first. The stop stands: never a retry. */
                snprintf(why, sizeof(why), "stopped; its attempt %d ended "
                                           "on worker %s, which lost "
                                           "partition %d before recording "
                                           "it",
                         attempt, by, (int)p);
                floq_notice("run", "run %s: %s", id, why);
                worker_run_terminal(w, p, rs, "CANCELLED", why, NULL);
                json_decref(hb);
                return;
        }
        /* RETRYING at the same attempt, still naming the worker: the
         * record changed, so the takeover clock starts again and the
         * attempt starts after a heartbeat timeout of ours, as any
         * takeover (a notice is not signed; waiting keeps "never two live
         * attempts" whoever wrote it). */
        snprintf(why, sizeof(why), "attempt %d handed over by worker %s "
                                   "(it lost partition %d)",
                 attempt, by, (int)p);
        n = json_deep_copy(rs);
        json_object_set_new(n, "status", json_string("RETRYING"));
        json_object_set_new(n, "next_attempt_at",
                            json_integer(floq_now_ms()));
        json_object_set_new(n, "heartbeat_at", json_integer(floq_now_ms()));
        set_str(n, "reason", why);
        floq_notice("run", "run %s: %s", id, why);
        wtxn_put_run(w, p, n);
        json_decref(hb);
}

void worker_runs_notices_close(floq_worker_t *w) {
        if (!w->notices)
                return;
        if (rd_kafka_flush(w->notices, 5000))
                floq_warn("run", "handover notices not delivered");
        rd_kafka_destroy(w->notices);
        w->notices = NULL;
}
