/*
 * test_backend_http.c - the webhook backend (worker/backends/http.c)
 * against a local server the test controls (libmicrohttpd): trigger with
 * an Idempotency-Key that stays the same across retries, status polling
 * mapped through the deployment's table, a remote run removed (404:
 * FAILED), a status URL unreachable past its bound (LOST, never RUNNING
 * forever), cancel on stop, the drain hand-over, the token sent only
 * under the allowed prefixes, and the deploy checks that keep a deployer
 * from choosing the worker's credentials or its servers.
 */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "test_util.h"
#include "test_mhd.h"

static struct MHD_Daemon *srv;
static char base[64];
static atomic_int triggers, polls, cancels, state_after;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen_key[128], seen_auth[128], seen_body[1024];


static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
        test_mhd_body_t *up;
        const char *body_s;
        const char *v;

        (void)cls;
        (void)version;
        (void)method;
        if (test_mhd_gather(con_cls, data, data_size))
                return MHD_YES;
        up = *con_cls;
        body_s = up->data ? up->data : "";
        if (!strncmp(url, "/hook", 5)) {
                int n = atomic_fetch_add(&triggers, 1) + 1;

                pthread_mutex_lock(&seen_lock);
                v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                "Idempotency-Key");
                snprintf(seen_key, sizeof(seen_key), "%s", v ? v : "");
                v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                "Authorization");
                snprintf(seen_auth, sizeof(seen_auth), "%s", v ? v : "");
                snprintf(seen_body, sizeof(seen_body), "%s", body_s);
                pthread_mutex_unlock(&seen_lock);
                if (!strcmp(url, "/hook/bigid")) {
                        static char big[2100];

                        memset(big, 0, sizeof(big));
                        strcpy(big, "{\"job\":{\"id\":\"");
                        memset(big + strlen(big), 'A', 2000);
                        strcat(big, "\"}}");
                        return test_mhd_answer(c, 201, big);
                }
                /* /hook/flaky: one 503 first, as a busy server would */
                if (!strcmp(url, "/hook/flaky") && n == 1)
                        return test_mhd_answer(c, 503, "{}");
                return test_mhd_answer(c, 201, "{\"job\":{\"id\":\"J-42\"}}");
        }
        if (!strcmp(url, "/jobs/J-42")) {
                int n = atomic_fetch_add(&polls, 1) + 1;
                int after = atomic_load(&state_after);

                if (after < 0)
                        return test_mhd_answer(c, 404, "{\"detail\":\"no job J-42\"}");
                if (n <= after)
                        return test_mhd_answer(c, 200, "{\"status\":{\"phase\":\"busy\"}}");
                return test_mhd_answer(c, 200, atomic_load(&cancels)
                                              ? "{\"status\":{\"phase\":\"stopped\"}}"
                                              : "{\"status\":{\"phase\":\"ok\"}}");
        }
        if (!strcmp(url, "/jobs/J-42/cancel")) {
                atomic_fetch_add(&cancels, 1);
                return test_mhd_answer(c, 202, "{}");
        }
        return test_mhd_answer(c, 404, "{}");
}

static void setup(void) {
        atomic_store(&triggers, 0);
        atomic_store(&polls, 0);
        atomic_store(&cancels, 0);
        atomic_store(&state_after, 2);
        srv = test_mhd_start(handler, base, sizeof(base));
        ck_assert_ptr_nonnull(srv);
}

static void teardown(void) {
        if (srv)
                MHD_stop_daemon(srv);
}

/* A backend with config @p kv ("k=v" pairs, NULL-ended). */
static floq_backend_t *backend(const char *const *kv, char *err,
                               size_t err_size) {
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;
        size_t i;

        floq_conf_set(conf, "http.retries", "2", err, err_size);
        for (i = 0; kv && kv[i]; i++) {
                char name[128];
                const char *eq = strchr(kv[i], '=');

                snprintf(name, sizeof(name), "%.*s", (int)(eq - kv[i]), kv[i]);
                ck_assert_int_eq(floq_conf_set(conf, name, eq + 1, err,
                                               err_size),
                                 FLOQ_OK);
        }
        be = floq_backend_http.new_(conf, err, err_size);
        floq_conf_destroy(conf);
        return be;
}

