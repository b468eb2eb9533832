/*
 * fuzz_cron.c - libFuzzer target for what users type into schedules: the
 * cron parser (common/cron.c), the next-fire search over it in a few
 * zones, ISO 8601 instants (floq_iso_parse(), what `floq cron-next
 * --after` reads) and POSIX TZ rules (floq_tz_from_posix(), the rule part
 * of a TZif footer). The input is text:
 *
 *     line 1   a cron expression
 *     line 2   optional: the instant to start after (ISO 8601)
 *     line 3   optional: a POSIX TZ rule, an extra zone
 *
 * Beyond crashes it checks what docs/schedules.md promises: fires are
 * whole seconds, strictly increasing, within the 8-year search window;
 * each fire's wall time matches the expression, except the first instant
 * after a spring-forward gap for a schedule with restricted hours. When
 * the first fire is within an hour, a brute-force walk checks it is the
 * right one: for a schedule of every hour (or any schedule in a
 * fixed-offset zone) the first second whose wall time matches; for
 * restricted hours in the built-in zones the first matching wall time
 * whose instant (the first pass of a fold, the end of a gap) is later.
 * Each zone gets at most FIRES_MAX fires, so an input costs microseconds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_common.h"
#include "cron_int.h"

#define FIRES_MAX 4
/* How far the brute-force "nothing skipped" check walks, seconds. */
#define BRUTE_MAX 3600
#define SEARCH_SEC ((int64_t)(8 * 366 + 2) * 86400)
#define LINE_MAX_ 2048

/* The zones every expression is evaluated in: fixed offsets, POSIX rules
 * with a 1-hour and a 30-minute shift, and one real TZif file with a
 * century of history when the system has it. */
static const char *const posix_zones[] = {
        "EST5EDT,M3.2.0,M11.1.0",
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", /* Australia/Lord_Howe */
};
static floq_tz_t *zones[8];
/* 1: one constant offset; 2: shifts of at most 2 h (all built-in ones) */
static int fixed[8];
static size_t zone_cnt;

static void zones_init(void) {
        char errstr[256];
        size_t i;

        if (zone_cnt)
                return;
        zones[zone_cnt] = floq_tz_load("UTC", errstr, sizeof(errstr));
        fixed[zone_cnt++] = 1;
        zones[zone_cnt] = floq_tz_load("+05:45", errstr, sizeof(errstr));
        fixed[zone_cnt++] = 1;
        for (i = 0; i < sizeof(posix_zones) / sizeof(*posix_zones); i++) {
                zones[zone_cnt] = floq_tz_from_posix(NULL, posix_zones[i],
                                                     errstr, sizeof(errstr));
                fixed[zone_cnt++] = 2;
        }
        for (i = 0; i < zone_cnt; i++) {
                if (!zones[i]) {
                        fprintf(stderr, "fuzz_cron: cannot set up zone %zu\n",
                                i);
                        abort();
                }
        }
        /* optional: the fuzzer still works without a tz database */
        if ((zones[zone_cnt] = floq_tz_load("Europe/London", errstr,
                                            sizeof(errstr))))
                fixed[zone_cnt++] = 2;
}

static void fail(const char *what, const char *expr, const floq_tz_t *tz,
                 int64_t after, int64_t got) {
        fprintf(stderr,
                "fuzz_cron: %s: '%s' in %s after %lld ms gave %lld ms\n",
                what, expr, floq_tz_name(tz), (long long)after,
                (long long)got);
        abort();
}

/* Does wall time @p l (local seconds) match every field of @p c? */
static int wall_matches(const floq_cron_t *c, int64_t l) {
        int64_t days = floq_floor_div(l, 86400), y;
        int sod = (int)(l - days * 86400), m, d, dom, dow;

        floq_civil_from_days(days, &y, &m, &d);
        dom = (c->dom >> d) & 1;
        dow = (c->dow >> floq_weekday(days)) & 1;
        if (!((c->second >> (sod % 60)) & 1) ||
            !((c->minute >> (sod / 60 % 60)) & 1) ||
            !((c->hour >> (sod / 3600)) & 1) || !((c->month >> m) & 1))
                return 0;
        if (c->flags & (FLOQ_CRON_F_DOM_STAR | FLOQ_CRON_F_DOW_STAR))
                return dom && dow;
        return dom || dow;
}

/*
 * The first fire after @p after_s (seconds) by brute force, or
 * CRON_UNKNOWN when it is not within BRUTE_MAX: every instant whose wall
 * time matches fires (a schedule of every hour, or a fixed offset).
 */
#define CRON_UNKNOWN INT64_MIN
static int64_t brute_real(const floq_cron_t *c, const floq_tz_t *tz,
                          int64_t after_s) {
        int64_t t;

        for (t = after_s + 1; t <= after_s + BRUTE_MAX; t++)
                if (wall_matches(c, t + floq_tz_offset_at(tz, t, NULL)))
                        return t;
        return CRON_UNKNOWN;
}

