/*
 * floq_cron_tool - shows what a schedule will do, for people and test
 * scripts, over the same library calls `floq cron-next` makes:
 *
 *   floq_cron_tool next EXPR [--tz ZONE] [--from ISO8601] [--count N]
 *       the next N (default 5) fire times after --from (default now), one
 *       a line: "2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00"
 *   floq_cron_tool offset ZONE UNIX_SECONDS...
 *       "SECONDS OFFSET ISDST" per instant (to compare with zdump/python)
 *
 * Exit status: 0 ok, 1 nothing fires, 2 usage or invalid input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_common.h"

static void usage(void) {
        fprintf(stderr,
                "usage: floq_cron_tool next EXPR [--tz ZONE] "
                "[--from ISO8601] [--count N]\n"
                "       floq_cron_tool offset ZONE UNIX_SECONDS...\n");
}

static int cmd_next(int argc, char **argv) {
        const char *expr = NULL, *zone = "UTC", *from = NULL;
        char errstr[256], line[FLOQ_CRON_FIRE_BUFSZ];
        floq_tz_t *tz = NULL;
        floq_cron_t c;
        int64_t t;
        long count = 5, i;
        int rc = 2;

        for (i = 2; i < argc; i++) {
                if (!strcmp(argv[i], "--tz") && i + 1 < argc) {
                        zone = argv[++i];
                } else if (!strcmp(argv[i], "--from") && i + 1 < argc) {
                        from = argv[++i];
                } else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
                        char *end;

                        errno = 0;
                        count = strtol(argv[++i], &end, 10);
                        if (errno || *end || count < 1 || count > 100000) {
                                fprintf(stderr, "floq_cron_tool: --count "
                                                "must be 1-100000\n");
                                goto out;
                        }
                } else if (!expr && argv[i][0] != '-') {
                        expr = argv[i];
                } else {
                        usage();
                        goto out;
                }
        }
        if (!expr) {
                usage();
                goto out;
        }
        if (floq_cron_parse(expr, &c, errstr, sizeof(errstr))) {
                fprintf(stderr, "floq_cron_tool: invalid expression '%s': "
                                "%s\n", expr, errstr);
                goto out;
        }
        tz = floq_tz_load(zone, errstr, sizeof(errstr));
        if (!tz) {
                fprintf(stderr, "floq_cron_tool: %s\n", errstr);
                goto out;
        }
        if (!from) {
                t = floq_now_ms();
        } else if (floq_iso_parse(from, &t)) {
                fprintf(stderr, "floq_cron_tool: invalid instant '%s' "
                                "(want 2026-03-08T01:59:00Z or an offset "
                                "like +05:30)\n", from);
                goto out;
        }
        rc = 0;
        for (i = 0; i < count; i++) {
                t = floq_cron_next(&c, tz, t);
                if (t < 0) {
                        if (i == 0)
                                rc = 1;
                        break;
                }
                printf("%s\n", floq_cron_format_fire(t, tz, line,
                                                     sizeof(line)));
        }
out:
        floq_tz_destroy(tz);
        return rc;
}

static int cmd_offset(int argc, char **argv) {
        char errstr[256];
        floq_tz_t *tz;
        int i, rc = 0;

        if (argc < 3) {
                usage();
                return 2;
        }
        tz = floq_tz_load(argv[2], errstr, sizeof(errstr));
        if (!tz) {
                fprintf(stderr, "floq_cron_tool: %s\n", errstr);
                return 2;
        }
        for (i = 3; i < argc; i++) {
                char *end;
                long long s;
                int dst, off;

                errno = 0;
                s = strtoll(argv[i], &end, 10);
                if (errno || *end) {
                        fprintf(stderr, "floq_cron_tool: bad seconds '%s'\n",
                                argv[i]);
                        rc = 2;
                        break;
                }
                off = floq_tz_offset_at(tz, s, &dst);
                printf("%lld %d %d\n", s, off, dst);
        }
        floq_tz_destroy(tz);
        return rc;
}

int main(int argc, char **argv) {
        if (argc >= 2 && !strcmp(argv[1], "next"))
                return cmd_next(argc, argv);
        if (argc >= 2 && !strcmp(argv[1], "offset"))
                return cmd_offset(argc, argv);
        usage();
        return 2;
}
