/*
 * test_http.c - the HTTP adapter (common/http.c) against a local server
 * the test controls (libmicrohttpd in this process, one thread per
 * connection): 503 then success, no retry on 400, Retry-After honoured,
 * the total timeout, a body over the bound refused, a closed port, JSON in
 * and out, credentials sent and never in a message.
 */
#include <check.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "floq_common.h"
#include "test_util.h"

static struct MHD_Daemon *srv;
static char base[64];
static atomic_int hits;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
                              const char *body, const char *hname,
                              const char *hval) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
                strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        MHD_add_response_header(r, "Content-Type", "application/json");
        if (hname)
                MHD_add_response_header(r, hname, hval);
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

/* Request bodies arrive in pieces: keep them per connection. */
typedef struct upload_s {
        char data[4096];
        size_t len;
} upload_t;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls) {
        upload_t *up = *con_cls;
        int n;

        (void)cls;
        (void)version;
        if (!up) {
                *con_cls = calloc(1, sizeof(upload_t));
                return MHD_YES;
        }
        if (*data_size) {
                size_t k = *data_size < sizeof(up->data) - up->len - 1
                                   ? *data_size
                                   : sizeof(up->data) - up->len - 1;

                memcpy(up->data + up->len, data, k);
                up->len += k;
                *data_size = 0;
                return MHD_YES;
        }
        n = atomic_fetch_add(&hits, 1) + 1;
        if (!strcmp(url, "/flaky"))
                return n < 3 ? answer(c, 503, "{\"detail\":\"warming up\"}",
                                      NULL, NULL)
                             : answer(c, 200, "{\"ok\":true}", NULL, NULL);
        if (!strcmp(url, "/bad"))
                return answer(c, 400, "{\"detail\":\"conf is not an object\"}",
                              NULL, NULL);
        if (!strcmp(url, "/later"))
                return n < 2 ? answer(c, 429, "{}", "Retry-After", "1")
                             : answer(c, 200, "{}", NULL, NULL);
        if (!strcmp(url, "/much-later"))
                return answer(c, 503, "{}", "Retry-After", "30");
        if (!strcmp(url, "/slow")) {
                sleep(3);
                return answer(c, 200, "{}", NULL, NULL);
        }
        if (!strcmp(url, "/big")) {
                static char big[300000];

                memset(big, 'x', sizeof(big) - 1);
                return answer(c, 200, big, NULL, NULL);
        }
        if (!strcmp(url, "/echo")) {
                const char *auth = MHD_lookup_connection_value(
                        c, MHD_HEADER_KIND, "Authorization");
                const char *ct = MHD_lookup_connection_value(
                        c, MHD_HEADER_KIND, "Content-Type");
                json_t *o = json_pack("{s:s,s:s?,s:s?,s:s%}", "method", method,
                                      "auth", auth, "type", ct, "body",
                                      up->data, up->len);
                char *text = json_dumps(o, JSON_COMPACT);
                enum MHD_Result ret = answer(c, 200, text, NULL, NULL);

                free(text);
                json_decref(o);
                return ret;
        }
        if (!strcmp(url, "/secret-denied"))
                return answer(c, 401, "token expired", NULL, NULL);
        return answer(c, 404, "{\"title\":\"no such thing\"}", NULL, NULL);
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode toe) {
        (void)cls;
        (void)c;
        (void)toe;
        free(*con_cls);
        *con_cls = NULL;
}

static void setup(void) {
        const union MHD_DaemonInfo *info;

        atomic_store(&hits, 0);
        srv = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
                                       MHD_USE_INTERNAL_POLLING_THREAD,
                               0, NULL, NULL, handler, NULL,
                               MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
                               MHD_OPTION_END);
        ck_assert_ptr_nonnull(srv);
        info = MHD_get_daemon_info(srv, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", info->port);
}

static void teardown(void) {
        MHD_stop_daemon(srv);
}

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fast retries, so that a test waits only where it means to. */
static floq_http_opts_t opts(void) {
        floq_http_opts_t o = { .what = "test", .backoff_ms = 5,
                               .max_backoff_ms = 20, .timeout_ms = 10000 };
        return o;
}

