/*
 * airflow.c - the Apache Airflow 3 backend (REST /api/v2): a deployment names
 * a DAG that must exist on the Airflow server, be unpaused (the backend
 * unpauses it when the spec says "unpause": true) and have no import
 * errors; an attempt is one DAG run whose dag_run_id is the floq run id and
 * attempt ("<run_id>-<attempt>"), so a repeated trigger answers 409 and names
 * the same DAG run (no duplicate run, G3); the run is polled to its end; a
 * stop marks the DAG run failed and then polls until the run and its task
 * instances are no longer running, reporting what really happened. Every
 * call goes through the HTTP adapter (common/http.c).
 *
 * Auth: a JWT from POST {airflow.api.url}/auth/token, with the username and
 * password read from airflow.auth.file (one line "username:password"),
 * shared by all attempts, refreshed a minute before the "exp" of its claims
 * and at once on a 401. A DAG run whose server stays unreachable for
 * airflow.unreachable.ms ends LOST with the last error, never RUNNING
 * forever; a DAG run deleted from outside ends FAILED.
 *
 * Threads: start(), wait() and attempt_destroy() of an attempt run on its
 * executor thread; stop() may come from any thread and only sets a flag
 * that wait() acts on. The token cache is the one shared state (a mutex).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "backend_int.h"

#define AF_VALIDATE_MS     10000
#define AF_CALL_MS         2400 /* one call of validate or deploy: four
                                 * of them (version or token, DAG, unpause
                                 * or import errors) fit in AF_VALIDATE_MS */
#define AF_TOKEN_EARLY_S   60 /* refresh this long before "exp" */
#define AF_POLL_MS_MIN     100

typedef struct airflow_backend_s {
        floq_backend_t base;
        char *api_url;        /**< without a final '/' */
        char *ui_url;         /**< without a final '/' */
        char *auth_file;      /**< NULL: no auth (all-admins servers) */
        char *ca_file;
        long timeout_ms;
        int retries;
        int64_t poll_ms;
        int64_t unreachable_ms;
        int64_t stop_wait_ms;
        int64_t queued_timeout_ms; /**< 0: a queued run may wait forever */
        int api_version;      /**< 2: Airflow 3 (/api/v2), 1: Airflow 2 */
        const char *api;      /**< "/api/v2" or "/api/v1" */
        pthread_mutex_t lock; /**< guards token, token_exp */
        char *token;          /**< secret; NULL: none yet */
        int64_t token_exp;    /**< wall seconds; 0: unknown */
} airflow_backend_t;

typedef enum af_phase_e {
        AF_RUNNING,
        AF_STOPPING, /**< the DAG run was marked failed: wait for its end */
} af_phase_t;

typedef struct floq_attempt_s {
        floq_poller_t poll; /**< first: floq_remote_stop() finds it */
        char *dag_id;
        char run_id[160];        /**< dag_run_id: floq run id + attempt */
        char *run_path;          /**< /api/v2/dags/{dag}/dagRuns/{id} */
        char *url;               /**< the Airflow UI page of the run */
        int64_t queued_since;    /**< mono ms, 0 when not queued */
        int64_t stop_deadline;   /**< mono ms, in AF_STOPPING */
        char last_error[512];
        char stop_note[600];     /**< what the stop found */
        char timeout_note[300];  /**< why floq stopped it, "" if asked */
        af_phase_t phase;
        int stop_why_seen;       /**< floq_stop_why_t acted on */
} af_attempt_t;

/* An attempt's poll and its stop path, for floq_remote_wait(). */
static void poll_step(floq_backend_t *be, af_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);
static void stop_step(floq_backend_t *be, af_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);

static floq_backend_t *af_new(const floq_conf_t *conf, char *errstr,
                              size_t errstr_size) {
        airflow_backend_t *ab = calloc(1, sizeof(*ab));

        if (!ab) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        ab->base.ops = &floq_backend_airflow;
        pthread_mutex_init(&ab->lock, NULL);
        ab->api_url = floq_conf_url_dup(conf, "airflow.api.url");
        ab->ui_url = floq_conf_url_dup(conf, "airflow.ui.url");
        if (!ab->ui_url && ab->api_url)
                ab->ui_url = strdup(ab->api_url);
        ab->auth_file = floq_conf_str_dup(conf, "airflow.auth.file");
        ab->ca_file = floq_conf_str_dup(conf, "airflow.ca.file");
        ab->timeout_ms = (long)floq_conf_int(conf, "http.timeout.ms");
        ab->retries = (int)floq_conf_int(conf, "http.retries");
        ab->poll_ms = floq_conf_int(conf, "airflow.poll.interval.ms");
        if (ab->poll_ms < AF_POLL_MS_MIN)
                ab->poll_ms = AF_POLL_MS_MIN;
        ab->unreachable_ms = floq_conf_int(conf, "airflow.unreachable.ms");
        ab->base.unreachable_ms = ab->unreachable_ms;
        ab->stop_wait_ms = floq_conf_int(conf, "airflow.stop.wait.ms");
        ab->queued_timeout_ms = floq_conf_int(conf,
                                              "airflow.queued.timeout.ms");
        ab->api_version = floq_conf_int(conf, "airflow.api.version") == 1
                                  ? 1
                                  : 2;
        ab->api = ab->api_version == 1 ? "/api/v1" : "/api/v2";
        /* Unset airflow.api.url is not an error: the worker builds every
         * backend, and deploy/validate say what is missing. */
        return &ab->base;
}

