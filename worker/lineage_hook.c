/*
 * lineage_hook.c - the worker's OpenLineage output (G7, issue 6). runs.c
 * calls worker_lineage_emit() right after it wrote a run's RunState into
 * the open transaction; this file turns that RunState and the run's
 * Deployment (from the partition state) into a RunEvent with
 * lineage/floq_lineage.h and produces it to topic.lineage through the same
 * transactional producer (wtxn_produce_raw), so the event is visible to
 * read_committed readers exactly when the RunState and the reply are.
 *
 * One START and one terminal event per run: runs.c asks for START only when
 * no earlier attempt started (RunState.started_at unset), later starts
 * become RUNNING; the terminal type is taken from the RunState's status
 * (floq_lineage_event_type_for_status), and a run that ends without ever
 * starting (cancelled while queued, its deployment gone, ...) gets its
 * START just before its terminal event. A transaction that aborts is
 * replayed from Kafka's state, which has no started_at either, so its
 * START is written again in the replaying transaction.
 *
 * A remote run (its RunState's backend outlives the worker: http, airflow,
 * prefect, dagster, kubernetes) gets floq's floq_backend run facet in every event, with
 * the backend's id of the run and its page in the backend's UI
 * (RunState.backend_ref, backend_url; docs/lineage.md). A local run's
 * reference (a pid) means nothing outside its host: no facet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "floq_lineage.h"
#include "worker_int.h"

/* Longest parent chain followed to find a run's root. */
#define WLINEAGE_PARENT_DEPTH 32
/* The walk holds the parent and each link it looked up (wpart_run()
 * borrows): they must outlive that many lookups. */
_Static_assert(WLINEAGE_PARENT_DEPTH + 1 < WPART_DECODED_MAX,
               "the lineage walk borrows more than wpart_run() keeps");

/* The job namespace of a run of @p dep (its own, else the default). */
static const char *job_namespace(const json_t *dep,
                                 const floq_lineage_opts_t *lo) {
        const char *ns = dep ? wjs(dep, "namespace") : NULL;

        if (ns && *ns)
                return ns;
        return lo->namespace_default ? lo->namespace_default
                                     : FLOQ_LINEAGE_NAMESPACE_DEFAULT;
}

/*
 * The parent facet's job (and the root's) when the parent run is known on
 * this partition. Only partition @p p is looked at: runs of other
 * partitions come and go with the assignment, and START and the terminal
 * event of one run must get the same parent (hence the same Kafka key).
 */
static void parent_jobs(floq_worker_t *w, int32_t p, const json_t *rs,
                        floq_lineage_opts_t *lo) {
        wpart_t *part = &w->parts[p];
        const json_t *parent, *cur, *up;
        const char *id;
        int depth;

        if (!(id = wjs(rs, "parent_run_id")) ||
            !(parent = wpart_run(part, id)) ||
            !wjs(parent, "deployment"))
                return;
        lo->parent_job_name = wjs(parent, "deployment");
        lo->parent_job_namespace = job_namespace(
                wpart_deployment(part, lo->parent_job_name), lo);

        /* The root: the top of the chain, when every link is known. */
        cur = parent;
        for (depth = 0; depth < WLINEAGE_PARENT_DEPTH; depth++) {
                if (!(id = wjs(cur, "parent_run_id")))
                        break;
                if (!(up = wpart_run(part, id)) ||
                    !wjs(up, "deployment"))
                        return; /* a link is unknown: no root */
                cur = up;
        }
        if (cur == parent || depth == WLINEAGE_PARENT_DEPTH)
                return;
        lo->root_run_id = wjs(cur, "run_id");
        lo->root_job_name = wjs(cur, "deployment");
        lo->root_job_namespace = job_namespace(
                wpart_deployment(part, lo->root_job_name), lo);
        if (!lo->root_run_id)
                lo->root_job_name = lo->root_job_namespace = NULL;
}

