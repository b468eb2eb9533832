/*
 * floq_lineage_tool.c - drives lineage/ from test scripts: builds the
 * OpenLineage event of a floq run from Deployment and RunState JSON files
 * (the conformance test validates its output), prints the Kafka key of an
 * event, parses reported dataset lines, and emits a producer's job event to
 * Kafka or HTTP through floq_lineage_emit().
 *
 *   floq_lineage_tool event TYPE DEPLOYMENT.json|- RUNSTATE.json
 *           [--parent-job NS NAME] [--root RUNID NS NAME] [--env NAME=V...]
 *           [--namespace NS] [--time MS]
 *   floq_lineage_tool key EVENT.json
 *   floq_lineage_tool datasets FILE
 *   floq_lineage_tool emit (--brokers B --topic T | --url URL) TYPE NS NAME
 *           RUNID [--in NS NAME]... [--out NS NAME]...
 *   floq_lineage_tool topic BROKERS TOPIC PARTITIONS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_lineage.h"
#include "lineage_int.h"

static int usage(void) {
        fprintf(stderr,
                "usage: floq_lineage_tool event TYPE DEPLOYMENT.json|- "
                "RUNSTATE.json [opts]\n"
                "       floq_lineage_tool key EVENT.json\n"
                "       floq_lineage_tool datasets FILE\n"
                "       floq_lineage_tool emit (--brokers B --topic T | "
                "--url URL) TYPE NS NAME RUNID [--in NS NAME] "
                "[--out NS NAME]\n");
        return 2;
}

static json_t *load(const char *path) {
        json_error_t jerr;
        json_t *j = json_load_file(path, 0, &jerr);

        if (!j)
                fprintf(stderr, "cannot read '%s': %s (line %d)\n", path,
                        jerr.text, jerr.line);
        return j;
}

static int cmd_event(int argc, char **argv) {
        floq_lineage_opts_t opts;
        json_t *dep = NULL, *rs = NULL, *ev = NULL;
        const char *env[64];
        size_t envc = 0;
        char errstr[512], *text;
        int type, i, rc = 1;

        if (argc < 4)
                return usage();
        if ((type = floq_lineage_event_type_parse(argv[1])) < 0) {
                fprintf(stderr, "unknown event type '%s'\n", argv[1]);
                return 2;
        }
        floq_lineage_opts_init(&opts);
        for (i = 4; i < argc; i++) {
                if (!strcmp(argv[i], "--parent-job") && i + 2 < argc) {
                        opts.parent_job_namespace = argv[++i];
                        opts.parent_job_name = argv[++i];
                } else if (!strcmp(argv[i], "--root") && i + 3 < argc) {
                        opts.root_run_id = argv[++i];
                        opts.root_job_namespace = argv[++i];
                        opts.root_job_name = argv[++i];
                } else if (!strcmp(argv[i], "--env") && i + 1 < argc &&
                           envc + 1 < sizeof(env) / sizeof(env[0])) {
                        env[envc++] = argv[++i];
                        env[envc] = NULL;
                        opts.envp = env;
                } else if (!strcmp(argv[i], "--namespace") && i + 1 < argc) {
                        opts.namespace_default = argv[++i];
                } else if (!strcmp(argv[i], "--time") && i + 1 < argc) {
                        opts.event_time_ms = strtoll(argv[++i], NULL, 10);
                } else {
                        return usage();
                }
        }
        if (strcmp(argv[2], "-") && !(dep = load(argv[2])))
                goto out;
        if (!(rs = load(argv[3])))
                goto out;
        ev = floq_lineage_event_new((floq_lineage_event_type_t)type, dep, rs,
                                    &opts, errstr, sizeof(errstr));
        if (!ev) {
                fprintf(stderr, "event: %s\n", errstr);
                goto out;
        }
        if (!(text = json_dumps(ev, JSON_COMPACT)))
                goto out;
        puts(text);
        free(text);
        rc = 0;
out:
        json_decref(dep);
        json_decref(rs);
        json_decref(ev);
        return rc;
}

static int cmd_key(int argc, char **argv) {
        json_t *ev;
        char *key;

        if (argc != 2)
                return usage();
        if (!(ev = load(argv[1])))
                return 1;
        key = floq_lineage_key(ev);
        json_decref(ev);
        if (!key)
                return 1;
        puts(key);
        free(key);
        return 0;
}

static int cmd_datasets(int argc, char **argv) {
        json_t *in = json_array(), *out = json_array(), *both;
        char buf[65536];
        size_t len;
        FILE *fp;
        char *text;

        if (argc != 2)
                return usage();
        if (!(fp = fopen(argv[1], "rb")))
                return 1;
        len = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        if (floq_lineage_parse_datasets(buf, len, in, out) < 0)
                return 1;
        both = json_pack("{s:o, s:o}", "inputs", in, "outputs", out);
        text = json_dumps(both, JSON_COMPACT);
        puts(text);
        free(text);
        json_decref(both);
        return 0;
}

static int cmd_emit(int argc, char **argv) {
        floq_lineage_target_t target = { 0 };
        floq_lineage_dataset_t in[32], out[32];
        size_t inc = 0, outc = 0;
        const char *brokers = NULL, *pos[4];
        int posc = 0, i, type, rc = 1;
        char errstr[512];
        floq_conf_t *conf = NULL;
        rd_kafka_conf_t *kc;
        floq_err_t err;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
                        brokers = argv[++i];
                else if (!strcmp(argv[i], "--topic") && i + 1 < argc)
                        target.topic = argv[++i];
                else if (!strcmp(argv[i], "--url") && i + 1 < argc)
                        target.http.url = argv[++i];
                else if (!strcmp(argv[i], "--in") && i + 2 < argc && inc < 32) {
                        in[inc].namespace = argv[++i];
                        in[inc++].name = argv[++i];
                } else if (!strcmp(argv[i], "--out") && i + 2 < argc &&
                           outc < 32) {
                        out[outc].namespace = argv[++i];
                        out[outc++].name = argv[++i];
                } else if (posc < 4)
                        pos[posc++] = argv[i];
                else
                        return usage();
        }
        if (posc != 4 || (type = floq_lineage_event_type_parse(pos[0])) < 0)
                return usage();
        if (brokers) {
                if (!(conf = floq_conf_new()) ||
                    floq_conf_set(conf, "brokers", brokers, errstr,
                                  sizeof(errstr)) ||
                    !(kc = floq_kafka_conf_new(conf, "producer", errstr,
                                               sizeof(errstr)))) {
                        fprintf(stderr, "emit: %s\n", errstr);
                        goto out;
                }
                if (!(target.rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                               sizeof(errstr)))) {
                        rd_kafka_conf_destroy(kc);
                        fprintf(stderr, "emit: %s\n", errstr);
                        goto out;
                }
        }
        target.http_retries = 3;
        err = floq_lineage_emit(&target, (floq_lineage_event_type_t)type,
                                pos[1], pos[2], pos[3], in, inc, out, outc,
                                errstr, sizeof(errstr));
        if (err) {
                fprintf(stderr, "emit: %s\n", errstr);
                goto out;
        }
        if (target.rk && rd_kafka_flush(target.rk, 30000)) {
                fprintf(stderr, "emit: flush timed out\n");
                goto out;
        }
        rc = 0;
out:
        if (target.rk)
                rd_kafka_destroy(target.rk);
        floq_conf_destroy(conf);
        return rc;
}

static int cmd_topic(int argc, char **argv) {
        floq_conf_t *conf = floq_conf_new();
        rd_kafka_conf_t *kc = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[512];
        int rc = 1;

        if (argc != 4)
                return usage();
        if (!conf ||
            floq_conf_set(conf, "brokers", argv[1], errstr, sizeof(errstr)) ||
            !(kc = floq_kafka_conf_new(conf, "admin", errstr,
                                       sizeof(errstr))) ||
            !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                sizeof(errstr)))) {
                if (kc)
                        rd_kafka_conf_destroy(kc);
                fprintf(stderr, "topic: %s\n", errstr);
                goto out;
        }
        if (floq_lineage_topic_create(rk, argv[2], atoi(argv[3]), 1, 30000,
                                      errstr, sizeof(errstr))) {
                fprintf(stderr, "topic: %s\n", errstr);
                goto out;
        }
        rc = 0;
out:
        if (rk)
                rd_kafka_destroy(rk);
        floq_conf_destroy(conf);
        return rc;
}

int main(int argc, char **argv) {
        if (argc < 2)
                return usage();
        if (!strcmp(argv[1], "event"))
                return cmd_event(argc - 1, argv + 1);
        if (!strcmp(argv[1], "key"))
                return cmd_key(argc - 1, argv + 1);
        if (!strcmp(argv[1], "datasets"))
                return cmd_datasets(argc - 1, argv + 1);
        if (!strcmp(argv[1], "emit"))
                return cmd_emit(argc - 1, argv + 1);
        if (!strcmp(argv[1], "topic"))
                return cmd_topic(argc - 1, argv + 1);
        return usage();
}
