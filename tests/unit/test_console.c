/*
 * test_console.c - the console's pieces without Kafka: escaping, the run
 * page of a hostile run (markup and quotes in every field), JSON answers,
 * /runs filters and paging, the bounds of the store, heartbeat records,
 * backend links, schedules' next fire times.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console_int.h"
#include "test_util.h"

typedef struct kv_s {
        const char *k, *v;
} kv_t;

static const char *kv_get(void *ctx, const char *name) {
        const kv_t *kv = ctx;

        for (; kv && kv->k; kv++)
                if (!strcmp(kv->k, name))
                        return kv->v;
        return NULL;
}

static climits_t lim_default(void) {
        climits_t l = { 1000, 100, 10000, 50, 16384, 50 };

        return l;
}

static json_t *runstate(const char *id, const char *dep, const char *status,
                        int attempt, long long created) {
        json_t *rs = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, "
                               "s:{}, s:b}",
                               "run_id", id, "deployment", dep,
                               "command_id", "c-1", "status", status,
                               "attempt", attempt, "worker", "w1",
                               "heartbeat_at", (json_int_t)created,
                               "created_at", (json_int_t)created, "params",
                               "heartbeat_only", 0);
        return rs;
}

static void put_run(cstore_t *s, json_t *rs) {
        const char *id = json_string_value(json_object_get(rs, "run_id"));

        cstore_apply_run(s, id, strlen(id), rs);
        json_decref(rs);
}

static char *get(cstore_t *s, const char *path, int json, const kv_t *q,
                 unsigned *status) {
        creq_t req = { 0 };
        cpage_t page;

        req.json = json;
        req.path = path;
        req.query = kv_get;
        req.query_ctx = (void *)q;
        req.now_ms = 1780000000000LL;
        crender(s, &req, &page);
        if (status)
                *status = page.status;
        return page.body;
}

static int count(const char *hay, const char *needle) {
        int n = 0;

        for (; (hay = strstr(hay, needle)); hay += strlen(needle))
                n++;
        return n;
}

START_TEST(test_escape) {
        cbuf_t b;
        char *t;

        cbuf_init(&b, 1 << 20);
        cbuf_html(&b, "<script>alert(\"x\" + 'y')</script>&\x01\x7f\n");
        t = cbuf_take(&b);
        ck_assert_str_eq(t, "&lt;script&gt;alert(&quot;x&quot; + "
                            "&#39;y&#39;)&lt;/script&gt;&amp;\n");
        free(t);
        cbuf_init(&b, 1 << 20);
        cbuf_url(&b, "a b/\"<>?&=\xc3\xa9-_.~");
        t = cbuf_take(&b);
        ck_assert_str_eq(t, "a%20b%2F%22%3C%3E%3F%26%3D%C3%A9-_.~");
        free(t);
        /* the bound: appends past it are dropped and said */
        cbuf_init(&b, 8);
        cbuf_puts(&b, "12345");
        cbuf_puts(&b, "67890");
        ck_assert(b.over);
        t = cbuf_take(&b);
        ck_assert_str_eq(t, "12345");
        free(t);
}
END_TEST

