/*
 * cli.c - floq-console as a program: flags, the configuration (file <
 * environment < flags, the one table of common/config.c), the logger and
 * the signals, then the console until SIGTERM or SIGINT. Exit status: 0
 * after a stop, 1 on a runtime error, 2 on a usage or configuration error.
 */
#include <stdio.h>

#include "console_int.h"

static void stop_console(void *c) {
        floq_console_stop(c);
}

static void usage(FILE *out) {
        fprintf(out,
                "Usage: floq-console [-b BROKERS] [-l HOST:PORT] [-F FILE] "
                "[-X KEY=VALUE]...\n"
                "                    [-o NAME=VALUE]... [-v|-q] "
                "[--log-json]\n"
                "\n"
                "The web console behind every run URL. It reads the "
                "compacted deployments,\n"
                "schedules and runs topics from their beginning, follows "
                "them and the replies,\n"
                "lineage and DLQ topics, and serves what it read:\n"
                "\n"
                "  /runs/RUN_ID   a run: state, attempts, worker, backend "
                "link, parameters,\n"
                "                 output tail, lineage, the commands that "
                "touched it\n"
                "  /runs          runs, newest first: ?deployment= &state= "
                "&since= &until=\n"
                "                 (RFC 3339 or Unix ms) &page= &per_page= "
                "(1-200)\n"
                "  /deployments   deployments, their last runs and "
                "schedules' next fire times\n"
                "  /dlq           recent rejects with their reasons\n"
                "  /healthz       200 once the state topics are read, 503 "
                "before\n"
                "\n"
                "HTML for browsers, JSON with 'Accept: application/json'. "
                "A console keeps no\n"
                "state of its own and never writes to Kafka: run as many as "
                "you like behind\n"
                "one load balancer (docs/console.md).\n"
                "\n"
                "Options:\n"
                "  -b BROKERS       bootstrap servers (the 'brokers' "
                "property)\n"
                "  -l HOST:PORT     address to serve (console.listen)\n"
                "  -F, -c FILE      properties file: key=value lines; keys "
                "that are not floq\n"
                "                   properties are librdkafka settings\n"
                "  -X KEY=VALUE     librdkafka property, passed verbatim "
                "(repeatable)\n"
                "  -o NAME=VALUE    floq property from the table below "
                "(repeatable)\n"
                "  -v, -q           more / less logging (repeatable)\n"
                "      --log-json   log JSON lines\n"
                "      --dump-config  print the effective configuration "
                "(secrets hidden) and exit\n"
                "  -h, --help       this help\n"
                "  -V, --version    print the version\n"
                "\n"
                "Precedence: flags > environment > file; every property can "
                "be set as\n"
                "FLOQ_<NAME> (console.listen: FLOQ_CONSOLE_LISTEN). The "
                "console reads brokers,\n"
                "topic.*, message.max.bytes, log.* and console.*.\n"
                "\n"
                "Properties:\n");
        floq_conf_print_help(out);
}

int floq_console_main(int argc, char **argv) {
        static const floq_prog_opt_t opts[] = {
                { "listen", 'l', "console.listen" },
                { NULL, 0, NULL },
        };
        static const floq_prog_t prog = { "floq-console", usage, opts };
        floq_console_t *c;
        floq_conf_t *conf;
        char errstr[512];
        floq_err_t err;
        int rc;

        if ((rc = floq_prog_config(&prog, argc, argv, &conf)) >= 0)
                return rc;
        if (!(c = floq_console_new(conf, errstr, sizeof(errstr)))) {
                floq_err("console", "cannot start: %s", errstr);
                floq_conf_destroy(conf);
                return 1;
        }
        floq_prog_signals(stop_console, c);
        err = floq_console_run(c, errstr, sizeof(errstr));
        if (err)
                floq_err("console", "%s", errstr);
        rc = err == FLOQ_OK ? 0 : err == FLOQ_ERR_CONFIG ? 2 : 1;
        floq_prog_signals(NULL, NULL); /* c is freed next */
        floq_console_destroy(c);
        floq_conf_destroy(conf);
        return rc;
}
