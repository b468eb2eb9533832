/*
 * dagster.c - the Dagster backend over the webserver's GraphQL API
 * ({dagster.url}/graphql, the same for a Dagster+ deployment): a floq
 * deployment names a job by its selector (spec.repository_location,
 * spec.repository, spec.job); deploy() checks that the job exists
 * (pipelineOrError). An attempt is one Dagster run: launchRun with the
 * selector, the spec's run_config (its strings are `{param}` templates
 * filled from the run's params) and the tags floq/attempt = "<run id>-
 * <attempt>", floq/run_id and floq/deployment. Dagster has no idempotency
 * key, so the tag is the handle: start() first looks the attempt up by its
 * tag (runsOrError with a tag filter) and adopts a run found there, and a
 * launchRun whose answer was lost is looked up again before it is tried
 * once more; so an attempt makes one Dagster run whatever fails between
 * the launch and its answer, or when the next owner starts or attaches to
 * the attempt after a handover or a crash.
 * The attempt's reference (ref(), stored in the RunState as backend_ref)
 * is the run's page {dagster.url}/runs/{runId}, so the worker's reply
 * names it as the run's url; attach() reads the run id back from it.
 *
 * wait() polls runOrError and maps the run's status (table in
 * docs/backends.md, "The dagster backend"); the reason of a FAILURE is the
 * failure events of the run's log. stop() sends terminateRun, then polls
 * until the run is really CANCELED (or has ended otherwise); if it is not
 * after dagster.stop.wait.ms the run is marked canceled at once
 * (MARK_AS_CANCELED_IMMEDIATELY) and the reason says so. Every answer's
 * __typename is checked: Dagster says most errors with HTTP 200
 * (PythonError, RunConfigValidationInvalid, PipelineNotFoundError, ...).
 *
 * The optional Dagster+ API token (Dagster-Cloud-Api-Token header) comes
 * from dagster.api.token.file (read at each call, so it can rotate) or the
 * environment variable dagster.api.token.env names, never from a command,
 * and goes only to dagster.url; it is cut out of every message a server
 * might echo it in. A server unreachable for dagster.unreachable.ms ends
 * the run LOST with the last error; a run deleted from outside ends it
 * FAILED.
 *
 * Threads: start()/attach(), wait() and attempt_destroy() of an attempt run
 * on its executor thread; stop() may come from any thread and only sets a
 * flag that wait() acts on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_int.h"

#define DG_VALIDATE_MS 10000
#define DG_DEPLOY_MS   5000
#define DG_POLL_MS_MIN 100
#define DG_ID_MAX      64
#define DG_TAG_ATTEMPT "floq/attempt"
#define DG_LOG_PAGES   20  /* logsForRun pages read for a failure reason */
#define DG_LOG_PAGE    500 /* events per page */
#define DG_DEFAULT_REPO "__repository__"

typedef struct dagster_backend_s {
        floq_backend_t base;
        char *url;        /**< dagster.url without a trailing '/' */
        char *gql;        /**< {url}/graphql */
        char *token_file; /**< NULL: none */
        char *token_env;  /**< NULL: none */
        char *ca_file;
        long timeout_ms;
        int retries;
        int64_t poll_ms;
        int64_t unreachable_ms;
        int64_t stop_wait_ms;
} dagster_backend_t;

typedef struct floq_attempt_s {
        floq_poller_t poll; /**< first: floq_remote_stop() finds it */
        char tag[128];             /**< floq/attempt: run id + attempt */
        char ref[DG_ID_MAX];       /**< the Dagster run id */
        char *url;                 /**< {url}/runs/{ref} */
        char last_error[800];
        int terminate_sent;
        int64_t stop_deadline;     /**< mono ms: mark canceled after */
        char stop_note[512];       /**< what terminateRun answered */
} dg_attempt_t;

/* An attempt's poll and its stop path, for floq_remote_wait(). */
static void poll_once(floq_backend_t *be, dg_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);
static void stop_step(floq_backend_t *be, dg_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);

/* ------------------------------------------------------------ instance */

static void dg_destroy(floq_backend_t *be) {
        dagster_backend_t *db = (dagster_backend_t *)be;

        if (!db)
                return;
        free(db->url);
        free(db->gql);
        free(db->token_file);
        free(db->token_env);
        free(db->ca_file);
        free(db);
}

static floq_backend_t *dg_new(const floq_conf_t *conf, char *errstr,
                              size_t errstr_size) {
        dagster_backend_t *db = calloc(1, sizeof(*db));

        if (!db) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        db->base.ops = &floq_backend_dagster;
        db->url = floq_conf_url_dup(conf, "dagster.url");
        if (!db->url || (strncmp(db->url, "http://", 7) &&
                         strncmp(db->url, "https://", 8))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "dagster.url must be an http:// or https:// URL "
                            "(the webserver, e.g. http://127.0.0.1:3000)");
                goto fail;
        }
        if (asprintf(&db->gql, "%s/graphql", db->url) < 0) {
                db->gql = NULL;
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                goto fail;
        }
        db->token_file = floq_conf_str_dup(conf, "dagster.api.token.file");
        db->token_env = floq_conf_str_dup(conf, "dagster.api.token.env");
        db->ca_file = floq_conf_str_dup(conf, "dagster.ca.file");
        db->timeout_ms = (long)floq_conf_int(conf, "http.timeout.ms");
        db->retries = (int)floq_conf_int(conf, "http.retries");
        db->poll_ms = floq_conf_int(conf, "dagster.poll.interval.ms");
        if (db->poll_ms < DG_POLL_MS_MIN)
                db->poll_ms = DG_POLL_MS_MIN;
        db->unreachable_ms = floq_conf_int(conf, "dagster.unreachable.ms");
        db->stop_wait_ms = floq_conf_int(conf, "dagster.stop.wait.ms");
        if (db->token_file && db->token_env) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "set dagster.api.token.file or "
                            "dagster.api.token.env, not both");
                goto fail;
        }
        return &db->base;
fail:
        dg_destroy(&db->base);
        return NULL;
}

/* ------------------------------------------------------------- calls */

