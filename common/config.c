/*
 * config.c - the configuration table and everything that fills it. One
 * static table (Redis static_configs[]) names each property with its type,
 * default, help text and whether it is secret; values are kept as text and,
 * for numeric types, as a parsed int64 so getters are cheap. Settings come
 * from a properties file, then FLOQ_* environment variables, then flags
 * (each later one wins, because main() applies them in that order). Keys
 * that are not ours but that librdkafka accepts are kept in an ordered
 * passthrough list and handed to rd_kafka_conf_set() by common/kafka.c.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "floq_common.h"

extern char **environ;

/* Keep sorted by component; docs/configuration.md mirrors this table. */
static const floq_conf_prop_t conf_props[] = {
        /* Kafka connection and topics */
        { "brokers", FLOQ_CONF_STR, "localhost:9092",
          "bootstrap servers, host:port[,host:port]; same as "
          "bootstrap.servers",
          0 },
        { "client.id", FLOQ_CONF_STR, "floq", "Kafka client.id", 0 },
        { "topic.commands", FLOQ_CONF_STR, "floq.commands",
          "topic commands are read from", 0 },
        { "topic.replies", FLOQ_CONF_STR, "floq.replies",
          "default topic replies are written to", 0 },
        { "topic.lineage", FLOQ_CONF_STR, "floq.lineage",
          "topic OpenLineage events are written to", 0 },
        { "topic.deployments", FLOQ_CONF_STR, "floq.deployments",
          "compacted state topic of deployments", 0 },
        { "topic.schedules", FLOQ_CONF_STR, "floq.schedules",
          "compacted state topic of schedules", 0 },
        { "topic.runs", FLOQ_CONF_STR, "floq.runs",
          "compacted state topic of runs", 0 },
        { "topic.dlq", FLOQ_CONF_STR, "floq.dlq",
          "dead-letter topic for rejected input", 0 },
        { "topic.partitions", FLOQ_CONF_INT, "6",
          "partition count of every floq topic (they are co-partitioned)",
          0 },
        { "topic.replication.factor", FLOQ_CONF_INT, "1",
          "replication factor of topics floq creates", 0 },
        { "topic.create", FLOQ_CONF_BOOL, "true",
          "create missing topics at start-up", 0 },
        { "topic.state.segment.ms", FLOQ_CONF_MS, "3600000",
          "segment.ms of the compacted state topics floq creates: the "
          "active segment, which compaction never touches, rolls at least "
          "this often",
          0 },
        { "topic.state.max.compaction.lag.ms", FLOQ_CONF_MS, "3600000",
          "max.compaction.lag.ms of the state topics floq creates: a "
          "replaced record is compacted away within about this long",
          0 },
        { "topic.state.min.cleanable.dirty.ratio", FLOQ_CONF_STR, "0.1",
          "min.cleanable.dirty.ratio of the state topics floq creates "
          "(0..1): compact once this share of the log is replaced records",
          0 },
        { "topic.state.delete.retention.ms", FLOQ_CONF_MS, "86400000",
          "delete.retention.ms of the state topics floq creates: how long "
          "a tombstone stays readable after compaction (a restore slower "
          "than this could miss a delete)",
          0 },
        { "group.id", FLOQ_CONF_STR, "floq-workers",
          "consumer group of the worker fleet", 0 },
        { "group.instance.id", FLOQ_CONF_STR, NULL,
          "static membership id (KIP-345)", 0 },
        /* Worker */
        { "worker.id", FLOQ_CONF_STR, NULL,
          "worker identity, stable across restarts (transactional.id is "
          "floq-<id>); unset: group.instance.id, else "
          "<hostname>-<worker.slot>", 0 },
        { "worker.slot", FLOQ_CONF_INT, "0",
          "this worker's slot on its host (floq-worker --slot N): the "
          "default worker.id is <hostname>-<slot>; each worker on a host "
          "needs its own", 0 },
        { "worker.lock.dir", FLOQ_CONF_STR, "/tmp",
          "directory of the per-host lock files that refuse a second "
          "worker with the same worker.id on one host", 0 },
        { "worker.concurrency", FLOQ_CONF_INT, "8",
          "runs executed at the same time per worker", 0 },
        { "worker.commit.interval.ms", FLOQ_CONF_MS, "100",
          "longest time between transaction commits", 0 },
        { "worker.batch.size", FLOQ_CONF_INT, "100",
          "most commands handled in one transaction", 0 },
        { "worker.heartbeat.interval.ms", FLOQ_CONF_MS, "2000",
          "how often running runs write a heartbeat RunState", 0 },
        { "worker.heartbeat.timeout.ms", FLOQ_CONF_MS, "30000",
          "a run not live here whose RunState did not change for this long "
          "on this worker's own clock is taken over; process.kill.grace.ms "
          "+ worker.heartbeat.interval.ms + worker.clock.skew.ms must be "
          "below a third of it (checked at start)", 0 },
        { "worker.clock.skew.ms", FLOQ_CONF_MS, "500",
          "allowance in the timing rule for timers of different hosts "
          "running apart (rate, scheduling, delivery delays)", 0 },
        { "worker.drain.grace.ms", FLOQ_CONF_MS, "30000",
          "on SIGTERM, how long runs may finish before hand-over", 0 },
        { "worker.restore.timeout.ms", FLOQ_CONF_MS, "60000",
          "longest state restore after a partition assignment, the wait "
          "for a previous owner's open transaction included: keep it above "
          "worker.transaction.timeout.ms plus the broker's "
          "transaction.abort.timed.out.transaction.cleanup.interval.ms",
          0 },
        { "worker.run.url.template", FLOQ_CONF_STR,
          "http://localhost:8080/runs/{run_id}",
          "run URL in ACCEPTED replies ({run_id} and {deployment} are "
          "replaced): the default is floq-console's default "
          "console.listen; behind a load balancer, its address "
          "(docs/console.md)", 0 },
        { "message.max.bytes", FLOQ_CONF_SIZE, "1M",
          "largest command accepted; larger ones go to the DLQ", 0 },
        /* Process backend */
        { "process.allowed.dirs", FLOQ_CONF_STR, "",
          "colon-separated directories executables may live in; empty "
          "rejects every executable",
          0 },
        { "process.env.allow", FLOQ_CONF_STR, "PATH,HOME,LANG,LC_ALL,TZ",
          "comma-separated environment variables passed to processes", 0 },
        { "process.env.spec.allow", FLOQ_CONF_STR, "",
          "comma-separated variables a deployment's spec env may set "
          "(NAME, or PREFIX* for a prefix) beyond TZ, LANG, LANGUAGE and "
          "LC_*; any other name is REJECTED at deploy",
          0 },
        { "process.run.as.user", FLOQ_CONF_STR, NULL,
          "user (name or uid) jobs run as, not root nor the worker's own; "
          "the worker refuses to start if it could read the worker's "
          "keys, SASL or TLS key files",
          0 },
        { "process.run.as.group", FLOQ_CONF_STR, NULL,
          "group (name or gid) jobs run as; unset: the job user's primary "
          "group",
          0 },
        { "process.output.max.bytes", FLOQ_CONF_SIZE, "64k",
          "stdout/stderr kept per run", 0 },
        { "process.kill.grace.ms", FLOQ_CONF_MS, "5000",
          "time between SIGTERM and SIGKILL", 0 },
        { "process.spawner", FLOQ_CONF_BOOL, "true",
          "start the jobs' supervisors from one spawner process started "
          "with the backend (a fork of a small process per attempt, no "
          "exec); false, or when it cannot run: floq-supervise is "
          "posix_spawn()ed per attempt",
          0 },
        { "process.lease.ms", FLOQ_CONF_MS, "0",
          "a job's supervisor stops the job (SIGTERM, kill grace, SIGKILL) "
          "when the worker process has not renewed its lease for this long "
          "(a SIGSTOPped worker), so that no other worker's takeover finds "
          "it alive; 0 = worker.heartbeat.timeout.ms / 3; it + "
          "process.kill.grace.ms + worker.heartbeat.interval.ms + "
          "worker.clock.skew.ms must be below worker.heartbeat.timeout.ms "
          "(checked at start)", 0 },
        { "process.rlimit.cpu.s", FLOQ_CONF_INT, "0",
          "RLIMIT_CPU in seconds; 0 = unlimited", 0 },
        { "process.rlimit.as", FLOQ_CONF_SIZE, "0",
          "RLIMIT_AS in bytes; 0 = unlimited", 0 },
        { "process.rlimit.nofile", FLOQ_CONF_INT, "1024",
          "RLIMIT_NOFILE; 0 = unlimited", 0 },
        { "process.rlimit.nproc", FLOQ_CONF_INT, "4096",
          "RLIMIT_NPROC of the job user, applied only with "
          "process.run.as.user (it counts per uid); 0 = unlimited", 0 },
        /* Deploy artifacts (worker/artifacts.c) */
        { "artifact.cache.dir", FLOQ_CONF_STR, NULL,
          "worker-local cache of verified deploy artifacts, one file per "
          "sha256 (created 0700); unset: $XDG_CACHE_HOME/floq/artifacts, "
          "else /tmp/floq-artifacts-<uid>", 0 },
        { "artifact.cache.max.bytes", FLOQ_CONF_SIZE, "1G",
          "artifact cache bound: least recently used artifacts are removed "
          "beyond it (0: unbounded)", 0 },
        { "artifact.max.bytes", FLOQ_CONF_SIZE, "100M",
          "largest artifact downloaded", 0 },
        { "artifact.connect.timeout.ms", FLOQ_CONF_MS, "3000",
          "connect timeout of an artifact download", 0 },
        { "artifact.fetch.timeout.ms", FLOQ_CONF_MS, "60000",
          "total time of an artifact download at run time (executor "
          "thread)", 0 },
        { "artifact.deploy.timeout.ms", FLOQ_CONF_MS, "5000",
          "total time of an artifact download by a deploy (off the loop, "
          "while the deploy waits parked)", 0 },
        { "artifact.redirects.max", FLOQ_CONF_INT, "3",
          "HTTP redirects followed (never to file:)", 0 },
        { "artifact.protocols", FLOQ_CONF_STR, "https,http",
          "URL schemes artifact_url may use (of https, http, file; file "
          "reads any file the worker can, so it is off by default)", 0 },
        /* Lineage */
        { "lineage.enabled", FLOQ_CONF_BOOL, "true",
          "emit OpenLineage events", 0 },
        { "lineage.namespace", FLOQ_CONF_STR, "floq",
          "OpenLineage job namespace", 0 },
        /* Logging */
        { "log.level", FLOQ_CONF_STR, "info",
          "err|warn|notice|info|debug", 0 },
        { "log.format", FLOQ_CONF_STR, "text", "text|json", 0 },
        /* Schemas and security */
        { "schema.registry.url", FLOQ_CONF_STR, NULL,
          "not supported yet: setting it fails start-up", 0 },
        { "schema.registry.basic.auth.user.info", FLOQ_CONF_STR, NULL,
          "user:password for the schema registry (unused: no registry "
          "client yet)", 1 },
        { "security.require.signature", FLOQ_CONF_BOOL, "false",
          "reject commands without a valid HMAC signature", 0 },
        { "security.hmac.keys.file", FLOQ_CONF_STR, NULL,
          "file of 'key-id=hex-secret' lines for command signatures "
          "(mode 600); set: clients sign, workers verify", 0 },
        { "security.hmac.key.id", FLOQ_CONF_STR, NULL,
          "key clients sign with; unset: the keys file's first key", 0 },
        { "security.command.max.lifetime.ms", FLOQ_CONF_MS, "3600000",
          "a signed command needs an expires_at at most this far ahead; "
          "workers remember its id at least this long (replays); clients "
          "that sign set expires_at to half of it when none is given", 0 },
        { "sasl.password.file", FLOQ_CONF_STR, NULL,
          "file whose first line is the Kafka SASL password", 0 },
        /* Clients and HTTP */
        { "client.timeout.ms", FLOQ_CONF_MS, "30000",
          "how long the client waits for a reply", 0 },
        { "client.connect.timeout.ms", FLOQ_CONF_MS, "10000",
          "how long the client waits to reach the brokers", 0 },
        { "http.timeout.ms", FLOQ_CONF_MS, "30000",
          "timeout of one HTTP request to a backend", 0 },
        { "http.retries", FLOQ_CONF_INT, "3",
          "retries of an HTTP request on 5xx or connection errors", 0 },
        { "http.backend.allowed.urls", FLOQ_CONF_STR, "",
          "comma-separated URL prefixes http-backend deployments may call; "
          "empty: any http(s) URL, and no token may be set",
          0 },
        { "http.backend.token.file", FLOQ_CONF_STR, NULL,
          "file whose content is the bearer token of the http backend, "
          "read at each call; sent only under http.backend.allowed.urls",
          0 },
        { "http.backend.ca.file", FLOQ_CONF_STR, NULL,
          "CA bundle that verifies the http backend's servers; unset: the "
          "system's",
          0 },
        { "noop.backend.enabled", FLOQ_CONF_BOOL, "false",
          "accept noop-backend deployments (attempts succeed at once, run "
          "nothing; for benchmarks and tests)",
          0 },
        { "http.backend.unreachable.ms", FLOQ_CONF_MS, "300000",
          "how long an http-backend run's status URL may stay unreachable "
          "before the run ends LOST",
          0 },
        { "airflow.api.url", FLOQ_CONF_STR, NULL,
          "base URL of the Airflow 3 api-server (http://host:8080): the "
          "airflow backend calls its /api/v2 and /auth/token",
          0 },
        { "airflow.ui.url", FLOQ_CONF_STR, NULL,
          "base URL of the Airflow UI for run links "
          "({url}/dags/{dag_id}/runs/{run}); unset: airflow.api.url",
          0 },
        { "airflow.auth.file", FLOQ_CONF_STR, NULL,
          "file whose first line is 'username:password' for Airflow's "
          "POST /auth/token (JWT); unset: no authentication",
          0 },
        { "airflow.ca.file", FLOQ_CONF_STR, NULL,
          "CA bundle that verifies the Airflow server; unset: the system's",
          0 },
        { "airflow.poll.interval.ms", FLOQ_CONF_MS, "2000",
          "how often an airflow-backend DAG run is polled (spec "
          "poll_interval_ms overrides)",
          0 },
        { "airflow.unreachable.ms", FLOQ_CONF_MS, "300000",
          "how long Airflow may stay unreachable during a DAG run before "
          "the run ends LOST",
          0 },
        { "airflow.stop.wait.ms", FLOQ_CONF_MS, "60000",
          "after a stop marks a DAG run failed, how long to wait for it and "
          "its task instances to stop running before reporting what is "
          "still running",
            0 },
        { "airflow.queued.timeout.ms", FLOQ_CONF_MS, "600000",
          "how long a DAG run may stay queued (not started by Airflow's "
          "scheduler) before floq marks it failed and the attempt ends "
          "TIMED_OUT; 0: no bound",
          0 },
        { "airflow.api.version", FLOQ_CONF_INT, "2",
          "the Airflow REST API the airflow backend speaks: 2 is Airflow "
          "3's /api/v2 with a JWT from /auth/token, 1 is Airflow 2's "
          "/api/v1 with basic auth from airflow.auth.file",
          0 },
        { "prefect.api.url", FLOQ_CONF_STR, "http://127.0.0.1:4200/api",
          "the Prefect 3 server's API the prefect backend calls (only this "
          "config chooses it, never a spec)",
          0 },
        { "prefect.ui.url", FLOQ_CONF_STR, NULL,
          "base of the Prefect UI in run URLs ({ui}/runs/flow-run/{id}); "
          "unset: prefect.api.url without /api",
          0 },
        { "prefect.api.key.file", FLOQ_CONF_STR, NULL,
          "file whose first line is the Prefect API key (Bearer), read at "
          "each call; unset: no key (a local server)",
          0 },
        { "prefect.api.auth.string.file", FLOQ_CONF_STR, NULL,
          "file whose first line is a self-hosted server's basic auth "
          "string user:password, read at each call",
          0 },
        { "prefect.ca.file", FLOQ_CONF_STR, NULL,
          "CA bundle that verifies the Prefect server; unset: the system's",
          0 },
        { "prefect.poll.interval.ms", FLOQ_CONF_MS, "2000",
          "how often a prefect-backend run's flow run is polled", 0 },
        { "prefect.unreachable.ms", FLOQ_CONF_MS, "300000",
          "how long the Prefect server may stay unreachable during a run "
          "before the run ends LOST",
          0 },
        { "prefect.stop.grace.ms", FLOQ_CONF_MS, "60000",
          "after set_state CANCELLING, how long a stop waits for the flow "
          "run to be CANCELLED before it forces CANCELLED",
          0 },
        { "prefect.start.timeout.ms", FLOQ_CONF_MS, "600000",
          "how long a flow run may stay SCHEDULED or PENDING (no worker "
          "picked it up) before floq cancels it and the attempt ends "
          "TIMED_OUT; 0: no bound",
          0 },
        { "kubernetes.api.url", FLOQ_CONF_STR, NULL,
          "the Kubernetes API server the kubernetes backend creates Jobs "
          "on; unset: in-cluster, https://$KUBERNETES_SERVICE_HOST:"
          "$KUBERNETES_SERVICE_PORT with the pod's service account",
          0 },
        { "kubernetes.token.file", FLOQ_CONF_STR, NULL,
          "file whose first line is the bearer token, read at each request "
          "and again on a 401 (bound tokens rotate); unset: the service "
          "account's token when in-cluster, else none",
          0 },
        { "kubernetes.ca.file", FLOQ_CONF_STR, NULL,
          "CA bundle that verifies the API server; unset: the service "
          "account's ca.crt when in-cluster, else the system's",
          0 },
        { "kubernetes.serviceaccount.dir", FLOQ_CONF_STR,
          "/var/run/secrets/kubernetes.io/serviceaccount",
          "where the in-cluster token, ca.crt and namespace files are", 0 },
        { "kubernetes.namespace", FLOQ_CONF_STR, NULL,
          "namespace of Jobs whose spec names none; unset: the service "
          "account's namespace when in-cluster, else default",
          0 },
        { "kubernetes.namespaces.allowed", FLOQ_CONF_STR, "",
          "comma-separated namespaces a spec may name besides "
          "kubernetes.namespace ('*': any)",
          0 },
        { "kubernetes.poll.interval.ms", FLOQ_CONF_MS, "2000",
          "how often a kubernetes-backend Job is polled (spec "
          "poll_interval_ms overrides)",
          0 },
        { "kubernetes.unreachable.ms", FLOQ_CONF_MS, "300000",
          "how long the API server may stay unreachable (or refuse the "
          "token) during a run before the run ends LOST",
          0 },
        { "kubernetes.stop.wait.ms", FLOQ_CONF_MS, "60000",
          "after a stop deletes the Job, how long to wait for it to be gone "
          "before reporting that it is still there",
          0 },
        { "dagster.url", FLOQ_CONF_STR, "http://127.0.0.1:3000",
          "base URL of the Dagster webserver or Dagster+ deployment the "
          "dagster backend calls ({url}/graphql; run pages {url}/runs/{id}); "
          "only this config chooses it, never a spec",
          0 },
        { "dagster.api.token.file", FLOQ_CONF_STR, NULL,
          "file whose first line is the Dagster+ API token "
          "(Dagster-Cloud-Api-Token header), read at each call",
          0 },
        { "dagster.api.token.env", FLOQ_CONF_STR, NULL,
          "name of an environment variable holding the Dagster+ API token "
          "(when dagster.api.token.file is unset)",
          0 },
        { "dagster.ca.file", FLOQ_CONF_STR, NULL,
          "CA bundle that verifies the Dagster server; unset: the system's",
          0 },
        { "dagster.poll.interval.ms", FLOQ_CONF_MS, "2000",
          "how often a dagster-backend run's Dagster run is polled (spec "
          "poll_interval_ms overrides)",
          0 },
        { "dagster.unreachable.ms", FLOQ_CONF_MS, "300000",
          "how long Dagster may stay unreachable during a run before the "
          "run ends LOST",
          0 },
        { "dagster.stop.wait.ms", FLOQ_CONF_MS, "60000",
          "after terminateRun, how long a stop waits for the Dagster run to "
          "be CANCELED before it marks it canceled at once",
          0 },
        { "metrics.listen", FLOQ_CONF_STR, NULL,
          "host:port for /metrics, /healthz and /readyz "
          "(docs/worker.md, Metrics and probes); unset disables", 0 },
        /* Console (floq-console, docs/console.md) */
        { "console.listen", FLOQ_CONF_STR, "127.0.0.1:8080",
          "host:port floq-console serves its pages on; the default "
          "worker.run.url.template points here", 0 },
        { "console.history.ms", FLOQ_CONF_MS, "86400000",
          "how far back floq-console reads the replies, lineage and DLQ "
          "topics at start (the state topics are read whole)", 0 },
        { "console.runs.max", FLOQ_CONF_INT, "100000",
          "runs floq-console keeps in memory; the oldest finished go "
          "first", 0 },
        { "console.run.events.max", FLOQ_CONF_INT, "100",
          "replies and lineage events floq-console keeps per run (the "
          "newest)", 0 },
        { "console.events.max", FLOQ_CONF_INT, "200000",
          "replies and lineage events floq-console keeps over all runs",
          0 },
        { "console.dlq.max", FLOQ_CONF_INT, "500",
          "DLQ records floq-console keeps (the newest)", 0 },
        { "console.field.max.bytes", FLOQ_CONF_SIZE, "16k",
          "longest text floq-console keeps of any field read from Kafka "
          "(output tail, parameter, reason); longer ones are cut", 0 },
        { "console.page.size", FLOQ_CONF_INT, "50",
          "runs per page of floq-console's /runs unless per_page says "
          "(1-200)", 0 },
        { "config", FLOQ_CONF_STR, NULL,
          "properties file to load (FLOQ_CONFIG)", 0 },
        { "worker.transaction.timeout.ms", FLOQ_CONF_MS, "10000",
          "transaction.timeout.ms of the worker's producer: how long a dead "
          "worker's open transaction holds back readers", 0 },
        { "worker.progress.timeout.ms", FLOQ_CONF_MS, "60000",
          "a worker whose transactions keep failing for this long (no "
          "commit) stops its attempts, leaves the group and exits 1 so "
          "that another worker takes its partitions; 0 never", 0 },
        { "worker.schedule.misfire.ms", FLOQ_CONF_MS, "5000",
          "a schedule's due time found later than this is missed: the "
          "schedule's catch-up policy decides whether it runs", 0 },
        { "worker.command.history", FLOQ_CONF_INT, "32",
          "deploy/stop/schedule outcomes kept per deployment to answer "
          "repeated command ids: at least this many, and every one younger "
          "than security.command.max.lifetime.ms", 0 },
        { "worker.outcomes.legacy", FLOQ_CONF_BOOL, "false",
          "also keep each deployment's deploy/stop outcomes inside its "
          "Deployment record (recent_commands), as floq did before the "
          "DeploymentOutcome records, so that workers of that version "
          "still answer repeats: true while a fleet is upgraded from (or "
          "may be rolled back to) such a version, then false "
          "(docs/operating.md, \"Upgrading\")", 0 },
        { "worker.reply.topics.allowed", FLOQ_CONF_STR, "",
          "comma-separated topic names or fnmatch globs a command's "
          "reply_to may name besides topic.replies; never the commands, "
          "state, DLQ or lineage topics nor a name starting with '_'", 0 },
        { "worker.run.retention.ms", FLOQ_CONF_MS, "604800000",
          "a finished run's RunState is removed (tombstoned) this long "
          "after it ended; a command issued longer ago than this is "
          "REJECTED, since its outcome may be gone (0: keep every run)", 0 },
        { "worker.offload.threads", FLOQ_CONF_INT, "2",
          "threads that do the network work of deploy and validate "
          "commands (artifact downloads, backend checks) off the "
          "consume-transact loop; the command waits parked, its partition "
          "paused at it", 0 },
        { "worker.offload.timeout.ms", FLOQ_CONF_MS, "60000",
          "a parked deploy or validate whose off-loop work takes longer is "
          "answered without it (REJECTED / INVALID: timed out)", 0 },
        { "worker.queue.max", FLOQ_CONF_INT, "1000",
          "accepted runs waiting for an executor slot before the worker "
          "pauses its partitions", 0 },
        { NULL },
};

