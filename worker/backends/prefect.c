/*
 * prefect.c - the Prefect 3 backend: a floq deployment names a Prefect
 * deployment (spec.deployment "flow_name/deployment_name", or
 * spec.deployment_id); deploy() resolves the name to the deployment's id
 * through the REST API and stores it in the spec (deployment_id), so every
 * run names the deployment deployed, whatever is renamed later.
 *
 * An attempt is one flow run: POST {api}/deployments/{id}/create_flow_run
 * with the run's parameters and idempotency_key = "<run id>-<attempt>", so a
 * repeated call (a retry, or the next owner starting the same attempt after
 * a handover) answers the same flow run instead of creating a second one.
 * wait() polls GET {api}/flow_runs/{id} and maps the state type (table in
 * docs/backends.md, "The prefect backend"). stop() asks Prefect to cancel:
 * set_state CANCELLING, then polls until the flow run is CANCELLED (or has
 * ended otherwise); if it is still not over after prefect.stop.grace.ms the
 * backend forces CANCELLED and says so in the reason.
 *
 * Every call goes through the HTTP adapter (common/http.c). The API key
 * (prefect.api.key.file, read at each call so it can rotate) is sent as a
 * Bearer token, or the basic auth string (prefect.api.auth.string.file) of
 * a self-hosted server, only to prefect.api.url, which only the worker's
 * config sets: a spec cannot choose the server. A server that stays
 * unreachable for prefect.unreachable.ms ends the run LOST with the last
 * error; a flow run deleted from outside (404) ends it FAILED.
 *
 * Threads: start(), wait() and attempt_destroy() of an attempt run on its
 * executor thread; stop() may come from any thread and only sets a flag
 * that wait() acts on (the set_state call is made by the attempt's thread).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "backend_int.h"

#define PF_VALIDATE_MS   10000
#define PF_DEPLOY_MS     10000
#define PF_POLL_MS_MIN   100
#define PF_SECRET_MAX    8192
#define PF_ID_MAX        64

typedef struct prefect_backend_s {
        floq_backend_t base;
        char *api;            /**< prefect.api.url without a trailing '/' */
        char *ui;             /**< prefect.ui.url without a trailing '/' */
        char *key_file;       /**< NULL: no API key */
        char *auth_file;      /**< NULL: no basic auth string */
        char *ca_file;
        long timeout_ms;
        int retries;
        int64_t poll_ms;
        int64_t unreachable_ms;
        int64_t stop_grace_ms;
        int64_t start_timeout_ms; /**< 0: SCHEDULED/PENDING forever */
} prefect_backend_t;

typedef struct floq_attempt_s {
        floq_poller_t poll; /**< first: floq_remote_stop() finds it */
        char key[64];              /**< idempotency_key: run id + attempt */
        char ref[PF_ID_MAX];       /**< the flow run's id */
        char *url;                 /**< the flow run's UI page */
        char last_error[512];
        int64_t waiting_since;     /**< mono ms SCHEDULED/PENDING, or 0 */
        char timeout_note[300];    /**< why floq stopped it, "" if asked */
        int cancel_sent;           /**< set_state CANCELLING accepted */
        int64_t cancel_deadline;   /**< mono ms: force CANCELLED after */
        char cancel_note[512];     /**< what the cancel call answered */
} pf_attempt_t;

/* An attempt's poll and its stop path, for floq_remote_wait(). */
static void poll_once(floq_backend_t *be, pf_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);
static void stop_step(floq_backend_t *be, pf_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);

static void pf_destroy(floq_backend_t *be) {
        prefect_backend_t *pb = (prefect_backend_t *)be;

        if (!pb)
                return;
        free(pb->api);
        free(pb->ui);
        free(pb->key_file);
        free(pb->auth_file);
        free(pb->ca_file);
        free(pb);
}

