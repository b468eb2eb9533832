/*
 * tz.c - IANA time zones for schedules, read straight from the system tz
 * database ($TZDIR or /usr/share/zoneinfo) so that a worker can evaluate
 * each schedule in its own zone without touching the process-wide TZ
 * (setenv/tzset are neither thread-safe nor per schedule). A zone is the
 * transition table of its TZif file plus the POSIX TZ rule of the file's
 * footer for instants after the last transition; both are validated on
 * load, so a corrupt or hostile file gives an error, never a crash. Also
 * here: ISO 8601 instants as text (floq_iso_parse()), which cron-next
 * and its tests read. Loaded zones are immutable and thread-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "floq_common.h"
#include "cron_int.h"

#define TZ_DIR_DEFAULT "/usr/share/zoneinfo"
#define TZ_HDR_LEN 44
/* Generous bounds well above any real zone (the largest has < 300). */
#define TZ_TIMECNT_MAX 20000
#define TZ_TYPECNT_MAX 256
#define TZ_CHARCNT_MAX 4096
#define TZ_FOOTER_MAX 256

/* A POSIX TZ rule date: Jn (1-365, no Feb 29), n (0-365) or Mm.w.d. */
typedef struct tz_rule_s {
        char kind;    /* 'J', 'N' or 'M' */
        int day;      /* J and N forms */
        int mon, week, wday;
        int32_t time; /* seconds after local midnight, -167h .. 167h */
} tz_rule_t;

typedef struct tz_posix_s {
        int32_t std_off; /* east positive, unlike the string's sign */
        int32_t dst_off;
        int has_dst;
        tz_rule_t start, end;
} tz_posix_t;

struct floq_tz_s {
        char name[FLOQ_TZ_NAME_MAX + 1];
        size_t timecnt;
        int64_t *trans;      /* strictly ascending UTC seconds */
        int32_t *trans_off;  /* offset from trans[i] on */
        uint8_t *trans_dst;
        int32_t first_off;   /* before trans[0]: time type 0 */
        uint8_t first_dst;
        int has_footer;      /* footer rules after trans[timecnt - 1] */
        tz_posix_t footer;
};

/* ------------------------------------------------------ POSIX TZ rules */

typedef struct tz_scan_s {
        const char *s;
        size_t pos, len;
} tz_scan_t;

