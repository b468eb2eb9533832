/*
 * test_tz.c - the TZif reader and zone arithmetic (common/tz.c): offsets
 * against glibc's own reading of the tz database (localtime_r with TZ set
 * in this test process only) for random instants in 24 zones, against
 * `zdump -v` when the system has it, POSIX footer rules, gaps and folds,
 * zone-name validation, and corrupt files (every truncation, random byte
 * flips) that must give errors, not crashes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "floq_common.h"
#include "cron_int.h"
#include "test_util.h"

static const char *const zones[] = {
        "America/New_York",    "America/Los_Angeles", "America/Chicago",
        "America/Sao_Paulo",   "America/Santiago",    "America/Havana",
        "America/St_Johns",    "Europe/London",       "Europe/Dublin",
        "Europe/Berlin",       "Europe/Moscow",       "Africa/Casablanca",
        "Africa/Cairo",        "Asia/Kolkata",        "Asia/Kathmandu",
        "Asia/Tokyo",          "Asia/Tehran",         "Asia/Gaza",
        "Australia/Lord_Howe", "Australia/Sydney",    "Australia/Adelaide",
        "Pacific/Chatham",     "Pacific/Apia",        "Pacific/Kiritimati",
};
#define NZONES ((int)(sizeof(zones) / sizeof(*zones)))

static floq_tz_t *load(const char *name) {
        char err[256];
        floq_tz_t *tz = floq_tz_load(name, err, sizeof(err));

        ck_assert_msg(tz != NULL, "%s: %s", name, err);
        return tz;
}

static unsigned rnd_state;
static uint64_t rnd64(void) {
        uint64_t a, b;

        rnd_state = rnd_state * 1103515245u + 12345u;
        a = rnd_state >> 8;
        rnd_state = rnd_state * 1103515245u + 12345u;
        b = rnd_state >> 8;
        return a << 24 | b;
}

/* ------------------------------------------------------ against glibc */

START_TEST(test_offsets_vs_glibc) {
        const char *zone = zones[_i];
        floq_tz_t *tz = load(zone);
        /* 1900 to 2200: the table, the time before it, and the footer. */
        const int64_t lo = -2208988800LL, span = 9467280000LL;
        int k;

        setenv("TZ", zone, 1);
        tzset();
        rnd_state = 5u + (unsigned)_i;
        for (k = 0; k < 20000; k++) {
                int64_t t = lo + (int64_t)(rnd64() % (uint64_t)span);
                time_t tt = (time_t)t;
                struct tm tm;
                int dst, off;

                /* Every tenth instant right at a change of offset. */
                if (k % 10 == 0) {
                        int64_t c = floq_tz_next_change(tz, t);

                        if (c != FLOQ_TZ_NEVER && c < lo + span)
                                t = c - (k % 20 == 0), tt = (time_t)t;
                }
                ck_assert(localtime_r(&tt, &tm) != NULL);
                off = floq_tz_offset_at(tz, t, &dst);
                ck_assert_msg(off == tm.tm_gmtoff,
                              "%s at %lld: offset %d, glibc %ld", zone,
                              (long long)t, off, (long)tm.tm_gmtoff);
                ck_assert_int_eq(floq_tz_utc_to_local(tz, t),
                                 t + tm.tm_gmtoff);
                if (t >= 0)
                        ck_assert_msg(dst == (tm.tm_isdst > 0),
                                      "%s at %lld: dst %d, glibc %d", zone,
                                      (long long)t, dst, tm.tm_isdst);
        }
        floq_tz_destroy(tz);
}
END_TEST