#define CONF_PROP_CNT (sizeof(conf_props) / sizeof(conf_props[0]) - 1)

/* Bounds and choices beyond what the type says. Numeric properties not
 * listed here accept 0..INT64_MAX. */
static const struct conf_check {
        const char *name;
        int64_t min, max;
        const char *choices; /* '|'-separated, case-insensitive */
} conf_checks[] = {
        { "topic.partitions", 1, 100000, NULL },
        { "topic.replication.factor", 1, 32767, NULL },
        { "worker.concurrency", 1, 100000, NULL },
        { "worker.batch.size", 1, 1000000, NULL },
        { "worker.commit.interval.ms", 1, INT32_MAX, NULL },
        { "worker.heartbeat.interval.ms", 1, INT32_MAX, NULL },
        { "worker.heartbeat.timeout.ms", 1, INT32_MAX, NULL },
        { "worker.clock.skew.ms", 0, INT32_MAX, NULL },
        { "process.lease.ms", 0, INT32_MAX, NULL },
        { "worker.slot", 0, 1000000, NULL },
        { "worker.offload.threads", 1, 64, NULL },
        { "worker.offload.timeout.ms", 1, INT32_MAX, NULL },
        { "worker.run.retention.ms", 0, INT32_MAX, NULL },
        { "security.command.max.lifetime.ms", 1000, INT32_MAX, NULL },
        { "message.max.bytes", 1, INT32_MAX, NULL },
        { "http.retries", 0, 100, NULL },
        { "airflow.api.version", 1, 2, NULL },
        { "prefect.poll.interval.ms", 100, INT32_MAX, NULL },
        { "kubernetes.poll.interval.ms", 100, INT32_MAX, NULL },
        { "dagster.poll.interval.ms", 100, INT32_MAX, NULL },
        { "artifact.max.bytes", 1, INT64_MAX, NULL },
        { "artifact.connect.timeout.ms", 1, INT32_MAX, NULL },
        { "artifact.fetch.timeout.ms", 1, INT32_MAX, NULL },
        { "artifact.deploy.timeout.ms", 1, INT32_MAX, NULL },
        { "artifact.redirects.max", 0, 50, NULL },
        { "console.runs.max", 1, 100000000, NULL },
        { "console.run.events.max", 1, 100000, NULL },
        { "console.events.max", 1, 100000000, NULL },
        { "console.dlq.max", 1, 1000000, NULL },
        { "console.field.max.bytes", 256, 16 << 20, NULL },
        { "console.page.size", 1, 200, NULL },
        { "log.level", 0, 0, "err|error|warn|warning|notice|info|debug|3|4|5|6|7" },
        { "log.format", 0, 0, "text|json" },
        { NULL },
};