static int scan_peek(const tz_scan_t *sc) {
        return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

/* Unsigned decimal, at most @p maxdigits digits, value <= max. */
static int scan_num(tz_scan_t *sc, int maxdigits, int max, int *out) {
        int v = 0, n = 0, c;

        while ((c = scan_peek(sc)) >= '0' && c <= '9' && n < maxdigits) {
                v = v * 10 + (c - '0');
                sc->pos++;
                n++;
        }
        if (n == 0 || v > max)
                return -1;
        *out = v;
        return 0;
}

/* A zone abbreviation: 3+ letters, or <...> of [A-Za-z0-9+-]. */
static int scan_abbr(tz_scan_t *sc) {
        size_t start = sc->pos;
        int c;

        if (scan_peek(sc) == '<') {
                sc->pos++;
                start = sc->pos;
                while ((c = scan_peek(sc)) != '>') {
                        if (c < 0 || !((c >= 'A' && c <= 'Z') ||
                                       (c >= 'a' && c <= 'z') ||
                                       (c >= '0' && c <= '9') || c == '+' ||
                                       c == '-'))
                                return -1;
                        sc->pos++;
                }
                if (sc->pos - start < 3)
                        return -1;
                sc->pos++;
                return 0;
        }
        while ((c = scan_peek(sc)) >= 0 &&
               ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
                sc->pos++;
        return sc->pos - start >= 3 ? 0 : -1;
}

/* [+-]hh[:mm[:ss]] with hh <= @p maxh; returns seconds. */
static int scan_hms(tz_scan_t *sc, int maxh, int32_t *out) {
        int sign = 1, h, m = 0, s = 0;

        if (scan_peek(sc) == '+' || scan_peek(sc) == '-')
                sign = sc->s[sc->pos++] == '-' ? -1 : 1;
        if (scan_num(sc, 3, maxh, &h))
                return -1;
        if (scan_peek(sc) == ':') {
                sc->pos++;
                if (scan_num(sc, 2, 59, &m))
                        return -1;
                if (scan_peek(sc) == ':') {
                        sc->pos++;
                        if (scan_num(sc, 2, 59, &s))
                                return -1;
                }
        }
        *out = sign * (h * 3600 + m * 60 + s);
        return 0;
}

static int scan_rule(tz_scan_t *sc, tz_rule_t *r) {
        int c = scan_peek(sc);

        memset(r, 0, sizeof(*r));
        if (c == 'J') {
                sc->pos++;
                r->kind = 'J';
                if (scan_num(sc, 3, 365, &r->day) || r->day < 1)
                        return -1;
        } else if (c == 'M') {
                sc->pos++;
                r->kind = 'M';
                if (scan_num(sc, 2, 12, &r->mon) || r->mon < 1 ||
                    scan_peek(sc) != '.')
                        return -1;
                sc->pos++;
                if (scan_num(sc, 1, 5, &r->week) || r->week < 1 ||
                    scan_peek(sc) != '.')
                        return -1;
                sc->pos++;
                if (scan_num(sc, 1, 6, &r->wday))
                        return -1;
        } else if (c >= '0' && c <= '9') {
                r->kind = 'N';
                if (scan_num(sc, 3, 365, &r->day))
                        return -1;
        } else {
                return -1;
        }
        r->time = 2 * 3600;
        if (scan_peek(sc) == '/') {
                sc->pos++;
                /* RFC 8536 (v3+) extends the hour to -167..167. */
                if (scan_hms(sc, 167, &r->time))
                        return -1;
        }
        return 0;
}

/*
 * std offset [dst [offset] [,start[/time],end[/time]]]. The string's
 * offsets are west-positive; stored east-positive. An empty string is
 * valid in a footer and means "no rule" (returns 1).
 */
static int posix_parse(const char *s, size_t len, tz_posix_t *p) {
        tz_scan_t sc = {s, 0, len};
        int32_t off;

        memset(p, 0, sizeof(*p));
        if (len == 0)
                return 1;
        if (scan_abbr(&sc) || scan_hms(&sc, 24, &off))
                return -1;
        p->std_off = -off;
        p->dst_off = p->std_off;
        if (sc.pos == sc.len)
                return 0;
        if (scan_abbr(&sc))
                return -1;
        p->has_dst = 1;
        p->dst_off = p->std_off + 3600;
        if (scan_peek(&sc) != ',' && sc.pos < sc.len) {
                if (scan_hms(&sc, 24, &off))
                        return -1;
                p->dst_off = -off;
        }
        if (sc.pos == sc.len) {
                /* No rule given: POSIX leaves it to the implementation;
                 * this is glibc's (and the US) default. */
                p->start = (tz_rule_t){'M', 0, 3, 2, 0, 7200};
                p->end = (tz_rule_t){'M', 0, 11, 1, 0, 7200};
                return 0;
        }
        if (scan_peek(&sc) != ',')
                return -1;
        sc.pos++;
        if (scan_rule(&sc, &p->start) || scan_peek(&sc) != ',')
                return -1;
        sc.pos++;
        if (scan_rule(&sc, &p->end) || sc.pos != sc.len)
                return -1;
        return 0;
}

/* Local seconds (days * 86400 + time) of rule @p r in year @p y. */
static int64_t rule_local(const tz_rule_t *r, int64_t y) {
        int64_t days;

        if (r->kind == 'J') {
                days = floq_days_from_civil(y, 1, 1) + r->day - 1;
                if (floq_is_leap(y) && r->day >= 60)
                        days++; /* Jn never counts Feb 29 */
        } else if (r->kind == 'N') {
                days = floq_days_from_civil(y, 1, 1) + r->day;
        } else {
                int64_t first = floq_days_from_civil(y, r->mon, 1);
                int d = 1 + (r->wday - floq_weekday(first) + 7) % 7 +
                        (r->week - 1) * 7;

                while (d > floq_days_in_month(y, r->mon))
                        d -= 7; /* week 5 means "the last" */
                days = first + d - 1;
        }
        return days * 86400 + r->time;
}

/*
 * Which years' events can matter at an instant of (standard local) year y.
 * Rule times reach +-167 h and the DST offset may differ from the standard
 * one by up to 52 h, so an event of year k lies within about 9 days of
 * year k's bounds, and each rule's events grow with k: the latest event
 * at or before an instant of year y is one of years y-2..y+1 (an end of
 * year y-2 can fall after the start of year y-1 when DST periods
 * overlap), and the next ones after it are of years y-2..y+3.
 */
#define POSIX_BEFORE 2
#define POSIX_AFTER 3

/*
 * Footer rules are evaluated within +-2^60 s (36 billion years): there
 * the year arithmetic cannot overflow. A TZif transition may be any 64-bit
 * instant, and the rule applies from the last one on, so beyond the bound
 * the offset stays the one at the bound and never changes.
 */
#define POSIX_T_MAX ((int64_t)1 << 60)

static int64_t posix_clamp(int64_t t) {
        return t > POSIX_T_MAX ? POSIX_T_MAX : t < -POSIX_T_MAX ? -POSIX_T_MAX
                                                               : t;
}

/*
 * The DST start and end instants of year y in chronological order:
 * ev[i] with is_dst[i].
 */
static void posix_events(const tz_posix_t *p, int64_t y, int64_t ev[2],
                         int dst[2]) {
        int64_t st = rule_local(&p->start, y) - p->std_off;
        int64_t en = rule_local(&p->end, y) - p->dst_off;

        if (st <= en) {
                ev[0] = st, dst[0] = 1;
                ev[1] = en, dst[1] = 0;
        } else {
                ev[0] = en, dst[0] = 0;
                ev[1] = st, dst[1] = 1;
        }
}

static int64_t posix_year(const tz_posix_t *p, int64_t t) {
        int64_t y;
        int m, d;

        floq_civil_from_days(floq_floor_div(t + p->std_off, 86400), &y, &m,
                             &d);
        return y;
}

/*
 * The latest event at or before t decides. Ties resolve to the later
 * year's event (then to the later one of a year), which makes an
 * all-year rule ("EST5EDT,0/0,J365/25") permanent DST.
 */
static int32_t posix_offset(const tz_posix_t *p, int64_t t, int *is_dst) {
        int64_t ev[2], best = INT64_MIN, y, k;
        int dst[2], i, cur = 0;

        if (!p->has_dst) {
                *is_dst = 0;
                return p->std_off;
        }
        t = posix_clamp(t);
        y = posix_year(p, t);
        for (k = y - POSIX_BEFORE; k <= y + 1; k++) {
                posix_events(p, k, ev, dst);
                for (i = 0; i < 2; i++) {
                        if (ev[i] <= t && ev[i] >= best) {
                                best = ev[i];
                                cur = dst[i];
                        }
                }
        }
        *is_dst = cur;
        return cur ? p->dst_off : p->std_off;
}

/* The earliest event after t where the footer's offset differs from
 * @p off (events of overlapping years are not in order: take the least),
 * up to POSIX_T_MAX. */
static int64_t posix_next_change(const tz_posix_t *p, int64_t t,
                                 int32_t off) {
        int64_t y, k, ev[2], best = FLOQ_TZ_NEVER;
        int dst[2], i, isd;

        if (!p->has_dst || p->std_off == p->dst_off || t >= POSIX_T_MAX)
                return FLOQ_TZ_NEVER;
        t = posix_clamp(t);
        y = posix_year(p, t);
        for (k = y - POSIX_BEFORE; k <= y + POSIX_AFTER; k++) {
                posix_events(p, k, ev, dst);
                for (i = 0; i < 2; i++) {
                        if (ev[i] > t && ev[i] < best &&
                            ev[i] <= POSIX_T_MAX &&
                            posix_offset(p, ev[i], &isd) != off)
                                best = ev[i];
                }
        }
        return best;
}

/* --------------------------------------------------------- zone queries */

/* Index of the last transition <= t, or -1. */
static ssize_t trans_index(const floq_tz_t *tz, int64_t t) {
        size_t lo = 0, hi = tz->timecnt;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (tz->trans[mid] <= t)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return (ssize_t)lo - 1;
}

int floq_tz_offset_at(const floq_tz_t *tz, int64_t utc_sec, int *is_dst) {
        ssize_t i;
        int dst = 0;
        int32_t off;

        if (!tz) {
                off = 0;
        } else if (tz->timecnt == 0) {
                if (tz->has_footer) {
                        off = posix_offset(&tz->footer, utc_sec, &dst);
                } else {
                        off = tz->first_off;
                        dst = tz->first_dst;
                }
        } else if ((i = trans_index(tz, utc_sec)) < 0) {
                off = tz->first_off;
                dst = tz->first_dst;
        } else if ((size_t)i == tz->timecnt - 1 && tz->has_footer) {
                off = posix_offset(&tz->footer, utc_sec, &dst);
        } else {
                off = tz->trans_off[i];
                dst = tz->trans_dst[i];
        }
        if (is_dst)
                *is_dst = dst;
        return off;
}

int64_t floq_tz_utc_to_local(const floq_tz_t *tz, int64_t utc_sec) {
        return utc_sec + floq_tz_offset_at(tz, utc_sec, NULL);
}

int64_t floq_tz_next_change(const floq_tz_t *tz, int64_t t) {
        int32_t off = floq_tz_offset_at(tz, t, NULL);
        size_t i;
        int isd;

        if (!tz)
                return FLOQ_TZ_NEVER;
        if (tz->timecnt > 0) {
                for (i = (size_t)(trans_index(tz, t) + 1); i < tz->timecnt;
                     i++) {
                        int32_t o = (i == tz->timecnt - 1 && tz->has_footer)
                                            ? posix_offset(&tz->footer,
                                                           tz->trans[i], &isd)
                                            : tz->trans_off[i];

                        if (o != off)
                                return tz->trans[i];
                }
                if (t < tz->trans[tz->timecnt - 1])
                        t = tz->trans[tz->timecnt - 1];
        }
        if (!tz->has_footer)
                return FLOQ_TZ_NEVER;
        return posix_next_change(&tz->footer, t, off);
}

int floq_tz_local_to_utc(const floq_tz_t *tz, int64_t local_sec,
                         int64_t utc[2]) {
        /* Any answer u has |u - local| <= FLOQ_TZ_OFF_MAX: walk the
         * constant-offset segments of that window. */
        int64_t s = local_sec - FLOQ_TZ_OFF_MAX - 1;
        int64_t end = local_sec + FLOQ_TZ_OFF_MAX + 1;
        int64_t gap_end = 0;
        int32_t o = floq_tz_offset_at(tz, s, NULL);
        int n = 0, in_gap = 0;

        utc[0] = utc[1] = local_sec - o;
        while (s <= end) {
                int64_t e = floq_tz_next_change(tz, s);
                int64_t u = local_sec - o;
                int32_t o2;

                if (u >= s && u < e) {
                        if (n < 2)
                                utc[n] = u;
                        n++;
                }
                if (e == FLOQ_TZ_NEVER || e > end)
                        break;
                o2 = floq_tz_offset_at(tz, e, NULL);
                /* The wall clock jumps over [e + o, e + o2): a gap. It is
                 * the answer only if no later segment has the wall time:
                 * a zone may jump back over it soon after. */
                if (!in_gap && local_sec >= e + o && local_sec < e + o2) {
                        in_gap = 1;
                        gap_end = e;
                }
                s = e;
                o = o2;
        }
        if (n == 0 && in_gap)
                utc[0] = utc[1] = gap_end;
        if (n == 1)
                utc[1] = utc[0];
        return n > 2 ? 2 : n;
}

const char *floq_tz_name(const floq_tz_t *tz) {
        return tz ? tz->name : "";
}

void floq_tz_destroy(floq_tz_t *tz) {
        if (!tz)
                return;
        free(tz->trans);
        free(tz->trans_off);
        free(tz->trans_dst);
        free(tz);
}

/* ---------------------------------------------------------------- TZif */

static uint32_t be32(const unsigned char *p) {
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
        return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_hdr_s {
        int version; /* 1, 2, 3, 4... */
        uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
        size_t datalen; /* bytes of the data block after the header */
} tzif_hdr_t;

static int tzif_header(const unsigned char *p, size_t len, int timesz,
                       tzif_hdr_t *h, char *errstr, size_t errstr_size) {
        uint64_t n;

        if (len < TZ_HDR_LEN || memcmp(p, "TZif", 4) != 0) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                            "not a TZif file");
                return -1;
        }
        h->version = p[4] == 0 ? 1 : p[4] - '0';
        if (h->version < 1 || h->version > 9) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                            "unknown TZif version byte 0x%02x", p[4]);
                return -1;
        }
        h->isutcnt = be32(p + 20);
        h->isstdcnt = be32(p + 24);
        h->leapcnt = be32(p + 28);
        h->timecnt = be32(p + 32);
        h->typecnt = be32(p + 36);
        h->charcnt = be32(p + 40);
        if (h->typecnt == 0 || h->typecnt > TZ_TYPECNT_MAX ||
            h->charcnt == 0 || h->charcnt > TZ_CHARCNT_MAX ||
            h->timecnt > TZ_TIMECNT_MAX || h->leapcnt > TZ_TIMECNT_MAX ||
            (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
            (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                            "TZif header counts out of bounds");
                return -1;
        }
        /* All counts are bounded above, so this cannot overflow. */
        n = (uint64_t)h->timecnt * (uint64_t)(timesz + 1) +
            (uint64_t)h->typecnt * 6 + h->charcnt +
            (uint64_t)h->leapcnt * (uint64_t)(timesz + 4) + h->isstdcnt +
            h->isutcnt;
        if (n > len - TZ_HDR_LEN) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_TRUNCATED,
                            "TZif data truncated");
                return -1;
        }
        h->datalen = (size_t)n;
        return 0;
}

