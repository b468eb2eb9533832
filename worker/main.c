/*
 * main.c - floq-worker, a thin program over the worker library: parse
 * flags, build the configuration (file < environment < flags), set up the
 * logger and the signals, run the worker until it drains. Exit status: 0
 * after a clean drain, 1 on a fatal runtime error (fenced by a newer
 * instance, Kafka unusable), 2 on a usage or configuration error.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floq_common.h"
#include "floq_worker.h"

static floq_worker_t *g_worker;
static volatile sig_atomic_t g_signalled;

static void on_signal(int sig) {
        (void)sig;
        if (g_signalled)
                _exit(130); /* second signal: at once */
        g_signalled = 1;
        floq_worker_stop(g_worker);
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

struct flag {
        char kind; /* 'b', 'X', 'o', 'S' (--slot) */
        const char *arg;
};

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "log-json", no_argument, NULL, 'J' },
                { "dump-config", no_argument, NULL, 'D' },
                { "slot", required_argument, NULL, 'S' },
                { NULL, 0, NULL, 0 },
        };
        struct flag *flags = calloc((size_t)argc + 1, sizeof(*flags));
        size_t nflags = 0, i;
        const char *file = NULL, *v;
        int verbosity = 0, log_json = 0, dump = 0, opt, level, rc = 2;
        floq_conf_t *conf = NULL;
        char errstr[512];
        struct sigaction sa;
        floq_err_t err;

        if (!flags)
                return 1;
        while ((opt = getopt_long(argc, argv, "b:c:F:X:o:vqhV", longopts,
                                  NULL)) != -1) {
                switch (opt) {
                case 'b':
                case 'X':
                case 'o':
                case 'S':
                        flags[nflags].kind = (char)opt;
                        flags[nflags++].arg = optarg;
                        break;
                case 'c':
                case 'F':
                        file = optarg;
                        break;
                case 'v':
                        verbosity++;
                        break;
                case 'q':
                        verbosity--;
                        break;
                case 'J':
                        log_json = 1;
                        break;
                case 'D':
                        dump = 1;
                        break;
                case 'h':
                        usage(stdout);
                        rc = 0;
                        goto out;
                case 'V':
                        printf("floq-worker %s\n", FLOQ_VERSION_STR);
                        rc = 0;
                        goto out;
                default:
                        usage(stderr);
                        goto out;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "floq-worker: unexpected argument '%s'\n",
                        argv[optind]);
                goto out;
        }

        if (!(conf = floq_conf_new())) {
                fprintf(stderr, "floq-worker: out of memory\n");
                rc = 1;
                goto out;
        }
        if (!file && (v = getenv("FLOQ_CONFIG")) && *v)
                file = v;
        /* Remembered as "config": the process backend checks that a job
         * user cannot read it (it may hold secrets inline). */
        if (file && (floq_conf_load_file(conf, file, errstr,
                                         sizeof(errstr)) ||
                     floq_conf_set(conf, "config", file, errstr,
                                   sizeof(errstr)))) {
                fprintf(stderr, "floq-worker: %s\n", errstr);
                goto out;
        }
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr))) {
                fprintf(stderr, "floq-worker: %s\n", errstr);
                goto out;
        }
        for (i = 0; i < nflags; i++) {
                floq_err_t e;

                if (flags[i].kind == 'b')
                        e = floq_conf_set(conf, "brokers", flags[i].arg,
                                          errstr, sizeof(errstr));
                else if (flags[i].kind == 'S')
                        e = floq_conf_set(conf, "worker.slot", flags[i].arg,
                                          errstr, sizeof(errstr));
                else
                        e = floq_conf_set_pair(conf, flags[i].arg,
                                               flags[i].kind == 'X', errstr,
                                               sizeof(errstr));
                if (e) {
                        fprintf(stderr, "floq-worker: %s %s: %s\n",
                                flags[i].kind == 'S' ? "--slot"
                                : flags[i].kind == 'b' ? "-b"
                                : flags[i].kind == 'X' ? "-X" : "-o",
                                flags[i].arg, errstr);
                        goto out;
                }
        }

        if (dump) {
                floq_conf_dump(conf, stdout);
                rc = 0;
                goto out;
        }
        level = floq_log_level_parse(floq_conf_str(conf, "log.level"));
        if (level < 0)
                level = FLOQ_LOG_INFO;
        level += verbosity;
        if (level < FLOQ_LOG_ERR)
                level = FLOQ_LOG_ERR;
        if (level > FLOQ_LOG_DEBUG)
                level = FLOQ_LOG_DEBUG;
        if ((v = floq_conf_str(conf, "log.format")) && !strcmp(v, "json"))
                log_json = 1;
        floq_log_setup("floq-worker", level, log_json, stderr);

        if (!(g_worker = floq_worker_new(conf, errstr, sizeof(errstr)))) {
                floq_err("worker", "cannot start: %s", errstr);
                goto out;
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        err = floq_worker_run(g_worker);
        rc = err == FLOQ_OK ? 0 : err == FLOQ_ERR_CONFIG ? 2 : 1;
        floq_worker_destroy(g_worker);
        g_worker = NULL;
        floq_notice("worker", "exit %d", rc);
out:
        floq_conf_destroy(conf);
        free(flags);
        return rc;
}
