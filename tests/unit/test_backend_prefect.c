/*
 * test_backend_prefect.c - the prefect backend (worker/backends/prefect.c)
 * against a fake Prefect REST API (libmicrohttpd) that plays a flow run
 * through a scripted list of state types: every state type's mapping
 * (CRASHED -> FAILED with the state message, PAUSED and CANCELLING keep it
 * running, CANCELLED from outside), create_flow_run's body (the run's
 * params over the spec's, idempotency_key = run id + attempt), deploy's
 * name -> id resolution, the API key as Bearer, stop = set_state
 * CANCELLING then CANCELLED, and the forced CANCELLED when no runner acts
 * within prefect.stop.grace.ms. The real server is in
 * tests/integration/0250-backend-prefect.sh.
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

#define DEP_ID "0d6c1b2a-1111-4222-8333-944455556666"
#define FR_ID  "5f0e9d8c-7777-4888-9999-aaaabbbbcccc"
#define RUN_ID "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b"

static struct MHD_Daemon *srv;
static char api[64];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* the flow run's script: state types in turn, the last one stays */
static const char *const *script;
static const char *script_msg;
static int polls, cancelling_sent, forced_sent, creates;
static int runner_acts; /* 1: CANCELLING becomes CANCELLED at the next poll */
static int refuse_force; /* 1: a forced CANCELLED is answered REJECT */
static char seen_auth[256], seen_create[1024];
static const char *start_timeout; /* prefect.start.timeout.ms, NULL: default */


static enum MHD_Result flow_run(struct MHD_Connection *c) {
        const char *type;
        char body[512];
        int i;

        pthread_mutex_lock(&lock);
        if (forced_sent) {
                type = "CANCELLED";
        } else if (cancelling_sent) {
                type = runner_acts ? "CANCELLED" : "CANCELLING";
        } else {
                for (i = 0; script[i + 1] && i < polls; i++)
                        ;
                type = script[i];
                polls++;
        }
        snprintf(body, sizeof(body),
                 "{\"id\":\"" FR_ID "\",\"deployment_id\":\"" DEP_ID "\","
                 "\"state\":{\"type\":\"%s\",\"message\":%s%s%s}}",
                 type, script_msg ? "\"" : "", script_msg ? script_msg : "null",
                 script_msg ? "\"" : "");
        pthread_mutex_unlock(&lock);
        if (!strcmp(type, "GONE"))
                return test_mhd_answer(c, 404, "{\"detail\":\"Flow run not found\"}");
        if (!strcmp(type, "REFUSED"))
                return test_mhd_answer(c, 403, "{\"detail\":\"Forbidden\"}");
        return test_mhd_answer(c, 200, body);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
        test_mhd_body_t *up;
        const char *body_s;
        const char *v;

        (void)cls;
        (void)version;
        if (test_mhd_gather(con_cls, data, data_size))
                return MHD_YES;
        up = *con_cls;
        body_s = up->data ? up->data : "";
        pthread_mutex_lock(&lock);
        v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        snprintf(seen_auth, sizeof(seen_auth), "%s", v ? v : "");
        pthread_mutex_unlock(&lock);
        if (!strcmp(url, "/api/health"))
                return test_mhd_answer(c, 200, "true");
        if (!strcmp(url, "/api/flows/filter"))
                return test_mhd_answer(c, 200, "[]");
        if (!strcmp(url, "/api/deployments/name/etl/nightly") ||
            !strcmp(url, "/api/deployments/" DEP_ID))
                return test_mhd_answer(c, 200, "{\"id\":\"" DEP_ID "\"}");
        if (!strcmp(url, "/api/deployments/" DEP_ID "/create_flow_run") &&
            !strcmp(method, "POST")) {
                pthread_mutex_lock(&lock);
                creates++;
                snprintf(seen_create, sizeof(seen_create), "%s", body_s);
                pthread_mutex_unlock(&lock);
                return test_mhd_answer(c, 201,
                              "{\"id\":\"" FR_ID "\",\"state\":{\"type\":"
                              "\"SCHEDULED\"}}");
        }
        if (!strcmp(url, "/api/flow_runs/" FR_ID))
                return flow_run(c);
        if (!strcmp(url, "/api/flow_runs/" FR_ID "/set_state")) {
                pthread_mutex_lock(&lock);
                if (strstr(body_s, "\"CANCELLING\""))
                        cancelling_sent++;
                if (strstr(body_s, "\"CANCELLED\"") &&
                    strstr(body_s, "true")) {
                        if (refuse_force) {
                                pthread_mutex_unlock(&lock);
                                return test_mhd_answer(
                                        c, 200,
                                        "{\"status\":\"REJECT\","
                                        "\"details\":{\"reason\":\"no\"}}");
                        }
                        forced_sent++;
                }
                pthread_mutex_unlock(&lock);
                return test_mhd_answer(c, 201, "{\"status\":\"ACCEPT\"}");
        }
        return test_mhd_answer(c, 404, "{\"detail\":\"Not Found\"}");
}