floq_tz_t *floq_tz_from_tzif(const char *name, const void *buf, size_t len,
                             char *errstr, size_t errstr_size) {
        const unsigned char *p = buf, *d, *types, *ttinfo;
        tzif_hdr_t h;
        floq_tz_t *tz = NULL;
        int timesz = 4;
        size_t i;

        if (!buf || len > FLOQ_TZ_FILE_MAX) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_TOO_LARGE,
                            "TZif data too large");
                goto fail;
        }
        if (tzif_header(p, len, 4, &h, errstr, errstr_size))
                goto fail;
        if (h.version >= 2) {
                /* Skip the 32-bit block: the 64-bit one follows it. */
                size_t skip = TZ_HDR_LEN + h.datalen;

                p += skip;
                len -= skip;
                timesz = 8;
                if (tzif_header(p, len, 8, &h, errstr, errstr_size))
                        goto fail;
        }
        if (h.leapcnt > 0) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_UNSUPPORTED,
                            "zones with leap seconds (\"right/\") are "
                            "not supported");
                goto fail;
        }
        tz = calloc(1, sizeof(*tz));
        if (!tz) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                goto fail;
        }
        snprintf(tz->name, sizeof(tz->name), "%s", name ? name : "");
        d = p + TZ_HDR_LEN;
        types = d + (size_t)h.timecnt * (size_t)timesz;
        ttinfo = types + h.timecnt;
        for (i = 0; i < h.typecnt; i++) {
                const unsigned char *ti = ttinfo + 6 * i;
                int32_t off = (int32_t)be32(ti);

                if (off < -FLOQ_TZ_OFF_MAX || off > FLOQ_TZ_OFF_MAX ||
                    ti[4] > 1 || ti[5] >= h.charcnt) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                                    "TZif time type %zu is invalid", i);
                        goto fail;
                }
        }
        tz->first_off = (int32_t)be32(ttinfo);
        tz->first_dst = ttinfo[4];
        if (h.timecnt > 0) {
                tz->trans = malloc(h.timecnt * sizeof(*tz->trans));
                tz->trans_off = malloc(h.timecnt * sizeof(*tz->trans_off));
                tz->trans_dst = malloc(h.timecnt);
                if (!tz->trans || !tz->trans_off || !tz->trans_dst) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                    "out of memory");
                        goto fail;
                }
        }
        for (i = 0; i < h.timecnt; i++) {
                int64_t t = timesz == 8 ? be64(d + 8 * i)
                                        : (int32_t)be32(d + 4 * i);

                if (types[i] >= h.typecnt ||
                    (i > 0 && t <= tz->trans[i - 1])) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                                    "TZif transition %zu is invalid", i);
                        goto fail;
                }
                tz->trans[i] = t;
                tz->trans_off[i] = (int32_t)be32(ttinfo + 6 * types[i]);
                tz->trans_dst[i] = ttinfo[6 * types[i] + 4];
        }
        tz->timecnt = h.timecnt;
        if (h.version >= 2) {
                const unsigned char *f = p + TZ_HDR_LEN + h.datalen, *nl;
                size_t flen = len - TZ_HDR_LEN - h.datalen;
                int rc;

                if (flen < 2 || f[0] != '\n' ||
                    !(nl = memchr(f + 1, '\n', flen - 1)) ||
                    (size_t)(nl - f - 1) > TZ_FOOTER_MAX) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                                    "TZif footer missing or too long");
                        goto fail;
                }
                rc = posix_parse((const char *)f + 1, (size_t)(nl - f - 1),
                                 &tz->footer);
                if (rc < 0) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                                    "TZif footer \"%.*s\" is not a POSIX "
                                    "TZ rule",
                                    (int)(nl - f - 1), (const char *)f + 1);
                        goto fail;
                }
                tz->has_footer = rc == 0;
        }
        return tz;

