/*
 * walk.c - the bounded validator every message body passes before avro-c
 * reads it. avro-c 1.11.1 trusts the bytes: it mallocs whatever a string
 * or bytes length prefix claims (five bytes can make it allocate 2 GiB),
 * loops over any array block count, and leaks on truncated input. This
 * walker reads the body with the writer schema's node graph exactly as the
 * Avro binary encoding defines it, allocating nothing, and rejects any body
 * avro-c could not read within the bytes given: so when it passes, avro-c
 * reads in-bounds values only and every allocation is bounded by the
 * message size (plus a bounded number of array and map items). The same
 * walk can report where top-level fields lie in the bytes: command
 * signatures (sign.c) splice the signature field without re-encoding.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec_int.h"

typedef struct walk_s {
        const unsigned char *p;
        size_t left;
        size_t items;     /* array and map items so far */
        size_t max_items;
        floq_avro_path_t path;
        char *errstr;
        size_t errstr_size;
        const unsigned char *start;  /* spans are offsets from here */
        const char *const *span_fields; /* top-level fields to locate */
        floq_avro_span_t *spans;
        size_t span_cnt;
} walk_t;

static floq_err_t fail(walk_t *w, floq_err_t err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static floq_err_t fail(walk_t *w, floq_err_t err, const char *fmt, ...) {
        char why[200];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        return floq_seterr(w->errstr, w->errstr_size, err, "%s: %s",
                           w->path.buf, why);
}

int floq_avro_utf8_ok(const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;

        while (i < len) {
                unsigned c = s[i];
                size_t n, k;
                uint32_t cp;

                if (c == 0)
                        return 0;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf) {
                        n = 1;
                        cp = c & 0x1f;
                } else if (c >= 0xe0 && c <= 0xef) {
                        n = 2;
                        cp = c & 0x0f;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        n = 3;
                        cp = c & 0x07;
                } else {
                        return 0;
                }
                if (len - i - 1 < n)
                        return 0;
                for (k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return 0;
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return 0;
                i += n + 1;
        }
        return 1;
}

/** A zigzag varint of at most @p maxbytes bytes (5 for int, 10 for long). */
static floq_err_t read_varint(walk_t *w, int maxbytes, const char *what,
                              int64_t *vp) {
        uint64_t u = 0;
        int i;

        for (i = 0; i < maxbytes; i++) {
                unsigned b;
                if (!w->left)
                        return fail(w, FLOQ_ERR_TRUNCATED,
                                    "input ends inside the %s", what);
                b = *w->p++;
                w->left--;
                u |= (uint64_t)(b & 0x7f) << (7 * i);
                if (!(b & 0x80)) {
                        /* the last byte may only carry the bits left */
                        if (i == maxbytes - 1 &&
                            b >> (64 - 7 * i < 7 ? 64 - 7 * i : 7))
                                break;
                        *vp = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
                        if (maxbytes == 5 &&
                            (*vp < INT32_MIN || *vp > INT32_MAX))
                                return fail(w, FLOQ_ERR_DECODE,
                                            "%s out of int range", what);
                        return FLOQ_OK;
                }
        }
        return fail(w, FLOQ_ERR_DECODE, "%s varint longer than %d bytes",
                    what, maxbytes);
}

static floq_err_t skip(walk_t *w, size_t n, const char *what) {
        if (n > w->left)
                return fail(w, FLOQ_ERR_TRUNCATED,
                            "%s of %zu bytes exceeds %zu bytes left", what, n,
                            w->left);
        w->p += n;
        w->left -= n;
        return FLOQ_OK;
}

/** A string or bytes value; strings must be UTF-8 without NUL. */
static floq_err_t walk_string(walk_t *w, int is_string, const char *what) {
        floq_err_t err;
        int64_t len;

        err = read_varint(w, 10, what, &len);
        if (err)
                return err;
        if (len < 0)
                return fail(w, FLOQ_ERR_DECODE, "negative %s length %" PRId64,
                            what, len);
        if ((uint64_t)len > w->left)
                return fail(w, FLOQ_ERR_TRUNCATED,
                            "%s length %" PRId64 " exceeds %zu bytes left",
                            what, len, w->left);
        if (is_string && !floq_avro_utf8_ok((const char *)w->p, (size_t)len))
                return fail(w, FLOQ_ERR_DECODE,
                            "%s is not UTF-8 (or holds a NUL)", what);
        w->p += len;
        w->left -= (size_t)len;
        return FLOQ_OK;
}

static floq_err_t walk_value(walk_t *w, const floq_avro_node_t *n,
                             int depth);

/** Arrays and maps: blocks of items until a zero count. */
static floq_err_t walk_blocks(walk_t *w, const floq_avro_node_t *n,
                              int depth) {
        int is_map = n->kind == FLOQ_AVRO_MAP;
        size_t item_min = n->items->min_size + (is_map ? 1 : 0);
        size_t index = 0, mark;
        floq_err_t err;

        for (;;) {
                int64_t count, bytes = -1;
                size_t left_at_items, i;

                err = read_varint(w, 10, "block count", &count);
                if (err)
                        return err;
                if (!count)
                        return FLOQ_OK;
                if (count < 0) {
                        if (count == INT64_MIN)
                                return fail(w, FLOQ_ERR_DECODE,
                                            "block count out of range");
                        count = -count;
                        err = read_varint(w, 10, "block size", &bytes);
                        if (err)
                                return err;
                        if (bytes < 0 || (uint64_t)bytes > w->left)
                                return fail(w, FLOQ_ERR_TRUNCATED,
                                            "block size %" PRId64
                                            " exceeds %zu bytes left",
                                            bytes, w->left);
                }
                if (item_min && (uint64_t)count > w->left / item_min)
                        return fail(w, FLOQ_ERR_TRUNCATED,
                                    "block of %" PRId64 " items exceeds %zu "
                                    "bytes left", count, w->left);
                if ((uint64_t)count > w->max_items - w->items)
                        return fail(w, FLOQ_ERR_TOO_LARGE,
                                    "%" PRId64 " more items exceed the bound "
                                    "of %zu items per message", count,
                                    w->max_items);
                w->items += (size_t)count;
                left_at_items = w->left;
                for (i = 0; i < (size_t)count; i++, index++) {
                        if (is_map) {
                                err = walk_string(w, 1, "map key");
                                if (err)
                                        return err;
                        }
                        mark = floq_avro_path_push(&w->path, "[%zu]", index);
                        err = walk_value(w, n->items, depth + 1);
                        if (err)
                                return err;
                        floq_avro_path_pop(&w->path, mark);
                }
                if (bytes >= 0 && (uint64_t)bytes != left_at_items - w->left)
                        return fail(w, FLOQ_ERR_DECODE,
                                    "block size %" PRId64 " but its items "
                                    "take %zu bytes", bytes,
                                    left_at_items - w->left);
        }
}

/* A top-level field just walked from @p at: its span, when asked for. */
static void note_span(walk_t *w, const floq_avro_field_t *f,
                      const unsigned char *at) {
        size_t k;

        for (k = 0; k < w->span_cnt; k++)
                if (!strcmp(w->span_fields[k], f->name)) {
                        w->spans[k].found = 1;
                        w->spans[k].off = (size_t)(at - w->start);
                        w->spans[k].len = (size_t)(w->p - at);
                        w->spans[k].type = f->type;
                }
}

static floq_err_t walk_value(walk_t *w, const floq_avro_node_t *n,
                             int depth) {
        floq_err_t err = FLOQ_OK;
        int64_t v;
        size_t i, mark;

        if (depth > FLOQ_AVRO_MAX_DEPTH)
                return fail(w, FLOQ_ERR_DECODE, "nested deeper than %d",
                            FLOQ_AVRO_MAX_DEPTH);
        switch (n->kind) {
        case FLOQ_AVRO_NULL:
                return FLOQ_OK;
        case FLOQ_AVRO_BOOLEAN:
                if (!w->left)
                        return fail(w, FLOQ_ERR_TRUNCATED,
                                    "input ends inside the boolean");
                if (*w->p > 1)
                        return fail(w, FLOQ_ERR_DECODE,
                                    "boolean byte %u is not 0 or 1", *w->p);
                return skip(w, 1, "boolean");
        case FLOQ_AVRO_INT:
                return read_varint(w, 5, "int", &v);
        case FLOQ_AVRO_LONG:
                return read_varint(w, 10, "long", &v);
        case FLOQ_AVRO_FLOAT:
                return skip(w, 4, "float");
        case FLOQ_AVRO_DOUBLE:
                return skip(w, 8, "double");
        case FLOQ_AVRO_STRING:
                return walk_string(w, 1, "string");
        case FLOQ_AVRO_BYTES:
                return walk_string(w, 0, "bytes");
        case FLOQ_AVRO_FIXED:
                return skip(w, (size_t)n->size, "fixed");
        case FLOQ_AVRO_ENUM:
                err = read_varint(w, 5, "enum index", &v);
                if (!err && (v < 0 || (uint64_t)v >= n->symbol_cnt))
                        err = fail(w, FLOQ_ERR_DECODE,
                                   "enum index %" PRId64 " not in 0..%zu", v,
                                   n->symbol_cnt - 1);
                return err;
        case FLOQ_AVRO_UNION:
                err = read_varint(w, 10, "union index", &v);
                if (err)
                        return err;
                if (v < 0 || (uint64_t)v >= n->branch_cnt)
                        return fail(w, FLOQ_ERR_DECODE,
                                    "union index %" PRId64 " not in 0..%zu",
                                    v, n->branch_cnt ? n->branch_cnt - 1 : 0);
                mark = n->nullable >= 0
                               ? w->path.len
                               : floq_avro_path_push(
                                         &w->path, ".%s",
                                         floq_avro_branch_name(
                                                 n->branches[v]));
                err = walk_value(w, n->branches[v], depth + 1);
                if (!err)
                        floq_avro_path_pop(&w->path, mark);
                return err;
        case FLOQ_AVRO_ARRAY:
        case FLOQ_AVRO_MAP:
                return walk_blocks(w, n, depth);
        case FLOQ_AVRO_RECORD:
                for (i = 0; i < n->field_cnt; i++) {
                        const unsigned char *at = w->p;

                        mark = floq_avro_path_push(&w->path, ".%s",
                                                   n->fields[i].name);
                        err = walk_value(w, n->fields[i].type, depth + 1);
                        if (err)
                                return err;
                        floq_avro_path_pop(&w->path, mark);
                        if (depth == 0)
                                note_span(w, &n->fields[i], at);
                }
                return FLOQ_OK;
        }
        return fail(w, FLOQ_ERR_DECODE, "unknown schema kind %d", n->kind);
}

floq_err_t floq_avro_walk(const floq_avro_node_t *root, const char *root_name,
                          const void *buf, size_t len, size_t max_items,
                          char *errstr, size_t errstr_size) {
        return floq_avro_walk_spans(root, root_name, buf, len, max_items,
                                    NULL, NULL, 0, errstr, errstr_size);
}

floq_err_t floq_avro_walk_spans(const floq_avro_node_t *root,
                                const char *root_name, const void *buf,
                                size_t len, size_t max_items,
                                const char *const *fields,
                                floq_avro_span_t *spans, size_t cnt,
                                char *errstr, size_t errstr_size) {
        walk_t w = {.p = buf, .left = len, .max_items = max_items,
                    .errstr = errstr, .errstr_size = errstr_size,
                    .start = buf, .span_fields = fields, .spans = spans,
                    .span_cnt = cnt};
        floq_err_t err;
        size_t k;

        for (k = 0; k < cnt; k++)
                memset(&spans[k], 0, sizeof(spans[k]));

        floq_avro_path_init(&w.path, root_name);
        err = walk_value(&w, root, 0);
        if (!err && w.left)
                err = fail(&w, FLOQ_ERR_DECODE, "%zu trailing bytes after "
                           "the value", w.left);
        return err;
}