static floq_backend_t *pf_new(const floq_conf_t *conf, char *errstr,
                              size_t errstr_size) {
        prefect_backend_t *pb = calloc(1, sizeof(*pb));
        size_t n;

        if (!pb) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        pb->base.ops = &floq_backend_prefect;
        pb->api = floq_conf_url_dup(conf, "prefect.api.url");
        if (!pb->api || (strncmp(pb->api, "http://", 7) &&
                         strncmp(pb->api, "https://", 8))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "prefect.api.url must be an http:// or https:// "
                            "URL (the server's API, e.g. "
                            "http://127.0.0.1:4200/api)");
                goto fail;
        }
        if (!(pb->ui = floq_conf_url_dup(conf, "prefect.ui.url")) &&
            (pb->ui = strdup(pb->api))) {
                /* The UI is served beside the API: drop "/api". */
                n = strlen(pb->ui);
                if (n >= 4 && !strcmp(pb->ui + n - 4, "/api"))
                        pb->ui[n - 4] = '\0';
        }
        pb->key_file = floq_conf_str_dup(conf, "prefect.api.key.file");
        pb->auth_file = floq_conf_str_dup(conf, "prefect.api.auth.string.file");
        pb->ca_file = floq_conf_str_dup(conf, "prefect.ca.file");
        pb->timeout_ms = (long)floq_conf_int(conf, "http.timeout.ms");
        pb->retries = (int)floq_conf_int(conf, "http.retries");
        pb->poll_ms = floq_conf_int(conf, "prefect.poll.interval.ms");
        pb->unreachable_ms = floq_conf_int(conf, "prefect.unreachable.ms");
        pb->base.unreachable_ms = pb->unreachable_ms;
        pb->stop_grace_ms = floq_conf_int(conf, "prefect.stop.grace.ms");
        pb->start_timeout_ms = floq_conf_int(conf,
                                             "prefect.start.timeout.ms");
        if (pb->poll_ms < PF_POLL_MS_MIN)
                pb->poll_ms = PF_POLL_MS_MIN;
        if (!pb->ui) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                goto fail;
        }
        if (pb->key_file && pb->auth_file) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "set prefect.api.key.file or "
                            "prefect.api.auth.string.file, not both");
                goto fail;
        }
        return &pb->base;
fail:
        pf_destroy(&pb->base);
        return NULL;
}

/*
 * One call: @p method {api}@p path with @p body. @p timeout_ms bounds the
 * whole call (0: http.timeout.ms), @p retries -1 for none (0: http.retries).
 * The answer is in @p resp (the caller releases it).
 */
static floq_err_t pf_call(const prefect_backend_t *pb, const char *method,
                          const char *path, const json_t *body,
                          long timeout_ms, int retries,
                          floq_http_resp_t *resp, char *errstr,
                          size_t errstr_size) {
        floq_http_opts_t o;
        char *url = NULL, *key = NULL, *auth = NULL;
        floq_err_t err;

        memset(&o, 0, sizeof(o));
        memset(resp, 0, sizeof(*resp));
        if ((err = floq_secret_read(pb->key_file, "prefect",
                                    "prefect.api.key.file", &key, errstr,
                                    errstr_size)) ||
            (err = floq_secret_read(pb->auth_file, "prefect",
                                    "prefect.api.auth.string.file", &auth,
                                    errstr, errstr_size)))
                goto out;
        if (asprintf(&url, "%s%s", pb->api, path) < 0) {
                url = NULL;
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        o.what = "prefect";
        o.timeout_ms = timeout_ms > 0 ? timeout_ms : pb->timeout_ms;
        o.connect_timeout_ms = o.timeout_ms < 5000 ? o.timeout_ms : 5000;
        o.max_retries = retries ? retries : (pb->retries > 0 ? pb->retries
                                                             : -1);
        o.ca_file = pb->ca_file;
        o.bearer = key && *key ? key : NULL;
        o.basic = auth && *auth ? auth : NULL;
        err = floq_http_request(&o, method, url, body, resp, errstr,
                                errstr_size);
out:
        floq_secret_free(key);
        floq_secret_free(auth);
        free(url);
        return err;
}

/* 1 when @p s is a plausible Prefect id (a UUID's characters only): it
 * goes into URL paths. */
static int id_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n && n < PF_ID_MAX &&
               s[strspn(s, "0123456789abcdefABCDEF-")] == '\0';
}

/* A name part of "flow/deployment": it goes into a URL path, so no '/',
 * '?', '#', '%' or control characters (Prefect's own names forbid most). */
static int name_ok(const char *s, size_t n) {
        size_t i;

        if (!n)
                return 0;
        for (i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x21 || strchr("/?#%\\", s[i]))
                        return 0;
        return 1;
}

