/*
 * test_review_console.c - the console's store under a flood of hostile
 * records: its memory stays within its byte budget however big each
 * record's texts are (the counts alone bound nothing: 20,000 replies
 * with three 16 KiB texts each held 1.3 GB before the budget), and the
 * answers waiting for slow readers are bounded too.
 */
#include <arpa/inet.h>
#include <check.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console_int.h"
#include "test_util.h"

/* Small enough to run under valgrind in CI: 2,000 replies of three
 * 4 KiB texts (~25 MB offered, ~45 MB of heap before the budget). */
#define BUDGET ((int64_t)4 << 20)
#define FIELD 4096

static size_t heap_used(void) {
        struct mallinfo2 mi = mallinfo2();

        return mi.uordblks + mi.hblkhd;
}

static json_t *fat_reply(const char *id, const char *big, int i) {
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i}", "run_id", id,
                         "status", "RUNNING", "command_id", big, "worker",
                         big, "reason", big, "produced_at",
                         (json_int_t)(1000 + i), "attempt", 1 + i % 150);
}

START_TEST(flood_of_fat_replies_stays_in_budget) {
        climits_t l = { 100000, 100, 200000, 500, FIELD, 50, BUDGET };
        cstore_t s;
        char *big = malloc(FIELD + 1);
        size_t before;
        int i;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        memset(big, 'a', FIELD);
        big[FIELD] = '\0';
        before = heap_used();
        for (i = 0; i < 2000; i++) {
                char id[32];
                json_t *m;

                snprintf(id, sizeof(id), "run-%d", i);
                big[0] = (char)('a' + i % 26); /* no sharing */
                m = fat_reply(id, big, i);
                cstore_apply_reply(&s, m);
                json_decref(m);
        }
        /* ~25 MB were offered; the store kept within 4 MB (and the
         * heap with it, allowing for the allocator's slack) */
        ck_assert_int_le(cstore_bytes(), BUDGET);
        ck_assert_uint_le(heap_used() - before, (size_t)(BUDGET * 2));
        /* the newest run is still there, the oldest went */
        ck_assert_ptr_nonnull(json_object_get(s.runs, "run-1999"));
        ck_assert_ptr_null(json_object_get(s.runs, "run-0"));
        cstore_release(&s);
        free(big);
}
END_TEST

START_TEST(flood_of_deployments_refused_past_budget) {
        climits_t l = { 100000, 100, 200000, 500, 16384, 50, (int64_t)2 << 20 };
        cstore_t s;
        char *big = malloc(16385);
        int i;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        memset(big, 'd', 16384);
        big[16384] = '\0';
        for (i = 0; i < 300; i++) {
                char key[32];
                json_t *d;

                snprintf(key, sizeof(key), "dep-%d", i);
                d = json_pack("{s:s, s:s, s:b}", "spec", big, "backend",
                              "process", "enabled", 1);
                cstore_apply_deployment(&s, key, strlen(key), d);
                json_decref(d);
        }
        ck_assert_int_le(cstore_bytes(), (int64_t)2 << 20);
        ck_assert_int_gt(s.refused, 0);
        ck_assert_ptr_nonnull(json_object_get(s.deployments, "dep-0"));
        cstore_release(&s);
        free(big);
}
END_TEST

START_TEST(json_answer_leaves_count_alone) {
        climits_t l = { 1000, 100, 10000, 50, 16384, 50, 0 };
        cstore_t s;
        creq_t req = { 0 };
        cpage_t page;
        int64_t before;
        int i;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        req.json = 1;
        req.path = "/healthz";
        crender(&s, &req, &page);
        free(page.body);
        before = cstore_bytes();
        for (i = 0; i < 1000; i++) {
                crender(&s, &req, &page);
                ck_assert_ptr_nonnull(page.body);
                free(page.body); /* as libmicrohttpd does */
        }
        ck_assert_int_le(cstore_bytes(), before + 1024);
        cstore_release(&s);
}
END_TEST

START_TEST(budget_fits_container) {
        /* the chart's small console: 128 MiB limit */
        ck_assert_int_eq(floq_console_bytes_budget((int64_t)128 << 20),
                         ((int64_t)128 << 20) / 5 * 3);
        ck_assert_int_eq(floq_console_bytes_budget(0), CSTORE_BYTES_DEFAULT);
        ck_assert_int_eq(floq_console_bytes_budget((int64_t)64 << 30),
                         CSTORE_BYTES_DEFAULT);
}
END_TEST

