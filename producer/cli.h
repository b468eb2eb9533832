/*
 * cli.h - the floq command-line tool as a library (producer/cli.c): the
 * argument parser, the config it builds, and floq_cli_main() which
 * producer/main.c calls. Kept apart from main() so the unit tests link the
 * very parser the program runs. Private to floq; not installed.
 */
#ifndef FLOQ_CLI_H
#define FLOQ_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "floq.h"

/* Exit codes (documented in `floq --help` and floq(1)). */
#define FLOQ_EXIT_OK       0 /**< succeeded / accepted / done */
#define FLOQ_EXIT_FAILED   1 /**< run failed, command rejected, any
                                  negative terminal state */
#define FLOQ_EXIT_USAGE    2 /**< bad command line or configuration */
#define FLOQ_EXIT_TIMEOUT  3 /**< no (final) reply within the timeout */
#define FLOQ_EXIT_KAFKA    4 /**< cannot reach Kafka */
#define FLOQ_EXIT_INTR     130 /**< interrupted (SIGINT/SIGTERM) */

typedef enum floq_cli_cmd_e {
        FLOQ_CLI_NONE,
        FLOQ_CLI_DEPLOY,
        FLOQ_CLI_RUN,
        FLOQ_CLI_STOP,
        FLOQ_CLI_SCHEDULE,
        FLOQ_CLI_UNSCHEDULE,
        FLOQ_CLI_STATUS,
        FLOQ_CLI_VALIDATE,
        FLOQ_CLI_WATCH,
        FLOQ_CLI_HELP,
        FLOQ_CLI_VERSION,
        FLOQ_CLI_CRON_NEXT, /**< local: no Kafka */
        FLOQ_CLI_PAUSE,
        FLOQ_CLI_RESUME,
        FLOQ_CLI__CNT
} floq_cli_cmd_t;

#define FLOQ_CLI_MAX_PAIRS 128

/** Everything the command line said. Strings point into argv. */
typedef struct floq_cli_args_s {
        floq_cli_cmd_t cmd;
        floq_cli_cmd_t help_cmd; /**< for `help CMD` / `CMD --help` */
        const char *name;        /**< NAME, BACKEND (validate), NAME|RUN_ID */

        /* connection and output, valid with every command */
        const char *brokers;     /**< -b */
        const char *config_file; /**< -F */
        const char *kafka_pairs[FLOQ_CLI_MAX_PAIRS]; /**< -X k=v */
        size_t kafka_cnt;
        const char *floq_pairs[FLOQ_CLI_MAX_PAIRS];  /**< -o k=v */
        size_t floq_cnt;
        int json;
        int verbose;
        int64_t timeout_ms;      /**< --timeout; -1 unset */
        const char *correlation_id;
        int64_t expires_in_ms;   /**< --expires; 0 none */

        /* deploy */
        const char *backend;
        const char *spec_file;
        char **exec_argv;        /**< after `--` */
        int exec_argc;
        int64_t run_timeout_ms;  /**< --run-timeout (deploy, run); 0 unset */
        int retries;             /**< -1 unset */
        int64_t backoff_ms;
        const char *artifact_url;
        const char *artifact_sha256;
        const char *namespace_;
        json_t *inputs;          /**< --input NAMESPACE,NAME: owned array of
                                      {namespace,name}; NULL none */
        json_t *outputs;         /**< --output, likewise */

        /* run / schedule */
        json_t *params;          /**< -p k=v, owned */
        const char *idempotency_key;
        int wait;

        /* stop / status / validate */
        const char *run_id;
        const char *deployment;  /**< -d: status RUN_ID, validate */

        /* schedule / unschedule */
        const char *cron;
        const char *tz;
        const char *catchup;     /**< upper-cased symbol */
        int catchup_max;
        const char *overlap;     /**< upper-cased symbol */
        int64_t jitter_ms;
        const char *schedule_id;
        int64_t start_at_ms;     /**< --start; 0 unset */
        int64_t end_at_ms;       /**< --end; 0 unset */
        int paused;              /**< --paused */

        /* cron-next (EXPR is name; tz is --tz) */
        const char *from;        /**< --from ISO 8601; NULL: now */
        int count;               /**< --count; 0 unset (5) */

        /* watch */
        int lineage;
} floq_cli_args_t;

/**
 * Parse @p argv into @p args (which it initialises).
 * @return 0, or FLOQ_EXIT_USAGE with a message (and, when it helps, a
 *         suggestion) in @p errstr. Either way release @p args after.
 */
int floq_cli_parse(int argc, char **argv, floq_cli_args_t *args,
                   char *errstr, size_t errstr_size);

/** Free what floq_cli_parse() allocated. */
void floq_cli_args_release(floq_cli_args_t *args);

/**
 * The configuration the command line asks for: properties file (-F, else
 * $FLOQ_CONFIG) < environment (@p envp, NULL: environ) < flags (-o, -X,
 * -b). @return a new config, or NULL with the reason in @p errstr.
 */
floq_conf_t *floq_cli_conf(const floq_cli_args_t *args, char **envp,
                           char *errstr, size_t errstr_size);

/** "1.5s", "250ms", "5m", "2h", "30" (seconds) to ms; -1 when bad. */
int64_t floq_cli_parse_duration(const char *s);

/** Closest command name to @p word, NULL when nothing is close. */
const char *floq_cli_suggest(const char *word);

/** Name of @p cmd ("deploy"). */
const char *floq_cli_cmd_name(floq_cli_cmd_t cmd);

/** The process backend spec `--` builds: {"executable", "args"}; a
 *  malloc()ed JSON text. */
char *floq_cli_process_spec(const floq_cli_args_t *args);

/** Exit code for a final reply's status. */
int floq_cli_exit_for_status(const char *status);

/** Exit code for a library error. */
int floq_cli_exit_for_err(floq_err_t err);

/** One reply as a text line (no newline) into @p buf. */
void floq_cli_format_reply(const json_t *reply, char *buf, size_t size);

/** Help: the overview (@p cmd NONE) or one command's, with examples. */
void floq_cli_usage(FILE *out, floq_cli_cmd_t cmd);

/** The whole program; returns its exit code. */
int floq_cli_main(int argc, char **argv);

/** `floq ops ...` (producer/ops.c): @p argv[0] is "ops". Local, no Kafka;
 *  returns the exit status. */
int floq_cli_ops_main(int argc, char **argv);

#endif /* FLOQ_CLI_H */
