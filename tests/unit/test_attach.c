/*
 * test_attach.c - unit tests of the re-attach path of the attempt pool
 * (worker/executor.c, floq_run_req_t.attach_ref), the core of a takeover
 * of a remote run (worker/runs.c submits it): a fake backend whose
 * attach() answers as each case asks. A remote run that is gone
 * (FLOQ_ERR_NOT_FOUND) ends FAILED with the reason; a retriable error is
 * retried with backoff until the backend's unreachable bound and then
 * ends LOST with the last error; an attach that succeeds is tracked to the
 * end like a started attempt (STARTED with the backend's reference and
 * URL, then FINISHED with the remote outcome); start() is never called, so
 * never a second remote run; a backend without attach() ends LOST; a stop
 * during the retries ends them. Then each backend's attach() against a
 * local fake of its server (libmicrohttpd): an existing remote run is
 * tracked to its end without a single POST (no second remote run), a
 * missing one is FLOQ_ERR_NOT_FOUND, a closed port a retriable error, and
 * what cannot be re-attached (no status URL, no DAG id) a fatal one. Every
 * wait is a condition with a deadline.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "test_mhd.h"
#include "test_util.h"

#define RUN_ID "00000000-0000-4000-8000-0000000000a1"
#define REF    "00000000-0000-4000-8000-0000000000a1-1"

/* What the fake's attach() answers: its first @c fails_before calls
 * return @c fail_err, then @c final_err (FLOQ_OK: attached). */
static floq_err_t fail_err, final_err;
static int fails_before;
static atomic_int attaches, starts, waits_to_end;

struct floq_attempt_s {
        char ref[64];
        int waits;
};

static floq_err_t fake_start(floq_backend_t *be, const floq_run_req_t *req,
                             floq_attempt_t **attp, char *errstr,
                             size_t errstr_size) {
        (void)be;
        (void)req;
        (void)attp;
        atomic_fetch_add(&starts, 1);
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_STATE,
                           "start() must not be called on a re-attach");
}

static floq_err_t fake_attach(floq_backend_t *be, const floq_run_req_t *req,
                              const char *ref, floq_attempt_t **attp,
                              char *errstr, size_t errstr_size) {
        int n = atomic_fetch_add(&attaches, 1);
        floq_err_t err = n < fails_before ? fail_err : final_err;
        floq_attempt_t *a;

        (void)be;
        ck_assert_str_eq(req->run_id, RUN_ID);
        ck_assert_str_eq(ref, REF);
        if (err)
                return floq_seterr(errstr, errstr_size, err,
                                   "fake: answer %d to attach", n + 1);
        ck_assert_ptr_nonnull(a = calloc(1, sizeof(*a)));
        snprintf(a->ref, sizeof(a->ref), "%s", ref);
        *attp = a;
        return FLOQ_OK;
}

static floq_err_t fake_wait(floq_backend_t *be, floq_attempt_t *att,
                            int wait_ms, floq_run_result_t *res) {
        (void)be;
        (void)wait_ms;
        if (++att->waits < atomic_load(&waits_to_end))
                return FLOQ_ERR_TIMED_OUT;
        memset(res, 0, sizeof(*res));
        res->outcome = FLOQ_OUTCOME_SUCCEEDED;
        res->exit_code = -1;
        return FLOQ_OK;
}

static floq_err_t fake_stop(floq_backend_t *be, floq_attempt_t *att,
                            floq_stop_why_t why) {
        (void)be;
        (void)att;
        (void)why;
        return FLOQ_OK;
}

static const char *fake_ref(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        return att->ref;
}

static const char *fake_url(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        (void)att;
        return "http://ui.example/runs/" REF;
}

static void fake_destroy_attempt(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        free(att);
}

static floq_backend_ops_t fake_ops = {
        .name = "fake",
        .outlives_worker = 1,
        .start = fake_start,
        .wait = fake_wait,
        .stop = fake_stop,
        .ref = fake_ref,
        .attempt_destroy = fake_destroy_attempt,
        .attach = fake_attach,
        .url = fake_url,
};

static floq_backend_t fake_be = { .ops = &fake_ops };

