/*
 * test_worker_state.c - the worker's pure rules (worker/state.c): retry
 * backoff with cap and jitter, run URL templates, home partitions, the
 * per-partition state and its repeat indexes (G3), terminal statuses, the
 * command body kinds and the envelope checks (G4).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "test_util.h"

static json_t *js(const char *text) {
        json_error_t err;
        json_t *v = json_loads(text, 0, &err);

        ck_assert_msg(v != NULL, "bad test JSON: %s", err.text);
        return v;
}

START_TEST(test_retry_defaults) {
        /* No policy: Avro defaults (1000 ms, x2, cap 60 s, jitter 0.2). */
        ck_assert_int_eq(wretry_max_attempts(NULL), 1);
        ck_assert_int_eq(wretry_delay_ms(NULL, 1, 0.0), 1000);
        ck_assert_int_eq(wretry_delay_ms(NULL, 2, 0.0), 2000);
        ck_assert_int_eq(wretry_delay_ms(NULL, 3, 0.0), 4000);
        ck_assert_int_eq(wretry_delay_ms(NULL, 1, 1.0), 1200);
        ck_assert_int_eq(wretry_delay_ms(NULL, 1, -1.0), 800);
        ck_assert_int_eq(wretry_delay_ms(json_null(), 1, 0.0), 1000);
}
END_TEST

START_TEST(test_retry_policy) {
        json_t *r = js("{\"max_attempts\":5,\"backoff_ms\":100,"
                       "\"backoff_multiplier\":3.0,\"max_backoff_ms\":1000,"
                       "\"jitter\":0.5}");

        ck_assert_int_eq(wretry_max_attempts(r), 5);
        ck_assert_int_eq(wretry_delay_ms(r, 1, 0.0), 100);
        ck_assert_int_eq(wretry_delay_ms(r, 2, 0.0), 300);
        ck_assert_int_eq(wretry_delay_ms(r, 3, 0.0), 900);
        ck_assert_int_eq(wretry_delay_ms(r, 4, 0.0), 1000); /* capped */
        ck_assert_int_eq(wretry_delay_ms(r, 400, 0.0), 1000); /* no inf */
        ck_assert_int_eq(wretry_delay_ms(r, 1, 1.0), 150);
        ck_assert_int_eq(wretry_delay_ms(r, 1, -1.0), 50);
        ck_assert_int_eq(wretry_delay_ms(r, 1, 7.0), 150); /* u clamped */
        ck_assert_int_eq(wretry_delay_ms(r, 0, 0.0), 100);
        json_decref(r);
}
END_TEST

START_TEST(test_retry_bad_values) {
        json_t *r = js("{\"max_attempts\":0,\"backoff_ms\":-5,"
                       "\"backoff_multiplier\":0.5,\"max_backoff_ms\":-1,"
                       "\"jitter\":3}");

        ck_assert_int_eq(wretry_max_attempts(r), 1);
        ck_assert_int_ge(wretry_delay_ms(r, 3, 1.0), 0);
        ck_assert_int_eq(wretry_delay_ms(r, 3, 0.0), 0);
        json_decref(r);
}
END_TEST

START_TEST(test_url_template) {
        char *u;

        u = wurl_expand("http://ui/runs/{run_id}", "abc", "d");
        ck_assert_str_eq(u, "http://ui/runs/abc");
        free(u);
        u = wurl_expand("https://x/{deployment}/{run_id}?d={deployment}",
                        "r-1", "a b/c");
        ck_assert_str_eq(u, "https://x/a%20b%2Fc/r-1?d=a%20b%2Fc");
        free(u);
        u = wurl_expand("{run_id", "r", "d"); /* unbalanced: verbatim */
        ck_assert_str_eq(u, "{run_id");
        free(u);
        u = wurl_expand("", "r", "d");
        ck_assert_str_eq(u, "");
        free(u);
        u = wurl_expand(NULL, "r", "d");
        ck_assert_str_eq(u, "");
        free(u);
}
END_TEST

START_TEST(test_home_partition) {
        const char *names[] = { "etl", "nightly-orders", "a", "" };
        size_t i;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                int32_t p = whome_partition(names[i], 6);

                ck_assert_int_ge(p, 0);
                ck_assert_int_lt(p, 6);
                ck_assert_int_eq(p, floq_kafka_partition(names[i],
                                                         strlen(names[i]),
                                                         6));
                ck_assert_int_eq(whome_partition(names[i], 1), 0);
        }
}
END_TEST

START_TEST(test_terminal) {
        ck_assert(wrun_status_terminal("SUCCEEDED"));
        ck_assert(wrun_status_terminal("FAILED"));
        ck_assert(wrun_status_terminal("CANCELLED"));
        ck_assert(wrun_status_terminal("TIMED_OUT"));
        ck_assert(wrun_status_terminal("LOST"));
        ck_assert(!wrun_status_terminal("ACCEPTED"));
        ck_assert(!wrun_status_terminal("RUNNING"));
        ck_assert(!wrun_status_terminal("RETRYING"));
        ck_assert(!wrun_status_terminal(NULL));
}
END_TEST

