/*
 * test_lineage.c - unit tests of lineage/: building OpenLineage events from
 * floq records, the Kafka key, the dataset lines a run prints, the graph of
 * a known event set, and the small helpers (UTF-8 cleaning, backoff). The
 * schema conformance of the events is tests/unit/test_lineage_conformance.sh.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "floq_lineage.h"
#include "lineage_int.h"
#include "test_util.h"

#define RUN_ID "3f2a7c1e-8b4d-4e5f-9a6b-7c8d9e0f1a2b"
#define PARENT_ID "4a3b8d2f-9c5e-4f60-8b7c-8d9e0f1a2b3c"
#define ROOT_ID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static json_t *parse(const char *text) {
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);

        ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
        return j;
}

static json_t *deployment(void) {
        return parse("{\"name\": \"orders\", \"backend\": \"process\", "
                     "\"spec\": \"{}\", \"namespace\": \"analytics\", "
                     "\"inputs\": [{\"namespace\": \"pg://db\", \"name\": "
                     "\"shop.orders\"}], \"outputs\": [{\"namespace\": "
                     "\"s3://lake\", \"name\": \"orders/daily\"}], "
                     "\"enabled\": true, \"generation\": 1, \"updated_at\": "
                     "0, \"command_id\": \"c\"}");
}

/* A RunState; fields given in extra (a JSON object text) override. */
static json_t *run_state(const char *extra) {
        json_t *rs = parse("{\"run_id\": \"" RUN_ID "\", \"deployment\": "
                           "\"orders\", \"command_id\": \"c\", \"status\": "
                           "\"RUNNING\", \"attempt\": 1, \"heartbeat_at\": "
                           "1700000002000, \"created_at\": 1700000000000, "
                           "\"started_at\": 1700000001000, \"finished_at\": "
                           "null, \"scheduled_for\": null, \"schedule_id\": "
                           "null, \"parent_run_id\": null, \"exit_code\": "
                           "null, \"reason\": null, \"output_tail\": null}");

        if (extra) {
                json_t *e = parse(extra);

                json_object_update(rs, e);
                json_decref(e);
        }
        return rs;
}

static const char *sget(const json_t *j, const char *path) {
        /* "a.b.c" lookups of objects */
        char buf[256], *tok, *save = NULL;
        const json_t *cur = j;

        snprintf(buf, sizeof(buf), "%s", path);
        for (tok = strtok_r(buf, ".", &save); tok && cur;
             tok = strtok_r(NULL, ".", &save))
                cur = json_object_get(cur, tok);
        return json_string_value(cur);
}

static const json_t *jget(const json_t *j, const char *path) {
        char buf[256], *tok, *save = NULL;
        const json_t *cur = j;

        snprintf(buf, sizeof(buf), "%s", path);
        for (tok = strtok_r(buf, ".", &save); tok && cur;
             tok = strtok_r(NULL, ".", &save))
                cur = json_object_get(cur, tok);
        return cur;
}

/* ------------------------------------------------------------ event types */

START_TEST(event_types) {
        ck_assert_str_eq(floq_lineage_event_type_name(FLOQ_LINEAGE_START),
                         "START");
        ck_assert_str_eq(floq_lineage_event_type_name(FLOQ_LINEAGE_ABORT),
                         "ABORT");
        ck_assert_ptr_null(floq_lineage_event_type_name(FLOQ_LINEAGE__CNT));
        ck_assert_int_eq(floq_lineage_event_type_parse("complete"),
                         FLOQ_LINEAGE_COMPLETE);
        ck_assert_int_eq(floq_lineage_event_type_parse("DONE"), -1);
        ck_assert_int_eq(floq_lineage_event_type_parse(NULL), -1);
        ck_assert_int_eq(floq_lineage_event_type_for_status("SUCCEEDED"),
                         FLOQ_LINEAGE_COMPLETE);
        ck_assert_int_eq(floq_lineage_event_type_for_status("FAILED"),
                         FLOQ_LINEAGE_FAIL);
        ck_assert_int_eq(floq_lineage_event_type_for_status("TIMED_OUT"),
                         FLOQ_LINEAGE_FAIL);
        ck_assert_int_eq(floq_lineage_event_type_for_status("CANCELLED"),
                         FLOQ_LINEAGE_ABORT);
        ck_assert_int_eq(floq_lineage_event_type_for_status("LOST"),
                         FLOQ_LINEAGE_ABORT);
        ck_assert_int_eq(floq_lineage_event_type_for_status("RUNNING"),
                         FLOQ_LINEAGE_RUNNING);
        ck_assert_int_eq(floq_lineage_event_type_for_status("ACCEPTED"), -1);
        ck_assert_int_eq(floq_lineage_event_type_for_status("RETRYING"), -1);
}
END_TEST