static void af_destroy(floq_backend_t *be) {
        airflow_backend_t *ab = (airflow_backend_t *)be;

        if (!ab)
                return;
        free(ab->api_url);
        free(ab->ui_url);
        free(ab->auth_file);
        free(ab->ca_file);
        floq_secret_free(ab->token);
        pthread_mutex_destroy(&ab->lock);
        free(ab);
}

/* ---------------------------------------------------------------- auth */

/* The "exp" claim of JWT @p jwt (wall seconds), 0 when it has none. */
static int64_t jwt_exp(const char *jwt) {
        const char *p = strchr(jwt, '.'), *e;
        unsigned char *raw = NULL;
        size_t n, i, o = 0;
        uint32_t acc = 0;
        int bits = 0;
        json_t *claims = NULL;
        int64_t exp = 0;

        if (!p || !(e = strchr(p + 1, '.')))
                return 0;
        n = (size_t)(e - p - 1);
        if (!(raw = malloc(n + 1)))
                goto out;
        /* base64url without padding */
        for (i = 0; i < n; i++) {
                char c = p[1 + i];
                int d = c >= 'A' && c <= 'Z'   ? c - 'A'
                        : c >= 'a' && c <= 'z' ? c - 'a' + 26
                        : c >= '0' && c <= '9' ? c - '0' + 52
                        : c == '-'             ? 62
                        : c == '_'             ? 63
                                               : -1;

                if (d < 0)
                        goto out;
                acc = (acc << 6) | (uint32_t)d;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        raw[o++] = (unsigned char)(acc >> bits);
                }
        }
        if ((claims = json_loadb((const char *)raw, o, 0, NULL)))
                exp = json_integer_value(json_object_get(claims, "exp"));
out:
        json_decref(claims);
        free(raw);
        return exp;
}

/* Options of one call: the adapter's defaults plus ours. */
static void call_opts(const airflow_backend_t *ab, const char *token,
                      long timeout_ms, floq_http_opts_t *o) {
        memset(o, 0, sizeof(*o));
        o->what = "airflow";
        o->timeout_ms = timeout_ms > 0 ? timeout_ms : ab->timeout_ms;
        o->max_retries = ab->retries > 0 ? ab->retries : -1;
        o->ca_file = ab->ca_file;
        o->bearer = token;
}

/*
 * A fresh JWT from POST /auth/token, with the credentials of
 * airflow.auth.file. On success *tokp is malloc()ed (the caller wipes it)
 * and *expp its expiry (wall seconds, 0 unknown).
 */
static floq_err_t fetch_token(airflow_backend_t *ab, long timeout_ms,
                              int retries, char **tokp, int64_t *expp,
                              char *errstr, size_t errstr_size) {
        char *cred = NULL, *url = NULL, *colon = NULL;
        json_t *body = NULL;
        floq_http_opts_t o;
        floq_http_resp_t resp = { 0 };
        const char *tok;
        floq_err_t err = FLOQ_OK;

        *tokp = NULL;
        *expp = 0;
        if ((err = floq_secret_read(ab->auth_file, "airflow",
                                    "airflow.auth.file", &cred, errstr,
                                    errstr_size)))
                goto out;
        if (!(colon = strchr(cred, ':')) || colon == cred) {
                colon = NULL;
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "airflow: airflow.auth.file '%s' must hold "
                                  "one line 'username:password'",
                                  ab->auth_file);
                goto out;
        }
        *colon = '\0';
        body = json_pack("{s:s,s:s}", "username", cred, "password",
                         colon + 1);
        if (!body || asprintf(&url, "%s/auth/token", ab->api_url) < 0) {
                url = NULL;
                err = FLOQ_ERR_NOMEM;
                goto out;
        }
        call_opts(ab, NULL, timeout_ms, &o);
        o.max_retries = retries;
        if ((err = floq_http_request(&o, "POST", url, body, &resp, errstr,
                                     errstr_size))) {
                if (err == FLOQ_ERR_UNAUTHORIZED)
                        floq_seterr(errstr, errstr_size, err,
                                    "airflow: POST /auth/token: %ld: the "
                                    "credentials were refused (check "
                                    "airflow.auth.file)",
                                    resp.status);
                goto out;
        }
        tok = json_string_value(json_object_get(resp.json, "access_token"));
        if (!tok) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "airflow: POST /auth/token: %ld: no "
                                  "access_token in the answer",
                                  resp.status);
                goto out;
        }
        if (!(*tokp = strdup(tok))) {
                err = FLOQ_ERR_NOMEM;
                goto out;
        }
        *expp = jwt_exp(tok);