/* Every line of `zdump -v -c 1970,2040 ZONE` is an instant and its offset. */
START_TEST(test_offsets_vs_zdump) {
        static const char *mons = "JanFebMarAprMayJunJulAugSepOctNovDec";
        const char *zone = zones[_i];
        floq_tz_t *tz = load(zone);
        char cmd[256], line[512];
        FILE *p;
        int n = 0;

        if (access("/usr/bin/zdump", X_OK) != 0 &&
            access("/usr/sbin/zdump", X_OK) != 0) {
                floq_tz_destroy(tz);
                return; /* no oracle on this system */
        }
        snprintf(cmd, sizeof(cmd), "zdump -v -c 1970,2040 %s 2>/dev/null",
                 zone);
        p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        while (fgets(line, sizeof(line), p)) {
                char z[64], wd[4], mon[4];
                int d, h, mi, s, y, isdst, off;
                long gmtoff;
                const char *m, *g;
                int64_t t;

                if (sscanf(line, "%63s %3s %3s %d %d:%d:%d %d UT", z, wd, mon,
                           &d, &h, &mi, &s, &y) != 8 ||
                    !(m = strstr(mons, mon)) ||
                    !(g = strstr(line, "isdst=")) ||
                    sscanf(g, "isdst=%d gmtoff=%ld", &isdst, &gmtoff) != 2)
                        continue;
                t = floq_days_from_civil(y, (int)(m - mons) / 3 + 1, d) *
                            86400 +
                    h * 3600 + mi * 60 + s;
                off = floq_tz_offset_at(tz, t, NULL);
                ck_assert_msg(off == gmtoff, "%s: %s -> %d", zone, line,
                              off);
                n++;
        }
        pclose(p);
        floq_tz_destroy(tz);
        /* Zones without changes since 1970 print nothing to compare. */
        ck_assert_int_ge(n, 0);
}
END_TEST

/* ------------------------------------------------- gaps, folds, changes */

START_TEST(test_local_to_utc) {
        floq_tz_t *tz = load("America/New_York");
        int64_t u[2];

        /* 2026-03-08 02:30 does not exist: the gap ends at 07:00Z. */
        ck_assert_int_eq(floq_tz_local_to_utc(tz, 1772937000, u), 0);
        ck_assert_int_eq(u[0], 1772953200);
        ck_assert_int_eq(u[1], 1772953200);
        /* 2026-11-01 01:30 happens at 05:30Z (EDT) and 06:30Z (EST). */
        ck_assert_int_eq(floq_tz_local_to_utc(tz, 1793496600, u), 2);
        ck_assert_int_eq(u[0], 1793511000);
        ck_assert_int_eq(u[1], 1793514600);
        /* 2026-07-01 12:00 EDT. */
        ck_assert_int_eq(floq_tz_local_to_utc(tz, 1782907200, u), 1);
        ck_assert_int_eq(u[0], 1782921600);
        ck_assert_int_eq(floq_tz_next_change(tz, 1772953199), 1772953200);
        ck_assert_int_eq(floq_tz_next_change(tz, 1772953200), 1793512800);
        floq_tz_destroy(tz);

        /* Lord Howe: 30-minute gap and fold. */
        tz = load("Australia/Lord_Howe");
        /* 2026-10-04 02:15 local: gap, ends 2026-10-03T15:30Z. */
        ck_assert_int_eq(floq_tz_local_to_utc(tz, 1791080100, u), 0);
        ck_assert_int_eq(u[0], 1791041400);
        /* 2026-04-05 01:45 local: 14:45Z (+11) and 15:15Z (+10:30). */
        ck_assert_int_eq(floq_tz_local_to_utc(tz, 1775353500, u), 2);
        ck_assert_int_eq(u[0], 1775313900);
        ck_assert_int_eq(u[1], 1775315700);
        floq_tz_destroy(tz);

        /* Samoa skipped 2011-12-30 entirely: a day-long gap. */
        tz = load("Pacific/Apia");
        ck_assert_int_eq(floq_tz_local_to_utc(tz, 1325246400, u), 0);
        ck_assert_int_eq(floq_tz_utc_to_local(tz, u[0]), 1325289600);
        floq_tz_destroy(tz);
}
END_TEST