static void setup(void) {
        polls = cancelling_sent = forced_sent = creates = runner_acts = 0;
        start_timeout = NULL;
        refuse_force = 0;
        script_msg = NULL;
        seen_auth[0] = seen_create[0] = '\0';
        srv = test_mhd_start(handler, api, sizeof(api));
        ck_assert_ptr_nonnull(srv);
        strncat(api, "/api", sizeof(api) - strlen(api) - 1);
}

static void teardown(void) {
        if (srv)
                MHD_stop_daemon(srv);
}

/* A backend on the fake server, with @p key_file (may be NULL). */
static floq_backend_t *backend(const char *key_file) {
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;
        char err[512] = "";

        ck_assert_int_eq(floq_conf_set(conf, "prefect.api.url", api, err,
                                       sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "prefect.poll.interval.ms", "100",
                                       err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "prefect.stop.grace.ms", "400",
                                       err, sizeof(err)),
                         FLOQ_OK);
        if (start_timeout)
                ck_assert_int_eq(floq_conf_set(conf,
                                               "prefect.start.timeout.ms",
                                               start_timeout, err,
                                               sizeof(err)),
                                 FLOQ_OK);
        if (key_file)
                ck_assert_int_eq(floq_conf_set(conf, "prefect.api.key.file",
                                               key_file, err, sizeof(err)),
                                 FLOQ_OK);
        be = floq_backend_prefect.new_(conf, err, sizeof(err));
        ck_assert_msg(be != NULL, "new: %s", err);
        floq_conf_destroy(conf);
        return be;
}

/* deploy + start + wait to the end, as the executor does; stop with @p why
 * once @p stop_after_polls polls were answered (0: never). */
static floq_outcome_t run(floq_backend_t *be, floq_run_result_t *res,
                          int stop_after_polls, floq_stop_why_t why) {
        json_t *spec = json_pack("{s:s,s:{s:s,s:s}}", "deployment",
                                 "etl/nightly", "parameters", "day", "spec",
                                 "env", "prod");
        json_t *params = json_pack("{s:s}", "day", "2026-12-01");
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "nightly",
                               .attempt = 3, .spec = spec, .params = params };
        floq_attempt_t *att = NULL;
        char err[512] = "";
        int stopped = 0, n;

        memset(res, 0, sizeof(*res));
        ck_assert_msg(be->ops->deploy(be, "nightly", spec, err, sizeof(err)) ==
                              FLOQ_OK,
                      "deploy: %s", err);
        ck_assert_str_eq(json_string_value(json_object_get(spec,
                                                           "deployment_id")),
                         DEP_ID);
        ck_assert_msg(be->ops->start(be, &req, &att, err, sizeof(err)) ==
                              FLOQ_OK,
                      "start: %s", err);
        ck_assert_str_eq(be->ops->ref(be, att), FR_ID);
        while (be->ops->wait(be, att, 100, res) == FLOQ_ERR_TIMED_OUT) {
                pthread_mutex_lock(&lock);
                n = polls;
                pthread_mutex_unlock(&lock);
                if (!stopped && stop_after_polls && n >= stop_after_polls) {
                        be->ops->stop(be, att, why);
                        stopped = 1;
                }
        }
        be->ops->attempt_destroy(be, att);
        json_decref(spec);
        json_decref(params);
        ck_assert_str_eq(res->backend_ref, FR_ID);
        return res->outcome;
}