START_TEST(test_hostile_run_page) {
        cstore_t s;
        climits_t l = lim_default();
        json_t *rs, *j;
        char *body;
        unsigned st;
        json_error_t jerr;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        rs = runstate("r<1>", "<b>dep\"", "RUNNING", 1, 1000);
        json_object_set_new(json_object_get(rs, "params"), "p<script>",
                            json_string("<script>alert('x')</script>\""));
        json_object_set_new(rs, "output_tail",
                            json_string("</pre><script>evil()</script>"));
        json_object_set_new(rs, "backend_ref",
                            json_string("javascript:alert(1)"));
        json_object_set_new(rs, "reason", json_string("<img src=x>"));
        put_run(&s, rs);

        body = get(&s, "/runs/r<1>", 0, NULL, &st);
        ck_assert_uint_eq(st, 200);
        ck_assert_ptr_nonnull(body);
        /* only the page's own script, nothing from Kafka as markup */
        ck_assert_int_eq(count(body, "<script"), 1);
        ck_assert_ptr_null(strstr(body, "<img"));
        ck_assert_ptr_null(strstr(body, "<b>dep"));
        ck_assert_ptr_null(strstr(body, "href=\"javascript"));
        ck_assert_ptr_nonnull(strstr(body, "<dd id=\"backend-ref\">javascript:alert(1)</dd>"));
        ck_assert_ptr_nonnull(strstr(body, "&lt;script&gt;alert(&#39;x&#39;)"
                                           "&lt;/script&gt;&quot;"));
        ck_assert_ptr_nonnull(strstr(body, "p&lt;script&gt;"));
        ck_assert_ptr_nonnull(strstr(body, "&lt;/pre&gt;&lt;script&gt;"
                                           "evil()"));
        ck_assert_ptr_nonnull(strstr(body, "&lt;b&gt;dep&quot;"));
        /* the link to the deployment's runs is percent-encoded */
        ck_assert_ptr_nonnull(strstr(body, "/runs?deployment=%3Cb%3Edep%22"));
        ck_assert_ptr_nonnull(strstr(body, "data-refresh=\"1000\""));
        free(body);

        body = get(&s, "/runs/r<1>", 1, NULL, &st);
        ck_assert_uint_eq(st, 200);
        ck_assert_ptr_null(strstr(body, "</script>")); /* JSON_ESCAPE_SLASH */
        j = json_loads(body, 0, &jerr);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(j, "params"), "p<script>")),
                         "<script>alert('x')</script>\"");
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")),
                         "RUNNING");
        ck_assert(json_is_null(json_object_get(j, "backend_url")));
        json_decref(j);
        free(body);

        body = get(&s, "/runs/nope", 0, NULL, &st);
        ck_assert_uint_eq(st, 404);
        free(body);
        cstore_release(&s);
}
END_TEST

START_TEST(test_timeline_and_lineage) {
        cstore_t s;
        climits_t l = lim_default();
        json_t *rep, *ev, *j, *atts;
        char *body;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        put_run(&s, runstate("r1", "etl", "RUNNING", 2, 1000));
        rep = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:s}",
                        "command_id", "c-run", "deployment", "etl",
                        "run_id", "r1", "produced_at", (json_int_t)2000,
                        "status", "RUNNING", "attempt", 1, "worker", "w0",
                        "output_tail", "line1\nline2");
        json_object_set_new(rep, "url",
                            json_string("http://localhost:8080/runs/r1"));
        json_object_set_new(rep, "status", json_string("ACCEPTED"));
        cstore_apply_reply(&s, rep);
        json_object_set_new(rep, "status", json_string("RUNNING"));
        cstore_apply_reply(&s, rep);
        json_object_set_new(rep, "status", json_string("FAILED"));
        json_object_set_new(rep, "produced_at", json_integer(3000));
        cstore_apply_reply(&s, rep);
        json_decref(rep);
        /* a heartbeat record of attempt 2 */
        rep = runstate("r1", "etl", "RUNNING", 2, 4000);
        json_object_set_new(rep, "heartbeat_only", json_true());
        json_object_set_new(rep, "worker", json_string("w2"));
        cstore_apply_run(&s, "r1:hb", 5, rep);
        json_decref(rep);
        ev = json_loads("{\"eventType\":\"COMPLETE\",\"eventTime\":"
                        "\"2026-01-01T00:00:00Z\",\"run\":{\"runId\":\"r1\"},"
                        "\"job\":{\"namespace\":\"floq\",\"name\":\"etl\"},"
                        "\"inputs\":[{\"namespace\":\"pg\",\"name\":\"in\"}],"
                        "\"outputs\":[{\"namespace\":\"s3\",\"name\":\"out\"},"
                        "{\"namespace\":1}]}", 0, NULL);
        cstore_apply_lineage(&s, ev);
        cstore_apply_lineage(&s, ev); /* the same datasets once */
        json_decref(ev);
        /* hostile shapes: no crash, nothing kept */
        ev = json_loads("{\"run\":{\"runId\":5},\"inputs\":\"x\"}", 0, NULL);
        cstore_apply_lineage(&s, ev);
        json_decref(ev);

        body = get(&s, "/runs/r1", 1, NULL, NULL);
        j = json_loads(body, 0, NULL);
        ck_assert_ptr_nonnull(j);
        atts = json_object_get(j, "attempts");
        ck_assert_int_eq(json_array_size(atts), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_array_get(atts, 0), "attempt")), 1);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(atts, 0), "status")),
                         "FAILED");
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_array_get(atts, 0), "started_at")),
                         2000);
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_array_get(atts, 1),
                                 "last_heartbeat_at")), 4000);
        ck_assert_str_eq(json_string_value(json_object_get(j, "state")),
                         "RUNNING"); /* the heartbeat did not replace it */
        ck_assert_str_eq(json_string_value(json_object_get(j, "output_tail")),
                         "line1\nline2");
        ck_assert_int_eq(json_array_size(json_object_get(
                                 json_object_get(j, "lineage"), "inputs")), 1);
        ck_assert_int_eq(json_array_size(json_object_get(
                                 json_object_get(j, "lineage"), "outputs")), 1);
        ck_assert_int_eq(json_array_size(json_object_get(j, "command_ids")),
                         2); /* c-1 from the RunState, c-run */
        /* the console's own URL in a reply is not a backend page */
        ck_assert(json_is_null(json_object_get(j, "backend_url")));
        json_decref(j);
        free(body);
        /* a reply naming the backend's page (Airflow's) links it */
        rep = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s}", "command_id",
                        "c-run", "deployment", "etl", "run_id", "r1",
                        "produced_at", (json_int_t)5000, "status", "RUNNING",
                        "attempt", 2, "url", "http://airflow:8080/dags/x/runs/r1");
        cstore_apply_reply(&s, rep);
        json_decref(rep);
        body = get(&s, "/runs/r1", 0, NULL, NULL);
        ck_assert_ptr_nonnull(strstr(body, "href=\"http://airflow:8080/dags/x/runs/r1\""));
        free(body);
        /* tombstone */
        cstore_apply_run(&s, "r1", 2, NULL);
        body = get(&s, "/runs/r1", 1, NULL, NULL);
        ck_assert_ptr_nonnull(strstr(body, "\"error\""));
        free(body);
        cstore_release(&s);
}
END_TEST

