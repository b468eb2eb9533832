/*
 * test_bench_noop.c - the noop backend that make bench measures the Kafka
 * side of a run with (worker/backends/noop.c): off by default (deploys
 * REJECTED, attempts refused), and when enabled an attempt succeeds at
 * once, or ends with the outcome of a stop that came first.
 */
#include <check.h>
#include <string.h>

#include "backends/backend.h"
#include "test_util.h"

static floq_backend_t *noop_new(const char *enabled) {
        char errstr[256];
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;

        if (enabled)
                ck_assert(floq_conf_set(conf, "noop.backend.enabled", enabled,
                                        errstr, sizeof(errstr)) == FLOQ_OK);
        be = floq_backend_find("noop")->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be != NULL, "%s", errstr);
        floq_conf_destroy(conf);
        return be;
}

START_TEST(test_disabled_by_default) {
        floq_backend_t *be = noop_new(NULL);
        json_t *spec = json_object();
        floq_run_req_t req = { .run_id = "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11",
                               .deployment = "d", .attempt = 1, .spec = spec };
        floq_attempt_t *att = NULL;
        char errstr[256];

        ck_assert(be->ops->deploy(be, "d", spec, errstr, sizeof(errstr)) !=
                  FLOQ_OK);
        ck_assert(strstr(errstr, "noop.backend.enabled") != NULL);
        ck_assert(be->ops->start(be, &req, &att, errstr, sizeof(errstr)) !=
                  FLOQ_OK);
        ck_assert(att == NULL);
        be->ops->destroy(be);
        json_decref(spec);
}
END_TEST

START_TEST(test_enabled_succeeds_or_stops) {
        floq_backend_t *be = noop_new("true");
        json_t *spec = json_object();
        floq_run_req_t req = { .run_id = "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11",
                               .deployment = "d", .attempt = 1, .spec = spec };
        floq_attempt_t *att = NULL;
        floq_run_result_t res;
        char errstr[256];

        ck_assert(be->ops->deploy(be, "d", spec, errstr, sizeof(errstr)) ==
                  FLOQ_OK);
        ck_assert(be->ops->start(be, &req, &att, errstr, sizeof(errstr)) ==
                  FLOQ_OK);
        ck_assert(be->ops->wait(be, att, 0, &res) == FLOQ_OK);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(res.exit_code, 0);
        floq_run_result_release(&res);
        be->ops->attempt_destroy(be, att);

        ck_assert(be->ops->start(be, &req, &att, errstr, sizeof(errstr)) ==
                  FLOQ_OK);
        be->ops->stop(be, att, FLOQ_STOP_TIMEOUT);
        be->ops->stop(be, att, FLOQ_STOP_CANCEL); /* the first one counts */
        ck_assert(be->ops->wait(be, att, 0, &res) == FLOQ_OK);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_TIMED_OUT);
        floq_run_result_release(&res);
        be->ops->attempt_destroy(be, att);
        be->ops->destroy(be);
        json_decref(spec);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bench_noop");
        TCase *tc = tcase_create("noop");

        tcase_add_test(tc, test_disabled_by_default);
        tcase_add_test(tc, test_enabled_succeeds_or_stops);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