out:
        if (body) {
                /* the password is in it: wipe before freeing */
                json_t *pw = json_object_get(body, "password");

                if (pw)
                        json_string_set(pw, "");
                json_decref(body);
        }
        if (resp.body)
                memset(resp.body, 0, resp.len);
        floq_http_resp_release(&resp);
        if (colon)
                *colon = ':'; /* so the password is wiped too */
        floq_secret_free(cred);
        free(url);
        return err;
}

/* The current token (a malloc()ed copy the caller wipes; NULL with
 * FLOQ_OK when no auth file is configured), fetched when there is none,
 * it expires within AF_TOKEN_EARLY_S or @p force is set. */
static floq_err_t get_token(airflow_backend_t *ab, int force, long timeout_ms,
                            int retries, char **tokp, char *errstr,
                            size_t errstr_size) {
        floq_err_t err = FLOQ_OK;
        char *tok = NULL;
        int64_t exp = 0;

        *tokp = NULL;
        if (!ab->auth_file || ab->api_version == 1)
                return FLOQ_OK; /* Airflow 2: basic auth, see af_call() */
        pthread_mutex_lock(&ab->lock);
        if (ab->token && !force &&
            (!ab->token_exp ||
             (int64_t)time(NULL) < ab->token_exp - AF_TOKEN_EARLY_S)) {
                *tokp = strdup(ab->token);
                pthread_mutex_unlock(&ab->lock);
                return *tokp ? FLOQ_OK : FLOQ_ERR_NOMEM;
        }
        pthread_mutex_unlock(&ab->lock);
        /* Fetch outside the lock: a slow server delays no other attempt's
         * poll that still has a valid token. */
        if ((err = fetch_token(ab, timeout_ms, retries, &tok, &exp, errstr,
                               errstr_size)))
                return err;
        pthread_mutex_lock(&ab->lock);
        floq_secret_free(ab->token);
        ab->token = strdup(tok);
        ab->token_exp = exp;
        pthread_mutex_unlock(&ab->lock);
        *tokp = tok;
        return FLOQ_OK;
}

/*
 * @p method {airflow.api.url}@p path with @p body, authenticated; a 401
 * fetches a new token and tries once more. @p timeout_ms 0: http.timeout.ms;
 * @p retries -1: none, else the adapter's retries. Returns as
 * floq_http_request().
 */
static floq_err_t af_call(airflow_backend_t *ab, const char *method,
                          const char *path, const json_t *body,
                          long timeout_ms, int retries,
                          floq_http_resp_t *resp, char *errstr,
                          size_t errstr_size) {
        floq_http_opts_t o;
        char *url = NULL, *tok = NULL, *basic = NULL;
        floq_err_t err;
        int tries;

        if (!ab->api_url)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "airflow: airflow.api.url is not set");
        if (asprintf(&url, "%s%s", ab->api_url, path) < 0)
                return FLOQ_ERR_NOMEM;
        /* Airflow 2: "username:password" as basic auth, read afresh */
        if (ab->api_version == 1 &&
            (err = floq_secret_read(ab->auth_file, "airflow",
                                    "airflow.auth.file", &basic, errstr,
                                    errstr_size))) {
                free(url);
                return err;
        }
        for (tries = 0;; tries++) {
                if ((err = get_token(ab, tries > 0, timeout_ms, retries, &tok,
                                     errstr, errstr_size)))
                        break;
                call_opts(ab, tok, timeout_ms, &o);
                o.basic = basic;
                if (retries < 0)
                        o.max_retries = -1;
                floq_http_resp_release(resp);
                err = floq_http_request(&o, method, url, body, resp, errstr,
                                        errstr_size);
                floq_secret_free(tok);
                tok = NULL;
                if (err != FLOQ_ERR_UNAUTHORIZED || resp->status != 401 ||
                    !ab->auth_file || ab->api_version == 1 || tries > 0)
                        break;
        }
        floq_secret_free(basic);
        free(url);
        return err;
}

/* 1 when @p id is a plain DAG id (Airflow's own alphabet), safe as a path
 * segment. */
static int dag_id_ok(const char *id) {
        size_t i;

        /* no ".." either: the id is a path segment of calls made with
         * the worker's token */
        if (!id || !*id || strlen(id) > 250 || id[0] == '.' ||
            strstr(id, ".."))
                return 0;
        for (i = 0; id[i]; i++) {
                char c = id[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                      c == '.'))
                        return 0;
        }
        return 1;
}

/* ------------------------------------------------------------- deploy */

