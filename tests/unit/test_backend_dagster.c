/*
 * test_backend_dagster.c - the dagster backend (worker/backends/dagster.c)
 * against a fake Dagster GraphQL API (libmicrohttpd) that plays one run
 * through a scripted list of statuses: the status mapping, the failure
 * reason read from the run's log, every typed error (__typename with HTTP
 * 200) turned into its floq error and message, the attempt's tag looked up
 * before any launchRun (a run found there is adopted; a launch whose
 * answer was lost is looked up again, never launched twice), stop =
 * terminateRun then CANCELED (marked canceled at once past
 * dagster.stop.wait.ms), attach by the stored reference or the tag, the
 * Dagster-Cloud-Api-Token header from a file or an environment variable
 * and never in a message, an oversized answer refused, and validate's
 * distinct answers. The real server is in
 * tests/integration/0280-backend-dagster.sh.
 */
#include <check.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "test_util.h"
#include "test_mhd.h"

#define DR_ID  "6fca06a6-2aba-4bd3-a46a-72752383a2a2"
#define RUN_ID "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b"
#define TAG    RUN_ID "-3"
#define TOKEN  "dgc_SECRET_TOKEN_4711"

static struct MHD_Daemon *srv;
static char base[64];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* the run's script: statuses in turn, the last one stays; "GONE": the run
 * was deleted, "DOWN": the server answers 503 */
static const char *const *script;
static int polls, launches, lookups, terminates, forced;
static int run_exists;       /* a run with the tag is there */
static int drop_launches;    /* launches whose answer is a 500 (made) */
static int runner_acts;      /* terminateRun leads to CANCELED */
static int echo_token;       /* a PythonError that quotes the header */
static int want_token;       /* 401 unless the right token is sent */
static int huge;             /* the answers are over 1 MiB */
static int odd;              /* 1: GraphQL errors only, 2: no __typename */
static const char *launch_type; /* NULL: LaunchRunSuccess */
static char order[64];       /* L = launch, T = tag lookup, in turn */
static char seen_token[256], seen_launch[8192];


static void note(char op) {
        size_t n = strlen(order);

        if (n + 1 < sizeof(order)) {
                order[n] = op;
                order[n + 1] = '\0';
        }
}

static enum MHD_Result run_answer(struct MHD_Connection *c) {
        const char *st;
        char body[512];
        int i;

        pthread_mutex_lock(&lock);
        if (forced || (terminates && runner_acts)) {
                st = "CANCELED";
        } else if (terminates) {
                st = "CANCELING";
        } else {
                for (i = 0; script[i + 1] && i < polls; i++)
                        ;
                st = script[i];
                polls++;
        }
        pthread_mutex_unlock(&lock);
        if (!strcmp(st, "DOWN"))
                return test_mhd_answer(c, 503, "{\"message\":\"busy\"}");
        if (!strcmp(st, "GONE") || !run_exists)
                return test_mhd_answer(c, 200,
                              "{\"data\":{\"runOrError\":{\"__typename\":"
                              "\"RunNotFoundError\",\"message\":\"Pipeline "
                              "run " DR_ID " could not be found.\"}}}");
        snprintf(body, sizeof(body),
                 "{\"data\":{\"runOrError\":{\"__typename\":\"Run\","
                 "\"runId\":\"" DR_ID "\",\"status\":\"%s\"}}}",
                 st);
        return test_mhd_answer(c, 200, body);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
        test_mhd_body_t *up;
        const char *body_s;
        const char *v, *q;
        char body[1024];