START_TEST(test_state_index) {
        wpart_t part;

        wpart_init(&part);
        wpart_put_run(&part, "r1",
                      js("{\"run_id\":\"r1\",\"deployment\":\"d\","
                         "\"command_id\":\"c1\",\"idempotency_key\":\"k\","
                         "\"status\":\"ACCEPTED\"}"));
        wpart_put_run(&part, "r2",
                      js("{\"run_id\":\"r2\",\"deployment\":\"e\","
                         "\"command_id\":\"c2\",\"idempotency_key\":null,"
                         "\"status\":\"ACCEPTED\"}"));
        ck_assert_str_eq(wpart_find_idem(&part, "d", "k"), "r1");
        ck_assert_ptr_null(wpart_find_idem(&part, "e", "k"));
        ck_assert_ptr_null(wpart_find_idem(&part, "d", "other"));
        ck_assert_str_eq(wpart_find_cmd(&part, "c1"), "r1");
        ck_assert_str_eq(wpart_find_cmd(&part, "c2"), "r2");
        ck_assert_ptr_null(wpart_find_cmd(&part, "c3"));

        /* a newer version keeps the indexes */
        wpart_put_run(&part, "r1",
                      js("{\"run_id\":\"r1\",\"deployment\":\"d\","
                         "\"command_id\":\"c1\",\"idempotency_key\":\"k\","
                         "\"status\":\"SUCCEEDED\"}"));
        ck_assert_str_eq(wpart_find_idem(&part, "d", "k"), "r1");
        ck_assert_str_eq(wjs(json_object_get(part.runs, "r1"), "status"),
                         "SUCCEEDED");

        /* a tombstone removes run and index entries */
        wpart_put_run(&part, "r1", NULL);
        ck_assert_ptr_null(wpart_find_idem(&part, "d", "k"));
        ck_assert_ptr_null(wpart_find_cmd(&part, "c1"));
        ck_assert_ptr_null(json_object_get(part.runs, "r1"));

        wpart_put_deployment(&part, "d", js("{\"name\":\"d\"}"));
        ck_assert_ptr_nonnull(wpart_deployment(&part, "d"));
        wpart_put_deployment(&part, "d", NULL);
        ck_assert_ptr_null(wpart_deployment(&part, "d"));

        part.owned = 1;
        part.next_offset = 5;
        wpart_clear(&part);
        ck_assert_int_eq(part.owned, 0);
        ck_assert_int_eq(part.next_offset, -1);
        ck_assert_int_eq(json_object_size(part.runs), 0);
        ck_assert_ptr_null(wpart_find_cmd(&part, "c2"));
        wpart_release(&part);
}
END_TEST

