/*
 * schema.c - floq's own model of an Avro schema. avro-c parses schemas too,
 * but it does not expose defaults, aliases or enough of the structure to
 * validate bytes before it reads them, so the codec parses every .avsc a
 * second time here into a small node graph (see codec_int.h) that the
 * canonical form, the bounded walker, the resolver and the JSON conversion
 * share. The rules are the Avro 1.11 specification's: full names from
 * "name" and "namespace" with namespace inheritance, names defined once and
 * referenced by (full or namespace-relative) name afterwards, unions that
 * hold no union and no two types of the same kind or name, defaults that
 * fit their field types (union defaults fit the first branch that accepts
 * them). Also here: the field-path and hex helpers the other files share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

/* ------------------------------------------------------------ kind names */

static const char *const kind_names[] = {
        [FLOQ_AVRO_NULL] = "null",     [FLOQ_AVRO_BOOLEAN] = "boolean",
        [FLOQ_AVRO_INT] = "int",       [FLOQ_AVRO_LONG] = "long",
        [FLOQ_AVRO_FLOAT] = "float",   [FLOQ_AVRO_DOUBLE] = "double",
        [FLOQ_AVRO_BYTES] = "bytes",   [FLOQ_AVRO_STRING] = "string",
        [FLOQ_AVRO_RECORD] = "record", [FLOQ_AVRO_ENUM] = "enum",
        [FLOQ_AVRO_ARRAY] = "array",   [FLOQ_AVRO_MAP] = "map",
        [FLOQ_AVRO_UNION] = "union",   [FLOQ_AVRO_FIXED] = "fixed",
};

const char *floq_avro_kind_name(floq_avro_kind_t kind) {
        if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
                return "?";
        return kind_names[kind];
}

const char *floq_avro_branch_name(const floq_avro_node_t *n) {
        return n->name ? n->name : floq_avro_kind_name(n->kind);
}

/** Primitive kind named @p s, or -1. */
static int primitive_kind(const char *s) {
        int k;
        for (k = FLOQ_AVRO_NULL; k <= FLOQ_AVRO_STRING; k++)
                if (!strcmp(s, kind_names[k]))
                        return k;
        return -1;
}

/* ----------------------------------------------------------------- paths */

void floq_avro_path_init(floq_avro_path_t *path, const char *root) {
        path->len = 0;
        path->buf[0] = '\0';
        floq_avro_path_push(path, "%s", root ? root : "");
}

/* ".name" or "[index]" appended without printf: the codec pushes one for
 * every field and item it walks (a path is read only in an error), and
 * vsnprintf() was a quarter of encoding a Deployment with its outcomes.
 * Returns 0 when it does not fit (the caller's printf cuts it). */
static int path_fast(floq_avro_path_t *path, const char *prefix,
                     const char *name, size_t idx) {
        size_t room = sizeof(path->buf) - path->len, len;
        char digits[24], *d = digits + sizeof(digits);

        if (!name) {
                *--d = '\0';
                do
                        *--d = (char)('0' + idx % 10);
                while ((idx /= 10));
                name = d;
        }
        len = strlen(name);
        if (len + 3 > room)
                return 0;
        path->buf[path->len++] = prefix[0];
        memcpy(path->buf + path->len, name, len);
        path->len += len;
        if (prefix[1])
                path->buf[path->len++] = prefix[1];
        path->buf[path->len] = '\0';
        return 1;
}