START_TEST(test_retry_timeline) {
        cstore_t s;
        climits_t l = lim_default();
        json_t *rs, *atts, *a1, *a2;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        rs = runstate("r", "d", "RUNNING", 1, 10);
        json_object_set_new(rs, "started_at", json_integer(100));
        put_run(&s, rs);
        /* the retry: the record still holds attempt 1's times and worker */
        rs = runstate("r", "d", "RETRYING", 2, 10);
        json_object_set_new(rs, "started_at", json_integer(100));
        json_object_set_new(rs, "finished_at", json_integer(200));
        json_object_set_new(rs, "next_attempt_at", json_integer(1200));
        json_object_set_new(rs, "reason", json_string("exited with status 3"));
        put_run(&s, rs);
        atts = json_object_get(json_object_get(s.runs, "r"), "attempts");
        a1 = json_object_get(atts, "1");
        a2 = json_object_get(atts, "2");
        ck_assert_str_eq(json_string_value(json_object_get(a1, "status")),
                         "RETRIED");
        ck_assert_str_eq(json_string_value(json_object_get(a1, "reason")),
                         "exited with status 3");
        ck_assert_int_eq(json_integer_value(json_object_get(a1,
                                                            "finished_at")),
                         200);
        ck_assert_str_eq(json_string_value(json_object_get(a2, "status")),
                         "RETRYING");
        ck_assert_ptr_null(json_object_get(a2, "started_at"));
        ck_assert_ptr_null(json_object_get(a2, "worker"));
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 a2, "next_attempt_at")), 1200);
        rs = runstate("r", "d", "RUNNING", 2, 10);
        json_object_set_new(rs, "started_at", json_integer(1300));
        json_object_set_new(rs, "worker", json_string("w2"));
        put_run(&s, rs);
        a2 = json_object_get(atts, "2");
        ck_assert_str_eq(json_string_value(json_object_get(a2, "status")),
                         "RUNNING");
        ck_assert_str_eq(json_string_value(json_object_get(a2, "worker")),
                         "w2");
        ck_assert_int_eq(json_integer_value(json_object_get(a2,
                                                            "started_at")),
                         1300);
        cstore_release(&s);
}
END_TEST

