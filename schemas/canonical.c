/*
 * canonical.c - the Parsing Canonical Form of a schema and its CRC-64-AVRO
 * (Rabin) fingerprint, which avro-c does not have. The fingerprint of the
 * canonical form is what single-object encoding puts in front of every
 * message, so it has to agree byte for byte with Java's
 * SchemaNormalization; the form is printed from the parsed node graph
 * (schema.c), which already applied the spec's transformations:
 * [PRIMITIVES] {"type":"int"} is "int"; [FULLNAMES] names are full names;
 * [STRIP] only name, type, fields, symbols, items, values and size are
 * kept (doc, aliases, defaults, order, logicalType go); [ORDER] in that
 * order; [STRINGS] and [INTEGERS] are printed plainly (names hold no
 * characters needing escapes, sizes have no leading zeros);
 * [WHITESPACE] none. A named type is printed in full where it is first
 * met and by full name after that.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

/** The spec's EMPTY: fingerprint of no bytes, and the polynomial. */
#define CRC64_AVRO_EMPTY UINT64_C(0xc15d213aa4d7a795)

uint64_t floq_avro_fingerprint64(const void *buf, size_t len) {
        const unsigned char *p = buf;
        uint64_t fp = CRC64_AVRO_EMPTY;
        size_t i;
        int bit;

        /* Bit by bit rather than the spec's 256-entry table: it is only
         * run on schemas, and needs no shared table to initialise. */
        for (i = 0; i < len; i++) {
                fp ^= p[i];
                for (bit = 0; bit < 8; bit++)
                        fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & -(fp & 1));
        }
        return fp;
}

typedef struct emit_s {
        char *buf;
        size_t len;
        size_t size;
        int failed;
        const floq_avro_node_t **seen; /* named types already printed */
        size_t seen_cnt;
        size_t seen_size;
} emit_t;

static void put(emit_t *e, const char *s) {
        size_t n = strlen(s);

        if (e->failed)
                return;
        if (e->len + n + 1 > e->size) {
                size_t size = e->size ? e->size : 256;
                char *buf;
                while (size < e->len + n + 1)
                        size *= 2;
                buf = realloc(e->buf, size);
                if (!buf) {
                        e->failed = 1;
                        return;
                }
                e->buf = buf;
                e->size = size;
        }
        memcpy(e->buf + e->len, s, n + 1);
        e->len += n;
}

static void put_quoted(emit_t *e, const char *s) {
        put(e, "\"");
        put(e, s);
        put(e, "\"");
}

/** 1 if @p n was printed already, else remember it and return 0. */
static int seen(emit_t *e, const floq_avro_node_t *n) {
        size_t i;

        for (i = 0; i < e->seen_cnt; i++)
                if (e->seen[i] == n)
                        return 1;
        if (e->seen_cnt == e->seen_size) {
                size_t size = e->seen_size ? e->seen_size * 2 : 16;
                const floq_avro_node_t **v =
                        realloc(e->seen, size * sizeof(*v));
                if (!v) {
                        e->failed = 1;
                        return 1;
                }
                e->seen = v;
                e->seen_size = size;
        }
        e->seen[e->seen_cnt++] = n;
        return 0;
}

static void emit(emit_t *e, const floq_avro_node_t *n) {
        char num[32];
        size_t i;

        if (e->failed)
                return;
        if (n->fullname && seen(e, n)) {
                put_quoted(e, n->fullname);
                return;
        }
        switch (n->kind) {
        case FLOQ_AVRO_RECORD:
                put(e, "{\"name\":");
                put_quoted(e, n->fullname);
                put(e, n->is_error ? ",\"type\":\"error\",\"fields\":["
                                   : ",\"type\":\"record\",\"fields\":[");
                for (i = 0; i < n->field_cnt; i++) {
                        put(e, i ? ",{\"name\":" : "{\"name\":");
                        put_quoted(e, n->fields[i].name);
                        put(e, ",\"type\":");
                        emit(e, n->fields[i].type);
                        put(e, "}");
                }
                put(e, "]}");
                break;
        case FLOQ_AVRO_ENUM:
                put(e, "{\"name\":");
                put_quoted(e, n->fullname);
                put(e, ",\"type\":\"enum\",\"symbols\":[");
                for (i = 0; i < n->symbol_cnt; i++) {
                        if (i)
                                put(e, ",");
                        put_quoted(e, n->symbols[i]);
                }
                put(e, "]}");
                break;
        case FLOQ_AVRO_FIXED:
                snprintf(num, sizeof(num), "%" PRId64, n->size);
                put(e, "{\"name\":");
                put_quoted(e, n->fullname);
                put(e, ",\"type\":\"fixed\",\"size\":");
                put(e, num);
                put(e, "}");
                break;
        case FLOQ_AVRO_ARRAY:
                put(e, "{\"type\":\"array\",\"items\":");
                emit(e, n->items);
                put(e, "}");
                break;
        case FLOQ_AVRO_MAP:
                put(e, "{\"type\":\"map\",\"values\":");
                emit(e, n->items);
                put(e, "}");
                break;
        case FLOQ_AVRO_UNION:
                put(e, "[");
                for (i = 0; i < n->branch_cnt; i++) {
                        if (i)
                                put(e, ",");
                        emit(e, n->branches[i]);
                }
                put(e, "]");
                break;
        default:
                put_quoted(e, floq_avro_kind_name(n->kind));
                break;
        }
}

char *floq_avro_schema_canonical(const floq_avro_schema_t *sch) {
        emit_t e = {0};

        emit(&e, sch->root);
        free(e.seen);
        if (e.failed) {
                free(e.buf);
                return NULL;
        }
        return e.buf;
}

char *floq_avro_canonical_form(const char *schema_json, char *errstr,
                               size_t errstr_size) {
        floq_avro_schema_t *sch;
        char *pcf;

        sch = floq_avro_schema_parse(schema_json, 0, errstr, errstr_size);
        if (!sch)
                return NULL;
        pcf = floq_avro_schema_canonical(sch);
        if (!pcf)
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
        floq_avro_schema_destroy(sch);
        return pcf;
}