/* The message of the import error of DAG @p dag (its file), best effort. */
static void import_error_of(airflow_backend_t *ab, const json_t *dag,
                            long timeout_ms, char *out, size_t out_size) {
        floq_http_resp_t resp = { 0 };
        char err[512], path[64];
        const char *rel = json_string_value(json_object_get(dag,
                                                            "relative_fileloc"));
        const char *loc = json_string_value(json_object_get(dag, "fileloc"));
        json_t *e;
        size_t i;

        snprintf(out, out_size, "see Airflow's import errors");
        snprintf(path, sizeof(path), "%s/importErrors?limit=100", ab->api);
        if (af_call(ab, "GET", path, NULL, timeout_ms, -1, &resp, err,
                    sizeof(err)))
                goto out;
        json_array_foreach(json_object_get(resp.json, "import_errors"), i, e) {
                const char *fn = json_string_value(json_object_get(e,
                                                                   "filename"));
                const char *st = json_string_value(json_object_get(e,
                                                                   "stack_trace"));
                size_t n;

                if (!fn || !st ||
                    !((rel && strstr(fn, rel)) || (loc && !strcmp(fn, loc))))
                        continue;
                /* the last line of the trace says what is wrong */
                n = strlen(st);
                while (n && (st[n - 1] == '\n' || st[n - 1] == ' '))
                        n--;
                i = n;
                while (i && st[i - 1] != '\n')
                        i--;
                snprintf(out, out_size, "%s: %.*s", fn, (int)(n - i), st + i);
                break;
        }
out:
        floq_http_resp_release(&resp);
}

/*
 * The DAG exists, has no import errors, and is unpaused (or gets unpaused
 * when @p unpause is 1; -1: paused or not does not matter). @p timeout_ms
 * bounds each call.
 */
static floq_err_t check_dag(airflow_backend_t *ab, const char *dag_id,
                            int unpause, long timeout_ms, int retries,
                            char *errstr, size_t errstr_size) {
        floq_http_resp_t resp = { 0 };
        char path[320], ierr[512];
        json_t *patch = NULL;
        floq_err_t err;

        snprintf(path, sizeof(path), "%s/dags/%s", ab->api, dag_id);
        err = af_call(ab, "GET", path, NULL, timeout_ms, retries, &resp,
                      errstr, errstr_size);
        if (err == FLOQ_ERR_NOT_FOUND) {
                err = floq_seterr(errstr, errstr_size, err,
                                  "airflow: unknown DAG '%s' (GET %s: 404): "
                                  "check the DAG id and that its file is in "
                                  "the dags folder",
                                  dag_id, path);
                goto out;
        }
        if (err)
                goto out;
        if (json_is_true(json_object_get(resp.json, "has_import_errors"))) {
                import_error_of(ab, resp.json, timeout_ms, ierr,
                                sizeof(ierr));
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                  "airflow: DAG '%s' has import errors: %s",
                                  dag_id, ierr);
                goto out;
        }
        if (unpause < 0 ||
            !json_is_true(json_object_get(resp.json, "is_paused")))
                goto out;
        if (!unpause) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                  "airflow: DAG '%s' is paused: unpause it "
                                  "in Airflow or deploy with "
                                  "\"unpause\": true",
                                  dag_id);
                goto out;
        }
        patch = json_pack("{s:b}", "is_paused", 0);
        err = af_call(ab, "PATCH", path, patch, timeout_ms, retries, &resp,
                      errstr, errstr_size);
out:
        json_decref(patch);
        floq_http_resp_release(&resp);
        return err;
}

static floq_err_t af_deploy(floq_backend_t *be, const char *deployment,
                            json_t *spec, char *errstr, size_t errstr_size) {
        airflow_backend_t *ab = (airflow_backend_t *)be;
        const char *dag_id = json_string_value(json_object_get(spec,
                                                               "dag_id"));
        json_t *v;

        (void)deployment;
        if (!dag_id_ok(dag_id))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.dag_id is required: a DAG id of "
                                   "[A-Za-z0-9_.-]");
        v = json_object_get(spec, "unpause");
        if (v && !json_is_boolean(v))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.unpause must be true or false");
        v = json_object_get(spec, "conf");
        if (v && !json_is_object(v))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.conf must be an object");
        v = json_object_get(spec, "poll_interval_ms");
        if (v && (!json_is_integer(v) ||
                  json_integer_value(v) < AF_POLL_MS_MIN))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.poll_interval_ms must be an integer "
                                   ">= %d",
                                   AF_POLL_MS_MIN);
        return check_dag(ab, dag_id,
                         json_is_true(json_object_get(spec, "unpause")),
                         AF_CALL_MS, -1, errstr, errstr_size);
}

/* ------------------------------------------------------------- attempts */

static void attempt_free(af_attempt_t *a) {
        if (!a)
                return;
        free(a->dag_id);
        free(a->run_path);
        free(a->url);
        free(a);
}

/* conf of the DAG run: spec.conf (templates expanded) overlaid by the
 * run's params. */
static json_t *run_conf(const floq_run_req_t *req, char *errstr,
                        size_t errstr_size) {
        json_t *conf = json_object(), *v;
        const char *k;

        json_object_foreach((json_t *)json_object_get(req->spec, "conf"), k,
                            v) {
                char *s = NULL;

                if (json_is_string(v)) {
                        if (floq_tpl_expand(json_string_value(v), req->params,
                                            &s, errstr, errstr_size)) {
                                json_decref(conf);
                                return NULL;
                        }
                        json_object_set_new(conf, k, json_string(s));
                        free(s);
                } else {
                        json_object_set(conf, k, v);
                }
        }
        if (json_is_object(req->params))
                json_object_update(conf, (json_t *)req->params);
        return conf;
}

