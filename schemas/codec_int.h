/*
 * codec_int.h - private parts of the schemas component. The codec never
 * trusts avro-c with anything it cannot do safely, so it keeps its own
 * model of an Avro schema (a tree of floq_avro_node_t parsed from the
 * .avsc text by schema.c) and uses it for four jobs: the Parsing Canonical
 * Form and fingerprint (canonical.c), the bounded validation of message
 * bodies before avro-c reads them (walk.c), writer-to-reader resolution of
 * decoded values (resolve.c), and the defaults and field paths of the
 * JSON <-> avro_value conversion (codec.c, the only file that calls
 * avro-c). Nothing here is exported from libfloq's public header.
 */
#ifndef FLOQ_CODEC_INT_H
#define FLOQ_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "floq_schemas.h"

/** Deepest nesting of schema or value the codec follows (stack bound). */
#define FLOQ_AVRO_MAX_DEPTH 64

typedef enum floq_avro_kind_e {
        FLOQ_AVRO_NULL,
        FLOQ_AVRO_BOOLEAN,
        FLOQ_AVRO_INT,
        FLOQ_AVRO_LONG,
        FLOQ_AVRO_FLOAT,
        FLOQ_AVRO_DOUBLE,
        FLOQ_AVRO_BYTES,
        FLOQ_AVRO_STRING,
        FLOQ_AVRO_RECORD,
        FLOQ_AVRO_ENUM,
        FLOQ_AVRO_ARRAY,
        FLOQ_AVRO_MAP,
        FLOQ_AVRO_UNION,
        FLOQ_AVRO_FIXED,
} floq_avro_kind_t;

typedef struct floq_avro_node_s floq_avro_node_t;

/** One field of a record. */
typedef struct floq_avro_field_s {
        char *name;
        char **aliases;         /**< as written in the schema */
        size_t alias_cnt;
        floq_avro_node_t *type; /**< not owned (the schema owns all nodes) */
        json_t *rawdef;         /**< "default" as written, borrowed from doc */
        json_t *defval;         /**< default in floq JSON shape, owned; NULL:
                                     the field has no default */
} floq_avro_field_t;

/**
 * One schema node. Named types appear once and every reference points at
 * that node, so recursive schemas are cyclic graphs.
 */
struct floq_avro_node_s {
        floq_avro_kind_t kind;
        int is_error;          /**< record declared as "error" */
        char *fullname;        /**< named types: "io.floq.v1.RunBody" */
        const char *name;      /**< short name, points into fullname */
        char **aliases;        /**< named types, as written */
        size_t alias_cnt;
        floq_avro_field_t *fields; /**< record */
        size_t field_cnt;
        char **symbols;        /**< enum */
        size_t symbol_cnt;
        int enum_default;      /**< enum "default" symbol index, -1: none */
        floq_avro_node_t *items; /**< array items, map values */
        floq_avro_node_t **branches; /**< union */
        size_t branch_cnt;
        int nullable;          /**< union of null and one other type: index
                                    of the other branch, else -1 */
        int64_t size;          /**< fixed */
        size_t min_size;       /**< fewest bytes a value can encode to */
        int visiting;          /**< scratch mark for graph walks */
};

/** A parsed schema: owns its nodes and the JSON document. */
typedef struct floq_avro_schema_s {
        floq_avro_node_t *root;
        floq_avro_node_t **nodes;
        size_t node_cnt;
        size_t node_size;
        json_t *doc;
} floq_avro_schema_t;

/**
 * Parse and check @p text (an .avsc). With @p check_defaults, defaults are
 * validated against their field types and converted to floq's JSON shape
 * (the codec needs them); without, they are ignored (the canonical form
 * does not depend on them, and Avro's own test vectors hold bad ones).
 * @return a new schema the caller destroys, NULL with errstr on error.
 */
floq_avro_schema_t *floq_avro_schema_parse(const char *text,
                                           int check_defaults, char *errstr,
                                           size_t errstr_size);
void floq_avro_schema_destroy(floq_avro_schema_t *sch);

/** Name of @p n as a union branch: short name or primitive type name. */
const char *floq_avro_branch_name(const floq_avro_node_t *n);

/** Name of a kind as written in a schema ("int", "record"). */
const char *floq_avro_kind_name(floq_avro_kind_t kind);

/**
 * Convert a schema default value @p raw (Avro's JSON encoding of values)
 * to floq's JSON shape for type @p n.
 * @return new reference, NULL with errstr when @p raw does not fit.
 */
json_t *floq_avro_default_json(const floq_avro_node_t *n, json_t *raw,
                               char *errstr, size_t errstr_size);

/** Canonical form of a parsed schema. @return malloc()ed text or NULL. */
char *floq_avro_schema_canonical(const floq_avro_schema_t *sch);