/* Every local second around transitions round-trips through the API. */
START_TEST(test_local_roundtrip) {
        floq_tz_t *tz = load(zones[_i]);
        int64_t t = 1735689600; /* 2025-01-01 */
        int c;

        for (c = 0; c < 4; c++) {
                int64_t u, l;

                t = floq_tz_next_change(tz, t);
                if (t == FLOQ_TZ_NEVER)
                        break;
                for (u = t - 7200; u < t + 7200; u += 60) {
                        int64_t v[2];
                        int n;

                        l = floq_tz_utc_to_local(tz, u);
                        n = floq_tz_local_to_utc(tz, l, v);
                        ck_assert_msg(n >= 1 && (v[0] == u || v[1] == u),
                                      "%s: %lld -> %lld -> %d %lld %lld",
                                      zones[_i], (long long)u, (long long)l,
                                      n, (long long)v[0], (long long)v[1]);
                }
        }
        floq_tz_destroy(tz);
}
END_TEST

/* ------------------------------------------------------ POSIX footers */

START_TEST(test_posix_rules) {
        static const struct {
                const char *rule;
                const char *when; /* instant */
                int off, dst;
        } ok[] = {
                {"EST5EDT,M3.2.0,M11.1.0", "2040-03-11T06:59:59Z", -18000, 0},
                {"EST5EDT,M3.2.0,M11.1.0", "2040-03-11T07:00:00Z", -14400, 1},
                {"EST5EDT,M3.2.0,M11.1.0", "2040-11-04T05:59:59Z", -14400, 1},
                {"EST5EDT,M3.2.0,M11.1.0", "2040-11-04T06:00:00Z", -18000, 0},
                {"EST5EDT", "2040-07-01T00:00:00Z", -14400, 1},
                {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
                 "2040-10-06T00:00:00+10:30", 37800, 0},
                {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
                 "2040-12-25T00:00:00Z", 39600, 1},
                /* Dublin: winter is the "DST" with a negative save. */
                {"IST-1GMT0,M10.5.0,M3.5.0/1", "2040-01-15T00:00:00Z", 0, 1},
                {"IST-1GMT0,M10.5.0,M3.5.0/1", "2040-07-15T00:00:00Z", 3600,
                 0},
                /* Santiago: 24:00 transition times. */
                {"<-04>4<-03>,M9.1.6/24,M4.1.6/24", "2040-01-15T00:00:00Z",
                 -10800, 1},
                {"<-04>4<-03>,M9.1.6/24,M4.1.6/24", "2040-06-15T00:00:00Z",
                 -14400, 0},
                /* Permanent DST written as an all-year rule. */
                {"EST5EDT,0/0,J365/25", "2040-01-01T00:00:00Z", -14400, 1},
                {"EST5EDT,0/0,J365/25", "2040-12-31T23:00:00Z", -14400, 1},
                {"EST5EDT,0/0,J365/25", "2041-01-01T04:59:59Z", -14400, 1},
                /* Jn skips Feb 29, n counts it: both Mar 1 in 2040. */
                {"AAA3BBB,J60/0,J300/0", "2040-03-01T02:59:59Z", -10800, 0},
                {"AAA3BBB,J60/0,J300/0", "2040-03-01T03:00:00Z", -7200, 1},
                {"AAA3BBB,60/0,300/0", "2040-03-01T03:00:00Z", -7200, 1},
                {"AAA3BBB,60/0,300/0", "2040-02-29T03:00:00Z", -10800, 0},
                /* v3 hours beyond 24 and negative times. */
                {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2040-03-25T00:59:59Z",
                 -7200, 0},
                {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2040-03-25T01:00:00Z",
                 -3600, 1},
                {"XXX-3:30", "2040-01-01T00:00:00Z", 12600, 0},
                {"<+0545>-5:45", "2040-01-01T00:00:00Z", 20700, 0},
        };
        static const char *bad[] = {
                "E5",        "EST",       "EST5EDT,M13.1.0,M11.1.0",
                "EST5EDT,M3.2.0", "EST5EDT,M3.2.0,M11.1.0,",
                "<EST5",     "EST25",     "EST5EDT,M3.6.0,M11.1.0",
                "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J100",
                "EST5EDT,366,0", "EST5EDT,M3.2.0/168,M11.1.0",
                "EST5:60",   "<ES>5",     "EST5EDT4x",
        };
        char err[256];
        size_t i;

        for (i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
                floq_tz_t *tz = floq_tz_from_posix(NULL, ok[i].rule, err,
                                                   sizeof(err));
                int64_t ms;
                int dst, off;

                ck_assert_msg(tz != NULL, "%s: %s", ok[i].rule, err);
                ck_assert_int_eq(floq_iso_parse(ok[i].when, &ms), FLOQ_OK);
                off = floq_tz_offset_at(tz, ms / 1000, &dst);
                ck_assert_msg(off == ok[i].off && dst == ok[i].dst,
                              "%s at %s: %d/%d, want %d/%d", ok[i].rule,
                              ok[i].when, off, dst, ok[i].off, ok[i].dst);
                floq_tz_destroy(tz);
        }
        for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                floq_tz_t *tz = floq_tz_from_posix(NULL, bad[i], err,
                                                   sizeof(err));

                ck_assert_msg(tz == NULL, "'%s' accepted", bad[i]);
        }
}
END_TEST