/* One run's records as four topics hold them: the runs topic (its
 * RunStates in order), the heartbeat key, the replies and the lineage
 * topic. A console reads them interleaved as its fetches come back. */
enum { SRC_STATE, SRC_HB, SRC_REPLY, SRC_LINEAGE, SRC__CNT };

#define ORDER_RECS 6
#define ORDER_T0 1780000000000LL

typedef struct order_recs_s {
        json_t *rec[SRC__CNT][ORDER_RECS];
        int n[SRC__CNT];
} order_recs_t;

static json_t *order_state(const char *id, const char *status, int attempt,
                           long long started, long long finished,
                           const char *tail) {
        json_t *rs = runstate(id, "etl", status, attempt, ORDER_T0);

        json_object_set_new(rs, "command_id", json_string("c-run"));
        if (started)
                json_object_set_new(rs, "started_at",
                                    json_integer(ORDER_T0 + started));
        if (finished)
                json_object_set_new(rs, "finished_at",
                                    json_integer(ORDER_T0 + finished));
        if (tail)
                json_object_set_new(rs, "output_tail", json_string(tail));
        return rs;
}

static json_t *order_reply(const char *id, const char *cmd,
                           const char *status, int attempt, long long at,
                           const char *tail) {
        json_t *r = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s}",
                              "command_id", cmd, "deployment", "etl",
                              "run_id", id, "produced_at",
                              (json_int_t)(ORDER_T0 + at), "status", status,
                              "attempt", attempt, "worker", "w1");

        if (tail)
                json_object_set_new(r, "output_tail", json_string(tail));
        return r;
}

static json_t *order_lineage(const char *id, const char *type, long long at,
                             const char *in, const char *out) {
        char when[40];
        time_t t = (time_t)((ORDER_T0 + at) / 1000);
        struct tm tm;
        json_t *ev;

        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03dZ",
                 (int)((ORDER_T0 + at) % 1000));
        ev = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s}, s:[{s:s, s:s}], "
                       "s:[{s:s, s:s}]}",
                       "eventType", type, "eventTime", when, "run", "runId",
                       id, "job", "namespace", "floq", "name", "etl",
                       "inputs", "namespace", "pg", "name", in, "outputs",
                       "namespace", "s3", "name", out);
        return ev;
}

static void order_add(order_recs_t *r, int src, json_t *rec) {
        ck_assert_ptr_nonnull(rec);
        ck_assert_int_lt(r->n[src], ORDER_RECS);
        r->rec[src][r->n[src]++] = rec;
}

/* Ties everywhere: the RUNNING reply and the START event share a
 * millisecond, as do the last reply and COMPLETE; a repeat of the run
 * command is answered in the ACCEPTED reply's millisecond; the last
 * reply's tail was cut by the reply's size limit, the RunState's was
 * not; the two lineage events name their datasets in opposite orders. */
static void order_build(order_recs_t *r) {
        json_t *hb;

        memset(r, 0, sizeof(*r));
        order_add(r, SRC_STATE, order_state("r1", "ACCEPTED", 1, 0, 0, NULL));
        order_add(r, SRC_STATE, order_state("r1", "RUNNING", 1, 100, 0, "a"));
        order_add(r, SRC_STATE,
                  order_state("r1", "SUCCEEDED", 1, 100, 500, "a\nb\nc"));
        hb = runstate("r1", "etl", "RUNNING", 1, ORDER_T0 + 200);
        json_object_set_new(hb, "heartbeat_only", json_true());
        order_add(r, SRC_HB, hb);
        hb = runstate("r1", "etl", "RUNNING", 1, ORDER_T0 + 300);
        json_object_set_new(hb, "heartbeat_only", json_true());
        order_add(r, SRC_HB, hb);
        order_add(r, SRC_REPLY,
                  order_reply("r1", "c-run", "ACCEPTED", 1, 0, NULL));
        order_add(r, SRC_REPLY,
                  order_reply("r1", "c-again", "ACCEPTED", 1, 0, NULL));
        order_add(r, SRC_REPLY,
                  order_reply("r1", "c-run", "RUNNING", 1, 100, NULL));
        order_add(r, SRC_REPLY,
                  order_reply("r1", "c-run", "SUCCEEDED", 1, 500, "a\nb"));
        order_add(r, SRC_LINEAGE,
                  order_lineage("r1", "START", 100, "orders", "daily"));
        order_add(r, SRC_LINEAGE,
                  order_lineage("r1", "COMPLETE", 500, "customers", "a-daily"));
}