        (void)cls;
        (void)version;
        (void)method;
        if (test_mhd_gather(con_cls, data, data_size))
                return MHD_YES;
        up = *con_cls;
        body_s = up->data ? up->data : "";
        pthread_mutex_lock(&lock);
        v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                        "Dagster-Cloud-Api-Token");
        snprintf(seen_token, sizeof(seen_token), "%s", v ? v : "");
        pthread_mutex_unlock(&lock);
        if (strcmp(url, "/graphql"))
                return test_mhd_answer(c, 404, "{\"message\":\"Not Found\"}");
        if (want_token && strcmp(seen_token, TOKEN))
                return test_mhd_answer(c, 401, "{\"message\":\"bad token\"}");
        if (huge) {
                size_t n = 1100 * 1024;
                char *big = malloc(n + 1);
                enum MHD_Result ret;

                memset(big, ' ', n);
                big[n] = '\0';
                ret = test_mhd_answer(c, 200, big);
                free(big);
                return ret;
        }
        q = body_s;
        if (odd == 1)
                return test_mhd_answer(c, 200,
                              "{\"errors\":[{\"message\":\"Cannot query "
                              "field \\\"runsOrError\\\"\"}]}");
        if (odd == 2)
                return test_mhd_answer(c, 200, "{\"data\":{\"runsOrError\":{}}}");
        if (strstr(q, "FloqVersion"))
                return test_mhd_answer(c, 200, "{\"data\":{\"version\":\"1.13.28\"}}");
        if (strstr(q, "FloqRepo")) {
                if (strstr(q, "\"nope_repo\""))
                        return test_mhd_answer(c, 200,
                                      "{\"data\":{\"repositoryOrError\":{"
                                      "\"__typename\":"
                                      "\"RepositoryNotFoundError\","
                                      "\"message\":\"Could not find "
                                      "Repository loc.nope_repo\"}}}");
                return test_mhd_answer(c, 200,
                              "{\"data\":{\"repositoryOrError\":{"
                              "\"__typename\":\"Repository\",\"name\":"
                              "\"__repository__\"}}}");
        }
        if (strstr(q, "FloqJob")) {
                if (strstr(q, "\"ok_job\""))
                        return test_mhd_answer(c, 200,
                                      "{\"data\":{\"pipelineOrError\":{"
                                      "\"__typename\":\"Pipeline\",\"name\":"
                                      "\"ok_job\"}}}");
                return test_mhd_answer(c, 200,
                              "{\"data\":{\"pipelineOrError\":{"
                              "\"__typename\":\"PipelineNotFoundError\","
                              "\"message\":\"Could not find Pipeline "
                              "loc.__repository__.nope_job\"}}}");
        }
        if (strstr(q, "FloqRunsByTag")) {
                pthread_mutex_lock(&lock);
                lookups++;
                note('T');
                snprintf(body, sizeof(body),
                         "{\"data\":{\"runsOrError\":{\"__typename\":"
                         "\"Runs\",\"results\":[%s]}}}",
                         run_exists && strstr(q, "\"" TAG "\"")
                                 ? "{\"runId\":\"" DR_ID "\",\"status\":"
                                   "\"STARTED\"}"
                                 : "");
                pthread_mutex_unlock(&lock);
                return test_mhd_answer(c, 200, body);
        }
        if (strstr(q, "FloqLaunch")) {
                int drop;

                pthread_mutex_lock(&lock);
                launches++;
                note('L');
                snprintf(seen_launch, sizeof(seen_launch), "%s", q);
                drop = drop_launches > 0;
                if (drop)
                        drop_launches--;
                if (!launch_type)
                        run_exists = 1;
                pthread_mutex_unlock(&lock);
                if (echo_token) {
                        snprintf(body, sizeof(body),
                                 "{\"data\":{\"launchRun\":{\"__typename\":"
                                 "\"PythonError\",\"message\":\"header "
                                 "Dagster-Cloud-Api-Token: %s refused\"}}}",
                                 seen_token);
                        return test_mhd_answer(c, 200, body);
                }
                if (drop)
                        return test_mhd_answer(c, 500, "{\"message\":\"lost\"}");
                if (launch_type) {
                        snprintf(body, sizeof(body),
                                 "{\"data\":{\"launchRun\":{\"__typename\":"
                                 "\"%s\",\"message\":\"the %s message\","
                                 "\"errors\":[{\"message\":\"bad entry "
                                 "\\\"x\\\"\"},{\"message\":\"missing "
                                 "y\"}]}}}",
                                 launch_type, launch_type);
                        if (!strcmp(launch_type, "RunConfigValidationInvalid"))
                                snprintf(body, sizeof(body),
                                         "{\"data\":{\"launchRun\":{"
                                         "\"__typename\":\"%s\",\"errors\":"
                                         "[{\"message\":\"bad entry x\"},{"
                                         "\"message\":\"missing y\"}]}}}",
                                         launch_type);
                        return test_mhd_answer(c, 200, body);
                }
                return test_mhd_answer(c, 200,
                              "{\"data\":{\"launchRun\":{\"__typename\":"
                              "\"LaunchRunSuccess\",\"run\":{\"runId\":\"" DR_ID
                              "\"}}}}");
        }
        if (strstr(q, "FloqRun"))
                return run_answer(c);
        if (strstr(q, "FloqTerminate")) {
                pthread_mutex_lock(&lock);
                if (strstr(q, "MARK_AS_CANCELED_IMMEDIATELY"))
                        forced++;
                else
                        terminates++;
                pthread_mutex_unlock(&lock);
                return test_mhd_answer(c, 200,
                              "{\"data\":{\"terminateRun\":{\"__typename\":"
                              "\"TerminateRunSuccess\",\"run\":{\"runId\":"
                              "\"" DR_ID "\",\"status\":\"CANCELING\"}}}}");
        }
        if (strstr(q, "FloqLogs"))
                return test_mhd_answer(c, 200,
                              "{\"data\":{\"logsForRun\":{\"__typename\":"
                              "\"EventConnection\",\"cursor\":\"9\","
                              "\"hasMore\":false,\"events\":[{\"__typename\":"
                              "\"MessageEvent\"},{\"__typename\":"
                              "\"ExecutionStepFailureEvent\",\"stepKey\":"
                              "\"say_fail\",\"error\":{\"message\":\"Failure:"
                              " x\\n\"},\"failureMetadata\":{\"description\":"
                              "\"failing job says: as planned\"}},{"
                              "\"__typename\":\"RunFailureEvent\",\"message\":"
                              "\"Steps failed: ['say_fail'].\"}]}}}");
        return test_mhd_answer(c, 200,
                      "{\"errors\":[{\"message\":\"Cannot query field\"}]}");
}