struct conf_kv {
        char *key;
        char *value;
};

struct floq_conf_s {
        char *values[CONF_PROP_CNT]; /* NULL: unset */
        int64_t ints[CONF_PROP_CNT]; /* parsed INT/MS/SIZE/BOOL */
        struct conf_kv *kafka;       /* librdkafka passthrough, in order */
        size_t kafka_cnt, kafka_size;
};

static int prop_index(const char *name) {
        size_t i;

        for (i = 0; i < CONF_PROP_CNT; i++)
                if (!strcmp(conf_props[i].name, name))
                        return (int)i;
        return -1;
}

static const struct conf_check *prop_check(const char *name) {
        const struct conf_check *c;

        for (c = conf_checks; c->name; c++)
                if (!strcmp(c->name, name))
                        return c;
        return NULL;
}

const floq_conf_prop_t *floq_conf_props(void) {
        return conf_props;
}

static const char *type_name(floq_conf_type_t type) {
        switch (type) {
        case FLOQ_CONF_STR: return "str";
        case FLOQ_CONF_INT: return "int";
        case FLOQ_CONF_BOOL: return "bool";
        case FLOQ_CONF_SIZE: return "size";
        case FLOQ_CONF_MS: return "ms";
        }
        return "?";
}

/* --------------------------------------------------------------- parsing */

