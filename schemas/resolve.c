/*
 * resolve.c - Avro schema resolution on decoded values. When a message was
 * written with another version of a schema than the program reads with,
 * avro-c's resolved reader would do this, but it can touch freed memory
 * when resolution fails, so the codec decodes with the writer's schema and
 * then maps the writer's value (already in floq's JSON shape, see
 * floq_schemas.h) onto the reader's schema here, following the
 * specification's rules: records match by unqualified name (or a reader
 * alias) and their fields by name (or a reader field alias), reader fields
 * the writer lacks take the reader's default, writer fields the reader
 * lacks are dropped; int, long and float promote to the wider numbers,
 * string and bytes convert both ways; an enum symbol the reader does not
 * know becomes the reader's default symbol; a writer union is resolved by
 * its branch, a reader union by the first branch that matches the writer's
 * type (first exactly, then by promotion).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

typedef struct res_s {
        floq_avro_path_t *path;
        char *errstr;
        size_t errstr_size;
} res_t;

static floq_err_t rfail(res_t *rs, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static floq_err_t rfail(res_t *rs, const char *fmt, ...) {
        char why[200];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        return floq_seterr(rs->errstr, rs->errstr_size, FLOQ_ERR_DECODE,
                           "%s: %s", rs->path->buf, why);
}

static const char *unqualified(const char *name) {
        const char *dot = strrchr(name, '.');
        return dot ? dot + 1 : name;
}

int floq_avro_names_match(const floq_avro_node_t *w,
                          const floq_avro_node_t *r) {
        size_t i;

        if (!w->fullname || !r->fullname)
                return 0;
        if (!strcmp(w->name, r->name))
                return 1;
        for (i = 0; i < r->alias_cnt; i++)
                if (!strcmp(unqualified(r->aliases[i]), w->name))
                        return 1;
        return 0;
}

/** 1 if a value of kind @p w promotes to kind @p r. */
static int promotes(floq_avro_kind_t w, floq_avro_kind_t r) {
        switch (w) {
        case FLOQ_AVRO_INT:
                return r == FLOQ_AVRO_LONG || r == FLOQ_AVRO_FLOAT ||
                       r == FLOQ_AVRO_DOUBLE;
        case FLOQ_AVRO_LONG:
                return r == FLOQ_AVRO_FLOAT || r == FLOQ_AVRO_DOUBLE;
        case FLOQ_AVRO_FLOAT:
                return r == FLOQ_AVRO_DOUBLE;
        case FLOQ_AVRO_STRING:
                return r == FLOQ_AVRO_BYTES;
        case FLOQ_AVRO_BYTES:
                return r == FLOQ_AVRO_STRING;
        default:
                return 0;
        }
}

/** 1 if writer type @p w may be read as @p r without a promotion. */
static int same_type(const floq_avro_node_t *w, const floq_avro_node_t *r) {
        if (w->kind != r->kind)
                return 0;
        if (w->fullname)
                return floq_avro_names_match(w, r);
        return 1;
}

static floq_err_t resolve(res_t *rs, const floq_avro_node_t *w,
                          const floq_avro_node_t *r, json_t *val,
                          json_t **outp, int depth);

/** The writer field that feeds reader field @p rf, or -1. */
static int writer_field(const floq_avro_node_t *w,
                        const floq_avro_field_t *rf) {
        size_t i, a;

        for (i = 0; i < w->field_cnt; i++) {
                if (!strcmp(w->fields[i].name, rf->name))
                        return (int)i;
                for (a = 0; a < rf->alias_cnt; a++)
                        if (!strcmp(w->fields[i].name, rf->aliases[a]))
                                return (int)i;
        }
        return -1;
}