fail:
        floq_tz_destroy(tz);
        return NULL;
}

floq_tz_t *floq_tz_from_posix(const char *name, const char *posix,
                              char *errstr, size_t errstr_size) {
        floq_tz_t *tz;
        size_t len = posix ? strlen(posix) : 0;

        if (len == 0 || len > TZ_FOOTER_MAX) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "empty or too long TZ rule");
                return NULL;
        }
        tz = calloc(1, sizeof(*tz));
        if (!tz) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        if (posix_parse(posix, len, &tz->footer) != 0) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "'%s' is not a POSIX TZ rule", posix);
                free(tz);
                return NULL;
        }
        snprintf(tz->name, sizeof(tz->name), "%s", name ? name : posix);
        tz->has_footer = 1;
        tz->first_off = tz->footer.std_off;
        return tz;
}

/* ------------------------------------------------------------- loading */

/*
 * "UTC", "UTC+05:30", "UTC-3", "+05:45": seconds east, or -1 if not one.
 * Not "GMT+1": the tz database's Etc/GMT+1 is POSIX-signed (UTC-1), so that
 * spelling would mean opposite things in two places.
 */
static int fixed_offset(const char *name, int32_t *off) {
        const char *s = name;
        int h = 0, m = 0, n = 0, sign;

        if (!strcmp(s, "UTC") || !strcmp(s, "GMT") || !strcmp(s, "Z") ||
            !strcmp(s, "Etc/UTC") || !strcmp(s, "Etc/GMT")) {
                *off = 0;
                return 0;
        }
        if (!strncmp(s, "UTC", 3))
                s += 3;
        if (*s != '+' && *s != '-')
                return -1;
        sign = *s++ == '-' ? -1 : 1;
        while (*s >= '0' && *s <= '9' && n < 2)
                h = h * 10 + (*s++ - '0'), n++;
        if (n == 0)
                return -1;
        if (*s == ':')
                s++;
        if (*s) {
                n = 0;
                while (*s >= '0' && *s <= '9' && n < 2)
                        m = m * 10 + (*s++ - '0'), n++;
                if (n != 2)
                        return -1;
        }
        if (*s || h > 25 || m > 59)
                return -1;
        *off = sign * (h * 3600 + m * 60);
        return 0;
}