START_TEST(test_deployment_kept_encoded) {
        /* A restored Deployment is kept as its record's bytes and decoded
         * once, on first use; a later put of either form replaces it, a
         * tombstone and a clear drop it, and bytes that do not decode are
         * refused with the version before kept. */
        wpart_t part;
        floq_codec_t *c = floq_codec_new(1 << 20, NULL, 0);
        json_t *dep = json_pack(
                "{s:s, s:s, s:s, s:b, s:i, s:I, s:s}", "name", "d",
                "backend", "process", "spec", "{\"executable\":\"/bin/true\"}",
                "enabled", 1, "generation", 7, "updated_at", (json_int_t)1,
                "command_id", "6c1f0a00-0000-4000-8000-000000000001");
        void *buf;
        size_t len;
        json_t *got;

        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(floq_codec_encode(c, FLOQ_MSG_DEPLOYMENT, dep, &buf,
                                           &len, NULL, 0),
                         FLOQ_OK);
        wpart_init(&part);
        wpart_put_deployment(&part, "d", json_pack("{s:s}", "name", "old"));
        ck_assert_int_eq(wpart_put_deployment_raw(&part, "d", buf, len),
                         FLOQ_OK);
        /* the record replaced the decoded one, and is not decoded yet */
        ck_assert_ptr_null(json_object_get(part.deployments, "d"));
        ck_assert_uint_eq(wpart_deployment_count(&part), 1);
        got = wpart_deployment(&part, "d");
        ck_assert_ptr_nonnull(got);
        ck_assert_int_eq(wji(got, "generation", 0), 7);
        ck_assert_str_eq(wjs(got, "backend"), "process");
        /* decoded once: the same object again, the bytes gone */
        ck_assert_ptr_eq(wpart_deployment(&part, "d"), got);
        ck_assert_ptr_null(json_object_get(part.dep_raw, "d"));
        ck_assert_uint_eq(wpart_deployment_count(&part), 1);

        /* a decoded put replaces kept bytes, a tombstone drops them */
        ck_assert_int_eq(wpart_put_deployment_raw(&part, "d", buf, len),
                         FLOQ_OK);
        wpart_put_deployment(&part, "d", json_pack("{s:s}", "name", "new"));
        ck_assert_str_eq(wjs(wpart_deployment(&part, "d"), "name"), "new");
        ck_assert_int_eq(wpart_put_deployment_raw(&part, "d", buf, len),
                         FLOQ_OK);
        wpart_put_deployment(&part, "d", NULL);
        ck_assert_ptr_null(wpart_deployment(&part, "d"));
        ck_assert_uint_eq(wpart_deployment_count(&part), 0);

        /* a clear drops them too */
        ck_assert_int_eq(wpart_put_deployment_raw(&part, "e", buf, len),
                         FLOQ_OK);
        wpart_clear(&part);
        ck_assert_ptr_null(wpart_deployment(&part, "e"));
        ck_assert_uint_eq(wpart_deployment_count(&part), 0);

        /* a body cut short, or bytes over the partition codec's bound,
         * are refused and change nothing: the version before stays (the
         * restore then decodes them, and skips a bad one) */
        wpart_put_deployment(&part, "f", json_pack("{s:s}", "name", "good"));
        ck_assert_int_ne(wpart_put_deployment_raw(&part, "f", buf, len / 2),
                         FLOQ_OK);
        ck_assert_int_ne(wpart_put_deployment_raw(&part, "f", buf, len - 1),
                         FLOQ_OK);
        {
                size_t big = WPART_CODEC_MAX + 1;
                unsigned char *b = calloc(1, big);

                ck_assert_ptr_nonnull(b);
                memcpy(b, buf, len);
                ck_assert_int_eq(wpart_put_deployment_raw(&part, "f", b, big),
                                 FLOQ_ERR_TOO_LARGE);
                free(b);
        }
        ck_assert_str_eq(wjs(wpart_deployment(&part, "f"), "name"), "good");
        ck_assert_ptr_null(json_object_get(part.dep_raw, "f"));
        ck_assert_uint_eq(wpart_deployment_count(&part), 1);
        ck_assert_ptr_null(wpart_deployment(&part, NULL));

        wpart_release(&part);
        free(buf);
        json_decref(dep);
        floq_codec_destroy(c);
}
END_TEST

/* A RunState record of run @p i of the equivalence test below. */
static json_t *run_record(int i, char *run_id) {
        static const char *const statuses[] = { "SUCCEEDED", "FAILED",
                                                "RUNNING",   "CANCELLED",
                                                "LOST",      "ACCEPTED" };
        char cmd[37];
        json_t *rs;

        snprintf(run_id, 37, "6c1f0a00-0000-4000-8000-%012d", i);
        snprintf(cmd, sizeof(cmd), "6c1f0a00-0000-4000-9000-%012d", i);
        rs = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:{s:s, s:s}}",
                       "run_id", run_id, "deployment", i % 4 ? "d" : "e",
                       "command_id", cmd, "status", statuses[i % 6],
                       "attempt", 1 + i % 3, "heartbeat_at",
                       (json_int_t)(1000000 + i), "created_at",
                       (json_int_t)(900000 + i), "params", "who", "x",
                       "big", i % 5 ? "y" : "a much longer value here");
        if (i % 3)
                json_object_set_new(rs, "idempotency_key",
                                    json_sprintf("k%d", i % 7));
        if (i % 4 == 1)
                json_object_set_new(rs, "finished_at",
                                    json_integer(1100000 + i));
        if (i % 10 == 9)
                json_object_set_new(rs, "schedule_id", json_string("s"));
        if (i % 8 == 3)
                json_object_set_new(rs, "output_tail", json_string("out\n"));
        return rs;
}