/* The token (malloc()ed, the caller wipes it; NULL when none is set). */
static floq_err_t token_get(const dagster_backend_t *db, char **tokp,
                            char *errstr, size_t errstr_size) {
        const char *v;

        *tokp = NULL;
        if (db->token_file)
                return floq_secret_read(db->token_file, "dagster",
                                        "dagster.api.token.file", tokp,
                                        errstr, errstr_size);
        if (!db->token_env)
                return FLOQ_OK;
        if (!(v = getenv(db->token_env)) || !*v)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "dagster: the environment variable '%s' "
                                   "(dagster.api.token.env) is not set",
                                   db->token_env);
        if (!(*tokp = strdup(v)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        return FLOQ_OK;
}

/* Cut every copy of @p secret out of @p s (a server may echo headers). */
static void scrub(char *s, const char *secret) {
        size_t n = secret ? strlen(secret) : 0;
        char *p;

        if (n < 4)
                return;
        while ((p = strstr(s, secret))) {
                memcpy(p, "***", 3);
                memmove(p + 3, p + n, strlen(p + n) + 1);
        }
}

/* The server's own words in a typed error object: its "message", or the
 * "errors" of RunConfigValidationInvalid joined with "; ". */
static void typed_message(const json_t *obj, char *out, size_t out_size) {
        const char *m = json_string_value(json_object_get(obj, "message"));
        const json_t *errs = json_object_get(obj, "errors"), *e;
        size_t i, n = 0;

        out[0] = '\0';
        if (m) {
                snprintf(out, out_size, "%s", m);
        } else if (json_is_array(errs)) {
                json_array_foreach(errs, i, e) {
                        const char *em = json_string_value(
                                json_object_get(e, "message"));

                        if (!em || n + 1 >= out_size)
                                continue;
                        n += (size_t)snprintf(out + n, out_size - n, "%s%s",
                                              n ? "; " : "", em);
                        if (n >= out_size)
                                n = out_size - 1;
                }
        }
        /* one line, no trailing newline (Python tracebacks end with one) */
        for (i = 0; out[i]; i++)
                if (out[i] == '\n' || out[i] == '\r' || out[i] == '\t')
                        out[i] = ' ';
        while (i > 0 && out[i - 1] == ' ')
                out[--i] = '\0';
}

/*
 * The floq error of a typed answer @p type that is not the one wanted, and
 * its message: "dagster: launchRun: RunConfigValidationInvalid: ... (hint)".
 */
static floq_err_t typed_err(const char *op, const char *type,
                            const json_t *obj, char *errstr,
                            size_t errstr_size) {
        static const struct {
                const char *type;
                floq_err_t err;
                const char *hint;
        } map[] = {
                { "PythonError", FLOQ_ERR_BACKEND,
                  " (an error inside Dagster: see the webserver's log)" },
                { "RunConfigValidationInvalid", FLOQ_ERR_INVALID_ARG,
                  " (check spec.run_config and the run's params)" },
                { "PipelineNotFoundError", FLOQ_ERR_NOT_FOUND,
                  " (check spec.job, spec.repository and "
                  "spec.repository_location)" },
                { "RepositoryNotFoundError", FLOQ_ERR_NOT_FOUND,
                  " (check spec.repository and spec.repository_location)" },
                { "RepositoryLocationNotFound", FLOQ_ERR_NOT_FOUND,
                  " (check spec.repository_location)" },
                { "RunNotFoundError", FLOQ_ERR_NOT_FOUND, "" },
                { "InvalidSubsetError", FLOQ_ERR_INVALID_ARG,
                  " (check the job's ops and assets)" },
                { "RunConflict", FLOQ_ERR_EXISTS, "" },
                { "UnauthorizedError", FLOQ_ERR_UNAUTHORIZED,
                  " (the token lacks the permission: check "
                  "dagster.api.token.file or dagster.api.token.env)" },
        };
        char msg[600];
        size_t i;

        typed_message(obj, msg, sizeof(msg));
        for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (!strcmp(type, map[i].type))
                        return floq_seterr(errstr, errstr_size, map[i].err,
                                           "dagster: %s: %s%s%s%s", op, type,
                                           msg[0] ? ": " : "", msg,
                                           map[i].hint);
        /* InvalidStepError, PresetNotFoundError, NoModeProvidedError, ... */
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                           "dagster: %s: %s%s%s", op, type,
                           msg[0] ? ": " : "", msg);
}

/*
 * One GraphQL call: @p query with @p vars (taken: decref'd here) to
 * {url}/graphql. On FLOQ_OK *objp is data.@p op (borrowed from @p resp,
 * which the caller releases) and its __typename is @p want; any other
 * __typename is an error said by typed_err(). @p timeout_ms bounds the
 * whole call (0: http.timeout.ms); @p retries -1: none, 0: http.retries.
 * The token never reaches errstr.
 */