/*
 * Zone names are relative paths of non-empty [A-Za-z0-9_+-] components:
 * no "." or "..", no absolute paths, nothing but zones (zone.tab,
 * tzdata.zi and friends have dots).
 */
static int name_valid(const char *name) {
        const char *c = name, *comp = name;

        if (!*name || strlen(name) > FLOQ_TZ_NAME_MAX || *name == '/')
                return 0;
        for (;; c++) {
                if (*c == '/' || *c == '\0') {
                        if (c == comp || *comp == '-')
                                return 0; /* empty, or an option look-alike */
                        if (!*c)
                                return 1;
                        comp = c + 1;
                } else if (!((*c >= 'A' && *c <= 'Z') ||
                             (*c >= 'a' && *c <= 'z') ||
                             (*c >= '0' && *c <= '9') || *c == '_' ||
                             *c == '+' || *c == '-')) {
                        return 0;
                }
        }
}

floq_tz_t *floq_tz_load(const char *name, char *errstr, size_t errstr_size) {
        const char *dir = getenv("TZDIR");
        char path[PATH_MAX];
        unsigned char *buf = NULL;
        floq_tz_t *tz = NULL;
        struct stat st;
        size_t got = 0;
        int32_t off;
        int fd = -1, n;

        if (name && strlen(name) <= FLOQ_TZ_NAME_MAX &&
            fixed_offset(name, &off) == 0) {
                tz = calloc(1, sizeof(*tz));
                if (!tz) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                    "out of memory");
                        goto out;
                }
                snprintf(tz->name, sizeof(tz->name), "%s", name);
                tz->first_off = off;
                goto out;
        }
        if (!name || !name_valid(name)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "invalid time zone name '%s'",
                            name ? name : "(null)");
                goto out;
        }
        if (!dir || !*dir)
                dir = TZ_DIR_DEFAULT;
        n = snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (n < 0 || (size_t)n >= sizeof(path)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "time zone path too long for '%s'", name);
                goto out;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                floq_seterr(errstr, errstr_size,
                            errno == ENOENT ? FLOQ_ERR_NOT_FOUND
                                            : FLOQ_ERR_IO,
                            "unknown time zone '%s' (cannot open '%s': %s)",
                            name, path, strerror(errno));
                goto out;
        }
        if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
            st.st_size > FLOQ_TZ_FILE_MAX) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "'%s' is not a time zone file", path);
                goto out;
        }
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                goto out;
        }
        while (got < (size_t)st.st_size + 1) {
                ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                    "cannot read '%s': %s", path,
                                    strerror(errno));
                        goto out;
                }
                if (r == 0)
                        break;
                got += (size_t)r;
        }
        if (got > (size_t)st.st_size) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                            "'%s' grew while being read", path);
                goto out;
        }
        tz = floq_tz_from_tzif(name, buf, got, errstr, errstr_size);
        if (!tz && errstr && errstr_size > 0) {
                char why[192];

                snprintf(why, sizeof(why), "%s", errstr);
                floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                            "cannot load time zone '%s': %s", name, why);
        }
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return tz;
}

