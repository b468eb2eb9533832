/*
 * filter.c - the query of /runs: which deployment, state and creation
 * window, which page. Every argument is checked; a bad one is a 400 that
 * names it rather than a silently wider answer.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "console_int.h"

static const char *const run_states[] = {
        "UNKNOWN",   "ACCEPTED", "RUNNING",   "RETRYING", "SUCCEEDED",
        "FAILED",    "CANCELLED", "TIMED_OUT", "LOST",    NULL,
};

int crun_state_valid(const char *s) {
        int i;

        for (i = 0; s && run_states[i]; i++)
                if (!strcmp(s, run_states[i]))
                        return 1;
        return 0;
}

int crun_state_terminal(const char *s) {
        int i;

        /* the states after RUNNING and RETRYING in the list above */
        for (i = 4; s && run_states[i]; i++)
                if (!strcmp(s, run_states[i]))
                        return 1;
        return 0;
}

const char *cjson_str(const json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

int64_t cjson_int(const json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);

        return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int parse_num(const char *s, int64_t *out) {
        char *end;
        long long v;

        if (!s || !*s || !isdigit((unsigned char)*s))
                return -1;
        v = strtoll(s, &end, 10);
        if (*end || v < 0)
                return -1;
        *out = v;
        return 0;
}

/* An instant: Unix milliseconds or RFC 3339 with an offset. */
static int parse_time(const char *s, int64_t *out) {
        if (!parse_num(s, out))
                return 0;
        return floq_iso_parse(s, out) ? -1 : 0;
}

static const char *arg(cquery_fn get, void *ctx, const char *name) {
        const char *v = get ? get(ctx, name) : NULL;

        return v && *v ? v : NULL;
}

floq_err_t cfilter_parse(cfilter_t *f, cquery_fn get, void *ctx,
                         int64_t default_per_page, char *errstr,
                         size_t errstr_size) {
        const char *v;
        int i;

        memset(f, 0, sizeof(*f));
        f->since_ms = f->until_ms = -1;
        f->page = 1;
        f->per_page = default_per_page < 1 ? 50
                      : default_per_page > 200 ? 200 : default_per_page;
        f->deployment = arg(get, ctx, "deployment");
        if (f->deployment && strlen(f->deployment) > 255)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "deployment: longer than 255 bytes");
        if ((v = arg(get, ctx, "state"))) {
                for (i = 0; run_states[i]; i++)
                        if (!strcasecmp(v, run_states[i]))
                                f->state = run_states[i];
                if (!f->state)
                        return floq_seterr(
                                errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                "state: not a run state (ACCEPTED, RUNNING, "
                                "RETRYING, SUCCEEDED, FAILED, CANCELLED, "
                                "TIMED_OUT, LOST)");
        }
        if ((v = arg(get, ctx, "since")) && parse_time(v, &f->since_ms))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "since: expected Unix milliseconds or "
                                   "an RFC 3339 time with an offset");
        if ((v = arg(get, ctx, "until")) && parse_time(v, &f->until_ms))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "until: expected Unix milliseconds or "
                                   "an RFC 3339 time with an offset");
        if ((v = arg(get, ctx, "page")) &&
            (parse_num(v, &f->page) || f->page < 1 || f->page > 1000000))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "page: expected a number from 1");
        if ((v = arg(get, ctx, "per_page")) &&
            (parse_num(v, &f->per_page) || f->per_page < 1 ||
             f->per_page > 200))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "per_page: expected 1 to 200");
        return FLOQ_OK;
}
