/*
 * test_backend_kubernetes.c - the kubernetes backend
 * (worker/backends/kubernetes.c) against a fake API server (libmicrohttpd)
 * that stores Jobs by name like the real one (409 on a repeated create),
 * answers the Job's status the test sets, lists pods by label, checks the
 * bearer token against the one the test says is valid now, and records
 * what floq sent: the Job name derived from the run id and attempt, the
 * 409 path (one Job, the same ref), the token re-read from its file after
 * a rotation (and at once on a 401), DELETE with
 * propagationPolicy=Background then the Job gone, the pod's terminated
 * reason and exit code in a failure, a Job deleted from outside, an unreachable server ending LOST, an oversized body,
 * validate's distinct messages, and no token in any message. The CRUD
 * mock and the OpenAPI check are in tests/integration/0290.
 */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "test_mhd.h"
#include "test_util.h"

#define RUN_ID "7b0c9f6e-8f4e-4d5a-9b1a-0c2d3e4f5a6b"
#define JOBS   "/apis/batch/v1/namespaces/"
#define TOKEN_A "tok-AAAA-secret-1"
#define TOKEN_B "tok-BBBB-secret-2"

static struct MHD_Daemon *srv;
static char api[64], tokpath[64];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *jobs;          /* name -> Job */
static char valid_token[64];  /* "" any */
static const char *job_cond;  /* status condition type set, NULL none */
static int forbid_create, huge_get, creates, posts, deletes, gets;
static int rotate_on_401, refused; /* the kubelet rotates as it refuses */
static char seen_auth[256], seen_delete_policy[64], seen_selector[128];

static void write_token(const char *tok);

static enum MHD_Result answer_json(struct MHD_Connection *c, unsigned status,
                                   json_t *j) {
        char *s = json_dumps(j, JSON_COMPACT);
        enum MHD_Result ret = test_mhd_answer(c, status, s);

        free(s);
        json_decref(j);
        return ret;
}

static enum MHD_Result status_of(struct MHD_Connection *c, unsigned code,
                                 const char *reason) {
        return answer_json(c, code,
                           json_pack("{s:s,s:s,s:s,s:i,s:s}", "kind", "Status",
                                     "status", "Failure", "reason", reason,
                                     "code", code, "message", reason));
}

/* GET of a Job: the stored one with the status the test set. */
static enum MHD_Result get_job(struct MHD_Connection *c, const char *name) {
        json_t *job, *st;

        if (huge_get) {
                size_t n = 2 * 1024 * 1024;
                char *big = malloc(n + 16);
                enum MHD_Result ret;

                memset(big, ' ', n);
                strcpy(big + n, "{}");
                ret = test_mhd_answer(c, 200, big);
                free(big);
                return ret;
        }
        job = json_object_get(jobs, name);
        if (!job)
                return status_of(c, 404, "NotFound");
        job = json_deep_copy(job);
        st = json_object();
        if (job_cond)
                json_object_set_new(
                        st, "conditions",
                        json_pack("[{s:s,s:s,s:s,s:s}]", "type", job_cond,
                                  "status", "True", "reason",
                                  !strcmp(job_cond, "Failed")
                                          ? "BackoffLimitExceeded"
                                          : "Completed",
                                  "message",
                                  !strcmp(job_cond, "Failed")
                                          ? "Job has reached the specified "
                                            "backoff limit"
                                          : ""));
        else
                json_object_set_new(st, "active", json_integer(1));
        json_object_set_new(job, "status", st);
        return answer_json(c, 200, job);
}