/* ----------------------------------------------------------------- events */

START_TEST(event_start_shape) {
        json_t *dep = deployment(), *rs = run_state(NULL), *ev;
        char errstr[256];

        ev = floq_lineage_event_new(FLOQ_LINEAGE_START, dep, rs, NULL, errstr,
                                    sizeof(errstr));
        ck_assert_msg(ev != NULL, "%s", errstr);
        ck_assert_str_eq(sget(ev, "eventType"), "START");
        ck_assert_str_eq(sget(ev, "eventTime"), "2023-11-14T22:13:21.000Z");
        ck_assert_str_eq(sget(ev, "run.runId"), RUN_ID);
        ck_assert_str_eq(sget(ev, "job.namespace"), "analytics");
        ck_assert_str_eq(sget(ev, "job.name"), "orders");
        ck_assert_str_eq(sget(ev, "producer"), FLOQ_PRODUCER_URI);
        ck_assert_str_eq(sget(ev, "schemaURL"), FLOQ_LINEAGE_SCHEMA_URL);
        ck_assert_str_eq(sget(ev, "run.facets.processing_engine.name"),
                         "floq");
        ck_assert_str_eq(sget(ev, "run.facets.processing_engine.version"),
                         FLOQ_VERSION_STR);
        ck_assert_str_eq(sget(ev, "run.facets.processing_engine._schemaURL"),
                         OL_PROCESSING_ENGINE_URL);
        ck_assert_str_eq(sget(ev, "run.facets.processing_engine._producer"),
                         FLOQ_PRODUCER_URI);
        ck_assert_str_eq(sget(ev, "job.facets.jobType.processingType"),
                         "BATCH");
        ck_assert_str_eq(sget(ev, "job.facets.jobType.integration"), "FLOQ");
        ck_assert_str_eq(sget(ev, "job.facets.jobType.jobType"), "JOB");
        ck_assert_ptr_null(jget(ev, "run.facets.errorMessage"));
        ck_assert_ptr_null(jget(ev, "run.facets.nominalTime"));
        ck_assert_ptr_null(jget(ev, "run.facets.parent"));
        ck_assert_ptr_null(jget(ev, "run.facets.environmentVariables"));
        ck_assert_int_eq(json_array_size(json_object_get(ev, "inputs")), 1);
        ck_assert_str_eq(sget(json_array_get(json_object_get(ev, "inputs"), 0),
                              "name"),
                         "shop.orders");
        ck_assert_int_eq(json_array_size(json_object_get(ev, "outputs")), 1);
        json_decref(ev);
        json_decref(dep);
        json_decref(rs);
}
END_TEST

START_TEST(event_defaults_and_errors) {
        json_t *rs = run_state(NULL), *ev, *bad;
        floq_lineage_opts_t opts;
        char errstr[256];

        /* deployment gone: job = run_state.deployment in the default ns */
        ev = floq_lineage_event_new(FLOQ_LINEAGE_ABORT, NULL, rs, NULL, errstr,
                                    sizeof(errstr));
        ck_assert_ptr_nonnull(ev);
        ck_assert_str_eq(sget(ev, "job.namespace"),
                         FLOQ_LINEAGE_NAMESPACE_DEFAULT);
        ck_assert_str_eq(sget(ev, "job.name"), "orders");
        ck_assert_int_eq(json_array_size(json_object_get(ev, "inputs")), 0);
        json_decref(ev);

        floq_lineage_opts_init(&opts);
        opts.namespace_default = "teamx";
        opts.producer = "https://example.com/p";
        opts.event_time_ms = 86400000;
        ev = floq_lineage_event_new(FLOQ_LINEAGE_OTHER, NULL, rs, &opts,
                                    errstr, sizeof(errstr));
        ck_assert_str_eq(sget(ev, "job.namespace"), "teamx");
        ck_assert_str_eq(sget(ev, "producer"), "https://example.com/p");
        ck_assert_str_eq(sget(ev, "run.facets.processing_engine._producer"),
                         "https://example.com/p");
        ck_assert_str_eq(sget(ev, "eventTime"), "1970-01-02T00:00:00.000Z");
        json_decref(ev);

        bad = run_state("{\"run_id\": \"not-a-uuid\"}");
        ck_assert_ptr_null(floq_lineage_event_new(FLOQ_LINEAGE_START, NULL,
                                                  bad, NULL, errstr,
                                                  sizeof(errstr)));
        ck_assert_msg(strstr(errstr, "not a UUID") != NULL, "%s", errstr);
        json_decref(bad);
        bad = run_state("{\"deployment\": null}");
        ck_assert_ptr_null(floq_lineage_event_new(FLOQ_LINEAGE_START, NULL,
                                                  bad, NULL, errstr,
                                                  sizeof(errstr)));
        json_decref(bad);
        ck_assert_ptr_null(floq_lineage_event_new(FLOQ_LINEAGE__CNT, NULL, rs,
                                                  NULL, errstr,
                                                  sizeof(errstr)));
        ck_assert_ptr_null(floq_lineage_event_new(FLOQ_LINEAGE_START, NULL,
                                                  NULL, NULL, NULL, 0));
        json_decref(rs);
}
END_TEST

