/*
 * test_cli_args.c - the floq command line (producer/cli.c) without Kafka:
 * every command's arguments, the usage errors (exit code 2) with their
 * messages and suggestions, durations, config precedence and the reply
 * formatting and exit-code mapping scripts rely on.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAXARGS 64

static char errbuf[512];
static floq_cli_args_t A;

/* Parse a NULL-terminated list of words after "floq". */
static int parse(const char *first, ...) {
        static char *argv[MAXARGS];
        va_list ap;
        int argc = 0;
        argv[argc++] = "floq";
        va_start(ap, first);
        for (const char *w = first; w && argc < MAXARGS - 1;
             w = va_arg(ap, const char *))
                argv[argc++] = (char *)w;
        va_end(ap);
        argv[argc] = NULL;
        floq_cli_args_release(&A);
        return floq_cli_parse(argc, argv, &A, errbuf, sizeof(errbuf));
}

static void teardown(void) {
        floq_cli_args_release(&A);
}

START_TEST(test_deploy_process) {
        ck_assert_int_eq(parse("deploy", "hello", "-b", "k:9092", "--",
                               "/opt/jobs/hello.sh", "--who", "{who}", NULL),
                         0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_DEPLOY);
        ck_assert_str_eq(A.name, "hello");
        ck_assert_str_eq(A.backend, "process");
        ck_assert_str_eq(A.brokers, "k:9092");
        ck_assert_int_eq(A.exec_argc, 3);
        char *spec = floq_cli_process_spec(&A);
        ck_assert_str_eq(spec, "{\"executable\":\"/opt/jobs/hello.sh\","
                               "\"args\":[\"--who\",\"{who}\"]}");
        free(spec);
        /* options after -- belong to the executable */
        ck_assert_int_eq(parse("deploy", "x", "--run-timeout", "10m",
                               "--retries", "2", "--backoff", "1.5s", "--",
                               "/bin/true", "--json", "-p", NULL),
                         0);
        ck_assert_int_eq(A.json, 0);
        ck_assert_int_eq(A.run_timeout_ms, 600000);
        ck_assert_int_eq(A.retries, 2);
        ck_assert_int_eq(A.backoff_ms, 1500);
        ck_assert_int_eq(A.exec_argc, 3);
}
END_TEST