static void setup(void) {
        fail_err = FLOQ_OK;
        final_err = FLOQ_OK;
        fails_before = 0;
        atomic_store(&attaches, 0);
        atomic_store(&starts, 0);
        atomic_store(&waits_to_end, 3);
        fake_ops.attach = fake_attach;
        fake_be.unreachable_ms = 0;
}

static floq_executor_t *submit_attach(void) {
        floq_run_req_t req = {
                .run_id = RUN_ID,
                .deployment = "remote",
                .attempt = 1,
                .attach_ref = REF,
        };
        char errstr[256];
        floq_executor_t *ex = floq_executor_new(2, -1, errstr, sizeof(errstr));

        ck_assert_msg(ex != NULL, "%s", errstr);
        ck_assert_msg(floq_executor_submit(ex, &fake_be, &req, NULL, errstr,
                                           sizeof(errstr)) == FLOQ_OK,
                      "%s", errstr);
        return ex;
}

/* The next event within @p ms (fails the test when none comes). */
static void next_event(floq_executor_t *ex, floq_exec_event_t *ev, int ms) {
        int64_t deadline = floq_mono_ms() + ms;

        memset(ev, 0, sizeof(*ev));
        while (!floq_executor_next_event(ex, ev, 100))
                ck_assert_msg(floq_mono_ms() < deadline,
                              "no executor event within %d ms", ms);
}

START_TEST(test_attached_is_tracked) {
        floq_executor_t *ex;
        floq_exec_event_t ev;

        ex = submit_attach();
        next_event(ex, &ev, 5000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_STARTED);
        ck_assert_str_eq(ev.backend_ref, REF);
        ck_assert_str_eq(ev.backend_url, "http://ui.example/runs/" REF);
        ck_assert_str_eq(ev.backend, "fake");
        floq_exec_event_release(&ev);
        next_event(ex, &ev, 5000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_FINISHED);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_str_eq(ev.result.backend_ref, REF);
        floq_exec_event_release(&ev);
        ck_assert_int_eq(atomic_load(&attaches), 1);
        ck_assert_int_eq(atomic_load(&starts), 0); /* no second remote run */
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_retriable_then_attached) {
        floq_executor_t *ex;
        floq_exec_event_t ev;

        fail_err = FLOQ_ERR_TRANSPORT;
        fails_before = 2;
        fake_be.unreachable_ms = 10000;
        ex = submit_attach();
        next_event(ex, &ev, 8000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_STARTED);
        floq_exec_event_release(&ev);
        next_event(ex, &ev, 5000);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_SUCCEEDED);
        floq_exec_event_release(&ev);
        ck_assert_int_eq(atomic_load(&attaches), 3);
        ck_assert_int_eq(atomic_load(&starts), 0);
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_not_found_fails) {
        floq_executor_t *ex;
        floq_exec_event_t ev;

        final_err = FLOQ_ERR_NOT_FOUND;
        ex = submit_attach();
        next_event(ex, &ev, 5000);
        /* no STARTED: the remote run is gone */
        ck_assert_int_eq(ev.type, FLOQ_EXEC_FINISHED);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_FAILED);
        ck_assert_ptr_nonnull(strstr(ev.result.reason, "is gone"));
        ck_assert_ptr_nonnull(strstr(ev.result.reason, "answer 1"));
        ck_assert_str_eq(ev.result.backend_ref, REF);
        floq_exec_event_release(&ev);
        ck_assert_int_eq(atomic_load(&attaches), 1);
        ck_assert_int_eq(atomic_load(&starts), 0);
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_retriable_lost_after_bound) {
        floq_executor_t *ex;
        floq_exec_event_t ev;
        int64_t t0 = floq_mono_ms(), took;

        final_err = FLOQ_ERR_TRANSPORT;
        fake_be.unreachable_ms = 1500;
        ex = submit_attach();
        next_event(ex, &ev, 10000);
        took = floq_mono_ms() - t0;
        ck_assert_int_eq(ev.type, FLOQ_EXEC_FINISHED);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_LOST);
        ck_assert_msg(took >= 1500 && took < 6000,
                      "LOST after %lld ms, the bound is 1500",
                      (long long)took);
        /* the last error, and several tries with backoff in between */
        ck_assert_int_ge(atomic_load(&attaches), 3);
        ck_assert_ptr_nonnull(strstr(ev.result.reason, "may still run"));
        {
                char last[32];

                snprintf(last, sizeof(last), "answer %d ",
                         atomic_load(&attaches));
                ck_assert_msg(strstr(ev.result.reason, last) != NULL,
                              "reason '%s' lacks the last error",
                              ev.result.reason);
        }
        floq_exec_event_release(&ev);
        ck_assert_int_eq(atomic_load(&starts), 0);
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_fatal_is_lost) {
        floq_executor_t *ex;
        floq_exec_event_t ev;

        final_err = FLOQ_ERR_UNAUTHORIZED;
        fake_be.unreachable_ms = 60000;
        ex = submit_attach();
        next_event(ex, &ev, 5000);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_LOST);
        ck_assert_int_eq(atomic_load(&attaches), 1); /* not retried */
        floq_exec_event_release(&ev);
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_no_attach_is_lost) {
        floq_executor_t *ex;
        floq_exec_event_t ev;

        fake_ops.attach = NULL;
        ex = submit_attach();
        next_event(ex, &ev, 5000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_FINISHED);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_LOST);
        ck_assert_int_eq(atomic_load(&starts), 0);
        floq_exec_event_release(&ev);
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_stop_while_retrying) {
        floq_executor_t *ex;
        floq_exec_event_t ev;
        int64_t deadline;

        final_err = FLOQ_ERR_BACKEND;
        fake_be.unreachable_ms = 60000;
        ex = submit_attach();
        deadline = floq_mono_ms() + 5000;
        while (atomic_load(&attaches) < 2) {
                ck_assert(floq_mono_ms() < deadline);
                floq_sleep_ms(10);
        }
        ck_assert_int_eq(floq_executor_stop(ex, RUN_ID, FLOQ_STOP_DRAIN),
                         FLOQ_OK);
        next_event(ex, &ev, 5000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_FINISHED);
        /* handed over: the next owner re-attaches in its turn */
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_ABANDONED);
        floq_exec_event_release(&ev);
        floq_executor_destroy(ex);
}
END_TEST