/* A port nothing listens on now (bound, then released). */
static int free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

static int connect_to(int port) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        int fd = socket(AF_INET, SOCK_STREAM, 0), small = 4096;

        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* Clients that ask for a big JSON page and never read it: the answers
 * waiting for them stay within a bound instead of one page per
 * connection (64 per address, 512 in all). */
START_TEST(slow_readers_bounded) {
        /* an 8 MB budget: 2 MB of answers may wait beside the first */
        climits_t l = { 1000, 100, 10000, 50, 16384, 50, (int64_t)8 << 20 };
        enum { CONNS = 12 };
        static const char req[] = "GET /runs/fat HTTP/1.1\r\nHost: x\r\n"
                                  "Accept: application/json\r\n\r\n";
        int fds[CONNS], i, answered = 0, port = free_port();
        char listen[64], err[256], *big = malloc(16385);
        json_t *rs, *params = json_object();
        size_t before;
        int64_t deadline;
        cserver_t *srv;
        cstore_t s;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        memset(big, 'a', 16384); /* a 3.2 MB JSON page */
        big[16384] = '\0';
        for (i = 0; i < 200; i++) {
                char k[16];

                snprintf(k, sizeof(k), "p%d", i);
                big[0] = (char)('a' + i % 26);
                json_object_set_new(params, k, json_string(big));
        }
        rs = json_pack("{s:s, s:s, s:s, s:i, s:I, s:o}", "run_id", "fat",
                       "deployment", "d", "status", "RUNNING", "attempt", 1,
                       "created_at", (json_int_t)1, "params", params);
        cstore_apply_run(&s, "fat", 3, rs);
        json_decref(rs);
        s.restored = 1;
        free(big);
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
        srv = cserver_new(listen, &s, err, sizeof(err));
        ck_assert_msg(srv != NULL, "%s", err);
        before = heap_used();
        for (i = 0; i < CONNS; i++) {
                fds[i] = connect_to(port);
                ck_assert_int_eq(write(fds[i], req, sizeof(req) - 1),
                                 (ssize_t)(sizeof(req) - 1));
        }
        /* each has been answered (some bytes arrived), but none read */
        deadline = floq_mono_ms() + 60000;
        for (i = 0; i < CONNS && floq_mono_ms() < deadline; i++) {
                struct pollfd pfd = { fds[i], POLLIN, 0 };

                if (poll(&pfd, 1, (int)(deadline - floq_mono_ms())) == 1)
                        answered++;
        }
        ck_assert_int_eq(answered, CONNS);
        /* 3.2 MB each: 38 MB held if every answer waits in full */
        ck_assert_uint_le(heap_used() - before, (size_t)12 << 20);
        /* the first, bigger than the bound alone, was answered in full */
        {
                char line[32] = "";

                ck_assert_int_gt(read(fds[0], line, sizeof(line) - 1), 0);
                ck_assert_msg(!strncmp(line, "HTTP/1.1 200", 12), "%s", line);
        }
        /* the health check still answers (200: ok) */
        {
                static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: "
                                         "x\r\n\r\n";
                char buf[512] = "";
                int fd = connect_to(port);
                struct pollfd pfd = { fd, POLLIN, 0 };

                ck_assert_int_eq(write(fd, hz, sizeof(hz) - 1),
                                 (ssize_t)(sizeof(hz) - 1));
                ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
                ck_assert_int_gt(read(fd, buf, sizeof(buf) - 1), 0);
                ck_assert_ptr_nonnull(strstr(buf, " 200 "));
                close(fd);
        }
        for (i = 0; i < CONNS; i++)
                close(fds[i]);
        cserver_destroy(srv);
        cstore_release(&s);
}
END_TEST

static char *page_of(cstore_t *s, const char *path, int json) {
        creq_t req = { 0 };
        cpage_t page;

        req.json = json;
        req.path = path;
        req.now_ms = 1780000000000LL;
        crender(s, &req, &page);
        return page.body;
}

/* Every href of @p html is a path of the console or an http(s) URL. */
static void hrefs_safe(const char *html) {
        const char *p = html;

        while ((p = strstr(p, "href=\""))) {
                p += 6;
                ck_assert_msg(p[0] == '/' && p[1] != '/' ? 1
                              : !strncmp(p, "http://", 7) ||
                                        !strncmp(p, "https://", 8),
                              "unsafe href: %.60s", p);
        }
}

