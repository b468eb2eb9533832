/*
 * test_cron.c - cron expressions and fire times (common/cron.c): parser
 * acceptance and rejection with positions, the DST table of
 * tests/unit/data/cron-dst-table.txt, ISO 8601 parsing and printing, the
 * search limit and speed, and a property test comparing floq_cron_next()
 * with a brute-force evaluator written independently here (its own set
 * builder, glibc's localtime_r() as the zone oracle, a minute-by-minute or
 * second-by-second walk of real time).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "floq_common.h"
#include "cron_int.h"
#include "test_util.h"

#define TABLE_FILE "cron-dst-table.txt"

static floq_cron_t parse_ok(const char *expr) {
        floq_cron_t c;
        char err[256] = "";

        ck_assert_msg(floq_cron_parse(expr, &c, err, sizeof(err)) == FLOQ_OK,
                      "'%s' rejected: %s", expr, err);
        return c;
}

static uint64_t bits(const char *list) {
        uint64_t b = 0;
        char *end;

        while (*list) {
                long v = strtol(list, &end, 10);

                b |= (uint64_t)1 << v;
                list = *end ? end + 1 : end;
        }
        return b;
}

static int64_t iso(const char *s) {
        int64_t ms = 0;

        ck_assert_msg(floq_iso_parse(s, &ms) == FLOQ_OK, "bad instant %s", s);
        return ms;
}

/* ---------------------------------------------------------------- parser */

START_TEST(test_parse_fields) {
        floq_cron_t c = parse_ok("*/15 0-6/2,12 1,15 JAN-mar,dec mon-FRI");

        ck_assert_uint_eq(c.second, 1);
        ck_assert_uint_eq(c.minute, bits("0,15,30,45"));
        ck_assert_uint_eq(c.hour, bits("0,2,4,6,12"));
        ck_assert_uint_eq(c.dom, bits("1,15"));
        ck_assert_uint_eq(c.month, bits("1,2,3,12"));
        ck_assert_uint_eq(c.dow, bits("1,2,3,4,5"));
        ck_assert_int_eq(c.flags, 0);

        c = parse_ok("  5/10 1-30/5 * * * 7  ");
        ck_assert_int_eq(c.flags, FLOQ_CRON_F_SECONDS | FLOQ_CRON_F_DOM_STAR);
        ck_assert_uint_eq(c.second, bits("5,15,25,35,45,55"));
        ck_assert_uint_eq(c.minute, bits("1,6,11,16,21,26"));
        ck_assert_uint_eq(c.hour, 0xffffff);
        ck_assert_uint_eq(c.dom, 0xfffffffe);
        ck_assert_uint_eq(c.month, 0x1ffe);
        ck_assert_uint_eq(c.dow, bits("0"));

        c = parse_ok("0 0 * * 5-7");
        ck_assert_uint_eq(c.dow, bits("0,5,6"));
        c = parse_ok("0 0 * * */2");
        ck_assert_uint_eq(c.dow, bits("0,2,4,6"));
        ck_assert_int_eq(c.flags, FLOQ_CRON_F_DOM_STAR | FLOQ_CRON_F_DOW_STAR);
        c = parse_ok("0 0 * * 1/2"); /* stops at 6: Sunday not via 7 */
        ck_assert_uint_eq(c.dow, bits("1,3,5"));
        c = parse_ok("0 0 */10 * sun,SAT");
        ck_assert_uint_eq(c.dom, bits("1,11,21,31"));
        ck_assert_uint_eq(c.dow, bits("0,6"));
        c = parse_ok("59 23 31 12 0");
        ck_assert_uint_eq(c.minute, bits("59"));
        c = parse_ok("\t0\t0\t1\t1\t*");
        ck_assert_uint_eq(c.month, bits("1"));
}
END_TEST