/* A new attempt tracking DAG run @p dag_run_id of @p dag_id (both
 * checked by the caller); NULL when out of memory. */
static af_attempt_t *attempt_new(const airflow_backend_t *ab,
                                 const floq_run_req_t *req, const char *dag_id,
                                 const char *dag_run_id) {
        af_attempt_t *a = calloc(1, sizeof(*a));
        int64_t poll_ms;

        if (!a)
                return NULL;
        snprintf(a->run_id, sizeof(a->run_id), "%s", dag_run_id);
        if (asprintf(&a->run_path, "%s/dags/%s/dagRuns/%s", ab->api, dag_id,
                     a->run_id) < 0)
                a->run_path = NULL;
        /* the run's page: Airflow 3's UI, or Airflow 2's grid view */
        if (asprintf(&a->url,
                     ab->api_version == 1 ? "%s/dags/%s/grid?dag_run_id=%s"
                                          : "%s/dags/%s/runs/%s",
                     ab->ui_url ? ab->ui_url : "", dag_id, a->run_id) < 0)
                a->url = NULL;
        if (!(a->dag_id = strdup(dag_id)) || !a->run_path || !a->url) {
                attempt_free(a);
                return NULL;
        }
        poll_ms = json_integer_value(json_object_get(req->spec,
                                                     "poll_interval_ms"));
        floq_poller_init(&a->poll, poll_ms < AF_POLL_MS_MIN ? ab->poll_ms
                                                            : poll_ms);
        return a;
}

/* Tracked from here on: start() and attach() end with this once the
 * remote run is known (floq_poller_track()). */
static void attempt_track(af_attempt_t *a) {
        floq_poller_track(&a->poll, poll_step, stop_step, a->run_id, a->url,
                          "DAG run", a->run_id);
}

static floq_err_t af_start(floq_backend_t *be, const floq_run_req_t *req,
                           floq_attempt_t **attp, char *errstr,
                           size_t errstr_size) {
        airflow_backend_t *ab = (airflow_backend_t *)be;
        const char *dag_id = json_string_value(json_object_get(req->spec,
                                                               "dag_id"));
        af_attempt_t *a = NULL;
        json_t *body = NULL, *conf = NULL;
        floq_http_resp_t resp = { 0 };
        char path[320], msg[512], dag_run_id[160];
        floq_err_t err = FLOQ_OK;

        *attp = NULL;
        if (!dag_id_ok(dag_id)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                  "spec.dag_id is required");
                goto out;
        }
        snprintf(dag_run_id, sizeof(dag_run_id), "%s-%d", req->run_id,
                 req->attempt);
        if (!(a = attempt_new(ab, req, dag_id, dag_run_id))) {
                err = FLOQ_ERR_NOMEM;
                goto out;
        }
        if (!(conf = run_conf(req, errstr, errstr_size))) {
                err = FLOQ_ERR_INVALID_ARG;
                goto out;
        }
        /* Airflow 3 needs logical_date (null: a manual run). Airflow 2 is
         * sent no date: it sets the run's execution_date to now, unique
         * to the microsecond (a date floq chose could collide). */
        if (ab->api_version == 1)
                body = json_pack("{s:s,s:O}", "dag_run_id", a->run_id, "conf",
                                 conf);
        else
                body = json_pack("{s:s,s:n,s:O}", "dag_run_id", a->run_id,
                                 "logical_date", "conf", conf);
        snprintf(path, sizeof(path), "%s/dags/%s/dagRuns", ab->api, dag_id);
        err = af_call(ab, "POST", path, body, 0, 0, &resp, msg, sizeof(msg));
        if (err == FLOQ_ERR_EXISTS) {
                /* A repeat (a retried call, a restarted attempt): the
                 * dag_run_id names the run already triggered. */
                err = FLOQ_OK;
        } else if (err) {
                floq_seterr(errstr, errstr_size, err, "%s", msg);
                goto out;
        }
out:
        floq_http_resp_release(&resp);
        json_decref(body);
        json_decref(conf);
        if (err) {
                attempt_free(a);
                return err;
        }
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

/* The ids of the task instances of the run in @p state, comma-separated
 * into @p out ("" when none or unknown); their count, -1 when the call
 * failed. */
static int tasks_in(airflow_backend_t *ab, af_attempt_t *a, const char *state,
                    char *out, size_t out_size) {
        floq_http_resp_t resp = { 0 };
        char path[512], err[512];
        json_t *ti;
        size_t i, o = 0;
        int n = 0;

        out[0] = '\0';
        snprintf(path, sizeof(path), "%s/taskInstances?%s&limit=100",
                 a->run_path, state);
        if (af_call(ab, "GET", path, NULL, 0, 0, &resp, err, sizeof(err))) {
                n = -1;
                goto out;
        }
        json_array_foreach(json_object_get(resp.json, "task_instances"), i,
                           ti) {
                const char *id = json_string_value(json_object_get(ti,
                                                                   "task_id"));
                int w;

                if (!id)
                        continue;
                n++;
                w = snprintf(out + o, out_size - o, "%s%s", o ? "," : "", id);
                if (w < 0 || (size_t)w >= out_size - o)
                        break;
                o += (size_t)w;
        }
out:
        floq_http_resp_release(&resp);
        return n;
}