/* The spec of the test hook, with URLs on the test server. */
static json_t *spec_of(const char *hook, int with_status) {
        char url[160], st[160], cancel[160];

        snprintf(url, sizeof(url), "%s%s", base, hook);
        snprintf(st, sizeof(st), "%s/jobs/{id}", base);
        snprintf(cancel, sizeof(cancel), "%s/jobs/{id}/cancel", base);
        if (!with_status)
                return json_pack("{s:s,s:{s:s}}", "url", url, "body", "day",
                                 "{date}");
        return json_pack("{s:s,s:{s:s,s:s},s:s,s:s,s:s,s:s,"
                         "s:{s:s,s:s,s:s},s:i}",
                         "url", url, "body", "day", "{date}", "run", "{run_id}",
                         "id_path", "job.id", "status_url", st, "cancel_url",
                         cancel, "state_path", "status.phase", "states", "busy",
                         "RUNNING", "ok", "SUCCEEDED", "stopped", "CANCELLED",
                         "poll_interval_ms", 100);
}

/* start + wait to the end, as the executor does; the outcome. */
static floq_outcome_t run(floq_backend_t *be, json_t *spec,
                          floq_run_result_t *res, int stop_after_polls,
                          floq_stop_why_t why) {
        json_t *params = json_pack("{s:s}", "date", "2026-12-01");
        floq_run_req_t req = { .run_id = "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b",
                               .deployment = "hook", .attempt = 2,
                               .spec = spec, .params = params };
        floq_attempt_t *att = NULL;
        char err[512] = "";
        int stopped = 0;

        memset(res, 0, sizeof(*res));
        ck_assert_int_eq(be->ops->deploy(be, "hook", spec, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_msg(be->ops->start(be, &req, &att, err, sizeof(err)) ==
                              FLOQ_OK,
                      "start: %s", err);
        while (be->ops->wait(be, att, 100, res) == FLOQ_ERR_TIMED_OUT) {
                if (!stopped && stop_after_polls &&
                    atomic_load(&polls) >= stop_after_polls) {
                        be->ops->stop(be, att, why);
                        stopped = 1;
                }
        }
        be->ops->attempt_destroy(be, att);
        json_decref(params);
        return res->outcome;
}

START_TEST(test_trigger_and_poll) {
        char err[512];
        floq_backend_t *be = backend(NULL, err, sizeof(err));
        json_t *spec = spec_of("/hook/flaky", 1), *body;
        floq_run_result_t res;

        ck_assert_ptr_nonnull(be);
        ck_assert_int_eq(run(be, spec, &res, 0, 0), FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_str_eq(res.backend_ref, "J-42");
        /* the 503 was retried with the same key: one remote run */
        ck_assert_int_eq(atomic_load(&triggers), 2);
        ck_assert_str_eq(seen_key, "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b-2");
        ck_assert_int_eq(atomic_load(&polls), 3); /* busy, busy, ok */
        body = json_loads(seen_body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(body, "day")),
                         "2026-12-01");
        ck_assert_str_eq(json_string_value(json_object_get(body, "run")),
                         "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b");
        ck_assert_str_eq(seen_auth, ""); /* no token configured */
        json_decref(body);
        floq_run_result_release(&res);
        json_decref(spec);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_fire_and_forget) {
        char err[512];
        floq_backend_t *be = backend(NULL, err, sizeof(err));
        json_t *spec = spec_of("/hook", 0);
        floq_run_result_t res;

        ck_assert_int_eq(run(be, spec, &res, 0, 0), FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(atomic_load(&polls), 0);
        floq_run_result_release(&res);
        json_decref(spec);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_remote_run_removed) {
        char err[512];
        floq_backend_t *be = backend(NULL, err, sizeof(err));
        json_t *spec = spec_of("/hook", 1);
        floq_run_result_t res;

        atomic_store(&state_after, -1);
        ck_assert_int_eq(run(be, spec, &res, 0, 0), FLOQ_OUTCOME_FAILED);
        ck_assert_ptr_nonnull(strstr(res.reason, "the remote run is gone"));
        ck_assert_ptr_nonnull(strstr(res.reason, "404"));
        floq_run_result_release(&res);
        json_decref(spec);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_unreachable_ends_lost) {
        static const char *const kv[] = { "http.backend.unreachable.ms=600",
                                          NULL };
        char err[512];
        floq_backend_t *be = backend(kv, err, sizeof(err));
        json_t *params = json_pack("{s:s}", "date", "d");
        json_t *spec = spec_of("/hook", 1);
        floq_run_req_t req = { .run_id = "r", .deployment = "hook",
                               .attempt = 1, .spec = spec, .params = params };
        floq_attempt_t *att = NULL;
        floq_run_result_t res = { 0 };
        int slices = 0;

        ck_assert_int_eq(be->ops->start(be, &req, &att, err, sizeof(err)),
                         FLOQ_OK);
        /* the server goes away mid-run */
        MHD_stop_daemon(srv);
        srv = NULL;
        while (be->ops->wait(be, att, 100, &res) == FLOQ_ERR_TIMED_OUT)
                ck_assert_int_lt(++slices, 200); /* bounded: never forever */
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_LOST);
        ck_assert_ptr_nonnull(strstr(res.reason, "http.backend.unreachable.ms"));
        ck_assert_ptr_nonnull(strstr(res.reason, "GET /jobs/J-42"));
        floq_run_result_release(&res);
        be->ops->attempt_destroy(be, att);
        json_decref(spec);
        json_decref(params);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_cancel_and_drain) {
        char err[512];
        floq_backend_t *be = backend(NULL, err, sizeof(err));
        json_t *spec = spec_of("/hook", 1);
        floq_run_result_t res;

        atomic_store(&state_after, 1000); /* busy for a long time */
        ck_assert_int_eq(run(be, spec, &res, 1, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_CANCELLED);
        ck_assert_int_eq(atomic_load(&cancels), 1);
        floq_run_result_release(&res);
        /* a drain leaves the remote run alone (the next owner starts the
         * same attempt, with the same Idempotency-Key) */
        atomic_store(&polls, 0);
        ck_assert_int_eq(run(be, spec, &res, 1, FLOQ_STOP_DRAIN),
                         FLOQ_OUTCOME_ABANDONED);
        ck_assert_int_eq(atomic_load(&cancels), 1);
        floq_run_result_release(&res);
        json_decref(spec);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_token_only_where_allowed) {
        char err[512], tok[] = "/tmp/floq-test-token-XXXXXX", allowed[200];
        const char *kv[3];
        int fd = mkstemp(tok);
        floq_backend_t *be;
        json_t *spec;
        floq_run_result_t res;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "T0KEN-abc\n", 10), 10);
        close(fd);
        snprintf(allowed, sizeof(allowed), "http.backend.token.file=%s", tok);
        kv[0] = allowed;
        kv[1] = NULL;
        /* a token with no allowed prefixes: refused, it could go anywhere */
        ck_assert_ptr_null(backend(kv, err, sizeof(err)));
        ck_assert_ptr_nonnull(strstr(err, "http.backend.allowed.urls"));

        {
                char a2[200];

                snprintf(a2, sizeof(a2), "http.backend.allowed.urls=%s/hook",
                         base);
                kv[1] = a2;
                kv[2] = NULL;
                be = backend(kv, err, sizeof(err));
                ck_assert_ptr_nonnull(be);
                spec = spec_of("/hook", 0);
                ck_assert_int_eq(run(be, spec, &res, 0, 0),
                                 FLOQ_OUTCOME_SUCCEEDED);
                ck_assert_str_eq(seen_auth, "Bearer T0KEN-abc");
                floq_run_result_release(&res);
                json_decref(spec);
                /* a URL outside the prefixes is refused at deploy, and so
                 * is a look-alike host */
                spec = json_pack("{s:s}", "url", "http://127.0.0.1:1/other");
                ck_assert_int_eq(be->ops->deploy(be, "x", spec, err,
                                                 sizeof(err)),
                                 FLOQ_ERR_REJECTED);
                ck_assert_ptr_nonnull(strstr(err, "not under"));
                json_decref(spec);
                {
                        char look[200];

                        snprintf(look, sizeof(look), "%s/hookx.evil/a", base);
                        spec = json_pack("{s:s}", "url", look);
                        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err,
                                                         sizeof(err)),
                                         FLOQ_ERR_REJECTED);
                        json_decref(spec);
                }
                be->ops->destroy(be);
        }
        unlink(tok);
}
END_TEST