static enum MHD_Result pods(struct MHD_Connection *c) {
        const char *sel = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                      "labelSelector");

        snprintf(seen_selector, sizeof(seen_selector), "%s", sel ? sel : "");
        return answer_json(
                c, 200,
                json_pack("{s:s,s:[{s:{s:s},s:{s:s,s:[{s:s,s:{s:{s:s,s:i,"
                          "s:s}}}]}}]}",
                          "kind", "PodList", "items", "metadata", "name",
                          "job-abc12", "status", "phase", "Failed",
                          "containerStatuses", "name", "job", "state",
                          "terminated", "reason", "OOMKilled", "exitCode",
                          137, "message", "memory limit 64Mi"));
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
        test_mhd_body_t *up;
        const char *v, *rest;
        char want[128], ns[64], name[128];
        enum MHD_Result ret;

        (void)cls;
        (void)version;
        if (test_mhd_gather(con_cls, data, data_size))
                return MHD_YES;
        up = *con_cls;
        pthread_mutex_lock(&lock);
        v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        snprintf(seen_auth, sizeof(seen_auth), "%s", v ? v : "");
        snprintf(want, sizeof(want), "Bearer %s", valid_token);
        if (valid_token[0] && (!v || strcmp(v, want))) {
                refused++;
                if (rotate_on_401)
                        write_token(valid_token);
                ret = status_of(c, 401, "Unauthorized");
                goto out;
        }
        if (!strcmp(url, "/readyz")) {
                ret = test_mhd_answer(c, 200, "ok");
                goto out;
        }
        if (!strncmp(url, "/api/v1/namespaces/", 19) &&
            strstr(url, "/pods")) {
                ret = pods(c);
                goto out;
        }
        if (strncmp(url, JOBS, strlen(JOBS))) {
                ret = status_of(c, 404, "NotFound");
                goto out;
        }
        rest = url + strlen(JOBS);
        name[0] = '\0';
        if (sscanf(rest, "%63[^/]/jobs/%127s", ns, name) < 1) {
                ret = status_of(c, 404, "NotFound");
                goto out;
        }
        if (!strcmp(method, "POST") && !name[0]) {
                json_t *job = json_loads(up->data ? up->data : "", 0, NULL);
                const char *n = json_string_value(json_object_get(
                        json_object_get(job, "metadata"), "name"));

                posts++;
                if (forbid_create) {
                        json_decref(job);
                        ret = status_of(c, 403, "Forbidden");
                } else if (!n) {
                        json_decref(job);
                        ret = status_of(c, 422, "Invalid");
                } else if (json_object_get(jobs, n)) {
                        json_decref(job);
                        ret = status_of(c, 409, "AlreadyExists");
                } else {
                        creates++;
                        json_object_set(jobs, n, job);
                        ret = answer_json(c, 201, job);
                }
                goto out;
        }
        if (!strcmp(method, "GET") && name[0]) {
                gets++;
                ret = get_job(c, name);
                goto out;
        }
        if (!strcmp(method, "DELETE") && name[0]) {
                v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                "propagationPolicy");
                snprintf(seen_delete_policy, sizeof(seen_delete_policy), "%s",
                         v ? v : "");
                deletes++;
                if (json_object_del(jobs, name))
                        ret = status_of(c, 404, "NotFound");
                else
                        ret = test_mhd_answer(c, 200, "{\"kind\":\"Status\","
                                             "\"status\":\"Success\"}");
                goto out;
        }
        ret = status_of(c, 405, "MethodNotAllowed");
out:
        pthread_mutex_unlock(&lock);
        return ret;
}

static void write_token(const char *tok) {
        FILE *f = fopen(tokpath, "w");

        ck_assert_ptr_nonnull(f);
        fprintf(f, "%s\n", tok);
        fclose(f);
}

static void setup(void) {
        jobs = json_object();
        job_cond = NULL;
        forbid_create = huge_get = creates = posts = deletes = gets = 0;
        rotate_on_401 = refused = 0;
        valid_token[0] = seen_auth[0] = seen_delete_policy[0] = '\0';
        seen_selector[0] = '\0';
        snprintf(tokpath, sizeof(tokpath), "/tmp/k8s-unit-tok.%d",
                 (int)getpid());
        write_token(TOKEN_A);
        srv = test_mhd_start(handler, api, sizeof(api));
        ck_assert_ptr_nonnull(srv);
}

static void teardown(void) {
        if (srv)
                MHD_stop_daemon(srv);
        srv = NULL;
        unlink(tokpath);
        json_decref(jobs);
}

static void set(floq_conf_t *conf, const char *k, const char *v) {
        char err[256] = "";

        ck_assert_msg(floq_conf_set(conf, k, v, err, sizeof(err)) == FLOQ_OK,
                      "%s: %s", k, err);
}

