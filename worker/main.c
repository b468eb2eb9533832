/*
 * main.c - floq-worker, a thin program over the worker library: parse
 * flags, build the configuration (file < environment < flags), set up the
 * logger and the signals, run the worker until it drains. Exit status: 0
 * after a clean drain, 1 on a fatal runtime error (fenced by a newer
 * instance, Kafka unusable), 2 on a usage or configuration error.
 */
#include <stdio.h>

#include "floq_common.h"
#include "floq_worker.h"

static void stop_worker(void *w) {
        floq_worker_stop(w);
}

static void usage(FILE *out) {
        fprintf(out,
                "Usage: floq-worker [-b BROKERS] [-F FILE] [-X KEY=VALUE]... "
                "[-o NAME=VALUE]... [--slot N] [-v|-q] [--log-json]\n"
                "\n"
                "Joins the floq worker fleet (a Kafka consumer group on the "
                "commands topic),\n"
                "executes deploy/run/stop/status commands and answers each "
                "exactly once.\n"
                "\n"
                "Options:\n"
                "  -b BROKERS       bootstrap servers (the 'brokers' "
                "property)\n"
                "  -F, -c FILE      properties file: key=value lines; keys "
                "that are not floq\n"
                "                   properties are librdkafka settings\n"
                "  -X KEY=VALUE     librdkafka property, passed verbatim "
                "(repeatable)\n"
                "  -o NAME=VALUE    floq property from the table below "
                "(repeatable)\n"
                "      --slot N     this worker's slot on its host "
                "(worker.slot): the default\n"
                "                   worker id is <hostname>-<slot>, stable "
                "across restarts; each\n"
                "                   worker on a host needs its own\n"
                "  -v, -q           more / less logging (repeatable)\n"
                "      --log-json   log JSON lines\n"
                "      --dump-config  print the effective configuration "
                "(secrets hidden) and exit\n"
                "  -h, --help       this help\n"
                "  -V, --version    print the version\n"
                "\n"
                "Precedence: flags > environment > file. Every property can "
                "be set in the\n"
                "environment as FLOQ_<NAME>, upper case with '.' and '-' as "
                "'_'\n"
                "(worker.concurrency: FLOQ_WORKER_CONCURRENCY); FLOQ_CONFIG "
                "names the file.\n"
                "\n"
                "On SIGTERM or SIGINT the worker drains: it stops taking "
                "commands, lets runs\n"
                "finish for worker.drain.grace.ms, hands the rest over to "
                "the next owner,\n"
                "commits and leaves the group. A second signal exits at "
                "once.\n"
                "\n"
                "Exit status: 0 drained, 1 fatal error (e.g. fenced), 2 "
                "usage or configuration.\n"
                "\n"
                "Properties:\n");
        floq_conf_print_help(out);
}

int main(int argc, char **argv) {
        static const floq_prog_opt_t opts[] = {
                { "slot", 0, "worker.slot" },
                { NULL, 0, NULL },
        };
        static const floq_prog_t prog = { "floq-worker", usage, opts };
        floq_worker_t *w;
        floq_conf_t *conf;
        char errstr[512];
        floq_err_t err;
        int rc;

        if ((rc = floq_prog_config(&prog, argc, argv, &conf)) >= 0)
                return rc;
        if (!(w = floq_worker_new(conf, errstr, sizeof(errstr)))) {
                floq_err("worker", "cannot start: %s", errstr);
                floq_conf_destroy(conf);
                return 2;
        }
        floq_prog_signals(stop_worker, w);
        err = floq_worker_run(w);
        rc = err == FLOQ_OK ? 0 : err == FLOQ_ERR_CONFIG ? 2 : 1;
        floq_prog_signals(NULL, NULL); /* w is freed next */
        floq_worker_destroy(w);
        floq_notice("worker", "exit %d", rc);
        floq_conf_destroy(conf);
        return rc;
}