static floq_err_t gql(const dagster_backend_t *db, const char *op,
                      const char *want, const char *query, json_t *vars,
                      long timeout_ms, int retries, floq_http_resp_t *resp,
                      const json_t **objp, char *errstr, size_t errstr_size) {
        floq_http_opts_t o;
        const char *hdrs[2] = { NULL, NULL };
        char *tok = NULL, *hdr = NULL;
        const json_t *obj, *errs;
        const char *type;
        json_t *body = NULL;
        floq_err_t err;

        memset(&o, 0, sizeof(o));
        memset(resp, 0, sizeof(*resp));
        *objp = NULL;
        if (!vars && !(vars = json_object()))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if ((err = token_get(db, &tok, errstr, errstr_size)))
                goto out;
        if (tok && *tok) {
                if (asprintf(&hdr, "Dagster-Cloud-Api-Token: %s", tok) < 0) {
                        hdr = NULL;
                        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                          "out of memory");
                        goto out;
                }
                hdrs[0] = hdr;
        }
        body = json_pack("{s:s,s:O}", "query", query, "variables", vars);
        if (!body) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        o.what = "dagster";
        o.timeout_ms = timeout_ms > 0 ? timeout_ms : db->timeout_ms;
        o.connect_timeout_ms = o.timeout_ms < 5000 ? o.timeout_ms : 5000;
        o.max_retries = retries ? retries : (db->retries > 0 ? db->retries
                                                             : -1);
        o.ca_file = db->ca_file;
        o.headers = hdrs;
        err = floq_http_request(&o, "POST", db->gql, body, resp, errstr,
                                errstr_size);
        if (err) {
                if (err == FLOQ_ERR_UNAUTHORIZED)
                        floq_seterr(errstr, errstr_size, err,
                                    "dagster: %s: %ld: the token is refused "
                                    "(check dagster.api.token.file or "
                                    "dagster.api.token.env)",
                                    op, resp->status);
                goto out;
        }
        obj = json_object_get(json_object_get(resp->json, "data"), op);
        errs = json_object_get(resp->json, "errors");
        if (!json_is_object(obj)) {
                char msg[400] = "";

                if (json_is_array(errs))
                        typed_message(json_array_get(errs, 0), msg,
                                      sizeof(msg));
                err = floq_seterr(errstr, errstr_size,
                                  msg[0] ? FLOQ_ERR_REJECTED
                                         : FLOQ_ERR_BACKEND,
                                  "dagster: %s: %s%s", op,
                                  msg[0] ? "GraphQL error: "
                                         : "the answer is not Dagster's "
                                           "GraphQL (no data)",
                                  msg);
                goto out;
        }
        type = json_string_value(json_object_get(obj, "__typename"));
        if (!type) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "dagster: %s: the answer has no "
                                  "__typename",
                                  op);
                goto out;
        }
        if (strcmp(type, want)) {
                err = typed_err(op, type, obj, errstr, errstr_size);
                goto out;
        }
        *objp = obj;
out:
        if (err && errstr)
                scrub(errstr, tok);
        json_decref(body);
        json_decref(vars);
        floq_secret_free(hdr);
        floq_secret_free(tok);
        return err;
}

/* @p s, or @p dflt when it is NULL. */
static const char *str_or(const char *s, const char *dflt) {
        return s ? s : dflt;
}

/* 1 when @p s is a plausible Dagster run id (a UUID's characters only). */
static int id_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n && n < DG_ID_MAX &&
               s[strspn(s, "0123456789abcdefABCDEF-")] == '\0';
}

/* ------------------------------------------------------------- deploy */

static const char Q_JOB[] =
        "query FloqJob($s: PipelineSelector!) { pipelineOrError(params: $s) "
        "{ __typename ... on Pipeline { name } ... on PythonError { message } "
        "... on PipelineNotFoundError { message } ... on InvalidSubsetError "
        "{ message } } }";

/* The selector of @p spec for pipelineOrError (@p job_key "pipelineName")
 * or launchRun ("jobName"); a new reference, NULL when out of memory. */
static json_t *selector(const json_t *spec, const char *job_key) {
        const char *repo = json_string_value(json_object_get(spec,
                                                             "repository"));

        return json_pack("{s:s,s:s,s:s}", "repositoryLocationName",
                         json_string_value(json_object_get(
                                 spec, "repository_location")),
                         "repositoryName", repo ? repo : DG_DEFAULT_REPO,
                         job_key,
                         json_string_value(json_object_get(spec, "job")));
}

static const char Q_REPO[] =
        "query FloqRepo($s: RepositorySelector!) { repositoryOrError("
        "repositorySelector: $s) { __typename ... on Repository { name } "
        "... on RepositoryNotFoundError { message } ... on PythonError { "
        "message } } }";

/* 1 when the repository of @p spec is known to be missing: a job not
 * found is then said as a repository (or code location) not found. */
static int repo_missing(const dagster_backend_t *db, const json_t *spec,
                        long timeout_ms) {
        floq_http_resp_t resp;
        const json_t *obj;
        json_t *sel = json_pack(
                "{s:s,s:s}", "repositoryLocationName",
                json_string_value(json_object_get(spec,
                                                  "repository_location")),
                "repositoryName",
                json_string_value(json_object_get(spec, "repository")));
        floq_err_t e;

        if (!sel)
                return 0;
        e = gql(db, "repositoryOrError", "Repository", Q_REPO,
                json_pack("{s:o}", "s", sel), timeout_ms, -1, &resp, &obj,
                NULL, 0);
        e = e == FLOQ_ERR_NOT_FOUND && resp.status == 200;
        floq_http_resp_release(&resp);
        return (int)e;
}

/* The job of @p spec exists on the server. */
static floq_err_t check_job(const dagster_backend_t *db, const json_t *spec,
                            long timeout_ms, char *errstr,
                            size_t errstr_size) {
        floq_http_resp_t resp;
        const json_t *obj;
        json_t *sel = selector(spec, "pipelineName");
        char err[800];
        floq_err_t e;

        if (!sel)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        e = gql(db, "pipelineOrError", "Pipeline", Q_JOB,
                json_pack("{s:o}", "s", sel), timeout_ms, -1, &resp, &obj,
                err, sizeof(err));
        if (e == FLOQ_ERR_NOT_FOUND && resp.status == 200 &&
            repo_missing(db, spec, timeout_ms))
                floq_seterr(errstr, errstr_size, e,
                            "dagster: repository '%s' not found in code "
                            "location '%s' (or no such code location) on "
                            "%s: check spec.repository and "
                            "spec.repository_location",
                            json_string_value(json_object_get(spec,
                                                              "repository")),
                            json_string_value(json_object_get(
                                    spec, "repository_location")),
                            db->url);
        else if (e == FLOQ_ERR_NOT_FOUND && resp.status == 200)
                floq_seterr(errstr, errstr_size, e,
                            "dagster: job '%s' not found in repository '%s' "
                            "of code location '%s' on %s (%s)",
                            json_string_value(json_object_get(spec, "job")),
                            json_string_value(json_object_get(spec,
                                                              "repository")),
                            json_string_value(json_object_get(
                                    spec, "repository_location")),
                            db->url, err);
        else if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT)
                floq_seterr(errstr, errstr_size, e,
                            "%s (is the Dagster webserver at dagster.url %s "
                            "up?)",
                            err, db->url);
        else if (e)
                floq_seterr(errstr, errstr_size, e, "%s", err);
        floq_http_resp_release(&resp);
        return e;
}

