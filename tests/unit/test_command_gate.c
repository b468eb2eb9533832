/*
 * test_command_gate.c - the pure rules of the worker's command gate
 * (worker/state.c, worker/commands.c; docs/security.md): command ids must
 * be canonical UUIDs (the schema's logicalType), a reply_to is honoured
 * only for the default reply topic or an allowed one and never for floq's
 * own or Kafka's internal topics, a signed command must expire within
 * security.command.max.lifetime.ms, and the deploy/stop/schedule history
 * forgets an id only once it is both beyond worker.command.history and
 * older than that lifetime (so a replay after more newer commands than the
 * history holds is still recognised). libfloq refuses to send a command
 * whose command_id is not a canonical UUID instead of replacing it, and
 * floq's producer and admin handles never ask brokers to auto-create.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "floq.h"
#include "test_util.h"
#include "worker_int.h"

#define CID "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f60"

static char why[512];

START_TEST(uuid_canonical) {
        static const char *const good[] = {
                CID, "00000000-0000-0000-0000-000000000000",
                "ffffffff-ffff-4fff-bfff-ffffffffffff",
        };
        static const char *const bad[] = {
                "", "c", "0C5E1F1E-8D9A-4A55-9A51-1B2C3D4E5F60",
                "0c5e1f1e8d9a4a559a511b2c3d4e5f60",
                "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f6",
                "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f600",
                "{0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f60}",
                "0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5g60",
                "0c5e1f1e_8d9a-4a55-9a51-1b2c3d4e5f60",
                " 0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f6",
                "my-retry-safe-command-id-that-is-longer-than-36",
        };
        char fresh[37];
        size_t i;

        for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
                ck_assert_msg(floq_uuid_valid(good[i]), "%s", good[i]);
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(!floq_uuid_valid(bad[i]), "%s", bad[i]);
        ck_assert(!floq_uuid_valid(NULL));
        floq_uuid_new(fresh);
        ck_assert(floq_uuid_valid(fresh));
}
END_TEST

/* The worker's envelope check refuses what the schema does not allow. */
START_TEST(command_id_must_be_uuid) {
        json_t *cmd = json_pack("{s:s,s:s}", "command_id", "not-a-uuid",
                                "deployment", "d");

        ck_assert_int_eq(wcmd_check(cmd, 0, 0, why, sizeof(why)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(why, "canonical UUID"));
        json_object_set_new(cmd, "command_id",
                            json_string("0C5E1F1E-8D9A-4A55-9A51-1B2C3D4E5F60"));
        ck_assert_int_eq(wcmd_check(cmd, 0, 0, why, sizeof(why)),
                         FLOQ_ERR_INVALID_ARG);
        json_object_set_new(cmd, "command_id", json_string(CID));
        ck_assert_int_eq(wcmd_check(cmd, 0, 0, why, sizeof(why)), FLOQ_OK);
        json_decref(cmd);
}
END_TEST

START_TEST(reply_topics) {
        static const char *const never[] = { "floq.commands",
                                             "floq.deployments",
                                             "floq.schedules", "floq.runs",
                                             "floq.dlq", "floq.lineage" };
        static const char allowed[] = " team-a.replies.* , ci.replies";
        const size_t n = sizeof(never) / sizeof(never[0]);
        size_t i;

#define CHECK(topic, list) \
        wreply_topic_check(topic, "floq.replies", never, n, list, why, \
                           sizeof(why))
        /* the default reply topic, always */
        ck_assert_int_eq(CHECK("floq.replies", NULL), FLOQ_OK);
        ck_assert_int_eq(CHECK("floq.replies", ""), FLOQ_OK);
        /* nothing else unless allowed */
        ck_assert_int_eq(CHECK("other", NULL), FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_nonnull(strstr(why, "worker.reply.topics.allowed"));
        ck_assert_int_eq(CHECK("team-a.replies.x", allowed), FLOQ_OK);
        ck_assert_int_eq(CHECK("ci.replies", allowed), FLOQ_OK);
        ck_assert_int_eq(CHECK("ci.replies2", allowed), FLOQ_ERR_UNAUTHORIZED);
        ck_assert_int_eq(CHECK("team-b.replies.x", allowed),
                         FLOQ_ERR_UNAUTHORIZED);
        /* floq's own topics and internal ones: never, even when a glob
         * would let them through */
        for (i = 0; i < n; i++) {
                ck_assert_int_eq(CHECK(never[i], "*"), FLOQ_ERR_UNAUTHORIZED);
                ck_assert_ptr_nonnull(strstr(why, "own topics"));
        }
        ck_assert_int_eq(CHECK("__consumer_offsets", "*"),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_int_eq(CHECK("__transaction_state", "*"),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_int_eq(CHECK("_schemas", "*"), FLOQ_ERR_UNAUTHORIZED);
        /* not topic names at all */
        ck_assert_int_eq(CHECK("", "*"), FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(CHECK("a b", "*"), FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(CHECK("a\nb", "*"), FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(CHECK("..", "*"), FLOQ_ERR_INVALID_ARG);
#undef CHECK
}
END_TEST

START_TEST(signed_lifetime) {
        json_t *cmd = json_pack("{s:s,s:s}", "command_id", CID, "deployment",
                                "d");

        /* no expires_at: refused once a lifetime applies */
        ck_assert_int_eq(wcmd_check_lifetime(cmd, 1000, 3600000, why,
                                             sizeof(why)),
                         FLOQ_ERR_REJECTED);
        ck_assert_ptr_nonnull(strstr(why, "needs expires_at"));
        json_object_set_new(cmd, "expires_at", json_integer(1000 + 3600000));
        ck_assert_int_eq(wcmd_check_lifetime(cmd, 1000, 3600000, why,
                                             sizeof(why)),
                         FLOQ_OK);
        json_object_set_new(cmd, "expires_at",
                            json_integer(1000 + 3600000 + 1));
        ck_assert_int_eq(wcmd_check_lifetime(cmd, 1000, 3600000, why,
                                             sizeof(why)),
                         FLOQ_ERR_REJECTED);
        ck_assert_ptr_nonnull(strstr(why, "security.command.max.lifetime.ms"));
        json_decref(cmd);
}
END_TEST

/* The history keeps every outcome younger than the lifetime, however many
 * newer commands came; the count bound applies to older ones only. */
START_TEST(history_by_time) {
        floq_worker_t w;
        json_t *dep = json_object(), *arr, *cmd;
        char id[37];
        int i;

        memset(&w, 0, sizeof(w));
        w.conf = floq_conf_new();
        ck_assert_int_eq(floq_conf_set(w.conf, "security.command.max."
                                       "lifetime.ms", "3600000", why,
                                       sizeof(why)),
                         FLOQ_OK);
        w.command_history = 4;
        cmd = json_pack("{s:s}", "command_id", CID);
        worker_recent_add(&w, dep, cmd, "STOPPED", NULL, NULL);
        for (i = 0; i < 10; i++) {
                json_t *c;

                floq_uuid_new(id);
                c = json_pack("{s:s}", "command_id", id);
                worker_recent_add(&w, dep, c, "DEPLOYED", NULL, NULL);
                json_decref(c);
        }
        /* 10 newer commands than the first, history 4: still known */
        ck_assert_ptr_nonnull(worker_recent_find(dep, CID));
        arr = json_object_get(dep, "recent_commands");
        ck_assert_int_eq(json_array_size(arr), 11);
        /* once older than the lifetime they go, down to the history */
        for (i = 0; i < 8; i++)
                json_object_set_new(json_array_get(arr, (size_t)i), "at",
                                    json_integer(floq_now_ms() - 3600001));
        floq_uuid_new(id);
        json_object_set_new(cmd, "command_id", json_string(id));
        worker_recent_add(&w, dep, cmd, "DEPLOYED", NULL, NULL);
        ck_assert_ptr_null(worker_recent_find(dep, CID));
        ck_assert_int_eq(json_array_size(arr), 4);
        json_decref(cmd);
        json_decref(dep);
        floq_conf_destroy(w.conf);
}
END_TEST

/* libfloq keeps or refuses a caller's id, never replaces it: a long or
 * malformed one is an error before anything is sent (no broker here: the
 * check comes before the connection). */
START_TEST(client_refuses_bad_command_id) {
        static const char *const bad[] = {
                "my-retry-safe-command-id-that-is-longer-than-36",
                "c", "0C5E1F1E-8D9A-4A55-9A51-1B2C3D4E5F60",
        };
        floq_conf_t *conf = floq_conf_new();
        floq_client_t *client;
        char id[37] = "";
        size_t i;

        ck_assert_int_eq(floq_conf_set(conf, "brokers", "127.0.0.1:1", why,
                                       sizeof(why)),
                         FLOQ_OK);
        client = floq_client_new(conf, why, sizeof(why));
        ck_assert_ptr_nonnull(client);
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *cmd = json_pack("{s:s,s:s,s:{s:{}}}", "command_id",
                                        bad[i], "deployment", "d", "body",
                                        "StatusBody");

                ck_assert_int_eq(floq_client_send(client, cmd, NULL, id, why,
                                                  sizeof(why)),
                                 FLOQ_ERR_INVALID_ARG);
                ck_assert_ptr_nonnull(strstr(why, "canonical UUID"));
                /* the caller's id is left as it was */
                ck_assert_str_eq(json_string_value(json_object_get(
                                         cmd, "command_id")),
                                 bad[i]);
                json_decref(cmd);
        }
        floq_client_destroy(client);
}
END_TEST

/* No floq producer or admin handle asks a broker to auto-create a topic it
 * looks up or produces to (librdkafka's producer default is to ask). A
 * guard only: rd_kafka_conf_get() shows "false" for an unset property too
 * (librdkafka turns it true for producers in rd_kafka_new()); 0220 is the
 * test that fails without it, against a broker that auto-creates. */
START_TEST(no_auto_create) {
        static const char *const roles[] = { "producer", "admin" };
        floq_conf_t *conf = floq_conf_new();
        char val[16];
        size_t i, n;

        for (i = 0; i < 2; i++) {
                rd_kafka_conf_t *kc = floq_kafka_conf_new(conf, roles[i], why,
                                                          sizeof(why));

                ck_assert_ptr_nonnull(kc);
                n = sizeof(val);
                ck_assert_int_eq(rd_kafka_conf_get(kc,
                                                   "allow.auto.create.topics",
                                                   val, &n),
                                 RD_KAFKA_CONF_OK);
                ck_assert_str_eq(val, "false");
                rd_kafka_conf_destroy(kc);
        }
        /* the operator may still say otherwise (-X wins) */
        ck_assert_int_eq(floq_conf_set_kafka(conf, "allow.auto.create.topics",
                                             "true", why, sizeof(why)),
                         FLOQ_OK);
        {
                rd_kafka_conf_t *kc = floq_kafka_conf_new(conf, "producer",
                                                          why, sizeof(why));

                n = sizeof(val);
                rd_kafka_conf_get(kc, "allow.auto.create.topics", val, &n);
                ck_assert_str_eq(val, "true");
                rd_kafka_conf_destroy(kc);
        }
        floq_conf_destroy(conf);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("command_gate");
        TCase *tc = tcase_create("command_gate");

        tcase_add_test(tc, uuid_canonical);
        tcase_add_test(tc, command_id_must_be_uuid);
        tcase_add_test(tc, reply_topics);
        tcase_add_test(tc, signed_lifetime);
        tcase_add_test(tc, history_by_time);
        tcase_add_test(tc, client_refuses_bad_command_id);
        tcase_add_test(tc, no_auto_create);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