/*
 * Rule times of +-167 h can make one year's DST end after the next year's
 * start. The latest event decides, so with "J8/-167" (Jan 1 01:00) and
 * "J365/167" (Jan 6 23:00 of the next year) 2040 is DST from Jan 1 04:00Z
 * only until the end of 2039's DST on Jan 7 01:00Z; the end of 2038's DST
 * (Jan 7 2039) must not be forgotten at the start of 2040. Found by
 * fuzz_tz (tests/fuzz/corpus/tz/bug-overlapping-dst-years).
 */
START_TEST(test_posix_overlapping_years) {
        static const struct {
                const char *when;
                int off;
        } want[] = {
                {"2039-12-31T12:00:00Z", -10800},
                {"2040-01-01T03:59:59Z", -10800},
                {"2040-01-01T04:00:00Z", -7200},
                {"2040-01-07T00:59:59Z", -7200},
                {"2040-01-07T01:00:00Z", -10800},
        };
        char err[256];
        floq_tz_t *tz = floq_tz_from_posix(NULL, "AAA3BBB,J8/-167,J365/167",
                                           err, sizeof(err));
        int64_t ms, t, e, lo, hi;
        size_t i;

        ck_assert_msg(tz != NULL, "%s", err);
        for (i = 0; i < sizeof(want) / sizeof(*want); i++) {
                ck_assert_int_eq(floq_iso_parse(want[i].when, &ms), FLOQ_OK);
                ck_assert_msg(floq_tz_offset_at(tz, ms / 1000, NULL) ==
                                      want[i].off,
                              "at %s: %d, want %d", want[i].when,
                              floq_tz_offset_at(tz, ms / 1000, NULL),
                              want[i].off);
        }
        /* next_change agrees with offset_at, hour by hour */
        ck_assert_int_eq(floq_iso_parse("2039-12-20T00:00:00Z", &lo), FLOQ_OK);
        ck_assert_int_eq(floq_iso_parse("2040-01-20T00:00:00Z", &hi), FLOQ_OK);
        for (t = lo / 1000; t < hi / 1000; t += 3600) {
                int o = floq_tz_offset_at(tz, t, NULL);

                e = floq_tz_next_change(tz, t);
                ck_assert_msg(e > t && floq_tz_offset_at(tz, e, NULL) != o &&
                                      floq_tz_offset_at(tz, e - 1, NULL) == o,
                              "next change after %lld: %lld", (long long)t,
                              (long long)e);
        }
        floq_tz_destroy(tz);
}
END_TEST

/*
 * A TZif transition may be any 64-bit instant, and the footer rule applies
 * after the last one: the rule's year arithmetic must not overflow at
 * INT64_MAX (UBSan: signed overflow in rule_local()). Found by fuzz_tz
 * (tests/fuzz/corpus/tz/bug-transition-at-int64-max); this test fails
 * under `make asan` without the fix.
 */
