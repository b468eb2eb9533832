/*
 * cron.c - schedule expressions and their fire times: the cron parser
 * (Vixie syntax plus an optional leading seconds field) and the search for
 * the next fire instant of an expression in an IANA zone (common/tz.c),
 * with the daylight-saving rules of docs/schedules.md. The search skips
 * field by field (month, day, hour, minute, second) over wall time, and
 * walks a zone's constant-offset segments, so it costs a few dozen steps
 * however far away the next fire is. The worker's schedule timers and
 * `floq cron-next` both call floq_cron_next(); nothing here allocates.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "floq_common.h"
#include "cron_int.h"

#define CRON_EXPR_MAX 1024
/* How far floq_cron_next() looks: 8 years covers every Feb 29 (2096 to
 * 2104 skips 2100), so only impossible dates come back as -1. */
#define CRON_SEARCH_SEC ((int64_t)(8 * 366 + 2) * 86400)
/* Supported instants: years 1 to 9990, so that the search stays in
 * years 1-9999 where the calendar arithmetic is exact. */
#define CRON_MIN_SEC (-62135596800LL + 2 * 86400)
#define CRON_MAX_SEC 253086768000LL /* 9990-01-01T00:00:00Z */
#define CRON_NONE INT64_MIN

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F__CNT };

typedef struct cron_field_s {
        const char *name;
        int min, max;
        const char *const *names; /* names[i] is value min + i */
} cron_field_t;

static const char *const mon_names[] = {"JAN", "FEB", "MAR", "APR",
                                        "MAY", "JUN", "JUL", "AUG",
                                        "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED",
                                        "THU", "FRI", "SAT", NULL};

static const cron_field_t cron_fields[F__CNT] = {
        [F_SEC] = {"second", 0, 59, NULL},
        [F_MIN] = {"minute", 0, 59, NULL},
        [F_HOUR] = {"hour", 0, 23, NULL},
        [F_DOM] = {"day-of-month", 1, 31, NULL},
        [F_MON] = {"month", 1, 12, mon_names},
        /* 0-7 so that 7 (Sunday) is accepted; folded into 0 below. */
        [F_DOW] = {"day-of-week", 0, 7, dow_names},
};