static void order_free(order_recs_t *r) {
        int i, j;

        for (i = 0; i < SRC__CNT; i++)
                for (j = 0; j < r->n[i]; j++)
                        json_decref(r->rec[i][j]);
}

static void order_apply(cstore_t *s, int src, json_t *rec) {
        switch (src) {
        case SRC_STATE:
                cstore_apply_run(s, "r1", 2, rec);
                break;
        case SRC_HB:
                cstore_apply_run(s, "r1:hb", 5, rec);
                break;
        case SRC_REPLY:
                cstore_apply_reply(s, rec);
                break;
        default:
                cstore_apply_lineage(s, rec);
        }
}

/* The run page (JSON with its keys sorted, and HTML) after reading @p r
 * in one interleaving: @p seed 0 reads each topic whole in turn, others
 * pick the next topic at random, each topic's own order kept. */
static void order_pages(const order_recs_t *r, unsigned seed, char **json,
                        char **html) {
        cstore_t s;
        climits_t l = lim_default();
        int next[SRC__CNT] = { 0 }, left = 0, src, i;
        json_t *j;
        char *body;

        for (i = 0; i < SRC__CNT; i++)
                left += r->n[i];
        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        for (src = 0; left > 0; left--) {
                if (seed) {
                        seed = seed * 1103515245u + 12345u;
                        src = (int)((seed >> 16) % SRC__CNT);
                }
                while (next[src] >= r->n[src])
                        src = (src + 1) % SRC__CNT;
                order_apply(&s, src, r->rec[src][next[src]++]);
        }
        body = get(&s, "/runs/r1", 1, NULL, NULL);
        j = json_loads(body, 0, NULL);
        ck_assert_ptr_nonnull(j);
        *json = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
        json_decref(j);
        free(body);
        *html = get(&s, "/runs/r1", 0, NULL, NULL);
        cstore_release(&s);
}

/* Two consoles that read the same topics show the same run page, however
 * their fetches interleaved the topics (a second console's run page once
 * differed from the first's in a real-broker run: the events were in the
 * order they were read). */
START_TEST(test_pages_do_not_depend_on_read_order) {
        order_recs_t r;
        char *json0, *html0, *json, *html;
        json_t *j, *ev;
        unsigned seed;
        size_t i;

        order_build(&r);
        order_pages(&r, 0, &json0, &html0);
        j = json_loads(json0, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "output_tail")),
                         "a\nb\nc"); /* the RunState's, not the cut reply's */
        ck_assert_int_eq(json_array_size(json_object_get(j, "command_ids")), 2);
        ev = json_object_get(j, "events");
        ck_assert_int_eq(json_array_size(ev), 6);
        for (i = 1; i < json_array_size(ev); i++)
                ck_assert_int_le(
                        json_integer_value(json_object_get(
                                json_array_get(ev, i - 1), "at")),
                        json_integer_value(json_object_get(
                                json_array_get(ev, i), "at")));
        json_decref(j);
        for (seed = 1; seed <= 300; seed++) {
                order_pages(&r, seed, &json, &html);
                if (strcmp(json, json0))
                        ck_abort_msg("read order %u: the JSON run page "
                                     "differs:\n%s\nfrom:\n%s", seed, json,
                                     json0);
                ck_assert_msg(!strcmp(html, html0),
                              "read order %u: the HTML run page differs",
                              seed);
                free(json);
                free(html);
        }
        free(json0);
        free(html0);
        order_free(&r);
}
END_TEST

