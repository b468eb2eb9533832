/*
 * fuzz_lineage.c - libFuzzer target for OpenLineage events (lineage/) as
 * floq reads them from the lineage topic or a file: the input is JSON
 * lines, and each line is handled as `floq-lineage graph` (json_loadb(),
 * floq_lineage_graph_add(); a line that is no JSON counts as skipped),
 * `tail` (the fields it prints) and `forward` (is it a JSON object, its
 * Kafka key) handle a record. Each object line is also a RunState for the
 * worker's event builder, with the previous object line as its Deployment
 * and as the source of the parent and root job names (the worker takes
 * those from records too): floq_lineage_record_new() must then give a key
 * and a JSON RunEvent that the graph accepts, or a reason that is not
 * "out of memory". The raw bytes also go through
 * floq_lineage_parse_datasets() (a run's stdout), and the graph is
 * rendered as JSON and as DOT at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_lineage.h"

#define LINES_MAX 32

/* The worker's environment: allowed, secret-looking and credentialed. */
static const char *const fuzz_envp[] = {
        "PATH=/usr/bin:/bin", "HOME=/home/floq", "LANG=C.UTF-8",
        "TZ=http://user:pw@example/",  "API_TOKEN=x", "PGPASSWORD=y",
        "LC_ALL=\xc3\xa9\xff",         "=odd",        "NOEQUALS",
        NULL,
};

static void fail(const char *what, const char *detail) {
        fprintf(stderr, "fuzz_lineage: %s: %s\n", what, detail);
        abort();
}

static const char *str(const json_t *obj, const char *key) {
        return json_string_value(json_object_get(obj, key));
}

/* What `tail` reads of an event for its one-line summary. */
static void tail_fields(const json_t *ev) {
        const char *msg = str(json_object_get(json_object_get(
                                      json_object_get(ev, "run"), "facets"),
                                      "errorMessage"),
                              "message");
        size_t n = 0;

        (void)str(ev, "eventTime");
        (void)str(ev, "eventType");
        (void)str(json_object_get(ev, "job"), "namespace");
        (void)str(json_object_get(ev, "run"), "runId");
        n += json_array_size(json_object_get(ev, "inputs"));
        n += json_array_size(json_object_get(ev, "outputs"));
        for (; msg && *msg; msg++)
                n += (unsigned char)*msg < 0x20;
        (void)n;
}

/* The worker's side: @p rs a RunState, @p dep its Deployment (or NULL). */
static void build_event(floq_lineage_graph_t *g, const json_t *rs,
                        const json_t *dep, int line) {
        floq_lineage_opts_t opts;
        char *key = NULL, *value = NULL, errstr[256];
        const char *status = str(rs, "status");
        int type = floq_lineage_event_type_for_status(status);
        floq_err_t err;
        json_error_t jerr;
        json_t *ev;

        if (type < 0)
                type = line % FLOQ_LINEAGE__CNT;
        floq_lineage_opts_init(&opts);
        opts.event_time_ms = line % 3 ? 0 : 1772884800123LL;
        opts.envp = line % 2 ? fuzz_envp : NULL;
        opts.error_tail_max = line % 2 ? 37 : 0;
        opts.ignore_reported_datasets = line % 5 == 4;
        if (dep) {
                opts.namespace_default = str(dep, "namespace_default");
                opts.parent_job_namespace = str(dep, "namespace");
                opts.parent_job_name = str(dep, "name");
                opts.root_run_id = str(dep, "command_id");
                opts.root_job_namespace = str(dep, "backend");
                opts.root_job_name = str(dep, "spec");
        }
        err = floq_lineage_record_new((floq_lineage_event_type_t)type,
                                      line % 4 == 3 ? NULL : dep, rs, &opts,
                                      &key, &value, errstr, sizeof(errstr));
        if (err == FLOQ_ERR_NOMEM)
                fail("a record gave 'out of memory'", errstr);
        if (err)
                return;
        if (!key || !value)
                fail("no key or value", errstr);
        if (!(ev = json_loads(value, 0, &jerr)))
                fail("the event is not JSON", jerr.text);
        if (floq_lineage_graph_add(g, ev) != FLOQ_OK)
                fail("the graph refuses a built event", value);
        json_decref(ev);
        free(key);
        free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        floq_lineage_graph_t *g = floq_lineage_graph_new();
        const char *text = (const char *)data;
        json_t *prev = NULL, *gj, *ins = json_array(), *outs = json_array();
        size_t pos = 0;
        char *dump, *dot = NULL;
        size_t dotlen = 0;
        FILE *fp;
        int line;

        if (!g || !ins || !outs)
                abort();
        if (floq_lineage_parse_datasets(text, size, ins, outs) < 0)
                fail("parse_datasets", "failed");
        for (line = 0; line < LINES_MAX && pos < size; line++) {
                const char *nl = memchr(text + pos, '\n', size - pos);
                size_t len = nl ? (size_t)(nl - (text + pos)) : size - pos;
                json_error_t jerr;
                json_t *ev = json_loadb(text + pos, len, 0, &jerr);
                char *key;

                pos += len + 1;
                if (!ev) {
                        /* graph counts it as skipped */
                        json_t *none = json_object();

                        floq_lineage_graph_add(g, none);
                        json_decref(none);
                        continue;
                }
                floq_lineage_graph_add(g, ev);
                if (json_is_object(ev)) {
                        tail_fields(ev);
                        free(floq_lineage_key(ev));
                        build_event(g, ev, prev, line);
                        json_decref(prev);
                        prev = json_incref(ev);
                } else if ((key = floq_lineage_key(ev))) {
                        fail("a key for a non-object", key);
                }
                json_decref(ev);
        }
        json_decref(prev);
        if (!(gj = floq_lineage_graph_to_json(g)))
                fail("graph_to_json", "NULL");
        if (!(dump = json_dumps(gj, JSON_COMPACT | JSON_SORT_KEYS)))
                fail("graph JSON", "cannot dump");
        free(dump);
        json_decref(gj);
        if (!(fp = open_memstream(&dot, &dotlen)) ||
            floq_lineage_graph_write_dot(g, fp) || fclose(fp))
                fail("graph DOT", "cannot write");
        free(dot);
        floq_lineage_graph_destroy(g);
        json_decref(ins);
        json_decref(outs);
        return 0;
}
