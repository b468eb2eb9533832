/*
 * test_config.c - the configuration table and its sources: defaults, each
 * type's parser (good and bad values), the properties file (comments,
 * blank lines, errors with file:line), FLOQ_* environment, precedence
 * file < env < set, "did you mean" suggestions, librdkafka passthrough as
 * seen in the built rd_kafka_conf_t, and secrets kept out of dumps.
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floq_common.h"
#include "test_util.h"

static floq_conf_t *conf;
static char errstr[512];
static char tmppath[64];

static void setup(void) {
        conf = floq_conf_new();
        ck_assert_ptr_nonnull(conf);
        errstr[0] = '\0';
        tmppath[0] = '\0';
}

static void teardown(void) {
        floq_conf_destroy(conf);
        conf = NULL;
        if (tmppath[0])
                unlink(tmppath);
}

/* Write @p text to a fresh temp file; its path is in tmppath. */
static const char *write_tmp(const char *text) {
        int fd;

        snprintf(tmppath, sizeof(tmppath), "/tmp/floq-conf-XXXXXX");
        fd = mkstemp(tmppath);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        return tmppath;
}

static char *capture_dump(const floq_conf_t *c) {
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);

        ck_assert_ptr_nonnull(fp);
        floq_conf_dump(c, fp);
        fclose(fp);
        return buf;
}

static void set_ok(const char *name, const char *value) {
        floq_err_t err = floq_conf_set(conf, name, value, errstr,
                                       sizeof(errstr));

        ck_assert_msg(err == FLOQ_OK, "set %s=%s: %s", name, value, errstr);
}

static void set_bad(const char *name, const char *value, const char *want) {
        floq_err_t err = floq_conf_set(conf, name, value, errstr,
                                       sizeof(errstr));

        ck_assert_msg(err == FLOQ_ERR_CONFIG, "set %s=%s: accepted", name,
                      value);
        ck_assert_msg(strstr(errstr, want), "errstr '%s' lacks '%s'", errstr,
                      want);
}

START_TEST(test_defaults) {
        ck_assert_str_eq(floq_conf_str(conf, "brokers"), "localhost:9092");
        ck_assert_str_eq(floq_conf_str(conf, "topic.commands"),
                         "floq.commands");
        ck_assert_str_eq(floq_conf_str(conf, "topic.dlq"), "floq.dlq");
        ck_assert_int_eq(floq_conf_int(conf, "topic.partitions"), 6);
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 8);
        ck_assert_int_eq(floq_conf_int(conf, "worker.commit.interval.ms"),
                         100);
        ck_assert_int_eq(floq_conf_int(conf, "worker.drain.grace.ms"), 30000);
        ck_assert_int_eq(floq_conf_int(conf, "message.max.bytes"), 1048576);
        ck_assert_int_eq(floq_conf_int(conf, "process.output.max.bytes"),
                         65536);
        ck_assert_int_eq(floq_conf_int(conf, "process.rlimit.nofile"), 1024);
        ck_assert_int_eq(floq_conf_bool(conf, "topic.create"), 1);
        ck_assert_int_eq(floq_conf_bool(conf, "security.require.signature"),
                         0);
        ck_assert_ptr_null(floq_conf_str(conf, "worker.id"));
        ck_assert_ptr_null(floq_conf_get(conf, "schema.registry.url"));
        ck_assert_str_eq(floq_conf_get(conf, "process.allowed.dirs"), "");
        ck_assert_ptr_null(floq_conf_get(conf, "no.such.thing"));
}
END_TEST

/* Every row is well formed and its default passes its own validation. */
START_TEST(test_table_rows) {
        const floq_conf_prop_t *p, *q;
        int n = 0;

        for (p = floq_conf_props(); p->name; p++, n++) {
                ck_assert_msg(p->help && *p->help, "%s: no help", p->name);
                for (q = floq_conf_props(); q < p; q++)
                        ck_assert_str_ne(p->name, q->name);
                ck_assert_str_eq(floq_conf_get(conf, p->name)
                                         ? floq_conf_get(conf, p->name)
                                         : "(null)",
                                 p->defval ? p->defval : "(null)");
                if (p->defval)
                        set_ok(p->name, p->defval);
        }
        ck_assert_int_ge(n, 40);
}
END_TEST

