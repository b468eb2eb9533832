/*
 * graph.c - the lineage graph behind `floq-lineage graph`: jobs and datasets
 * as nodes, dataset→job edges for inputs and job→dataset edges for outputs,
 * each run reduced to its latest state. Events are folded in one at a time
 * (from the topic or a file), so memory grows with the number of distinct
 * jobs, datasets and runs, not events. jansson objects serve as the hash
 * maps; output is sorted so the same events always give the same text.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lineage_int.h"

struct floq_lineage_graph_s {
        json_t *jobs;     /* "job:NS/NAME" -> {namespace,name} */
        json_t *datasets; /* "dataset:NS/NAME" -> {namespace,name} */
        json_t *edges;    /* "FROM\nTO" -> {from,to,kind} */
        json_t *runs;     /* runId -> {job,state,time,seq,eventTime} */
        int64_t seq;      /* arrival counter: ties of eventTime */
        int64_t skipped;
};

floq_lineage_graph_t *floq_lineage_graph_new(void) {
        floq_lineage_graph_t *g = calloc(1, sizeof(*g));

        if (!g)
                return NULL;
        g->jobs = json_object();
        g->datasets = json_object();
        g->edges = json_object();
        g->runs = json_object();
        if (!g->jobs || !g->datasets || !g->edges || !g->runs) {
                floq_lineage_graph_destroy(g);
                return NULL;
        }
        return g;
}

void floq_lineage_graph_destroy(floq_lineage_graph_t *g) {
        if (!g)
                return;
        json_decref(g->jobs);
        json_decref(g->datasets);
        json_decref(g->edges);
        json_decref(g->runs);
        free(g);
}

/* RFC 3339 text to Unix ms; INT64_MIN when it does not parse. */
static int64_t parse_time(const char *s) {
        struct tm tm = { 0 };
        int y, mo, d, h, mi, sec, n = 0, off = 0;
        int64_t ms = 0, scale = 100;
        const char *p;

        if (!s || sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d,
                         &h, &mi, &sec, &n) != 6 ||
            n == 0)
                return INT64_MIN;
        p = s + n;
        if (*p == '.') {
                for (p++; *p >= '0' && *p <= '9'; p++) {
                        ms += (*p - '0') * scale;
                        scale /= 10;
                }
        }
        if (*p == '+' || *p == '-') {
                int oh, om;

                if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
                        return INT64_MIN;
                off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        } else if (*p != 'Z' && *p != 'z') {
                return INT64_MIN;
        }
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        return ((int64_t)timegm(&tm) - off) * 1000 + ms;
}

static char *node_id(const char *kind, const char *ns, const char *name) {
        char *id = NULL;

        if (asprintf(&id, "%s:%s/%s", kind, ns, name) < 0)
                return NULL;
        return id;
}

/* Add a dataset node and its edge to/from job_id. 0 ok, -1 ENOMEM, 1 bad */
static int add_dataset(floq_lineage_graph_t *g, const json_t *ds,
                       const char *job_id, int is_input) {
        const char *ns = json_string_value(json_object_get(ds, "namespace"));
        const char *name = json_string_value(json_object_get(ds, "name"));
        char *id, *ekey = NULL;
        int rc = -1;

        if (!ns || !name)
                return 1;
        if (!(id = node_id("dataset", ns, name)))
                return -1;
        if (!json_object_get(g->datasets, id) &&
            json_object_set_new(g->datasets, id,
                                json_pack("{s:s, s:s}", "namespace", ns,
                                          "name", name)))
                goto out;
        if (asprintf(&ekey, "%s\n%s", is_input ? id : job_id,
                     is_input ? job_id : id) < 0) {
                ekey = NULL;
                goto out;
        }
        if (!json_object_get(g->edges, ekey) &&
            json_object_set_new(g->edges, ekey,
                                json_pack("{s:s, s:s, s:s}", "from",
                                          is_input ? id : job_id, "to",
                                          is_input ? job_id : id, "kind",
                                          is_input ? "input" : "output")))
                goto out;
        rc = 0;
out:
        free(id);
        free(ekey);
        return rc;
}

static int is_terminal(const char *state) {
        return state && (!strcmp(state, "COMPLETE") || !strcmp(state, "FAIL") ||
                         !strcmp(state, "ABORT"));
}