START_TEST(event_fail_error_message) {
        json_t *dep = deployment(), *ev, *rs;
        floq_lineage_opts_t opts;
        const char *trace;
        char errstr[256];

        rs = run_state("{\"status\": \"FAILED\", \"finished_at\": "
                       "1700000009000, \"exit_code\": 3, \"reason\": "
                       "\"non-zero exit\", \"output_tail\": "
                       "\"0123456789\\u00e9tail\"}");
        floq_lineage_opts_init(&opts);
        opts.error_tail_max = 5; /* cuts inside the 2-byte é */
        ev = floq_lineage_event_new(FLOQ_LINEAGE_FAIL, dep, rs, &opts, errstr,
                                    sizeof(errstr));
        ck_assert_ptr_nonnull(ev);
        ck_assert_str_eq(sget(ev, "eventTime"), "2023-11-14T22:13:29.000Z");
        ck_assert_str_eq(sget(ev, "run.facets.errorMessage.message"),
                         "non-zero exit (exit status 3)");
        ck_assert_str_eq(
                sget(ev, "run.facets.errorMessage.programmingLanguage"),
                "unknown");
        trace = sget(ev, "run.facets.errorMessage.stackTrace");
        ck_assert_str_eq(trace, "tail");
        ck_assert_str_eq(sget(ev, "run.facets.errorMessage._schemaURL"),
                         OL_ERROR_MESSAGE_URL);
        json_decref(ev);
        json_decref(rs);

        /* lost: ABORT with an explanation even without a reason */
        rs = run_state("{\"status\": \"LOST\"}");
        ev = floq_lineage_event_new(FLOQ_LINEAGE_ABORT, dep, rs, NULL, errstr,
                                    sizeof(errstr));
        ck_assert_msg(strstr(sget(ev, "run.facets.errorMessage.message"),
                             "heartbeat") != NULL,
                      "lost message");
        ck_assert_ptr_null(
                jget(ev, "run.facets.errorMessage.stackTrace"));
        json_decref(ev);
        json_decref(rs);

        /* cancelled without a reason: no errorMessage */
        rs = run_state("{\"status\": \"CANCELLED\"}");
        ev = floq_lineage_event_new(FLOQ_LINEAGE_ABORT, dep, rs, NULL, errstr,
                                    sizeof(errstr));
        ck_assert_ptr_null(jget(ev, "run.facets.errorMessage"));
        json_decref(ev);
        json_decref(rs);

        /* invalid UTF-8 in the output never breaks the event */
        rs = run_state("{\"status\": \"TIMED_OUT\"}");
        json_object_set_new(rs, "output_tail",
                            json_string_nocheck("bad\xfftail"));
        ev = floq_lineage_event_new(FLOQ_LINEAGE_FAIL, dep, rs, NULL, errstr,
                                    sizeof(errstr));
        ck_assert_str_eq(sget(ev, "run.facets.errorMessage.message"),
                         "run timed out");
        ck_assert_str_eq(sget(ev, "run.facets.errorMessage.stackTrace"),
                         "bad?tail");
        json_decref(ev);
        json_decref(rs);
        json_decref(dep);
}
END_TEST