/* Check every string of @p v (run_config, tags) as a template. */
static floq_err_t check_templates(const json_t *v, const char *where,
                                  char *errstr, size_t errstr_size) {
        const char *k;
        const json_t *x;
        size_t i;
        char err[256];

        if (json_is_string(v)) {
                if (floq_tpl_check(json_string_value(v), err, sizeof(err)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG, "%s: %s",
                                           where, err);
        } else if (json_is_object(v)) {
                json_object_foreach((json_t *)v, k, x)
                        if (check_templates(x, where, errstr, errstr_size))
                                return FLOQ_ERR_INVALID_ARG;
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, x)
                        if (check_templates(x, where, errstr, errstr_size))
                                return FLOQ_ERR_INVALID_ARG;
        }
        return FLOQ_OK;
}

static floq_err_t dg_deploy(floq_backend_t *be, const char *deployment,
                            json_t *spec, char *errstr, size_t errstr_size) {
        dagster_backend_t *db = (dagster_backend_t *)be;
        const char *k;
        json_t *v, *x;

        (void)deployment;
        if (!json_is_string(json_object_get(spec, "job")) ||
            !*json_string_value(json_object_get(spec, "job")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.job (the Dagster job's name) is "
                                   "required");
        if (!json_is_string(json_object_get(spec, "repository_location")) ||
            !*json_string_value(json_object_get(spec, "repository_location")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.repository_location (the code "
                                   "location's name) is required");
        v = json_object_get(spec, "repository");
        if (!v)
                json_object_set_new(spec, "repository",
                                    json_string(DG_DEFAULT_REPO));
        else if (!json_is_string(v) || !*json_string_value(v))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.repository must be a name (default "
                                   "%s, the repository of Definitions)",
                                   DG_DEFAULT_REPO);
        v = json_object_get(spec, "run_config");
        if (v && !json_is_object(v))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.run_config must be an object");
        if (v && check_templates(v, "spec.run_config", errstr, errstr_size))
                return FLOQ_ERR_INVALID_ARG;
        v = json_object_get(spec, "tags");
        if (v && !json_is_object(v))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.tags must be an object of strings");
        json_object_foreach(v, k, x) {
                if (!json_is_string(x) || !strncmp(k, "floq/", 5))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.tags.%s must be a string "
                                           "and no key may start with "
                                           "'floq/'",
                                           k);
        }
        if (v && check_templates(v, "spec.tags", errstr, errstr_size))
                return FLOQ_ERR_INVALID_ARG;
        v = json_object_get(spec, "poll_interval_ms");
        if (v && (!json_is_integer(v) ||
                  json_integer_value(v) < DG_POLL_MS_MIN))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.poll_interval_ms must be an integer "
                                   ">= %d",
                                   DG_POLL_MS_MIN);
        return check_job(db, spec, DG_DEPLOY_MS, errstr, errstr_size);
}

/* ------------------------------------------------------------- start */

static void attempt_free(dg_attempt_t *a) {
        if (!a)
                return;
        free(a->url);
        free(a);
}

static const char Q_BY_TAG[] =
        "query FloqRunsByTag($f: RunsFilter) { runsOrError(filter: $f) { "
        "__typename ... on Runs { results { runId status } } ... on "
        "InvalidPipelineRunsFilterError { message } ... on PythonError { "
        "message } } }";

/*
 * The Dagster run tagged floq/attempt = @p tag: FLOQ_OK with its id in
 * @p id (the oldest when, against the rule, there are several),
 * FLOQ_ERR_NOT_FOUND when there is none.
 */
static floq_err_t find_by_tag(const dagster_backend_t *db, const char *tag,
                              long timeout_ms, int retries, char *id,
                              size_t id_size, char *errstr,
                              size_t errstr_size) {
        floq_http_resp_t resp;
        const json_t *obj, *runs;
        const char *rid;
        floq_err_t e;
        size_t n;

        e = gql(db, "runsOrError", "Runs", Q_BY_TAG,
                json_pack("{s:{s:[{s:s,s:s}]}}", "f", "tags", "key",
                          DG_TAG_ATTEMPT, "value", tag),
                timeout_ms, retries, &resp, &obj, errstr, errstr_size);
        if (e)
                goto out;
        runs = json_object_get(obj, "results");
        n = json_array_size(runs);
        if (!n) {
                e = FLOQ_ERR_NOT_FOUND;
                floq_seterr(errstr, errstr_size, e,
                            "dagster: no run has the tag %s=%s",
                            DG_TAG_ATTEMPT, tag);
                goto out;
        }
        if (n > 1)
                floq_warn("dagster", "%zu Dagster runs have the tag %s=%s: "
                                     "following the oldest",
                          n, DG_TAG_ATTEMPT, tag);
        /* newest first */
        rid = json_string_value(json_object_get(json_array_get(runs, n - 1),
                                                "runId"));
        if (!id_ok(rid)) {
                e = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                "dagster: runsOrError: the answer has no "
                                "runId");
                goto out;
        }
        snprintf(id, id_size, "%s", rid);
out:
        floq_http_resp_release(&resp);
        return e;
}

static const char Q_LAUNCH[] =
        "mutation FloqLaunch($p: ExecutionParams!) { launchRun("
        "executionParams: $p) { __typename ... on LaunchRunSuccess { run { "
        "runId } } ... on PythonError { message } ... on "
        "RunConfigValidationInvalid { errors { message } } ... on "
        "PipelineNotFoundError { message } ... on InvalidSubsetError { "
        "message } ... on RunConflict { message } ... on UnauthorizedError { "
        "message } ... on PresetNotFoundError { message } ... on "
        "ConflictingExecutionParamsError { message } ... on "
        "NoModeProvidedError { message } ... on InvalidStepError { "
        "invalidStepKey } ... on InvalidOutputError { stepKey "
        "invalidOutputName } } }";

/* The executionParams of attempt @p a of @p req; NULL with errstr. */
static json_t *launch_params(const floq_run_req_t *req, const dg_attempt_t *a,
                             char *errstr, size_t errstr_size) {
        const json_t *rc = json_object_get(req->spec, "run_config");
        const json_t *st = json_object_get(req->spec, "tags");
        json_t *sel = NULL, *cfg = NULL, *tags = NULL, *p = NULL, *x;
        char att[16], why[300];
        const char *k;
        const json_t *v;

        snprintf(att, sizeof(att), "%d", req->attempt);
        if (!(sel = selector(req->spec, "jobName")))
                goto nomem;
        if (!(cfg = rc ? floq_tpl_expand_json(rc, req->params, why,
                                              sizeof(why))
                       : json_object())) {
                if (!rc)
                        goto nomem;
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "dagster: spec.run_config: %s", why);
                goto fail;
        }
        tags = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "key",
                         DG_TAG_ATTEMPT, "value", a->tag, "key",
                         "floq/run_id", "value", req->run_id, "key",
                         "floq/attempt_number", "value", att, "key",
                         "floq/deployment", "value",
                         req->deployment ? req->deployment : "");
        if (!tags)
                goto nomem;
        json_object_foreach((json_t *)st, k, v) {
                if (!(x = floq_tpl_expand_json(v, req->params, why,
                                               sizeof(why)))) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                    "dagster: spec.tags.%s: %s", k, why);
                        goto fail;
                }
                if (json_array_append_new(tags, json_pack("{s:s,s:o}", "key",
                                                          k, "value", x)))
                        goto nomem;
        }
        /* "o" steals the references, also when json_pack() fails */
        p = json_pack("{s:{s:o,s:o,s:{s:o}}}", "p", "selector", sel,
                      "runConfigData", cfg, "executionMetadata", "tags",
                      tags);
        if (!p)
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
        return p;