START_TEST(test_run_record_as_decoded) {
        /* A finished run applied from its record's bytes
         * (wpart_put_run_record(), the restore's path) leaves the
         * partition exactly as decoding it and wpart_put_run() do: the
         * same kept run (params cut), index entries, end queue and
         * counts. What needs a decode (a live run, a scheduled one, a
         * second version, another writer's schema) is refused with the
         * partition unchanged. */
        floq_codec_t *c = floq_codec_new(1 << 20, NULL, 0);
        wpart_t fast, slow;
        char run_id[37], err[256];
        int i, n = 120, taken = 0, refused = 0;

        ck_assert_ptr_nonnull(c);
        wpart_init(&fast);
        wpart_init(&slow);
        for (i = 0; i < n + 2; i++) {
                /* the last two: run 1 again (a second version), and
                 * run 2 written by the schema's first version */
                json_t *rs = run_record(i < n ? i : i - n + 1, run_id), *dec;
                void *buf;
                size_t len;
                floq_codec_t *w = c;
                size_t before;

                if (i == n + 1) {
                        w = test_codec_v1(FLOQ_MSG_RUN_STATE);
                        wpart_put_run(&fast, run_id, NULL);
                        wpart_put_run(&slow, run_id, NULL);
                }
                ck_assert_int_eq(floq_codec_encode(w, FLOQ_MSG_RUN_STATE, rs,
                                                   &buf, &len, err,
                                                   sizeof(err)),
                                 FLOQ_OK);
                ck_assert_int_eq(floq_codec_decode(c, FLOQ_MSG_RUN_STATE, buf,
                                                   len, &dec, err,
                                                   sizeof(err)),
                                 FLOQ_OK);
                if (wrun_status_terminal(wjs(dec, "status")))
                        json_object_del(dec, "params");
                json_incref(dec);
                wpart_put_run(&slow, run_id, dec);
                before = wpart_run_count(&fast);
                if (!wpart_put_run_record(&fast, run_id, buf, len)) {
                        taken++;
                        ck_assert(wrun_status_terminal(wjs(dec, "status")));
                        ck_assert_ptr_null(json_object_get(rs, "schedule_id"));
                        ck_assert_int_lt(i, n);
                        ck_assert_uint_eq(wpart_run_count(&fast), before + 1);
                } else {
                        refused++;
                        ck_assert_uint_eq(wpart_run_count(&fast), before);
                        json_incref(dec);
                        wpart_put_run(&fast, run_id, dec);
                }
                json_decref(dec);
                if (w != c)
                        floq_codec_destroy(w);
                free(buf);
                json_decref(rs);
        }
        /* both paths were taken, each several times */
        ck_assert_int_gt(taken, 40);
        ck_assert_int_gt(refused, 40);

        ck_assert_uint_eq(wpart_run_count(&fast), wpart_run_count(&slow));
        ck_assert_uint_eq(fast.done.cnt, slow.done.cnt);
        ck_assert(json_equal(fast.idem, slow.idem));
        ck_assert(json_equal(fast.live, slow.live));
        ck_assert(json_equal(fast.sched_last, slow.sched_last));
        ck_assert_uint_eq(fast.ended.cnt - fast.ended.head,
                          slow.ended.cnt - slow.ended.head);
        ck_assert_mem_eq(fast.ended.ids + fast.ended.head,
                         slow.ended.ids + slow.ended.head,
                         (fast.ended.cnt - fast.ended.head) *
                                 sizeof(*fast.ended.ids));
        for (i = 0; i < n; i++) {
                json_t *a, *b;
                char cmd[37];

                json_decref(run_record(i, run_id));
                snprintf(cmd, sizeof(cmd), "6c1f0a00-0000-4000-9000-%012d", i);
                /* the object put is what wpart_put_run() lends while it
                 * is cached: without params, which its record keeps as
                 * {} */
                a = json_deep_copy(wpart_run(&fast, run_id));
                b = json_deep_copy(wpart_run(&slow, run_id));
                if (a && !json_object_get(a, "params"))
                        json_object_set_new(a, "params", json_object());
                if (b && !json_object_get(b, "params"))
                        json_object_set_new(b, "params", json_object());
                ck_assert_msg(a && json_equal(a, b), "run %d differs", i);
                ck_assert_pstr_eq(wpart_find_cmd(&fast, cmd),
                                  wpart_find_cmd(&slow, cmd));
                json_decref(a);
                json_decref(b);
        }
        /* finished runs' keys outlive them the same way */
        for (i = 0; i < n; i++) {
                json_decref(run_record(i, run_id));
                wpart_put_run(&fast, run_id, NULL);
                wpart_put_run(&slow, run_id, NULL);
        }
        ck_assert_uint_gt(json_object_size(slow.idem_gone), 3);
        ck_assert(json_equal(fast.idem_gone, slow.idem_gone));
        ck_assert_uint_eq(wpart_run_count(&fast), 0);

        /* bytes that do not decode are refused, and nothing is kept */
        {
                json_t *rs = run_record(0, run_id);
                void *buf;
                size_t len, before = wpart_run_count(&fast);

                ck_assert_int_eq(floq_codec_encode(c, FLOQ_MSG_RUN_STATE, rs,
                                                   &buf, &len, err,
                                                   sizeof(err)),
                                 FLOQ_OK);
                ck_assert_int_ne(wpart_put_run_record(&fast, "x", buf,
                                                      len - 3),
                                 FLOQ_OK);
                ck_assert_uint_eq(wpart_run_count(&fast), before);
                free(buf);
                json_decref(rs);
        }
        wpart_release(&fast);
        wpart_release(&slow);
        floq_codec_destroy(c);
}
END_TEST