START_TEST(test_filter_parse) {
        cfilter_t f;
        char err[256];
        kv_t ok[] = { { "state", "running" }, { "deployment", "etl" },
                      { "since", "2026-03-08T01:59:00+01:00" },
                      { "until", "1780000000000" }, { "page", "3" },
                      { "per_page", "20" }, { NULL, NULL } };
        kv_t bad_state[] = { { "state", "<x>" }, { NULL, NULL } };
        kv_t bad_page[] = { { "page", "0" }, { NULL, NULL } };
        kv_t bad_pp[] = { { "per_page", "201" }, { NULL, NULL } };
        kv_t bad_since[] = { { "since", "yesterday" }, { NULL, NULL } };
        kv_t bad_num[] = { { "page", "2x" }, { NULL, NULL } };

        ck_assert_int_eq(cfilter_parse(&f, kv_get, ok, 50, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_str_eq(f.state, "RUNNING");
        ck_assert_str_eq(f.deployment, "etl");
        ck_assert_int_eq(f.since_ms, 1772931540000LL);
        ck_assert_int_eq(f.until_ms, 1780000000000LL);
        ck_assert_int_eq(f.page, 3);
        ck_assert_int_eq(f.per_page, 20);
        ck_assert_int_eq(cfilter_parse(&f, kv_get, NULL, 50, err,
                                       sizeof(err)), FLOQ_OK);
        ck_assert_int_eq(f.page, 1);
        ck_assert_int_eq(f.per_page, 50);
        ck_assert_int_eq(f.since_ms, -1);
        ck_assert_ptr_null(f.state);
        ck_assert_int_eq(cfilter_parse(&f, kv_get, bad_state, 50, err,
                                       sizeof(err)), FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(err, "state"));
        ck_assert_int_eq(cfilter_parse(&f, kv_get, bad_page, 50, err,
                                       sizeof(err)), FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(cfilter_parse(&f, kv_get, bad_pp, 50, err,
                                       sizeof(err)), FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(cfilter_parse(&f, kv_get, bad_since, 50, err,
                                       sizeof(err)), FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(cfilter_parse(&f, kv_get, bad_num, 50, err,
                                       sizeof(err)), FLOQ_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_runs_paging_and_filters) {
        cstore_t s;
        climits_t l = lim_default();
        kv_t p1[] = { { "per_page", "3" }, { NULL, NULL } };
        kv_t p3[] = { { "per_page", "3" }, { "page", "3" }, { NULL, NULL } };
        kv_t fd[] = { { "deployment", "b" }, { "state", "FAILED" },
                      { NULL, NULL } };
        kv_t ft[] = { { "since", "3" }, { "until", "5" }, { NULL, NULL } };
        kv_t fbad[] = { { "state", "NOPE" }, { NULL, NULL } };
        json_t *j, *runs;
        char id[16], *body;
        unsigned st;
        int i;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        for (i = 1; i <= 7; i++) {
                snprintf(id, sizeof(id), "r%d", i);
                put_run(&s, runstate(id, i % 2 ? "a" : "b",
                                     i % 3 ? "SUCCEEDED" : "FAILED", 1, i));
        }
        body = get(&s, "/runs", 1, p1, NULL);
        j = json_loads(body, 0, NULL);
        free(body);
        runs = json_object_get(j, "runs");
        ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 7);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "pages")), 3);
        ck_assert_int_eq(json_array_size(runs), 3);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(runs, 0), "run_id")), "r7");
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(runs, 2), "run_id")), "r5");
        json_decref(j);
        body = get(&s, "/runs", 1, p3, NULL);
        j = json_loads(body, 0, NULL);
        free(body);
        runs = json_object_get(j, "runs");
        ck_assert_int_eq(json_array_size(runs), 1);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(runs, 0), "run_id")), "r1");
        json_decref(j);
        /* deployment b (even) and FAILED (multiple of 3): r6 */
        body = get(&s, "/runs", 1, fd, NULL);
        j = json_loads(body, 0, NULL);
        free(body);
        runs = json_object_get(j, "runs");
        ck_assert_int_eq(json_array_size(runs), 1);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(runs, 0), "run_id")), "r6");
        json_decref(j);
        /* created in [3, 5): r4, r3 */
        body = get(&s, "/runs", 1, ft, NULL);
        j = json_loads(body, 0, NULL);
        free(body);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "total")), 2);
        json_decref(j);
        /* HTML: the next link keeps the filter; a bad filter is a 400 */
        body = get(&s, "/runs", 0, p1, &st);
        ck_assert_uint_eq(st, 200);
        ck_assert_ptr_nonnull(strstr(body, "per_page=3&amp;page=2"));
        ck_assert_ptr_nonnull(strstr(body, "7 runs, page 1 of 3"));
        free(body);
        body = get(&s, "/runs", 0, fbad, &st);
        ck_assert_uint_eq(st, 400);
        free(body);
        cstore_release(&s);
}
END_TEST