nomem:
        floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM, "out of memory");
fail:
        json_decref(sel);
        json_decref(cfg);
        json_decref(tags);
        return NULL;
}

/* The attempt's run URL and poll interval, once its ref is known. */
static floq_err_t attempt_ready(const dagster_backend_t *db,
                                const json_t *spec, dg_attempt_t *a,
                                char *errstr, size_t errstr_size) {
        int64_t ms = json_integer_value(json_object_get(spec,
                                                        "poll_interval_ms"));

        if (asprintf(&a->url, "%s/runs/%s", db->url, a->ref) < 0) {
                a->url = NULL;
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        }
        floq_poller_init(&a->poll, ms < DG_POLL_MS_MIN ? db->poll_ms : ms);
        return FLOQ_OK;
}

static dg_attempt_t *attempt_new(const floq_run_req_t *req) {
        dg_attempt_t *a = calloc(1, sizeof(*a));

        if (!a)
                return NULL;
        floq_poller_init(&a->poll, DG_POLL_MS_MIN);
        snprintf(a->tag, sizeof(a->tag), "%s-%d", req->run_id, req->attempt);
        return a;
}

/* 1 for the errors after which a launchRun may or may not have made a
 * run: its answer was lost, so look it up by tag before trying again. */
static int answer_lost(floq_err_t e) {
        return e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT ||
               e == FLOQ_ERR_BACKEND;
}

/*
 * Launch the attempt's run unless a run has its tag already: lookup, then
 * launchRun without the adapter's retries (a retried launch whose first
 * answer was lost would make a second run); after a lost answer, back off,
 * look up again and only then launch again, up to http.retries times.
 */
static floq_err_t launch(const dagster_backend_t *db,
                         const floq_run_req_t *req, dg_attempt_t *a,
                         char *errstr, size_t errstr_size) {
        int64_t deadline = floq_mono_ms() + db->timeout_ms;
        int tries = 0, max = db->retries > 0 ? db->retries : 0;
        floq_http_resp_t resp;
        const json_t *obj;
        const char *rid;
        json_t *p;
        floq_err_t e;

        for (;;) {
                e = find_by_tag(db, a->tag, floq_ms_left(deadline), 0, a->ref,
                                sizeof(a->ref), errstr, errstr_size);
                if (!e) {
                        floq_info("dagster",
                                  "run %s attempt %d: Dagster run %s has its "
                                  "tag already: following it, no new launch",
                                  req->run_id, req->attempt, a->ref);
                        return FLOQ_OK;
                }
                if (e != FLOQ_ERR_NOT_FOUND)
                        return e;
                if (!(p = launch_params(req, a, errstr, errstr_size)))
                        return FLOQ_ERR_INVALID_ARG;
                e = gql(db, "launchRun", "LaunchRunSuccess", Q_LAUNCH, p,
                        floq_ms_left(deadline), -1, &resp, &obj, errstr,
                        errstr_size);
                if (!e) {
                        rid = json_string_value(json_object_get(
                                json_object_get(obj, "run"), "runId"));
                        if (id_ok(rid))
                                snprintf(a->ref, sizeof(a->ref), "%s", rid);
                        else
                                e = floq_seterr(errstr, errstr_size,
                                                FLOQ_ERR_BACKEND,
                                                "dagster: launchRun: the "
                                                "answer has no runId");
                }
                floq_http_resp_release(&resp);
                if (!e)
                        return FLOQ_OK;
                if (e == FLOQ_ERR_EXISTS) {
                        /* RunConflict: someone launched it meanwhile */
                        if (!find_by_tag(db, a->tag, floq_ms_left(deadline),
                                         0, a->ref, sizeof(a->ref), NULL, 0))
                                return FLOQ_OK;
                        return e;
                }
                if (!answer_lost(e) || ++tries > max ||
                    floq_mono_ms() >= deadline)
                        return e;
                floq_notice("dagster", "run %s attempt %d: %s: looking the "
                                       "run up by its tag before launching "
                                       "again",
                            req->run_id, req->attempt, errstr);
                floq_sleep_ms(tries < 4 ? 200LL << (tries - 1) : 1600);
        }
}

/* Tracked from here on: start() and attach() end with this once the
 * remote run is known (floq_poller_track()). */
static void attempt_track(dg_attempt_t *a) {
        floq_poller_track(&a->poll, poll_once, stop_step, a->url, a->url,
                          "Dagster run", a->url);
}

