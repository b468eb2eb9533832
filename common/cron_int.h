/*
 * cron_int.h - private to common/cron.c and common/tz.c (and their tests):
 * proleptic Gregorian calendar arithmetic on day numbers, the zone query
 * the cron search needs to walk constant-offset segments, and the TZif
 * decoder behind floq_tz_load() exposed on a memory buffer so tests and a
 * fuzzer can feed it arbitrary bytes.
 */
#ifndef FLOQ_CRON_INT_H
#define FLOQ_CRON_INT_H

#include <stddef.h>
#include <stdint.h>

#include "floq_common.h"

/** Largest TZif file floq reads (real ones are under 10 KiB). */
#define FLOQ_TZ_FILE_MAX (256 * 1024)
/** Longest zone name. */
#define FLOQ_TZ_NAME_MAX 255
/** UTC offsets a zone may use: RFC 8536's -25:59:59 .. +25:59:59. */
#define FLOQ_TZ_OFF_MAX 93599
/** Returned by floq_tz_next_change() when the offset never changes. */
#define FLOQ_TZ_NEVER INT64_MAX

/** Floor division, b > 0. */
static inline int64_t floq_floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;

        return (a % b != 0 && a < 0) ? q - 1 : q;
}

/** Days since 1970-01-01 of y-m-d (proleptic Gregorian; H. Hinnant). */
static inline int64_t floq_days_from_civil(int64_t y, int m, int d) {
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = floq_floor_div(y, 400);
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/** Inverse of floq_days_from_civil(). */
static inline void floq_civil_from_days(int64_t z, int64_t *y, int *m,
                                        int *d) {
        int64_t era, doe, yoe, doy, mp;

        z += 719468;
        era = floq_floor_div(z, 146097);
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = (int)(doy - (153 * mp + 2) / 5 + 1);
        *m = (int)(mp < 10 ? mp + 3 : mp - 9);
        *y = yoe + era * 400 + (*m <= 2);
}

static inline int floq_is_leap(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline int floq_days_in_month(int64_t y, int m) {
        static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                      31, 31, 30, 31, 30, 31};

        return m == 2 && floq_is_leap(y) ? 29 : mdays[m - 1];
}

/** Day of the week of a day number, Sunday = 0. */
static inline int floq_weekday(int64_t days) {
        return (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
}

/**
 * The first instant after @p utc_sec at which the UTC offset of @p tz
 * differs from the one at @p utc_sec (changes of only the DST flag or the
 * abbreviation do not count), or FLOQ_TZ_NEVER.
 */
int64_t floq_tz_next_change(const floq_tz_t *tz, int64_t utc_sec);

/**
 * Decode TZif bytes (what floq_tz_load() does after reading the file).
 * Bounded and validating: any malformed input gives NULL and errstr.
 * @param name  kept as the zone's name; @p buf is not kept.
 */
floq_tz_t *floq_tz_from_tzif(const char *name, const void *buf, size_t len,
                             char *errstr, size_t errstr_size);

/**
 * A zone from a POSIX TZ string alone ("EST5EDT,M3.2.0,M11.1.0"), as
 * found in a TZif footer. NULL with errstr when it does not parse.
 */
floq_tz_t *floq_tz_from_posix(const char *name, const char *posix,
                              char *errstr, size_t errstr_size);

#endif /* FLOQ_CRON_INT_H */