START_TEST(test_bounds) {
        cstore_t s;
        climits_t l = { 3, 4, 6, 2, 64, 50 };
        json_t *rep, *run;
        char id[16], big[300];
        int i;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        rep = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s}", "command_id",
                        "c", "deployment", "d", "run_id", "r1", "produced_at",
                        (json_int_t)1, "status", "RUNNING", "attempt", 1,
                        "output_tail", big);
        for (i = 0; i < 10; i++)
                cstore_apply_reply(&s, rep);
        run = json_object_get(s.runs, "r1");
        ck_assert_int_eq(json_array_size(json_object_get(run, "events")), 4);
        /* the output tail is cut to 64 bytes and marked */
        ck_assert_uint_eq(strlen(json_string_value(json_object_get(
                                  run, "output_tail"))), 64 + 3);
        /* events over all runs stay within 6 */
        for (i = 2; i <= 3; i++) {
                snprintf(id, sizeof(id), "r%d", i);
                json_object_set_new(rep, "run_id", json_string(id));
                cstore_apply_reply(&s, rep);
                cstore_apply_reply(&s, rep);
                cstore_apply_reply(&s, rep);
        }
        ck_assert_int_le(s.events_total, 6);
        /* runs beyond 3: the oldest goes */
        json_object_set_new(rep, "run_id", json_string("r4"));
        json_object_set_new(rep, "produced_at", json_integer(9));
        cstore_apply_reply(&s, rep);
        ck_assert_int_eq(json_object_size(s.runs), 3);
        json_decref(rep);
        /* a RunState with 300 parameters keeps 200 of them */
        {
                json_t *rs = runstate("big", "d", "RUNNING", 1, 50);
                char k[16];

                for (i = 0; i < 300; i++) {
                        snprintf(k, sizeof(k), "p%d", i);
                        json_object_set_new(json_object_get(rs, "params"), k,
                                            json_string(big));
                }
                put_run(&s, rs);
                rs = json_object_get(json_object_get(s.runs, "big"), "state");
                ck_assert_int_eq(json_object_size(json_object_get(rs,
                                                                  "params")),
                                 200);
        }
        for (i = 0; i < 5; i++)
                cstore_apply_dlq(&s, "k\x01<", 3, "bad <x>", "FLOQ_ERR_DECODE",
                                 "t [0] @1", "w", 10, i);
        ck_assert_int_eq(json_array_size(s.dlq), 2);
        ck_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(s.dlq, 0), "key")), "k?<");
        {
                char *body = get(&s, "/dlq", 0, NULL, NULL);

                ck_assert_ptr_nonnull(strstr(body, "bad &lt;x&gt;"));
                ck_assert_ptr_nonnull(strstr(body, "k?&lt;"));
                free(body);
        }
        cstore_release(&s);
}
END_TEST

START_TEST(test_backend_url) {
        json_t *tmp;
        const char *u;

        ck_assert_str_eq(crun_backend_url("https://airflow/dags/x", &tmp),
                         "https://airflow/dags/x");
        ck_assert_ptr_null(tmp);
        ck_assert_ptr_null(crun_backend_url("javascript:alert(1)", &tmp));
        ck_assert_ptr_null(crun_backend_url("12345", &tmp));
        u = crun_backend_url("{\"id\":\"x\",\"url\":\"http://p/runs/1\"}",
                             &tmp);
        ck_assert_str_eq(u, "http://p/runs/1");
        json_decref(tmp);
        ck_assert_ptr_null(crun_backend_url("{\"url\":\"data:text/html,x\"}",
                                            &tmp));
        json_decref(tmp);
        ck_assert_ptr_null(crun_backend_url("{bad", &tmp));
        json_decref(tmp);
}
END_TEST