static int parse_bool(const char *s, int64_t *out) {
        static const char *yes[] = { "true", "1", "yes", "on" };
        static const char *no[] = { "false", "0", "no", "off" };
        size_t i;

        for (i = 0; i < 4; i++) {
                if (!strcasecmp(s, yes[i])) {
                        *out = 1;
                        return 0;
                }
                if (!strcasecmp(s, no[i])) {
                        *out = 0;
                        return 0;
                }
        }
        return -1;
}

/* Leading decimal digits into *out; returns the rest, NULL on no digits or
 * overflow. Signs are refused: every numeric property is >= 0. */
static const char *parse_digits(const char *s, int64_t *out) {
        int64_t v = 0;

        if (!isdigit((unsigned char)*s))
                return NULL;
        for (; isdigit((unsigned char)*s); s++) {
                int d = *s - '0';

                if (v > (INT64_MAX - d) / 10)
                        return NULL;
                v = v * 10 + d;
        }
        *out = v;
        return s;
}

static int mul_checked(int64_t v, int64_t mul, int64_t *out) {
        if (mul != 0 && v > INT64_MAX / mul)
                return -1;
        *out = v * mul;
        return 0;
}

/* Parse @p s as @p type; on failure fill @p why with what was expected. */
static int parse_value(floq_conf_type_t type, const char *s, int64_t *out,
                       const char **why) {
        const char *rest;
        int64_t v = 0, mul = 1;

        switch (type) {
        case FLOQ_CONF_STR:
                *out = 0;
                return 0;
        case FLOQ_CONF_BOOL:
                *why = "expected true/false, yes/no, on/off or 1/0";
                return parse_bool(s, out);
        case FLOQ_CONF_INT:
                *why = "expected a non-negative integer";
                rest = parse_digits(s, &v);
                if (!rest || *rest)
                        return -1;
                *out = v;
                return 0;
        case FLOQ_CONF_SIZE:
                *why = "expected a size in bytes, optionally with a k, M "
                       "or G suffix";
                rest = parse_digits(s, &v);
                if (!rest)
                        return -1;
                switch (tolower((unsigned char)*rest)) {
                case '\0': break;
                case 'k': mul = INT64_C(1) << 10; rest++; break;
                case 'm': mul = INT64_C(1) << 20; rest++; break;
                case 'g': mul = INT64_C(1) << 30; rest++; break;
                default: return -1;
                }
                /* "64k", "64kb", "64KiB" are all 65536 */
                if (mul > 1 && (!strcasecmp(rest, "b") ||
                                !strcasecmp(rest, "ib")))
                        rest += strlen(rest);
                if (*rest)
                        return -1;
                return mul_checked(v, mul, out);
        case FLOQ_CONF_MS:
                *why = "expected a duration: milliseconds, or a number with "
                       "ms, s, m or h";
                rest = parse_digits(s, &v);
                if (!rest)
                        return -1;
                if (!*rest || !strcmp(rest, "ms"))
                        mul = 1;
                else if (!strcmp(rest, "s"))
                        mul = 1000;
                else if (!strcmp(rest, "m"))
                        mul = 60 * 1000;
                else if (!strcmp(rest, "h"))
                        mul = 3600 * 1000;
                else
                        return -1;
                return mul_checked(v, mul, out);
        }
        return -1;
}