static floq_err_t dg_start(floq_backend_t *be, const floq_run_req_t *req,
                           floq_attempt_t **attp, char *errstr,
                           size_t errstr_size) {
        dagster_backend_t *db = (dagster_backend_t *)be;
        dg_attempt_t *a = attempt_new(req);
        floq_err_t err;

        *attp = NULL;
        if (!a)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if (!json_is_string(json_object_get(req->spec, "job")) ||
            !json_is_string(json_object_get(req->spec,
                                            "repository_location"))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                  "spec.job and spec.repository_location "
                                  "are required: deploy the deployment "
                                  "again");
                goto out;
        }
        if ((err = launch(db, req, a, errstr, errstr_size)))
                goto out;
        if ((err = attempt_ready(db, req->spec, a, errstr, errstr_size)))
                goto out;
        floq_info("dagster", "run %s attempt %d: Dagster run %s (%s)",
                  req->run_id, req->attempt, a->ref, a->url);
out:
        if (err) {
                attempt_free(a);
                return err;
        }
        /* The reference stored in the RunState is the run's page, whose
         * last segment is the run id: the reply names it as the run's
         * url, and attach() reads the id back from it. */
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

static const char Q_RUN[] =
        "query FloqRun($id: ID!) { runOrError(runId: $id) { __typename ... "
        "on Run { runId status tags { key value } } ... on RunNotFoundError "
        "{ message } ... on PythonError { message } } }";

/*
 * Re-attach to the attempt's Dagster run: by @p ref (the run's page
 * "{url}/runs/{id}" stored in the RunState, or a bare run id) when there is
 * one, else by the attempt's tag (a worker
 * killed between the launch and storing the ref). Never launches.
 */
static floq_err_t dg_attach(floq_backend_t *be, const floq_run_req_t *req,
                            const char *ref, floq_attempt_t **attp,
                            char *errstr, size_t errstr_size) {
        dagster_backend_t *db = (dagster_backend_t *)be;
        dg_attempt_t *a = attempt_new(req);
        floq_http_resp_t resp = { 0 };
        const json_t *obj;
        const char *rs;
        floq_err_t err;

        *attp = NULL;
        if (!a)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if (ref && (!strncmp(ref, "http://", 7) ||
                    !strncmp(ref, "https://", 8)) &&
            (rs = strstr(ref, "/runs/"))) {
                /* "{url}/runs/{id}", as ref() gives it */
                while (strstr(rs + 1, "/runs/"))
                        rs = strstr(rs + 1, "/runs/");
                ref = rs + 6;
        }
        if (ref && *ref) {
                if (!id_ok(ref)) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_NOT_FOUND,
                                          "dagster: '%s' is not a Dagster "
                                          "run id",
                                          ref);
                        goto out;
                }
                err = gql(db, "runOrError", "Run", Q_RUN,
                          json_pack("{s:s}", "id", ref), 0, 0, &resp, &obj,
                          errstr, errstr_size);
                if (err == FLOQ_ERR_NOT_FOUND && resp.status == 200)
                        floq_seterr(errstr, errstr_size, err,
                                    "dagster: the run %s/runs/%s no longer "
                                    "exists in Dagster",
                                    db->url, ref);
                if (err)
                        goto out;
                snprintf(a->ref, sizeof(a->ref), "%s", ref);
        } else if ((err = find_by_tag(db, a->tag, 0, 0, a->ref,
                                      sizeof(a->ref), errstr, errstr_size))) {
                goto out;
        }
        if ((err = attempt_ready(db, req->spec, a, errstr, errstr_size)))
                goto out;
        floq_info("dagster", "run %s attempt %d: attached to Dagster run %s "
                             "(%s)",
                  req->run_id, req->attempt, a->ref, a->url);
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

/* -------------------------------------------------------------- poll */

static const char Q_LOGS[] =
        "query FloqLogs($id: ID!, $c: String, $n: Int) { logsForRun(runId: "
        "$id, afterCursor: $c, limit: $n) { __typename ... on "
        "EventConnection { cursor hasMore events { __typename ... on "
        "ExecutionStepFailureEvent { stepKey error { message } "
        "failureMetadata { description } } ... on RunFailureEvent { message "
        "error { message } } } } ... on RunNotFoundError { message } ... on "
        "PythonError { message } } }";

/*
 * Why the run failed, from its log: the first step failure ("step say:
 * <description or error>") and the run failure's message; "" when the log
 * cannot be read (the reason is then the status alone).
 */
static void failure_reason(const dagster_backend_t *db, const dg_attempt_t *a,
                           char *out, size_t out_size) {
        char step[500] = "", run[500] = "", cursor[128] = "";
        floq_http_resp_t resp;
        const json_t *obj, *ev;
        size_t i;
        int page, more = 1;

        for (page = 0; more && page < DG_LOG_PAGES; page++) {
                json_t *vars = json_pack("{s:s,s:i}", "id", a->ref, "n",
                                         DG_LOG_PAGE);

                if (vars && cursor[0])
                        json_object_set_new(vars, "c", json_string(cursor));
                if (gql(db, "logsForRun", "EventConnection", Q_LOGS, vars, 0,
                        0, &resp, &obj, NULL, 0)) {
                        floq_http_resp_release(&resp);
                        break;
                }
                json_array_foreach(json_object_get(obj, "events"), i, ev) {
                        const char *t = json_string_value(
                                json_object_get(ev, "__typename"));
                        const json_t *fm = json_object_get(ev,
                                                           "failureMetadata");
                        const char *d = json_string_value(
                                json_object_get(fm, "description"));
                        const char *em = json_string_value(json_object_get(
                                json_object_get(ev, "error"), "message"));

                        if (!t)
                                continue;
                        if (!strcmp(t, "ExecutionStepFailureEvent") &&
                            !step[0])
                                snprintf(step, sizeof(step), "step %s: %s",
                                         str_or(json_string_value(
                                                        json_object_get(
                                                                ev,
                                                                "stepKey")),
                                                "?"),
                                         d && *d ? d : str_or(em, "failed"));
                        else if (!strcmp(t, "RunFailureEvent"))
                                snprintf(run, sizeof(run), "%s",
                                         str_or(json_string_value(
                                                        json_object_get(
                                                                ev,
                                                                "message")),
                                                ""));
                }
                more = json_is_true(json_object_get(obj, "hasMore"));
                snprintf(cursor, sizeof(cursor), "%s",
                         str_or(json_string_value(
                                        json_object_get(obj, "cursor")),
                                ""));
                floq_http_resp_release(&resp);
                if (!cursor[0])
                        break;
        }
        if (snprintf(out, out_size, "%s%s%s", step,
                     step[0] && run[0] ? "; " : "", run) >= (int)out_size)
                floq_debug("dagster", "failure reason cut to %zu bytes",
                           out_size - 1);
        for (i = 0; out[i]; i++)
                if (out[i] == '\n' || out[i] == '\r')
                        out[i] = ' ';
        while (i > 0 && out[i - 1] == ' ')
                out[--i] = '\0';
}