/* ------------------------------------------- the backends' attach() */

#define DAG_RUN "00000000-0000-4000-8000-0000000000a1-1"
#define FLOW_RUN "5f0e9d8c-7777-4888-9999-aaaabbbbcccc"

static struct MHD_Daemon *srv;
static char base[64];
static atomic_int posts;
static atomic_int slow_ms; /* how long the DAG run's GET takes to answer */

/* The remote runs that exist: one DAG run of DAG d1, one flow run, one
 * webhook job J1, all finished successfully. A POST (a new remote run)
 * is counted and refused. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
        (void)cls;
        (void)version;
        if (test_mhd_gather(con_cls, data, data_size))
                return MHD_YES;
        if (strcmp(method, "GET")) {
                atomic_fetch_add(&posts, 1);
                return test_mhd_answer(c, 400, "{\"detail\":\"no new runs here\"}");
        }
        if (!strcmp(url, "/api/v2/dags/d1/dagRuns/" DAG_RUN)) {
                floq_sleep_ms(atomic_load(&slow_ms)); /* the server is slow */
                return test_mhd_answer(c, 200, "{\"dag_run_id\":\"" DAG_RUN "\","
                                      "\"state\":\"success\"}");
        }
        if (!strcmp(url, "/api/flow_runs/" FLOW_RUN))
                return test_mhd_answer(c, 200, "{\"id\":\"" FLOW_RUN "\",\"state\":"
                                      "{\"type\":\"COMPLETED\","
                                      "\"message\":null}}");
        if (!strcmp(url, "/jobs/J1"))
                return test_mhd_answer(c, 200, "{\"state\":\"done\"}");
        return test_mhd_answer(c, 404, "{\"detail\":\"Not Found\"}");
}

static void srv_setup(void) {
        atomic_store(&posts, 0);
        atomic_store(&slow_ms, 0);
        srv = test_mhd_start(handler, base, sizeof(base));
        ck_assert_ptr_nonnull(srv);
}