START_TEST(test_schedule_index) {
        /* The runs of one schedule come from an index, not a scan: its
         * non-terminal runs and its latest one by scheduled_for, kept in
         * step through updates, other schedules' runs and tombstones. */
        wpart_t part;
        const json_t *active, *last;
        char id[37], text[300];
        int i;

        wpart_init(&part);
        for (i = 0; i < 1000; i++) {
                snprintf(id, sizeof(id), "r%d", i);
                snprintf(text, sizeof(text),
                         "{\"run_id\":\"%s\",\"deployment\":\"%s\","
                         "\"schedule_id\":\"s\",\"status\":\"%s\","
                         "\"scheduled_for\":%d}",
                         id, i % 2 ? "odd" : "even",
                         i < 997 ? "SUCCEEDED" : "RUNNING", i);
                wpart_put_run(&part, id, js(text));
        }
        /* unscheduled runs are not in it */
        wpart_put_run(&part, "x", js("{\"run_id\":\"x\",\"deployment\":"
                                     "\"odd\",\"status\":\"RUNNING\"}"));
        last = wpart_schedule_runs(&part, "odd", "s", &active);
        ck_assert_ptr_nonnull(last);
        ck_assert_str_eq(wjs(last, "run_id"), "r999");
        ck_assert_int_eq(json_object_size(active), 2); /* r997, r999 */
        last = wpart_schedule_runs(&part, "even", "s", &active);
        ck_assert_str_eq(wjs(last, "run_id"), "r998");
        ck_assert_int_eq(json_object_size(active), 1);
        ck_assert_ptr_nonnull(json_object_get(active, "r998"));
        ck_assert_ptr_null(wpart_schedule_runs(&part, "even", "other",
                                               &active));
        ck_assert_ptr_null(active);

        /* r998 ends: no longer active, still the latest */
        wpart_put_run(&part, "r998",
                      js("{\"run_id\":\"r998\",\"deployment\":\"even\","
                         "\"schedule_id\":\"s\",\"status\":\"CANCELLED\","
                         "\"scheduled_for\":998}"));
        last = wpart_schedule_runs(&part, "even", "s", &active);
        ck_assert_str_eq(wjs(last, "status"), "CANCELLED");
        ck_assert_ptr_null(active);
        /* an older run updated later does not become the latest */
        wpart_put_run(&part, "r10",
                      js("{\"run_id\":\"r10\",\"deployment\":\"even\","
                         "\"schedule_id\":\"s\",\"status\":\"LOST\","
                         "\"scheduled_for\":10}"));
        ck_assert_str_eq(wjs(wpart_schedule_runs(&part, "even", "s", &active),
                             "run_id"),
                         "r998");
        /* tombstones: the latest goes away, active entries too */
        wpart_put_run(&part, "r998", NULL);
        ck_assert_ptr_null(wpart_schedule_runs(&part, "even", "s", &active));
        wpart_put_run(&part, "r999", NULL);
        wpart_schedule_runs(&part, "odd", "s", &active);
        ck_assert_int_eq(json_object_size(active), 1); /* r997 */
        ck_assert_ptr_null(json_object_get(active, "r999"));
        wpart_clear(&part);
        ck_assert_ptr_null(wpart_schedule_runs(&part, "odd", "s", &active));
        wpart_release(&part);
}
END_TEST

START_TEST(test_command_kind) {
        static const struct {
                const char *branch;
                wcmd_kind_t kind;
        } cases[] = {
                { "DeployBody", WCMD_DEPLOY },
                { "RunBody", WCMD_RUN },
                { "StopBody", WCMD_STOP },
                { "ScheduleBody", WCMD_SCHEDULE },
                { "UnscheduleBody", WCMD_UNSCHEDULE },
                { "StatusBody", WCMD_STATUS },
                { "ValidateBody", WCMD_VALIDATE },
                { "io.floq.v1.RunBody", WCMD_RUN },
                { "NopeBody", WCMD_UNKNOWN },
        };
        size_t i;
        char text[256];

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *cmd, *body = NULL;

                snprintf(text, sizeof(text), "{\"body\":{\"%s\":{}}}",
                         cases[i].branch);
                cmd = js(text);
                ck_assert_int_eq(wcmd_kind(cmd, &body), cases[i].kind);
                if (cases[i].kind != WCMD_UNKNOWN)
                        ck_assert_ptr_nonnull(body);
                json_decref(cmd);
        }
        {
                json_t *c1 = js("{\"body\":{\"RunBody\":1}}");
                json_t *c2 = js("{\"body\":{}}");
                json_t *c3 = js("{}");

                ck_assert_int_eq(wcmd_kind(c1, NULL), WCMD_UNKNOWN);
                ck_assert_int_eq(wcmd_kind(c2, NULL), WCMD_UNKNOWN);
                ck_assert_int_eq(wcmd_kind(c3, NULL), WCMD_UNKNOWN);
                json_decref(c1);
                json_decref(c2);
                json_decref(c3);
        }
}
END_TEST

