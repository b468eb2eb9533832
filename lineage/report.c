/*
 * report.c - the line format by which a run tells floq about datasets it
 * read or wrote beyond those its deployment declares. A run prints
 * `::openlineage-input NAMESPACE NAME` or `::openlineage-output NAMESPACE
 * NAME` on stdout (the GitHub Actions "::command" style: easy to print
 * from any language, unlikely to collide with ordinary output); the worker
 * keeps the end of the output in RunState.output_tail and the event
 * builder folds the lines into COMPLETE/FAIL/ABORT events. The text is
 * untrusted, so every line is bounded and checked.
 */
#include <stdlib.h>
#include <string.h>

#include "lineage_int.h"

#define INPUT_TAG "::openlineage-input"
#define OUTPUT_TAG "::openlineage-output"

static int is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* A line's text holds no control characters and is valid UTF-8. */
static int text_ok(const char *s, size_t len) {
        char *clean;
        size_t i;
        int ok;

        for (i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return 0;
        if (!(clean = floq_lineage_utf8_dup(s, len)))
                return 0;
        ok = strlen(clean) == len && !memcmp(clean, s, len);
        free(clean);
        return ok;
}

static int array_has(const json_t *arr, const char *ns, size_t nslen,
                     const char *name, size_t namelen) {
        size_t i;
        json_t *d;

        json_array_foreach(arr, i, d) {
                const char *dn = json_string_value(
                        json_object_get(d, "namespace"));
                const char *dm = json_string_value(json_object_get(d, "name"));

                if (dn && dm && strlen(dn) == nslen &&
                    !memcmp(dn, ns, nslen) && strlen(dm) == namelen &&
                    !memcmp(dm, name, namelen))
                        return 1;
        }
        return 0;
}

/* One line (no newline). 1 added, 0 ignored, -1 ENOMEM. */
static int parse_line(const char *line, size_t len, json_t *inputs,
                      json_t *outputs) {
        const char *p, *end = line + len, *ns, *name;
        size_t nslen, namelen;
        json_t *arr, *d;

        if (len > 0 && line[len - 1] == '\r')
                end--;
        p = line;
        while (p < end && is_blank(*p))
                p++;
        if ((size_t)(end - p) > strlen(OUTPUT_TAG) &&
            !memcmp(p, OUTPUT_TAG, strlen(OUTPUT_TAG)) &&
            is_blank(p[strlen(OUTPUT_TAG)])) {
                arr = outputs;
                p += strlen(OUTPUT_TAG);
        } else if ((size_t)(end - p) > strlen(INPUT_TAG) &&
                   !memcmp(p, INPUT_TAG, strlen(INPUT_TAG)) &&
                   is_blank(p[strlen(INPUT_TAG)])) {
                arr = inputs;
                p += strlen(INPUT_TAG);
        } else {
                return 0;
        }
        if (!arr)
                return 0;
        while (p < end && is_blank(*p))
                p++;
        ns = p;
        while (p < end && !is_blank(*p))
                p++;
        nslen = (size_t)(p - ns);
        while (p < end && is_blank(*p))
                p++;
        name = p;
        while (end > name && is_blank(end[-1]))
                end--;
        namelen = (size_t)(end - name);
        if (nslen == 0 || namelen == 0 ||
            nslen > FLOQ_LINEAGE_DATASET_NAME_MAX ||
            namelen > FLOQ_LINEAGE_DATASET_NAME_MAX || !text_ok(ns, nslen) ||
            !text_ok(name, namelen))
                return 0;
        if (json_array_size(arr) >= FLOQ_LINEAGE_DATASETS_MAX ||
            array_has(arr, ns, nslen, name, namelen))
                return 0;
        d = json_pack("{s:s%, s:s%}", "namespace", ns, nslen, "name", name,
                      namelen);
        /* json_array_append_new() drops d when it fails */
        if (!d || json_array_append_new(arr, d))
                return -1;
        return 1;
}

int floq_lineage_parse_datasets(const char *text, size_t len, json_t *inputs,
                                json_t *outputs) {
        size_t pos = 0;
        int added = 0;

        if (!text)
                return 0;
        while (pos < len) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t linelen = nl ? (size_t)(nl - (text + pos)) : len - pos;
                int r = parse_line(text + pos, linelen, inputs, outputs);

                if (r < 0)
                        return -1;
                added += r;
                pos += linelen + 1;
        }
        return added;
}