static void srv_teardown(void) {
        if (srv)
                MHD_stop_daemon(srv);
        srv = NULL;
}

/* A port nothing listens on (the server's, once it is stopped). */
static void srv_close(void) {
        MHD_stop_daemon(srv);
        srv = NULL;
}

static floq_backend_t *backend_on(const floq_backend_ops_t *ops,
                                  const char *const *kv) {
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *b;
        char err[512] = "";

        for (; kv[0]; kv += 2)
                ck_assert_msg(floq_conf_set(conf, kv[0], kv[1], err,
                                            sizeof(err)) == FLOQ_OK,
                              "%s", err);
        b = ops->new_(conf, err, sizeof(err));
        ck_assert_msg(b != NULL, "%s", err);
        floq_conf_destroy(conf);
        return b;
}

/* attach() through @p b to @p ref with @p spec (JSON text); the error. */
static floq_err_t attach_to(floq_backend_t *b, const char *spec_text,
                            const char *ref, floq_attempt_t **attp,
                            char *err, size_t err_size) {
        json_t *spec = json_loads(spec_text, 0, NULL);
        floq_run_req_t req = {
                .run_id = RUN_ID,
                .deployment = "remote",
                .attempt = 1,
                .spec = spec,
                .params = NULL,
        };
        floq_err_t e;

        ck_assert_ptr_nonnull(spec);
        err[0] = '\0';
        e = b->ops->attach(b, &req, ref, attp, err, err_size);
        json_decref(spec);
        return e;
}

/* attach() to @p ref succeeds, ref() gives it back (@p want_ref), url()
 * is @p want_url, and wait() follows the remote run to SUCCEEDED. */
static void attach_tracks(floq_backend_t *b, const char *spec,
                          const char *ref, const char *want_ref,
                          const char *want_url) {
        floq_attempt_t *att = NULL;
        floq_run_result_t res;
        int64_t deadline = floq_mono_ms() + 10000;
        char err[512];

        ck_assert_msg(attach_to(b, spec, ref, &att, err, sizeof(err)) ==
                              FLOQ_OK,
                      "%s", err);
        ck_assert_str_eq(b->ops->ref(b, att), want_ref);
        if (want_url)
                ck_assert_str_eq(b->ops->url(b, att), want_url);
        while (b->ops->wait(b, att, 200, &res) == FLOQ_ERR_TIMED_OUT)
                ck_assert_msg(floq_mono_ms() < deadline,
                              "the attached run did not end in 10 s");
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        floq_run_result_release(&res);
        b->ops->attempt_destroy(b, att);
}

/* No POST was made (no new remote run); then, with the server gone, an
 * attach() is a retriable error. Destroys @p b. */
static void then_unreachable(floq_backend_t *b, const char *spec,
                             const char *ref) {
        floq_attempt_t *att = NULL;
        char err[512];

        ck_assert_int_eq(atomic_load(&posts), 0);
        srv_close();
        ck_assert(floq_err_is_retriable(
                attach_to(b, spec, ref, &att, err, sizeof(err))));
        b->ops->destroy(b);
}

