/*
 * ops.c - `floq ops`: what a platform needs to deploy floq, without Kafka.
 * `floq ops resources --size S` prints the requests and limits of each
 * component, `floq ops helm-values --size S` the values to pass to the
 * chart in ops/helm/floq (floe's get_resource_requirements and
 * get_helm_values). One table of sizes (sizes[] below) feeds both; the
 * chart's values.yaml carries the same numbers under sizes.<S>, and test
 * 0412 compares them with what the chart renders.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

/** Requests and limits of one component, in Kubernetes quantities. */
typedef struct ops_res_s {
        const char *cpu_req, *cpu_lim, *mem_req, *mem_lim;
} ops_res_t;

/** One deployment size. */
typedef struct ops_size_s {
        const char *name;
        int worker_replicas;
        int worker_concurrency; /**< worker.concurrency */
        ops_res_t worker;
        int console_replicas;
        ops_res_t console;
} ops_size_t;

static const ops_size_t sizes[] = {
        { "small", 1, 4, { "250m", "1", "256Mi", "512Mi" },
          1, { "50m", "250m", "64Mi", "128Mi" } },
        { "medium", 3, 8, { "500m", "2", "512Mi", "1Gi" },
          2, { "100m", "500m", "128Mi", "256Mi" } },
        { "large", 6, 16, { "1", "4", "1Gi", "2Gi" },
          2, { "250m", "1", "256Mi", "512Mi" } },
};
#define OPS_NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void ops_usage(FILE *out) {
        fputs("usage: floq ops resources --size small|medium|large [--json]\n"
              "       floq ops helm-values --size small|medium|large "
              "[--json]\n"
              "\n"
              "Deployment settings for a platform; local, no Kafka.\n"
              "  resources    requests and limits of each component (worker,"
              " console)\n"
              "  helm-values  the values to pass to the Helm chart "
              "(ops/helm/floq):\n"
              "               size, replicas, worker.concurrency, resources;"
              " YAML, or JSON\n"
              "               with --json (helm accepts both with -f)\n"
              "\n"
              "examples:\n"
              "  floq ops resources --size medium\n"
              "  floq ops helm-values --size large > values-large.yaml\n"
              "  helm install floq ops/helm/floq -f values-large.yaml\n",
              out);
}

static json_t *res_json(const ops_res_t *r) {
        return json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "requests", "cpu",
                         r->cpu_req, "memory", r->mem_req, "limits", "cpu",
                         r->cpu_lim, "memory", r->mem_lim);
}

static json_t *resources_json(const ops_size_t *s) {
        return json_pack("{s:o,s:o}", "worker", res_json(&s->worker),
                         "console", res_json(&s->console));
}

static json_t *values_json(const ops_size_t *s) {
        return json_pack("{s:s,s:{s:i,s:i,s:o},s:{s:i,s:o}}", "size",
                         s->name, "worker", "replicas", s->worker_replicas,
                         "concurrency", s->worker_concurrency, "resources",
                         res_json(&s->worker), "console", "replicas",
                         s->console_replicas, "resources",
                         res_json(&s->console));
}

/* Kubernetes quantities such as "1" must stay strings in YAML. */
static void yaml_res(FILE *out, const char *indent, const ops_res_t *r) {
        fprintf(out,
                "%sresources:\n"
                "%s  requests:\n%s    cpu: \"%s\"\n%s    memory: \"%s\"\n"
                "%s  limits:\n%s    cpu: \"%s\"\n%s    memory: \"%s\"\n",
                indent, indent, indent, r->cpu_req, indent, r->mem_req,
                indent, indent, r->cpu_lim, indent, r->mem_lim);
}

static int print_json(json_t *j) {
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                    : NULL;
        int rc = s ? FLOQ_EXIT_OK : FLOQ_EXIT_FAILED;

        if (s)
                printf("%s\n", s);
        else
                fprintf(stderr, "floq: out of memory\n");
        free(s);
        json_decref(j);
        return rc;
}

static int ops_resources(const ops_size_t *s, int json) {
        if (json)
                return print_json(resources_json(s));
        printf("%-10s %-12s %-10s %-15s %s\n", "COMPONENT", "CPU_REQUEST",
               "CPU_LIMIT", "MEMORY_REQUEST", "MEMORY_LIMIT");
        printf("%-10s %-12s %-10s %-15s %s\n", "worker", s->worker.cpu_req,
               s->worker.cpu_lim, s->worker.mem_req, s->worker.mem_lim);
        printf("%-10s %-12s %-10s %-15s %s\n", "console", s->console.cpu_req,
               s->console.cpu_lim, s->console.mem_req, s->console.mem_lim);
        return FLOQ_EXIT_OK;
}

static int ops_helm_values(const ops_size_t *s, int json) {
        if (json)
                return print_json(values_json(s));
        printf("# floq ops helm-values --size %s\n"
               "size: %s\n"
               "worker:\n  replicas: %d\n  concurrency: %d\n",
               s->name, s->name, s->worker_replicas, s->worker_concurrency);
        yaml_res(stdout, "  ", &s->worker);
        printf("console:\n  replicas: %d\n", s->console_replicas);
        yaml_res(stdout, "  ", &s->console);
        return FLOQ_EXIT_OK;
}

int floq_cli_ops_main(int argc, char **argv) {
        const char *sub = argc > 1 ? argv[1] : NULL;
        const char *size = NULL;
        const ops_size_t *s = NULL;
        int json = 0, i;
        size_t k;

        if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help") ||
            !strcmp(sub, "help")) {
                ops_usage(sub ? stdout : stderr);
                return sub ? FLOQ_EXIT_OK : FLOQ_EXIT_USAGE;
        }
        if (strcmp(sub, "resources") && strcmp(sub, "helm-values")) {
                fprintf(stderr,
                        "floq: ops: unknown command '%s' (expected "
                        "resources or helm-values)\nTry 'floq ops --help'.\n",
                        sub);
                return FLOQ_EXIT_USAGE;
        }
        for (i = 2; i < argc; i++) {
                if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
                        json = 1;
                } else if (!strcmp(argv[i], "-h") ||
                           !strcmp(argv[i], "--help")) {
                        ops_usage(stdout);
                        return FLOQ_EXIT_OK;
                } else if (!strcmp(argv[i], "--size")) {
                        if (i + 1 >= argc) {
                                fprintf(stderr,
                                        "floq: ops %s: --size needs a value "
                                        "(small, medium or large)\n",
                                        sub);
                                return FLOQ_EXIT_USAGE;
                        }
                        size = argv[++i];
                } else if (!strncmp(argv[i], "--size=", 7)) {
                        size = argv[i] + 7;
                } else {
                        fprintf(stderr,
                                "floq: ops %s: unknown option '%s'\n"
                                "Try 'floq ops --help'.\n",
                                sub, argv[i]);
                        return FLOQ_EXIT_USAGE;
                }
        }
        if (!size) {
                fprintf(stderr, "floq: ops %s needs --size "
                                "small|medium|large\n", sub);
                return FLOQ_EXIT_USAGE;
        }
        for (k = 0; k < OPS_NSIZES; k++)
                if (!strcmp(size, sizes[k].name))
                        s = &sizes[k];
        if (!s) {
                fprintf(stderr, "floq: ops %s: unknown size '%s' (expected "
                                "small, medium or large)\n", sub, size);
                return FLOQ_EXIT_USAGE;
        }
        return !strcmp(sub, "resources") ? ops_resources(s, json)
                                         : ops_helm_values(s, json);
}