/* ---- field paths in error messages ---- */

/** A field path being built while a value is walked: "Command.body". */
typedef struct floq_avro_path_s {
        char buf[256];
        size_t len;
} floq_avro_path_t;

void floq_avro_path_init(floq_avro_path_t *path, const char *root);
/** Append printf text; returns the previous length for _pop(). Text that
 *  does not fit is cut, the path stays NUL-terminated. */
size_t floq_avro_path_push(floq_avro_path_t *path, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void floq_avro_path_pop(floq_avro_path_t *path, size_t len);

/* ---- bounded validation (walk.c) ---- */

/**
 * Check that @p len bytes at @p buf are exactly one value of @p root:
 * every varint at most 10 bytes, every length and block count within the
 * bytes left, union and enum indexes in range, strings valid UTF-8 without
 * NUL, nesting at most FLOQ_AVRO_MAX_DEPTH, at most @p max_items array and
 * map items in all, no trailing bytes. Only after this passes may avro-c
 * read the bytes.
 * @param root_name  first element of the paths in error messages
 * @return FLOQ_OK, or FLOQ_ERR_DECODE / _TRUNCATED / _TOO_LARGE with the
 *         field path in errstr.
 */
floq_err_t floq_avro_walk(const floq_avro_node_t *root, const char *root_name,
                          const void *buf, size_t len, size_t max_items,
                          char *errstr, size_t errstr_size);

/** Where one top-level field's value lies in a walked body. */
typedef struct floq_avro_span_s {
        int found;                    /**< the writer record has the field */
        size_t off, len;              /**< bytes, from the walk's buffer */
        const floq_avro_node_t *type; /**< the field's writer type */
} floq_avro_span_t;

/**
 * floq_avro_walk() that also locates the values of the top-level record
 * fields named @p fields[0..cnt-1]: spans[k] gets the offset (from @p buf)
 * and length of field k's encoded value, found = 0 when the record has no
 * such field. The spans are only meaningful when FLOQ_OK is returned.
 */
floq_err_t floq_avro_walk_spans(const floq_avro_node_t *root,
                                const char *root_name, const void *buf,
                                size_t len, size_t max_items,
                                const char *const *fields,
                                floq_avro_span_t *spans, size_t cnt,
                                char *errstr, size_t errstr_size);

/**
 * Read the framing of @p len bytes at @p buf as @p type, walk the body with
 * its writer schema and locate top-level fields as floq_avro_walk_spans()
 * does; offsets in @p spans are from @p buf (framing included).
 * Errors as floq_codec_decode()'s.
 */
floq_err_t floq_codec_field_spans(floq_codec_t *codec, floq_msg_type_t type,
                                  const void *buf, size_t len,
                                  const char *const *fields,
                                  floq_avro_span_t *spans, size_t cnt,
                                  char *errstr, size_t errstr_size);

/** 1 if @p len bytes at @p s are UTF-8 without NUL and overlong forms. */
int floq_avro_utf8_ok(const char *s, size_t len);

/* ---- resolution (resolve.c) ---- */

/**
 * Resolve @p val, a value of writer type @p w in floq's JSON shape, to
 * reader type @p r by Avro's rules: record fields matched by name or
 * reader alias, missing ones given the reader's default, extra ones
 * dropped; int -> long -> float -> double and string <-> bytes promotion;
 * enum symbols unknown to the reader become its default symbol; unions
 * matched by branch name and type.
 * @return FLOQ_OK with a new reference in *outp, or FLOQ_ERR_DECODE with
 *         the path in errstr.
 */
floq_err_t floq_avro_resolve(const floq_avro_node_t *w,
                             const floq_avro_node_t *r, json_t *val,
                             json_t **outp, floq_avro_path_t *path,
                             char *errstr, size_t errstr_size);

/** 1 if @p w and @p r are named types with the same unqualified name, or
 *  one of @p r's aliases names @p w. */
int floq_avro_names_match(const floq_avro_node_t *w,
                          const floq_avro_node_t *r);

/* ---- hex, the JSON form of bytes and fixed ---- */

/** Lower-case hex of @p len bytes. @return new JSON string or NULL. */
json_t *floq_avro_hex_json(const void *buf, size_t len);
/** Decode the 2 * @p n hex digits (either case) at @p s into @p out
 *  (@p n bytes). @return 0, or -1 on a non-hex digit (out then partly
 *  written). */
int floq_avro_hex_decode_into(const char *s, size_t n, unsigned char *out);
/** Decode hex text @p s (either case) into a malloc()ed buffer.
 *  @return 0 on success, -1 on odd length or a non-hex digit. */
int floq_avro_hex_decode(const char *s, size_t slen, unsigned char **bufp,
                         size_t *lenp);

#endif /* FLOQ_CODEC_INT_H */
