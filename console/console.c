/*
 * console.c - one console: the store, its consumer and its server, run
 * until stopped. The consumer runs on the calling thread; libmicrohttpd
 * answers on its own, both meeting in the store's lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_int.h"

/* The memory limit of this process's cgroup (v2 memory.max, v1
 * memory.limit_in_bytes), 0 when there is none or it cannot be read. */
static int64_t cgroup_memory_limit(void) {
        static const char *const paths[] = {
                "/sys/fs/cgroup/memory.max",
                "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        };
        size_t i;

        for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                FILE *f = fopen(paths[i], "r");
                long long v = 0;
                int n;

                if (!f)
                        continue;
                n = fscanf(f, "%lld", &v);
                fclose(f);
                /* "max" (no limit) does not scan; v1 says ~2^63 */
                if (n == 1 && v > 0 && v < ((long long)1 << 60))
                        return (int64_t)v;
        }
        return 0;
}

int64_t floq_console_bytes_budget(int64_t limit) {
        /* the store's values, with the allocator's slack, the pages being
         * rendered and librdkafka's buffers, within the container's
         * limit: three fifths of it */
        int64_t b = CSTORE_BYTES_DEFAULT;

        if (limit > 0 && limit / 5 * 3 < b)
                b = limit / 5 * 3;
        return b;
}

struct floq_console_s {
        const floq_conf_t *conf;
        cstore_t store;
        volatile sig_atomic_t stop;
};

floq_console_t *floq_console_new(const floq_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
        floq_console_t *con = calloc(1, sizeof(*con));
        climits_t lim;

        if (!con) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        con->conf = conf;
        lim.runs_max = floq_conf_int(conf, "console.runs.max");
        lim.run_events_max = floq_conf_int(conf, "console.run.events.max");
        lim.events_max = floq_conf_int(conf, "console.events.max");
        lim.dlq_max = floq_conf_int(conf, "console.dlq.max");
        lim.field_max = floq_conf_int(conf, "console.field.max.bytes");
        lim.page_size = floq_conf_int(conf, "console.page.size");
        lim.bytes_max = floq_console_bytes_budget(cgroup_memory_limit());
        if (cstore_init(&con->store, &lim)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                free(con);
                return NULL;
        }
        return con;
}

floq_err_t floq_console_run(floq_console_t *con, char *errstr,
                            size_t errstr_size) {
        const char *listen = floq_conf_str(con->conf, "console.listen");
        cfollow_t *f;
        cserver_t *srv;

        if (!(f = cfollow_new(con->conf, &con->store, errstr, errstr_size)))
                return FLOQ_ERR_KAFKA;
        if (!(srv = cserver_new(listen, &con->store, errstr, errstr_size))) {
                cfollow_destroy(f);
                return FLOQ_ERR_CONFIG;
        }
        floq_notice("console", "serving http://%s/runs", listen);
        while (!con->stop)
                cfollow_poll(f, 200);
        floq_notice("console", "stopping");
        cserver_destroy(srv);
        cfollow_destroy(f);
        return FLOQ_OK;
}

void floq_console_stop(floq_console_t *con) {
        if (con)
                con->stop = 1;
}

void floq_console_destroy(floq_console_t *con) {
        if (!con)
                return;
        cstore_release(&con->store);
        free(con);
}