START_TEST(test_completed) {
        static const char *const s[] = { "SCHEDULED", "PENDING", "RUNNING",
                                         "PAUSED", "RUNNING", "COMPLETED",
                                         NULL };
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;
        json_t *body;

        script = s;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_ge(polls, 6); /* PAUSED did not end it */
        ck_assert_int_eq(creates, 1);
        body = json_loads(seen_create, 0, NULL);
        ck_assert_ptr_nonnull(body);
        ck_assert_str_eq(json_string_value(json_object_get(body,
                                                           "idempotency_key")),
                         RUN_ID "-3");
        /* the run's params over the spec's */
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(body, "parameters"), "day")),
                         "2026-12-01");
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(body, "parameters"), "env")),
                         "prod");
        ck_assert_str_eq(seen_auth, ""); /* no key: none sent */
        json_decref(body);
        floq_run_result_release(&res);
        floq_backend_prefect.destroy(be);
}
END_TEST

START_TEST(test_crashed_failed_cancelled_gone) {
        static const char *const crashed[] = { "RUNNING", "CRASHED", NULL };
        static const char *const failed[] = { "RUNNING", "FAILED", NULL };
        static const char *const outside[] = { "RUNNING", "CANCELLING",
                                               "CANCELLED", NULL };
        static const char *const gone[] = { "RUNNING", "GONE", NULL };
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;

        script = crashed;
        script_msg = "Process exited with status code: 137";
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_FAILED);
        ck_assert_ptr_nonnull(strstr(res.reason, "crashed: Process exited "
                                                 "with status code: 137"));
        ck_assert_ptr_nonnull(strstr(res.reason, "/runs/flow-run/" FR_ID));
        floq_run_result_release(&res);

        polls = 0;
        script = failed;
        script_msg = "ValueError: boom";
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_FAILED);
        ck_assert_ptr_nonnull(strstr(res.reason, "failed: ValueError: boom"));
        floq_run_result_release(&res);

        polls = 0;
        script = outside;
        script_msg = NULL;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_CANCELLED);
        ck_assert_ptr_nonnull(strstr(res.reason, "cancelled in Prefect"));
        ck_assert_int_eq(cancelling_sent, 0);
        floq_run_result_release(&res);

        polls = 0;
        script = gone;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_FAILED);
        ck_assert_ptr_nonnull(strstr(res.reason, "deleted"));
        floq_run_result_release(&res);
        floq_backend_prefect.destroy(be);
}
END_TEST