static void setup(void) {
        static const char *const ok[] = { "STARTING", "STARTED", "SUCCESS",
                                          NULL };

        script = ok;
        polls = launches = lookups = terminates = forced = 0;
        run_exists = drop_launches = runner_acts = echo_token = 0;
        want_token = huge = odd = 0;
        launch_type = NULL;
        order[0] = seen_token[0] = seen_launch[0] = '\0';
        srv = test_mhd_start(handler, base, sizeof(base));
        ck_assert_ptr_nonnull(srv);
}

static void teardown(void) {
        if (srv)
                MHD_stop_daemon(srv);
}

/* A backend on @p url (NULL: the fake) with extra config "k=v" pairs. */
static floq_backend_t *backend_at(const char *url, const char *const *kv) {
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;
        char err[512] = "", k[128];
        size_t i;

        ck_assert_int_eq(floq_conf_set(conf, "dagster.url", url ? url : base,
                                       err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "dagster.poll.interval.ms", "100",
                                       err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "http.timeout.ms", "5000", err,
                                       sizeof(err)),
                         FLOQ_OK);
        for (i = 0; kv && kv[i]; i++) {
                const char *eq = strchr(kv[i], '=');

                snprintf(k, sizeof(k), "%.*s", (int)(eq - kv[i]), kv[i]);
                ck_assert_msg(floq_conf_set(conf, k, eq + 1, err,
                                            sizeof(err)) == FLOQ_OK,
                              "%s: %s", kv[i], err);
        }
        be = floq_backend_dagster.new_(conf, err, sizeof(err));
        ck_assert_msg(be != NULL, "new: %s", err);
        floq_conf_destroy(conf);
        return be;
}

static floq_backend_t *backend(const char *const *kv) {
        return backend_at(NULL, kv);
}

static json_t *spec_new(const char *job) {
        return json_pack("{s:s,s:s,s:{s:{s:{s:{s:s}}}},s:{s:s}}",
                         "repository_location", "loc", "job", job,
                         "run_config", "ops", "say", "config", "day",
                         "{day}", "tags", "team", "data-{day}");
}

/* deploy + start + wait to the end, as the executor does; stop with @p why
 * once @p stop_after_polls polls were answered (0: never). */