floq_err_t floq_lineage_graph_add(floq_lineage_graph_t *g,
                                  const json_t *event) {
        const json_t *job = json_object_get(event, "job");
        const json_t *run = json_object_get(event, "run");
        const char *ns = json_string_value(json_object_get(job, "namespace"));
        const char *name = json_string_value(json_object_get(job, "name"));
        const char *run_id = json_string_value(json_object_get(run, "runId"));
        const char *type = json_string_value(json_object_get(event,
                                                             "eventType"));
        const char *when = json_string_value(json_object_get(event,
                                                             "eventTime"));
        char *jid = NULL;
        json_t *r, *ds;
        int64_t t;
        size_t i;
        floq_err_t err = FLOQ_ERR_NOMEM;

        if (!ns || !name || !run_id) {
                g->skipped++;
                return FLOQ_ERR_INVALID_ARG;
        }
        if (!type)
                type = "OTHER";
        t = parse_time(when);
        g->seq++;
        if (!(jid = node_id("job", ns, name)))
                goto out;
        if (!json_object_get(g->jobs, jid) &&
            json_object_set_new(g->jobs, jid,
                                json_pack("{s:s, s:s}", "namespace", ns,
                                          "name", name)))
                goto out;
        json_array_foreach(json_object_get(event, "inputs"), i, ds) {
                if (add_dataset(g, ds, jid, 1) < 0)
                        goto out;
        }
        json_array_foreach(json_object_get(event, "outputs"), i, ds) {
                if (add_dataset(g, ds, jid, 0) < 0)
                        goto out;
        }

        /* The run's state is its latest event; an OTHER event adds facts,
         * not a transition, so it never replaces a state. */
        r = json_object_get(g->runs, run_id);
        if (!strcmp(type, "OTHER") && r) {
                err = FLOQ_OK;
                goto out;
        }
        if (r) {
                int64_t rt = json_integer_value(json_object_get(r, "time"));
                const char *rs = json_string_value(json_object_get(r,
                                                                   "state"));

                /* older than what we have, or a late non-terminal event
                 * after the terminal one at the same instant: keep */
                if (t < rt || (t == rt && is_terminal(rs) &&
                               !is_terminal(type))) {
                        err = FLOQ_OK;
                        goto out;
                }
        }
        if (json_object_set_new(
                    g->runs, run_id,
                    json_pack("{s:s, s:s, s:I, s:I, s:s}", "job", jid, "state",
                              type, "time", (json_int_t)t, "seq",
                              (json_int_t)g->seq, "eventTime",
                              when ? when : "")))
                goto out;
        err = FLOQ_OK;
out:
        free(jid);
        return err;
}

/* -------------------------------------------------------------- rendering */

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj, sorted; caller frees the array (not the strings). */
static const char **sorted_keys(const json_t *obj, size_t *cntp) {
        size_t n = json_object_size(obj), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof(*keys));
        const char *k;
        json_t *v;

        if (!keys)
                return NULL;
        json_object_foreach((json_t *)obj, k, v) {
                (void)v;
                keys[i++] = k;
        }
        qsort(keys, n, sizeof(*keys), cmp_str);
        *cntp = n;
        return keys;
}

/* Per job: number of runs and the latest run (by time, then arrival). */
static json_t *job_summaries(const floq_lineage_graph_t *g) {
        json_t *sum = json_object(), *r, *s;
        const char *run_id;

        if (!sum)
                return NULL;
        json_object_foreach(g->runs, run_id, r) {
                const char *jid = json_string_value(json_object_get(r, "job"));
                int64_t t = json_integer_value(json_object_get(r, "time"));
                int64_t seq = json_integer_value(json_object_get(r, "seq"));

                s = json_object_get(sum, jid);
                if (!s) {
                        s = json_pack("{s:I, s:s, s:O, s:I, s:I}", "runs",
                                      (json_int_t)0, "lastRunId", run_id,
                                      "lastState", json_object_get(r, "state"),
                                      "time", (json_int_t)t, "seq",
                                      (json_int_t)seq);
                        if (!s || json_object_set_new(sum, jid, s)) {
                                json_decref(sum);
                                return NULL;
                        }
                } else {
                        int64_t st = json_integer_value(
                                json_object_get(s, "time"));
                        int64_t sseq = json_integer_value(
                                json_object_get(s, "seq"));

                        if (t > st || (t == st && seq > sseq)) {
                                json_object_set_new(s, "lastRunId",
                                                    json_string(run_id));
                                json_object_set(s, "lastState",
                                                json_object_get(r, "state"));
                                json_object_set_new(s, "time",
                                                    json_integer(t));
                                json_object_set_new(s, "seq",
                                                    json_integer(seq));
                        }
                }
                json_object_set_new(
                        s, "runs",
                        json_integer(
                                json_integer_value(json_object_get(s, "runs")) +
                                1));
        }
        return sum;
}