/* 1 when run @p rs's backend (RunState.backend) runs it elsewhere and it
 * goes on without its worker. */
static int run_is_remote(const json_t *rs) {
        const char *name = wjs(rs, "backend");
        const floq_backend_ops_t *ops = name ? floq_backend_find(name) : NULL;

        return ops && ops->outlives_worker;
}

/* Build one event and produce it in the open transaction. Errors building
 * it are logged and leave the transaction alone. */
static void emit_one(floq_worker_t *w, floq_lineage_event_type_t type,
                     const json_t *dep, const json_t *rs,
                     const floq_lineage_opts_t *lo) {
        char *key = NULL, *value = NULL, errstr[256];
        const char *name = floq_lineage_event_type_name(type);

        if (floq_lineage_record_new(type, dep, rs, lo, &key, &value, errstr,
                                    sizeof(errstr)) != FLOQ_OK) {
                floq_err_ids("lineage", wjs(rs, "run_id"), wjs(rs, "command_id"),
                             "run %s: cannot build the %s event, "
                             "not emitted: %s",
                             wjs(rs, "run_id") ? wjs(rs, "run_id") : "?", name,
                             errstr);
                return;
        }
        if (wtxn_produce_raw(w, w->t_lineage, RD_KAFKA_PARTITION_UA, key,
                             strlen(key), value, strlen(value), NULL) ==
            FLOQ_OK)
                floq_debug_ids("lineage", wjs(rs, "run_id"), wjs(rs, "command_id"),
                               "run %s: %s (key %s)",
                               wjs(rs, "run_id"), name, key);
        free(key);
        free(value);
}

void worker_lineage_emit(floq_worker_t *w, int32_t p, const json_t *rs,
                         const char *event) {
        floq_lineage_opts_t lo;
        const json_t *dep;
        json_t *local = NULL;
        const char *status;
        int type;

        if (!floq_conf_bool(w->conf, "lineage.enabled") || !rs || !event ||
            p < 0 || p >= w->part_cnt)
                return;
        type = floq_lineage_event_type_parse(event);
        status = wjs(rs, "status");
        if (type != FLOQ_LINEAGE_START && type != FLOQ_LINEAGE_RUNNING) {
                /* Terminal: the status decides (LOST is ABORT, TIMED_OUT
                 * is FAIL), whatever name the caller used. */
                int by_status = status ? floq_lineage_event_type_for_status(
                                                 status)
                                       : -1;

                if (by_status < 0 || by_status == FLOQ_LINEAGE_RUNNING) {
                        floq_err_ids("lineage", wjs(rs, "run_id"),
                                     wjs(rs, "command_id"),
                                     "run %s: no %s event for status %s",
                                     wjs(rs, "run_id") ? wjs(rs, "run_id") : "?",
                                     event, status ? status : "?");
                        return;
                }
                type = by_status;
        }
        if (!run_is_remote(rs)) {
                /* lineage/event.c makes the facet from these fields */
                if (!(local = json_copy((json_t *)rs)))
                        return;
                json_object_del(local, "backend");
                json_object_del(local, "backend_url");
                rs = local;
        }
        dep = wpart_deployment(&w->parts[p], wjs(rs, "deployment"));
        floq_lineage_opts_from_conf(&lo, w->conf);
        parent_jobs(w, p, rs, &lo);

        if (type != FLOQ_LINEAGE_START && type != FLOQ_LINEAGE_RUNNING &&
            !json_is_integer(json_object_get(rs, "started_at"))) {
                /* Ends without having started: its START comes first, at
                 * the same time, so the run still has the pair (G7). */
                floq_lineage_opts_t so = lo;

                so.event_time_ms = wji(rs, "finished_at", 0);
                emit_one(w, FLOQ_LINEAGE_START, dep, rs, &so);
        }
        emit_one(w, (floq_lineage_event_type_t)type, dep, rs, &lo);
        json_decref(local);
}