/* A canonical command id (the gate refuses any other). */
#define CID "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f60"

START_TEST(test_command_check) {
        static const struct {
                const char *cmd;
                floq_err_t want;
        } cases[] = {
                { "{\"command_id\":\"" CID "\",\"deployment\":\"d\"}", FLOQ_OK },
                { "{\"command_id\":\"" CID "\",\"deployment\":\"d\","
                  "\"expires_at\":2000}", FLOQ_OK },
                { "{\"command_id\":\"" CID "\",\"deployment\":\"d\","
                  "\"expires_at\":999}", FLOQ_ERR_EXPIRED },
                { "{\"command_id\":\"\",\"deployment\":\"d\"}",
                  FLOQ_ERR_INVALID_ARG },
                { "{\"deployment\":\"d\"}", FLOQ_ERR_INVALID_ARG },
                { "{\"command_id\":\"" CID "\",\"deployment\":\"\"}",
                  FLOQ_ERR_INVALID_ARG },
                { "{\"command_id\":\"" CID "\",\"deployment\":\"a\\u0001b\"}",
                  FLOQ_ERR_INVALID_ARG },
                { "{\"command_id\":\"" CID "\",\"deployment\":\"d\","
                  "\"reply_to\":\"\"}", FLOQ_ERR_INVALID_ARG },
                { "{\"command_id\":\"" CID "\",\"deployment\":\"d\","
                  "\"reply_to\":\"r\"}", FLOQ_OK },
        };
        size_t i;
        char reason[256];

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *cmd = js(cases[i].cmd);
                floq_err_t err;

                reason[0] = '\0';
                err = wcmd_check(cmd, 1000, 0, reason, sizeof(reason));
                ck_assert_msg(err == cases[i].want, "case %zu: %s (%s)", i,
                              floq_err_name(err), reason);
                if (err)
                        ck_assert_int_gt(strlen(reason), 0);
                json_decref(cmd);
        }
        {
                /* over-long names */
                char big[400];
                json_t *cmd;

                memset(big, 'x', sizeof(big) - 1);
                big[sizeof(big) - 1] = '\0';
                cmd = json_pack("{s:s,s:s}", "command_id", CID, "deployment",
                                big);
                ck_assert_int_eq(wcmd_check(cmd, 0, 0, reason, sizeof(reason)),
                                 FLOQ_ERR_INVALID_ARG);
                json_decref(cmd);
                cmd = json_pack("{s:s,s:s}", "command_id", big, "deployment",
                                "d");
                ck_assert_int_eq(wcmd_check(cmd, 0, 0, reason, sizeof(reason)),
                                 FLOQ_ERR_INVALID_ARG);
                json_decref(cmd);
        }
        {
                /* the retention window: issued before it is refused */
                json_t *cmd = json_pack("{s:s,s:s,s:I}", "command_id", CID,
                                        "deployment", "d", "issued_at",
                                        (json_int_t)1000);

                ck_assert_int_eq(wcmd_check(cmd, 5000, 4000, reason,
                                            sizeof(reason)),
                                 FLOQ_OK);
                ck_assert_int_eq(wcmd_check(cmd, 5001, 4000, reason,
                                            sizeof(reason)),
                                 FLOQ_ERR_EXPIRED);
                ck_assert_ptr_nonnull(
                        strstr(reason, "worker.run.retention.ms"));
                ck_assert_int_eq(wcmd_check(cmd, 999999, 0, reason,
                                            sizeof(reason)),
                                 FLOQ_OK);
                json_decref(cmd);
        }
}
END_TEST

START_TEST(test_json_getters) {
        json_t *o = js("{\"s\":\"v\",\"i\":7,\"r\":2.9,\"n\":null}");

        ck_assert_str_eq(wjs(o, "s"), "v");
        ck_assert_ptr_null(wjs(o, "i"));
        ck_assert_ptr_null(wjs(o, "missing"));
        ck_assert_int_eq(wji(o, "i", -1), 7);
        ck_assert_int_eq(wji(o, "r", -1), 2);
        ck_assert_int_eq(wji(o, "n", -1), -1);
        ck_assert_int_eq(wji(NULL, "i", -1), -1);
        json_decref(o);
}
END_TEST

/* The replay memory of deploy and stop outcomes (outcomes.c): found by
 * deployment and command id, replaced, removed by a tombstone, and the
 * expiry rule (beyond the newest `history` of a deployment and older than
 * the lifetime, or beyond WRECENT_MAX) applied to state built at speed:
 * 12 deployments x 25,000 outcomes within a few simulated seconds stay
 * bounded, and every outcome let go has its tombstone key. */