static const struct {
        const char *name, *expr;
} cron_macros[] = {
        {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
        {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
};

/* ------------------------------------------------------------- parsing */

typedef struct cron_parser_s {
        const char *expr; /* the whole expression, for positions */
        char *errstr;
        size_t errstr_size;
} cron_parser_t;

static floq_err_t perr(cron_parser_t *ps, const char *at, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static floq_err_t perr(cron_parser_t *ps, const char *at, const char *fmt,
                       ...) {
        char why[160];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        return floq_seterr(ps->errstr, ps->errstr_size, FLOQ_ERR_INVALID_ARG,
                           "position %d: %s", (int)(at - ps->expr) + 1, why);
}

static int is_space(char c) {
        return c == ' ' || c == '\t';
}

/* A number or (where the field has them) a 3-letter name. */
static floq_err_t parse_value(cron_parser_t *ps, const cron_field_t *f,
                              const char **sp, const char *end, int *out) {
        const char *s = *sp;
        long v = 0;
        int i;

        if (s < end && *s >= '0' && *s <= '9') {
                while (s < end && *s >= '0' && *s <= '9') {
                        if (v < 100000)
                                v = v * 10 + (*s - '0');
                        s++;
                }
                if (v < f->min || v > f->max)
                        return perr(ps, *sp,
                                    "value %.*s out of range %d-%d for %s",
                                    (int)(s - *sp > 12 ? 12 : s - *sp), *sp,
                                    f->min, f->max, f->name);
                *out = (int)v;
                *sp = s;
                return FLOQ_OK;
        }
        if (s < end && isalpha((unsigned char)*s)) {
                while (s < end && isalpha((unsigned char)*s))
                        s++;
                if (!f->names)
                        return perr(ps, *sp, "names are not allowed for %s",
                                    f->name);
                for (i = 0; f->names[i]; i++) {
                        if (s - *sp == 3 && !strncasecmp(*sp, f->names[i], 3)) {
                                *out = f->min + i;
                                *sp = s;
                                return FLOQ_OK;
                        }
                }
                return perr(ps, *sp, "unknown name '%.*s' for %s",
                            (int)(s - *sp > 16 ? 16 : s - *sp), *sp,
                            f->name);
        }
        if (s >= end || is_space(*s))
                return perr(ps, s, "missing value for %s", f->name);
        return perr(ps, s, "unexpected character '%c' in %s", *s, f->name);
}

/*
 * field := item (',' item)* ; item := ('*' | value ['-' value]) ['/' step]
 * "a/n" means a to the field's maximum by n.
 */
static floq_err_t parse_field(cron_parser_t *ps, int fi, const char *s,
                              const char *end, uint64_t *bits) {
        const cron_field_t *f = &cron_fields[fi];
        /* '*' and "a/n" stop at 6 in day-of-week: 7 is Sunday again. */
        int top = fi == F_DOW ? 6 : f->max;
        floq_err_t err;

        *bits = 0;
        for (;;) {
                const char *item = s;
                int lo, hi, step = 1, ranged = 0;

                if (s < end && *s == '*') {
                        lo = f->min;
                        hi = top;
                        ranged = 1;
                        s++;
                } else {
                        if ((err = parse_value(ps, f, &s, end, &lo)))
                                return err;
                        hi = lo;
                        if (s < end && *s == '-') {
                                s++;
                                if ((err = parse_value(ps, f, &s, end, &hi)))
                                        return err;
                                if (hi < lo)
                                        return perr(ps, item,
                                                    "range %d-%d is reversed "
                                                    "for %s",
                                                    lo, hi, f->name);
                                ranged = 1;
                        }
                }
                if (s < end && *s == '/') {
                        const char *st = ++s;
                        long v = 0;

                        if (s >= end || *s < '0' || *s > '9')
                                return perr(ps, s,
                                            "step must be a number for %s",
                                            f->name);
                        while (s < end && *s >= '0' && *s <= '9') {
                                if (v < 100000)
                                        v = v * 10 + (*s - '0');
                                s++;
                        }
                        if (v < 1 || v > f->max)
                                return perr(ps, st,
                                            "step %ld out of range 1-%d for "
                                            "%s",
                                            v, f->max, f->name);
                        step = (int)v;
                        if (!ranged)
                                hi = top;
                }
                for (; lo <= hi; lo += step)
                        *bits |= (uint64_t)1 << (fi == F_DOW && lo == 7 ? 0
                                                                        : lo);
                if (s >= end)
                        return FLOQ_OK;
                if (*s != ',')
                        return perr(ps, s, "unexpected character '%c' in %s",
                                    *s, f->name);
                s++;
        }
}

floq_err_t floq_cron_parse(const char *expr, floq_cron_t *out, char *errstr,
                           size_t errstr_size) {
        cron_parser_t ps = {expr, errstr, errstr_size};
        const char *tok[7], *tokend[7], *s, *use = expr;
        uint64_t bits[F__CNT];
        floq_cron_t c;
        int ntok = 0, i, first;
        size_t len;
        floq_err_t err;

        if (!expr || !out)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "no expression");
        len = strlen(expr);
        if (len > CRON_EXPR_MAX)
                return perr(&ps, expr + CRON_EXPR_MAX,
                            "expression longer than %d characters",
                            CRON_EXPR_MAX);
        for (s = expr; is_space(*s); s++)
                ;
        if (*s == '@') {
                const char *e = s;
                size_t k;

                while (*e && !is_space(*e))
                        e++;
                for (k = 0; k < sizeof(cron_macros) / sizeof(*cron_macros);
                     k++) {
                        if ((size_t)(e - s) == strlen(cron_macros[k].name) &&
                            !strncasecmp(s, cron_macros[k].name,
                                         (size_t)(e - s)))
                                break;
                }
                if (k == sizeof(cron_macros) / sizeof(*cron_macros))
                        return perr(&ps, s, "unknown macro '%.*s'",
                                    (int)(e - s > 16 ? 16 : e - s), s);
                while (is_space(*e))
                        e++;
                if (*e)
                        return perr(&ps, e, "unexpected text after '%.*s'",
                                    (int)strlen(cron_macros[k].name), s);
                use = cron_macros[k].expr;
                ps.expr = use;
        }

        /* Split into fields; remember up to 7 to report the extra one. */
        for (s = use; *s;) {
                while (is_space(*s))
                        s++;
                if (!*s)
                        break;
                if (ntok < 7)
                        tok[ntok] = s;
                while (*s && !is_space(*s))
                        s++;
                if (ntok < 7)
                        tokend[ntok] = s;
                ntok++;
        }
        if (ntok < 5)
                return perr(&ps, use + strlen(use),
                            "expected 5 or 6 fields, got %d", ntok);
        if (ntok > 6)
                return perr(&ps, tok[6], "expected 5 or 6 fields, got %d",
                            ntok);

        first = ntok == 6 ? F_SEC : F_MIN;
        memset(&c, 0, sizeof(c));
        bits[F_SEC] = 1; /* 5 fields: at second 0 */
        for (i = first; i < F__CNT; i++) {
                const char *t = tok[i - first], *te = tokend[i - first];

                if ((err = parse_field(&ps, i, t, te, &bits[i])))
                        return err;
                if (i == F_DOM && *t == '*')
                        c.flags |= FLOQ_CRON_F_DOM_STAR;
                if (i == F_DOW && *t == '*')
                        c.flags |= FLOQ_CRON_F_DOW_STAR;
        }
        if (ntok == 6)
                c.flags |= FLOQ_CRON_F_SECONDS;
        c.second = bits[F_SEC];
        c.minute = bits[F_MIN];
        c.hour = (uint32_t)bits[F_HOUR];
        c.dom = (uint32_t)bits[F_DOM];
        c.month = (uint16_t)bits[F_MON];
        c.dow = (uint8_t)bits[F_DOW];
        *out = c;
        return FLOQ_OK;
}

/* ---------------------------------------------------------- evaluation */

/* Lowest set bit of @p bits at or above @p from, or -1. */
static int next_bit(uint64_t bits, int from) {
        if (from > 63)
                return -1;
        bits &= ~(uint64_t)0 << from;
        return bits ? __builtin_ctzll(bits) : -1;
}

/* Vixie cron: when either day field began with '*', both must match;
 * when both are restricted, either may. */
static int day_matches(const floq_cron_t *c, int64_t days, int mday) {
        int dom = (c->dom >> mday) & 1;
        int dow = (c->dow >> floq_weekday(days)) & 1;

        if (c->flags & (FLOQ_CRON_F_DOM_STAR | FLOQ_CRON_F_DOW_STAR))
                return dom && dow;
        return dom || dow;
}

/*
 * The first wall time (local seconds) at or after @p l whose fields all
 * match, or CRON_NONE past @p limit. Skips whole months, days, hours and
 * minutes that cannot match instead of stepping through them.
 */
static int64_t next_local(const floq_cron_t *c, int64_t l, int64_t limit) {
        while (l <= limit) {
                int64_t days = floq_floor_div(l, 86400), y;
                int sod = (int)(l - days * 86400), mo, d, h, mi, se, n;

                floq_civil_from_days(days, &y, &mo, &d);
                if (!((c->month >> mo) & 1)) {
                        n = next_bit(c->month, mo + 1);
                        if (n < 0 || n > 12) {
                                y++;
                                n = next_bit(c->month, 1);
                        }
                        l = floq_days_from_civil(y, n, 1) * 86400;
                        continue;
                }
                if (!day_matches(c, days, d)) {
                        l = (days + 1) * 86400;
                        continue;
                }
                h = sod / 3600;
                mi = sod / 60 % 60;
                se = sod % 60;
                if (!((c->hour >> h) & 1)) {
                        n = next_bit(c->hour, h + 1);
                        l = n < 0 || n > 23 ? (days + 1) * 86400
                                            : days * 86400 + n * 3600;
                        continue;
                }
                if (!((c->minute >> mi) & 1)) {
                        n = next_bit(c->minute, mi + 1);
                        l = days * 86400 + h * 3600 +
                            (n < 0 || n > 59 ? 3600 : n * 60);
                        continue;
                }
                if (!((c->second >> se) & 1)) {
                        n = next_bit(c->second, se + 1);
                        l = days * 86400 + h * 3600 + mi * 60 +
                            (n < 0 || n > 59 ? 60 : n);
                        continue;
                }
                return l;
        }
        return CRON_NONE;
}

/*
 * Every hour of the day: the schedule is a fixed pattern within each hour
 * and runs in real time: each instant whose wall time matches fires, so
 * the repeated hour of a fall-back fires twice and a spring-forward gap
 * simply has nothing to fire. Walk the zone's constant-offset segments.
 */
static int64_t next_real(const floq_cron_t *c, const floq_tz_t *tz,
                         int64_t start, int64_t limit) {
        int64_t s = start;

        while (s <= limit) {
                int32_t o = floq_tz_offset_at(tz, s, NULL);
                int64_t e = floq_tz_next_change(tz, s);
                int64_t last = e == FLOQ_TZ_NEVER || e - 1 > limit ? limit
                                                                   : e - 1;
                int64_t l = next_local(c, s + o, last + o);

                if (l != CRON_NONE)
                        return l - o;
                if (e == FLOQ_TZ_NEVER)
                        break;
                s = e;
        }
        return CRON_NONE;
}

/*
 * Restricted hours: the schedule names wall-clock times. Each matching
 * wall time fires once: at its instant, at the first pass of a fold, or,
 * inside a gap, at the first valid instant after it. That map from wall
 * time to instant never decreases, so the answer is the first matching
 * wall time whose instant is >= start.
 */
static int64_t next_wall(const floq_cron_t *c, const floq_tz_t *tz,
                         int64_t start, int64_t limit) {
        int32_t o1 = floq_tz_offset_at(tz, start - 1, NULL);
        int32_t o2 = floq_tz_offset_at(tz, start, NULL);
        /* The earliest wall time that can map to start or later: with o1
         * a gap that ends exactly at start is included. */
        int64_t l = start + (o1 < o2 ? o1 : o2);
        int64_t llimit = limit + FLOQ_TZ_OFF_MAX;
        int64_t u[2];
        int n;

        for (;;) {
                l = next_local(c, l, llimit);
                if (l == CRON_NONE)
                        return CRON_NONE;
                n = floq_tz_local_to_utc(tz, l, u);
                if (u[0] >= start)
                        return u[0] > limit ? CRON_NONE : u[0];
                if (n == 0) {
                        /* A gap that ended before start: resume at its
                         * wall-clock end. */
                        int64_t gap_end = u[0] + floq_tz_offset_at(tz, u[0],
                                                                   NULL);

                        l = gap_end > l ? gap_end : l + 1;
                } else if (n == 2) {
                        /* First pass is over; the rest of the fold's wall
                         * times had their first pass before it too. */
                        int64_t t = floq_tz_next_change(tz, u[0]);
                        int64_t fold_end =
                                t == FLOQ_TZ_NEVER
                                        ? l + 1
                                        : t + floq_tz_offset_at(tz, u[0],
                                                                NULL);

                        l = fold_end > l ? fold_end : l + 1;
                } else {
                        l++;
                }
        }
}

int64_t floq_cron_next(const floq_cron_t *c, const floq_tz_t *tz,
                       int64_t after_utc_ms) {
        int64_t start, r;

        if (!c || !tz || !c->second || !c->minute || !c->hour || !c->dom ||
            !c->month || !c->dow)
                return -1;
        /* A whole second s is strictly after @p after_utc_ms iff
         * s > floor(after / 1000). */
        start = floq_floor_div(after_utc_ms, 1000) + 1;
        if (start < CRON_MIN_SEC || start > CRON_MAX_SEC)
                return -1;
        if ((c->hour & 0xffffffu) == 0xffffffu)
                r = next_real(c, tz, start, start + CRON_SEARCH_SEC);
        else
                r = next_wall(c, tz, start, start + CRON_SEARCH_SEC);
        return r == CRON_NONE ? -1 : r * 1000;
}

/* ------------------------------------------------------------ printing */

static int print_civil(char *buf, size_t size, int64_t ms, int32_t off) {
        int64_t sec = floq_floor_div(ms, 1000), l = sec + off, y;
        int64_t days = floq_floor_div(l, 86400);
        int sod = (int)(l - days * 86400), m, d, frac = (int)(ms - sec * 1000);
        int a = off < 0 ? -off : off, n;
        char fr[8] = "", tzs[16];

        floq_civil_from_days(days, &y, &m, &d);
        if (frac)
                snprintf(fr, sizeof(fr), ".%03d", frac);
        if (a % 60)
                snprintf(tzs, sizeof(tzs), "%c%02d:%02d:%02d",
                         off < 0 ? '-' : '+', a / 3600, a / 60 % 60, a % 60);
        else
                snprintf(tzs, sizeof(tzs), "%c%02d:%02d",
                         off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
        n = snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d%s%s",
                     (long long)y, m, d, sod / 3600, sod / 60 % 60, sod % 60,
                     fr, tzs);
        return n;
}

char *floq_cron_format_fire(int64_t ms, const floq_tz_t *tz, char *buf,
                            size_t size) {
        char utc[64], loc[64];
        int32_t off;
        size_t n;

        if (!buf || size == 0)
                return buf;
        off = floq_tz_offset_at(tz, floq_floor_div(ms, 1000), NULL);
        print_civil(utc, sizeof(utc), ms, 0);
        /* The UTC half says Z, not +00:00. */
        n = strlen(utc);
        if (n >= 6 && !strcmp(utc + n - 6, "+00:00"))
                strcpy(utc + n - 6, "Z");
        print_civil(loc, sizeof(loc), ms, off);
        snprintf(buf, size, "%s %s", utc, loc);
        return buf;
}
