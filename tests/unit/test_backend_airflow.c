/*
 * test_backend_airflow.c - the airflow backend (worker/backends/airflow.c)
 * against a fake Airflow 3 API the test controls (libmicrohttpd), for what
 * the real server (tests/integration/0270) cannot be made to do on cue: a
 * JWT revoked mid-run (401: one new token, the call made again), a JWT
 * about to expire (fetched again before it is used), a trigger
 * answering 409 (the same DAG run, no second one), a stop whose task
 * instances take a few polls to end, import errors, and Airflow going away
 * mid-run (LOST after airflow.unreachable.ms).
 */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "test_util.h"
#include "test_mhd.h"

static struct MHD_Daemon *srv;
static char base[64];
static atomic_int logins, token_gen, refuse_login, posts, conflict, polls,
        polls_to_end, end_failed, patches_run, patches_dag, ti_running_left,
        ti_polls, short_exp, down_after_patch, stay_queued, end_weird, v1_calls, v1_refused;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char run_state[32], posted[1024], seen_url[256];


/* base64url of @p s, no padding. */
static void b64url(const char *s, char *out) {
        static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                                 "tuvwxyz0123456789-_";
        size_t n = strlen(s), i, o = 0;

        for (i = 0; i < n; i += 3) {
                unsigned v = (unsigned char)s[i] << 16;

                if (i + 1 < n)
                        v |= (unsigned char)s[i + 1] << 8;
                if (i + 2 < n)
                        v |= (unsigned char)s[i + 2];
                out[o++] = al[(v >> 18) & 63];
                out[o++] = al[(v >> 12) & 63];
                if (i + 1 < n)
                        out[o++] = al[(v >> 6) & 63];
                if (i + 2 < n)
                        out[o++] = al[v & 63];
        }
        out[o] = '\0';
}

/* The token of generation @p gen: a JWT whose claims expire in an hour. */
static void token_of(int gen, char *out, size_t out_size) {
        char claims[128], enc[200];

        snprintf(claims, sizeof(claims), "{\"sub\":\"floq\",\"exp\":%lld}",
                 (long long)time(NULL) +
                         (atomic_load(&short_exp) ? 30 : 3600));
        b64url(claims, enc);
        snprintf(out, out_size, "eyJhbGciOiJIUzUxMiJ9.%s.sig%d", enc, gen);
}