START_TEST(test_outcome_memory) {
        wout_t o;
        const wout_entry_t *e;
        json_t *gone = json_array(), *cancelled = js("[\"r1\",\"r2\"]");
        char id[64], dep[16];
        const int64_t life = 1000;
        size_t n, total_gone = 0;
        int i;

        wout_init(&o);
        ck_assert_int_eq(wout_put(&o, "a", "c1", "DEPLOYED", NULL, NULL, 100),
                         FLOQ_OK);
        ck_assert_int_eq(wout_put(&o, "a", "c2", "STOPPED", "why", cancelled,
                                  200),
                         FLOQ_OK);
        ck_assert_int_eq(wout_put(&o, "b", "c3", "DEPLOYED", NULL, NULL, 300),
                         FLOQ_OK);
        ck_assert_int_ne(wout_put(&o, "a", NULL, "DEPLOYED", NULL, NULL, 1),
                         FLOQ_OK);
        ck_assert_ptr_nonnull(e = wout_find(&o, "a", "c2"));
        ck_assert_str_eq(e->status, "STOPPED");
        ck_assert_str_eq(e->reason, "why");
        ck_assert_int_eq(json_array_size(e->cancelled), 2);
        ck_assert_ptr_null(wout_find(&o, "b", "c2")); /* other deployment */
        ck_assert_ptr_null(wout_find(&o, "a", "c3"));
        ck_assert_int_eq(wout_count(&o, "a"), 2);
        ck_assert_int_eq(wout_live(&o, "a", 1150, life), 1); /* c1 expired */
        /* replaced: one entry, the newer outcome */
        ck_assert_int_eq(wout_put(&o, "a", "c1", "DEPLOYED", "again", NULL,
                                  400),
                         FLOQ_OK);
        ck_assert_int_eq(wout_count(&o, "a"), 2);
        ck_assert_str_eq(wout_find(&o, "a", "c1")->reason, "again");
        ck_assert_str_eq(wout_first(&o, "a")->command_id, "c2");
        wout_del(&o, "a", "c2");
        wout_del(&o, "a", "nope");
        ck_assert_ptr_null(wout_find(&o, "a", "c2"));
        ck_assert_int_eq(wout_total(&o), 2);
        /* history 1: the newest of each deployment stays after expiry */
        ck_assert_int_eq(wout_expire(&o, 10000, life, 1, 100, gone), 0);
        ck_assert_int_eq(wout_total(&o), 2);
        wout_clear(&o);

        /* at speed: 300,000 outcomes, 10 per simulated ms, an expiry
         * pass every 1,000 as the worker's tick would run them */
        wout_init(&o);
        for (i = 0; i < 300000; i++) {
                int64_t at = i / 10;

                snprintf(dep, sizeof(dep), "d%d", i % 12);
                snprintf(id, sizeof(id), "id-%d", i);
                ck_assert_int_eq(wout_put(&o, dep, id, "DEPLOYED", NULL, NULL,
                                          at),
                                 FLOQ_OK);
                json_array_clear(gone);
                n = wout_trim(&o, dep, at, life, 32, gone);
                ck_assert_int_eq(json_array_size(gone), n);
                total_gone += n;
                if (i % 1000 == 999) {
                        json_array_clear(gone);
                        n = wout_expire(&o, at, life, 32, 512, gone);
                        ck_assert_int_eq(json_array_size(gone), n);
                        total_gone += n;
                }
                /* never more than the lifetime's worth (+ WRECENT_MAX cut) */
                ck_assert_uint_le(wout_count(&o, dep), WRECENT_MAX);
        }
        ck_assert_int_eq(total_gone + wout_total(&o), 300000);
        ck_assert_uint_le(wout_total(&o), 12 * WRECENT_MAX);
        /* the first one went, with its key */
        ck_assert_ptr_null(wout_find(&o, "d0", "id-0"));
        ck_assert_ptr_nonnull(wout_find(&o, "d11", "id-299999"));
        /* a day later everything but the newest 32 of each goes */
        total_gone = 0;
        do {
                json_array_clear(gone);
                n = wout_expire(&o, 86400000, life, 32, 512, gone);
                total_gone += n;
        } while (n);
        ck_assert_int_eq(wout_total(&o), 12 * 32);
        ck_assert_ptr_nonnull(wout_find(&o, "d3", "id-299991"));
        wout_clear(&o);

        /* a tombstone key names deployment and command id */
        wout_init(&o);
        wout_put(&o, "x", "c1", "DEPLOYED", NULL, NULL, 0);
        wout_put(&o, "x", "c2", "DEPLOYED", NULL, NULL, 0);
        json_array_clear(gone);
        ck_assert_int_eq(wout_expire(&o, 5000, life, 1, 10, gone), 1);
        ck_assert_str_eq(json_string_value(json_array_get(gone, 0)),
                         "x\nc1");
        wout_clear(&o);
        json_decref(gone);
        json_decref(cancelled);
}
END_TEST