/* The run's state from GET run_path into @p state; FLOQ_OK or the
 * adapter's error (message in @p err). A poll's call is bounded by four
 * poll intervals (a slow answer is retried at the next poll); @p once (an
 * attach, made once on takeover) has the whole http.timeout.ms. */
static floq_err_t run_state(airflow_backend_t *ab, af_attempt_t *a,
                            int once, char *state, size_t state_size,
                            char *err, size_t err_size) {
        floq_http_resp_t resp = { 0 };
        floq_err_t e;
        const char *s;
        long bound = !once && a->poll.poll_ms * 4 < ab->timeout_ms
                             ? (long)a->poll.poll_ms * 4
                             : 0;

        state[0] = '\0';
        e = af_call(ab, "GET", a->run_path, NULL, bound, 0, &resp, err,
                    err_size);
        if (!e) {
                s = json_string_value(json_object_get(resp.json, "state"));
                snprintf(state, state_size, "%s", s ? s : "");
        }
        floq_http_resp_release(&resp);
        return e;
}

/* Count an unreachable poll; 1 (and @p res set LOST) once the bound is
 * past. */
static int unreachable(airflow_backend_t *ab, af_attempt_t *a,
                       const char *err, floq_run_result_t *res) {
        int64_t now = floq_mono_ms();

        if (!a->poll.unreachable_since)
                a->poll.unreachable_since = now;
        snprintf(a->last_error, sizeof(a->last_error), "%s", err);
        if (now - a->poll.unreachable_since < ab->unreachable_ms)
                return 0;
        floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->run_id,
                             "status unknown for %lld ms "
                             "(airflow.unreachable.ms): %s",
                             (long long)(now - a->poll.unreachable_since),
                             a->last_error);
        return 1;
}

/* One poll of a running DAG run: 1 with @p res filled when it ended. A
 * DAG run queued for longer than airflow.queued.timeout.ms is stopped
 * (the stop path, as a timeout). */
static int poll_running(airflow_backend_t *ab, af_attempt_t *a,
                        floq_run_result_t *res) {
        char state[32], err[512], ids[400];
        floq_err_t e;
        int n;

        e = run_state(ab, a, 0, state, sizeof(state), err, sizeof(err));
        if (e == FLOQ_ERR_NOT_FOUND) {
                floq_run_result_setf(res, FLOQ_OUTCOME_FAILED, a->run_id,
                                     "the DAG run is gone (deleted in "
                                     "Airflow?): %s",
                                     err);
                return 1;
        }
        if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT ||
            e == FLOQ_ERR_BACKEND)
                return unreachable(ab, a, err, res);
        if (e) {
                /* refused (401, 403, ...): nothing says the run ended, and
                 * a retry would run a second one beside it (G2) */
                floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->run_id,
                                     "status unknown: %s: the DAG run may "
                                     "still run",
                                     err);
                return 1;
        }
        a->poll.unreachable_since = 0;
        if (!strcmp(state, "success")) {
                floq_run_result_setf(res, FLOQ_OUTCOME_SUCCEEDED, a->run_id,
                                     NULL);
                return 1;
        }
        if (!strcmp(state, "failed")) {
                n = tasks_in(ab, a, "state=failed&state=upstream_failed", ids,
                             sizeof(ids));
                if (n > 0)
                        floq_run_result_setf(res, FLOQ_OUTCOME_FAILED,
                                             a->run_id,
                                             "DAG run '%s' failed: task%s %s "
                                             "failed",
                                             a->run_id, n > 1 ? "s" : "", ids);
                else
                        floq_run_result_setf(res, FLOQ_OUTCOME_FAILED,
                                             a->run_id, "DAG run '%s' failed",
                                             a->run_id);
                return 1;
        }
        if (!strcmp(state, "queued")) {
                int64_t now = floq_mono_ms();

                if (!a->queued_since)
                        a->queued_since = now;
                if (ab->queued_timeout_ms > 0 &&
                    now - a->queued_since >= ab->queued_timeout_ms) {
                        snprintf(a->timeout_note, sizeof(a->timeout_note),
                                 "DAG run '%s' was still queued after %lld "
                                 "ms (airflow.queued.timeout.ms); ",
                                 a->run_id,
                                 (long long)(now - a->queued_since));
                        floq_poller_stop(&a->poll, FLOQ_STOP_TIMEOUT);
                }
                return 0;
        }
        if (!strcmp(state, "running")) {
                a->queued_since = 0;
                return 0;
        }
        /* Not a state floq knows: nothing says the run ended (G2). */
        floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->run_id,
                             "DAG run '%s' in unknown state '%s': it may "
                             "still run",
                             a->run_id, state);
        return 1;
}