/* The outcome a stop for @p why ends in. */
static floq_outcome_t stopped_outcome(int why) {
        return why == FLOQ_STOP_TIMEOUT ? FLOQ_OUTCOME_TIMED_OUT
                                        : FLOQ_OUTCOME_CANCELLED;
}

/*
 * One poll of the run. *donep set and @p res filled when the attempt is
 * over: the run ended, is gone, or Dagster has not answered for
 * dagster.unreachable.ms. @p why is the stop asked for, -1 none.
 */
static void poll_once(floq_backend_t *be, dg_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        dagster_backend_t *db = (dagster_backend_t *)be;
        floq_http_resp_t resp;
        const json_t *obj;
        const char *status;
        char err[800], reason[1000];
        floq_err_t e;
        int64_t now;

        *donep = 0;
        e = gql(db, "runOrError", "Run", Q_RUN,
                json_pack("{s:s}", "id", a->ref),
                a->poll.poll_ms * 4 < db->timeout_ms ? (long)a->poll.poll_ms * 4 : 0, 0,
                &resp, &obj, err, sizeof(err));
        if (e == FLOQ_ERR_NOT_FOUND && resp.status == 200) {
                floq_run_result_setf(res, why >= 0 ? stopped_outcome(why)
                                                   : FLOQ_OUTCOME_FAILED,
                                     a->url,
                                     "the Dagster run %s was deleted from "
                                     "Dagster (%s)",
                                     a->url, err);
                *donep = 1;
                goto out;
        }
        if (e) {
                /* Not an answer about the run (unreachable, 5xx, a
                 * PythonError, a refused token): the run goes on out
                 * there, so it is not FAILED; LOST past the bound. */
                now = floq_mono_ms();
                if (!a->poll.unreachable_since)
                        a->poll.unreachable_since = now;
                snprintf(a->last_error, sizeof(a->last_error), "%s", err);
                if (now - a->poll.unreachable_since >= db->unreachable_ms) {
                        floq_run_result_setf(
                                res, FLOQ_OUTCOME_LOST, a->url,
                                "the state of Dagster run %s is unknown: "
                                "Dagster unreachable for %lld ms "
                                "(dagster.unreachable.ms): %s",
                                a->url,
                                (long long)(now - a->poll.unreachable_since),
                                a->last_error);
                        *donep = 1;
                }
                goto out;
        }
        a->poll.unreachable_since = 0;
        status = json_string_value(json_object_get(obj, "status"));
        if (!status) {
                floq_run_result_setf(res, FLOQ_OUTCOME_FAILED, a->url,
                                     "dagster: runOrError: the answer has no "
                                     "status");
                *donep = 1;
                goto out;
        }
        if (why >= 0) {
                /* Stopping: over once the run is in a final state. */
                if (!strcmp(status, "CANCELED")) {
                        floq_run_result_setf(res, stopped_outcome(why), a->url,
                                             "Dagster run %s canceled%s%s",
                                             a->url,
                                             a->stop_note[0] ? ": " : "",
                                             a->stop_note);
                        *donep = 1;
                } else if (!strcmp(status, "SUCCESS") ||
                           !strcmp(status, "FAILURE")) {
                        floq_run_result_setf(res, stopped_outcome(why), a->url,
                                             "Dagster run %s had already "
                                             "ended %s when the stop reached "
                                             "it",
                                             a->url, status);
                        *donep = 1;
                }
                goto out;
        }
        if (!strcmp(status, "SUCCESS")) {
                floq_run_result_setf(res, FLOQ_OUTCOME_SUCCEEDED, a->url,
                                     "Dagster run %s", a->url);
                *donep = 1;
        } else if (!strcmp(status, "FAILURE")) {
                failure_reason(db, a, reason, sizeof(reason));
                floq_run_result_setf(res, FLOQ_OUTCOME_FAILED, a->url,
                                     "Dagster run %s failed%s%s", a->url,
                                     reason[0] ? ": " : "", reason);
                *donep = 1;
        } else if (!strcmp(status, "CANCELED")) {
                floq_run_result_setf(res, FLOQ_OUTCOME_CANCELLED, a->url,
                                     "Dagster run %s was canceled in Dagster",
                                     a->url);
                *donep = 1;
        }
        /* QUEUED, NOT_STARTED, MANAGED, STARTING, STARTED, SUSPENDED,
         * CANCELING (from outside): still going. */
out:
        floq_http_resp_release(&resp);
}

static const char Q_TERMINATE[] =
        "mutation FloqTerminate($id: String!, $p: TerminateRunPolicy) { "
        "terminateRun(runId: $id, terminatePolicy: $p) { __typename ... on "
        "TerminateRunSuccess { run { runId status } } ... on "
        "TerminateRunFailure { message } ... on RunNotFoundError { message } "
        "... on UnauthorizedError { message } ... on PythonError { message } "
        "} }";

/* terminateRun with @p policy; FLOQ_OK when Dagster accepted it, else
 * @p note says what it answered. */
static floq_err_t terminate(dagster_backend_t *db, dg_attempt_t *a,
                            const char *policy, char *note,
                            size_t note_size) {
        floq_http_resp_t resp;
        const json_t *obj;
        floq_err_t e;

        e = gql(db, "terminateRun", "TerminateRunSuccess", Q_TERMINATE,
                json_pack("{s:s,s:s}", "id", a->ref, "p", policy), 0, 0,
                &resp, &obj, note, note_size);
        floq_http_resp_release(&resp);
        return e;
}