START_TEST(test_token_cannot_escape) {
        /* Review findings: user info that makes curl connect elsewhere, a
         * run parameter that walks out of the allowed path, a request line
         * smuggled through cancel_method, and validate skipping the
         * header checks: none may carry the token anywhere else. */
        char err[512], tok[] = "/tmp/floq-test-token-XXXXXX", kt[200],
                ka[200], url[300];
        const char *kv[3] = { kt, ka, NULL };
        int fd = mkstemp(tok);
        floq_backend_t *be;
        json_t *spec, *params;
        floq_run_req_t req = { .run_id = "r", .deployment = "x",
                               .attempt = 1 };
        floq_attempt_t *att = NULL;
        const char *host = base + strlen("http://");

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "T0KEN-abc\n", 10), 10);
        close(fd);
        snprintf(kt, sizeof(kt), "http.backend.token.file=%s", tok);
        snprintf(ka, sizeof(ka), "http.backend.allowed.urls=%s/jobs", base);
        be = backend(kv, err, sizeof(err));
        ck_assert_ptr_nonnull(be);

        /* user info: curl would connect to the host after '@' */
        snprintf(url, sizeof(url), "%s/jobs:80@127.0.0.1:1/x", base);
        spec = json_pack("{s:s}", "url", url);
        ck_assert_int_ne(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_OK);
        json_decref(spec);
        snprintf(url, sizeof(url), "http://%s:80@%s/jobs/x", host, host);
        spec = json_pack("{s:s}", "url", url);
        ck_assert_int_ne(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_ne(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_OK);
        json_decref(spec);
        /* a look-alike path */
        snprintf(url, sizeof(url), "%s/jobsx/y", base);
        spec = json_pack("{s:s}", "url", url);
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_ERR_REJECTED);
        json_decref(spec);

        /* a parameter cannot leave its path segment: "../hook" stays one
         * (percent-encoded) segment under /jobs, and /hook is never
         * called */
        snprintf(url, sizeof(url), "%s/jobs/{p}", base);
        spec = json_pack("{s:s}", "url", url);
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_OK);
        params = json_pack("{s:s}", "p", "../hook?a=b#c");
        req.spec = spec;
        req.params = params;
        ck_assert_int_ne(be->ops->start(be, &req, &att, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(atomic_load(&triggers), 0);
        json_decref(params);
        json_decref(spec);

        /* methods are a fixed list: no request line smuggled */
        snprintf(url, sizeof(url), "%s/jobs/x", base);
        spec = json_pack("{s:s,s:s}", "url", url, "cancel_method",
                         "DELETE /admin HTTP/1.1\r\nHost: internal\r\nX:");
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        spec = json_pack("{s:s,s:s}", "url", url, "cancel_method", "DELETE");
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_OK);
        json_decref(spec);

        /* validate applies the deploy checks: no header injection */
        spec = json_pack("{s:s,s:{s:s}}", "url", url, "headers", "X-A",
                         "a\r\nX-Injected: yes");
        ck_assert_int_ne(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_OK);
        json_decref(spec);
        spec = json_pack("{s:s,s:{s:s}}", "url", url, "headers", "Host",
                         "internal");
        ck_assert_int_ne(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_OK);
        json_decref(spec);
        be->ops->destroy(be);
        unlink(tok);
}
END_TEST