static floq_err_t resolve_record(res_t *rs, const floq_avro_node_t *w,
                                 const floq_avro_node_t *r, json_t *val,
                                 json_t **outp, int depth) {
        json_t *out = json_object();
        floq_err_t err = FLOQ_OK;
        size_t i, mark;

        if (!out)
                return floq_seterr(rs->errstr, rs->errstr_size,
                                   FLOQ_ERR_NOMEM, "out of memory");
        for (i = 0; i < r->field_cnt && !err; i++) {
                const floq_avro_field_t *rf = &r->fields[i];
                int wi = writer_field(w, rf);
                json_t *v = NULL;

                mark = floq_avro_path_push(rs->path, ".%s", rf->name);
                if (wi >= 0) {
                        err = resolve(rs, w->fields[wi].type, rf->type,
                                      json_object_get(val, w->fields[wi].name),
                                      &v, depth + 1);
                } else if (rf->defval) {
                        v = json_deep_copy(rf->defval);
                        if (!v)
                                err = floq_seterr(rs->errstr, rs->errstr_size,
                                                  FLOQ_ERR_NOMEM,
                                                  "out of memory");
                } else {
                        err = rfail(rs, "the writer has no such field and "
                                    "the reader no default");
                }
                if (!err && json_object_set_new(out, rf->name, v))
                        err = floq_seterr(rs->errstr, rs->errstr_size,
                                          FLOQ_ERR_NOMEM, "out of memory");
                if (!err)
                        floq_avro_path_pop(rs->path, mark);
        }
        if (err)
                json_decref(out);
        else
                *outp = out;
        return err;
}

