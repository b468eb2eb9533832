/*
 * prog.c - how every floq daemon starts (floq-worker, floq-console): the
 * common flags, the configuration (file < environment < flags, the one
 * table of config.c), the logger, and the signals that stop it. Each
 * program's main.c names its own options and calls these two functions.
 */
#include <execinfo.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floq_common.h"
#include "prog_int.h"

/* The common flags; a program's own options get codes from OPT_OWN. */
enum { OPT_LOG_JSON = 'J', OPT_DUMP = 'D', OPT_OWN = 256 };

/* A flag that sets a property, kept in command-line order. */
struct prog_flag {
        int code;        /* 'b', 'X', 'o', or OPT_OWN + i */
        const char *arg;
};

static int own_count(const floq_prog_t *prog) {
        int n = 0;

        while (prog->opts && prog->opts[n].long_name)
                n++;
        return n;
}

/* "-b", "--slot", "-l": how flag @p code is written, for messages. */
static void flag_name(const floq_prog_t *prog, int code, char *out,
                      size_t size) {
        if (code >= OPT_OWN)
                snprintf(out, size, "--%s",
                         prog->opts[code - OPT_OWN].long_name);
        else
                snprintf(out, size, "-%c", code);
}

/* Apply the property flags in order. */
static int apply_flags(const floq_prog_t *prog, floq_conf_t *conf,
                       const struct prog_flag *flags, size_t n) {
        char errstr[512], name[64];
        size_t i;

        for (i = 0; i < n; i++) {
                int c = flags[i].code;
                floq_err_t e;

                if (c == 'b')
                        e = floq_conf_set(conf, "brokers", flags[i].arg,
                                          errstr, sizeof(errstr));
                else if (c >= OPT_OWN)
                        e = floq_conf_set(conf,
                                          prog->opts[c - OPT_OWN].property,
                                          flags[i].arg, errstr,
                                          sizeof(errstr));
                else
                        e = floq_conf_set_pair(conf, flags[i].arg, c == 'X',
                                               errstr, sizeof(errstr));
                if (e) {
                        flag_name(prog, c, name, sizeof(name));
                        fprintf(stderr, "%s: %s %s: %s\n", prog->name, name,
                                flags[i].arg, errstr);
                        return -1;
                }
        }
        return 0;
}

/* The log level from log.level and -v/-q, and the format. */
static void setup_log(const floq_prog_t *prog, const floq_conf_t *conf,
                      int verbosity, int log_json) {
        const char *v;
        int level = floq_log_level_parse(floq_conf_str(conf, "log.level"));

        if (level < 0)
                level = FLOQ_LOG_INFO;
        level += verbosity;
        if (level < FLOQ_LOG_ERR)
                level = FLOQ_LOG_ERR;
        if (level > FLOQ_LOG_DEBUG)
                level = FLOQ_LOG_DEBUG;
        if ((v = floq_conf_str(conf, "log.format")) && !strcmp(v, "json"))
                log_json = 1;
        floq_log_setup(prog->name, level, log_json, stderr);
}

int floq_prog_config(const floq_prog_t *prog, int argc, char **argv,
                     floq_conf_t **confp) {
        static const struct option common[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "log-json", no_argument, NULL, OPT_LOG_JSON },
                { "dump-config", no_argument, NULL, OPT_DUMP },
        };
        const size_t ncommon = sizeof(common) / sizeof(common[0]);
        int nown = own_count(prog), verbosity = 0, log_json = 0, dump = 0;
        int opt, rc = 2, i;
        struct option *longopts = NULL;
        struct prog_flag *flags = NULL;
        char optstring[64] = "b:c:F:X:o:vqhV", errstr[512];
        const char *file = NULL, *v;
        floq_conf_t *conf = NULL;
        size_t nflags = 0, len;

        *confp = NULL;
        longopts = calloc(ncommon + (size_t)nown + 1, sizeof(*longopts));
        flags = calloc((size_t)argc + 1, sizeof(*flags));
        if (!longopts || !flags) {
                rc = 1;
                goto out;
        }
        memcpy(longopts, common, sizeof(common));
        for (i = 0; i < nown; i++) {
                longopts[ncommon + (size_t)i] = (struct option){
                        prog->opts[i].long_name, required_argument, NULL,
                        OPT_OWN + i
                };
                len = strlen(optstring);
                if (prog->opts[i].short_name && len + 3 < sizeof(optstring)) {
                        optstring[len] = (char)prog->opts[i].short_name;
                        optstring[len + 1] = ':';
                        optstring[len + 2] = '\0';
                }
        }
        optind = 1;
        while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) !=
               -1) {
                for (i = 0; i < nown; i++)
                        if (opt == prog->opts[i].short_name)
                                opt = OPT_OWN + i;
                switch (opt) {
                case 'b':
                case 'X':
                case 'o':
                        flags[nflags].code = opt;
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
                case OPT_LOG_JSON:
                        log_json = 1;
                        break;
                case OPT_DUMP:
                        dump = 1;
                        break;
                case 'h':
                        prog->usage(stdout);
                        rc = 0;
                        goto out;
                case 'V':
                        printf("%s %s\n", prog->name, FLOQ_VERSION_STR);
                        rc = 0;
                        goto out;
                default:
                        if (opt >= OPT_OWN && opt < OPT_OWN + nown) {
                                flags[nflags].code = opt;
                                flags[nflags++].arg = optarg;
                                break;
                        }
                        prog->usage(stderr);
                        goto out;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", prog->name,
                        argv[optind]);
                goto out;
        }
        if (!(conf = floq_conf_new())) {
                fprintf(stderr, "%s: out of memory\n", prog->name);
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
                fprintf(stderr, "%s: %s\n", prog->name, errstr);
                goto out;
        }
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr))) {
                fprintf(stderr, "%s: %s\n", prog->name, errstr);
                goto out;
        }
        if (apply_flags(prog, conf, flags, nflags))
                goto out;
        if (dump) {
                floq_conf_dump(conf, stdout);
                rc = 0;
                goto out;
        }
        setup_log(prog, conf, verbosity, log_json);
        *confp = conf;
        conf = NULL;
        rc = -1;