size_t floq_avro_path_push(floq_avro_path_t *path, const char *fmt, ...) {
        size_t old = path->len;
        va_list ap;
        int n;

        if (path->len >= sizeof(path->buf) - 1)
                return old;
        va_start(ap, fmt);
        if (!strcmp(fmt, ".%s")) {
                const char *name = va_arg(ap, const char *);

                if (name && path_fast(path, ".", name, 0)) {
                        va_end(ap);
                        return old;
                }
                va_end(ap);
                va_start(ap, fmt);
        } else if (!strcmp(fmt, "[%zu]")) {
                size_t idx = va_arg(ap, size_t);

                if (path_fast(path, "[]", NULL, idx)) {
                        va_end(ap);
                        return old;
                }
                va_end(ap);
                va_start(ap, fmt);
        }
        n = vsnprintf(path->buf + path->len, sizeof(path->buf) - path->len,
                      fmt, ap);
        va_end(ap);
        if (n < 0)
                path->buf[path->len] = '\0';
        else if ((size_t)n >= sizeof(path->buf) - path->len)
                path->len = sizeof(path->buf) - 1;
        else
                path->len += (size_t)n;
        return old;
}

void floq_avro_path_pop(floq_avro_path_t *path, size_t len) {
        if (len < sizeof(path->buf)) {
                path->len = len;
                path->buf[len] = '\0';
        }
}

/* ------------------------------------------------------------------- hex */