json_t *floq_lineage_graph_to_json(const floq_lineage_graph_t *g) {
        json_t *out = NULL, *nodes, *edges, *runs, *sum = NULL, *n, *v, *s;
        const char **keys = NULL;
        size_t cnt = 0, i;

        if (!(sum = job_summaries(g)))
                return NULL;
        out = json_pack("{s:[], s:[], s:[], s:I}", "nodes", "edges", "runs",
                        "skipped", (json_int_t)g->skipped);
        if (!out)
                goto fail;
        nodes = json_object_get(out, "nodes");
        edges = json_object_get(out, "edges");
        runs = json_object_get(out, "runs");

        if (!(keys = sorted_keys(g->datasets, &cnt)))
                goto fail;
        for (i = 0; i < cnt; i++) {
                v = json_object_get(g->datasets, keys[i]);
                n = json_pack("{s:s, s:s, s:O, s:O}", "id", keys[i], "kind",
                              "dataset", "namespace",
                              json_object_get(v, "namespace"), "name",
                              json_object_get(v, "name"));
                if (json_array_append_new(nodes, n))
                        goto fail;
        }
        free(keys);
        if (!(keys = sorted_keys(g->jobs, &cnt)))
                goto fail;
        for (i = 0; i < cnt; i++) {
                v = json_object_get(g->jobs, keys[i]);
                s = json_object_get(sum, keys[i]);
                n = json_pack("{s:s, s:s, s:O, s:O, s:I}", "id", keys[i],
                              "kind", "job", "namespace",
                              json_object_get(v, "namespace"), "name",
                              json_object_get(v, "name"), "runs",
                              (json_int_t)json_integer_value(
                                      json_object_get(s, "runs")));
                if (n && s) {
                        json_object_set(n, "lastRunId",
                                        json_object_get(s, "lastRunId"));
                        json_object_set(n, "lastState",
                                        json_object_get(s, "lastState"));
                }
                if (json_array_append_new(nodes, n))
                        goto fail;
        }
        free(keys);
        if (!(keys = sorted_keys(g->edges, &cnt)))
                goto fail;
        for (i = 0; i < cnt; i++) {
                const char *jid;

                v = json_object_get(g->edges, keys[i]);
                n = json_deep_copy(v);
                jid = json_string_value(json_object_get(
                        v, !strcmp(json_string_value(json_object_get(v,
                                                                     "kind")),
                                   "input")
                                   ? "to"
                                   : "from"));
                s = json_object_get(sum, jid);
                if (n && s)
                        json_object_set(n, "lastState",
                                        json_object_get(s, "lastState"));
                if (json_array_append_new(edges, n))
                        goto fail;
        }
        free(keys);
        if (!(keys = sorted_keys(g->runs, &cnt)))
                goto fail;
        for (i = 0; i < cnt; i++) {
                v = json_object_get(g->runs, keys[i]);
                n = json_pack("{s:s, s:O, s:O, s:O}", "runId", keys[i], "job",
                              json_object_get(v, "job"), "state",
                              json_object_get(v, "state"), "eventTime",
                              json_object_get(v, "eventTime"));
                if (json_array_append_new(runs, n))
                        goto fail;
        }
        free(keys);
        json_decref(sum);
        return out;
fail:
        free(keys);
        json_decref(sum);
        json_decref(out);
        return NULL;
}

/* A DOT double-quoted string's body: quotes, backslashes, newlines. */
static void dot_str(FILE *out, const char *s) {
        for (; s && *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', out);
                if (*s == '\n')
                        fputs("\\n", out);
                else if ((unsigned char)*s >= 0x20)
                        fputc(*s, out);
        }
}

static const char *state_color(const char *state) {
        if (!state)
                return "white";
        if (!strcmp(state, "COMPLETE"))
                return "palegreen";
        if (!strcmp(state, "FAIL"))
                return "salmon";
        if (!strcmp(state, "ABORT"))
                return "khaki";
        return "lightblue"; /* START, RUNNING, OTHER: still going */
}

int floq_lineage_graph_write_dot(const floq_lineage_graph_t *g, FILE *out) {
        json_t *gj = floq_lineage_graph_to_json(g), *n;
        size_t i;

        if (!gj)
                return -1;
        fputs("digraph lineage {\n"
              "  rankdir=LR;\n"
              "  node [fontname=\"Helvetica\", fontsize=10];\n"
              "  edge [fontname=\"Helvetica\", fontsize=9];\n",
              out);
        json_array_foreach(json_object_get(gj, "nodes"), i, n) {
                const char *kind = json_string_value(json_object_get(n,
                                                                     "kind"));
                const char *state = json_string_value(
                        json_object_get(n, "lastState"));

                fputs("  \"", out);
                dot_str(out, json_string_value(json_object_get(n, "id")));
                fputs("\" [label=\"", out);
                dot_str(out, json_string_value(json_object_get(n, "name")));
                fputs("\\n", out);
                dot_str(out,
                        json_string_value(json_object_get(n, "namespace")));
                if (!strcmp(kind, "job")) {
                        long long runs = (long long)json_integer_value(
                                json_object_get(n, "runs"));

                        fputs("\\n", out);
                        dot_str(out, state ? state : "no runs");
                        fprintf(out,
                                ", %lld run%s\", shape=box, "
                                "style=\"rounded,filled\", fillcolor=%s];\n",
                                runs, runs == 1 ? "" : "s",
                                state_color(state));
                } else {
                        fputs("\", shape=cylinder];\n", out);
                }
        }
        json_array_foreach(json_object_get(gj, "edges"), i, n) {
                const char *state = json_string_value(
                        json_object_get(n, "lastState"));

                fputs("  \"", out);
                dot_str(out, json_string_value(json_object_get(n, "from")));
                fputs("\" -> \"", out);
                dot_str(out, json_string_value(json_object_get(n, "to")));
                fputs("\" [label=\"", out);
                dot_str(out, state);
                fprintf(out, "\", color=\"%s\"];\n",
                        state && !strcmp(state, "FAIL")    ? "red3"
                        : state && !strcmp(state, "ABORT") ? "goldenrod"
                                                           : "gray30");
        }
        fputs("}\n", out);
        json_decref(gj);
        return ferror(out) ? -1 : 0;
}