/* ------------------------------------------------------------ ISO 8601 */

static int iso_digits(const char **s, int n, int *out) {
        int v = 0, i;

        for (i = 0; i < n; i++) {
                if ((*s)[i] < '0' || (*s)[i] > '9')
                        return -1;
                v = v * 10 + ((*s)[i] - '0');
        }
        *s += n;
        *out = v;
        return 0;
}

floq_err_t floq_iso_parse(const char *s, int64_t *ms) {
        int y, mo, d, h, mi, sec = 0, frac = 0, scale = 100, oh = 0, om = 0;
        int sign = 1;
        int64_t days;

        if (!s || !ms)
                return FLOQ_ERR_INVALID_ARG;
        if (iso_digits(&s, 4, &y) || *s++ != '-' || iso_digits(&s, 2, &mo) ||
            *s++ != '-' || iso_digits(&s, 2, &d))
                return FLOQ_ERR_INVALID_ARG;
        if (*s != 'T' && *s != 't' && *s != ' ')
                return FLOQ_ERR_INVALID_ARG;
        s++;
        if (iso_digits(&s, 2, &h) || *s++ != ':' || iso_digits(&s, 2, &mi))
                return FLOQ_ERR_INVALID_ARG;
        if (*s == ':') {
                s++;
                if (iso_digits(&s, 2, &sec))
                        return FLOQ_ERR_INVALID_ARG;
                if (*s == '.' || *s == ',') {
                        s++;
                        if (*s < '0' || *s > '9')
                                return FLOQ_ERR_INVALID_ARG;
                        for (; *s >= '0' && *s <= '9'; s++) {
                                frac += (*s - '0') * scale;
                                scale /= 10;
                        }
                }
        }
        if (mo < 1 || mo > 12 || d < 1 || d > floq_days_in_month(y, mo) ||
            h > 23 || mi > 59 || sec > 59)
                return FLOQ_ERR_INVALID_ARG;
        if (*s == 'Z' || *s == 'z') {
                s++;
        } else if (*s == '+' || *s == '-') {
                sign = *s++ == '-' ? -1 : 1;
                if (iso_digits(&s, 2, &oh))
                        return FLOQ_ERR_INVALID_ARG;
                if (*s == ':')
                        s++;
                if (*s && iso_digits(&s, 2, &om))
                        return FLOQ_ERR_INVALID_ARG;
                if (oh > 23 || om > 59)
                        return FLOQ_ERR_INVALID_ARG;
        } else {
                return FLOQ_ERR_INVALID_ARG; /* no offset: ambiguous */
        }
        if (*s)
                return FLOQ_ERR_INVALID_ARG;
        days = floq_days_from_civil(y, mo, d);
        *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) -
               sign * (oh * 3600 + om * 60)) * 1000 + frac;
        return FLOQ_OK;
}