static int choice_ok(const char *choices, const char *s) {
        size_t len = strlen(s);
        const char *p = choices;

        while (*p) {
                const char *end = strchr(p, '|');
                size_t n = end ? (size_t)(end - p) : strlen(p);

                if (n == len && !strncasecmp(p, s, n))
                        return 1;
                if (!end)
                        break;
                p = end + 1;
        }
        return 0;
}

/* Validate @p value for row @p idx; 0 with *out set, else errstr filled. */
static floq_err_t check_value(int idx, const char *value, int64_t *out,
                              char *errstr, size_t errstr_size) {
        const floq_conf_prop_t *prop = &conf_props[idx];
        const struct conf_check *check = prop_check(prop->name);
        const char *why = "";
        /* A bad secret must not be echoed into a log line. */
        const char *shown = prop->secret ? "(secret)" : value;

        if (parse_value(prop->type, value, out, &why) == -1)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "invalid value '%s' for '%s': %s", shown,
                                   prop->name, why);
        if (!check)
                return FLOQ_OK;
        if (check->choices && !choice_ok(check->choices, value))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "invalid value '%s' for '%s': expected "
                                   "one of %s",
                                   shown, prop->name, check->choices);
        if (prop->type != FLOQ_CONF_STR && prop->type != FLOQ_CONF_BOOL &&
            (*out < check->min || *out > check->max))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "invalid value '%s' for '%s': must be "
                                   "between %" PRId64 " and %" PRId64,
                                   shown, prop->name, check->min,
                                   check->max);
        return FLOQ_OK;
}