START_TEST(test_stop_cancelling_then_cancelled) {
        static const char *const s[] = { "RUNNING", NULL };
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;

        script = s;
        runner_acts = 1;
        ck_assert_int_eq(run(be, &res, 2, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_CANCELLED);
        ck_assert_int_eq(cancelling_sent, 1);
        ck_assert_int_eq(forced_sent, 0);
        ck_assert_ptr_nonnull(strstr(res.reason, "cancelled in Prefect"));
        floq_run_result_release(&res);
        floq_backend_prefect.destroy(be);
}
END_TEST

START_TEST(test_stop_forced_after_grace) {
        static const char *const s[] = { "RUNNING", NULL };
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;

        script = s;
        runner_acts = 0; /* nobody acts on CANCELLING */
        ck_assert_int_eq(run(be, &res, 2, FLOQ_STOP_TIMEOUT),
                         FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(cancelling_sent, 1);
        ck_assert_int_eq(forced_sent, 1);
        ck_assert_ptr_nonnull(strstr(res.reason, "forced CANCELLED"));
        floq_run_result_release(&res);
        floq_backend_prefect.destroy(be);
}
END_TEST

/* Item 11: a flow run no worker picks up (SCHEDULED, then PENDING) does
 * not stay RUNNING forever: past prefect.start.timeout.ms it is cancelled
 * and the attempt ends TIMED_OUT saying why. */
START_TEST(test_stuck_scheduled_times_out) {
        static const char *const s[] = { "SCHEDULED", "PENDING", NULL };
        floq_backend_t *be;
        floq_run_result_t res;

        start_timeout = "500";
        be = backend(NULL);
        script = s;
        runner_acts = 1;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(cancelling_sent, 1);
        ck_assert_ptr_nonnull(strstr(res.reason, "still PENDING after"));
        ck_assert_ptr_nonnull(strstr(res.reason, "prefect.start.timeout.ms"));
        ck_assert_ptr_nonnull(strstr(res.reason, "cancelled in Prefect"));
        floq_run_result_release(&res);
        floq_backend_prefect.destroy(be);
}
END_TEST

/* An answer that does not say how the flow run is (a state type floq does
 * not know, a refused poll) is LOST, not FAILED nor RUNNING forever: a
 * retry could run a second flow run beside it. */
START_TEST(test_indeterminate_is_lost) {
        static const char *const unknown[] = { "RUNNING", "SUSPENDED", NULL };
        static const char *const refused[] = { "RUNNING", "REFUSED", NULL };
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;

        script = unknown;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_LOST);
        ck_assert_ptr_nonnull(strstr(res.reason, "'SUSPENDED'"));
        floq_run_result_release(&res);

        polls = 0;
        script = refused;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_LOST);
        ck_assert_ptr_nonnull(strstr(res.reason, "403"));
        ck_assert_ptr_nonnull(strstr(res.reason, "may still run"));
        floq_run_result_release(&res);
        floq_backend_prefect.destroy(be);
}
END_TEST

/* A run timeout whose flow run could not be cancelled nor forced
 * CANCELLED may still run: LOST (no retry beside it), not TIMED_OUT. */
START_TEST(test_timeout_not_ended_is_lost) {
        static const char *const s[] = { "RUNNING", NULL };
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;

        script = s;
        refuse_force = 1;
        ck_assert_int_eq(run(be, &res, 2, FLOQ_STOP_TIMEOUT),
                         FLOQ_OUTCOME_LOST);
        ck_assert_int_eq(cancelling_sent, 1);
        ck_assert_ptr_nonnull(strstr(res.reason, "REJECT"));
        floq_run_result_release(&res);
        floq_backend_prefect.destroy(be);
}
END_TEST

START_TEST(test_key_and_deploy_checks) {
        char path[] = "/tmp/floq-prefect-key-XXXXXX", err[512];
        int fd = mkstemp(path);
        floq_backend_t *be;
        json_t *spec;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "pnu_TESTKEY\n", 12), 12);
        close(fd);
        be = backend(path);
        spec = json_pack("{s:s}", "deployment", "etl/nightly");
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_str_eq(seen_auth, "Bearer pnu_TESTKEY");
        json_decref(spec);
        spec = json_pack("{s:s}", "deployment", "etl/other");
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_ptr_nonnull(strstr(err, "deployment 'etl/other' not found"));
        ck_assert_ptr_null(strstr(err, "TESTKEY"));
        json_decref(spec);
        spec = json_pack("{s:s}", "deployment", "no-slash");
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        spec = json_pack("{s:s}", "deployment", "etl/a?b=c");
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        spec = json_pack("{s:s}", "deployment_id", DEP_ID);
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_OK);
        json_decref(spec);
        floq_backend_prefect.destroy(be);
        unlink(path);
}
END_TEST

int main(void) {
        Suite *s = suite_create("backend_prefect");
        TCase *tc = tcase_create("prefect");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_completed);
        tcase_add_test(tc, test_crashed_failed_cancelled_gone);
        tcase_add_test(tc, test_stop_cancelling_then_cancelled);
        tcase_add_test(tc, test_stop_forced_after_grace);
        tcase_add_test(tc, test_key_and_deploy_checks);
        tcase_add_test(tc, test_stuck_scheduled_times_out);
        tcase_add_test(tc, test_indeterminate_is_lost);
        tcase_add_test(tc, test_timeout_not_ended_is_lost);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