json_t *floq_avro_hex_json(const void *buf, size_t len) {
        static const char digits[] = "0123456789abcdef";
        const unsigned char *p = buf;
        json_t *j;
        char *s;
        size_t i;

        s = malloc(len * 2 + 1);
        if (!s)
                return NULL;
        for (i = 0; i < len; i++) {
                s[2 * i] = digits[p[i] >> 4];
                s[2 * i + 1] = digits[p[i] & 15];
        }
        s[2 * len] = '\0';
        j = json_stringn(s, len * 2);
        free(s);
        return j;
}

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int floq_avro_hex_decode_into(const char *s, size_t n, unsigned char *out) {
        size_t i;

        for (i = 0; i < n; i++) {
                int hi = hexval((unsigned char)s[2 * i]);
                int lo = hexval((unsigned char)s[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return -1;
                out[i] = (unsigned char)(hi << 4 | lo);
        }
        return 0;
}

int floq_avro_hex_decode(const char *s, size_t slen, unsigned char **bufp,
                         size_t *lenp) {
        unsigned char *buf;

        *bufp = NULL;
        *lenp = 0;
        if (slen % 2)
                return -1;
        buf = malloc(slen / 2 + 1); /* +1: never malloc(0) */
        if (!buf)
                return -1;
        if (floq_avro_hex_decode_into(s, slen / 2, buf)) {
                free(buf);
                return -1;
        }
        *bufp = buf;
        *lenp = slen / 2;
        return 0;
}

/* --------------------------------------------------------------- parsing */

typedef struct parse_ctx_s {
        floq_avro_schema_t *sch;
        char *errstr;
        size_t errstr_size;
        int failed;
} parse_ctx_t;

static void perr(parse_ctx_t *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/** Record the first error only: it is the cause, the rest are echoes. */
static void perr(parse_ctx_t *ctx, const char *fmt, ...) {
        va_list ap;

        if (ctx->failed)
                return;
        ctx->failed = 1;
        if (!ctx->errstr || !ctx->errstr_size)
                return;
        va_start(ap, fmt);
        vsnprintf(ctx->errstr, ctx->errstr_size, fmt, ap);
        va_end(ap);
}

static floq_avro_node_t *node_new(parse_ctx_t *ctx, floq_avro_kind_t kind) {
        floq_avro_schema_t *sch = ctx->sch;
        floq_avro_node_t *n;

        if (sch->node_cnt == sch->node_size) {
                size_t size = sch->node_size ? sch->node_size * 2 : 16;
                floq_avro_node_t **nodes =
                        realloc(sch->nodes, size * sizeof(*nodes));
                if (!nodes)
                        goto oom;
                sch->nodes = nodes;
                sch->node_size = size;
        }
        n = calloc(1, sizeof(*n));
        if (!n)
                goto oom;
        n->kind = kind;
        n->enum_default = -1;
        n->nullable = -1;
        sch->nodes[sch->node_cnt++] = n;
        return n;
oom:
        perr(ctx, "out of memory");
        return NULL;
}

/** Avro name: [A-Za-z_][A-Za-z0-9_]* */
static int name_ok(const char *s, size_t len) {
        size_t i;

        if (!len)
                return 0;
        for (i = 0; i < len; i++) {
                int c = (unsigned char)s[i];
                int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            c == '_';
                if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
                        return 0;
        }
        return 1;
}

/** Dotted full name: each component a valid name. */
static int fullname_ok(const char *s) {
        const char *dot;

        for (;;) {
                dot = strchr(s, '.');
                if (!name_ok(s, dot ? (size_t)(dot - s) : strlen(s)))
                        return 0;
                if (!dot)
                        return 1;
                s = dot + 1;
        }
}

static floq_avro_node_t *lookup_named(parse_ctx_t *ctx, const char *fullname) {
        size_t i;

        for (i = 0; i < ctx->sch->node_cnt; i++) {
                floq_avro_node_t *n = ctx->sch->nodes[i];
                if (n->fullname && !strcmp(n->fullname, fullname))
                        return n;
        }
        return NULL;
}

/** A name used as a type: full name, else relative to @p ns. */
static floq_avro_node_t *resolve_ref(parse_ctx_t *ctx, const char *ref,
                                     const char *ns) {
        floq_avro_node_t *n = NULL;
        char *full;

        if (!strchr(ref, '.') && ns && *ns) {
                if (asprintf(&full, "%s.%s", ns, ref) < 0) {
                        perr(ctx, "out of memory");
                        return NULL;
                }
                n = lookup_named(ctx, full);
                free(full);
        }
        if (!n)
                n = lookup_named(ctx, ref);
        if (!n)
                perr(ctx, "unknown type '%s'", ref);
        return n;
}

static char **strings_dup(parse_ctx_t *ctx, json_t *arr, size_t *cntp,
                          const char *what) {
        char **v;
        size_t i;

        *cntp = 0;
        if (!arr)
                return NULL;
        if (!json_is_array(arr)) {
                perr(ctx, "%s must be an array", what);
                return NULL;
        }
        v = calloc(json_array_size(arr) + 1, sizeof(*v));
        if (!v) {
                perr(ctx, "out of memory");
                return NULL;
        }
        for (i = 0; i < json_array_size(arr); i++) {
                const char *s = json_string_value(json_array_get(arr, i));
                if (!s || !fullname_ok(s)) {
                        perr(ctx, "%s: entry %zu is not a valid name", what,
                             i);
                        break;
                }
                v[i] = strdup(s);
                if (!v[i]) {
                        perr(ctx, "out of memory");
                        break;
                }
                *cntp = i + 1;
        }
        return v;
}

static floq_avro_node_t *parse_node(parse_ctx_t *ctx, json_t *j,
                                    const char *ns, int depth);

/**
 * Full name of a named type from its "name" and "namespace" and the
 * enclosing namespace @p ns; the node is registered before its children
 * are parsed so they can refer to it.
 */
static floq_avro_node_t *parse_named(parse_ctx_t *ctx, json_t *j,
                                     floq_avro_kind_t kind, const char *ns) {
        const char *name = json_string_value(json_object_get(j, "name"));
        json_t *jns = json_object_get(j, "namespace");
        floq_avro_node_t *n;
        char *full = NULL;
        int rc;

        if (!name) {
                perr(ctx, "%s without a \"name\"", floq_avro_kind_name(kind));
                return NULL;
        }
        if (jns && !json_is_string(jns) && !json_is_null(jns)) {
                perr(ctx, "'%s': \"namespace\" must be a string", name);
                return NULL;
        }
        if (strchr(name, '.'))
                rc = asprintf(&full, "%s", name);
        else if (json_is_string(jns))
                rc = *json_string_value(jns)
                             ? asprintf(&full, "%s.%s",
                                        json_string_value(jns), name)
                             : asprintf(&full, "%s", name);
        else if (ns && *ns)
                rc = asprintf(&full, "%s.%s", ns, name);
        else
                rc = asprintf(&full, "%s", name);
        if (rc < 0) {
                perr(ctx, "out of memory");
                return NULL;
        }
        if (!fullname_ok(full)) {
                perr(ctx, "invalid name '%s'", full);
                free(full);
                return NULL;
        }
        if (primitive_kind(strrchr(full, '.') ? strrchr(full, '.') + 1
                                              : full) >= 0) {
                perr(ctx, "'%s' redefines a primitive type", full);
                free(full);
                return NULL;
        }
        if (lookup_named(ctx, full)) {
                perr(ctx, "'%s' is defined twice", full);
                free(full);
                return NULL;
        }
        n = node_new(ctx, kind);
        if (!n) {
                free(full);
                return NULL;
        }
        n->fullname = full;
        n->name = strrchr(full, '.') ? strrchr(full, '.') + 1 : full;
        n->aliases = strings_dup(ctx, json_object_get(j, "aliases"),
                                 &n->alias_cnt, "\"aliases\"");
        return n;
}

/** Namespace of a named node, for its children: its full name's prefix. */
static char *namespace_of(const floq_avro_node_t *n) {
        const char *dot = strrchr(n->fullname, '.');
        return strndup(n->fullname, dot ? (size_t)(dot - n->fullname) : 0);
}

static int parse_record(parse_ctx_t *ctx, floq_avro_node_t *n, json_t *j,
                        int depth) {
        json_t *fields = json_object_get(j, "fields");
        char *ns = NULL;
        size_t i, k;
        int ret = -1;

        if (!json_is_array(fields)) {
                perr(ctx, "record '%s': \"fields\" must be an array",
                     n->fullname);
                goto out;
        }
        ns = namespace_of(n);
        n->fields = calloc(json_array_size(fields) + 1, sizeof(*n->fields));
        if (!ns || !n->fields) {
                perr(ctx, "out of memory");
                goto out;
        }
        for (i = 0; i < json_array_size(fields); i++) {
                json_t *jf = json_array_get(fields, i);
                floq_avro_field_t *f = &n->fields[i];
                const char *fname = json_string_value(
                        json_object_get(jf, "name"));

                if (!json_is_object(jf) || !fname ||
                    !name_ok(fname, strlen(fname))) {
                        perr(ctx, "record '%s': field %zu needs a valid "
                             "\"name\"", n->fullname, i);
                        goto out;
                }
                for (k = 0; k < i; k++)
                        if (!strcmp(n->fields[k].name, fname)) {
                                perr(ctx, "record '%s': field '%s' twice",
                                     n->fullname, fname);
                                goto out;
                        }
                f->name = strdup(fname);
                n->field_cnt = i + 1;
                if (!f->name) {
                        perr(ctx, "out of memory");
                        goto out;
                }
                f->aliases = strings_dup(ctx, json_object_get(jf, "aliases"),
                                         &f->alias_cnt, "field \"aliases\"");
                if (!json_object_get(jf, "type")) {
                        perr(ctx, "record '%s': field '%s' has no \"type\"",
                             n->fullname, fname);
                        goto out;
                }
                f->type = parse_node(ctx, json_object_get(jf, "type"), ns,
                                     depth + 1);
                if (!f->type) {
                        perr(ctx, "record '%s': field '%s': bad type",
                             n->fullname, fname);
                        goto out;
                }
                f->rawdef = json_object_get(jf, "default");
        }
        ret = ctx->failed ? -1 : 0;
out:
        free(ns);
        return ret;
}

static int parse_enum(parse_ctx_t *ctx, floq_avro_node_t *n, json_t *j) {
        json_t *syms = json_object_get(j, "symbols");
        json_t *def = json_object_get(j, "default");
        size_t i, k;

        if (!json_is_array(syms)) {
                perr(ctx, "enum '%s': \"symbols\" must be an array",
                     n->fullname);
                return -1;
        }
        n->symbols = calloc(json_array_size(syms) + 1, sizeof(char *));
        if (!n->symbols) {
                perr(ctx, "out of memory");
                return -1;
        }
        for (i = 0; i < json_array_size(syms); i++) {
                const char *s = json_string_value(json_array_get(syms, i));
                if (!s || !name_ok(s, strlen(s))) {
                        perr(ctx, "enum '%s': symbol %zu is not a valid name",
                             n->fullname, i);
                        return -1;
                }
                for (k = 0; k < i; k++)
                        if (!strcmp(n->symbols[k], s)) {
                                perr(ctx, "enum '%s': symbol '%s' twice",
                                     n->fullname, s);
                                return -1;
                        }
                n->symbols[i] = strdup(s);
                if (!n->symbols[i]) {
                        perr(ctx, "out of memory");
                        return -1;
                }
                n->symbol_cnt = i + 1;
        }
        if (def) {
                for (i = 0; i < n->symbol_cnt; i++)
                        if (json_is_string(def) &&
                            !strcmp(json_string_value(def), n->symbols[i]))
                                n->enum_default = (int)i;
                if (n->enum_default < 0) {
                        perr(ctx, "enum '%s': \"default\" is not a symbol",
                             n->fullname);
                        return -1;
                }
        }
        return 0;
}

static floq_avro_node_t *parse_union(parse_ctx_t *ctx, json_t *j,
                                     const char *ns, int depth) {
        floq_avro_node_t *n = node_new(ctx, FLOQ_AVRO_UNION);
        size_t i, k;

        if (!n)
                return NULL;
        n->branches = calloc(json_array_size(j) + 1, sizeof(*n->branches));
        if (!n->branches) {
                perr(ctx, "out of memory");
                return NULL;
        }
        for (i = 0; i < json_array_size(j); i++) {
                floq_avro_node_t *b =
                        parse_node(ctx, json_array_get(j, i), ns, depth + 1);
                if (!b)
                        return NULL;
                if (b->kind == FLOQ_AVRO_UNION) {
                        perr(ctx, "a union cannot hold a union");
                        return NULL;
                }
                for (k = 0; k < i; k++) {
                        const floq_avro_node_t *o = n->branches[k];
                        if (o->kind == b->kind &&
                            (!b->fullname || !strcmp(o->fullname,
                                                     b->fullname))) {
                                perr(ctx, "union holds '%s' twice",
                                     b->fullname ? b->fullname
                                                 : floq_avro_kind_name(b->kind));
                                return NULL;
                        }
                }
                n->branches[i] = b;
                n->branch_cnt = i + 1;
        }
        if (n->branch_cnt == 2 && n->branches[0]->kind == FLOQ_AVRO_NULL)
                n->nullable = 1;
        else if (n->branch_cnt == 2 && n->branches[1]->kind == FLOQ_AVRO_NULL)
                n->nullable = 0;
        return n;
}

static floq_avro_node_t *parse_node(parse_ctx_t *ctx, json_t *j,
                                    const char *ns, int depth) {
        floq_avro_node_t *n = NULL;
        const char *type;
        int k;

        if (depth > FLOQ_AVRO_MAX_DEPTH) {
                perr(ctx, "schema nested deeper than %d", FLOQ_AVRO_MAX_DEPTH);
                return NULL;
        }
        if (json_is_string(j)) {
                k = primitive_kind(json_string_value(j));
                if (k >= 0)
                        return node_new(ctx, (floq_avro_kind_t)k);
                return resolve_ref(ctx, json_string_value(j), ns);
        }
        if (json_is_array(j))
                return parse_union(ctx, j, ns, depth);
        if (!json_is_object(j)) {
                perr(ctx, "a schema must be a string, an array or an object");
                return NULL;
        }
        if (json_is_object(json_object_get(j, "type")) ||
            json_is_array(json_object_get(j, "type")))
                return parse_node(ctx, json_object_get(j, "type"), ns,
                                  depth + 1);
        type = json_string_value(json_object_get(j, "type"));
        if (!type) {
                perr(ctx, "schema object without a \"type\"");
                return NULL;
        }
        /* Logical types and other attributes of primitives do not change
         * the encoding and are dropped, as the canonical form drops them. */
        k = primitive_kind(type);
        if (k >= 0)
                return node_new(ctx, (floq_avro_kind_t)k);
        if (!strcmp(type, "record") || !strcmp(type, "error")) {
                n = parse_named(ctx, j, FLOQ_AVRO_RECORD, ns);
                if (!n)
                        return NULL;
                n->is_error = !strcmp(type, "error");
                return parse_record(ctx, n, j, depth) ? NULL : n;
        }
        if (!strcmp(type, "enum")) {
                n = parse_named(ctx, j, FLOQ_AVRO_ENUM, ns);
                return !n || parse_enum(ctx, n, j) ? NULL : n;
        }
        if (!strcmp(type, "fixed")) {
                json_t *size = json_object_get(j, "size");
                n = parse_named(ctx, j, FLOQ_AVRO_FIXED, ns);
                if (!n)
                        return NULL;
                if (!json_is_integer(size) || json_integer_value(size) < 0 ||
                    json_integer_value(size) > INT32_MAX) {
                        perr(ctx, "fixed '%s': \"size\" must be a "
                             "non-negative integer", n->fullname);
                        return NULL;
                }
                n->size = json_integer_value(size);
                return n;
        }
        if (!strcmp(type, "array") || !strcmp(type, "map")) {
                const char *attr = type[0] == 'a' ? "items" : "values";
                json_t *sub = json_object_get(j, attr);
                n = node_new(ctx, type[0] == 'a' ? FLOQ_AVRO_ARRAY
                                                 : FLOQ_AVRO_MAP);
                if (!n)
                        return NULL;
                if (!sub) {
                        perr(ctx, "%s without \"%s\"", type, attr);
                        return NULL;
                }
                n->items = parse_node(ctx, sub, ns, depth + 1);
                return n->items ? n : NULL;
        }
        /* {"type": "Name"} refers to a named type, as Java allows */
        return resolve_ref(ctx, type, ns);
}

/* -------------------------------------------------------------- defaults */

static json_t *default_json(const floq_avro_node_t *n, json_t *raw,
                            floq_avro_path_t *path, int depth, char *errstr,
                            size_t errstr_size);

/** Bytes and fixed defaults: a string of code points 0-255, one per byte. */
static json_t *default_bytes(const floq_avro_node_t *n, json_t *raw,
                             floq_avro_path_t *path, char *errstr,
                             size_t errstr_size) {
        const unsigned char *s;
        unsigned char *buf = NULL;
        size_t len, i, o = 0;
        json_t *j = NULL;

        if (!json_is_string(raw))
                goto bad;
        s = (const unsigned char *)json_string_value(raw);
        len = json_string_length(raw);
        buf = malloc(len + 1);
        if (!buf)
                goto bad;
        for (i = 0; i < len; o++) {
                if (s[i] < 0x80) {
                        buf[o] = s[i++];
                } else if ((s[i] & 0xe0) == 0xc0 && s[i] <= 0xc3 &&
                           i + 1 < len) {
                        buf[o] = (unsigned char)((s[i] & 0x1f) << 6 |
                                                 (s[i + 1] & 0x3f));
                        i += 2;
                } else {
                        goto bad;
                }
        }
        if (n->kind == FLOQ_AVRO_FIXED && (int64_t)o != n->size)
                goto bad;
        j = floq_avro_hex_json(buf, o);
        free(buf);
        return j;
bad:
        free(buf);
        floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                    "%s: default is not a %s value", path->buf,
                    floq_avro_kind_name(n->kind));
        return NULL;
}

static json_t *default_json(const floq_avro_node_t *n, json_t *raw,
                            floq_avro_path_t *path, int depth, char *errstr,
                            size_t errstr_size) {
        json_t *out = NULL, *v;
        size_t i, mark;
        const char *key;

        if (depth > FLOQ_AVRO_MAX_DEPTH) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "%s: default nested too deep", path->buf);
                return NULL;
        }
        switch (n->kind) {
        case FLOQ_AVRO_NULL:
                if (json_is_null(raw))
                        return json_null();
                break;
        case FLOQ_AVRO_BOOLEAN:
                if (json_is_boolean(raw))
                        return json_boolean(json_is_true(raw));
                break;
        case FLOQ_AVRO_INT:
                if (json_is_integer(raw) &&
                    json_integer_value(raw) >= INT32_MIN &&
                    json_integer_value(raw) <= INT32_MAX)
                        return json_integer(json_integer_value(raw));
                break;
        case FLOQ_AVRO_LONG:
                if (json_is_integer(raw))
                        return json_integer(json_integer_value(raw));
                break;
        case FLOQ_AVRO_FLOAT:
        case FLOQ_AVRO_DOUBLE:
                if (json_is_number(raw))
                        return json_real(json_number_value(raw));
                break;
        case FLOQ_AVRO_STRING:
                if (json_is_string(raw) &&
                    floq_avro_utf8_ok(json_string_value(raw),
                                      json_string_length(raw)))
                        return json_stringn(json_string_value(raw),
                                            json_string_length(raw));
                break;
        case FLOQ_AVRO_BYTES:
        case FLOQ_AVRO_FIXED:
                return default_bytes(n, raw, path, errstr, errstr_size);
        case FLOQ_AVRO_ENUM:
                for (i = 0; json_is_string(raw) && i < n->symbol_cnt; i++)
                        if (!strcmp(n->symbols[i], json_string_value(raw)))
                                return json_string(n->symbols[i]);
                break;
        case FLOQ_AVRO_ARRAY:
                if (!json_is_array(raw))
                        break;
                out = json_array();
                for (i = 0; out && i < json_array_size(raw); i++) {
                        mark = floq_avro_path_push(path, "[%zu]", i);
                        v = default_json(n->items, json_array_get(raw, i),
                                         path, depth + 1, errstr,
                                         errstr_size);
                        floq_avro_path_pop(path, mark);
                        if (!v || json_array_append_new(out, v))
                                goto fail;
                }
                return out;
        case FLOQ_AVRO_MAP:
                if (!json_is_object(raw))
                        break;
                out = json_object();
                json_object_foreach(raw, key, v) {
                        json_t *c;
                        mark = floq_avro_path_push(path, "[\"%s\"]", key);
                        c = default_json(n->items, v, path, depth + 1, errstr,
                                         errstr_size);
                        floq_avro_path_pop(path, mark);
                        if (!out || !c || json_object_set_new(out, key, c))
                                goto fail;
                }
                return out;
        case FLOQ_AVRO_RECORD:
                if (!json_is_object(raw))
                        break;
                out = json_object();
                for (i = 0; out && i < n->field_cnt; i++) {
                        const floq_avro_field_t *f = &n->fields[i];
                        json_t *fv = json_object_get(raw, f->name);
                        mark = floq_avro_path_push(path, ".%s", f->name);
                        if (!fv)
                                fv = f->rawdef;
                        if (!fv) {
                                floq_seterr(errstr, errstr_size,
                                            FLOQ_ERR_INVALID_ARG,
                                            "%s: default lacks the field and "
                                            "the field has no default",
                                            path->buf);
                                goto fail;
                        }
                        v = default_json(f->type, fv, path, depth + 1, errstr,
                                         errstr_size);
                        floq_avro_path_pop(path, mark);
                        if (!v || json_object_set_new(out, f->name, v))
                                goto fail;
                }
                return out;
        case FLOQ_AVRO_UNION:
                /* Avro 1.11 wants the first branch; later branches are
                 * accepted too, as several implementations do. */
                for (i = 0; i < n->branch_cnt; i++) {
                        v = default_json(n->branches[i], raw, path, depth + 1,
                                         NULL, 0);
                        if (!v)
                                continue;
                        if (n->nullable >= 0)
                                return v;
                        out = json_object();
                        if (!out || json_object_set_new(
                                            out,
                                            floq_avro_branch_name(
                                                    n->branches[i]),
                                            v))
                                goto fail;
                        return out;
                }
                break;
        }
        floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                    "%s: default is not a %s value", path->buf,
                    floq_avro_kind_name(n->kind));
        return NULL;