/* A backend on the fake server (or @p url), token from tokpath. */
static floq_backend_t *backend_at(const char *url) {
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;
        char err[512] = "";

        set(conf, "kubernetes.api.url", url);
        set(conf, "kubernetes.token.file", tokpath);
        set(conf, "kubernetes.namespace", "jobs");
        set(conf, "kubernetes.poll.interval.ms", "100");
        set(conf, "kubernetes.unreachable.ms", "600");
        set(conf, "kubernetes.stop.wait.ms", "2000");
        set(conf, "http.retries", "0");
        set(conf, "http.timeout.ms", "2000");
        be = floq_backend_kubernetes.new_(conf, err, sizeof(err));
        ck_assert_msg(be != NULL, "new: %s", err);
        floq_conf_destroy(conf);
        return be;
}

static floq_backend_t *backend(void) {
        return backend_at(api);
}

static json_t *spec_new(void) {
        json_t *spec = json_pack(
                "{s:s,s:[s,s],s:[s],s:{s:s},s:{s:{s:s,s:i}},s:i}", "image",
                "busybox:1.36", "command", "sh", "-c", "args",
                "echo {day}", "env", "DAY", "d={day}", "resources", "limits",
                "memory", "64Mi", "cpu", 1, "ttl_seconds_after_finished",
                600);
        char err[512] = "";
        floq_backend_t *be = backend();

        ck_assert_msg(be->ops->deploy(be, "nightly", spec, err, sizeof(err)) ==
                              FLOQ_OK,
                      "deploy: %s", err);
        be->ops->destroy(be);
        return spec;
}

/* Start attempt @p attempt of @p run_id; *attp set. */
static floq_err_t start(floq_backend_t *be, const char *run_id, int attempt,
                        floq_attempt_t **attp, char *err, size_t err_size) {
        json_t *spec = spec_new();
        json_t *params = json_pack("{s:s}", "day", "2026-12-01");
        floq_run_req_t req = { .run_id = run_id, .deployment = "nightly",
                               .attempt = attempt, .spec = spec,
                               .params = params };
        floq_err_t e = be->ops->start(be, &req, attp, err, err_size);

        json_decref(spec);
        json_decref(params);
        return e;
}

/* wait() until the end, calling @p between (may be NULL) after each
 * slice with the slice count. */
static floq_outcome_t wait_end(floq_backend_t *be, floq_attempt_t *att,
                               floq_run_result_t *res,
                               void (*between)(floq_backend_t *,
                                               floq_attempt_t *, int)) {
        int slices = 0;

        memset(res, 0, sizeof(*res));
        while (be->ops->wait(be, att, 100, res) == FLOQ_ERR_TIMED_OUT) {
                ck_assert_int_lt(++slices, 200);
                if (between)
                        between(be, att, slices);
        }
        return res->outcome;
}

/* Attempt 1 of RUN_ID on a new backend, from start to its end, calling
 * @p between after each wait() slice; @p res filled (caller releases). */
static floq_outcome_t run_one(void (*between)(floq_backend_t *,
                                              floq_attempt_t *, int),
                              floq_run_result_t *res) {
        floq_backend_t *be = backend();
        floq_attempt_t *att = NULL;
        char err[512] = "";
        floq_outcome_t o;

        ck_assert_msg(start(be, RUN_ID, 1, &att, err, sizeof(err)) == FLOQ_OK,
                      "start: %s", err);
        o = wait_end(be, att, res, between);
        be->ops->attempt_destroy(be, att);
        be->ops->destroy(be);
        return o;
}

static void set_cond(const char *cond) {
        pthread_mutex_lock(&lock);
        job_cond = cond;
        pthread_mutex_unlock(&lock);
}

static void complete_after_3(floq_backend_t *be, floq_attempt_t *att, int n) {
        (void)be;
        (void)att;
        if (n == 3)
                set_cond("Complete");
}