/* The stop path: terminateRun once, then poll until CANCELED; past
 * dagster.stop.wait.ms mark it canceled at once. As poll_once. */
static void stop_step(floq_backend_t *be, dg_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        dagster_backend_t *db = (dagster_backend_t *)be;
        char note[512];
        const char *what;

        *donep = 0;
        if (!a->terminate_sent) {
                a->terminate_sent = 1;
                a->stop_deadline = floq_mono_ms() + db->stop_wait_ms;
                if (terminate(db, a, "SAFE_TERMINATE", a->stop_note,
                              sizeof(a->stop_note)) == FLOQ_OK)
                        a->stop_note[0] = '\0';
                else
                        floq_notice("dagster", "run %s: %s", a->ref,
                                    a->stop_note);
        }
        poll_once(be, a, why, donep, res);
        if (*donep || floq_mono_ms() < a->stop_deadline)
                return;
        /* Still not over: its process did not act on the termination (or
         * Dagster keeps failing). Say what was done, not more. */
        if (terminate(db, a, "MARK_AS_CANCELED_IMMEDIATELY", note,
                      sizeof(note)) == FLOQ_OK)
                what = "not CANCELED within dagster.stop.wait.ms of "
                       "terminateRun: marked CANCELED at once (its process "
                       "may still be running)";
        else
                what = note;
        floq_run_result_setf(res, stopped_outcome(why), a->url,
                             "Dagster run %s: %s%s%s", a->url, what,
                             a->stop_note[0] ? "; " : "", a->stop_note);
        *donep = 1;
}

static void dg_attempt_destroy(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        attempt_free(att);
}

/* ---------------------------------------------------------- validate */

/* A TLS failure, as libcurl words it. */
static int tls_failure(const char *msg) {
        return strstr(msg, "SSL") || strstr(msg, "TLS") ||
               strstr(msg, "certificate");
}

/*
 * Within 10 s, each failure its own message: the token can be read, the
 * webserver answers (unreachable / TLS failure / not Dagster), the token
 * is accepted, and with a spec its job exists.
 */
static floq_err_t dg_validate(floq_backend_t *be, const json_t *spec,
                              char *errstr, size_t errstr_size) {
        static const char q_version[] = "query FloqVersion { version }";
        dagster_backend_t *db = (dagster_backend_t *)be;
        int64_t deadline = floq_mono_ms() + DG_VALIDATE_MS - 300;
        floq_http_resp_t resp;
        char err[800] = "", *tok = NULL;
        floq_err_t e;
        json_t *body;
        floq_http_opts_t o;
        const char *hdrs[2] = { NULL, NULL };
        char *hdr = NULL;

        if ((e = token_get(db, &tok, errstr, errstr_size)))
                return e;
        /* { version } answers a string, not a typed object: call the
         * adapter directly. */
        memset(&o, 0, sizeof(o));
        if (tok && *tok && asprintf(&hdr, "Dagster-Cloud-Api-Token: %s",
                                    tok) < 0) {
                hdr = NULL;
                floq_secret_free(tok);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        }
        hdrs[0] = hdr;
        o.what = "dagster";
        o.timeout_ms = floq_ms_left(deadline) / 2;
        o.connect_timeout_ms = o.timeout_ms < 4000 ? o.timeout_ms : 4000;
        o.max_retries = -1;
        o.ca_file = db->ca_file;
        o.headers = hdrs;
        body = json_pack("{s:s}", "query", q_version);
        e = floq_http_request(&o, "POST", db->gql, body, &resp, err,
                              sizeof(err));
        json_decref(body);
        if (e)
                scrub(err, tok);
        floq_secret_free(hdr);
        floq_secret_free(tok);
        if ((e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT) &&
            tls_failure(err))
                e = floq_seterr(errstr, errstr_size, e,
                                "dagster: TLS failure talking to dagster.url "
                                "%s: %s (check dagster.ca.file and the "
                                "server's certificate)",
                                db->url, err);
        else if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT)
                e = floq_seterr(errstr, errstr_size, e,
                                "dagster: the webserver at dagster.url %s is "
                                "unreachable: %s",
                                db->url, err);
        else if (e == FLOQ_ERR_UNAUTHORIZED)
                e = floq_seterr(errstr, errstr_size, e,
                                "dagster: the token is refused by %s (%ld): "
                                "check dagster.api.token.file or "
                                "dagster.api.token.env",
                                db->url, resp.status);
        else if (e)
                e = floq_seterr(errstr, errstr_size, e,
                                "dagster: %s at dagster.url %s is not a "
                                "Dagster GraphQL API: %s",
                                db->gql, db->url, err);
        else if (!json_is_string(json_object_get(
                         json_object_get(resp.json, "data"), "version")))
                e = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                "dagster: %s at dagster.url %s is not a "
                                "Dagster GraphQL API (no version in its "
                                "answer)",
                                db->gql, db->url);
        floq_http_resp_release(&resp);
        if (e)
                return e;
        if (!spec || !json_object_get(spec, "job"))
                return FLOQ_OK;
        if (!json_is_string(json_object_get(spec, "job")) ||
            !json_is_string(json_object_get(spec, "repository_location")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.job and spec.repository_location "
                                   "must be names");
        {
                json_t *s = json_deep_copy(spec);

                if (!s)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_NOMEM, "out of memory");
                if (!json_object_get(s, "repository"))
                        json_object_set_new(s, "repository",
                                            json_string(DG_DEFAULT_REPO));
                e = check_job(db, s, floq_ms_left(deadline), errstr,
                              errstr_size);
                json_decref(s);
        }
        return e;
}

const floq_backend_ops_t floq_backend_dagster = {
        .name = "dagster",
        .outlives_worker = 1, /* a Dagster run goes on without its worker */
        .new_ = dg_new,
        .destroy = dg_destroy,
        .deploy = dg_deploy,
        .start = dg_start,
        .wait = floq_remote_wait,
        .stop = floq_remote_stop,
        .ref = floq_remote_ref,
        .attempt_destroy = dg_attempt_destroy,
        .validate = dg_validate,
        .attach = dg_attach,
        .url = floq_remote_url,
};