START_TEST(test_remote_job_not_left_behind) {
        /* Second review: a remote id too large to keep is replaced by the
         * attempt key; a status nobody mapped, and a timeout the remote
         * job was not told of, end LOST (final) instead of a retryable
         * outcome that would start a second job beside the first (G2). */
        char err[512];
        floq_backend_t *be = backend(NULL, err, sizeof(err));
        json_t *spec = spec_of("/hook/bigid", 0), *states;
        floq_run_result_t res;

        ck_assert_int_eq(run(be, spec, &res, 0, 0), FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_str_eq(res.backend_ref,
                         "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b-2");
        floq_run_result_release(&res);
        json_decref(spec);

        /* "busy" not in the table */
        spec = spec_of("/hook", 1);
        states = json_object_get(spec, "states");
        json_object_del(states, "busy");
        ck_assert_int_eq(run(be, spec, &res, 0, 0), FLOQ_OUTCOME_LOST);
        ck_assert_ptr_nonnull(strstr(res.reason, "may still run"));
        floq_run_result_release(&res);
        json_decref(spec);

        /* a timeout with no cancel_url */
        atomic_store(&polls, 0);
        atomic_store(&state_after, 1000);
        spec = spec_of("/hook", 1);
        json_object_del(spec, "cancel_url");
        ck_assert_int_eq(run(be, spec, &res, 1, FLOQ_STOP_TIMEOUT),
                         FLOQ_OUTCOME_LOST);
        ck_assert_ptr_nonnull(strstr(res.reason, "may still run"));
        floq_run_result_release(&res);
        /* with a cancel_url that answers, it is TIMED_OUT as before */
        json_decref(spec);
        spec = spec_of("/hook", 1);
        atomic_store(&polls, 0);
        ck_assert_int_eq(run(be, spec, &res, 1, FLOQ_STOP_TIMEOUT),
                         FLOQ_OUTCOME_TIMED_OUT);
        floq_run_result_release(&res);
        json_decref(spec);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_deploy_checks) {
        static const char *const bad[] = {
                "{}",
                "{\"url\":\"file:///etc/passwd\"}",
                "{\"url\":\"http://{host}/x\"}",
                "{\"url\":\"http://h/x\",\"headers\":{\"Authorization\":\"x\"}}",
                "{\"url\":\"http://h/x\",\"headers\":{\"X-A\":\"a\\r\\nB: c\"}}",
                "{\"url\":\"http://h/x\",\"status_url\":\"http://h/s\"}",
                "{\"url\":\"http://h/x\",\"status_url\":\"http://h/s\","
                "\"states\":{\"a\":\"DONE\"}}",
                "{\"url\":\"http://h/x\",\"method\":\"DELETE\"}",
                "{\"url\":\"http://h/x\",\"body\":{\"a\":\"{unclosed\"}}",
                "{\"url\":\"http://h/x\",\"poll_interval_ms\":5}",
        };
        char err[512];
        floq_backend_t *be = backend(NULL, err, sizeof(err));
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *spec = json_loads(bad[i], 0, NULL);

                ck_assert_ptr_nonnull(spec);
                ck_assert_msg(be->ops->deploy(be, "x", spec, err,
                                              sizeof(err)) != FLOQ_OK,
                              "accepted %s", bad[i]);
                json_decref(spec);
        }
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_validate) {
        char err[512];
        floq_backend_t *be = backend(NULL, err, sizeof(err));
        json_t *spec = spec_of("/hook", 0);

        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_OK);
        json_decref(spec);
        spec = json_pack("{s:s}", "url", "http://127.0.0.1:1/hook");
        ck_assert(test_unreachable(be->ops->validate(be, spec, err, sizeof(err))));
        ck_assert_ptr_nonnull(strstr(err, "GET /hook"));
        json_decref(spec);
        be->ops->destroy(be);
}
END_TEST

int main(void) {
        Suite *s = suite_create("backend_http");
        TCase *tc = tcase_create("webhook");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_trigger_and_poll);
        tcase_add_test(tc, test_fire_and_forget);
        tcase_add_test(tc, test_remote_run_removed);
        tcase_add_test(tc, test_unreachable_ends_lost);
        tcase_add_test(tc, test_cancel_and_drain);
        tcase_add_test(tc, test_token_only_where_allowed);
        tcase_add_test(tc, test_token_cannot_escape);
        tcase_add_test(tc, test_remote_job_not_left_behind);
        tcase_add_test(tc, test_deploy_checks);
        tcase_add_test(tc, test_validate);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