START_TEST(test_parse_macros) {
        static const struct {
                const char *macro, *expr;
        } m[] = {
                {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},
                {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
                {"@monthly", "0 0 1 * *"},  {"@yearly", "0 0 1 1 *"},
                {"@annually", "0 0 1 1 *"}, {" @DAILY ", "0 0 * * *"},
        };
        size_t i;

        for (i = 0; i < sizeof(m) / sizeof(*m); i++) {
                floq_cron_t a = parse_ok(m[i].macro), b = parse_ok(m[i].expr);

                ck_assert_msg(!memcmp(&a, &b, sizeof(a)), "%s", m[i].macro);
        }
}
END_TEST

START_TEST(test_parse_errors) {
        static const struct {
                const char *expr, *err;
        } bad[] = {
                {"0 1,2,3,61 * * * *", "position 9: value 61 out of range "
                                       "0-59 for minute"},
                {"*/5 0-61 * * *", "position 7: value 61 out of range 0-23 "
                                   "for hour"},
                {"0 0 1,2,61 * * *",
                 "position 9: value 61 out of range 0-23 for hour"},
                {"60 * * * *", "position 1: value 60 out of range 0-59 for "
                               "minute"},
                {"0 24 * * *", "position 3: value 24 out of range 0-23 for "
                               "hour"},
                {"0 0 0 * *", "position 5: value 0 out of range 1-31 for "
                              "day-of-month"},
                {"0 0 32 * *", "position 5: value 32 out of range 1-31 for "
                               "day-of-month"},
                {"0 0 * 13 *", "position 7: value 13 out of range 1-12 for "
                               "month"},
                {"0 0 * * 8", "position 9: value 8 out of range 0-7 for "
                              "day-of-week"},
                {"0 0 * * MOX", "position 9: unknown name 'MOX' for "
                                "day-of-week"},
                {"0 0 * * MONDAY", "position 9: unknown name 'MONDAY' for "
                                   "day-of-week"},
                {"0 0 * FOO *", "position 7: unknown name 'FOO' for month"},
                {"0 JAN * * *", "position 3: names are not allowed for hour"},
                {"30-10 * * * *", "position 1: range 30-10 is reversed for "
                                  "minute"},
                {"*/0 * * * *", "position 3: step 0 out of range 1-59 for "
                                "minute"},
                {"*/ * * * *", "position 3: step must be a number for "
                               "minute"},
                {"*/x * * * *", "position 3: step must be a number for "
                                "minute"},
                {"1,,2 * * * *", "position 3: unexpected character ',' in "
                                 "minute"},
                {"1, * * * *", "position 3: missing value for minute"},
                {"5- * * * *", "position 3: missing value for minute"},
                {"** * * * *", "position 2: unexpected character '*' in "
                               "minute"},
                {"1-2-3 * * * *", "position 4: unexpected character '-' in "
                                  "minute"},
                {"0 0 * * * * *", "position 13: expected 5 or 6 fields, got "
                                  "7"},
                {"0 0 * *", "position 8: expected 5 or 6 fields, got 4"},
                {"", "position 1: expected 5 or 6 fields, got 0"},
                {"   ", "position 4: expected 5 or 6 fields, got 0"},
                {"@often", "position 1: unknown macro '@often'"},
                {"@reboot", "position 1: unknown macro '@reboot'"},
                {" @daily x", "position 9: unexpected text after '@daily'"},
                {"0 0 * * 1#2", "position 10: unexpected character '#' in "
                                "day-of-week"},
                {"0 0 L * *", "position 5: names are not allowed for "
                              "day-of-month"},
                {"0 0 ? * *", "position 5: unexpected character '?' in "
                              "day-of-month"},
                {"99999999999 * * * *", "position 1: value 99999999999 out of "
                                         "range 0-59 for minute"},
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                floq_cron_t c;
                char err[256] = "";

                ck_assert_msg(floq_cron_parse(bad[i].expr, &c, err,
                                              sizeof(err)) ==
                                      FLOQ_ERR_INVALID_ARG,
                              "'%s' accepted", bad[i].expr);
                ck_assert_msg(!strncmp(err, bad[i].err, strlen(bad[i].err)),
                              "'%s': got \"%s\", want \"%s\"", bad[i].expr,
                              err, bad[i].err);
        }
}
END_TEST

START_TEST(test_parse_limits) {
        char big[1100], err[128];
        floq_cron_t c;

        memset(big, ' ', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        memcpy(big, "0 0 * * *", 9);
        ck_assert_int_eq(floq_cron_parse(big, &c, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_str_eq(err, "position 1025: expression longer than 1024 "
                              "characters");
        ck_assert_int_eq(floq_cron_parse(NULL, &c, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        /* A NULL or tiny errstr is fine. */
        ck_assert_int_eq(floq_cron_parse("x", &c, NULL, 0),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(floq_cron_parse("x", &c, err, 4),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_str_eq(err, "pos");
}
END_TEST

/* ------------------------------------------------------- ISO and output */

START_TEST(test_iso) {
        int64_t ms;

        ck_assert_int_eq(iso("1970-01-01T00:00:00Z"), 0);
        ck_assert_int_eq(iso("2026-03-08T01:59:00Z"), 1772935140000LL);
        ck_assert_int_eq(iso("2026-03-08T07:29:00+05:30"), 1772935140000LL);
        ck_assert_int_eq(iso("2026-03-07T20:59:00-0500"), 1772935140000LL);
        ck_assert_int_eq(iso("2026-03-08t01:59z"), 1772935140000LL);
        ck_assert_int_eq(iso("2026-03-08 03:59:00.5+02"), 1772935140500LL);
        ck_assert_int_eq(iso("2026-03-08T01:59:00.123456789Z"),
                         1772935140123LL);
        ck_assert_int_eq(iso("1969-12-31T23:59:59.999Z"), -1);
        ck_assert_int_eq(iso("2028-02-29T00:00:00Z"), 1835395200000LL);
        static const char *bad[] = {
                "2026-03-08T01:59:00",   "2026-03-08",
                "2026-02-29T00:00:00Z",  "2026-13-01T00:00:00Z",
                "2026-03-08T24:00:00Z",  "2026-03-08T01:60:00Z",
                "2026-03-08T01:59:60Z",  "2026-03-08T01:59:00.Z",
                "2026-03-08T01:59:00Zx", "2026-03-08T01:59:00+5:30",
                "2026-03-08T01:59:00+24:00", "26-03-08T01:59:00Z",
                "",                      "2026-03-08T1:59:00Z",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
                ck_assert_msg(floq_iso_parse(bad[i], &ms) ==
                                      FLOQ_ERR_INVALID_ARG,
                              "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_format_fire) {
        char buf[FLOQ_CRON_FIRE_BUFSZ], err[256];
        floq_tz_t *tz = floq_tz_load("America/New_York", err, sizeof(err));

        ck_assert_msg(tz != NULL, "%s", err);
        ck_assert_str_eq(floq_cron_format_fire(iso("2026-03-08T07:00:00Z"),
                                               tz, buf, sizeof(buf)),
                         "2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00");
        ck_assert_str_eq(floq_cron_format_fire(iso("2026-03-08T06:59:59.25Z"),
                                               tz, buf, sizeof(buf)),
                         "2026-03-08T06:59:59.250Z "
                         "2026-03-08T01:59:59.250-05:00");
        /* Local mean time before 1883 has seconds in its offset. */
        ck_assert_str_eq(floq_cron_format_fire(iso("1850-01-01T00:00:00Z"),
                                               tz, buf, sizeof(buf)),
                         "1850-01-01T00:00:00Z 1849-12-31T19:03:58-04:56:02");
        floq_tz_destroy(tz);
        tz = floq_tz_load("Asia/Kathmandu", err, sizeof(err));
        ck_assert_ptr_nonnull(tz);
        ck_assert_str_eq(floq_cron_format_fire(iso("2026-01-01T00:00:00Z"),
                                               tz, buf, sizeof(buf)),
                         "2026-01-01T00:00:00Z 2026-01-01T05:45:00+05:45");
        /* Truncates, never overflows. */
        ck_assert_str_eq(floq_cron_format_fire(0, tz, buf, 11), "1970-01-01");
        floq_tz_destroy(tz);
}
END_TEST

/* ------------------------------------------------------------ DST table */

static FILE *open_table(void) {
        const char *dir = getenv("FLOQ_TEST_DATA");
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/" TABLE_FILE,
                 dir ? dir : "tests/unit/data");
        f = fopen(path, "r");
        ck_assert_msg(f != NULL, "cannot open '%s' (run from the top "
                                 "folder or set FLOQ_TEST_DATA)", path);
        return f;
}

static char *trim(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
                         e[-1] == '\r'))
                *--e = '\0';
        return s;
}

START_TEST(test_dst_table) {
        FILE *f = open_table();
        char line[2048];
        int rows = 0, lineno = 0;
        int zones_seen = 0; /* bit per required zone */

        while (fgets(line, sizeof(line), f)) {
                char *col[4], *p = line, *save = NULL, *tok, err[256];
                floq_cron_t c;
                floq_tz_t *tz;
                int64_t t;
                int i;

                lineno++;
                if (*trim(line) == '\0' || *trim(line) == '#')
                        continue;
                for (i = 0; i < 4; i++) {
                        col[i] = p;
                        p = i < 3 ? strchr(p, '|') : NULL;
                        ck_assert_msg(i == 3 || p, "line %d: want 4 columns",
                                      lineno);
                        if (p)
                                *p++ = '\0';
                        col[i] = trim(col[i]);
                }
                ck_assert_msg(floq_cron_parse(col[0], &c, err, sizeof(err)) ==
                                      FLOQ_OK,
                              "line %d: %s", lineno, err);
                tz = floq_tz_load(col[1], err, sizeof(err));
                ck_assert_msg(tz != NULL, "line %d: %s", lineno, err);
                if (!strcmp(col[1], "America/New_York"))
                        zones_seen |= 1;
                else if (!strcmp(col[1], "Europe/London"))
                        zones_seen |= 2;
                else if (!strcmp(col[1], "Australia/Lord_Howe"))
                        zones_seen |= 4;
                else if (!strcmp(col[1], "Asia/Kolkata") ||
                         !strcmp(col[1], "Asia/Tokyo"))
                        zones_seen |= 8;
                t = iso(col[2]);
                if (!strcmp(col[3], "-")) {
                        ck_assert_msg(floq_cron_next(&c, tz, t) == -1,
                                      "line %d: fires", lineno);
                } else {
                        for (tok = strtok_r(col[3], " \t", &save); tok;
                             tok = strtok_r(NULL, " \t", &save)) {
                                char buf[FLOQ_CRON_FIRE_BUFSZ], want[40];
                                int64_t next = floq_cron_next(&c, tz, t);

                                floq_cron_format_fire(next, tz, buf,
                                                      sizeof(buf));
                                ck_assert_msg(next == iso(tok),
                                              "line %d (%s | %s): want %s, "
                                              "got %s",
                                              lineno, col[0], col[1], tok,
                                              next < 0 ? "none" : buf);
                                /* The printed wall time is the table's. */
                                snprintf(want, sizeof(want), " %s", tok);
                                ck_assert_msg(strstr(buf, want) != NULL,
                                              "line %d: printed '%s', want "
                                              "'%s'",
                                              lineno, buf, tok);
                                t = next;
                        }
                }
                floq_tz_destroy(tz);
                rows++;
        }
        fclose(f);
        ck_assert_int_ge(rows, 40);
        ck_assert_int_eq(zones_seen, 15);
}
END_TEST

/* ---------------------------------------------------- limits and speed */

START_TEST(test_next_limits) {
        char err[256];
        floq_tz_t *tz = floq_tz_load("UTC", err, sizeof(err));
        floq_cron_t c = parse_ok("0 0 30 2 *");
        int64_t t0 = iso("2026-01-01T00:00:00Z");

        ck_assert_ptr_nonnull(tz);
        ck_assert_int_eq(floq_cron_next(&c, tz, t0), -1);
        c = parse_ok("0 0 31 4,6,9,11 *");
        ck_assert_int_eq(floq_cron_next(&c, tz, t0), -1);
        /* Feb 29 across 2100, which is not a leap year: 8 years. */
        c = parse_ok("0 0 29 2 *");
        ck_assert_int_eq(floq_cron_next(&c, tz, iso("2096-03-01T00:00:00Z")),
                         iso("2104-02-29T00:00:00Z"));
        /* Before 1970 and far ahead work; beyond year 9990 does not. */
        c = parse_ok("@yearly");
        ck_assert_int_eq(floq_cron_next(&c, tz, iso("1900-06-01T00:00:00Z")),
                         iso("1901-01-01T00:00:00Z"));
        ck_assert_int_eq(floq_cron_next(&c, tz, iso("9000-06-01T00:00:00Z")),
                         iso("9001-01-01T00:00:00Z"));
        ck_assert_int_eq(floq_cron_next(&c, tz, INT64_MAX), -1);
        ck_assert_int_eq(floq_cron_next(&c, tz, INT64_MIN), -1);
        ck_assert_int_eq(floq_cron_next(&c, NULL, t0), -1);
        ck_assert_int_eq(floq_cron_next(NULL, tz, t0), -1);
        /* Strictly after, to the millisecond. */
        c = parse_ok("* * * * * *");
        ck_assert_int_eq(floq_cron_next(&c, tz, 999), 1000);
        ck_assert_int_eq(floq_cron_next(&c, tz, 1000), 2000);
        ck_assert_int_eq(floq_cron_next(&c, tz, -1), 0);
        ck_assert_int_eq(floq_cron_next(&c, tz, -1001), -1000);
        floq_tz_destroy(tz);
}
END_TEST

START_TEST(test_next_speed) {
        /* Skipping by field: 100000 searches, each crossing up to years,
         * take well under a second (a minute-by-minute scan would take
         * hours). */
        static const char *exprs[] = {"0 0 29 2 1", "0 0 30 2 *",
                                      "59 23 31 12 *", "0 12 13 * FRI",
                                      "*/7 3 * * *", "0 0 29 2 *"};
        char err[256];
        floq_tz_t *tz = floq_tz_load("America/New_York", err, sizeof(err));
        struct timespec a, b;
        int64_t t = iso("2026-01-01T00:00:00Z"), sum = 0;
        int i;

        ck_assert_ptr_nonnull(tz);
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (i = 0; i < 100000; i++) {
                floq_cron_t c = parse_ok(exprs[i % 6]);

                sum += floq_cron_next(&c, tz, t + (int64_t)i * 3600000);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        ck_assert_int_ne(sum, 0);
        ck_assert_msg((b.tv_sec - a.tv_sec) * 1000 +
                                      (b.tv_nsec - a.tv_nsec) / 1000000 <
                              20000,
                      "too slow");
        floq_tz_destroy(tz);
}
END_TEST

/* -------------------------------------------------------- property test */

/* The brute force's own view of an expression: sets built while writing
 * the text, never by parsing it. */
typedef struct bf_expr_s {
        char text[256];
        unsigned char set[6][64]; /* sec min hour dom mon dow */
        int dom_star, dow_star, seconds;
} bf_expr_t;

static const int bf_lo[6] = {0, 0, 0, 1, 1, 0};
static const int bf_hi[6] = {59, 59, 23, 31, 12, 6};
static const char *const bf_mon[] = {"JAN", "feb", "Mar", "APR", "may", "JUN",
                                     "jul", "AUG", "sep", "OCT", "nov", "DEC"};
static const char *const bf_dow[] = {"sun", "MON", "Tue", "WED",
                                     "thu", "FRI", "sat"};

static unsigned rnd_state;
static int rnd(int n) {
        rnd_state = rnd_state * 1103515245u + 12345u;
        return (int)((rnd_state >> 8) % (unsigned)n);
}

static void bf_value(char *out, size_t size, int f, int v) {
        if (f == 4 && rnd(3) == 0)
                snprintf(out, size, "%s", bf_mon[v - 1]);
        else if (f == 5 && rnd(3) == 0)
                snprintf(out, size, "%s", bf_dow[v]);
        else
                snprintf(out, size, "%d", v);
}

/* One item of field @p f; "star" forms only when @p star_ok. */
static void bf_item(bf_expr_t *x, int f, int star_ok, char *out,
                    size_t size) {
        int lo = bf_lo[f], hi = bf_hi[f], kind = rnd(star_ok ? 6 : 4);
        int a = lo + rnd(hi - lo + 1), b = a + rnd(hi - a + 1);
        int step = 1 + rnd(f <= 1 ? 20 : (hi - lo) / 2 + 1), v;
        char va[8], vb[8];

        bf_value(va, sizeof(va), f, a);
        bf_value(vb, sizeof(vb), f, b);
        switch (kind) {
        case 0: /* single; Sunday may be 7 */
                snprintf(out, size, "%s", f == 5 && a == 0 && rnd(2) ? "7" : va);
                b = a;
                step = 1;
                break;
        case 1: /* range */
                snprintf(out, size, "%s-%s", va, vb);
                step = 1;
                break;
        case 2: /* range with step */
                snprintf(out, size, "%s-%s/%d", va, vb, step);
                break;
        case 3: /* start with step */
                snprintf(out, size, "%s/%d", va, step);
                b = hi;
                break;
        case 4: /* every */
                snprintf(out, size, "*");
                a = lo, b = hi, step = 1;
                break;
        default:
                snprintf(out, size, "*/%d", step);
                a = lo, b = hi;
                break;
        }
        for (v = a; v <= b; v += step)
                x->set[f][v] = 1;
}

static void bf_generate(bf_expr_t *x) {
        int f, n;

        memset(x, 0, sizeof(*x));
        x->seconds = rnd(4) == 0;
        for (f = x->seconds ? 0 : 1; f < 6; f++) {
                char field[96] = "", item[32];
                /* Keep the calendar fields mostly open so that windows of
                 * days see fires; hours often open (fixed interval). */
                int open = (f == 3 || f == 4) ? rnd(5) != 0
                           : f == 5           ? rnd(3) != 0
                           : f == 2           ? rnd(3) == 0
                                              : 0;

                if (open) {
                        snprintf(field, sizeof(field), "*");
                        memset(x->set[f] + bf_lo[f], 1,
                               (size_t)(bf_hi[f] - bf_lo[f] + 1));
                } else if (f == 2 && rnd(2)) {
                        /* Hours near the transitions. */
                        int h = rnd(4);

                        snprintf(field, sizeof(field), "%d,%d-%d", h + 20, h,
                                 h + 2);
                        x->set[2][h + 20] = 1;
                        for (n = h; n <= h + 2; n++)
                                x->set[2][n] = 1;
                } else {
                        int items = 1 + rnd(2);

                        for (n = 0; n < items; n++) {
                                bf_item(x, f, n == 0 && items == 1, item,
                                        sizeof(item));
                                if (n)
                                        strcat(field, ",");
                                strcat(field, item);
                        }
                }
                if (f == 3)
                        x->dom_star = field[0] == '*';
                if (f == 5)
                        x->dow_star = field[0] == '*';
                if (*x->text)
                        strcat(x->text, " ");
                strcat(x->text, field);
        }
        if (!x->seconds)
                x->set[0][0] = 1;
}

static int bf_match(const bf_expr_t *x, const struct tm *tm) {
        int dom, dow;

        if (!x->set[0][tm->tm_sec] || !x->set[1][tm->tm_min] ||
            !x->set[2][tm->tm_hour] || !x->set[4][tm->tm_mon + 1])
                return 0;
        dom = x->set[3][tm->tm_mday];
        dow = x->set[5][tm->tm_wday];
        return x->dom_star || x->dow_star ? dom && dow : dom || dow;
}

/* Wall time as seconds, via glibc's own reading of the zone. */
static int64_t bf_local(int64_t u, struct tm *tm) {
        time_t t = (time_t)u;

        localtime_r(&t, tm);
        return u + tm->tm_gmtoff;
}

static void bf_tm_of_local(int64_t l, struct tm *tm) {
        time_t t = (time_t)l;

        gmtime_r(&t, tm);
}

/*
 * The fire instants in (w0, w1] by walking real time from before w0
 * in steps of @p step: every matching wall time fires at its instant; for
 * restricted hours a repeated wall time (not above the highest seen)
 * does not fire again, and wall times skipped by a jump fire at the
 * instant after the jump.
 */
static int bf_fires(const bf_expr_t *x, int64_t w0, int64_t w1, int step,
                    int64_t *out, int max) {
        int fixed = 1, n = 0, h;
        int64_t u, prev = INT64_MIN, hi = INT64_MIN;

        for (h = 0; h < 24; h++)
                fixed &= x->set[2][h];
        /* Start early enough that a fold at w0 has its first pass seen. */
        for (u = w0 - 7200 - (w0 % step); u <= w1; u += step) {
                struct tm tm;
                int64_t l = bf_local(u, &tm), k;
                int fire = 0;

                if (fixed) {
                        fire = bf_match(x, &tm);
                } else {
                        if (prev != INT64_MIN && l > prev + step) {
                                for (k = prev + step; k < l && !fire;
                                     k += step) {
                                        struct tm g;

                                        bf_tm_of_local(k, &g);
                                        fire = bf_match(x, &g);
                                }
                        }
                        if (l > hi && bf_match(x, &tm))
                                fire = 1;
                }
                if (fire && u > w0 && n < max)
                        out[n++] = u;
                prev = l;
                if (l > hi)
                        hi = l;
        }
        return n;
}

static void property_zone(const char *zone, int nexpr) {
        char err[256];
        floq_tz_t *tz = floq_tz_load(zone, err, sizeof(err));
        int64_t centre[3], t;
        int nc = 0, e, w;
        long total = 0;

        ck_assert_msg(tz != NULL, "%s", err);
        setenv("TZ", zone, 1);
        tzset();
        /* Windows around the first two offset changes of 2026, or
         * mid-year for zones without any. */
        t = iso("2026-01-01T00:00:00Z") / 1000;
        while (nc < 2) {
                t = floq_tz_next_change(tz, t);
                if (t == INT64_MAX || t > iso("2027-01-01T00:00:00Z") / 1000)
                        break;
                centre[nc++] = t;
        }
        if (nc == 0)
                centre[nc++] = iso("2026-06-15T00:00:00Z") / 1000;

        for (e = 0; e < nexpr; e++) {
                bf_expr_t x;
                floq_cron_t c;

                bf_generate(&x);
                ck_assert_msg(floq_cron_parse(x.text, &c, err, sizeof(err)) ==
                                      FLOQ_OK,
                              "'%s': %s", x.text, err);
                for (w = 0; w < nc; w++) {
                        /* 3 days by the minute; 3 hours by the second. */
                        int step = x.seconds ? 1 : 60;
                        int64_t half = x.seconds ? 5400 : 129600;
                        int64_t w0 = centre[w] - half, w1 = centre[w] + half;
                        static int64_t want[12000];
                        int64_t got;
                        int nwant = bf_fires(&x, w0, w1, step, want, 12000);
                        int i = 0;

                        got = floq_cron_next(&c, tz, w0 * 1000);
                        for (; got >= 0 && got <= w1 * 1000;
                             got = floq_cron_next(&c, tz, got)) {
                                ck_assert_msg(i < nwant && got == want[i] * 1000,
                                              "%s '%s' window %d: fire %d is "
                                              "%lld, brute force says %lld",
                                              zone, x.text, w, i,
                                              (long long)got / 1000,
                                              i < nwant ? (long long)want[i]
                                                        : -1LL);
                                ck_assert(i == 0 ||
                                          want[i] > want[i - 1]);
                                i++;
                        }
                        total += i;
                        ck_assert_msg(i == nwant,
                                      "%s '%s' window %d: %d fires, brute "
                                      "force %d (first missing %lld)",
                                      zone, x.text, w, i, nwant,
                                      i < nwant ? (long long)want[i] : -1LL);
                }
        }
        /* The comparison saw real work: fires, not empty windows. */
        if (getenv("FLOQ_TEST_VERBOSE"))
                fprintf(stderr, "%s: %d windows, %ld fires compared\n", zone,
                        nc, total);
        ck_assert_int_gt(total, 100 * nexpr / 10);
        floq_tz_destroy(tz);
}

static const char *const prop_zones[] = {
        "America/New_York",  "Europe/London",    "Australia/Lord_Howe",
        "Asia/Kolkata",      "Asia/Kathmandu",   "Europe/Dublin",
        "America/Santiago",  "America/Havana",   "Pacific/Chatham",
        "Australia/Sydney",  "America/St_Johns", "Asia/Tokyo",
};

START_TEST(test_property) {
        rnd_state = 20260308u + (unsigned)_i;
        property_zone(prop_zones[_i], 30);
}
END_TEST

Suite *cron_suite(void);
Suite *cron_suite(void) {
        Suite *s = suite_create("cron");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_parse_fields);
        tcase_add_test(tc, test_parse_macros);
        tcase_add_test(tc, test_parse_errors);
        tcase_add_test(tc, test_parse_limits);
        tcase_add_test(tc, test_iso);
        tcase_set_timeout(tc, 10);
        suite_add_tcase(s, tc);

        tc = tcase_create("next");
        tcase_add_test(tc, test_format_fire);
        tcase_add_test(tc, test_dst_table);
        tcase_add_test(tc, test_next_limits);
        tcase_add_test(tc, test_next_speed);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        tc = tcase_create("property");
        tcase_add_loop_test(tc, test_property, 0,
                            (int)(sizeof(prop_zones) / sizeof(*prop_zones)));
        tcase_set_timeout(tc, 300);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(cron_suite());
}
