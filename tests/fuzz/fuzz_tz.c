/*
 * fuzz_tz.c - libFuzzer target for TZif files (common/tz.c): the input is
 * the file's bytes, given to floq_tz_from_tzif(), the decoder behind
 * floq_tz_load() (cron_int.h exposes it on a buffer for this). A zone
 * that loads is then queried the way the schedule search queries it, over
 * the instants schedules use (years 1-9990), checking the contracts of
 * floq_common.h and cron_int.h:
 *
 *   - offsets stay within RFC 8536's +-25:59:59;
 *   - floq_tz_next_change() walks forward, to an instant where the offset
 *     differs from the one it started at, and not before the offset last
 *     changes;
 *   - floq_tz_local_to_utc() gives instants whose wall time is the one
 *     asked (one, or the two passes of a fold), or for a gap the first
 *     instant after it; the count and the instants agree with a direct
 *     search (local - o for each offset o the zone has near it);
 *   - floq_cron_next() in the zone fires whole seconds, strictly later.
 *
 * Each walk is bounded, so a zone costs at most a few hundred queries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "floq_common.h"
#include "cron_int.h"

#define CHANGES_MAX 48
/* Most constant-offset segments looked at around one wall time. */
#define SEGMENTS_MAX 64
#define T_MIN (-62135596800LL + 2 * 86400) /* 0001-01-03 */
#define T_MAX 253086768000LL               /* 9990-01-01 */

static const floq_tz_t *cur_tz;

static void fail(const char *what, int64_t a, int64_t b) {
        fprintf(stderr, "fuzz_tz: %s (%lld, %lld)\n", what, (long long)a,
                (long long)b);
        abort();
}

static int32_t off_at(int64_t t) {
        int32_t o = floq_tz_offset_at(cur_tz, t, NULL);

        if (o < -FLOQ_TZ_OFF_MAX || o > FLOQ_TZ_OFF_MAX)
                fail("offset out of range", t, o);
        return o;
}

/*
 * The instants whose wall time is @p local, found directly: t = local - o
 * for each offset o the zone has within a day of it, when the offset at t
 * is o. Ascending in @p t, at most 2; returns how many (up to 3), or -1
 * when the zone changes too often there to look.
 */
static int wall_instants(int64_t local, int64_t t[2]) {
        int64_t s = local - FLOQ_TZ_OFF_MAX - 1, e;
        int32_t offs[SEGMENTS_MAX];
        int n = 0, k, cnt = 0, i;

        for (k = 0; k < SEGMENTS_MAX; k++) {
                offs[n++] = off_at(s);
                e = floq_tz_next_change(cur_tz, s);
                if (e == FLOQ_TZ_NEVER || e > local + FLOQ_TZ_OFF_MAX + 1)
                        break;
                s = e;
        }
        if (k == SEGMENTS_MAX)
                return -1;
        /* offsets in descending order give ascending instants */
        for (i = 0; i < n; i++) {
                int32_t o = offs[i], dup = 0;
                int j;

                for (j = 0; j < i; j++)
                        dup |= offs[j] == o;
                if (dup || off_at(local - o) != o)
                        continue;
                if (cnt < 2) {
                        t[cnt] = local - o;
                } else if (local - o < t[1]) {
                        t[1] = local - o;
                }
                if (cnt >= 1 && t[1] < t[0]) {
                        int64_t x = t[0];

                        t[0] = t[1];
                        t[1] = x;
                }
                cnt++;
        }
        return cnt > 2 ? 3 : cnt;
}

static void check_local(int64_t local) {
        int64_t u[2], t[2];
        int n = floq_tz_local_to_utc(cur_tz, local, u);
        int want = wall_instants(local, t);

        if (want >= 0 && (want > 2 ? 2 : want) != n)
                fail("local_to_utc miscounts the instants of a wall time",
                     local, n);
        if (want >= 1 && (u[0] != t[0] || (want >= 2 && u[1] != t[1])))
                fail("local_to_utc gives other instants than the wall time's",
                     local, u[0]);

        switch (n) {
        case 1:
                if (u[0] != u[1] || u[0] + off_at(u[0]) != local)
                        fail("one instant but not that wall time", local,
                             u[0]);
                break;
        case 2:
                if (u[0] >= u[1] || u[0] + off_at(u[0]) != local ||
                    u[1] + off_at(u[1]) != local)
                        fail("fold but not two passes of that wall time",
                             local, u[0]);
                break;
        case 0:
                /* the first valid instant after the gap: where the clock
                 * jumped forward, past the wall time asked */
                if (u[0] != u[1] || off_at(u[0] - 1) >= off_at(u[0]) ||
                    u[0] + off_at(u[0]) <= local ||
                    u[0] - 1 + off_at(u[0] - 1) >= local)
                        fail("gap but not just after it", local, u[0]);
                break;
        default:
                fail("local_to_utc gave an odd count", local, n);
        }
}

static void check_cron(const char *expr, int64_t after_sec) {
        floq_cron_t c;
        char errstr[128];
        int64_t after = after_sec * 1000, r;
        int i;

        if (floq_cron_parse(expr, &c, errstr, sizeof(errstr)))
                fail("a fixed expression does not parse", 0, 0);
        for (i = 0; i < 3; i++) {
                r = floq_cron_next(&c, cur_tz, after);
                if (r == -1)
                        return;
                if (r <= after || r % 1000)
                        fail("cron fire not a later whole second", after, r);
                after = r;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const int64_t probes[] = {
                T_MIN, -2208988800LL /* 1900 */, -1, 0, 1772884800LL,
                4102444800LL /* 2100 */, T_MAX,
        };
        char errstr[256];
        floq_tz_t *tz = floq_tz_from_tzif("fuzz", data, size, errstr,
                                          sizeof(errstr));
        int64_t t, e;
        size_t i;
        int k;

        if (!tz)
                return 0;
        cur_tz = tz;
        for (i = 0; i < sizeof(probes) / sizeof(*probes); i++) {
                check_local(probes[i] + off_at(probes[i]));
                check_local(probes[i]);
        }
        /* the offset changes from 1900 on */
        t = -2208988800LL;
        for (k = 0; k < CHANGES_MAX && t < T_MAX; k++) {
                int32_t o = off_at(t);

                e = floq_tz_next_change(tz, t);
                if (e == FLOQ_TZ_NEVER)
                        break;
                if (e <= t || off_at(e) == o || off_at(e - 1) != o)
                        fail("next_change is not the next change", t, e);
                if (e > T_MAX)
                        break;
                /* wall times around the change: the gap or the fold */
                check_local(e + o - 1);
                check_local(e + o);
                check_local(e + off_at(e) - 1);
                check_local(e + off_at(e));
                t = e;
        }
        check_cron("30 2 * * *", 1772884800LL);
        check_cron("*/20 * * * *", 1772884800LL);
        check_cron("0 0 1 1 *", T_MAX - 400 * 86400);
        floq_tz_destroy(tz);
        cur_tz = NULL;
        return 0;
}