/* Markup, quotes and link schemes in every field a page shows: replies,
 * lineage datasets, DLQ records, deployments and schedules. */
START_TEST(hostile_everywhere) {
        static const char *const urls[] = {
                "javascript:alert(1)", "JavaScript:alert(1)",
                " javascript:alert(1)", "\x01javascript:alert(1)",
                "data:text/html,<x>", "//evil.example/x", "HTTP://ok",
                "vbscript:x", "http://a\" onmouseover=\"x",
        };
        static const char X[] = "<x>\"'&";
        climits_t l = { 1000, 100, 10000, 50, 16384, 50, 0 };
        cstore_t s;
        json_t *m;
        char *body;
        size_t i;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
                char id[16];
                json_t *rs;

                snprintf(id, sizeof(id), "u%zu", i);
                rs = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, "
                               "s:{s:s}, s:s}",
                               "run_id", id, "deployment", X, "command_id", X,
                               "status", "FAILED", "attempt", 2, "worker", X,
                               "reason", X, "created_at", (json_int_t)5,
                               "params", X, X, "backend_ref", urls[i]);
                cstore_apply_run(&s, id, strlen(id), rs);
                json_decref(rs);
                m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:i}",
                              "run_id", id, "status", "FAILED", "url",
                              urls[i], "command_id", X, "worker", X, "reason",
                              X, "produced_at", (json_int_t)6, "attempt", 2);
                cstore_apply_reply(&s, m);
                json_decref(m);
                body = page_of(&s, "/runs/u0", 0);
                free(body);
                snprintf(id, sizeof(id), "/runs/u%zu", i);
                body = page_of(&s, id, 0);
                ck_assert_ptr_nonnull(body);
                ck_assert_ptr_null(strstr(body, "<x>"));
                ck_assert_int_eq(strstr(body, "<script") ==
                                 strstr(body, "<script>(function"), 1);
                hrefs_safe(body);
                free(body);
        }
        m = json_pack("{s:s, s:{s:s}, s:{s:s, s:s}, s:[{s:s, s:s}], "
                      "s:[{s:s, s:s}]}",
                      "eventType", X, "run", "runId", "u0", "job",
                      "namespace", X, "name", X, "inputs", "namespace", X,
                      "name", X, "outputs", "namespace",
                      "javascript:alert(1)", "name", X);
        cstore_apply_lineage(&s, m);
        json_decref(m);
        cstore_apply_dlq(&s, "<x>\n\"", 5, X, X, X, X, 10, 7);
        m = json_pack("{s:s, s:s, s:s, s:b, s:I}", "backend", X, "spec", X,
                      "artifact_url", "javascript:x", "enabled", 1,
                      "generation", (json_int_t)1);
        cstore_apply_deployment(&s, X, strlen(X), m);
        json_decref(m);
        m = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "schedules",
                      "schedule_id", X, "cron", X, "timezone", X, "catchup",
                      X, "overlap", X);
        cstore_apply_schedules(&s, X, strlen(X), m);
        json_decref(m);
        {
                static const char *const paths[] = {
                        "/runs/u0", "/runs", "/dlq", "/deployments",
                        "/runs/<x>", "/nope<x>",
                };

                for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                        body = page_of(&s, paths[i], 0);
                        ck_assert_ptr_nonnull(body);
                        ck_assert_msg(!strstr(body, "<x>"), "%s", paths[i]);
                        ck_assert_msg(!strstr(body, "\"'&"), "%s", paths[i]);
                        hrefs_safe(body);
                        free(body);
                        body = page_of(&s, paths[i], 1);
                        ck_assert_ptr_nonnull(body);
                        /* JSON (nosniff): no "</" to close a script */
                        ck_assert_msg(!strstr(body, "</"), "%s", paths[i]);
                        free(body);
                }
        }
        cstore_release(&s);
}
END_TEST

/* A lineage event whose job name is long and not ASCII keeps its job in
 * the run's events (cut at a character, not inside one). */