/* --------------------------------------------------------------- lifecycle */

floq_conf_t *floq_conf_new(void) {
        floq_conf_t *conf = calloc(1, sizeof(*conf));
        size_t i;

        if (!conf)
                return NULL;
        for (i = 0; i < CONF_PROP_CNT; i++) {
                const char *why = "";

                if (!conf_props[i].defval)
                        continue;
                conf->values[i] = strdup(conf_props[i].defval);
                if (!conf->values[i]) {
                        floq_conf_destroy(conf);
                        return NULL;
                }
                /* Defaults are ours and valid; a bad one is caught by the
                 * unit test that parses every default. */
                if (parse_value(conf_props[i].type, conf_props[i].defval,
                                &conf->ints[i], &why) == -1)
                        conf->ints[i] = 0;
        }
        return conf;
}

void floq_conf_destroy(floq_conf_t *conf) {
        size_t i;

        if (!conf)
                return;
        for (i = 0; i < CONF_PROP_CNT; i++)
                free(conf->values[i]);
        for (i = 0; i < conf->kafka_cnt; i++) {
                free(conf->kafka[i].key);
                free(conf->kafka[i].value);
        }
        free(conf->kafka);
        free(conf);
}

floq_conf_t *floq_conf_dup(const floq_conf_t *conf) {
        floq_conf_t *dup = calloc(1, sizeof(*dup));
        size_t i;

        if (!dup)
                return NULL;
        memcpy(dup->ints, conf->ints, sizeof(dup->ints));
        for (i = 0; i < CONF_PROP_CNT; i++) {
                if (conf->values[i] &&
                    !(dup->values[i] = strdup(conf->values[i])))
                        goto fail;
        }
        if (conf->kafka_cnt) {
                dup->kafka = calloc(conf->kafka_cnt, sizeof(*dup->kafka));
                if (!dup->kafka)
                        goto fail;
                dup->kafka_size = conf->kafka_cnt;
                for (i = 0; i < conf->kafka_cnt; i++) {
                        dup->kafka[i].key = strdup(conf->kafka[i].key);
                        dup->kafka[i].value = strdup(conf->kafka[i].value);
                        dup->kafka_cnt++;
                        if (!dup->kafka[i].key || !dup->kafka[i].value)
                                goto fail;
                }
        }
        return dup;
fail:
        floq_conf_destroy(dup);
        return NULL;
}

/* ------------------------------------------------------------------ setting */

static floq_err_t set_prop(floq_conf_t *conf, int idx, const char *value,
                           char *errstr, size_t errstr_size) {
        int64_t v = 0;
        char *copy = NULL;
        floq_err_t err;

        if (!value) {
                /* NULL restores the default */
                const char *why = "";

                value = conf_props[idx].defval;
                if (value)
                        parse_value(conf_props[idx].type, value, &v, &why);
        } else if ((err = check_value(idx, value, &v, errstr, errstr_size)))
                return err;
        if (value && !(copy = strdup(value)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        free(conf->values[idx]);
        conf->values[idx] = copy;
        conf->ints[idx] = v;
        return FLOQ_OK;
}

static floq_err_t kafka_store(floq_conf_t *conf, const char *key,
                              const char *value, char *errstr,
                              size_t errstr_size) {
        char *k = NULL, *v = NULL;
        size_t i;

        for (i = 0; i < conf->kafka_cnt; i++) {
                if (strcmp(conf->kafka[i].key, key))
                        continue;
                if (!(v = strdup(value)))
                        goto nomem;
                free(conf->kafka[i].value);
                conf->kafka[i].value = v;
                return FLOQ_OK;
        }
        if (conf->kafka_cnt == conf->kafka_size) {
                size_t size = conf->kafka_size ? conf->kafka_size * 2 : 8;
                struct conf_kv *kv =
                        realloc(conf->kafka, size * sizeof(*kv));

                if (!kv)
                        goto nomem;
                conf->kafka = kv;
                conf->kafka_size = size;
        }
        k = strdup(key);
        v = strdup(value);
        if (!k || !v)
                goto nomem;
        conf->kafka[conf->kafka_cnt].key = k;
        conf->kafka[conf->kafka_cnt].value = v;
        conf->kafka_cnt++;
        return FLOQ_OK;
nomem:
        free(k);
        free(v);
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                           "out of memory");
}

/* Ask librdkafka whether it knows @p key and accepts @p value, on a scratch
 * config so nothing leaks into a real one. */
static rd_kafka_conf_res_t kafka_probe(const char *key, const char *value,
                                       char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *scratch = rd_kafka_conf_new();
        char tmp[512];
        rd_kafka_conf_res_t res;

        if (!scratch)
                return RD_KAFKA_CONF_INVALID;
        res = rd_kafka_conf_set(scratch, key, value, tmp, sizeof(tmp));
        rd_kafka_conf_destroy(scratch);
        if (res != RD_KAFKA_CONF_OK && errstr && errstr_size)
                snprintf(errstr, errstr_size, "%s", tmp);
        return res;
}

static int is_bootstrap_key(const char *key) {
        return !strcmp(key, "bootstrap.servers") ||
               !strcmp(key, "metadata.broker.list");
}

floq_err_t floq_conf_set_kafka(floq_conf_t *conf, const char *key,
                               const char *value, char *errstr,
                               size_t errstr_size) {
        char why[512];
        rd_kafka_conf_res_t res;

        if (!key || !*key || !value)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "librdkafka property needs a key and a "
                                   "value");
        /* One name for the brokers, whichever way they were given. */
        if (is_bootstrap_key(key))
                return set_prop(conf, prop_index("brokers"), value, errstr,
                                errstr_size);
        res = kafka_probe(key, value, why, sizeof(why));
        if (res == RD_KAFKA_CONF_UNKNOWN)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "unknown librdkafka property '%s'", key);
        if (res != RD_KAFKA_CONF_OK) {
                if (floq_conf_kafka_key_is_secret(key))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "invalid value for librdkafka "
                                           "property '%s'",
                                           key);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "invalid value for librdkafka property "
                                   "'%s': %s",
                                   key, why);
        }
        return kafka_store(conf, key, value, errstr, errstr_size);
}