fail:
        json_decref(out);
        return NULL;
}

json_t *floq_avro_default_json(const floq_avro_node_t *n, json_t *raw,
                               char *errstr, size_t errstr_size) {
        floq_avro_path_t path;

        floq_avro_path_init(&path, "default");
        return default_json(n, raw, &path, 0, errstr, errstr_size);
}

/* ------------------------------------------------------- schema lifecycle */

/** Fewest bytes a value of @p n encodes to; cycles count as 0 bytes. */
static size_t min_size(floq_avro_node_t *n) {
        size_t sum = 0, i;

        switch (n->kind) {
        case FLOQ_AVRO_NULL:
                return 0;
        case FLOQ_AVRO_FLOAT:
                return 4;
        case FLOQ_AVRO_DOUBLE:
                return 8;
        case FLOQ_AVRO_FIXED:
                return (size_t)n->size;
        case FLOQ_AVRO_RECORD:
                if (n->visiting)
                        return 0;
                n->visiting = 1;
                for (i = 0; i < n->field_cnt; i++)
                        sum += min_size(n->fields[i].type);
                n->visiting = 0;
                return sum;
        default:
                return 1; /* one byte at least: value, length or count */
        }
}

void floq_avro_schema_destroy(floq_avro_schema_t *sch) {
        size_t i, k;

        if (!sch)
                return;
        for (i = 0; i < sch->node_cnt; i++) {
                floq_avro_node_t *n = sch->nodes[i];
                for (k = 0; k < n->field_cnt; k++) {
                        floq_avro_field_t *f = &n->fields[k];
                        size_t a;
                        free(f->name);
                        for (a = 0; a < f->alias_cnt; a++)
                                free(f->aliases[a]);
                        free(f->aliases);
                        json_decref(f->defval);
                }
                free(n->fields);
                for (k = 0; k < n->symbol_cnt; k++)
                        free(n->symbols[k]);
                free(n->symbols);
                for (k = 0; k < n->alias_cnt; k++)
                        free(n->aliases[k]);
                free(n->aliases);
                free(n->branches);
                free(n->fullname);
                free(n);
        }
        free(sch->nodes);
        json_decref(sch->doc);
        free(sch);
}