static floq_outcome_t run(floq_backend_t *be, floq_run_result_t *res,
                          int stop_after_polls, floq_stop_why_t why) {
        json_t *spec = spec_new("ok_job");
        json_t *params = json_pack("{s:s}", "day", "2026-12-01");
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "nightly",
                               .attempt = 3, .spec = spec, .params = params };
        floq_attempt_t *att = NULL;
        char err[512] = "", want[128];
        int stopped = 0, n;

        memset(res, 0, sizeof(*res));
        ck_assert_msg(be->ops->deploy(be, "nightly", spec, err, sizeof(err)) ==
                              FLOQ_OK,
                      "deploy: %s", err);
        ck_assert_str_eq(json_string_value(json_object_get(spec,
                                                           "repository")),
                         "__repository__");
        ck_assert_msg(be->ops->start(be, &req, &att, err, sizeof(err)) ==
                              FLOQ_OK,
                      "start: %s", err);
        snprintf(want, sizeof(want), "%s/runs/" DR_ID, base);
        ck_assert_str_eq(be->ops->ref(be, att), want);
        ck_assert_str_eq(be->ops->url(be, att), want);
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
        ck_assert_str_eq(res->backend_ref, want);
        return res->outcome;
}

START_TEST(test_success_tag_looked_up_first) {
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;
        json_t *sent, *p, *tags, *t;
        size_t i;
        int found = 0;

        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_ptr_nonnull(strstr(res.reason, "/runs/" DR_ID));
        /* looked up by tag, then launched once */
        ck_assert_str_eq(order, "TL");
        sent = json_loads(seen_launch, 0, NULL);
        ck_assert_ptr_nonnull(sent);
        p = json_object_get(json_object_get(sent, "variables"), "p");
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(p, "selector"), "jobName")),
                         "ok_job");
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(p, "selector"),
                                 "repositoryName")),
                         "__repository__");
        /* the run config's templates filled from the params */
        ck_assert_str_eq(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(
                                json_object_get(json_object_get(
                                                        p, "runConfigData"),
                                                "ops"),
                                "say"), "config"),
                        "day")),
                "2026-12-01");
        tags = json_object_get(json_object_get(p, "executionMetadata"),
                               "tags");
        json_array_foreach(tags, i, t) {
                const char *k = json_string_value(json_object_get(t, "key"));
                const char *v = json_string_value(json_object_get(t, "value"));

                if (!strcmp(k, "floq/attempt")) {
                        ck_assert_str_eq(v, TAG);
                        found++;
                }
                if (!strcmp(k, "team")) {
                        ck_assert_str_eq(v, "data-2026-12-01");
                        found++;
                }
        }
        ck_assert_int_eq(found, 2);
        json_decref(sent);
        floq_run_result_release(&res);
        floq_backend_dagster.destroy(be);
}
END_TEST

START_TEST(test_failure_canceled_gone_lost) {
        static const char *const failed[] = { "STARTED", "FAILURE", NULL };
        static const char *const outside[] = { "STARTED", "CANCELING",
                                               "CANCELED", NULL };
        static const char *const gone[] = { "STARTED", "GONE", NULL };
        static const char *const down[] = { "STARTED", "DOWN", NULL };
        static const char *const kv[] = { "dagster.unreachable.ms=600",
                                          "http.retries=0", NULL };
        floq_backend_t *be = backend(kv);
        floq_run_result_t res;

        script = failed;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_FAILED);
        ck_assert_msg(strstr(res.reason, "step say_fail: failing job says: "
                                         "as planned") != NULL,
                      "%s", res.reason);
        floq_run_result_release(&res);

        script = outside;
        polls = 0;
        run_exists = 0;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_CANCELLED);
        ck_assert_ptr_nonnull(strstr(res.reason, "canceled in Dagster"));
        floq_run_result_release(&res);

        script = gone;
        polls = 0;
        run_exists = 0;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_FAILED);
        ck_assert_ptr_nonnull(strstr(res.reason, "deleted from Dagster"));
        floq_run_result_release(&res);

        /* unreachable mid-run: polled with backoff, LOST past the bound */
        script = down;
        polls = 0;
        run_exists = 0;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_LOST);
        ck_assert_msg(strstr(res.reason, "unreachable") &&
                              strstr(res.reason, "503"),
                      "%s", res.reason);
        floq_run_result_release(&res);
        floq_backend_dagster.destroy(be);
}
END_TEST