START_TEST(long_utf8_job_name) {
        climits_t l = { 1000, 100, 10000, 50, 16384, 50, 0 };
        char name[602];
        json_t *m, *run, *ev;
        cstore_t s;
        int i;

        name[0] = 'a'; /* an odd start: 256 bytes end inside an é */
        for (i = 0; i < 300; i++)
                memcpy(name + 1 + 2 * i, "\xc3\xa9", 2); /* é */
        name[601] = '\0';
        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        m = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s}}", "eventType",
                      "START", "eventTime", "2026-01-01T00:00:00Z", "run",
                      "runId", "r1", "job", "namespace", "ns", "name", name);
        cstore_apply_lineage(&s, m);
        json_decref(m);
        run = json_object_get(s.runs, "r1");
        ck_assert_ptr_nonnull(run);
        ev = json_array_get(json_object_get(run, "events"), 0);
        ck_assert_ptr_nonnull(ev);
        ck_assert_ptr_nonnull(cjson_str(ev, "job"));
        ck_assert(!strncmp(cjson_str(ev, "job"), "ns/a\xc3\xa9", 6));
        cstore_release(&s);
}
END_TEST

/* DLQ headers are bytes: a reason that is not UTF-8 (or one cut inside a
 * character by the header buffer) shows its bytes past ASCII as '?', the
 * rest stays; valid UTF-8 stays as it is. */
START_TEST(dlq_header_bytes) {
        climits_t l = { 1000, 100, 10000, 50, 16384, 50, 0 };
        cstore_t s;
        json_t *r;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        cstore_apply_dlq(&s, "k", 1, "cannot decode \xff\xfe here \xc3",
                         "DECODE", "floq.commands [0] @1", "w\xe9", 3, 9);
        r = json_array_get(s.dlq, 0);
        ck_assert_str_eq(cjson_str(r, "reason"), "cannot decode ?? here ?");
        ck_assert_str_eq(cjson_str(r, "worker"), "w?");
        ck_assert_str_eq(cjson_str(r, "error"), "DECODE");
        cstore_apply_dlq(&s, "k", 1, "caf\xc3\xa9 \xf0\x9f\x98\x80", NULL,
                         NULL, NULL, 3, 9);
        r = json_array_get(s.dlq, 1);
        ck_assert_str_eq(cjson_str(r, "reason"),
                         "caf\xc3\xa9 \xf0\x9f\x98\x80");
        cstore_apply_dlq(&s, "k", 1, "caf\xc3\xa9 \xed\xa0\x80", NULL, NULL,
                         NULL, 3, 9);
        r = json_array_get(s.dlq, 2);
        ck_assert_str_eq(cjson_str(r, "reason"), "caf?? ???");
        cstore_release(&s);
}
END_TEST

/* JSON log lines (log.format=json) leave jansson's count alone: the
 * text json_dumps() made is freed through jansson. */
START_TEST(json_logs_leave_count_alone) {
        climits_t l = { 1000, 100, 10000, 50, 16384, 50, 0 };
        FILE *out = tmpfile();
        int64_t before;
        cstore_t s;
        int i;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        floq_log_setup("floq-console", FLOQ_LOG_INFO, 1, out);
        floq_info("console", "warm up");
        before = cstore_bytes();
        for (i = 0; i < 2000; i++)
                floq_info("console", "line %d of a console's log", i);
        ck_assert_int_le(cstore_bytes(), before + 1024);
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
        fclose(out);
        cstore_release(&s);
}
END_TEST

/* One case per test (each in its own process, so that one's heap does
 * not count in another's measure). */
static void add_case(Suite *s, const TTest *t, const char *name) {
        TCase *tc = tcase_create(name);

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, t);
        suite_add_tcase(s, tc);
}

static Suite *suite(void) {
        Suite *s = suite_create("review_console");

        add_case(s, flood_of_fat_replies_stays_in_budget, "flood_of_fat_replies_stays_in_budget");
        add_case(s, flood_of_deployments_refused_past_budget, "flood_of_deployments_refused_past_budget");
        add_case(s, json_answer_leaves_count_alone, "json_answer_leaves_count_alone");
        add_case(s, budget_fits_container, "budget_fits_container");
        add_case(s, slow_readers_bounded, "slow_readers_bounded");
        add_case(s, hostile_everywhere, "hostile_everywhere");
        add_case(s, long_utf8_job_name, "long_utf8_job_name");
        add_case(s, json_logs_leave_count_alone, "json_logs_leave_count_alone");
        add_case(s, dlq_header_bytes, "dlq_header_bytes");
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