START_TEST(test_transition_at_int64_max) {
        /* v2: an empty 32-bit block, then one transition at INT64_MAX to
         * EST, then the US rule */
        static const char footer[] = "\nEST5EDT,M3.2.0,M11.1.0\n";
        unsigned char buf[256], *p = buf;
        static const int64_t at[] = {
                INT64_MIN, -((int64_t)1 << 61), 0, (int64_t)1 << 61,
                INT64_MAX - 1, INT64_MAX,
        };
        char err[256];
        floq_tz_t *tz;
        size_t i;
        int blk;

        for (blk = 0; blk < 2; blk++) {
                memset(p, 0, 44);
                memcpy(p, "TZif2", 5);
                p[35] = (unsigned char)blk; /* timecnt */
                p[39] = 1;                  /* typecnt */
                p[43] = 4;                  /* charcnt */
                p += 44;
                if (blk) {
                        memcpy(p, "\x7f\xff\xff\xff\xff\xff\xff\xff\x00", 9);
                        p += 9;
                }
                memcpy(p, "\xff\xff\xb9\xb0\x00\x00" "EST", 10); /* -18000 */
                p += 10;
        }
        memcpy(p, footer, sizeof(footer) - 1);
        p += sizeof(footer) - 1;
        tz = floq_tz_from_tzif("max", buf, (size_t)(p - buf), err,
                               sizeof(err));
        ck_assert_msg(tz != NULL, "%s", err);
        for (i = 0; i < sizeof(at) / sizeof(*at); i++) {
                int o = floq_tz_offset_at(tz, at[i], NULL);
                int64_t e = floq_tz_next_change(tz, at[i]);

                ck_assert(o == -18000 || o == -14400);
                if (e == FLOQ_TZ_NEVER)
                        continue;
                ck_assert_msg(e > at[i] && floq_tz_offset_at(tz, e, NULL) != o &&
                                      floq_tz_offset_at(tz, e - 1, NULL) == o,
                              "next change after %lld: %lld",
                              (long long)at[i], (long long)e);
        }
        floq_tz_destroy(tz);
}
END_TEST

/*
 * A jump forward soon followed by a jump back: a wall time inside the
 * first gap can still happen after the second change, so it is not a gap.
 * Offset 0, +2 h from t = 1000, 0 again from t = 1600: wall time 1200 never
 * happens (gap, ends at 1000), 5000 happens once (at 5000, though it lies
 * in the first gap), 8500 twice (1300 and 8500). Found by fuzz_tz
 * (tests/fuzz/corpus/tz/bug-gap-then-back).
 */
START_TEST(test_gap_then_back) {
        static const unsigned char file[] =
                "TZif\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                "\0\0\0\0" "\0\0\0\0" "\0\0\0\0" /* isut, isstd, leap */
                "\0\0\0\2" "\0\0\0\2" "\0\0\0\10" /* time, type, char */
                "\0\0\3\350" "\0\0\6\100"        /* 1000, 1600 */
                "\1\0"                           /* to +2h, back to 0 */
                "\0\0\0\0\0\0" "\0\0\34\40\1\4"  /* 0; 7200 DST */
                "AAA\0BBB";                      /* last NUL: the literal's */
        static const struct {
                int64_t local;
                int n;
                int64_t u0, u1;
        } want[] = {
                {500, 1, 500, 500},    {1200, 0, 1000, 1000},
                {5000, 1, 5000, 5000}, {8500, 2, 1300, 8500},
        };
        char err[256];
        floq_tz_t *tz = floq_tz_from_tzif("back", file, sizeof(file), err,
                                          sizeof(err));
        size_t i;

        ck_assert_msg(tz != NULL, "%s", err);
        for (i = 0; i < sizeof(want) / sizeof(*want); i++) {
                int64_t u[2];
                int n = floq_tz_local_to_utc(tz, want[i].local, u);

                ck_assert_msg(n == want[i].n && u[0] == want[i].u0 &&
                                      u[1] == want[i].u1,
                              "wall %lld: %d (%lld, %lld), want %d (%lld, "
                              "%lld)",
                              (long long)want[i].local, n, (long long)u[0],
                              (long long)u[1], want[i].n,
                              (long long)want[i].u0, (long long)want[i].u1);
        }
        floq_tz_destroy(tz);
}
END_TEST

/* ------------------------------------------------------------- names */