/* Levenshtein distance, two rows; names are short. */
static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), i, j;
        size_t *prev, *cur, *tmp, d;

        prev = calloc(lb + 1, sizeof(*prev));
        cur = calloc(lb + 1, sizeof(*cur));
        if (!prev || !cur) {
                free(prev);
                free(cur);
                return SIZE_MAX;
        }
        for (j = 0; j <= lb; j++)
                prev[j] = j;
        for (i = 1; i <= la; i++) {
                cur[0] = i;
                for (j = 1; j <= lb; j++) {
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
                        size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);

                        cur[j] = del < ins ? del : ins;
                        if (sub < cur[j])
                                cur[j] = sub;
                }
                tmp = prev;
                prev = cur;
                cur = tmp;
        }
        d = prev[lb];
        free(prev);
        free(cur);
        return d;
}

/* The known name closest to @p name, or NULL when nothing is close. */
static const char *suggest(const char *name) {
        size_t best = SIZE_MAX, limit, i;
        const char *found = NULL;

        limit = strlen(name) / 3;
        if (limit < 2)
                limit = 2;
        for (i = 0; i < CONF_PROP_CNT; i++) {
                size_t d = edit_distance(name, conf_props[i].name);

                if (d < best) {
                        best = d;
                        found = conf_props[i].name;
                }
        }
        return best <= limit ? found : NULL;
}

floq_err_t floq_conf_set(floq_conf_t *conf, const char *name,
                         const char *value, char *errstr, size_t errstr_size) {
        const char *hint;
        int idx;
        rd_kafka_conf_res_t res;
        char why[512];

        if (!conf || !name || !*name)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "property name is empty");
        if (!strncmp(name, "kafka.", 6))
                return floq_conf_set_kafka(conf, name + 6, value, errstr,
                                           errstr_size);
        if ((idx = prop_index(name)) != -1)
                return set_prop(conf, idx, value, errstr, errstr_size);
        if (is_bootstrap_key(name))
                return floq_conf_set_kafka(conf, name, value, errstr,
                                           errstr_size);

        /* Not ours: a librdkafka setting (security.protocol, sasl.*, ...)
         * written without the kafka. prefix, as in Java client files. */
        if (value) {
                res = kafka_probe(name, value, why, sizeof(why));
                if (res == RD_KAFKA_CONF_OK)
                        return kafka_store(conf, name, value, errstr,
                                           errstr_size);
                if (res == RD_KAFKA_CONF_INVALID)
                        return floq_conf_set_kafka(conf, name, value, errstr,
                                                   errstr_size);
        }
        hint = suggest(name);
        if (hint)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "unknown property '%s' (did you mean "
                                   "'%s'?)",
                                   name, hint);
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                           "unknown property '%s'", name);
}

floq_err_t floq_conf_set_pair(floq_conf_t *conf, const char *pair, int kafka,
                              char *errstr, size_t errstr_size) {
        const char *eq = pair ? strchr(pair, '=') : NULL;
        char *key;
        floq_err_t err;

        if (!eq || eq == pair)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "expected key=value, got '%s'",
                                   pair ? pair : "");
        if (!(key = strndup(pair, (size_t)(eq - pair))))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if (kafka)
                err = floq_conf_set_kafka(conf, key, eq + 1, errstr,
                                          errstr_size);
        else
                err = floq_conf_set(conf, key, eq + 1, errstr, errstr_size);
        free(key);
        return err;
}

/* ---------------------------------------------------------------- sources */

static char *trim(char *s) {
        char *end;

        while (isspace((unsigned char)*s))
                s++;
        end = s + strlen(s);
        while (end > s && isspace((unsigned char)end[-1]))
                *--end = '\0';
        return s;
}