/*
 * Resolve the spec's deployment to its id: spec.deployment_id is checked
 * with GET /deployments/{id}, spec.deployment "flow/name" looked up with
 * GET /deployments/name/{flow}/{name}. FLOQ_ERR_NOT_FOUND: "deployment ...
 * not found"; other errors as the adapter says, with a hint.
 */
static floq_err_t resolve(const prefect_backend_t *pb, const json_t *spec,
                          long timeout_ms, char *id, size_t id_size,
                          char *errstr, size_t errstr_size) {
        const char *name = json_string_value(json_object_get(spec,
                                                             "deployment"));
        const char *did = json_string_value(json_object_get(spec,
                                                            "deployment_id"));
        floq_http_resp_t resp;
        const char *got;
        char path[600], err[512];
        floq_err_t e;

        if (did) {
                if (!id_ok(did))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.deployment_id '%s' is not a "
                                           "Prefect id",
                                           did);
                snprintf(path, sizeof(path), "/deployments/%s", did);
        } else if (name) {
                const char *slash = strchr(name, '/');

                if (!slash || !name_ok(name, (size_t)(slash - name)) ||
                    !name_ok(slash + 1, strlen(slash + 1)) ||
                    strlen(name) > 500)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.deployment must be "
                                           "'flow_name/deployment_name'");
                snprintf(path, sizeof(path), "/deployments/name/%s", name);
        } else {
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.deployment "
                                   "('flow_name/deployment_name') or "
                                   "spec.deployment_id is required");
        }
        e = pf_call(pb, "GET", path, NULL, timeout_ms, -1, &resp, err,
                    sizeof(err));
        if (e == FLOQ_ERR_NOT_FOUND) {
                floq_seterr(errstr, errstr_size, e,
                            "prefect: deployment '%s' not found on %s",
                            did ? did : name, pb->api);
        } else if (e == FLOQ_ERR_UNAUTHORIZED) {
                floq_seterr(errstr, errstr_size, e,
                            "%s (check prefect.api.key.file or "
                            "prefect.api.auth.string.file)",
                            err);
        } else if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT) {
                floq_seterr(errstr, errstr_size, e,
                            "%s (is the Prefect server at prefect.api.url "
                            "%s up?)",
                            err, pb->api);
        } else if (e) {
                floq_seterr(errstr, errstr_size, e, "%s", err);
        } else if (!id_ok(got = json_string_value(json_object_get(resp.json,
                                                                  "id")))) {
                e = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                "prefect: GET %s: the answer has no "
                                "deployment id",
                                path);
        } else {
                snprintf(id, id_size, "%s", got);
        }
        floq_http_resp_release(&resp);
        return e;
}

static floq_err_t pf_deploy(floq_backend_t *be, const char *deployment,
                            json_t *spec, char *errstr, size_t errstr_size) {
        prefect_backend_t *pb = (prefect_backend_t *)be;
        char id[PF_ID_MAX];
        json_t *v;
        floq_err_t err;

        (void)deployment;
        v = json_object_get(spec, "parameters");
        if (v && !json_is_object(v))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.parameters must be an object");
        v = json_object_get(spec, "poll_interval_ms");
        if (v && (!json_is_integer(v) ||
                  json_integer_value(v) < PF_POLL_MS_MIN))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.poll_interval_ms must be an integer "
                                   ">= %d",
                                   PF_POLL_MS_MIN);
        if ((err = resolve(pb, spec, PF_DEPLOY_MS, id, sizeof(id), errstr,
                           errstr_size)))
                return err;
        json_object_set_new(spec, "deployment_id", json_string(id));
        return FLOQ_OK;
}

static void attempt_free(pf_attempt_t *a) {
        if (!a)
                return;
        free(a->url);
        free(a);
}

/* Poll attempt @p a every spec.poll_interval_ms, else
 * prefect.poll.interval.ms. */
static void poller_init(const prefect_backend_t *pb,
                        const floq_run_req_t *req, pf_attempt_t *a) {
        int64_t ms = json_integer_value(json_object_get(req->spec,
                                                        "poll_interval_ms"));

        floq_poller_init(&a->poll, ms < PF_POLL_MS_MIN ? pb->poll_ms : ms);
}

/* Tracked from here on: start() and attach() end with this once the
 * remote run is known (floq_poller_track()). */