START_TEST(test_int) {
        set_ok("worker.concurrency", "16");
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 16);
        ck_assert_str_eq(floq_conf_get(conf, "worker.concurrency"), "16");
        set_bad("worker.concurrency", "abc",
                "invalid value 'abc' for 'worker.concurrency': expected a "
                "non-negative integer");
        set_bad("worker.concurrency", "", "expected a non-negative integer");
        set_bad("worker.concurrency", "-3", "non-negative");
        set_bad("worker.concurrency", "4x", "invalid value '4x'");
        set_bad("worker.concurrency", " 4", "invalid value");
        set_bad("worker.concurrency", "99999999999999999999999",
                "invalid value");
        set_bad("worker.concurrency", "0", "must be between 1 and");
        set_bad("topic.partitions", "0", "must be between 1 and");
        /* a rejected value leaves the old one */
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 16);
        set_ok("process.rlimit.cpu.s", "0");
        set_ok("http.retries", "0");
        set_bad("http.retries", "101", "between 0 and 100");
}
END_TEST

START_TEST(test_ms) {
        static const struct {
                const char *in;
                int64_t ms;
        } good[] = {
                { "250", 250 },     { "250ms", 250 },   { "5s", 5000 },
                { "2m", 120000 },   { "1h", 3600000 },  { "0", 0 },
                { "0s", 0 },        { "90000", 90000 },
        };
        static const char *bad[] = { "abc", "5x", "-1", "", "1.5s", "s",
                                     "5 s", "5S", "5sec",
                                     "9999999999999999999h" };
        size_t i;

        for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                set_ok("process.kill.grace.ms", good[i].in);
                ck_assert_int_eq(floq_conf_int(conf, "process.kill.grace.ms"),
                                 good[i].ms);
        }
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                set_bad("process.kill.grace.ms", bad[i],
                        "expected a duration");
}
END_TEST

START_TEST(test_size) {
        static const struct {
                const char *in;
                int64_t bytes;
        } good[] = {
                { "65536", 65536 },
                { "64k", 65536 },
                { "64K", 65536 },
                { "64kb", 65536 },
                { "64KiB", 65536 },
                { "1M", 1048576 },
                { "1m", 1048576 },
                { "1G", INT64_C(1073741824) },
                { "0", 0 },
        };
        static const char *bad[] = { "1T", "k", "-5", "", "1.5M", "1MM",
                                     "12 k", "9999999999999999G" };
        size_t i;

        for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                set_ok("process.rlimit.as", good[i].in);
                ck_assert_int_eq(floq_conf_int(conf, "process.rlimit.as"),
                                 good[i].bytes);
        }
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                set_bad("process.rlimit.as", bad[i], "expected a size");
}
END_TEST

START_TEST(test_bool) {
        static const char *yes[] = { "true", "1", "yes", "on", "TRUE", "On" };
        static const char *no[] = { "false", "0", "no", "off", "False" };
        size_t i;

        for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
                set_ok("lineage.enabled", "false");
                set_ok("lineage.enabled", yes[i]);
                ck_assert_int_eq(floq_conf_bool(conf, "lineage.enabled"), 1);
        }
        for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
                set_ok("lineage.enabled", "true");
                set_ok("lineage.enabled", no[i]);
                ck_assert_int_eq(floq_conf_bool(conf, "lineage.enabled"), 0);
        }
        set_bad("lineage.enabled", "maybe", "invalid value 'maybe' for "
                                            "'lineage.enabled'");
        set_bad("lineage.enabled", "", "expected true/false");
}
END_TEST