floq_err_t floq_conf_load_file(floq_conf_t *conf, const char *path,
                               char *errstr, size_t errstr_size) {
        FILE *fp;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        unsigned lineno = 0;
        floq_err_t err = FLOQ_OK;
        char why[512];

        if (!(fp = fopen(path, "r")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "cannot open '%s': %s", path,
                                   strerror(errno));
        while ((len = getline(&line, &cap, fp)) != -1) {
                char *s, *eq, *key, *value;
                int nul;

                lineno++;
                nul = (size_t)len != strlen(line); /* before trim cuts it */
                s = trim(line);
                /* UTF-8 byte order mark on the first line */
                if (lineno == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
                        s = trim(s + 3);
                if (nul) {
                        snprintf(why, sizeof(why), "NUL byte in line");
                        err = FLOQ_ERR_CONFIG;
                } else if (!*s || *s == '#' || *s == '!') {
                        continue;
                } else if (!(eq = strchr(s, '='))) {
                        snprintf(why, sizeof(why), "expected key=value");
                        err = FLOQ_ERR_CONFIG;
                } else {
                        *eq = '\0';
                        key = trim(s);
                        value = trim(eq + 1);
                        if (!*key) {
                                snprintf(why, sizeof(why), "empty key");
                                err = FLOQ_ERR_CONFIG;
                        } else {
                                err = floq_conf_set(conf, key, value, why,
                                                    sizeof(why));
                        }
                }
                if (err) {
                        floq_seterr(errstr, errstr_size, err, "%s:%u: %s",
                                    path, lineno, why);
                        goto out;
                }
        }
        if (ferror(fp))
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                  "cannot read '%s': %s", path,
                                  strerror(errno));
out:
        free(line);
        fclose(fp);
        return err;
}

/* "worker.concurrency" -> "FLOQ_WORKER_CONCURRENCY" */
static void env_name(const char *prop, char *buf, size_t size) {
        size_t n = (size_t)snprintf(buf, size, "FLOQ_");
        char *p;

        snprintf(buf + n, size - n, "%s", prop);
        for (p = buf + n; *p; p++) {
                if (*p == '.' || *p == '-')
                        *p = '_';
                else
                        *p = (char)toupper((unsigned char)*p);
        }
}

static const char *env_lookup(char **envp, const char *name) {
        size_t len = strlen(name);

        for (; *envp; envp++)
                if (!strncmp(*envp, name, len) && (*envp)[len] == '=')
                        return *envp + len + 1;
        return NULL;
}

floq_err_t floq_conf_load_env(floq_conf_t *conf, char **envp, char *errstr,
                              size_t errstr_size) {
        char name[128], why[512];
        size_t i;
        floq_err_t err;

        if (!envp)
                envp = environ;
        if (!envp)
                return FLOQ_OK;
        /* Walk the table, not the environment: the mapping back from
         * FLOQ_A_B is ambiguous ('.' or '-'), the mapping forward is not. */
        for (i = 0; i < CONF_PROP_CNT; i++) {
                const char *value;

                env_name(conf_props[i].name, name, sizeof(name));
                if (!(value = env_lookup(envp, name)))
                        continue;
                if ((err = set_prop(conf, (int)i, value, why, sizeof(why))))
                        return floq_seterr(errstr, errstr_size, err,
                                           "%s: %s", name, why);
        }
        return FLOQ_OK;
}

/* ---------------------------------------------------------------- getters */

static int prop_index_or_abort(const char *name) {
        int idx = prop_index(name);

        if (idx == -1) {
                /* A name missing from the table is a programming error;
                 * say which before dying so the bug is a one-liner to fix. */
                fprintf(stderr, "floq: unknown config property '%s'\n", name);
                abort();
        }
        return idx;
}

const char *floq_conf_get(const floq_conf_t *conf, const char *name) {
        int idx;
        size_t i;

        if (!conf || !name)
                return NULL;
        if ((idx = prop_index(name)) != -1)
                return conf->values[idx];
        if (!strncmp(name, "kafka.", 6))
                name += 6;
        if (is_bootstrap_key(name))
                return conf->values[prop_index("brokers")];
        for (i = 0; i < conf->kafka_cnt; i++)
                if (!strcmp(conf->kafka[i].key, name))
                        return conf->kafka[i].value;
        return NULL;
}

const char *floq_conf_str(const floq_conf_t *conf, const char *name) {
        return conf->values[prop_index_or_abort(name)];
}

int64_t floq_conf_int(const floq_conf_t *conf, const char *name) {
        int idx = prop_index_or_abort(name);

        if (conf_props[idx].type == FLOQ_CONF_STR) {
                fprintf(stderr, "floq: config property '%s' is a string\n",
                        name);
                abort();
        }
        return conf->ints[idx];
}

int floq_conf_bool(const floq_conf_t *conf, const char *name) {
        int idx = prop_index_or_abort(name);

        if (conf_props[idx].type != FLOQ_CONF_BOOL) {
                fprintf(stderr, "floq: config property '%s' is not a bool\n",
                        name);
                abort();
        }
        return conf->ints[idx] != 0;
}

/* ----------------------------------------------------------- passthrough */

size_t floq_conf_kafka_cnt(const floq_conf_t *conf) {
        return conf->kafka_cnt;
}

void floq_conf_kafka_get(const floq_conf_t *conf, size_t i, const char **key,
                         const char **value) {
        *key = conf->kafka[i].key;
        *value = conf->kafka[i].value;
}

floq_err_t floq_conf_check_supported(const floq_conf_t *conf, char *errstr,
                                     size_t errstr_size) {
        const char *v = floq_conf_get(conf, "schema.registry.url");

        /* The codec reads Confluent framing, but nothing talks to a
         * registry: refuse rather than silently write single-object. */
        if (v && *v)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "not supported yet: schema.registry.url "
                                   "(no schema registry client; commands "
                                   "use single-object encoding)");
        return FLOQ_OK;
}

int floq_conf_kafka_key_is_secret(const char *key) {
        /* ssl.key.pem / ssl_key are private keys; sasl.oauthbearer.config
         * commonly embeds a client secret. */
        return strstr(key, "password") || strstr(key, "secret") ||
               !strcmp(key, "ssl.key.pem") || !strcmp(key, "ssl_key") ||
               !strcmp(key, "sasl.oauthbearer.config");
}

/* ------------------------------------------------------------------ output */

void floq_conf_print_help(FILE *out) {
        const floq_conf_prop_t *p;

        fprintf(out, "%-30s %-5s %-20s %s\n", "property", "type", "default",
                "description");
        for (p = conf_props; p->name; p++)
                fprintf(out, "%-30s %-5s %-20s %s\n", p->name,
                        type_name(p->type),
                        p->defval ? (*p->defval ? p->defval : "\"\"")
                                  : "(unset)",
                        p->help);
        fprintf(out, "\nAny librdkafka property can be given as "
                     "kafka.<name>=value, with -X <name>=value, or in the "
                     "properties file.\n");
}

void floq_conf_dump(const floq_conf_t *conf, FILE *out) {
        size_t i;

        /* Properties syntax, so a dump can be read back as a file. */
        for (i = 0; i < CONF_PROP_CNT; i++) {
                const char *v = conf->values[i];

                if (!v)
                        fprintf(out, "#%s=\n", conf_props[i].name);
                else if (conf_props[i].secret)
                        fprintf(out, "%s=(set)\n", conf_props[i].name);
                else
                        fprintf(out, "%s=%s\n", conf_props[i].name, v);
        }
        for (i = 0; i < conf->kafka_cnt; i++)
                fprintf(out, "kafka.%s=%s\n", conf->kafka[i].key,
                        floq_conf_kafka_key_is_secret(conf->kafka[i].key)
                                ? "(set)"
                                : conf->kafka[i].value);
}