START_TEST(test_names) {
        static const struct {
                const char *name;
                int off;
        } fixed[] = {
                {"UTC", 0},          {"GMT", 0},           {"Z", 0},
                {"Etc/UTC", 0},      {"UTC+05:30", 19800}, {"UTC-3", -10800},
                {"+05:45", 20700},   {"-0930", -34200},    {"GMT0", 0},
                {"Etc/GMT+5", -18000},
        };
        static const char *bad[] = {
                "",
                "../etc/passwd",
                "/etc/localtime",
                "America/../UTC",
                "America/./New_York",
                "America//New_York",
                "America/New_York/",
                ".",
                "..",
                "America/New York",
                "America/New_York\n",
                "zone.tab",
                "-rf",
                "UTC+05:3",
                "UTC+26",
                "GMT+1", /* ambiguous sign: not a fixed offset, no file */
        };
        char err[256];
        size_t i;
        floq_tz_t *tz;

        for (i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
                tz = load(fixed[i].name);
                ck_assert_int_eq(floq_tz_offset_at(tz, 1767225600, NULL),
                                 fixed[i].off);
                ck_assert_str_eq(floq_tz_name(tz), fixed[i].name);
                floq_tz_destroy(tz);
        }
        for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                err[0] = '\0';
                tz = floq_tz_load(bad[i], err, sizeof(err));
                ck_assert_msg(tz == NULL, "'%s' loaded", bad[i]);
                ck_assert_msg(err[0] != '\0', "'%s': no error", bad[i]);
        }
        ck_assert_ptr_null(floq_tz_load(NULL, err, sizeof(err)));
        tz = floq_tz_load("Nowhere/City", err, sizeof(err));
        ck_assert_ptr_null(tz);
        ck_assert_msg(strstr(err, "unknown time zone 'Nowhere/City'"), "%s",
                      err);
        /* A folder is not a zone. */
        ck_assert_ptr_null(floq_tz_load("America", err, sizeof(err)));
        /* Leap-second zones are refused, not misread. */
        if (access("/usr/share/zoneinfo/right/UTC", R_OK) == 0) {
                ck_assert_ptr_null(floq_tz_load("right/UTC", err,
                                                sizeof(err)));
                ck_assert_msg(strstr(err, "leap seconds"), "%s", err);
        }
        floq_tz_destroy(NULL);
}
END_TEST

/* ------------------------------------------------------ corrupt files */

static unsigned char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        unsigned char *buf = malloc(FLOQ_TZ_FILE_MAX);

        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(buf);
        *len = fread(buf, 1, FLOQ_TZ_FILE_MAX, f);
        fclose(f);
        return buf;
}

START_TEST(test_corrupt) {
        size_t len, i;
        unsigned char *buf = slurp("/usr/share/zoneinfo/America/New_York",
                                   &len), *copy = malloc(len);
        char err[256];
        floq_tz_t *tz;
        int k, loaded = 0;

        ck_assert_ptr_nonnull(copy);
        tz = floq_tz_from_tzif("x", buf, len, err, sizeof(err));
        ck_assert_msg(tz != NULL, "%s", err);
        floq_tz_destroy(tz);
        /* Every truncation is an error: the footer's newline ends a file. */
        for (i = 0; i < len; i++) {
                memcpy(copy, buf, i);
                tz = floq_tz_from_tzif("x", copy, i, err, sizeof(err));
                ck_assert_msg(tz == NULL, "truncated at %zu loaded", i);
        }
        /* Random byte flips: an error or a zone, never a crash (ASan and
         * valgrind watch the reads). */
        rnd_state = 42;
        for (k = 0; k < 3000; k++) {
                int flips = 1 + (int)(rnd64() % 4), f;

                memcpy(copy, buf, len);
                for (f = 0; f < flips; f++)
                        copy[rnd64() % len] = (unsigned char)rnd64();
                tz = floq_tz_from_tzif("x", copy, len, err, sizeof(err));
                if (tz) {
                        int64_t u[2];

                        loaded++;
                        (void)floq_tz_offset_at(tz, 1772953200, NULL);
                        (void)floq_tz_local_to_utc(tz, 1772937000, u);
                        (void)floq_tz_next_change(tz, 0);
                        floq_tz_destroy(tz);
                }
        }
        ck_assert_int_lt(loaded, 3000);
        /* Headers claiming huge counts. */
        memcpy(copy, buf, len);
        memset(copy + 32, 0xff, 4);
        ck_assert_ptr_null(floq_tz_from_tzif("x", copy, len, err,
                                             sizeof(err)));
        ck_assert_ptr_null(floq_tz_from_tzif("x", NULL, 0, err, sizeof(err)));
        ck_assert_ptr_null(floq_tz_from_tzif("x", "TZif", 4, err,
                                             sizeof(err)));
        free(copy);
        free(buf);
}
END_TEST