static floq_err_t call(const floq_http_opts_t *o, const char *method,
                       const char *path, const json_t *body,
                       floq_http_resp_t *r, char *err, size_t err_size) {
        char url[128];

        snprintf(url, sizeof(url), "%s%s", base, path);
        return floq_http_request(o, method, url, body, r, err, err_size);
}

START_TEST(test_retry_5xx_then_success) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";

        ck_assert_int_eq(call(&o, "POST", "/flaky", NULL, &r, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(r.status, 200);
        ck_assert_int_eq(r.attempts, 3);
        ck_assert(json_is_true(json_object_get(r.json, "ok")));
        floq_http_resp_release(&r);
}
END_TEST

START_TEST(test_no_retry_on_400) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";

        ck_assert_int_eq(call(&o, "POST", "/bad?token=s3cr3t", NULL, &r, err,
                              sizeof(err)),
                         FLOQ_ERR_REJECTED);
        ck_assert_int_eq(r.attempts, 1);
        ck_assert_int_eq(atomic_load(&hits), 1);
        ck_assert_str_eq(err, "test: POST /bad: 400 Bad Request: conf is not "
                              "an object");
        floq_http_resp_release(&r);
        /* 404 and 401 say so, by their own codes */
        ck_assert_int_eq(call(&o, "GET", "/nothing", NULL, &r, err,
                              sizeof(err)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_str_eq(err, "test: GET /nothing: 404 Not Found: no such "
                              "thing");
        floq_http_resp_release(&r);
        ck_assert_int_eq(call(&o, "GET", "/secret-denied", NULL, &r, err,
                              sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_str_eq(err, "test: GET /secret-denied: 401 Unauthorized: "
                              "token expired");
        floq_http_resp_release(&r);
}
END_TEST

START_TEST(test_retry_after_honoured) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";
        int64_t t0 = now_ms();

        /* the backoff alone would come back after ~5 ms */
        ck_assert_int_eq(call(&o, "GET", "/later", NULL, &r, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(r.attempts, 2);
        ck_assert_int_ge(now_ms() - t0, 950);
        floq_http_resp_release(&r);
}
END_TEST

START_TEST(test_retry_after_past_the_timeout) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";
        int64_t t0 = now_ms();

        o.timeout_ms = 2000;
        ck_assert_int_eq(call(&o, "GET", "/much-later", NULL, &r, err,
                              sizeof(err)),
                         FLOQ_ERR_BACKEND);
        ck_assert_int_eq(r.attempts, 1);
        ck_assert_ptr_nonnull(strstr(err, "would pass the 2000 ms timeout"));
        ck_assert_int_lt(now_ms() - t0, 1500); /* it did not wait 30 s */
        floq_http_resp_release(&r);
}
END_TEST

START_TEST(test_total_timeout) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";
        int64_t t0 = now_ms();

        o.timeout_ms = 500;
        ck_assert_int_eq(call(&o, "GET", "/slow", NULL, &r, err, sizeof(err)),
                         FLOQ_ERR_TIMED_OUT);
        /* the server answers after 3 s: the call ended at its deadline,
         * retries included */
        ck_assert_int_lt(now_ms() - t0, 2000);
        ck_assert_ptr_nonnull(strstr(err, "test: GET /slow: "));
        floq_http_resp_release(&r);
}
END_TEST

START_TEST(test_body_bound) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";

        o.max_body = 100000;
        ck_assert_int_eq(call(&o, "GET", "/big", NULL, &r, err, sizeof(err)),
                         FLOQ_ERR_TOO_LARGE);
        ck_assert_int_eq(r.attempts, 1);
        ck_assert_ptr_nonnull(strstr(err, "larger than 100000 bytes"));
        ck_assert_uint_le(r.len, 100000);
        floq_http_resp_release(&r);
        o.max_body = 400000;
        ck_assert_int_eq(call(&o, "GET", "/big", NULL, &r, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_uint_eq(r.len, 299999);
        ck_assert_ptr_null(r.json);
        floq_http_resp_release(&r);
}
END_TEST

START_TEST(test_closed_port) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";

        MHD_stop_daemon(srv);
        srv = NULL;
        o.max_retries = 2;
        ck_assert_int_eq(call(&o, "GET", "/flaky", NULL, &r, err, sizeof(err)),
                         FLOQ_ERR_TRANSPORT);
        ck_assert_int_eq(r.attempts, 3);
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(err, "test: GET /flaky: "));
        ck_assert_ptr_nonnull(strstr(err, "onnect"));
        floq_http_resp_release(&r);
        /* setup()'s server is gone: give teardown one to stop */
        setup();
}
END_TEST

START_TEST(test_json_and_credentials) {
        floq_http_opts_t o = opts();
        floq_http_resp_t r;
        char err[512] = "";
        json_t *body = json_pack("{s:s,s:i}", "dag_run_id", "a-1", "n", 3);
        json_t *sent;

        o.bearer = "tok-S3CRET";
        ck_assert_int_eq(call(&o, "POST", "/echo", body, &r, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "method")),
                         "POST");
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "auth")),
                         "Bearer tok-S3CRET");
        ck_assert_str_eq(json_string_value(json_object_get(r.json, "type")),
                         "application/json");
        sent = json_loads(json_string_value(json_object_get(r.json, "body")),
                          0, NULL);
        ck_assert(json_equal(sent, body));
        json_decref(sent);
        floq_http_resp_release(&r);
        /* a refused call names no credential */
        ck_assert_int_eq(call(&o, "GET", "/secret-denied", NULL, &r, err,
                              sizeof(err)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_null(strstr(err, "S3CRET"));
        floq_http_resp_release(&r);
        json_decref(body);
}
END_TEST

START_TEST(test_bad_urls) {
        floq_http_resp_t r;
        char err[512] = "";

        ck_assert_int_eq(floq_http_request(NULL, "GET", "file:///etc/passwd",
                                           NULL, &r, err, sizeof(err)),
                         FLOQ_ERR_TRANSPORT);
        ck_assert_ptr_null(r.body);
        floq_http_resp_release(&r);
        ck_assert_int_eq(floq_http_request(NULL, "GET", "", NULL, &r, err,
                                           sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_url_prefixes) {
        const char *pre = "http://h.example/hooks/team-a, https://x.example";

        ck_assert(floq_http_url_allowed(pre, "http://h.example/hooks/team-a"));
        ck_assert(floq_http_url_allowed(pre, "http://h.example/hooks/team-a/x"));
        ck_assert(floq_http_url_allowed(pre, "HTTP://H.EXAMPLE:80/hooks/team-a/y"));
        ck_assert(floq_http_url_allowed(pre, "https://x.example/anything"));
        ck_assert(!floq_http_url_allowed(pre, "http://h.example/hooks/team-ab"));
        ck_assert(!floq_http_url_allowed(pre, "http://h.example/hooks/team-a/../team-b"));
        /* encoded dot segments and slashes are resolved by servers */
        ck_assert(!floq_http_url_allowed(pre, "http://h.example/hooks/team-a/%2e%2e/team-b"));
        ck_assert(!floq_http_url_allowed(pre, "http://h.example/hooks/team-a/%2E%2E%2Fteam-b"));
        ck_assert(!floq_http_url_allowed(pre, "http://h.example/hooks/team-a/..%5cteam-b"));
        ck_assert(!floq_http_url_allowed(pre, "http://h.example:81/hooks/team-a"));
        ck_assert(!floq_http_url_allowed(pre, "http://h.example:80@evil/hooks/team-a"));
        ck_assert(!floq_http_url_allowed(pre, "http://x.example/anything"));
        ck_assert(!floq_http_url_allowed(pre, "file:///hooks/team-a"));
}
END_TEST

int main(void) {
        Suite *s = suite_create("http");
        TCase *tc = tcase_create("adapter");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_retry_5xx_then_success);
        tcase_add_test(tc, test_no_retry_on_400);
        tcase_add_test(tc, test_retry_after_honoured);
        tcase_add_test(tc, test_retry_after_past_the_timeout);
        tcase_add_test(tc, test_total_timeout);
        tcase_add_test(tc, test_body_bound);
        tcase_add_test(tc, test_closed_port);
        tcase_add_test(tc, test_json_and_credentials);
        tcase_add_test(tc, test_bad_urls);
        tcase_add_test(tc, test_url_prefixes);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