START_TEST(test_job_from_template_and_complete) {
        floq_backend_t *be = backend();
        floq_attempt_t *att = NULL;
        floq_run_result_t res;
        json_t *job, *ctr;
        char err[512] = "";

        ck_assert_msg(start(be, RUN_ID, 2, &att, err, sizeof(err)) == FLOQ_OK,
                      "start: %s", err);
        ck_assert_str_eq(be->ops->ref(be, att), "jobs/floq-" RUN_ID "-2");
        ck_assert_ptr_nonnull(strstr(be->ops->url(be, att),
                                     "/apis/batch/v1/namespaces/jobs/jobs/"
                                     "floq-" RUN_ID "-2"));
        job = json_object_get(jobs, "floq-" RUN_ID "-2");
        ck_assert_ptr_nonnull(job);
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_object_get(job, "spec"),
                                 "backoffLimit")),
                         0);
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_object_get(job, "spec"),
                                 "ttlSecondsAfterFinished")),
                         600);
        ctr = json_array_get(
                json_object_get(json_object_get(json_object_get(
                                                        json_object_get(
                                                                job, "spec"),
                                                        "template"),
                                                "spec"),
                                "containers"),
                0);
        ck_assert_str_eq(json_string_value(json_array_get(
                                 json_object_get(ctr, "args"), 0)),
                         "echo 2026-12-01");
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(json_object_get(ctr, "env"),
                                                0),
                                 "value")),
                         "d=2026-12-01");
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(json_object_get(ctr,
                                                                 "resources"),
                                                 "limits"),
                                 "cpu")),
                         "1");
        ck_assert_str_eq(seen_auth, "Bearer " TOKEN_A);
        ck_assert_int_eq(wait_end(be, att, &res, complete_after_3),
                         FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_str_eq(res.backend_ref, "jobs/floq-" RUN_ID "-2");
        floq_run_result_release(&res);
        be->ops->attempt_destroy(be, att);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_name_derivation) {
        floq_backend_t *be = backend();
        floq_attempt_t *a1 = NULL, *a2 = NULL, *a3 = NULL;
        const char *weird = "Run_ID/with spaces and UPPER case and much more "
                            "text than fits in a DNS label at all";
        const char *weird2 = "Run_ID/with spaces and UPPER case and much more "
                             "text than fits in a DNS label at all!";
        char err[512] = "", n1[80];
        const char *n;
        size_t i;

        ck_assert_int_eq(start(be, weird, 1, &a1, err, sizeof(err)), FLOQ_OK);
        ck_assert_int_eq(start(be, weird2, 1, &a2, err, sizeof(err)), FLOQ_OK);
        n = strchr(be->ops->ref(be, a1), '/') + 1;
        snprintf(n1, sizeof(n1), "%s", n);
        ck_assert_int_le(strlen(n1), 63);
        ck_assert_str_eq(n1 + strlen(n1) - 2, "-1");
        for (i = 0; n1[i]; i++)
                ck_assert_msg((n1[i] >= 'a' && n1[i] <= 'z') ||
                                      (n1[i] >= '0' && n1[i] <= '9') ||
                                      n1[i] == '-',
                              "'%s' is not a DNS-1123 label", n1);
        ck_assert_str_ne(n1, strchr(be->ops->ref(be, a2), '/') + 1);
        /* the same attempt, the same name: 409, tracked, no second Job */
        ck_assert_int_eq(start(be, weird, 1, &a3, err, sizeof(err)), FLOQ_OK);
        ck_assert_str_eq(n1, strchr(be->ops->ref(be, a3), '/') + 1);
        ck_assert_int_eq(creates, 2);
        ck_assert_int_eq(posts, 3);
        be->ops->attempt_destroy(be, a1);
        be->ops->attempt_destroy(be, a2);
        be->ops->attempt_destroy(be, a3);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_409_same_job_or_foreign) {
        floq_backend_t *be = backend();
        floq_attempt_t *a1 = NULL, *a2 = NULL, *a3 = NULL;
        floq_run_result_t res;
        json_t *ann;
        char err[512] = "";

        ck_assert_int_eq(start(be, RUN_ID, 1, &a1, err, sizeof(err)), FLOQ_OK);
        ck_assert_msg(start(be, RUN_ID, 1, &a2, err, sizeof(err)) == FLOQ_OK,
                      "repeat: %s", err);
        ck_assert_str_eq(be->ops->ref(be, a1), be->ops->ref(be, a2));
        ck_assert_int_eq(creates, 1);
        set_cond("Complete");
        ck_assert_int_eq(wait_end(be, a2, &res, NULL), FLOQ_OUTCOME_SUCCEEDED);
        floq_run_result_release(&res);
        /* a Job of that name that is not this attempt's: refused */
        pthread_mutex_lock(&lock);
        ann = json_object_get(json_object_get(json_object_get(
                                                      jobs, "floq-" RUN_ID
                                                            "-1"),
                                              "metadata"),
                              "annotations");
        json_object_set_new(ann, "floq.io/run-id", json_string("other"));
        pthread_mutex_unlock(&lock);
        ck_assert_int_eq(start(be, RUN_ID, 1, &a3, err, sizeof(err)),
                         FLOQ_ERR_REJECTED);
        ck_assert_ptr_nonnull(strstr(err, "did not create"));
        be->ops->attempt_destroy(be, a1);
        be->ops->attempt_destroy(be, a2);
        be->ops->destroy(be);
}
END_TEST