START_TEST(test_typename_errors) {
        static const struct {
                const char *type;
                floq_err_t err;
                const char *says;
        } cases[] = {
                { "PythonError", FLOQ_ERR_BACKEND,
                  "PythonError: the PythonError message" },
                { "RunConfigValidationInvalid", FLOQ_ERR_INVALID_ARG,
                  "bad entry x; missing y (check spec.run_config" },
                { "PipelineNotFoundError", FLOQ_ERR_NOT_FOUND,
                  "(check spec.job, spec.repository" },
                { "InvalidSubsetError", FLOQ_ERR_INVALID_ARG,
                  "the InvalidSubsetError message" },
                { "UnauthorizedError", FLOQ_ERR_UNAUTHORIZED,
                  "lacks the permission" },
                { "PresetNotFoundError", FLOQ_ERR_REJECTED,
                  "PresetNotFoundError: the PresetNotFoundError message" },
        };
        static const char *const kv[] = { "http.retries=0", NULL };
        floq_backend_t *be = backend(kv);
        json_t *spec = spec_new("ok_job");
        json_t *params = json_pack("{s:s}", "day", "d");
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "nightly",
                               .attempt = 3, .spec = spec, .params = params };
        floq_attempt_t *att = NULL;
        char err[1024];
        size_t i;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                launch_type = cases[i].type;
                launches = 0;
                err[0] = '\0';
                ck_assert_int_eq(be->ops->start(be, &req, &att, err,
                                                sizeof(err)),
                                 cases[i].err);
                ck_assert_ptr_null(att);
                ck_assert_msg(strstr(err, "dagster: launchRun: ") == err &&
                                      strstr(err, cases[i].says),
                              "%s: %s", cases[i].type, err);
                /* a typed answer is final: no second launch */
                ck_assert_int_eq(launches, 1);
        }
        /* a parameter the run config needs is missing: no launch */
        launch_type = NULL;
        launches = 0;
        req.params = NULL;
        ck_assert_int_eq(be->ops->start(be, &req, &att, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_msg(strstr(err, "dagster: spec.run_config: missing "
                                  "parameter 'day'"),
                      "%s", err);
        ck_assert_int_eq(launches, 0);
        /* an answer that is a GraphQL error, or has no __typename */
        req.params = params;
        odd = 1;
        ck_assert_int_eq(be->ops->start(be, &req, &att, err, sizeof(err)),
                         FLOQ_ERR_REJECTED);
        ck_assert_msg(strstr(err, "dagster: runsOrError: GraphQL error: "
                                  "Cannot query field"),
                      "%s", err);
        odd = 2;
        ck_assert_int_eq(be->ops->start(be, &req, &att, err, sizeof(err)),
                         FLOQ_ERR_BACKEND);
        ck_assert_msg(strstr(err, "the answer has no __typename"), "%s", err);
        ck_assert_int_eq(launches, 0);
        odd = 0;
        /* deploy: an unknown job is said as such */
        launch_type = NULL;
        json_object_set_new(spec, "job", json_string("nope_job"));
        ck_assert_int_eq(be->ops->deploy(be, "x", spec, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_msg(strstr(err, "job 'nope_job' not found in repository "
                                  "'__repository__' of code location 'loc'"),
                      "%s", err);
        json_decref(spec);
        json_decref(params);
        floq_backend_dagster.destroy(be);
}
END_TEST

START_TEST(test_found_by_tag_and_lost_answer) {
        static const char *const kv[] = { "http.retries=3", NULL };
        floq_backend_t *be = backend(kv);
        floq_run_result_t res;

        /* a run with the attempt's tag exists (the last owner launched
         * it): adopted, not launched again */
        run_exists = 1;
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(launches, 0);
        ck_assert_str_eq(order, "T");
        floq_run_result_release(&res);

        /* launchRun made the run but its answer was lost (500): looked up
         * again before any second launch, and found */
        run_exists = 0;
        drop_launches = 1;
        polls = 0;
        order[0] = '\0';
        ck_assert_int_eq(run(be, &res, 0, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(launches, 1);
        ck_assert_str_eq(order, "TLT");
        floq_run_result_release(&res);
        floq_backend_dagster.destroy(be);
}
END_TEST

START_TEST(test_stop_terminate_then_canceled) {
        static const char *const s[] = { "STARTED", NULL };
        floq_backend_t *be = backend(NULL);
        floq_run_result_t res;

        script = s;
        runner_acts = 1;
        ck_assert_int_eq(run(be, &res, 2, FLOQ_STOP_CANCEL),
                         FLOQ_OUTCOME_CANCELLED);
        ck_assert_int_eq(terminates, 1);
        ck_assert_int_eq(forced, 0);
        ck_assert_msg(strstr(res.reason, "canceled"), "%s", res.reason);
        floq_run_result_release(&res);
        floq_backend_dagster.destroy(be);
}
END_TEST

START_TEST(test_stop_marked_canceled_after_wait) {
        static const char *const s[] = { "STARTED", NULL };
        static const char *const kv[] = { "dagster.stop.wait.ms=400", NULL };
        floq_backend_t *be = backend(kv);
        floq_run_result_t res;

        script = s;
        ck_assert_int_eq(run(be, &res, 2, FLOQ_STOP_TIMEOUT),
                         FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(terminates, 1);
        ck_assert_int_eq(forced, 1);
        ck_assert_msg(strstr(res.reason, "marked CANCELED at once"), "%s",
                      res.reason);
        floq_run_result_release(&res);
        floq_backend_dagster.destroy(be);
}
END_TEST

START_TEST(test_attach) {
        static const char *const s[] = { "STARTED", "SUCCESS", NULL };
        floq_backend_t *be = backend(NULL);
        json_t *spec = spec_new("ok_job");
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "nightly",
                               .attempt = 3, .spec = spec };
        floq_attempt_t *att = NULL;
        floq_run_result_t res;
        char err[512], ref[128];

        script = s;
        run_exists = 1;
        snprintf(ref, sizeof(ref), "%s/runs/" DR_ID, base);
        /* by the stored reference (the run's page) */
        ck_assert_msg(be->ops->attach(be, &req, ref, &att, err,
                                      sizeof(err)) == FLOQ_OK,
                      "%s", err);
        ck_assert_str_eq(be->ops->ref(be, att), ref);
        while (be->ops->wait(be, att, 100, &res) == FLOQ_ERR_TIMED_OUT)
                ;
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        floq_run_result_release(&res);
        be->ops->attempt_destroy(be, att);
        /* by the tag, when no reference was stored */
        ck_assert_int_eq(be->ops->attach(be, &req, NULL, &att, err,
                                         sizeof(err)),
                         FLOQ_OK);
        ck_assert_str_eq(be->ops->ref(be, att), ref);
        be->ops->attempt_destroy(be, att);
        ck_assert_int_eq(launches, 0);
        /* gone: NOT_FOUND, and still no launch */
        run_exists = 0;
        ck_assert_int_eq(be->ops->attach(be, &req, ref, &att, err,
                                         sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_msg(strstr(err, "no longer exists"), "%s", err);
        ck_assert_int_eq(be->ops->attach(be, &req, NULL, &att, err,
                                         sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_int_eq(launches, 0);
        json_decref(spec);
        floq_backend_dagster.destroy(be);
}
END_TEST

START_TEST(test_token_header_no_secret_in_messages) {
        char path[] = "/tmp/floq-dagster-token-XXXXXX", err[1024];
        int fd = mkstemp(path);
        char kv1[128];
        const char *kv[] = { kv1, "http.retries=0", NULL };
        static const char *const kv_env[] = {
                "dagster.api.token.env=FLOQ_TEST_DAGSTER_TOKEN", NULL
        };
        floq_backend_t *be;
        json_t *spec = spec_new("ok_job");
        json_t *params = json_pack("{s:s}", "day", "d");
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "nightly",
                               .attempt = 3, .spec = spec, .params = params };
        floq_attempt_t *att = NULL;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, TOKEN "\n", strlen(TOKEN) + 1),
                         (ssize_t)strlen(TOKEN) + 1);
        close(fd);
        snprintf(kv1, sizeof(kv1), "dagster.api.token.file=%s", path);
        be = backend(kv);
        want_token = 1;
        ck_assert_msg(be->ops->validate(be, spec, err, sizeof(err)) ==
                              FLOQ_OK,
                      "%s", err);
        ck_assert_str_eq(seen_token, TOKEN);
        /* a server that quotes the header back: cut out of the message */
        echo_token = 1;
        ck_assert_int_eq(be->ops->start(be, &req, &att, err, sizeof(err)),
                         FLOQ_ERR_BACKEND);
        ck_assert_ptr_nonnull(strstr(err, "PythonError"));
        ck_assert_msg(strstr(err, "SECRET_TOKEN") == NULL, "%s", err);
        echo_token = 0;
        /* a wrong token: refused, said so, not shown */
        fd = open(path, O_WRONLY | O_TRUNC);
        ck_assert_int_eq(write(fd, "dgc_WRONG_TOKEN_0000\n", 21), 21);
        close(fd);
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_msg(strstr(err, "token is refused"), "%s", err);
        ck_assert_ptr_null(strstr(err, "WRONG_TOKEN"));
        ck_assert_int_eq(be->ops->start(be, &req, &att, err, sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_null(strstr(err, "WRONG_TOKEN"));
        /* the token file gone: its own message */
        unlink(path);
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_CONFIG);
        ck_assert_msg(strstr(err, "cannot read dagster.api.token.file"), "%s",
                      err);
        floq_backend_dagster.destroy(be);
        /* from the environment variable the config names */
        be = backend(kv_env);
        ck_assert_int_eq(be->ops->validate(be, NULL, err, sizeof(err)),
                         FLOQ_ERR_CONFIG);
        ck_assert_msg(strstr(err, "FLOQ_TEST_DAGSTER_TOKEN"), "%s", err);
        setenv("FLOQ_TEST_DAGSTER_TOKEN", TOKEN, 1);
        ck_assert_msg(be->ops->validate(be, NULL, err, sizeof(err)) ==
                              FLOQ_OK,
                      "%s", err);
        ck_assert_str_eq(seen_token, TOKEN);
        unsetenv("FLOQ_TEST_DAGSTER_TOKEN");
        floq_backend_dagster.destroy(be);
        json_decref(spec);
        json_decref(params);
}
END_TEST

START_TEST(test_validate_answers) {
        floq_backend_t *be = backend(NULL), *closed, *tls;
        json_t *spec = spec_new("ok_job");
        char err[1024], url[80];
        int64_t t0;

        t0 = floq_mono_ms();
        ck_assert_msg(be->ops->validate(be, spec, err, sizeof(err)) ==
                              FLOQ_OK,
                      "%s", err);
        json_object_set_new(spec, "job", json_string("nope_job"));
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_msg(strstr(err, "job 'nope_job' not found"), "%s", err);
        /* an unknown repository: said as such, not as a missing job */
        json_object_set_new(spec, "repository", json_string("nope_repo"));
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_msg(strstr(err, "repository 'nope_repo' not found in code "
                                  "location 'loc'"),
                      "%s", err);
        json_object_del(spec, "repository");
        /* an answer over the bound is refused, not read */
        huge = 1;
        ck_assert_int_ne(be->ops->validate(be, NULL, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_msg(strstr(err, "larger than"), "%s", err);
        huge = 0;
        /* a closed port: unreachable */
        snprintf(url, sizeof(url), "%s", base);
        teardown();
        srv = NULL;
        closed = backend_at(url, NULL);
        ck_assert(test_unreachable(closed->ops->validate(closed, spec, err,
                                                    sizeof(err))));
        ck_assert_msg(strstr(err, "is unreachable"), "%s", err);
        floq_backend_dagster.destroy(closed);
        /* TLS to a plain HTTP server: a TLS failure, said as such */
        setup();
        snprintf(url, sizeof(url), "https://%s", base + 7);
        tls = backend_at(url, NULL);
        ck_assert_int_ne(tls->ops->validate(tls, spec, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_msg(strstr(err, "TLS failure"), "%s", err);
        floq_backend_dagster.destroy(tls);
        ck_assert_int_lt(floq_mono_ms() - t0, 10000);
        json_decref(spec);
        floq_backend_dagster.destroy(be);
}
END_TEST

int main(void) {
        Suite *s = suite_create("backend_dagster");
        TCase *tc = tcase_create("dagster");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_success_tag_looked_up_first);
        tcase_add_test(tc, test_failure_canceled_gone_lost);
        tcase_add_test(tc, test_typename_errors);
        tcase_add_test(tc, test_found_by_tag_and_lost_answer);
        tcase_add_test(tc, test_stop_terminate_then_canceled);
        tcase_add_test(tc, test_stop_marked_canceled_after_wait);
        tcase_add_test(tc, test_attach);
        tcase_add_test(tc, test_token_header_no_secret_in_messages);
        tcase_add_test(tc, test_validate_answers);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