START_TEST(test_airflow_attach) {
        const char *kv[] = { "airflow.api.url", base,
                             "airflow.poll.interval.ms", "100", NULL };
        floq_backend_t *b = backend_on(&floq_backend_airflow, kv);
        floq_attempt_t *att = NULL;
        char err[512], want[200];

        ck_assert_int_eq(b->unreachable_ms, 300000);
        snprintf(want, sizeof(want), "%s/dags/d1/runs/%s", base, DAG_RUN);
        attach_tracks(b, "{\"dag_id\":\"d1\"}", DAG_RUN, DAG_RUN, want);
        /* an older worker's reference: the UI page of the DAG run */
        attach_tracks(b, "{\"dag_id\":\"d1\"}", want, DAG_RUN, want);
        ck_assert_int_eq(attach_to(b, "{\"dag_id\":\"d1\"}", "gone-1", &att,
                                   err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_int_eq(attach_to(b, "{\"executable\":\"/bin/true\"}",
                                   DAG_RUN, &att, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG); /* redeployed: no dag_id */
        then_unreachable(b, "{\"dag_id\":\"d1\"}", DAG_RUN);
}
END_TEST

/* An attach is one call made on takeover: an answer slower than a poll's
 * bound (four poll intervals, 400 ms here) but within http.timeout.ms
 * re-attaches; before, the attach failed with a timeout (as it did under
 * valgrind on a loaded machine) and the run was retried as unreachable. */
START_TEST(test_airflow_attach_slow_answer) {
        const char *kv[] = { "airflow.api.url", base,
                             "airflow.poll.interval.ms", "100",
                             "http.timeout.ms", "10000", NULL };
        floq_backend_t *b = backend_on(&floq_backend_airflow, kv);
        floq_attempt_t *att = NULL;
        char err[512];

        atomic_store(&slow_ms, 900);
        ck_assert_msg(attach_to(b, "{\"dag_id\":\"d1\"}", DAG_RUN, &att,
                                err, sizeof(err)) == FLOQ_OK,
                      "%s", err);
        ck_assert_str_eq(b->ops->ref(b, att), DAG_RUN);
        b->ops->attempt_destroy(b, att);
        ck_assert_int_eq(atomic_load(&posts), 0);
        b->ops->destroy(b);
}
END_TEST

START_TEST(test_prefect_attach) {
        char api[96];
        const char *kv[] = { "prefect.api.url", api, "prefect.ui.url", base,
                             "prefect.poll.interval.ms", "100",
                             "prefect.unreachable.ms", "7000", NULL };
        floq_backend_t *b;
        floq_attempt_t *att = NULL;
        char err[512], want[200];

        snprintf(api, sizeof(api), "%s/api", base);
        b = backend_on(&floq_backend_prefect, kv);
        ck_assert_int_eq(b->unreachable_ms, 7000);
        snprintf(want, sizeof(want), "%s/runs/flow-run/%s", base, FLOW_RUN);
        attach_tracks(b, "{}", FLOW_RUN, FLOW_RUN, want);
        ck_assert_int_eq(attach_to(b, "{}",
                                   "6f0e9d8c-7777-4888-9999-aaaabbbbcccc",
                                   &att, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        then_unreachable(b, "{}", FLOW_RUN);
}
END_TEST

START_TEST(test_http_attach) {
        const char *kv[] = { "http.backend.unreachable.ms", "9000", NULL };
        floq_backend_t *b = backend_on(&floq_backend_http, kv);
        floq_attempt_t *att = NULL;
        char err[512], spec[400];

        ck_assert_int_eq(b->unreachable_ms, 9000);
        snprintf(spec, sizeof(spec),
                 "{\"url\":\"%s/hook\",\"status_url\":\"%s/jobs/{id}\","
                 "\"poll_interval_ms\":100,\"states\":{\"running\":"
                 "\"RUNNING\",\"done\":\"SUCCEEDED\"}}",
                 base, base);
        attach_tracks(b, spec, "J1", "J1", NULL);
        ck_assert_ptr_null(b->ops->url); /* no UI of its own */
        ck_assert_int_eq(attach_to(b, spec, "J2", &att, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        /* without a status URL nothing can follow the job: LOST */
        ck_assert_int_eq(attach_to(b, "{\"url\":\"http://x/hook\"}", "J1",
                                   &att, err, sizeof(err)),
                         FLOQ_ERR_UNSUPPORTED);
        then_unreachable(b, spec, "J1");
}
END_TEST

static Suite *attach_suite(void) {
        Suite *s = suite_create("attach");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_attached_is_tracked);
        tcase_add_test(tc, test_retriable_then_attached);
        tcase_add_test(tc, test_not_found_fails);
        tcase_add_test(tc, test_retriable_lost_after_bound);
        tcase_add_test(tc, test_fatal_is_lost);
        tcase_add_test(tc, test_no_attach_is_lost);
        tcase_add_test(tc, test_stop_while_retrying);
        suite_add_tcase(s, tc);
        tc = tcase_create("backends");
        tcase_add_checked_fixture(tc, srv_setup, srv_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_airflow_attach);
        tcase_add_test(tc, test_airflow_attach_slow_answer);
        tcase_add_test(tc, test_prefect_attach);
        tcase_add_test(tc, test_http_attach);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(attach_suite());
}