/* A hand-made version 1 file (no 64-bit block, no footer). */
START_TEST(test_v1_file) {
        unsigned char f[44 + 2 * 4 + 2 + 2 * 6 + 8];
        unsigned char *p = f + 44;
        char err[256], dir[] = "/tmp/floq-tzdir-XXXXXX", path[64];
        floq_tz_t *tz;
        FILE *out;

        memset(f, 0, sizeof(f));
        memcpy(f, "TZif", 4);
        f[35] = 2; /* timecnt */
        f[39] = 2; /* typecnt */
        f[43] = 8; /* charcnt */
        /* transitions at 1000 and 2000 */
        p[2] = 0x03, p[3] = 0xe8;
        p[6] = 0x07, p[7] = 0xd0;
        p += 8;
        p[0] = 1, p[1] = 0; /* types */
        p += 2;
        /* type 0: +3600 std "AAA"; type 1: +7200 dst "BBB" */
        p[2] = 0x0e, p[3] = 0x10, p[4] = 0, p[5] = 0;
        p[8] = 0x1c, p[9] = 0x20, p[10] = 1, p[11] = 4;
        memcpy(p + 12, "AAA\0BBB\0", 8);

        tz = floq_tz_from_tzif("v1", f, sizeof(f), err, sizeof(err));
        ck_assert_msg(tz != NULL, "%s", err);
        ck_assert_int_eq(floq_tz_offset_at(tz, 999, NULL), 3600);
        ck_assert_int_eq(floq_tz_offset_at(tz, 1000, NULL), 7200);
        ck_assert_int_eq(floq_tz_offset_at(tz, 2000, NULL), 3600);
        ck_assert_int_eq(floq_tz_offset_at(tz, 1LL << 40, NULL), 3600);
        ck_assert_int_eq(floq_tz_next_change(tz, 2000), FLOQ_TZ_NEVER);
        floq_tz_destroy(tz);

        /* Loaded through $TZDIR like a system zone. */
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/Test_Zone", dir);
        out = fopen(path, "wb");
        ck_assert_ptr_nonnull(out);
        ck_assert_int_eq(fwrite(f, 1, sizeof(f), out), sizeof(f));
        fclose(out);
        setenv("TZDIR", dir, 1);
        tz = floq_tz_load("Test_Zone", err, sizeof(err));
        unsetenv("TZDIR");
        ck_assert_msg(tz != NULL, "%s", err);
        ck_assert_int_eq(floq_tz_offset_at(tz, 1500, NULL), 7200);
        floq_tz_destroy(tz);
        unlink(path);
        rmdir(dir);
}
END_TEST

Suite *tz_suite(void);
Suite *tz_suite(void) {
        Suite *s = suite_create("tz");
        TCase *tc = tcase_create("oracle");

        tcase_add_loop_test(tc, test_offsets_vs_glibc, 0, NZONES);
        tcase_add_loop_test(tc, test_offsets_vs_zdump, 0, NZONES);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);

        tc = tcase_create("zone");
        tcase_add_test(tc, test_local_to_utc);
        tcase_add_loop_test(tc, test_local_roundtrip, 0, NZONES);
        tcase_add_test(tc, test_posix_rules);
        tcase_add_test(tc, test_posix_overlapping_years);
        tcase_add_test(tc, test_transition_at_int64_max);
        tcase_add_test(tc, test_gap_then_back);
        tcase_add_test(tc, test_names);
        tcase_add_test(tc, test_v1_file);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);

        tc = tcase_create("corrupt");
        tcase_add_test(tc, test_corrupt);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(tz_suite());
}