static void attempt_track(pf_attempt_t *a) {
        floq_poller_track(&a->poll, poll_once, stop_step, a->ref, a->url,
                          "flow run", a->url);
}

static floq_err_t pf_start(floq_backend_t *be, const floq_run_req_t *req,
                           floq_attempt_t **attp, char *errstr,
                           size_t errstr_size) {
        prefect_backend_t *pb = (prefect_backend_t *)be;
        const char *did = json_string_value(json_object_get(req->spec,
                                                            "deployment_id"));
        const json_t *defaults = json_object_get(req->spec, "parameters");
        pf_attempt_t *a = calloc(1, sizeof(*a));
        json_t *params = NULL, *body = NULL;
        floq_http_resp_t resp = { 0 };
        const char *fr;
        char path[128];
        floq_err_t err = FLOQ_OK;

        *attp = NULL;
        if (!a)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if (!id_ok(did)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                  "spec.deployment_id is missing: deploy "
                                  "the deployment again");
                goto out;
        }
        snprintf(a->key, sizeof(a->key), "%s-%d", req->run_id, req->attempt);
        /* The spec's parameters, overridden by the run's. */
        params = json_is_object(defaults) ? json_deep_copy(defaults)
                                          : json_object();
        if (json_is_object(req->params))
                json_object_update(params, (json_t *)req->params);
        body = json_pack("{s:O,s:s,s:[s]}", "parameters", params,
                         "idempotency_key", a->key, "tags", "floq");
        if (!body) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        snprintf(path, sizeof(path), "/deployments/%s/create_flow_run", did);
        if ((err = pf_call(pb, "POST", path, body, 0, 0, &resp, errstr,
                           errstr_size))) {
                if (err == FLOQ_ERR_NOT_FOUND)
                        floq_seterr(errstr, errstr_size, err,
                                    "prefect: deployment %s no longer "
                                    "exists",
                                    did);
                goto out;
        }
        fr = json_string_value(json_object_get(resp.json, "id"));
        if (!id_ok(fr)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "prefect: POST %s: the answer has no flow "
                                  "run id",
                                  path);
                goto out;
        }
        snprintf(a->ref, sizeof(a->ref), "%s", fr);
        if (asprintf(&a->url, "%s/runs/flow-run/%s", pb->ui, fr) < 0) {
                a->url = NULL;
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        floq_info_ids("prefect", req->run_id, NULL,
                      "run %s attempt %d: flow run %s (%s)",
                      req->run_id, req->attempt, fr, a->url);
        poller_init(pb, req, a);
out:
        floq_http_resp_release(&resp);
        json_decref(body);
        json_decref(params);
        if (err) {
                attempt_free(a);
                return err;
        }
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

/* Ask Prefect to set the flow run's state to @p type. FLOQ_OK when the
 * server accepted it; otherwise @p note says what it answered. */
static floq_err_t set_state(prefect_backend_t *pb, pf_attempt_t *a,
                            const char *type, int force, char *note,
                            size_t note_size) {
        floq_http_resp_t resp;
        json_t *body;
        const char *status;
        char path[128];
        floq_err_t err;

        body = json_pack("{s:{s:s,s:s},s:b}", "state", "type", type,
                         "message", "stopped by floq", "force", force);
        if (!body)
                return floq_seterr(note, note_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        snprintf(path, sizeof(path), "/flow_runs/%s/set_state", a->ref);
        err = pf_call(pb, "POST", path, body, 0, 0, &resp, note, note_size);
        json_decref(body);
        if (!err) {
                status = json_string_value(json_object_get(resp.json,
                                                           "status"));
                if (status && strcmp(status, "ACCEPT")) {
                        const char *r = json_string_value(json_object_get(
                                json_object_get(resp.json, "details"),
                                "reason"));

                        err = floq_seterr(note, note_size, FLOQ_ERR_REJECTED,
                                          "prefect: set_state %s: %s%s%s",
                                          type, status, r ? ": " : "",
                                          r ? r : "");
                }
        }
        floq_http_resp_release(&resp);
        return err;
}

/*
 * Count a SCHEDULED or PENDING answer (@p waiting 1; else the wait is
 * over): past prefect.start.timeout.ms the attempt is stopped as a
 * timeout (the stop path cancels the flow run) and the reason says why.
 */
static void start_wait(const prefect_backend_t *pb, pf_attempt_t *a,
                       int waiting, const char *type) {
        int64_t now = floq_mono_ms();

        if (!waiting) {
                a->waiting_since = 0;
                return;
        }
        if (!a->waiting_since)
                a->waiting_since = now;
        if (pb->start_timeout_ms <= 0 ||
            now - a->waiting_since < pb->start_timeout_ms)
                return;
        snprintf(a->timeout_note, sizeof(a->timeout_note),
                 "flow run %s was still %s after %lld ms "
                 "(prefect.start.timeout.ms: no worker started it); ",
                 a->url, type, (long long)(now - a->waiting_since));
        floq_poller_stop(&a->poll, FLOQ_STOP_TIMEOUT);
}

/*
 * One poll of the flow run. *donep set and @p res filled when the attempt
 * is over: the flow run ended (or is gone, or its state cannot be known:
 * unreachable for too long, an answer refused or not understood, LOST).
 * @p why is the stop asked for, -1 none.
 */
static void poll_once(floq_backend_t *be, pf_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        prefect_backend_t *pb = (prefect_backend_t *)be;
        floq_http_resp_t resp;
        const json_t *st;
        const char *type, *msg, *tn = a->timeout_note;
        char path[128], err[512];
        floq_outcome_t stopped = why == FLOQ_STOP_TIMEOUT
                                         ? FLOQ_OUTCOME_TIMED_OUT
                                         : FLOQ_OUTCOME_CANCELLED;
        floq_err_t e;
        int64_t now;

        *donep = 1;
        snprintf(path, sizeof(path), "/flow_runs/%s", a->ref);
        e = pf_call(pb, "GET", path, NULL,
                    a->poll.poll_ms * 4 < pb->timeout_ms
                            ? (long)a->poll.poll_ms * 4
                            : 0,
                    0, &resp, err, sizeof(err));
        if (e == FLOQ_ERR_NOT_FOUND) {
                floq_run_result_setf(res,
                                     why >= 0 ? stopped : FLOQ_OUTCOME_FAILED,
                                     a->ref,
                                     "%sthe flow run %s was deleted from "
                                     "Prefect (%s)",
                                     tn, a->url, err);
                goto out;
        }
        if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT ||
            e == FLOQ_ERR_BACKEND) {
                now = floq_mono_ms();
                if (!a->poll.unreachable_since)
                        a->poll.unreachable_since = now;
                snprintf(a->last_error, sizeof(a->last_error), "%s", err);
                if (now - a->poll.unreachable_since < pb->unreachable_ms) {
                        *donep = 0;
                        goto out;
                }
                floq_run_result_setf(
                        res, FLOQ_OUTCOME_LOST, a->ref,
                        "%sthe state of flow run %s is unknown: Prefect "
                        "unreachable for %lld ms (prefect.unreachable.ms): "
                        "%s",
                        tn, a->url,
                        (long long)(now - a->poll.unreachable_since),
                        a->last_error);
                goto out;
        }
        if (e) {
                /* refused (401, 403, ...): nothing says the flow run
                 * ended, and a retry would run a second one (G2) */
                floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref,
                                     "%sthe state of flow run %s is unknown: "
                                     "%s: it may still run",
                                     tn, a->url, err);
                goto out;
        }
        a->poll.unreachable_since = 0;
        st = json_object_get(resp.json, "state");
        type = json_string_value(json_object_get(st, "type"));
        msg = json_string_value(json_object_get(st, "message"));
        if (!msg || !*msg)
                msg = NULL;
        if (!type) {
                floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref,
                                     "%sprefect: GET %s: the answer has no "
                                     "state type: flow run %s may still run",
                                     tn, path, a->url);
                goto out;
        }
        if (!strcmp(type, "COMPLETED") || !strcmp(type, "FAILED") ||
            !strcmp(type, "CRASHED") || !strcmp(type, "CANCELLED")) {
                if (why >= 0 && !strcmp(type, "CANCELLED"))
                        floq_run_result_setf(res, stopped, a->ref,
                                             "%sflow run %s cancelled in "
                                             "Prefect",
                                             tn, a->url);
                else if (why >= 0)
                        floq_run_result_setf(res, stopped, a->ref,
                                             "%sflow run %s had already "
                                             "ended %s when the stop reached "
                                             "it%s%s",
                                             tn, a->url, type,
                                             msg ? ": " : "", msg ? msg : "");
                else if (!strcmp(type, "COMPLETED"))
                        floq_run_result_setf(res, FLOQ_OUTCOME_SUCCEEDED,
                                             a->ref, "flow run %s", a->url);
                else if (!strcmp(type, "CANCELLED"))
                        floq_run_result_setf(res, FLOQ_OUTCOME_CANCELLED,
                                             a->ref,
                                             "flow run %s was cancelled in "
                                             "Prefect%s%s",
                                             a->url, msg ? ": " : "",
                                             msg ? msg : "");
                else
                        floq_run_result_setf(res, FLOQ_OUTCOME_FAILED, a->ref,
                                             "flow run %s %s%s%s", a->url,
                                             !strcmp(type, "CRASHED")
                                                     ? "crashed"
                                                     : "failed",
                                             msg ? ": " : "", msg ? msg : "");
                goto out;
        }
        if (!strcmp(type, "SCHEDULED") || !strcmp(type, "PENDING") ||
            !strcmp(type, "RUNNING") || !strcmp(type, "PAUSED") ||
            !strcmp(type, "CANCELLING")) {
                /* still going */
                *donep = 0;
                if (why < 0)
                        start_wait(pb, a,
                                   !strcmp(type, "SCHEDULED") ||
                                           !strcmp(type, "PENDING"),
                                   type);
                goto out;
        }
        /* A state type floq does not know: nothing says it ended (G2). */
        floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref,
                             "%sflow run %s is in state type '%s' floq does "
                             "not know: it may still run",
                             tn, a->url, type);