floq_avro_schema_t *floq_avro_schema_parse(const char *text,
                                           int check_defaults, char *errstr,
                                           size_t errstr_size) {
        floq_avro_schema_t *sch;
        parse_ctx_t ctx = {.errstr = errstr, .errstr_size = errstr_size};
        json_error_t jerr;
        size_t i, k;

        sch = calloc(1, sizeof(*sch));
        if (!sch) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        ctx.sch = sch;
        if (!text) {
                perr(&ctx, "no schema text");
                goto fail;
        }
        sch->doc = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                              &jerr);
        if (!sch->doc) {
                perr(&ctx, "schema is not JSON: %s (line %d)", jerr.text,
                     jerr.line);
                goto fail;
        }
        sch->root = parse_node(&ctx, sch->doc, "", 0);
        if (!sch->root || ctx.failed)
                goto fail;

        for (i = 0; i < sch->node_cnt; i++) {
                floq_avro_node_t *n = sch->nodes[i];
                n->min_size = min_size(n);
                for (k = 0; k < n->field_cnt; k++) {
                        floq_avro_field_t *f = &n->fields[k];
                        char why[256];
                        if (!f->rawdef || !check_defaults)
                                continue;
                        f->defval = floq_avro_default_json(f->type, f->rawdef,
                                                           why, sizeof(why));
                        if (!f->defval) {
                                perr(&ctx, "record '%s': field '%s': %s",
                                     n->fullname, f->name, why);
                                goto fail;
                        }
                }
        }
        return sch;
fail:
        floq_avro_schema_destroy(sch);
        return NULL;
}