out:
        floq_conf_destroy(conf);
        free(flags);
        free(longopts);
        return rc;
}

/* ------------------------------------------------------------ signals */

static void (*volatile g_stop)(void *);
static void *volatile g_stop_arg;
static volatile sig_atomic_t g_signalled;

static void on_signal(int sig) {
        (void)sig;
        if (g_signalled)
                _exit(130); /* second signal: at once */
        g_signalled = 1;
        if (g_stop)
                g_stop(g_stop_arg);
}

/* A crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): one line naming
 * the signal and the stack (addresses as binary(+offset), for addr2line)
 * on stderr, where the log goes, then the default action (a core where
 * the system keeps them). Only async-signal-safe calls: backtrace() was
 * called once at install time, so it does not load libgcc here. */
static void on_crash(int sig) {
        static const char head[] = "floq: fatal signal ";
        void *frames[48];
        char num[4];
        int n = 0, k = sig;

        do
                num[n++] = (char)('0' + k % 10);
        while ((k /= 10) && n < (int)sizeof(num));
        if (write(2, head, sizeof(head) - 1) < 0)
                goto out;
        while (n--)
                if (write(2, &num[n], 1) < 0)
                        goto out;
        if (write(2, "; stack:\n", 9) < 0)
                goto out;
        backtrace_symbols_fd(frames, backtrace(frames, 48), 2);
out:
        signal(sig, SIG_DFL);
        raise(sig);
}

void floq_sigset_thread(sigset_t *set) {
        sigfillset(set);
        sigdelset(set, SIGSEGV);
        sigdelset(set, SIGBUS);
        sigdelset(set, SIGFPE);
        sigdelset(set, SIGILL);
        sigdelset(set, SIGABRT);
}

void floq_prog_signals(void (*stop)(void *arg), void *arg) {
        static const int crashes[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
                                       SIGABRT };
        struct sigaction sa;
        void *frame;
        size_t i;

        g_stop = NULL; /* the handler never sees a new stop with an old arg */
        g_stop_arg = arg;
        g_stop = stop;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        backtrace(&frame, 1);
        sa.sa_handler = on_crash;
        sa.sa_flags = SA_RESETHAND;
        for (i = 0; i < sizeof(crashes) / sizeof(crashes[0]); i++)
                sigaction(crashes[i], &sa, NULL);
}

/* ------------------------------------------------------- listen address */

floq_err_t floq_listen_resolve(const char *key, const char *listen,
                               struct addrinfo **aip, char *errstr,
                               size_t errstr_size) {
        char host[256], port[16];
        const char *colon = listen ? strrchr(listen, ':') : NULL;
        struct addrinfo hints;
        size_t hl;
        int rc;

        *aip = NULL;
        if (!colon || !colon[1] || (size_t)(colon - listen) >= sizeof(host) ||
            strlen(colon + 1) >= sizeof(port))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s '%s': expected host:port", key,
                                   listen ? listen : "");
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        snprintf(port, sizeof(port), "%s", colon + 1);
        hl = strlen(host);
        if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
                memmove(host, host + 1, hl - 2);
                host[hl - 2] = '\0';
        }
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        if ((rc = getaddrinfo(*host ? host : NULL, port, &hints, aip))) {
                *aip = NULL;
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s '%s': %s", key, listen,
                                   gai_strerror(rc));
        }
        return FLOQ_OK;
}
