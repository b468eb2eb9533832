/*
 * time.c - clocks and identifiers: wall and monotonic milliseconds, RFC 3339
 * UTC text as used in every record and log line, and random v4 UUIDs
 * (libuuid) for command and run ids.
 */
#include <stdio.h>
#include <time.h>

#include <uuid/uuid.h>

#include "floq_common.h"

int64_t floq_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t floq_mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void floq_sleep_ms(int64_t ms) {
        struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
                               .tv_nsec = (long)(ms % 1000) * 1000000L };

        while (ms > 0 && nanosleep(&ts, &ts) != 0)
                ;
}

char *floq_ms_to_iso(int64_t ms, char *buf, size_t size) {
        /* Floor division so instants before 1970 keep a positive millis. */
        int64_t sec = ms / 1000;
        int msec = (int)(ms % 1000);
        time_t t;
        struct tm tm;

        if (!buf || size == 0)
                return buf;
        if (msec < 0) {
                msec += 1000;
                sec--;
        }
        t = (time_t)sec;
        if (!gmtime_r(&t, &tm)) {
                snprintf(buf, size, "invalid-time");
                return buf;
        }
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, msec);
        return buf;
}

void floq_uuid_new(char buf[37]) {
        uuid_t uu;

        uuid_generate_random(uu);
        uuid_unparse_lower(uu, buf);
}

int floq_uuid_valid(const char *s) {
        int i;

        if (!s)
                return 0;
        for (i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return 0;
                } else if (!((s[i] >= '0' && s[i] <= '9') ||
                             (s[i] >= 'a' && s[i] <= 'f'))) {
                        return 0; /* also ends a shorter string */
                }
        }
        return s[36] == '\0';
}