START_TEST(event_nominal_and_parent) {
        json_t *dep = deployment(), *ev, *rs;
        floq_lineage_opts_t opts;
        char errstr[256], *key;

        rs = run_state("{\"scheduled_for\": 1700000000000, \"schedule_id\": "
                       "\"nightly\", \"parent_run_id\": \"" PARENT_ID "\"}");
        /* parent job unknown: no parent facet (it requires the job) */
        ev = floq_lineage_event_new(FLOQ_LINEAGE_START, dep, rs, NULL, errstr,
                                    sizeof(errstr));
        ck_assert_str_eq(sget(ev, "run.facets.nominalTime.nominalStartTime"),
                         "2023-11-14T22:13:20.000Z");
        ck_assert_ptr_null(jget(ev, "run.facets.parent"));
        key = floq_lineage_key(ev);
        ck_assert_str_eq(key, "run:analytics/orders");
        free(key);
        json_decref(ev);

        floq_lineage_opts_init(&opts);
        opts.parent_job_namespace = "ops";
        opts.parent_job_name = "loader";
        ev = floq_lineage_event_new(FLOQ_LINEAGE_START, dep, rs, &opts,
                                    errstr, sizeof(errstr));
        ck_assert_str_eq(sget(ev, "run.facets.parent.run.runId"), PARENT_ID);
        ck_assert_str_eq(sget(ev, "run.facets.parent.job.namespace"), "ops");
        ck_assert_str_eq(sget(ev, "run.facets.parent.job.name"), "loader");
        ck_assert_ptr_null(jget(ev, "run.facets.parent.root"));
        key = floq_lineage_key(ev);
        ck_assert_str_eq(key, "run:ops/loader");
        free(key);
        json_decref(ev);

        opts.root_run_id = ROOT_ID;
        opts.root_job_namespace = "top";
        opts.root_job_name = "dag";
        ev = floq_lineage_event_new(FLOQ_LINEAGE_START, dep, rs, &opts,
                                    errstr, sizeof(errstr));
        ck_assert_str_eq(sget(ev, "run.facets.parent.root.run.runId"),
                         ROOT_ID);
        key = floq_lineage_key(ev);
        ck_assert_str_eq(key, "run:top/dag");
        free(key);
        json_decref(ev);
        json_decref(rs);
        json_decref(dep);
}
END_TEST

START_TEST(event_environment) {
        const char *env[] = { "PATH=/bin",       "HOME=/h",
                              "AWS_SECRET=x",    "GITHUB_TOKEN=y",
                              "LANG=C",          "TZ=https://u:p@h/",
                              "NOT_ALLOWED=z",   "broken",
                              NULL };
        json_t *rs = run_state(NULL), *ev, *arr;
        floq_lineage_opts_t opts;
        char errstr[256], *text;

        floq_lineage_opts_init(&opts);
        opts.envp = env;
        opts.env_allow = "PATH, HOME,AWS_SECRET,GITHUB_TOKEN,LANG,TZ";
        ev = floq_lineage_event_new(FLOQ_LINEAGE_START, NULL, rs, &opts,
                                    errstr, sizeof(errstr));
        arr = (json_t *)jget(
                ev, "run.facets.environmentVariables.environmentVariables");
        ck_assert_int_eq(json_array_size(arr), 3);
        text = json_dumps(arr, JSON_COMPACT);
        ck_assert_str_eq(text, "[{\"name\":\"PATH\",\"value\":\"/bin\"},"
                               "{\"name\":\"HOME\",\"value\":\"/h\"},"
                               "{\"name\":\"LANG\",\"value\":\"C\"}]");
        free(text);
        json_decref(ev);

        /* nothing qualifies: no facet at all */
        opts.env_allow = "NOPE";
        ev = floq_lineage_event_new(FLOQ_LINEAGE_START, NULL, rs, &opts,
                                    errstr, sizeof(errstr));
        ck_assert_ptr_null(jget(ev, "run.facets.environmentVariables"));
        json_decref(ev);
        json_decref(rs);
}
END_TEST

START_TEST(event_reported_datasets) {
        json_t *dep = deployment(), *ev, *rs;
        floq_lineage_opts_t opts;
        char errstr[256];

        rs = run_state("{\"status\": \"SUCCEEDED\", \"output_tail\": "
                       "\"x\\n::openlineage-output s3://lake extra\\n"
                       "::openlineage-input pg://db shop.orders\\n\"}");
        ev = floq_lineage_event_new(FLOQ_LINEAGE_COMPLETE, dep, rs, NULL,
                                    errstr, sizeof(errstr));
        /* the input was declared already: not repeated */
        ck_assert_int_eq(json_array_size(json_object_get(ev, "inputs")), 1);
        ck_assert_int_eq(json_array_size(json_object_get(ev, "outputs")), 2);
        json_decref(ev);
        /* START does not look at output */
        ev = floq_lineage_event_new(FLOQ_LINEAGE_START, dep, rs, NULL, errstr,
                                    sizeof(errstr));
        ck_assert_int_eq(json_array_size(json_object_get(ev, "outputs")), 1);
        json_decref(ev);
        floq_lineage_opts_init(&opts);
        opts.ignore_reported_datasets = 1;
        ev = floq_lineage_event_new(FLOQ_LINEAGE_COMPLETE, dep, rs, &opts,
                                    errstr, sizeof(errstr));
        ck_assert_int_eq(json_array_size(json_object_get(ev, "outputs")), 1);
        json_decref(ev);
        json_decref(rs);
        json_decref(dep);
}
END_TEST