START_TEST(test_deployments_schedules) {
        cstore_t s;
        climits_t l = lim_default();
        json_t *dep, *set, *j, *d, *fires;
        char *body;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        dep = json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:s}", "name", "etl",
                        "backend", "process", "spec",
                        "{\"executable\":\"<x>\"}", "enabled", 1,
                        "generation", (json_int_t)2, "updated_at",
                        (json_int_t)5, "command_id", "c");
        cstore_apply_deployment(&s, "etl", 3, dep);
        json_decref(dep);
        set = json_loads("{\"deployment\":\"etl\",\"updated_at\":1,"
                         "\"schedules\":[{\"schedule_id\":\"s1\",\"cron\":"
                         "\"0 12 * * *\",\"timezone\":\"Europe/London\","
                         "\"catchup\":\"SKIP\",\"overlap\":\"ALLOW\","
                         "\"created_at\":1,\"paused\":false}]}", 0, NULL);
        cstore_apply_schedules(&s, "etl", 3, set);
        json_decref(set);
        put_run(&s, runstate("r1", "etl", "SUCCEEDED", 1, 10));

        body = get(&s, "/deployments", 1, NULL, NULL);
        j = json_loads(body, 0, NULL);
        free(body);
        d = json_object_get(json_object_get(j, "deployments"), "etl");
        ck_assert_ptr_nonnull(d);
        ck_assert_int_eq(json_array_size(json_object_get(d, "last_runs")), 1);
        fires = json_object_get(json_array_get(json_object_get(d, "schedules"),
                                               0), "next_fires");
        ck_assert_int_eq(json_array_size(fires), 3);
        /* 2026-05-28 (now) is summer time in London: noon is 11:00Z */
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
                                             json_array_get(fires, 0),
                                             "local")), "T12:00:00+01:00"));
        json_decref(j);
        body = get(&s, "/deployments", 0, NULL, NULL);
        ck_assert_ptr_nonnull(strstr(body, "&quot;&lt;x&gt;&quot;"));
        ck_assert_int_eq(count(body, "<script"), 1);
        free(body);
        cstore_release(&s);
}
END_TEST

START_TEST(test_healthz_and_csp) {
        cstore_t s;
        climits_t l = lim_default();
        char *body;
        unsigned st;

        ck_assert_int_eq(cstore_init(&s, &l), FLOQ_OK);
        body = get(&s, "/healthz", 0, NULL, &st);
        ck_assert_uint_eq(st, 503);
        free(body);
        s.restored = 1;
        body = get(&s, "/healthz", 1, NULL, &st);
        ck_assert_uint_eq(st, 200);
        ck_assert_ptr_nonnull(strstr(body, "\"restored\":true"));
        free(body);
        body = get(&s, "/nowhere", 0, NULL, &st);
        ck_assert_uint_eq(st, 404);
        free(body);
        ck_assert_int_eq(strncmp(crender_script_csp(), "'sha256-", 8), 0);
        ck_assert_uint_eq(strlen(crender_script_csp()), 8 + 44 + 1);
        cstore_release(&s);
}
END_TEST

static Suite *console_suite(void) {
        Suite *s = suite_create("console");
        TCase *tc = tcase_create("console");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_escape);
        tcase_add_test(tc, test_hostile_run_page);
        tcase_add_test(tc, test_timeline_and_lineage);
        tcase_add_test(tc, test_retry_timeline);
        tcase_add_test(tc, test_pages_do_not_depend_on_read_order);
        tcase_add_test(tc, test_filter_parse);
        tcase_add_test(tc, test_runs_paging_and_filters);
        tcase_add_test(tc, test_bounds);
        tcase_add_test(tc, test_backend_url);
        tcase_add_test(tc, test_deployments_schedules);
        tcase_add_test(tc, test_healthz_and_csp);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(console_suite());
}