START_TEST(test_deploy_spec_and_errors) {
        ck_assert_int_eq(parse("deploy", "r", "--backend", "airflow",
                               "--spec", "r.json", NULL),
                         0);
        ck_assert_str_eq(A.backend, "airflow");
        ck_assert_str_eq(A.spec_file, "r.json");
        ck_assert_int_eq(parse("deploy", "r", "--backend=http", "-sr.json",
                               NULL),
                         0);
        ck_assert_str_eq(A.backend, "http");
        ck_assert_str_eq(A.spec_file, "r.json");

        ck_assert_int_eq(parse("deploy", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "NAME"));
        ck_assert_int_eq(parse("deploy", "x", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "--spec"));
        ck_assert_int_eq(parse("deploy", "x", "--spec", "f", "--", "/bin/x",
                               NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("deploy", "x", "--backend", "http", "--",
                               "/bin/x", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "process"));
        ck_assert_int_eq(parse("deploy", "x", "--", "", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("deploy", "x", "--retries", "many", "--",
                               "/bin/x", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("deploy", "x", "y", "--", "/bin/x", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "unexpected argument 'y'"));
}
END_TEST

START_TEST(test_run) {
        ck_assert_int_eq(parse("run", "hello", "-p", "who=world", "-p",
                               "empty=", "--param=x=a=b", "-k", "idem-1",
                               "--wait", "--timeout", "2m", "--json", NULL),
                         0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_RUN);
        ck_assert_str_eq(A.name, "hello");
        ck_assert_str_eq(json_string_value(json_object_get(A.params, "who")),
                         "world");
        ck_assert_str_eq(json_string_value(json_object_get(A.params,
                                                           "empty")),
                         "");
        ck_assert_str_eq(json_string_value(json_object_get(A.params, "x")),
                         "a=b");
        ck_assert_str_eq(A.idempotency_key, "idem-1");
        ck_assert_int_eq(A.wait, 1);
        ck_assert_int_eq(A.json, 1);
        ck_assert_int_eq(A.timeout_ms, 120000);
        /* global options before the command */
        ck_assert_int_eq(parse("-b", "h:1", "-X", "security.protocol=ssl",
                               "-o", "topic.replies=r", "run", "x", NULL),
                         0);
        ck_assert_int_eq(A.kafka_cnt, 1);
        ck_assert_str_eq(A.kafka_pairs[0], "security.protocol=ssl");
        ck_assert_int_eq(A.floq_cnt, 1);
        ck_assert_int_eq(A.timeout_ms, -1);
        ck_assert_int_eq(A.wait, 0);
}
END_TEST

START_TEST(test_run_errors) {
        ck_assert_int_eq(parse("run", "x", "-p", "novalue", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_str_eq(errbuf,
                         "bad parameter 'novalue': expected KEY=VALUE");
        ck_assert_int_eq(parse("run", "x", "-p", "=v", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("run", "x", "-p", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "needs a value"));
        ck_assert_int_eq(parse("run", NULL), FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("run", "x", "--wiat", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "did you mean --wait"));
        ck_assert_int_eq(parse("run", "x", "--timeout", "soon", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "bad duration 'soon'"));
        ck_assert_int_eq(parse("run", "x", "--cron", "* * * * *", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "does not apply to 'run'"));
        ck_assert_int_eq(parse("run", "x", "--wait=yes", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("run", "x", "--", "/bin/true", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("run", "x", "-X", "novalue", NULL),
                         FLOQ_EXIT_USAGE);
}
END_TEST

START_TEST(test_stop_status_validate_watch) {
        ck_assert_int_eq(parse("stop", "x", "--run", "r-1", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_STOP);
        ck_assert_str_eq(A.run_id, "r-1");
        ck_assert_int_eq(parse("stop", "x", NULL), 0);
        ck_assert_ptr_null(A.run_id);
        ck_assert_int_eq(parse("stop", NULL), FLOQ_EXIT_USAGE);

        ck_assert_int_eq(parse("status", "nightly", NULL), 0);
        ck_assert_str_eq(A.name, "nightly");
        ck_assert_ptr_null(A.run_id);
        const char *uuid = "0b6e2f0c-5d7a-4c51-9a43-2f4b1c8e9d10";
        ck_assert_int_eq(parse("status", uuid, NULL), 0);
        ck_assert_ptr_null(A.name); /* looked up in the runs topic */
        ck_assert_str_eq(A.run_id, uuid);
        ck_assert_int_eq(parse("status", uuid, "-d", "nightly", NULL), 0);
        ck_assert_str_eq(A.name, "nightly");
        ck_assert_str_eq(A.run_id, uuid);
        ck_assert_int_eq(parse("status", "nightly", "--run", uuid, NULL), 0);
        ck_assert_str_eq(A.name, "nightly");
        ck_assert_int_eq(parse("status", NULL), FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("status", "nightly", "-d", "x", NULL),
                         FLOQ_EXIT_USAGE);

        ck_assert_int_eq(parse("validate", "airflow", "--spec", "a.json",
                               NULL),
                         0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_VALIDATE);
        ck_assert_str_eq(A.name, "airflow");
        ck_assert_int_eq(parse("validate", NULL), FLOQ_EXIT_USAGE);

        ck_assert_int_eq(parse("watch", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_WATCH);
        ck_assert_ptr_null(A.name);
        ck_assert_int_eq(parse("watch", "nightly", "--lineage", "--json",
                               NULL),
                         0);
        ck_assert_str_eq(A.name, "nightly");
        ck_assert_int_eq(A.lineage, 1);
        ck_assert_int_eq(parse("watch", "--wait", NULL), FLOQ_EXIT_USAGE);
}
END_TEST

START_TEST(test_schedule) {
        ck_assert_int_eq(parse("schedule", "n", "--cron", "0 2 * * *", "--tz",
                               "Europe/Berlin", "--catchup", "latest",
                               "--catchup-max", "5", "--overlap",
                               "buffer-one", "--jitter", "30s", "--id", "w",
                               "-p", "a=b", NULL),
                         0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_SCHEDULE);
        ck_assert_str_eq(A.cron, "0 2 * * *");
        ck_assert_str_eq(A.tz, "Europe/Berlin");
        ck_assert_str_eq(A.catchup, "LATEST");
        ck_assert_int_eq(A.catchup_max, 5);
        ck_assert_str_eq(A.overlap, "BUFFER_ONE");
        ck_assert_int_eq(A.jitter_ms, 30000);
        ck_assert_str_eq(A.schedule_id, "w");
        ck_assert_str_eq(json_string_value(json_object_get(A.params, "a")),
                         "b");
        ck_assert_int_eq(parse("schedule", "n", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "--cron"));
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@hourly",
                               "--catchup", "sometimes", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@hourly",
                               "--overlap", "never", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@hourly",
                               "--catchup-max", "0", NULL),
                         FLOQ_EXIT_USAGE);

        ck_assert_int_eq(parse("unschedule", "n", "--id", "w", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_UNSCHEDULE);
        ck_assert_str_eq(A.schedule_id, "w");
        ck_assert_int_eq(parse("unschedule", NULL), FLOQ_EXIT_USAGE);
}
END_TEST

START_TEST(test_schedule_window_pause) {
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@daily", "--start",
                               "2026-12-01T00:00:00Z", "--end",
                               "2026-12-24T23:59:59+01:00", "--paused",
                               NULL),
                         0);
        ck_assert_int_eq(A.start_at_ms, 1796083200000LL);
        ck_assert_int_eq(A.end_at_ms, 1798153199000LL);
        ck_assert_int_eq(A.paused, 1);
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@daily", NULL), 0);
        ck_assert_int_eq(A.start_at_ms, 0);
        ck_assert_int_eq(A.end_at_ms, 0);
        ck_assert_int_eq(A.paused, 0);
        /* a bare wall time is ambiguous */
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@daily", "--start",
                               "2026-12-01T00:00:00", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "--start"));
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@daily", "--start",
                               "2026-12-02T00:00:00Z", "--end",
                               "2026-12-01T00:00:00Z", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "before"));
        ck_assert_int_eq(parse("schedule", "n", "--cron", "@daily",
                               "--paused=yes", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("run", "n", "--paused", NULL),
                         FLOQ_EXIT_USAGE);

        ck_assert_int_eq(parse("pause", "n", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_PAUSE);
        ck_assert_str_eq(A.name, "n");
        ck_assert_ptr_null(A.schedule_id);
        ck_assert_int_eq(parse("resume", "n", "--id", "w", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_RESUME);
        ck_assert_str_eq(A.schedule_id, "w");
        ck_assert_int_eq(parse("pause", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "NAME"));
        ck_assert_int_eq(parse("resume", "n", "--cron", "@daily", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("help", "pause", NULL), 0);
        ck_assert_int_eq(A.help_cmd, FLOQ_CLI_PAUSE);
        ck_assert_int_eq(parse("pasue", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "'pause'"));
}
END_TEST

START_TEST(test_deploy_datasets) {
        json_t *d;

        ck_assert_int_eq(parse("deploy", "etl", "--input",
                               "postgres://db:5432,shop.orders", "--input",
                               "kafka://user@broker:9092,topic,with,commas",
                               "--output=s3://lake,daily/orders.parquet",
                               "--", "/bin/true", NULL),
                         0);
        ck_assert_uint_eq(json_array_size(A.inputs), 2);
        d = json_array_get(A.inputs, 0);
        ck_assert_str_eq(json_string_value(json_object_get(d, "namespace")),
                         "postgres://db:5432");
        ck_assert_str_eq(json_string_value(json_object_get(d, "name")),
                         "shop.orders");
        d = json_array_get(A.inputs, 1);
        ck_assert_str_eq(json_string_value(json_object_get(d, "namespace")),
                         "kafka://user@broker:9092");
        ck_assert_str_eq(json_string_value(json_object_get(d, "name")),
                         "topic,with,commas");
        ck_assert_uint_eq(json_array_size(A.outputs), 1);
        d = json_array_get(A.outputs, 0);
        ck_assert_str_eq(json_string_value(json_object_get(d, "namespace")),
                         "s3://lake");
        ck_assert_str_eq(json_string_value(json_object_get(d, "name")),
                         "daily/orders.parquet");
        ck_assert_int_eq(parse("deploy", "etl", "--", "/bin/true", NULL), 0);
        ck_assert_ptr_null(A.inputs);
        ck_assert_ptr_null(A.outputs);
        ck_assert_int_eq(parse("deploy", "etl", "--input", "no-comma", "--",
                               "/bin/true", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "NAMESPACE,NAME"));
        ck_assert_int_eq(parse("deploy", "etl", "--input", ",name", "--",
                               "/bin/true", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("deploy", "etl", "--output", "ns,", "--",
                               "/bin/true", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("run", "etl", "--input", "a,b", NULL),
                         FLOQ_EXIT_USAGE);
}
END_TEST

START_TEST(test_cron_next) {
        ck_assert_int_eq(parse("cron-next", "30 2 * * *", "--tz",
                               "America/New_York", "--from",
                               "2026-03-06T12:00:00Z", "--count", "4", NULL),
                         0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_CRON_NEXT);
        ck_assert_str_eq(A.name, "30 2 * * *");
        ck_assert_str_eq(A.tz, "America/New_York");
        ck_assert_str_eq(A.from, "2026-03-06T12:00:00Z");
        ck_assert_int_eq(A.count, 4);
        ck_assert_int_eq(parse("cron-next", "@hourly", "-n", "2", NULL), 0);
        ck_assert_int_eq(A.count, 2);
        ck_assert_ptr_null(A.tz);
        ck_assert_int_eq(parse("cron-next", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "EXPR"));
        /* a bare wall time is ambiguous */
        ck_assert_int_eq(parse("cron-next", "@daily", "--from",
                               "2026-03-08T01:59:00", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "--from"));
        ck_assert_int_eq(parse("cron-next", "@daily", "--count", "0", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("cron-next", "@daily", "--cron", "x", NULL),
                         FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("cron-next", "--help", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_HELP);
        ck_assert_int_eq(A.help_cmd, FLOQ_CLI_CRON_NEXT);
}
END_TEST

START_TEST(test_commands_and_help) {
        ck_assert_int_eq(parse(NULL), FLOQ_EXIT_USAGE);
        ck_assert_str_eq(errbuf, "no command given");
        ck_assert_int_eq(parse("dploy", "x", NULL), FLOQ_EXIT_USAGE);
        ck_assert_str_eq(errbuf,
                         "unknown command 'dploy'; did you mean 'deploy'?");
        ck_assert_int_eq(parse("stauts", NULL), FLOQ_EXIT_USAGE);
        ck_assert_ptr_nonnull(strstr(errbuf, "'status'"));
        ck_assert_int_eq(parse("frobnicate", NULL), FLOQ_EXIT_USAGE);
        ck_assert_str_eq(errbuf, "unknown command 'frobnicate'");
        ck_assert_str_eq(floq_cli_suggest("rnu"), "run");
        ck_assert_ptr_null(floq_cli_suggest("zzzzzzzz"));

        ck_assert_int_eq(parse("--help", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_HELP);
        ck_assert_int_eq(A.help_cmd, FLOQ_CLI_NONE);
        ck_assert_int_eq(parse("run", "--help", NULL), 0);
        ck_assert_int_eq(A.cmd, FLOQ_CLI_HELP);
        ck_assert_int_eq(A.help_cmd, FLOQ_CLI_RUN);
        ck_assert_int_eq(parse("help", "schedule", NULL), 0);
        ck_assert_int_eq(A.help_cmd, FLOQ_CLI_SCHEDULE);
        ck_assert_int_eq(parse("help", "shedule", NULL), FLOQ_EXIT_USAGE);
        ck_assert_int_eq(parse("version", NULL), 0);
        ck_assert_int_eq(parse("-Q", NULL), FLOQ_EXIT_USAGE);
}
END_TEST

START_TEST(test_help_has_examples) {
        for (int c = FLOQ_CLI_DEPLOY; c <= FLOQ_CLI_WATCH; c++) {
                char *buf = NULL;
                size_t len = 0;
                FILE *fp = open_memstream(&buf, &len);
                floq_cli_usage(fp, (floq_cli_cmd_t)c);
                fclose(fp);
                ck_assert_msg(strstr(buf, "examples:") != NULL,
                              "no examples for %s", floq_cli_cmd_name(c));
                ck_assert_ptr_nonnull(strstr(buf, floq_cli_cmd_name(c)));
                free(buf);
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);
        floq_cli_usage(fp, FLOQ_CLI_NONE);
        fclose(fp);
        ck_assert_ptr_nonnull(strstr(buf, "exit status:"));
        ck_assert_ptr_nonnull(strstr(buf, "4  cannot reach Kafka"));
        free(buf);
}
END_TEST

START_TEST(test_durations) {
        ck_assert_int_eq(floq_cli_parse_duration("30"), 30000);
        ck_assert_int_eq(floq_cli_parse_duration("30s"), 30000);
        ck_assert_int_eq(floq_cli_parse_duration("250ms"), 250);
        ck_assert_int_eq(floq_cli_parse_duration("1.5s"), 1500);
        ck_assert_int_eq(floq_cli_parse_duration("5m"), 300000);
        ck_assert_int_eq(floq_cli_parse_duration("2h"), 7200000);
        ck_assert_int_eq(floq_cli_parse_duration("0"), 0);
        ck_assert_int_eq(floq_cli_parse_duration(""), -1);
        ck_assert_int_eq(floq_cli_parse_duration("-1s"), -1);
        ck_assert_int_eq(floq_cli_parse_duration("5 s"), -1);
        ck_assert_int_eq(floq_cli_parse_duration("5y"), -1);
        ck_assert_int_eq(floq_cli_parse_duration("abc"), -1);
}
END_TEST

START_TEST(test_conf_precedence) {
        char *envp[] = {"FLOQ_BROKERS=env:1", "FLOQ_TOPIC_REPLIES=env.r",
                        "FLOQ_TOPIC_LINEAGE=env.l", NULL};
        char path[] = "/tmp/floq-test-cli-XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        const char *txt = "brokers=file:1\ntopic.replies=file.r\n"
                          "topic.commands=file.c\nlinger.ms=7\n";
        ck_assert_int_eq(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
        close(fd);

        ck_assert_int_eq(parse("-F", path, "-o", "topic.lineage=flag.l",
                               "status", "x", NULL),
                         0);
        floq_conf_t *conf = floq_cli_conf(&A, envp, errbuf, sizeof(errbuf));
        ck_assert_msg(conf != NULL, "%s", errbuf);
        ck_assert_str_eq(floq_conf_get(conf, "topic.commands"), "file.c");
        ck_assert_str_eq(floq_conf_get(conf, "topic.replies"), "env.r");
        ck_assert_str_eq(floq_conf_get(conf, "topic.lineage"), "flag.l");
        ck_assert_str_eq(floq_conf_get(conf, "brokers"), "env:1");
        ck_assert_str_eq(floq_conf_get(conf, "linger.ms"), "7");
        floq_conf_destroy(conf);

        ck_assert_int_eq(parse("-F", path, "-b", "flag:1", "-X",
                               "linger.ms=9", "status", "x", NULL),
                         0);
        conf = floq_cli_conf(&A, envp, errbuf, sizeof(errbuf));
        ck_assert_ptr_nonnull(conf);
        ck_assert_str_eq(floq_conf_get(conf, "brokers"), "flag:1");
        ck_assert_str_eq(floq_conf_get(conf, "linger.ms"), "9");
        floq_conf_destroy(conf);

        /* bad -o / -X values are configuration (usage) errors */
        ck_assert_int_eq(parse("-o", "no.such.key=1", "status", "x", NULL),
                         0);
        ck_assert_ptr_null(floq_cli_conf(&A, envp, errbuf, sizeof(errbuf)));
        ck_assert_int_eq(parse("-X", "no.such.prop=1", "status", "x", NULL),
                         0);
        ck_assert_ptr_null(floq_cli_conf(&A, envp, errbuf, sizeof(errbuf)));
        ck_assert_ptr_nonnull(strstr(errbuf, "no.such.prop"));
        unlink(path);
        ck_assert_int_eq(parse("-F", path, "status", "x", NULL), 0);
        ck_assert_ptr_null(floq_cli_conf(&A, envp, errbuf, sizeof(errbuf)));
}
END_TEST

START_TEST(test_exit_codes_and_format) {
        ck_assert_int_eq(floq_cli_exit_for_status("SUCCEEDED"), 0);
        ck_assert_int_eq(floq_cli_exit_for_status("ACCEPTED"), 0);
        ck_assert_int_eq(floq_cli_exit_for_status("DEPLOYED"), 0);
        ck_assert_int_eq(floq_cli_exit_for_status("STOPPED"), 0);
        ck_assert_int_eq(floq_cli_exit_for_status("STATUS"), 0);
        ck_assert_int_eq(floq_cli_exit_for_status("VALID"), 0);
        ck_assert_int_eq(floq_cli_exit_for_status("FAILED"), 1);
        ck_assert_int_eq(floq_cli_exit_for_status("REJECTED"), 1);
        ck_assert_int_eq(floq_cli_exit_for_status("CANCELLED"), 1);
        ck_assert_int_eq(floq_cli_exit_for_status("TIMED_OUT"), 1);
        ck_assert_int_eq(floq_cli_exit_for_status("LOST"), 1);
        ck_assert_int_eq(floq_cli_exit_for_status("INVALID"), 1);
        ck_assert_int_eq(floq_cli_exit_for_status("UNKNOWN"), 1);
        ck_assert_int_eq(floq_cli_exit_for_err(FLOQ_ERR_TRANSPORT), 4);
        ck_assert_int_eq(floq_cli_exit_for_err(FLOQ_ERR_TIMED_OUT), 3);
        ck_assert_int_eq(floq_cli_exit_for_err(FLOQ_ERR_ENCODE), 2);

        char line[512];
        json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:s}",
                              "command_id", "c", "deployment", "d", "status",
                              "FAILED", "run_id", "r1", "final", 1,
                              "exit_code", 3, "reason", "exit status 3");
        floq_cli_format_reply(r, line, sizeof(line));
        ck_assert_str_eq(line, "FAILED deployment=d run_id=r1 exit_code=3 "
                               "reason=\"exit status 3\"");
        json_decref(r);
}
END_TEST

static Suite *cli_suite(void) {
        Suite *s = suite_create("cli_args");
        TCase *tc = tcase_create("parse");
        tcase_set_timeout(tc, 10);
        tcase_add_checked_fixture(tc, NULL, teardown);
        tcase_add_test(tc, test_deploy_process);
        tcase_add_test(tc, test_deploy_spec_and_errors);
        tcase_add_test(tc, test_run);
        tcase_add_test(tc, test_run_errors);
        tcase_add_test(tc, test_stop_status_validate_watch);
        tcase_add_test(tc, test_schedule);
        tcase_add_test(tc, test_schedule_window_pause);
        tcase_add_test(tc, test_deploy_datasets);
        tcase_add_test(tc, test_cron_next);
        tcase_add_test(tc, test_commands_and_help);
        tcase_add_test(tc, test_help_has_examples);
        tcase_add_test(tc, test_durations);
        tcase_add_test(tc, test_conf_precedence);
        tcase_add_test(tc, test_exit_codes_and_format);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(cli_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