static int authorized(struct MHD_Connection *c) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                    "Authorization");
        char want[300], tok[256];

        token_of(atomic_load(&token_gen), tok, sizeof(tok));
        snprintf(want, sizeof(want), "Bearer %s", tok);
        /* the signature part names the generation; exp may differ */
        return h && strrchr(h, '.') && !strcmp(strrchr(h, '.'),
                                                strrchr(want, '.'));
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
        test_mhd_body_t *up;
        const char *body_s;
        char buf[1024], tok[256], v2[512];
        int v1 = 0;

        (void)cls;
        (void)version;
        if (test_mhd_gather(con_cls, data, data_size))
                return MHD_YES;
        up = *con_cls;
        body_s = up->data ? up->data : "";
        if (!strncmp(url, "/api/v1/", 8)) {
                /* Airflow 2: the same API under /api/v1, basic auth */
                const char *h = MHD_lookup_connection_value(
                        c, MHD_HEADER_KIND, "Authorization");

                atomic_fetch_add(&v1_calls, 1);
                snprintf(v2, sizeof(v2), "/api/v2/%s", url + 8);
                url = v2;
                v1 = 1;
                if (strcmp(url, "/api/v2/version") &&
                    (!h || strcmp(h, "Basic ZmxvcTpwdw=="))) {
                        atomic_fetch_add(&v1_refused, 1);
                        return test_mhd_answer(c, 401, "{\"detail\":\"no\"}");
                }
        }
        if (!strcmp(url, "/api/v2/version"))
                return test_mhd_answer(c, 200, "{\"version\":\"3.2.1\"}");
        if (!strcmp(url, "/auth/token")) {
                atomic_fetch_add(&logins, 1);
                if (atomic_load(&refuse_login) ||
                    !strstr(body_s, "\"pw\""))
                        return test_mhd_answer(c, 401, "{\"detail\":\"Invalid "
                                              "credentials\"}");
                token_of(atomic_load(&token_gen), tok, sizeof(tok));
                snprintf(buf, sizeof(buf), "{\"access_token\":\"%s\"}", tok);
                return test_mhd_answer(c, 201, buf);
        }
        if (!v1 && !authorized(c))
                return test_mhd_answer(c, 401, "{\"detail\":\"Invalid JWT token\"}");
        if (!strcmp(url, "/api/v2/dags"))
                return test_mhd_answer(c, 200, "{\"dags\":[]}");
        if (!strcmp(url, "/api/v2/dags/floq_gate"))
                return test_mhd_answer(c, 200,
                              !strcmp(method, "PATCH")
                                      ? (atomic_fetch_add(&patches_dag, 1),
                                         "{\"is_paused\":false}")
                                      : "{\"dag_id\":\"floq_gate\","
                                        "\"is_paused\":true,"
                                        "\"has_import_errors\":false}");
        if (!strcmp(url, "/api/v2/dags/broken"))
                return test_mhd_answer(c, 200, "{\"dag_id\":\"broken\","
                                      "\"is_paused\":false,"
                                      "\"has_import_errors\":true,"
                                      "\"relative_fileloc\":\"broken.py\"}");
        if (!strcmp(url, "/api/v2/importErrors"))
                return test_mhd_answer(c, 200,
                              "{\"import_errors\":[{\"filename\":"
                              "\"/dags/broken.py\",\"stack_trace\":"
                              "\"Traceback:\\n  File x\\nNameError: name "
                              "'y' is not defined\\n\"}]}");
        if (!strcmp(url, "/api/v2/dags/floq_gate/dagRuns") &&
            !strcmp(method, "POST")) {
                atomic_fetch_add(&posts, 1);
                pthread_mutex_lock(&lock);
                snprintf(posted, sizeof(posted), "%s", body_s);
                snprintf(run_state, sizeof(run_state), "queued");
                pthread_mutex_unlock(&lock);
                if (atomic_load(&conflict))
                        return test_mhd_answer(c, 409, "{\"detail\":\"exists\"}");
                return test_mhd_answer(c, 200, "{\"state\":\"queued\"}");
        }
        if (!strncmp(url, "/api/v2/dags/floq_gate/dagRuns/", 31) &&
            strcmp(method, "PATCH") && atomic_load(&down_after_patch) &&
            atomic_load(&patches_run) > 0)
                return test_mhd_answer(c, 503, "{\"detail\":\"down\"}");
        if (!strncmp(url, "/api/v2/dags/floq_gate/dagRuns/", 31) &&
            strstr(url, "/taskInstances")) {
                const char *st = MHD_lookup_connection_value(
                        c, MHD_GET_ARGUMENT_KIND, "state");

                if (st && !strcmp(st, "failed"))
                        return test_mhd_answer(c, 200, "{\"task_instances\":[{"
                                              "\"task_id\":\"explode\"}]}");
                atomic_fetch_add(&ti_polls, 1);
                if (atomic_fetch_sub(&ti_running_left, 1) > 0)
                        return test_mhd_answer(c, 200, "{\"task_instances\":[{"
                                              "\"task_id\":\"wait\"}]}");
                return test_mhd_answer(c, 200, "{\"task_instances\":[]}");
        }
        if (!strncmp(url, "/api/v2/dags/floq_gate/dagRuns/", 31)) {
                if (!strcmp(method, "PATCH")) {
                        atomic_fetch_add(&patches_run, 1);
                        pthread_mutex_lock(&lock);
                        snprintf(run_state, sizeof(run_state), "failed");
                        pthread_mutex_unlock(&lock);
                        return test_mhd_answer(c, 200, "{\"state\":\"failed\"}");
                }
                pthread_mutex_lock(&lock);
                if (atomic_fetch_add(&polls, 1) + 1 >=
                            atomic_load(&polls_to_end) &&
                    !strcmp(run_state, "running"))
                        snprintf(run_state, sizeof(run_state), "%s",
                                 atomic_load(&end_failed) ? "failed"
                                                          : "success");
                else if (!strcmp(run_state, "queued") &&
                         !atomic_load(&stay_queued))
                        snprintf(run_state, sizeof(run_state), "running");
                if (atomic_load(&end_weird) && !strcmp(run_state, "success"))
                        snprintf(run_state, sizeof(run_state), "restarting");
                snprintf(buf, sizeof(buf), "{\"state\":\"%s\"}", run_state);
                pthread_mutex_unlock(&lock);
                return test_mhd_answer(c, 200, buf);
        }
        return test_mhd_answer(c, 404, "{\"detail\":\"not found\"}");
}