/** Wrap @p v (stolen) as branch @p b of reader union @p r. */
static floq_err_t wrap_branch(res_t *rs, const floq_avro_node_t *r,
                              const floq_avro_node_t *b, json_t *v,
                              json_t **outp) {
        json_t *o;

        if (r->nullable >= 0) {
                *outp = v;
                return FLOQ_OK;
        }
        o = json_object();
        if (!o || json_object_set_new(o, floq_avro_branch_name(b), v)) {
                json_decref(o);
                return floq_seterr(rs->errstr, rs->errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        }
        *outp = o;
        return FLOQ_OK;
}

/** Which branch of writer union @p w does @p val hold? */
static const floq_avro_node_t *writer_branch(const floq_avro_node_t *w,
                                             json_t *val, json_t **innerp) {
        const char *key;
        json_t *v;
        size_t i;

        if (w->nullable >= 0) {
                *innerp = val;
                return w->branches[json_is_null(val) ? 1 - w->nullable
                                                     : w->nullable];
        }
        if (!json_is_object(val) || json_object_size(val) != 1)
                return NULL;
        json_object_foreach(val, key, v) {
                for (i = 0; i < w->branch_cnt; i++)
                        if (!strcmp(floq_avro_branch_name(w->branches[i]),
                                    key)) {
                                *innerp = v;
                                return w->branches[i];
                        }
        }
        return NULL;
}

static floq_err_t resolve_bytes_string(res_t *rs, const floq_avro_node_t *w,
                                       json_t *val, json_t **outp) {
        unsigned char *buf;
        size_t len;

        if (w->kind == FLOQ_AVRO_STRING) {
                *outp = floq_avro_hex_json(json_string_value(val),
                                           json_string_length(val));
                return *outp ? FLOQ_OK
                             : floq_seterr(rs->errstr, rs->errstr_size,
                                           FLOQ_ERR_NOMEM, "out of memory");
        }
        if (floq_avro_hex_decode(json_string_value(val),
                                 json_string_length(val), &buf, &len))
                return rfail(rs, "bytes value is not hex");
        *outp = floq_avro_utf8_ok((const char *)buf, len)
                        ? json_stringn((const char *)buf, len)
                        : NULL;
        free(buf);
        return *outp ? FLOQ_OK
                     : rfail(rs, "bytes are not UTF-8 text for a string");
}

static floq_err_t resolve(res_t *rs, const floq_avro_node_t *w,
                          const floq_avro_node_t *r, json_t *val,
                          json_t **outp, int depth) {
        const floq_avro_node_t *b;
        json_t *inner = NULL, *v = NULL, *out;
        floq_err_t err;
        size_t i, mark;
        const char *key;
        int pass;

        *outp = NULL;
        if (depth > FLOQ_AVRO_MAX_DEPTH)
                return rfail(rs, "nested deeper than %d",
                             FLOQ_AVRO_MAX_DEPTH);
        if (!val)
                return rfail(rs, "value missing");

        if (w->kind == FLOQ_AVRO_UNION) {
                b = writer_branch(w, val, &inner);
                if (!b)
                        return rfail(rs, "value is no branch of the union");
                mark = w->nullable >= 0
                               ? rs->path->len
                               : floq_avro_path_push(rs->path, ".%s",
                                                     floq_avro_branch_name(b));
                err = resolve(rs, b, r, inner, outp, depth + 1);
                if (!err)
                        floq_avro_path_pop(rs->path, mark);
                return err;
        }

        if (r->kind == FLOQ_AVRO_UNION) {
                for (pass = 0; pass < 2; pass++)
                        for (i = 0; i < r->branch_cnt; i++) {
                                b = r->branches[i];
                                if (pass == 0 ? !same_type(w, b)
                                              : !promotes(w->kind, b->kind))
                                        continue;
                                err = resolve(rs, w, b, val, &v, depth + 1);
                                if (err)
                                        return err;
                                return wrap_branch(rs, r, b, v, outp);
                        }
                return rfail(rs, "the reader's union has no branch for "
                             "the writer's %s", floq_avro_branch_name(w));
        }

        if (w->kind != r->kind) {
                if (!promotes(w->kind, r->kind))
                        return rfail(rs, "writer's %s cannot be read as %s",
                                     floq_avro_branch_name(w),
                                     floq_avro_branch_name(r));
                if (r->kind == FLOQ_AVRO_BYTES || r->kind == FLOQ_AVRO_STRING)
                        return resolve_bytes_string(rs, w, val, outp);
                if (r->kind == FLOQ_AVRO_LONG) {
                        *outp = json_integer(json_integer_value(val));
                } else {
                        *outp = json_real(json_number_value(val));
                }
                return *outp ? FLOQ_OK
                             : floq_seterr(rs->errstr, rs->errstr_size,
                                           FLOQ_ERR_NOMEM, "out of memory");
        }

        if (w->fullname && !floq_avro_names_match(w, r))
                return rfail(rs, "writer's '%s' does not match reader's '%s'",
                             w->fullname, r->fullname);

        switch (r->kind) {
        case FLOQ_AVRO_RECORD:
                return resolve_record(rs, w, r, val, outp, depth);
        case FLOQ_AVRO_ENUM:
                key = json_string_value(val);
                for (i = 0; key && i < r->symbol_cnt; i++)
                        if (!strcmp(r->symbols[i], key))
                                break;
                if (!key || i == r->symbol_cnt) {
                        if (r->enum_default < 0)
                                return rfail(rs, "symbol '%s' unknown to the "
                                             "reader, which has no default",
                                             key ? key : "?");
                        i = (size_t)r->enum_default;
                }
                *outp = json_string(r->symbols[i]);
                break;
        case FLOQ_AVRO_FIXED:
                if (w->size != r->size)
                        return rfail(rs, "fixed size %lld is not %lld",
                                     (long long)w->size, (long long)r->size);
                *outp = json_copy(val);
                break;
        case FLOQ_AVRO_ARRAY:
                out = json_array();
                if (!out)
                        break;
                for (i = 0; i < json_array_size(val); i++) {
                        mark = floq_avro_path_push(rs->path, "[%zu]", i);
                        err = resolve(rs, w->items, r->items,
                                      json_array_get(val, i), &v, depth + 1);
                        if (!err && json_array_append_new(out, v))
                                err = floq_seterr(rs->errstr, rs->errstr_size,
                                                  FLOQ_ERR_NOMEM,
                                                  "out of memory");
                        if (err) {
                                json_decref(out);
                                return err;
                        }
                        floq_avro_path_pop(rs->path, mark);
                }
                *outp = out;
                break;
        case FLOQ_AVRO_MAP:
                out = json_object();
                if (!out)
                        break;
                json_object_foreach(val, key, inner) {
                        mark = floq_avro_path_push(rs->path, "[\"%s\"]", key);
                        err = resolve(rs, w->items, r->items, inner, &v,
                                      depth + 1);
                        if (!err && json_object_set_new(out, key, v))
                                err = floq_seterr(rs->errstr, rs->errstr_size,
                                                  FLOQ_ERR_NOMEM,
                                                  "out of memory");
                        if (err) {
                                json_decref(out);
                                return err;
                        }
                        floq_avro_path_pop(rs->path, mark);
                }
                *outp = out;
                break;
        default:
                /* same primitive: the value is already in reader shape */
                *outp = json_incref(val);
                break;
        }
        return *outp ? FLOQ_OK
                     : floq_seterr(rs->errstr, rs->errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
}

floq_err_t floq_avro_resolve(const floq_avro_node_t *w,
                             const floq_avro_node_t *r, json_t *val,
                             json_t **outp, floq_avro_path_t *path,
                             char *errstr, size_t errstr_size) {
        res_t rs = {.path = path, .errstr = errstr,
                    .errstr_size = errstr_size};

        return resolve(&rs, w, r, val, outp, 0);
}