START_TEST(record_new) {
        json_t *dep = deployment(), *rs = run_state(NULL), *back;
        char *key, *value, errstr[256];

        ck_assert_int_eq(floq_lineage_record_new(FLOQ_LINEAGE_START, dep, rs,
                                                 NULL, &key, &value, errstr,
                                                 sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(key, "run:analytics/orders");
        back = parse(value);
        ck_assert_str_eq(sget(back, "run.runId"), RUN_ID);
        ck_assert_ptr_null(strchr(value, '\n'));
        json_decref(back);
        free(key);
        free(value);
        json_object_set_new(rs, "run_id", json_string("x"));
        ck_assert_int_eq(floq_lineage_record_new(FLOQ_LINEAGE_START, dep, rs,
                                                 NULL, &key, &value, errstr,
                                                 sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_null(key);
        ck_assert_ptr_null(value);
        json_decref(dep);
        json_decref(rs);
}
END_TEST

START_TEST(key_convention) {
        json_t *ev;
        char *key;

        ev = parse("{\"job\": {\"namespace\": \"n\", \"name\": \"j\"}}");
        key = floq_lineage_key(ev);
        ck_assert_str_eq(key, "run:n/j");
        free(key);
        json_decref(ev);
        /* parent without root */
        ev = parse("{\"job\": {\"namespace\": \"n\", \"name\": \"j\"}, "
                   "\"run\": {\"facets\": {\"parent\": {\"job\": "
                   "{\"namespace\": \"pn\", \"name\": \"pj\"}}}}}");
        key = floq_lineage_key(ev);
        ck_assert_str_eq(key, "run:pn/pj");
        free(key);
        json_decref(ev);
        /* root wins */
        ev = parse("{\"job\": {\"namespace\": \"n\", \"name\": \"j\"}, "
                   "\"run\": {\"facets\": {\"parent\": {\"job\": "
                   "{\"namespace\": \"pn\", \"name\": \"pj\"}, \"root\": "
                   "{\"job\": {\"namespace\": \"rn\", \"name\": \"rj\"}}}}}}");
        key = floq_lineage_key(ev);
        ck_assert_str_eq(key, "run:rn/rj");
        free(key);
        json_decref(ev);
        ev = parse("{\"run\": {}}");
        ck_assert_ptr_null(floq_lineage_key(ev));
        json_decref(ev);
}
END_TEST

/* --------------------------------------------------------------- datasets */

START_TEST(datasets_lines) {
        const char *text =
                "partial line from before the tail\n"
                "::openlineage-input postgres://db:5432 shop.public.orders\n"
                "  ::openlineage-output\ts3://lake   orders by day  \r\n"
                "::openlineage-output s3://lake orders by day\n"
                "::openlineage-input onlynamespace\n"
                "::openlineage-inputs ns name\n"
                "::openlineage-input ns bad\x01name\n"
                "::openlineage-input ns bad\xff\n"
                "echo ::openlineage-input ns quoted\n"
                "::openlineage-output kafka://b:9092 topic.out"; /* no \n */
        json_t *in = json_array(), *out = json_array();
        int n;

        n = floq_lineage_parse_datasets(text, strlen(text), in, out);
        ck_assert_int_eq(n, 3);
        ck_assert_int_eq(json_array_size(in), 1);
        ck_assert_str_eq(sget(json_array_get(in, 0), "namespace"),
                         "postgres://db:5432");
        ck_assert_str_eq(sget(json_array_get(in, 0), "name"),
                         "shop.public.orders");
        ck_assert_int_eq(json_array_size(out), 2);
        ck_assert_str_eq(sget(json_array_get(out, 0), "name"),
                         "orders by day");
        ck_assert_str_eq(sget(json_array_get(out, 1), "name"), "topic.out");
        /* skip a direction */
        ck_assert_int_eq(floq_lineage_parse_datasets(text, strlen(text), NULL,
                                                     NULL),
                         0);
        ck_assert_int_eq(floq_lineage_parse_datasets(NULL, 0, in, out), 0);
        json_decref(in);
        json_decref(out);
}
END_TEST

START_TEST(datasets_bounds) {
        size_t cap = (FLOQ_LINEAGE_DATASETS_MAX + 10) * 48 + 4096, len = 0;
        char *text = malloc(cap), *longname;
        json_t *in = json_array();
        int i;

        for (i = 0; i < FLOQ_LINEAGE_DATASETS_MAX + 10; i++)
                len += (size_t)snprintf(text + len, cap - len,
                                        "::openlineage-input ns t%d\n", i);
        ck_assert_int_eq(floq_lineage_parse_datasets(text, len, in, NULL),
                         FLOQ_LINEAGE_DATASETS_MAX);
        ck_assert_int_eq(json_array_size(in), FLOQ_LINEAGE_DATASETS_MAX);
        json_decref(in);
        in = json_array();
        longname = malloc(FLOQ_LINEAGE_DATASET_NAME_MAX + 64);
        memset(longname, 'a', FLOQ_LINEAGE_DATASET_NAME_MAX + 1);
        longname[FLOQ_LINEAGE_DATASET_NAME_MAX + 1] = '\0';
        len = (size_t)snprintf(text, cap, "::openlineage-input ns %s\n",
                               longname);
        ck_assert_int_eq(floq_lineage_parse_datasets(text, len, in, NULL), 0);
        free(longname);
        free(text);
        json_decref(in);
}
END_TEST

/* ------------------------------------------------------------ producers */

START_TEST(job_event) {
        floq_lineage_dataset_t in[] = { { "pg://db", "a" }, { "pg://db", "a" },
                                        { NULL, "x" } };
        floq_lineage_dataset_t out[] = { { "s3://b", "c" } };
        json_t *ev;
        char errstr[256], *key;

        ev = floq_lineage_job_event_new(FLOQ_LINEAGE_COMPLETE, "etl", "load",
                                        RUN_ID, in, 3, out, 1, NULL, errstr,
                                        sizeof(errstr));
        ck_assert_msg(ev != NULL, "%s", errstr);
        ck_assert_int_eq(json_array_size(json_object_get(ev, "inputs")), 1);
        ck_assert_int_eq(json_array_size(json_object_get(ev, "outputs")), 1);
        ck_assert_str_eq(sget(ev, "job.facets.jobType.integration"), "FLOQ");
        key = floq_lineage_key(ev);
        ck_assert_str_eq(key, "run:etl/load");
        free(key);
        json_decref(ev);
        ev = floq_lineage_job_event_new(FLOQ_LINEAGE_COMPLETE, NULL, "load",
                                        RUN_ID, NULL, 0, NULL, 0, NULL, errstr,
                                        sizeof(errstr));
        ck_assert_str_eq(sget(ev, "job.namespace"), "floq");
        json_decref(ev);
        ck_assert_ptr_null(floq_lineage_job_event_new(
                FLOQ_LINEAGE_START, "etl", "load", "123", NULL, 0, NULL, 0,
                NULL, errstr, sizeof(errstr)));
        ck_assert_ptr_null(floq_lineage_job_event_new(
                FLOQ_LINEAGE_START, "etl", "", RUN_ID, NULL, 0, NULL, 0, NULL,
                errstr, sizeof(errstr)));
}
END_TEST

/* ------------------------------------------------------------------ graph */

/* A known event set: extract reads orders and writes staging; load reads
 * staging and writes the mart. extract ran twice (the second failed),
 * load once (completed, events out of order), plus one event that is not a
 * RunEvent. */
static const char *graph_events[] = {
        "{\"eventType\":\"START\",\"eventTime\":\"2025-01-01T00:00:00Z\","
        "\"run\":{\"runId\":\"11111111-1111-4111-8111-111111111111\"},"
        "\"job\":{\"namespace\":\"etl\",\"name\":\"extract\"},"
        "\"inputs\":[{\"namespace\":\"pg\",\"name\":\"orders\"}],"
        "\"outputs\":[{\"namespace\":\"s3\",\"name\":\"staging\"}]}",
        "{\"eventType\":\"COMPLETE\",\"eventTime\":\"2025-01-01T00:01:00Z\","
        "\"run\":{\"runId\":\"11111111-1111-4111-8111-111111111111\"},"
        "\"job\":{\"namespace\":\"etl\",\"name\":\"extract\"},"
        "\"inputs\":[{\"namespace\":\"pg\",\"name\":\"orders\"}],"
        "\"outputs\":[{\"namespace\":\"s3\",\"name\":\"staging\"}]}",
        "{\"eventType\":\"COMPLETE\",\"eventTime\":\"2025-01-01T00:03:00.500Z\","
        "\"run\":{\"runId\":\"33333333-3333-4333-8333-333333333333\"},"
        "\"job\":{\"namespace\":\"etl\",\"name\":\"load\"},"
        "\"inputs\":[{\"namespace\":\"s3\",\"name\":\"staging\"}],"
        "\"outputs\":[{\"namespace\":\"dw\",\"name\":\"mart\"}]}",
        "{\"eventType\":\"START\",\"eventTime\":\"2025-01-01T01:02:00+01:00\","
        "\"run\":{\"runId\":\"33333333-3333-4333-8333-333333333333\"},"
        "\"job\":{\"namespace\":\"etl\",\"name\":\"load\"}}",
        "{\"eventType\":\"START\",\"eventTime\":\"2025-01-02T00:00:00Z\","
        "\"run\":{\"runId\":\"22222222-2222-4222-8222-222222222222\"},"
        "\"job\":{\"namespace\":\"etl\",\"name\":\"extract\"}}",
        "{\"eventType\":\"FAIL\",\"eventTime\":\"2025-01-02T00:00:05Z\","
        "\"run\":{\"runId\":\"22222222-2222-4222-8222-222222222222\"},"
        "\"job\":{\"namespace\":\"etl\",\"name\":\"extract\"}}",
        "{\"eventType\":\"OTHER\",\"eventTime\":\"2025-01-03T00:00:00Z\","
        "\"run\":{\"runId\":\"22222222-2222-4222-8222-222222222222\"},"
        "\"job\":{\"namespace\":\"etl\",\"name\":\"extract\"}}",
        "{\"dataset\":{\"namespace\":\"x\",\"name\":\"y\"}}",
};

static floq_lineage_graph_t *known_graph(void) {
        floq_lineage_graph_t *g = floq_lineage_graph_new();
        size_t i, n = sizeof(graph_events) / sizeof(graph_events[0]);

        for (i = 0; i < n; i++) {
                json_t *ev = parse(graph_events[i]);

                ck_assert_int_eq(floq_lineage_graph_add(g, ev),
                                 i == n - 1 ? FLOQ_ERR_INVALID_ARG : FLOQ_OK);
                json_decref(ev);
        }
        return g;
}

START_TEST(graph_known_set) {
        floq_lineage_graph_t *g = known_graph();
        json_t *gj = floq_lineage_graph_to_json(g), *n;
        char *nodes, *edges, *runs;

        ck_assert_ptr_nonnull(gj);
        /* compare id/kind/lastState only, in the stable order */
        nodes = json_dumps(json_object_get(gj, "nodes"), JSON_COMPACT);
        ck_assert_str_eq(
                nodes,
                "[{\"id\":\"dataset:dw/mart\",\"kind\":\"dataset\","
                "\"namespace\":\"dw\",\"name\":\"mart\"},"
                "{\"id\":\"dataset:pg/orders\",\"kind\":\"dataset\","
                "\"namespace\":\"pg\",\"name\":\"orders\"},"
                "{\"id\":\"dataset:s3/staging\",\"kind\":\"dataset\","
                "\"namespace\":\"s3\",\"name\":\"staging\"},"
                "{\"id\":\"job:etl/extract\",\"kind\":\"job\","
                "\"namespace\":\"etl\",\"name\":\"extract\",\"runs\":2,"
                "\"lastRunId\":\"22222222-2222-4222-8222-222222222222\","
                "\"lastState\":\"FAIL\"},"
                "{\"id\":\"job:etl/load\",\"kind\":\"job\","
                "\"namespace\":\"etl\",\"name\":\"load\",\"runs\":1,"
                "\"lastRunId\":\"33333333-3333-4333-8333-333333333333\","
                "\"lastState\":\"COMPLETE\"}]");
        edges = json_dumps(json_object_get(gj, "edges"), JSON_COMPACT);
        ck_assert_str_eq(
                edges,
                "[{\"from\":\"dataset:pg/orders\",\"to\":\"job:etl/extract\","
                "\"kind\":\"input\",\"lastState\":\"FAIL\"},"
                "{\"from\":\"dataset:s3/staging\",\"to\":\"job:etl/load\","
                "\"kind\":\"input\",\"lastState\":\"COMPLETE\"},"
                "{\"from\":\"job:etl/extract\",\"to\":\"dataset:s3/staging\","
                "\"kind\":\"output\",\"lastState\":\"FAIL\"},"
                "{\"from\":\"job:etl/load\",\"to\":\"dataset:dw/mart\","
                "\"kind\":\"output\",\"lastState\":\"COMPLETE\"}]");
        runs = json_dumps(json_object_get(gj, "runs"), JSON_COMPACT);
        ck_assert_msg(strstr(runs, "\"runId\":\"33333333-3333-4333-8333-"
                                   "333333333333\",\"job\":\"job:etl/load\","
                                   "\"state\":\"COMPLETE\"") != NULL,
                      "out-of-order START must not replace COMPLETE: %s",
                      runs);
        ck_assert_msg(strstr(runs, "\"runId\":\"22222222-2222-4222-8222-"
                                   "222222222222\",\"job\":\"job:etl/"
                                   "extract\",\"state\":\"FAIL\"") != NULL,
                      "OTHER must not replace FAIL: %s", runs);
        n = json_object_get(gj, "skipped");
        ck_assert_int_eq(json_integer_value(n), 1);
        free(nodes);
        free(edges);
        free(runs);
        json_decref(gj);
        floq_lineage_graph_destroy(g);
}
END_TEST

START_TEST(graph_dot) {
        floq_lineage_graph_t *g = known_graph();
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);
        json_t *ev;

        /* hostile names are escaped */
        ev = parse("{\"eventType\":\"START\",\"eventTime\":\"x\","
                   "\"run\":{\"runId\":\"r\"},"
                   "\"job\":{\"namespace\":\"q\\\"\",\"name\":\"a\\nb\"}}");
        ck_assert_int_eq(floq_lineage_graph_add(g, ev), FLOQ_OK);
        json_decref(ev);
        ck_assert_int_eq(floq_lineage_graph_write_dot(g, fp), 0);
        fclose(fp);
        ck_assert_msg(strncmp(buf, "digraph lineage {", 17) == 0, "%s", buf);
        ck_assert_msg(strstr(buf, "\"dataset:pg/orders\" -> "
                                  "\"job:etl/extract\" [label=\"FAIL\"") !=
                              NULL,
                      "%s", buf);
        ck_assert_msg(strstr(buf, "\"job:etl/load\" -> \"dataset:dw/mart\"") !=
                              NULL,
                      "%s", buf);
        ck_assert_msg(strstr(buf, "fillcolor=salmon") != NULL, "%s", buf);
        ck_assert_msg(strstr(buf, "\"job:q\\\"/a\\nb\"") != NULL, "%s", buf);
        ck_assert_msg(buf[len - 2] == '}', "ends with }");
        free(buf);
        floq_lineage_graph_destroy(g);
}
END_TEST

/* ---------------------------------------------------------------- helpers */

START_TEST(helpers) {
        char *s;
        int i;

        ck_assert(floq_lineage_is_uuid(RUN_ID));
        ck_assert(!floq_lineage_is_uuid("3f2a7c1e-8b4d-4e5f-9a6b-7c8d9e0f1a2"));
        ck_assert(!floq_lineage_is_uuid("3f2a7c1e+8b4d-4e5f-9a6b-7c8d9e0f1a2b"));
        ck_assert(!floq_lineage_is_uuid(NULL));
        s = floq_lineage_utf8_dup("a\xff\xc3\xa9\0b\xed\xa0\x80", 9);
        ck_assert_str_eq(s, "a?\xc3\xa9" "b???");
        free(s);
        for (i = 0; i < 200; i++) {
                int64_t d = floq_lineage_backoff_ms(i % 20, 100, 5000);

                ck_assert_int_ge(d, 1);
                ck_assert_int_le(d, 6000);
        }
        ck_assert_int_le(floq_lineage_backoff_ms(0, 100, 5000), 120);
        ck_assert(floq_lineage_http_retriable(0));
        ck_assert(floq_lineage_http_retriable(503));
        ck_assert(floq_lineage_http_retriable(429));
        ck_assert(!floq_lineage_http_retriable(400));
        ck_assert(!floq_lineage_http_retriable(404));
}
END_TEST

static Suite *lineage_suite(void) {
        Suite *s = suite_create("lineage");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, event_types);
        tcase_add_test(tc, event_start_shape);
        tcase_add_test(tc, event_defaults_and_errors);
        tcase_add_test(tc, event_fail_error_message);
        tcase_add_test(tc, event_nominal_and_parent);
        tcase_add_test(tc, event_environment);
        tcase_add_test(tc, event_reported_datasets);
        tcase_add_test(tc, record_new);
        tcase_add_test(tc, key_convention);
        tcase_add_test(tc, datasets_lines);
        tcase_add_test(tc, datasets_bounds);
        tcase_add_test(tc, job_event);
        tcase_add_test(tc, graph_known_set);
        tcase_add_test(tc, graph_dot);
        tcase_add_test(tc, helpers);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(lineage_suite());
}