static char auth_file[64];

static void setup(void) {
        FILE *f;

        atomic_store(&logins, 0);
        atomic_store(&token_gen, 1);
        atomic_store(&refuse_login, 0);
        atomic_store(&posts, 0);
        atomic_store(&conflict, 0);
        atomic_store(&polls, 0);
        atomic_store(&polls_to_end, 4);
        atomic_store(&end_failed, 0);
        atomic_store(&patches_run, 0);
        atomic_store(&patches_dag, 0);
        atomic_store(&ti_running_left, 0);
        atomic_store(&ti_polls, 0);
        atomic_store(&short_exp, 0);
        atomic_store(&stay_queued, 0);
        atomic_store(&down_after_patch, 0);
        atomic_store(&end_weird, 0);
        atomic_store(&v1_calls, 0);
        atomic_store(&v1_refused, 0);
        seen_url[0] = '\0';
        run_state[0] = posted[0] = '\0';
        srv = test_mhd_start(handler, base, sizeof(base));
        ck_assert_ptr_nonnull(srv);
        snprintf(auth_file, sizeof(auth_file), "/tmp/floq-af-auth-%d",
                 (int)getpid());
        ck_assert_ptr_nonnull(f = fopen(auth_file, "w"));
        fputs("floq:pw\n", f);
        fclose(f);
}

static void teardown(void) {
        if (srv)
                MHD_stop_daemon(srv);
        srv = NULL;
        unlink(auth_file);
}

/* A backend on the fake server (or @p url), config @p extra "k=v" or
 * NULL. */
static floq_backend_t *backend(const char *url, const char *extra) {
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;
        char err[512];

        ck_assert_int_eq(floq_conf_set(conf, "airflow.api.url",
                                       url ? url : base, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "airflow.auth.file", auth_file,
                                       err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "airflow.poll.interval.ms",
                                       "100", err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "http.retries", "1", err,
                                       sizeof(err)),
                         FLOQ_OK);
        if (extra) {
                char name[128];
                const char *eq = strchr(extra, '=');

                snprintf(name, sizeof(name), "%.*s", (int)(eq - extra), extra);
                ck_assert_int_eq(floq_conf_set(conf, name, eq + 1, err,
                                               sizeof(err)),
                                 FLOQ_OK);
        }
        be = floq_backend_airflow.new_(conf, err, sizeof(err));
        ck_assert_msg(be != NULL, "new: %s", err);
        floq_conf_destroy(conf);
        return be;
}

static json_t *gate_spec(void) {
        return json_pack("{s:s,s:b}", "dag_id", "floq_gate", "unpause", 1);
}

/* deploy + start + wait to the end; @p at_poll (when > 0) calls @p hook
 * once the server has answered that many polls. */