/* Mark the DAG run failed (the stop); the note says how it went. */
static void stop_remote(airflow_backend_t *ab, af_attempt_t *a) {
        floq_http_resp_t resp = { 0 };
        json_t *body = json_pack("{s:s}", "state", "failed");
        char err[512];

        a->phase = AF_STOPPING;
        a->stop_deadline = floq_mono_ms() + ab->stop_wait_ms;
        a->stop_note[0] = '\0';
        if (af_call(ab, "PATCH", a->run_path, body, 0, 0, &resp, err,
                    sizeof(err)))
                snprintf(a->stop_note, sizeof(a->stop_note),
                         "marking the DAG run failed did not work: %s", err);
        floq_http_resp_release(&resp);
        json_decref(body);
}

/* One poll of a stopping DAG run: 1 with @p res filled when the run and
 * its task instances are no longer running, or the bound is past. The
 * reason starts with a->timeout_note (why floq stopped it, if not asked). */
static int poll_stopping(airflow_backend_t *ab, af_attempt_t *a,
                         floq_run_result_t *res) {
        floq_outcome_t outcome = a->stop_why_seen == FLOQ_STOP_TIMEOUT
                                         ? FLOQ_OUTCOME_TIMED_OUT
                                         : FLOQ_OUTCOME_CANCELLED;
        const char *tn = a->timeout_note;
        char state[32], err[512], ids[400];
        int n;
        floq_err_t e;

        e = run_state(ab, a, 0, state, sizeof(state), err, sizeof(err));
        if (e == FLOQ_ERR_NOT_FOUND) {
                floq_run_result_setf(res, outcome, a->run_id,
                                     "%sstopped: the DAG run is gone from "
                                     "Airflow",
                                     tn);
                return 1;
        }
        if (e) {
                if (floq_mono_ms() < a->stop_deadline)
                        return 0;
                /* A timeout that cannot be known to have ended the run is
                 * LOST: a retry would run a second DAG run beside it. */
                floq_run_result_setf(res,
                                     a->stop_why_seen == FLOQ_STOP_TIMEOUT
                                             ? FLOQ_OUTCOME_LOST
                                             : outcome,
                                     a->run_id,
                                     "%sstopped, but whether the DAG run "
                                     "ended is unknown (%s%s%s)",
                                     tn, a->stop_note,
                                     a->stop_note[0] ? "; " : "", err);
                return 1;
        }
        n = tasks_in(ab, a, "state=running&state=queued&state=scheduled"
                            "&state=restarting&state=deferred"
                            "&state=up_for_retry",
                     ids, sizeof(ids));
        if (strcmp(state, "queued") && strcmp(state, "running") && n == 0) {
                floq_run_result_setf(res, outcome, a->run_id,
                                     "%sstopped: DAG run '%s' is %s and none "
                                     "of its task instances is running%s%s",
                                     tn, a->run_id, state,
                                     a->stop_note[0] ? "; " : "",
                                     a->stop_note);
                return 1;
        }
        if (!strcmp(state, "queued") || !strcmp(state, "running")) {
                /* Airflow brought the run back (or the PATCH was lost):
                 * mark it failed again. */
                floq_http_resp_t resp = { 0 };
                json_t *body = json_pack("{s:s}", "state", "failed");

                af_call(ab, "PATCH", a->run_path, body, 0, 0, &resp, err,
                        sizeof(err));
                floq_http_resp_release(&resp);
                json_decref(body);
        }
        if (floq_mono_ms() < a->stop_deadline)
                return 0;
        /* still active: as above, a timeout is LOST, not retried */
        floq_run_result_setf(res,
                             a->stop_why_seen == FLOQ_STOP_TIMEOUT
                                     ? FLOQ_OUTCOME_LOST
                                     : outcome,
                             a->run_id,
                             "%sstop requested, but after %lld ms "
                             "(airflow.stop.wait.ms) DAG run '%s' is %s with "
                             "task instances still active: %s",
                             tn, (long long)ab->stop_wait_ms, a->run_id,
                             state, n < 0 ? "(unknown)" : ids);
        return 1;
}

/* A poll of the running DAG run. */
static void poll_step(floq_backend_t *be, af_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        (void)why;
        *donep = poll_running((airflow_backend_t *)be, a, res);
}

/* The stop path: the first step marks the DAG run failed, every step
 * polls it and its task instances. */
static void stop_step(floq_backend_t *be, af_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        airflow_backend_t *ab = (airflow_backend_t *)be;

        if (a->phase == AF_RUNNING) {
                a->stop_why_seen = why;
                stop_remote(ab, a);
        }
        *donep = poll_stopping(ab, a, res);
}

/*
 * Re-attach to DAG run @p ref of the spec's DAG: GET it, and track it as
 * af_start() would have (never a POST, so never a second DAG run). @p ref
 * is the dag_run_id; an older worker stored the UI page of the run
 * (".../dags/{dag}/runs/{dag_run_id}"), whose last segment is taken.
 * FLOQ_ERR_NOT_FOUND when Airflow answers 404 (the run was deleted);
 * the adapter's retriable errors when Airflow is unreachable.
 */
