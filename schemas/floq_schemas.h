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
        FLOQ_MSG_DEPLOYMENT_OUTCOME,
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

/** A top-level field of a message read without decoding the message
 *  (floq_codec_read_fields()). */
typedef struct floq_codec_field_s {
        int found;           /**< the writer's record has the field */
        int is_null;         /**< null, or a union's null branch */
        const char *str;     /**< a string or bytes value (in the buffer,
                              *   not NUL-terminated) or an enum symbol */
        size_t str_len;
        int64_t num;         /**< an int, long or boolean value */
        size_t off, len;     /**< the field's encoded value in the buffer */
} floq_codec_field_t;

/**
 * Check @p len bytes at @p buf as floq_codec_decode() does (framing, every
 * byte walked), without building the message, and read its top-level
 * fields @p names[0..cnt-1] into @p fields: values of type string, bytes,
 * enum, int, long or boolean, or a union of null and one of them; a field
 * of another type is only located (off, len). *@p currentp is 1 when the
 * bytes were written with the codec's current schema of @p type (their
 * field values are then what a decode gives), 0 for an older or newer
 * writer's. Errors as floq_codec_decode()'s.
 */
floq_err_t floq_codec_read_fields(floq_codec_t *codec, floq_msg_type_t type,
                                  const void *buf, size_t len,
                                  const char *const *names,
                                  floq_codec_field_t *fields, size_t cnt,
                                  int *currentp, char *errstr,
                                  size_t errstr_size);

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

/* ---- command signatures (sign.c; G4, docs/producing.md) ---- */

/** Longest key id; ids are 1.. of A-Z a-z 0-9 . _ - : */
#define FLOQ_KEY_ID_MAX 64

/** HMAC keys by id: what a signer signs with and a verifier accepts. */
typedef struct floq_keyring_s floq_keyring_t;

/** An empty keyring (NULL on ENOMEM); destroy wipes the secrets. */
floq_keyring_t *floq_keyring_new(void);
void floq_keyring_destroy(floq_keyring_t *keys);

/** 1 when @p id is a valid key id. */
int floq_key_id_ok(const char *id);

/** Add a key (the secret, 16..1024 bytes, is copied). FLOQ_ERR_EXISTS for
 *  an id already there. */
floq_err_t floq_keyring_add(floq_keyring_t *keys, const char *key_id,
                            const void *secret, size_t len, char *errstr,
                            size_t errstr_size);

/**
 * Add the keys of a keys-file text: `key-id=hex-secret` lines, '#'
 * comments and blank lines. After the secret a line may scope its key
 * (docs/producing.md, "Signing commands"), blank-separated:
 * `deployments=GLOB[,GLOB...]` (fnmatch(3) patterns of deployment names)
 * and `kinds=KIND[,KIND...]` (deploy, run, stop, schedule, unschedule,
 * status, validate); a key without them may do anything. Errors name
 * @p name and the line, never the secret; a text without keys is an error
 * (FLOQ_ERR_CONFIG).
 */
floq_err_t floq_keyring_parse(floq_keyring_t *keys, const char *text,
                              const char *name, char *errstr,
                              size_t errstr_size);

/** floq_keyring_parse() of file @p path, which must be a regular file not
 *  accessible by group or others. */
floq_err_t floq_keyring_load(floq_keyring_t *keys, const char *path,
                             char *errstr, size_t errstr_size);

size_t floq_keyring_cnt(const floq_keyring_t *keys);
int floq_keyring_has(const floq_keyring_t *keys, const char *key_id);

/**
 * Set the scope of key @p key_id: @p deployments, comma-separated
 * fnmatch(3) patterns (NULL: any deployment), and @p kinds,
 * comma-separated command kinds (NULL: any). FLOQ_ERR_NOT_FOUND for an
 * unknown key, FLOQ_ERR_INVALID_ARG for an unknown kind or an empty list.
 */
floq_err_t floq_keyring_set_scope(floq_keyring_t *keys, const char *key_id,
                                  const char *deployments, const char *kinds,
                                  char *errstr, size_t errstr_size);

/**
 * May a command of kind @p kind ("run", "deploy", ...; the body branch
 * without "Body", lower case) about deployment @p deployment, signed with
 * key @p key_id, execute? FLOQ_OK when the key's scope allows it;
 * FLOQ_ERR_UNAUTHORIZED with the key id and the rule that refused it
 * (never key material); FLOQ_ERR_NOT_FOUND for a key not in the ring.
 */
floq_err_t floq_keyring_authorize(const floq_keyring_t *keys,
                                  const char *key_id, const char *deployment,
                                  const char *kind, char *errstr,
                                  size_t errstr_size);

/** The key signers use: @p key_id (which must be in the ring), or with
 *  NULL/"" the first key. */
floq_err_t floq_keyring_set_signer(floq_keyring_t *keys, const char *key_id,
                                   char *errstr, size_t errstr_size);
/** Id of the signing key; NULL for an empty ring. */
const char *floq_keyring_signer(const floq_keyring_t *keys);

/**
 * The keyring a program configured: security.hmac.keys.file, signer
 * security.hmac.key.id. *keysp is NULL (and FLOQ_OK returned) when no keys
 * file is set, unless security.require.signature is true (FLOQ_ERR_CONFIG).
 * The caller owns *keysp.
 */
floq_err_t floq_keyring_from_conf(const floq_conf_t *conf,
                                  floq_keyring_t **keysp, char *errstr,
                                  size_t errstr_size);

/**
 * Encode @p cmd (not modified) as a signed Command: key_id set to
 * @p key_id (NULL: the ring's signer), signature = HMAC-SHA256(secret,
 * M0), M0 being the encoding with signature null.
 * @param bufp  receives a malloc()ed buffer the caller frees
 */
floq_err_t floq_command_encode_signed(floq_codec_t *codec,
                                      const floq_keyring_t *keys,
                                      const char *key_id, json_t *cmd,
                                      void **bufp, size_t *lenp,
                                      char *errstr, size_t errstr_size);

typedef enum floq_sig_status_e {
        FLOQ_SIG_VALID,       /**< signed with a known key, MAC matches */
        FLOQ_SIG_UNSIGNED,    /**< no signature */
        FLOQ_SIG_UNKNOWN_KEY, /**< signed with a key id not in the ring */
        FLOQ_SIG_BAD,         /**< forged, malformed or wrong length */
} floq_sig_status_t;

/**
 * Check the signature of the Command message @p buf, @p len bytes (any
 * framing and writer schema the codec reads), without re-encoding.
 * A signature under a known key must match, always; with @p required an
 * unsigned command or an unknown key id is refused too, without it they
 * pass (*statusp says which).
 * @param keys  may be NULL (no key known)
 * @return FLOQ_OK; FLOQ_ERR_UNAUTHORIZED with the reason; or the codec's
 *         errors for bytes it cannot read.
 */
floq_err_t floq_command_verify(floq_codec_t *codec,
                               const floq_keyring_t *keys, const void *buf,
                               size_t len, int required,
                               floq_sig_status_t *statusp, char *errstr,
                               size_t errstr_size);

#endif /* FLOQ_SCHEMAS_H */