START_TEST(test_str_and_choices) {
        set_ok("worker.id", "w-1");
        ck_assert_str_eq(floq_conf_str(conf, "worker.id"), "w-1");
        set_ok("worker.id", NULL); /* back to the default: unset */
        ck_assert_ptr_null(floq_conf_str(conf, "worker.id"));
        set_ok("worker.concurrency", "3");
        set_ok("worker.concurrency", NULL);
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 8);
        set_ok("log.format", "json");
        set_ok("log.format", "TEXT");
        set_bad("log.format", "xml", "expected one of text|json");
        set_ok("log.level", "debug");
        set_ok("log.level", "7");
        set_bad("log.level", "loud", "invalid value 'loud' for 'log.level'");
}
END_TEST

START_TEST(test_unknown_suggests) {
        ck_assert_int_eq(floq_conf_set(conf, "worker.concurency", "3", errstr,
                                       sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_str_eq(errstr, "unknown property 'worker.concurency' (did "
                                 "you mean 'worker.concurrency'?)");
        floq_conf_set(conf, "topic.partition", "3", errstr, sizeof(errstr));
        ck_assert_ptr_nonnull(strstr(errstr, "did you mean 'topic.partitions'"));
        floq_conf_set(conf, "brokrs", "x", errstr, sizeof(errstr));
        ck_assert_ptr_nonnull(strstr(errstr, "did you mean 'brokers'"));
        ck_assert_int_eq(floq_conf_set(conf, "completely.unrelated.zzz", "1",
                                       errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_str_eq(errstr,
                         "unknown property 'completely.unrelated.zzz'");
        ck_assert_int_eq(floq_conf_set(conf, "", "1", errstr,
                                       sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_passthrough) {
        rd_kafka_conf_t *kc;
        char val[256];
        size_t vlen = sizeof(val);

        set_ok("kafka.linger.ms", "7");
        set_ok("security.protocol", "plaintext"); /* no prefix: librdkafka's */
        ck_assert_int_eq(floq_conf_set_pair(conf, "queue.buffering.max.messages=1234",
                                            1, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set_kafka(conf, "socket.keepalive.enable",
                                             "true", errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(floq_conf_get(conf, "kafka.linger.ms"), "7");
        ck_assert_str_eq(floq_conf_get(conf, "security.protocol"),
                         "plaintext");
        /* later settings replace earlier ones */
        set_ok("kafka.linger.ms", "9");

        kc = floq_kafka_conf_new(conf, "producer", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        ck_assert_int_eq(rd_kafka_conf_get(kc, "linger.ms", val, &vlen),
                         RD_KAFKA_CONF_OK);
        ck_assert_str_eq(val, "9");
        vlen = sizeof(val);
        ck_assert_int_eq(rd_kafka_conf_get(kc, "queue.buffering.max.messages",
                                           val, &vlen),
                         RD_KAFKA_CONF_OK);
        ck_assert_str_eq(val, "1234");
        vlen = sizeof(val);
        rd_kafka_conf_get(kc, "security.protocol", val, &vlen);
        ck_assert_str_eq(val, "plaintext");
        vlen = sizeof(val);
        rd_kafka_conf_get(kc, "bootstrap.servers", val, &vlen);
        ck_assert_str_eq(val, "localhost:9092");
        rd_kafka_conf_destroy(kc);
}
END_TEST

START_TEST(test_passthrough_errors) {
        /* known to librdkafka, bad value: the key is named */
        ck_assert_int_eq(floq_conf_set(conf, "kafka.linger.ms", "soon",
                                       errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "'linger.ms'"));
        ck_assert_int_eq(floq_conf_set(conf, "security.protocol", "carrier",
                                       errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "'security.protocol'"));
        ck_assert_int_eq(floq_conf_set_pair(conf, "no.such.rdkafka.prop=1", 1,
                                            errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "'no.such.rdkafka.prop'"));
        ck_assert_int_eq(floq_conf_set_pair(conf, "novalue", 1, errstr,
                                            sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "expected key=value"));
        ck_assert_int_eq(floq_conf_set_pair(conf, "=x", 0, errstr,
                                            sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        /* value may contain '=' */
        ck_assert_int_eq(floq_conf_set_pair(conf,
                                            "worker.run.url.template=http://h/?a=b",
                                            0, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(floq_conf_str(conf, "worker.run.url.template"),
                         "http://h/?a=b");
}
END_TEST

START_TEST(test_bootstrap_servers_is_brokers) {
        ck_assert_int_eq(floq_conf_set_pair(conf, "bootstrap.servers=a:1,b:2",
                                            1, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(floq_conf_str(conf, "brokers"), "a:1,b:2");
        set_ok("bootstrap.servers", "c:3");
        ck_assert_str_eq(floq_conf_str(conf, "brokers"), "c:3");
        ck_assert_str_eq(floq_conf_get(conf, "bootstrap.servers"), "c:3");
        set_ok("kafka.metadata.broker.list", "d:4");
        ck_assert_str_eq(floq_conf_str(conf, "brokers"), "d:4");
}
END_TEST

START_TEST(test_file) {
        const char *path = write_tmp(
                "\xef\xbb\xbf# floq worker, saved with a BOM\n"
                "\n"
                "   ! also a comment\n"
                "brokers = k1:9092,k2:9092\n"
                "worker.concurrency=4\r\n"
                "  process.output.max.bytes =  128k  \n"
                "security.protocol=plaintext\n"
                "log.format=json\n");

        ck_assert_int_eq(floq_conf_load_file(conf, path, errstr,
                                             sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(floq_conf_str(conf, "brokers"), "k1:9092,k2:9092");
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 4);
        ck_assert_int_eq(floq_conf_int(conf, "process.output.max.bytes"),
                         131072);
        ck_assert_str_eq(floq_conf_get(conf, "security.protocol"),
                         "plaintext");
        ck_assert_str_eq(floq_conf_str(conf, "log.format"), "json");
}
END_TEST

START_TEST(test_file_errors) {
        char want[256];
        const char *path = write_tmp("# ok\n"
                                     "brokers=x:1\n"
                                     "worker.concurency=3\n");

        ck_assert_int_eq(floq_conf_load_file(conf, path, errstr,
                                             sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        snprintf(want, sizeof(want),
                 "%s:3: unknown property 'worker.concurency' (did you mean "
                 "'worker.concurrency'?)",
                 path);
        ck_assert_str_eq(errstr, want);
        unlink(path);

        path = write_tmp("\n\njust some words\n");
        floq_conf_load_file(conf, path, errstr, sizeof(errstr));
        snprintf(want, sizeof(want), "%s:3: expected key=value", path);
        ck_assert_str_eq(errstr, want);
        unlink(path);

        path = write_tmp("worker.concurrency=lots\n");
        floq_conf_load_file(conf, path, errstr, sizeof(errstr));
        snprintf(want, sizeof(want),
                 "%s:1: invalid value 'lots' for 'worker.concurrency'", path);
        ck_assert_msg(!strncmp(errstr, want, strlen(want)), "got %s", errstr);

        unlink(path);

        /* a NUL byte is an error, not a silently shortened line */
        path = write_tmp("worker.id=a");
        {
                FILE *fp = fopen(path, "a");

                fwrite("\0b\nx=1\n", 1, 6, fp);
                fclose(fp);
        }
        floq_conf_load_file(conf, path, errstr, sizeof(errstr));
        snprintf(want, sizeof(want), "%s:1: NUL byte in line", path);
        ck_assert_str_eq(errstr, want);

        ck_assert_int_eq(floq_conf_load_file(conf, "/nonexistent/floq.conf",
                                             errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "cannot open '/nonexistent/floq.conf'"));
}
END_TEST

START_TEST(test_env) {
        char *envp[] = { "PATH=/bin",
                         "FLOQ_BROKERS=env:9092",
                         "FLOQ_WORKER_CONCURRENCY=12",
                         "FLOQ_LOG_LEVEL=debug",
                         "FLOQ_TOPIC_CREATE=off",
                         "FLOQ_WORKER=ignored",
                         "FLOQ_UNKNOWN_THING=ignored",
                         NULL };

        ck_assert_int_eq(floq_conf_load_env(conf, envp, errstr,
                                            sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(floq_conf_str(conf, "brokers"), "env:9092");
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 12);
        ck_assert_str_eq(floq_conf_str(conf, "log.level"), "debug");
        ck_assert_int_eq(floq_conf_bool(conf, "topic.create"), 0);
}
END_TEST

START_TEST(test_env_error) {
        char *envp[] = { "FLOQ_WORKER_CONCURRENCY=many", NULL };

        ck_assert_int_eq(floq_conf_load_env(conf, envp, errstr,
                                            sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_str_eq(errstr, "FLOQ_WORKER_CONCURRENCY: invalid value "
                                 "'many' for 'worker.concurrency': expected "
                                 "a non-negative integer");
}
END_TEST

START_TEST(test_env_from_environ) {
        setenv("FLOQ_HTTP_RETRIES", "5", 1);
        ck_assert_int_eq(floq_conf_load_env(conf, NULL, errstr,
                                            sizeof(errstr)),
                         FLOQ_OK);
        unsetenv("FLOQ_HTTP_RETRIES");
        ck_assert_int_eq(floq_conf_int(conf, "http.retries"), 5);
}
END_TEST

/* file < env < set, applied in that order as main() does. */
START_TEST(test_precedence) {
        char *envp[] = { "FLOQ_WORKER_CONCURRENCY=3", NULL };
        const char *path = write_tmp("worker.concurrency=2\n"
                                     "worker.batch.size=50\n");

        ck_assert_int_eq(floq_conf_load_file(conf, path, errstr,
                                             sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 2);
        ck_assert_int_eq(floq_conf_load_env(conf, envp, errstr,
                                            sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 3);
        ck_assert_int_eq(floq_conf_int(conf, "worker.batch.size"), 50);
        set_ok("worker.concurrency", "4");
        ck_assert_int_eq(floq_conf_int(conf, "worker.concurrency"), 4);
        ck_assert_int_eq(floq_conf_int(conf, "worker.batch.size"), 50);
}
END_TEST

START_TEST(test_secrets_hidden) {
        char *dump;

        set_ok("kafka.sasl.password", "hunter2");
        set_ok("ssl.key.password", "kp-secret-value");
        set_ok("kafka.ssl.keystore.password", "oauth-xyz");
        set_ok("schema.registry.basic.auth.user.info", "user:pw-abc");
        set_ok("sasl.username", "alice");
        set_ok("sasl.password.file", "/run/secrets/kafka");
        dump = capture_dump(conf);
        ck_assert_ptr_null(strstr(dump, "hunter2"));
        ck_assert_ptr_null(strstr(dump, "kp-secret-value"));
        ck_assert_ptr_null(strstr(dump, "oauth-xyz"));
        ck_assert_ptr_null(strstr(dump, "pw-abc"));
        ck_assert_ptr_nonnull(strstr(dump, "kafka.sasl.password=(set)\n"));
        ck_assert_ptr_nonnull(
                strstr(dump, "schema.registry.basic.auth.user.info=(set)\n"));
        /* non-secrets are shown */
        ck_assert_ptr_nonnull(strstr(dump, "kafka.sasl.username=alice\n"));
        ck_assert_ptr_nonnull(
                strstr(dump, "sasl.password.file=/run/secrets/kafka\n"));
        ck_assert_ptr_nonnull(strstr(dump, "brokers=localhost:9092\n"));
        ck_assert_ptr_nonnull(strstr(dump, "#worker.id=\n"));
        /* but the getter still hands them to the code that needs them */
        ck_assert_str_eq(floq_conf_get(conf, "sasl.password"), "hunter2");
        free(dump);
}
END_TEST

START_TEST(test_dump_roundtrip) {
        char *dump;
        const char *path;
        floq_conf_t *back = floq_conf_new();

        set_ok("worker.concurrency", "5");
        set_ok("kafka.linger.ms", "3");
        dump = capture_dump(conf);
        path = write_tmp(dump);
        ck_assert_int_eq(floq_conf_load_file(back, path, errstr,
                                             sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_int(back, "worker.concurrency"), 5);
        ck_assert_str_eq(floq_conf_get(back, "linger.ms"), "3");
        floq_conf_destroy(back);
        free(dump);
}
END_TEST

START_TEST(test_dup) {
        floq_conf_t *copy;

        set_ok("worker.id", "orig");
        set_ok("kafka.linger.ms", "3");
        copy = floq_conf_dup(conf);
        ck_assert_ptr_nonnull(copy);
        set_ok("worker.id", "changed");
        set_ok("kafka.linger.ms", "4");
        ck_assert_str_eq(floq_conf_str(copy, "worker.id"), "orig");
        ck_assert_str_eq(floq_conf_get(copy, "linger.ms"), "3");
        ck_assert_int_eq(floq_conf_int(copy, "worker.concurrency"), 8);
        floq_conf_destroy(copy);
}
END_TEST

START_TEST(test_print_help) {
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);
        const floq_conf_prop_t *p;

        floq_conf_print_help(fp);
        fclose(fp);
        for (p = floq_conf_props(); p->name; p++)
                ck_assert_msg(strstr(buf, p->name), "help lacks %s", p->name);
        ck_assert_ptr_nonnull(strstr(buf, "-X"));
        free(buf);
}
END_TEST

START_TEST(test_sasl_password_file) {
        rd_kafka_conf_t *kc;
        char val[128];
        size_t vlen = sizeof(val);
        const char *path = write_tmp("pa55word\n");

        set_ok("sasl.password.file", path);
        kc = floq_kafka_conf_new(conf, "consumer", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        ck_assert_int_eq(rd_kafka_conf_get(kc, "sasl.password", val, &vlen),
                         RD_KAFKA_CONF_OK);
        ck_assert_str_eq(val, "pa55word");
        rd_kafka_conf_destroy(kc);

        set_ok("sasl.password.file", "/nonexistent/pw");
        ck_assert_ptr_null(
                floq_kafka_conf_new(conf, "consumer", errstr, sizeof(errstr)));
        ck_assert_ptr_nonnull(strstr(errstr, "cannot open '/nonexistent/pw'"));
}
END_TEST

START_TEST(test_getter_unknown_aborts) {
        floq_conf_int(conf, "no.such.property");
}
END_TEST

START_TEST(test_getter_wrong_type_aborts) {
        floq_conf_int(conf, "brokers");
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("config");
        const char *fork = getenv("CK_FORK");

        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_table_rows);
        tcase_add_test(tc, test_int);
        tcase_add_test(tc, test_ms);
        tcase_add_test(tc, test_size);
        tcase_add_test(tc, test_bool);
        tcase_add_test(tc, test_str_and_choices);
        tcase_add_test(tc, test_unknown_suggests);
        tcase_add_test(tc, test_passthrough);
        tcase_add_test(tc, test_passthrough_errors);
        tcase_add_test(tc, test_bootstrap_servers_is_brokers);
        tcase_add_test(tc, test_file);
        tcase_add_test(tc, test_file_errors);
        tcase_add_test(tc, test_env);
        tcase_add_test(tc, test_env_error);
        tcase_add_test(tc, test_env_from_environ);
        tcase_add_test(tc, test_precedence);
        tcase_add_test(tc, test_secrets_hidden);
        tcase_add_test(tc, test_dump_roundtrip);
        tcase_add_test(tc, test_dup);
        tcase_add_test(tc, test_print_help);
        tcase_add_test(tc, test_sasl_password_file);
        /* abort() would end a no-fork run (valgrind) */
        if (!fork || strcmp(fork, "no")) {
                tcase_add_test_raise_signal(tc, test_getter_unknown_aborts,
                                            SIGABRT);
                tcase_add_test_raise_signal(tc, test_getter_wrong_type_aborts,
                                            SIGABRT);
        }
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(config_suite());
}