static floq_err_t af_attach(floq_backend_t *be, const floq_run_req_t *req,
                            const char *ref, floq_attempt_t **attp,
                            char *errstr, size_t errstr_size) {
        airflow_backend_t *ab = (airflow_backend_t *)be;
        const char *dag_id = json_string_value(json_object_get(req->spec,
                                                               "dag_id"));
        const char *slash = ref ? strrchr(ref, '/') : NULL;
        const char *dag_run_id = slash ? slash + 1 : ref;
        char state[32], msg[512];
        af_attempt_t *a;
        floq_err_t err;

        *attp = NULL;
        if (!dag_id_ok(dag_id))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "airflow: the deployment no longer names "
                                   "the DAG (spec.dag_id) of DAG run '%s'",
                                   ref ? ref : "");
        if (!dag_run_id || !dag_id_ok(dag_run_id) ||
            strlen(dag_run_id) >= sizeof(a->run_id))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "airflow: '%.200s' is not a dag_run_id",
                                   ref ? ref : "");
        if (!(a = attempt_new(ab, req, dag_id, dag_run_id)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if ((err = run_state(ab, a, 1, state, sizeof(state), msg,
                               sizeof(msg)))) {
                floq_seterr(errstr, errstr_size, err, "%s", msg);
                attempt_free(a);
                return err;
        }
        floq_info("airflow", "run %s attempt %d: re-attached to DAG run %s "
                             "(%s)",
                  req->run_id, req->attempt, a->run_id, state);
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

static void af_attempt_destroy(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        attempt_free(att);
}

/* Airflow 2: one authenticated call (GET /api/v1/dags?limit=1), so
 * refused credentials are their own message. */
static floq_err_t check_basic(airflow_backend_t *ab, char *errstr,
                              size_t errstr_size) {
        floq_http_resp_t resp = { 0 };
        char err[512];
        floq_err_t e;

        e = af_call(ab, "GET", "/api/v1/dags?limit=1", NULL, AF_CALL_MS, -1,
                    &resp, err, sizeof(err));
        floq_http_resp_release(&resp);
        if (e == FLOQ_ERR_UNAUTHORIZED)
                return floq_seterr(errstr, errstr_size, e,
                                   "%s: the credentials were refused (check "
                                   "airflow.auth.file)",
                                   err);
        if (e)
                return floq_seterr(errstr, errstr_size, e, "%s", err);
        return FLOQ_OK;
}

/*
 * Within 10 s: the server answers (GET /api/v2/version), the credentials
 * give a token, and the spec's DAG, when one is named, is known and
 * healthy. Each failure its own message.
 */
static floq_err_t af_validate(floq_backend_t *be, const json_t *spec,
                              char *errstr, size_t errstr_size) {
        airflow_backend_t *ab = (airflow_backend_t *)be;
        const char *dag_id = json_string_value(json_object_get(spec,
                                                               "dag_id"));
        floq_http_opts_t o;
        floq_http_resp_t resp = { 0 };
        char *url = NULL, *tok = NULL, err[512];
        floq_err_t e;

        if (!ab->api_url)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "airflow: airflow.api.url is not set");
        if (asprintf(&url, "%s%s/version", ab->api_url, ab->api) < 0)
                return FLOQ_ERR_NOMEM;
        call_opts(ab, NULL, AF_CALL_MS, &o);
        o.connect_timeout_ms = AF_CALL_MS;
        o.max_retries = -1;
        e = floq_http_request(&o, "GET", url, NULL, &resp, err, sizeof(err));
        floq_http_resp_release(&resp);
        free(url);
        if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT) {
                e = floq_seterr(errstr, errstr_size, e,
                                "%s (is Airflow's api-server running at "
                                "airflow.api.url '%s'?)",
                                err, ab->api_url);
                goto out;
        }
        if (e && e != FLOQ_ERR_UNAUTHORIZED) {
                e = floq_seterr(errstr, errstr_size, e,
                                "%s (is airflow.api.url '%s' an Airflow %d "
                                "api-server? airflow.api.version is %d)",
                                err, ab->api_url, ab->api_version + 1,
                                ab->api_version);
                goto out;
        }
        if ((e = get_token(ab, 1, AF_CALL_MS, -1, &tok, errstr,
                           errstr_size)))
                goto out;
        if (ab->api_version == 1 && ab->auth_file &&
            (e = check_basic(ab, errstr, errstr_size)))
                goto out;
        if (dag_id && !dag_id_ok(dag_id)) {
                e = floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                "spec.dag_id '%s' is not a DAG id", dag_id);
                goto out;
        }
        if (dag_id)
                e = check_dag(ab, dag_id, -1, AF_CALL_MS, -1, errstr,
                              errstr_size);
out:
        floq_secret_free(tok);
        return e;
}

const floq_backend_ops_t floq_backend_airflow = {
        .name = "airflow",
        .outlives_worker = 1,
        .new_ = af_new,
        .destroy = af_destroy,
        .deploy = af_deploy,
        .start = af_start,
        .wait = floq_remote_wait,
        .stop = floq_remote_stop,
        .ref = floq_remote_ref,
        .url = floq_remote_url,
        .attach = af_attach,
        .attempt_destroy = af_attempt_destroy,
        .validate = af_validate,
};