static floq_outcome_t run(floq_backend_t *be, floq_run_result_t *res,
                          int at_poll, void (*hook)(floq_backend_t *,
                                                    floq_attempt_t *)) {
        json_t *spec = gate_spec();
        json_t *params = json_pack("{s:s}", "day", "2026-12-01");
        floq_run_req_t req = { .run_id = "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b",
                               .deployment = "gate", .attempt = 2,
                               .spec = spec, .params = params };
        floq_attempt_t *att = NULL;
        char err[512] = "";
        int hooked = 0;

        memset(res, 0, sizeof(*res));
        ck_assert_msg(be->ops->deploy(be, "gate", spec, err, sizeof(err)) ==
                              FLOQ_OK,
                      "deploy: %s", err);
        ck_assert_msg(be->ops->start(be, &req, &att, err, sizeof(err)) ==
                              FLOQ_OK,
                      "start: %s", err);
        while (be->ops->wait(be, att, 100, res) == FLOQ_ERR_TIMED_OUT) {
                if (!hooked && at_poll && atomic_load(&polls) >= at_poll) {
                        hook(be, att);
                        hooked = 1;
                }
        }
        be->ops->attempt_destroy(be, att);
        json_decref(params);
        json_decref(spec);
        return res->outcome;
}

static void revoke_tokens(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        (void)att;
        atomic_fetch_add(&token_gen, 1);
}

START_TEST(test_success_token_revoked_mid_run) {
        floq_backend_t *be = backend(NULL, NULL);
        floq_run_result_t res;
        json_t *body;

        atomic_store(&polls_to_end, 5);
        ck_assert_int_eq(run(be, &res, 2, revoke_tokens), FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(atomic_load(&patches_dag), 1); /* unpaused */
        ck_assert_int_eq(atomic_load(&posts), 1);
        /* one login, one more after the 401 */
        ck_assert_int_eq(atomic_load(&logins), 2);
        /* the reference is the dag_run_id (attach() takes it back); the
         * UI page is url()'s */
        ck_assert_str_eq(res.backend_ref,
                         "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b-2");
        ck_assert_ptr_nonnull(body = json_loads(posted, 0, NULL));
        ck_assert_str_eq(json_string_value(json_object_get(body,
                                                           "dag_run_id")),
                         "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b-2");
        ck_assert(json_is_null(json_object_get(body, "logical_date")));
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(body, "conf"), "day")),
                         "2026-12-01");
        json_decref(body);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