static void rotate_after_2(floq_backend_t *be, floq_attempt_t *att, int n) {
        (void)be;
        (void)att;
        if (n == 2) {
                pthread_mutex_lock(&lock);
                snprintf(valid_token, sizeof(valid_token), "%s", TOKEN_B);
                pthread_mutex_unlock(&lock);
                write_token(TOKEN_B);
        }
        if (n == 5)
                set_cond("Complete");
}

START_TEST(test_token_reread_after_rotation) {
        floq_run_result_t res;

        snprintf(valid_token, sizeof(valid_token), "%s", TOKEN_A);
        ck_assert_int_eq(run_one(rotate_after_2, &res),
                         FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_str_eq(seen_auth, "Bearer " TOKEN_B);
        floq_run_result_release(&res);
}
END_TEST

/* The token expires and the file is rewritten between floq's read and
 * the server's check: the 401 makes floq read the file again and retry. */
START_TEST(test_401_rereads_token) {
        floq_backend_t *be = backend();
        floq_attempt_t *att = NULL;
        char err[512] = "";

        snprintf(valid_token, sizeof(valid_token), "%s", TOKEN_B);
        rotate_on_401 = 1;
        ck_assert_msg(start(be, RUN_ID, 1, &att, err, sizeof(err)) == FLOQ_OK,
                      "start: %s", err);
        ck_assert_int_eq(refused, 1);
        ck_assert_int_eq(creates, 1);
        ck_assert_str_eq(seen_auth, "Bearer " TOKEN_B);
        be->ops->attempt_destroy(be, att);
        be->ops->destroy(be);
}
END_TEST

static void stop_at_2(floq_backend_t *be, floq_attempt_t *att, int n) {
        if (n == 2)
                be->ops->stop(be, att, FLOQ_STOP_CANCEL);
}

START_TEST(test_stop_deletes_background) {
        floq_run_result_t res;

        ck_assert_int_eq(run_one(stop_at_2, &res), FLOQ_OUTCOME_CANCELLED);
        ck_assert_str_eq(seen_delete_policy, "Background");
        ck_assert_int_eq(deletes, 1);
        ck_assert_ptr_null(json_object_get(jobs, "floq-" RUN_ID "-1"));
        ck_assert_ptr_nonnull(strstr(res.reason, "deleted"));
        floq_run_result_release(&res);
}
END_TEST

static void fail_after_2(floq_backend_t *be, floq_attempt_t *att, int n) {
        (void)be;
        (void)att;
        if (n == 2)
                set_cond("Failed");
}

START_TEST(test_failed_with_pod_reason) {
        floq_run_result_t res;

        ck_assert_int_eq(run_one(fail_after_2, &res), FLOQ_OUTCOME_FAILED);
        ck_assert_msg(strstr(res.reason, "BackoffLimitExceeded") &&
                              strstr(res.reason, "OOMKilled") &&
                              strstr(res.reason, "exit code 137") &&
                              strstr(res.reason, "memory limit 64Mi"),
                      "reason: %s", res.reason);
        ck_assert_int_eq(res.exit_code, 137);
        ck_assert_str_eq(seen_selector, "job-name=floq-" RUN_ID "-1");
        floq_run_result_release(&res);
}
END_TEST

static void delete_outside(floq_backend_t *be, floq_attempt_t *att, int n) {
        (void)be;
        (void)att;
        if (n == 2) {
                pthread_mutex_lock(&lock);
                json_object_clear(jobs);
                pthread_mutex_unlock(&lock);
        }
}

START_TEST(test_deleted_outside_failed_and_attach) {
        floq_backend_t *be = backend();
        floq_attempt_t *att = NULL, *again = NULL;
        floq_run_result_t res;
        json_t *spec = spec_new();
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "nightly",
                               .attempt = 1, .spec = spec };
        char err[512] = "";

        ck_assert_int_eq(start(be, RUN_ID, 1, &att, err, sizeof(err)),
                         FLOQ_OK);
        /* attach by the stored reference: no second Job */
        ck_assert_msg(be->ops->attach(be, &req, be->ops->ref(be, att), &again,
                                      err, sizeof(err)) == FLOQ_OK,
                      "attach: %s", err);
        ck_assert_int_eq(creates, 1);
        ck_assert_int_eq(posts, 1);
        be->ops->attempt_destroy(be, again);
        ck_assert_int_eq(wait_end(be, att, &res, delete_outside),
                         FLOQ_OUTCOME_FAILED);
        ck_assert_ptr_nonnull(strstr(res.reason, "deleted from outside"));
        floq_run_result_release(&res);
        again = NULL;
        ck_assert_int_eq(be->ops->attach(be, &req, "jobs/floq-" RUN_ID "-1",
                                         &again, err, sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_int_eq(be->ops->attach(be, &req, "../x", &again, err,
                                         sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        be->ops->attempt_destroy(be, att);
        be->ops->destroy(be);
}
END_TEST

static void server_dies(floq_backend_t *be, floq_attempt_t *att, int n) {
        (void)be;
        (void)att;
        if (n == 2) {
                MHD_stop_daemon(srv);
                srv = NULL;
        }
}

START_TEST(test_unreachable_lost) {
        floq_run_result_t res;

        ck_assert_int_eq(run_one(server_dies, &res), FLOQ_OUTCOME_LOST);
        ck_assert_ptr_nonnull(strstr(res.reason, "kubernetes.unreachable.ms"));
        floq_run_result_release(&res);
}
END_TEST

static void huge_answers(floq_backend_t *be, floq_attempt_t *att, int n) {
        (void)be;
        (void)att;
        if (n == 1)
                huge_get = 1;
}

START_TEST(test_oversized_body) {
        floq_run_result_t res;

        ck_assert_int_eq(run_one(huge_answers, &res), FLOQ_OUTCOME_FAILED);
        ck_assert_msg(strstr(res.reason, "larger than"), "reason: %s",
                      res.reason);
        floq_run_result_release(&res);
}
END_TEST

START_TEST(test_validate_messages_no_token) {
        floq_backend_t *be = backend(), *closed;
        char err[512] = "", closed_url[80];
        json_t *spec = spec_new();
        int64_t t0;
        floq_err_t e;

        ck_assert_msg(be->ops->validate(be, spec, err, sizeof(err)) == FLOQ_OK,
                      "validate: %s", err);
        ck_assert_int_eq(posts, 1); /* the dry-run create */
        /* bad token */
        snprintf(valid_token, sizeof(valid_token), "%s", TOKEN_B);
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_msg(strstr(err, "refuses the token"), "%s", err);
        ck_assert_ptr_null(strstr(err, TOKEN_A));
        /* forbidden */
        write_token(TOKEN_B);
        forbid_create = 1;
        ck_assert_int_eq(be->ops->validate(be, spec, err, sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_msg(strstr(err, "forbidden") && strstr(err, "'jobs'"), "%s",
                      err);
        ck_assert_ptr_null(strstr(err, TOKEN_B));
        /* a start refused, a poll refused: no token either */
        {
                floq_attempt_t *att = NULL;

                ck_assert_int_eq(start(be, RUN_ID, 1, &att, err, sizeof(err)),
                                 FLOQ_ERR_UNAUTHORIZED);
                ck_assert_ptr_null(strstr(err, TOKEN_B));
                ck_assert_ptr_nonnull(strstr(err, "RBAC"));
        }
        /* unreachable */
        snprintf(closed_url, sizeof(closed_url), "http://127.0.0.1:1");
        closed = backend_at(closed_url);
        t0 = floq_mono_ms();
        e = closed->ops->validate(closed, NULL, err, sizeof(err));
        ck_assert_msg(test_unreachable(e), "%s: %s", floq_err_name(e), err);
        ck_assert_msg(strstr(err, "unreachable"), "%s", err);
        ck_assert_int_lt(floq_mono_ms() - t0, 10000);
        /* TLS: an https URL to the plain-HTTP fake */
        snprintf(closed_url, sizeof(closed_url), "https%s", api + 4);
        closed->ops->destroy(closed);
        closed = backend_at(closed_url);
        ck_assert_int_eq(closed->ops->validate(closed, NULL, err, sizeof(err)),
                         FLOQ_ERR_TRANSPORT);
        ck_assert_msg(strstr(err, "TLS"), "%s", err);
        closed->ops->destroy(closed);
        json_decref(spec);
        be->ops->destroy(be);
}
END_TEST

START_TEST(test_deploy_checks_and_in_cluster) {
        floq_backend_t *be = backend();
        floq_conf_t *conf;
        floq_attempt_t *att = NULL;
        json_t *spec;
        char err[512] = "", dir[64], path[160];
        FILE *f;

        spec = json_pack("{s:s}", "command", "x");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        spec = json_pack("{s:s,s:s}", "image", "x", "namespace", "other");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_REJECTED);
        json_decref(spec);
        spec = json_pack("{s:s,s:[s]}", "image", "x", "args", "{unclosed");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        spec = json_pack("{s:s,s:s}", "image", "x", "imagee", "typo");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(err, "imagee"));
        json_decref(spec);
        be->ops->destroy(be);

        /* in-cluster: the service environment and account files */
        snprintf(dir, sizeof(dir), "/tmp/k8s-unit-sa.%d", (int)getpid());
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        snprintf(path, sizeof(path), "%s/namespace", dir);
        f = fopen(path, "w");
        fputs("team-a\n", f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/token", dir);
        f = fopen(path, "w");
        fputs(TOKEN_A "\n", f);
        fclose(f);
        setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
        conf = floq_conf_new();
        set(conf, "kubernetes.serviceaccount.dir", dir);
        set(conf, "http.timeout.ms", "300");
        set(conf, "http.retries", "0");
        be = floq_backend_kubernetes.new_(conf, err, sizeof(err));
        floq_conf_destroy(conf);
        ck_assert_ptr_nonnull(be);
        spec = json_pack("{s:s}", "image", "x");
        ck_assert_int_eq(be->ops->deploy(be, "d", spec, err, sizeof(err)),
                         FLOQ_OK);
        {
                floq_run_req_t req = { .run_id = RUN_ID, .attempt = 1,
                                       .spec = spec };

                /* 10.0.0.1 is not reachable here: what matters is where
                 * it went and that the token is not in the message */
                ck_assert_int_ne(be->ops->start(be, &req, &att, err,
                                                sizeof(err)),
                                 FLOQ_OK);
                ck_assert_msg(strstr(err, "https://10.0.0.1:6443") ||
                                      strstr(err, "/apis/batch/v1/"
                                                  "namespaces/team-a/jobs"),
                              "%s", err);
                ck_assert_ptr_null(strstr(err, TOKEN_A));
        }
        json_decref(spec);
        be->ops->destroy(be);
        unlink(path);
        snprintf(path, sizeof(path), "%s/namespace", dir);
        unlink(path);
        rmdir(dir);
}
END_TEST

int main(void) {
        Suite *s = suite_create("backend_kubernetes");
        TCase *tc = tcase_create("kubernetes");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_job_from_template_and_complete);
        tcase_add_test(tc, test_name_derivation);
        tcase_add_test(tc, test_409_same_job_or_foreign);
        tcase_add_test(tc, test_token_reread_after_rotation);
        tcase_add_test(tc, test_401_rereads_token);
        tcase_add_test(tc, test_stop_deletes_background);
        tcase_add_test(tc, test_failed_with_pod_reason);
        tcase_add_test(tc, test_deleted_outside_failed_and_attach);
        tcase_add_test(tc, test_unreachable_lost);
        tcase_add_test(tc, test_oversized_body);
        tcase_add_test(tc, test_validate_messages_no_token);
        tcase_add_test(tc, test_deploy_checks_and_in_cluster);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
