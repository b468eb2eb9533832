/*
 * floq_schemas.h - the Avro contract on the wire. The .avsc files beside
 * this header are the public schemas (namespace io.floq.v1); they are
 * compiled into the library and this codec turns messages into bytes and
 * back. Encoding is Avro single-object encoding (C3 01, CRC-64-AVRO
 * fingerprint of the schema's Parsing Canonical Form, little-endian, body);
 * decoding also reads the Confluent wire format (0, 4-byte big-endian
 * schema id, body) when the id was registered with the codec.
 *
 * In memory a message is a jansson object shaped by the schema:
 *  - record: JSON object, one key per field (missing fields take the
 *    schema default on encode; unknown keys are an error)
 *  - union [null, X]: JSON null or the plain X value
 *  - any other union: {"<branch name>": value}, the branch name being the
 *    named type's short name ("RunBody") or the primitive type name
 *  - enum: its symbol as a string; map: object; array: array
 *  - int/long: integer; float/double: real (integers accepted);
 *    boolean: true/false; string: UTF-8 string
 *  - bytes/fixed: lower-case hex string
 *
 * Decoding is bounded: every length prefix is checked against the bytes
 * left and against the codec's maximum message size before avro-c sees the
 * input, and a message written with another (older or newer) version of a
 * schema is resolved to the reader's schema by Avro's rules, defaults
 * filled in. avro-c's resolved reader is not used (it is unsafe on bad
 * input).
 */
#ifndef FLOQ_SCHEMAS_H
#define FLOQ_SCHEMAS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "floq_common.h"

typedef enum floq_msg_type_e {
        FLOQ_MSG_COMMAND,
        FLOQ_MSG_REPLY,
        FLOQ_MSG_DEPLOYMENT,
        FLOQ_MSG_SCHEDULE_SET,
        FLOQ_MSG_RUN_STATE,
        FLOQ_MSG__CNT
} floq_msg_type_t;

/** Record name of @p type ("Command"), NULL when out of range. */
const char *floq_msg_type_name(floq_msg_type_t type);

/** The built-in schema text (.avsc) of @p type. */
const char *floq_schema_json(floq_msg_type_t type);

/**
 * The @p i-th (from 0, oldest first) older version of @p type's built-in
 * schema: the files schemas/history/TYPE.vN.avsc, compiled in like the
 * current ones. Every codec reads messages written with them.
 * @param versionp  when not NULL, receives the version's name ("Command.v1")
 * @return the schema text (static), NULL past the last version.
 */
const char *floq_schema_history_json(floq_msg_type_t type, size_t i,
                                     const char **versionp);

typedef struct floq_codec_s floq_codec_t;

/**
 * A codec reading and writing the built-in schemas; it also reads messages
 * written with any older built-in version (floq_schema_history_json()),
 * resolved to the current schema with the new fields' defaults.
 * @param max_message_size  bound on input and output sizes, bytes (> 0)
 * @return NULL on error with the reason in errstr.
 * Thread-safety: a codec may be used by one thread at a time; make one per
 * thread (they are cheap) for concurrent use.
 */
floq_codec_t *floq_codec_new(size_t max_message_size, char *errstr,
                             size_t errstr_size);
void floq_codec_destroy(floq_codec_t *codec);

/**
 * Teach the codec another writer schema for @p type (an older or newer
 * version): messages carrying its fingerprint (or, when @p registry_id >= 0,
 * that Confluent schema id) are decoded with it and resolved to the reader
 * schema. The codec copies @p schema_json.
 */
floq_err_t floq_codec_add_writer_schema(floq_codec_t *codec,
                                        floq_msg_type_t type,
                                        const char *schema_json,
                                        int32_t registry_id, char *errstr,
                                        size_t errstr_size);

/**
 * Replace the reader (and encoder) schema of @p type; used by tests to act
 * as an older or newer program. The codec copies @p schema_json. Writer
 * versions already known (the built-in history included) stay known.
 */
floq_err_t floq_codec_set_schema(floq_codec_t *codec, floq_msg_type_t type,
                                 const char *schema_json, char *errstr,
                                 size_t errstr_size);

/**
 * Register the Confluent schema id under which @p type's current schema is
 * known, for decoding the Confluent wire format; with @p use_for_encode set
 * floq_codec_encode() writes that format instead of single-object encoding.
 */
floq_err_t floq_codec_set_registry_id(floq_codec_t *codec,
                                      floq_msg_type_t type, int32_t id,
                                      int use_for_encode);

/**
 * Encode @p msg (not modified, not stolen) as @p type.
 * @param bufp  receives a malloc()ed buffer the caller frees
 */
floq_err_t floq_codec_encode(floq_codec_t *codec, floq_msg_type_t type,
                             json_t *msg, void **bufp, size_t *lenp,
                             char *errstr, size_t errstr_size);

/**
 * Decode @p len bytes at @p buf as @p type (single-object or Confluent
 * framing). On success *msgp is a new reference the caller json_decref()s.
 * Errors: FLOQ_ERR_DECODE, _TRUNCATED, _TOO_LARGE, _UNKNOWN_SCHEMA, each with
 * a message naming the field path where it failed.
 */
floq_err_t floq_codec_decode(floq_codec_t *codec, floq_msg_type_t type,
                             const void *buf, size_t len, json_t **msgp,
                             char *errstr, size_t errstr_size);

/** Type whose (known) fingerprint heads @p buf, or -1. */
int floq_codec_peek_type(floq_codec_t *codec, const void *buf, size_t len);

/* ---- Avro schema utilities (avro-c has neither) ---- */

/**
 * Parsing Canonical Form of @p schema_json (Avro spec, "Parsing Canonical
 * Form for Schemas"). @return malloc()ed text, NULL with errstr on error.
 */
char *floq_avro_canonical_form(const char *schema_json, char *errstr,
                               size_t errstr_size);

/** CRC-64-AVRO (Rabin) fingerprint of @p len bytes. */
uint64_t floq_avro_fingerprint64(const void *buf, size_t len);

#endif /* FLOQ_SCHEMAS_H */