START_TEST(test_token_refreshed_before_expiry) {
        floq_backend_t *be = backend(NULL, NULL);
        floq_run_result_t res;

        /* tokens that expire within the minute of early refresh: each call
         * fetches a new one, none is sent stale */
        atomic_store(&short_exp, 1);
        atomic_store(&polls_to_end, 3);
        ck_assert_int_eq(run(be, &res, 0, NULL), FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_ge(atomic_load(&logins),
                         atomic_load(&polls) + 3); /* + GET, PATCH, POST */
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

START_TEST(test_trigger_409_is_the_same_run) {
        floq_backend_t *be = backend(NULL, NULL);
        floq_run_result_t res;

        atomic_store(&conflict, 1);
        ck_assert_int_eq(run(be, &res, 0, NULL), FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(atomic_load(&posts), 1);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

START_TEST(test_failed_names_the_task) {
        floq_backend_t *be = backend(NULL, NULL);
        floq_run_result_t res;

        atomic_store(&end_failed, 1);
        ck_assert_int_eq(run(be, &res, 0, NULL), FLOQ_OUTCOME_FAILED);
        ck_assert_msg(strstr(res.reason, "task explode failed"), "%s",
                      res.reason);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

static void stop_cancel(floq_backend_t *be, floq_attempt_t *att) {
        /* the task instance goes on for three polls after the PATCH */
        atomic_store(&ti_running_left, 3);
        be->ops->stop(be, att, FLOQ_STOP_CANCEL);
}

START_TEST(test_stop_waits_for_the_tasks) {
        floq_backend_t *be = backend(NULL, NULL);
        floq_run_result_t res;

        atomic_store(&polls_to_end, 1000);
        ck_assert_int_eq(run(be, &res, 2, stop_cancel),
                         FLOQ_OUTCOME_CANCELLED);
        ck_assert_int_ge(atomic_load(&patches_run), 1);
        ck_assert_int_ge(atomic_load(&ti_polls), 4);
        ck_assert_msg(strstr(res.reason, "none of its task instances is "
                                         "running"),
                      "%s", res.reason);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

static void server_gone(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        (void)att;
        MHD_stop_daemon(srv);
        srv = NULL;
}

static void stop_timeout(floq_backend_t *be, floq_attempt_t *att) {
        be->ops->stop(be, att, FLOQ_STOP_TIMEOUT);
}

/* A run timeout whose DAG run cannot be known to have ended (Airflow
 * answering 503 while stopping, past airflow.stop.wait.ms) is LOST, not TIMED_OUT: a
 * retry would run a second DAG run beside it. */
START_TEST(test_timeout_unknown_end_is_lost) {
        floq_backend_t *be = backend(NULL, "airflow.stop.wait.ms=500");
        floq_run_result_t res;

        atomic_store(&polls_to_end, 1000);
        atomic_store(&ti_running_left, 1000);
        atomic_store(&down_after_patch, 1);
        ck_assert_int_eq(run(be, &res, 2, stop_timeout),
                         FLOQ_OUTCOME_LOST);
        ck_assert_msg(strstr(res.reason, "whether the DAG run ended is "
                                         "unknown"),
                      "%s", res.reason);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

START_TEST(test_unreachable_ends_lost) {
        floq_backend_t *be = backend(NULL, "airflow.unreachable.ms=500");
        floq_run_result_t res;

        atomic_store(&polls_to_end, 1000);
        ck_assert_int_eq(run(be, &res, 2, server_gone), FLOQ_OUTCOME_LOST);
        ck_assert_msg(strstr(res.reason, "airflow.unreachable.ms"), "%s",
                      res.reason);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

/* Item 11: a DAG run the scheduler never starts (queued) does not stay
 * RUNNING forever: past airflow.queued.timeout.ms it is marked failed in
 * Airflow and the attempt ends TIMED_OUT saying why. */
START_TEST(test_queued_too_long_times_out) {
        floq_backend_t *be = backend(NULL, "airflow.queued.timeout.ms=400");
        floq_run_result_t res;

        atomic_store(&stay_queued, 1);
        ck_assert_int_eq(run(be, &res, 0, NULL), FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(atomic_load(&patches_run), 1);
        ck_assert_msg(strstr(res.reason, "still queued after") &&
                              strstr(res.reason,
                                     "airflow.queued.timeout.ms") &&
                              strstr(res.reason, "is failed"),
                      "%s", res.reason);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

/* A state floq does not know says nothing about the run's end: LOST (a
 * retry could run a second DAG run beside it), not FAILED. */
START_TEST(test_unknown_state_is_lost) {
        floq_backend_t *be = backend(NULL, NULL);
        floq_run_result_t res;

        atomic_store(&end_weird, 1);
        ck_assert_int_eq(run(be, &res, 0, NULL), FLOQ_OUTCOME_LOST);
        ck_assert_msg(strstr(res.reason, "'restarting'") &&
                              strstr(res.reason, "may still run"),
                      "%s", res.reason);
        floq_run_result_release(&res);
        floq_backend_airflow.destroy(be);
}
END_TEST

static void keep_url(floq_backend_t *be, floq_attempt_t *att) {
        snprintf(seen_url, sizeof(seen_url), "%s", be->ops->url(be, att));
}

/* airflow.api.version=1 (Airflow 2): /api/v1 paths, basic auth with the
 * auth file's user:password (no /auth/token), no logical_date in the
 * trigger, the run's page in Airflow 2's grid view. */
START_TEST(test_api_v1) {
        floq_backend_t *be = backend(NULL, "airflow.api.version=1");
        floq_run_result_t res;
        json_t *body, *spec = json_pack("{s:s}", "dag_id", "floq_gate");
        char err[512];
        FILE *f;

        ck_assert_int_eq(run(be, &res, 1, keep_url), FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(atomic_load(&logins), 0);
        ck_assert_int_ge(atomic_load(&v1_calls), 4);
        ck_assert_int_eq(atomic_load(&v1_refused), 0);
        ck_assert_int_eq(atomic_load(&patches_dag), 1); /* unpaused */
        ck_assert_ptr_nonnull(body = json_loads(posted, 0, NULL));
        ck_assert_ptr_null(json_object_get(body, "logical_date"));
        ck_assert_str_eq(json_string_value(json_object_get(body,
                                                           "dag_run_id")),
                         "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b-2");
        json_decref(body);
        ck_assert_msg(strstr(seen_url, "/dags/floq_gate/grid?dag_run_id="
                                       "7b0c9f6e-8f4e-4d5a-9b1a-"
                                       "0c2d3e4f5a6b-2"),
                      "%s", seen_url);
        floq_run_result_release(&res);
        /* validate: good, then refused credentials */
        ck_assert_msg(be->ops->validate(be, spec, err, sizeof(err)) ==
                              FLOQ_OK,
                      "%s", err);
        ck_assert_ptr_nonnull(f = fopen(auth_file, "w"));
        fputs("floq:wrong\n", f);
        fclose(f);
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_msg(strstr(err, "check airflow.auth.file"), "%s", err);
        ck_assert_ptr_null(strstr(err, "wrong"));
        json_decref(spec);
        floq_backend_airflow.destroy(be);
}
END_TEST

START_TEST(test_deploy_and_validate_messages) {
        floq_backend_t *be = backend(NULL, NULL), *closed;
        json_t *spec;
        char err[512];
        struct timespec t0, t1;

        spec = json_pack("{s:s}", "dag_id", "no_such");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_msg(strstr(err, "unknown DAG 'no_such'"), "%s", err);
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        json_decref(spec);
        spec = json_pack("{s:s}", "dag_id", "broken");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_REJECTED);
        ck_assert_msg(strstr(err, "NameError: name 'y' is not defined"), "%s",
                      err);
        json_decref(spec);
        spec = json_pack("{s:s}", "dag_id", "floq_gate");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_REJECTED);
        ck_assert_msg(strstr(err, "is paused"), "%s", err);
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_OK);
        atomic_store(&refuse_login, 1);
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_msg(strstr(err, "credentials were refused"), "%s", err);
        json_decref(spec);
        spec = json_pack("{s:s}", "dag_id", "../version");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        floq_backend_airflow.destroy(be);

        /* a closed port: its own message, well within 10 s */
        closed = backend("http://127.0.0.1:9", NULL);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert(test_unreachable(closed->ops->validate(closed, NULL, err,
                                                    sizeof(err))));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ck_assert_msg(strstr(err, "api-server running"), "%s", err);
        ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
        floq_backend_airflow.destroy(closed);
}
END_TEST

int main(void) {
        Suite *s = suite_create("backend_airflow");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_success_token_revoked_mid_run);
        tcase_add_test(tc, test_token_refreshed_before_expiry);
        tcase_add_test(tc, test_trigger_409_is_the_same_run);
        tcase_add_test(tc, test_failed_names_the_task);
        tcase_add_test(tc, test_stop_waits_for_the_tasks);
        tcase_add_test(tc, test_unreachable_ends_lost);
        tcase_add_test(tc, test_deploy_and_validate_messages);
        tcase_add_test(tc, test_queued_too_long_times_out);
        tcase_add_test(tc, test_unknown_state_is_lost);
        tcase_add_test(tc, test_api_v1);
        tcase_add_test(tc, test_timeout_unknown_end_is_lost);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