/* The replay memory against a model under random operations (puts that
 * replace, deletes, trims, expiry passes): every outcome is found exactly
 * when the model holds it, each deployment's list holds its own and is as
 * long as its count, and what trim and expire let go is named by its key
 * (run under ASan/valgrind, this is the structure's fuzz). */
START_TEST(test_outcome_memory_model) {
        enum { DEPS = 5, IDS = 40, OPS = 8000 };
        static char held[DEPS][IDS];
        json_t *gone = json_array();
        unsigned seed = 12345;
        int64_t now = 0;
        wout_t o;
        int op, d, i;

        memset(held, 0, sizeof(held));
        wout_init(&o);
        for (op = 0; op < OPS; op++) {
                char dep[16], id[16];
                size_t k, total = 0;
                int r;

                seed = seed * 1103515245u + 12345u;
                r = (int)((seed >> 8) % 100);
                d = (int)((seed >> 16) % DEPS);
                i = (int)((seed >> 4) % IDS);
                snprintf(dep, sizeof(dep), "d%d", d);
                snprintf(id, sizeof(id), "c%d", i);
                now += (seed >> 24) % 7;
                json_array_clear(gone);
                if (r < 55) {
                        if (wout_put(&o, dep, id, "DEPLOYED",
                                     r & 1 ? "x" : NULL, NULL, now - (r % 3)))
                                ck_abort_msg("op %d: put failed", op);
                        held[d][i] = 1;
                } else if (r < 70) {
                        wout_del(&o, dep, id);
                        held[d][i] = 0;
                } else if (r < 85) {
                        wout_trim(&o, dep, now, 50, 1 + (size_t)(r % 4), gone);
                } else {
                        wout_expire(&o, now, 50, 1 + (size_t)(r % 4),
                                    1 + (size_t)(r % 5), gone);
                }
                for (k = 0; k < json_array_size(gone); k++) {
                        const char *key = json_string_value(
                                json_array_get(gone, k));
                        int kd, ki;

                        if (sscanf(key, "d%d\nc%d", &kd, &ki) != 2 ||
                            !held[kd][ki])
                                ck_abort_msg("op %d: let go: %s", op, key);
                        held[kd][ki] = 0;
                }
                for (d = 0; d < DEPS; d++) {
                        const wout_entry_t *e;
                        size_t n = 0, walked = 0;

                        snprintf(dep, sizeof(dep), "d%d", d);
                        for (i = 0; i < IDS; i++) {
                                snprintf(id, sizeof(id), "c%d", i);
                                if ((wout_find(&o, dep, id) != NULL) !=
                                    held[d][i])
                                        ck_abort_msg("op %d: %s/%s found %d, "
                                                     "held %d", op, dep, id,
                                                     !held[d][i], held[d][i]);
                                n += (size_t)held[d][i];
                        }
                        if (wout_count(&o, dep) != n)
                                ck_abort_msg("op %d: %s counts %zu, holds %zu",
                                             op, dep, wout_count(&o, dep), n);
                        for (e = wout_first(&o, dep); e; e = e->dnext) {
                                walked++;
                                if (!wout_find(&o, dep, e->command_id))
                                        ck_abort_msg("op %d: %s lists %s", op,
                                                     dep, e->command_id);
                        }
                        if (walked != n)
                                ck_abort_msg("op %d: %s lists %zu of %zu", op,
                                             dep, walked, n);
                        total += n;
                }
                if (wout_total(&o) != total)
                        ck_abort_msg("op %d: total %zu, held %zu", op,
                                     wout_total(&o), total);
        }
        wout_clear(&o);
        json_decref(gone);
}
END_TEST

static Suite *worker_state_suite(void) {
        Suite *s = suite_create("worker_state");
        TCase *tc = tcase_create("worker_state");

        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_retry_defaults);
        tcase_add_test(tc, test_retry_policy);
        tcase_add_test(tc, test_retry_bad_values);
        tcase_add_test(tc, test_url_template);
        tcase_add_test(tc, test_home_partition);
        tcase_add_test(tc, test_terminal);
        tcase_add_test(tc, test_state_index);
        tcase_add_test(tc, test_deployment_kept_encoded);
        tcase_add_test(tc, test_run_record_as_decoded);
        tcase_add_test(tc, test_schedule_index);
        tcase_add_test(tc, test_command_kind);
        tcase_add_test(tc, test_command_check);
        tcase_add_test(tc, test_json_getters);
        tcase_add_test(tc, test_outcome_memory);
        tcase_add_test(tc, test_outcome_memory_model);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(worker_state_suite());
}