/*
 * Restricted hours: each matching wall time fires once, at its instant,
 * the first pass of a fold, or the end of a gap; the map from wall time to
 * instant never decreases, so the first fire is that of the first
 * matching wall time whose instant is after @p after_s. The walk starts
 * 3 h below the wall time at @p after_s: enough in zones whose offset
 * moves by at most 2 h at once.
 */
static int64_t brute_wall(const floq_cron_t *c, const floq_tz_t *tz,
                          int64_t after_s) {
        int64_t w0 = after_s + floq_tz_offset_at(tz, after_s, NULL) - 10800;
        int64_t w, u[2];

        for (w = w0; w <= w0 + 10800 + BRUTE_MAX; w++) {
                if (!wall_matches(c, w))
                        continue;
                floq_tz_local_to_utc(tz, w, u);
                if (u[0] > after_s)
                        return u[0];
        }
        return CRON_UNKNOWN;
}

static void check_zone(const floq_cron_t *c, const char *expr,
                       const floq_tz_t *tz, int is_fixed, int64_t after) {
        int every_hour = (c->hour & 0xffffffu) == 0xffffffu;
        char line[FLOQ_CRON_FIRE_BUFSZ];
        int i;

        for (i = 0; i < FIRES_MAX; i++) {
                int64_t r = floq_cron_next(c, tz, after), s, l, t;

                if (r == -1)
                        return;
                s = r / 1000;
                if (r <= after || r % 1000 != 0)
                        fail("fire not a whole second after the start", expr,
                             tz, after, r);
                if (s > floq_floor_div(after, 1000) + 1 + SEARCH_SEC)
                        fail("fire beyond the search window", expr, tz, after,
                             r);
                l = s + floq_tz_offset_at(tz, s, NULL);
                /* Only a restricted-hours schedule may fire off its wall
                 * time, and only at the end of a gap. */
                if (!wall_matches(c, l) &&
                    (every_hour || floq_tz_offset_at(tz, s - 1, NULL) >=
                                           floq_tz_offset_at(tz, s, NULL)))
                        fail("fire's wall time does not match", expr, tz,
                             after, r);
                if (i == 0 && (is_fixed == 1 || (is_fixed && every_hour))) {
                        t = brute_real(c, tz, floq_floor_div(after, 1000));
                        if (t != CRON_UNKNOWN && t != s)
                                fail("not the first matching second", expr,
                                     tz, after, r);
                } else if (i == 0 && is_fixed) {
                        t = brute_wall(c, tz, floq_floor_div(after, 1000));
                        if (t != CRON_UNKNOWN && t != s)
                                fail("not the first matching wall time", expr,
                                     tz, after, r);
                }
                floq_cron_format_fire(r, tz, line, sizeof(line));
                after = r;
        }
}

/* ISO text back from floq_ms_to_iso() must parse to the same instant. */
static void check_iso(int64_t ms) {
        char text[64];
        int64_t again;

        floq_ms_to_iso(ms, text, sizeof(text));
        if (text[0] < '0' || text[0] > '9' || strlen(text) != 24)
                return; /* a year outside 0000-9999 has no such text */
        if (floq_iso_parse(text, &again) != FLOQ_OK || again != ms) {
                fprintf(stderr, "fuzz_cron: %lld ms printed as %s reads back "
                                "as %lld ms\n",
                        (long long)ms, text, (long long)again);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char text[3][LINE_MAX_ + 1], errstr[256];
        int64_t after = 1772884800000LL; /* 2026-03-07T12:00:00Z */
        floq_tz_t *extra = NULL;
        floq_cron_t c;
        size_t pos = 0, i, n;
        int nlines;

        zones_init();
        /* split into at most 3 lines (the last takes the rest) */
        for (nlines = 0; nlines < 3 && (nlines == 0 || pos < size); nlines++) {
                const uint8_t *nl = nlines < 2 ? memchr(data + pos, '\n',
                                                        size - pos)
                                               : NULL;
                n = nl ? (size_t)(nl - (data + pos)) : size - pos;
                if (n > LINE_MAX_)
                        n = LINE_MAX_;
                memcpy(text[nlines], data + pos, n);
                text[nlines][n] = '\0'; /* a NUL inside ends it early */
                pos += (nl ? (size_t)(nl - (data + pos)) + 1 : size - pos);
        }
        if (nlines > 1 && text[1][0]) {
                int64_t ms;

                if (floq_iso_parse(text[1], &ms) == FLOQ_OK) {
                        after = ms;
                        check_iso(ms);
                }
        }
        if (nlines > 2 && text[2][0])
                extra = floq_tz_from_posix(NULL, text[2], errstr,
                                           sizeof(errstr));
        if (floq_cron_parse(text[0], &c, errstr, sizeof(errstr)) == FLOQ_OK) {
                for (i = 0; i < zone_cnt; i++)
                        check_zone(&c, text[0], zones[i], fixed[i], after);
                if (extra)
                        check_zone(&c, text[0], extra, 0, after);
        }
        floq_tz_destroy(extra);
        return 0;
}