out:
        floq_http_resp_release(&resp);
}

/* The stop path: send CANCELLING once, then poll until CANCELLED; past
 * prefect.stop.grace.ms force CANCELLED. *donep and @p res as poll_once. */
static void stop_step(floq_backend_t *be, pf_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        prefect_backend_t *pb = (prefect_backend_t *)be;
        char note[512];
        const char *reason;
        floq_err_t forced;

        *donep = 0;
        if (!a->cancel_sent) {
                a->cancel_sent = 1;
                a->cancel_deadline = floq_mono_ms() + pb->stop_grace_ms;
                if (set_state(pb, a, "CANCELLING", 0, a->cancel_note,
                              sizeof(a->cancel_note)) == FLOQ_OK)
                        a->cancel_note[0] = '\0';
                else
                        floq_notice("prefect", "flow run %s: %s", a->ref,
                                    a->cancel_note);
        }
        poll_once(be, a, why, donep, res);
        if (*donep || floq_mono_ms() < a->cancel_deadline)
                return;
        /* Not over within the grace period (no runner acted on the
         * CANCELLING state, or the server keeps refusing): force it. */
        forced = set_state(pb, a, "CANCELLED", 1, note, sizeof(note));
        if (forced == FLOQ_OK)
                reason = "forced CANCELLED in Prefect: the flow run did "
                         "not end within prefect.stop.grace.ms of "
                         "CANCELLING";
        else
                reason = note;
        /* A timeout whose flow run could not even be forced CANCELLED
         * may still run: LOST, so no retry runs a second one beside it. */
        floq_run_result_setf(res,
                             why != FLOQ_STOP_TIMEOUT ? FLOQ_OUTCOME_CANCELLED
                             : forced == FLOQ_OK      ? FLOQ_OUTCOME_TIMED_OUT
                                                      : FLOQ_OUTCOME_LOST,
                             a->ref, "%sflow run %s: %s%s%s",
                             a->timeout_note, a->url, reason,
                             a->cancel_note[0] ? "; " : "", a->cancel_note);
        *donep = 1;
}

/*
 * Re-attach to flow run @p ref (its id, as pf_ref() gave it): GET it and
 * track it as pf_start() would have; never a create_flow_run, so never a
 * second flow run. FLOQ_ERR_NOT_FOUND when Prefect answers 404 (the flow
 * run was deleted); the adapter's retriable errors when it is unreachable.
 */
static floq_err_t pf_attach(floq_backend_t *be, const floq_run_req_t *req,
                            const char *ref, floq_attempt_t **attp,
                            char *errstr, size_t errstr_size) {
        prefect_backend_t *pb = (prefect_backend_t *)be;
        floq_http_resp_t resp = { 0 };
        pf_attempt_t *a = NULL;
        const char *type;
        char path[128];
        floq_err_t err;

        *attp = NULL;
        if (!id_ok(ref))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "prefect: '%.200s' is not a flow run id",
                                   ref ? ref : "");
        snprintf(path, sizeof(path), "/flow_runs/%s", ref);
        if ((err = pf_call(pb, "GET", path, NULL, 0, 0, &resp, errstr,
                           errstr_size)))
                goto out;
        if (!(a = calloc(1, sizeof(*a))) ||
            asprintf(&a->url, "%s/runs/flow-run/%s", pb->ui, ref) < 0) {
                if (a)
                        a->url = NULL;
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        snprintf(a->key, sizeof(a->key), "%s-%d", req->run_id, req->attempt);
        snprintf(a->ref, sizeof(a->ref), "%s", ref);
        poller_init(pb, req, a);
        type = json_string_value(json_object_get(
                json_object_get(resp.json, "state"), "type"));
        floq_info("prefect", "run %s attempt %d: re-attached to flow run %s "
                             "(%s)",
                  req->run_id, req->attempt, ref, type ? type : "?");
out:
        floq_http_resp_release(&resp);
        if (err) {
                attempt_free(a);
                return err;
        }
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

static void pf_attempt_destroy(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        attempt_free(att);
}

/*
 * Within 10 s: the server answers /health (else: unreachable), the
 * credentials are accepted (POST /flows/filter), and the spec's deployment
 * exists when a spec is given; each failure its own message.
 */
static floq_err_t pf_validate(floq_backend_t *be, const json_t *spec,
                              char *errstr, size_t errstr_size) {
        prefect_backend_t *pb = (prefect_backend_t *)be;
        int64_t deadline = floq_mono_ms() + PF_VALIDATE_MS - 200;
        floq_http_resp_t resp;
        json_t *body = NULL;
        char err[512], id[PF_ID_MAX];
        floq_err_t e;

        e = pf_call(pb, "GET", "/health", NULL, floq_ms_left(deadline), -1, &resp,
                    err, sizeof(err));
        floq_http_resp_release(&resp);
        if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT ||
            e == FLOQ_ERR_BACKEND || e == FLOQ_ERR_NOT_FOUND ||
            e == FLOQ_ERR_REJECTED || e == FLOQ_ERR_TOO_LARGE)
                return floq_seterr(errstr, errstr_size, e,
                                   "prefect: the server at prefect.api.url "
                                   "%s is unreachable or not a Prefect API: "
                                   "%s",
                                   pb->api, err);
        if (e && e != FLOQ_ERR_UNAUTHORIZED)
                return floq_seterr(errstr, errstr_size, e, "%s", err);
        if (!(body = json_pack("{s:i}", "limit", 1)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if (!e)
                e = pf_call(pb, "POST", "/flows/filter", body,
                            floq_ms_left(deadline), -1, &resp, err, sizeof(err));
        else
                memset(&resp, 0, sizeof(resp));
        json_decref(body);
        floq_http_resp_release(&resp);
        if (e == FLOQ_ERR_UNAUTHORIZED)
                return floq_seterr(errstr, errstr_size, e,
                                   "%s: the credentials are refused (check "
                                   "prefect.api.key.file or "
                                   "prefect.api.auth.string.file)",
                                   err);
        if (e)
                return floq_seterr(errstr, errstr_size, e, "%s", err);
        if (!spec || (!json_object_get(spec, "deployment") &&
                      !json_object_get(spec, "deployment_id")))
                return FLOQ_OK;
        return resolve(pb, spec, floq_ms_left(deadline), id, sizeof(id), errstr,
                       errstr_size);
}

const floq_backend_ops_t floq_backend_prefect = {
        .name = "prefect",
        .outlives_worker = 1, /* a flow run goes on without its worker */
        .new_ = pf_new,
        .destroy = pf_destroy,
        .deploy = pf_deploy,
        .start = pf_start,
        .wait = floq_remote_wait,
        .stop = floq_remote_stop,
        .ref = floq_remote_ref,
        .url = floq_remote_url,
        .attach = pf_attach,
        .attempt_destroy = pf_attempt_destroy,
        .validate = pf_validate,
};
