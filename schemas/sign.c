/*
 * sign.c - command signatures (G4): HMAC-SHA256 under a named key, keys
 * read from the operator's keys file, several at once so they can be
 * rotated. The signed bytes M0 are the exact message value (framing
 * included) of the command with key_id set and signature null; the
 * signature is the bytes value of the `signature` field. A verifier never
 * re-encodes: it walks the received bytes with their writer schema
 * (walk.c), finds the signature field's span and splices the union's null
 * branch in its place, so a command written with any schema version the
 * codec knows verifies. Secrets stay in this file: never in errors or
 * logs, wiped on destroy. The rule is documented, with Python, in
 * docs/producing.md ("Signing commands").
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "codec_int.h"

#define SIG_LEN 32            /* HMAC-SHA256 */
#define SECRET_MIN 16         /* bytes */
#define SECRET_MAX 1024       /* bytes */
#define KEYS_LINE_MAX 4096
#define KEYS_MAX 256

/* Command kinds a key may be scoped to (bit i = kinds[i]). */
static const char *const kind_names[] = { "deploy",     "run",
                                          "stop",       "schedule",
                                          "unschedule", "status",
                                          "validate" };
#define KIND_CNT (sizeof(kind_names) / sizeof(kind_names[0]))
#define KINDS_ANY ((1u << KIND_CNT) - 1)

typedef struct sig_key_s {
        char id[FLOQ_KEY_ID_MAX + 1];
        unsigned char *secret;
        size_t len;
        char *deployments; /* comma-separated globs; NULL: any */
        unsigned kinds;    /* bit set of kind_names; KINDS_ANY: any */
} sig_key_t;

struct floq_keyring_s {
        sig_key_t keys[KEYS_MAX];
        size_t cnt;
        char signer[FLOQ_KEY_ID_MAX + 1]; /* "" : the first key */
};

/* ------------------------------------------------------------- keyring */

floq_keyring_t *floq_keyring_new(void) {
        return calloc(1, sizeof(floq_keyring_t));
}

void floq_keyring_destroy(floq_keyring_t *keys) {
        size_t i;

        if (!keys)
                return;
        for (i = 0; i < keys->cnt; i++) {
                OPENSSL_cleanse(keys->keys[i].secret, keys->keys[i].len);
                free(keys->keys[i].secret);
                free(keys->keys[i].deployments);
        }
        OPENSSL_cleanse(keys, sizeof(*keys));
        free(keys);
}

int floq_key_id_ok(const char *id) {
        size_t i;

        if (!id || !*id || strlen(id) > FLOQ_KEY_ID_MAX)
                return 0;
        for (i = 0; id[i]; i++)
                if (!((id[i] >= 'a' && id[i] <= 'z') ||
                      (id[i] >= 'A' && id[i] <= 'Z') ||
                      (id[i] >= '0' && id[i] <= '9') || id[i] == '.' ||
                      id[i] == '_' || id[i] == '-' || id[i] == ':'))
                        return 0;
        return 1;
}

static const sig_key_t *key_find(const floq_keyring_t *keys, const char *id) {
        size_t i;

        for (i = 0; keys && id && i < keys->cnt; i++)
                if (!strcmp(keys->keys[i].id, id))
                        return &keys->keys[i];
        return NULL;
}

floq_err_t floq_keyring_add(floq_keyring_t *keys, const char *key_id,
                            const void *secret, size_t len, char *errstr,
                            size_t errstr_size) {
        sig_key_t *k;

        if (!keys || !secret)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "bad argument");
        if (!floq_key_id_ok(key_id))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "bad key id: 1 to %d of A-Z a-z 0-9 . _ "
                                   "- :", FLOQ_KEY_ID_MAX);
        if (len < SECRET_MIN || len > SECRET_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "key '%s': secret of %zu bytes, must be "
                                   "%d to %d bytes", key_id, len, SECRET_MIN,
                                   SECRET_MAX);
        if (key_find(keys, key_id))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_EXISTS,
                                   "key '%s' given twice", key_id);
        if (keys->cnt == KEYS_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_TOO_LARGE,
                                   "more than %d keys", KEYS_MAX);
        k = &keys->keys[keys->cnt];
        if (!(k->secret = malloc(len)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        memcpy(k->secret, secret, len);
        k->len = len;
        k->deployments = NULL;
        k->kinds = KINDS_ANY;
        snprintf(k->id, sizeof(k->id), "%s", key_id);
        keys->cnt++;
        return FLOQ_OK;
}

/* Bit of kind @p name (@p n bytes), 0 when unknown. */
static unsigned kind_bit(const char *name, size_t n) {
        size_t i;

        for (i = 0; i < KIND_CNT; i++)
                if (strlen(kind_names[i]) == n &&
                    !strncmp(kind_names[i], name, n))
                        return 1u << i;
        return 0;
}

/* Next non-empty entry of comma list *@p pp: its start, length in *np. */
static const char *list_next(const char **pp, size_t *np) {
        const char *p = *pp, *e;

        while (*p == ',')
                p++;
        if (!*p)
                return NULL;
        e = p + strcspn(p, ",");
        *np = (size_t)(e - p);
        *pp = e;
        return p;
}

floq_err_t floq_keyring_set_scope(floq_keyring_t *keys, const char *key_id,
                                  const char *deployments, const char *kinds,
                                  char *errstr, size_t errstr_size) {
        sig_key_t *k = (sig_key_t *)key_find(keys, key_id);
        unsigned bits = KINDS_ANY, b;
        const char *p, *e;
        char *dup = NULL;
        size_t n;

        if (!k)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOT_FOUND,
                                   "no key '%s'", key_id ? key_id : "");
        if (kinds) {
                bits = 0;
                p = kinds;
                while ((e = list_next(&p, &n))) {
                        if (!(b = kind_bit(e, n)))
                                return floq_seterr(
                                        errstr, errstr_size,
                                        FLOQ_ERR_INVALID_ARG,
                                        "key '%s': unknown command kind "
                                        "'%.*s' (deploy, run, stop, "
                                        "schedule, unschedule, status, "
                                        "validate)",
                                        k->id, (int)(n > 40 ? 40 : n), e);
                        bits |= b;
                }
                if (!bits)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "key '%s': empty kinds=", k->id);
        }
        if (deployments) {
                p = deployments;
                if (strlen(deployments) > KEYS_LINE_MAX)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_TOO_LARGE,
                                           "key '%s': deployments= longer "
                                           "than %d bytes",
                                           k->id, KEYS_LINE_MAX);
                if (!list_next(&p, &n))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "key '%s': empty deployments=",
                                           k->id);
                if (!(dup = strdup(deployments)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_NOMEM, "out of memory");
        }
        free(k->deployments);
        k->deployments = dup;
        k->kinds = bits;
        return FLOQ_OK;
}

/* The kinds of @p bits as "run,status" into buf. */
static const char *kinds_text(unsigned bits, char *buf, size_t size) {
        size_t i, len = 0;

        buf[0] = '\0';
        for (i = 0; i < KIND_CNT; i++)
                if (bits & (1u << i))
                        len += (size_t)snprintf(buf + len,
                                                len < size ? size - len : 0,
                                                "%s%s", len ? "," : "",
                                                kind_names[i]);
        return buf;
}

floq_err_t floq_keyring_authorize(const floq_keyring_t *keys,
                                  const char *key_id, const char *deployment,
                                  const char *kind, char *errstr,
                                  size_t errstr_size) {
        const sig_key_t *k = key_find(keys, key_id);
        char pat[KEYS_LINE_MAX + 1], text[128];
        const char *p, *e;
        unsigned b;
        size_t n;

        if (!k)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOT_FOUND,
                                   "no key '%s'", key_id ? key_id : "");
        b = kind ? kind_bit(kind, strlen(kind)) : 0;
        if (k->kinds != KINDS_ANY && !(k->kinds & b))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNAUTHORIZED,
                                   "key '%s' may not send %s commands "
                                   "(its rule: kinds=%s)",
                                   k->id, kind ? kind : "unknown",
                                   kinds_text(k->kinds, text, sizeof(text)));
        if (!k->deployments)
                return FLOQ_OK;
        p = k->deployments;
        while (deployment && (e = list_next(&p, &n))) {
                memcpy(pat, e, n);
                pat[n] = '\0';
                if (!fnmatch(pat, deployment, 0))
                        return FLOQ_OK;
        }
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNAUTHORIZED,
                           "key '%s' may not act on deployment '%s' (its "
                           "rule: deployments=%.200s)",
                           k->id, deployment ? deployment : "",
                           k->deployments);
}

size_t floq_keyring_cnt(const floq_keyring_t *keys) {
        return keys ? keys->cnt : 0;
}

int floq_keyring_has(const floq_keyring_t *keys, const char *key_id) {
        return key_find(keys, key_id) != NULL;
}

floq_err_t floq_keyring_set_signer(floq_keyring_t *keys, const char *key_id,
                                   char *errstr, size_t errstr_size) {
        if (!keys)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "bad argument");
        if (!key_id || !*key_id) {
                keys->signer[0] = '\0';
                return FLOQ_OK;
        }
        if (!key_find(keys, key_id))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOT_FOUND,
                                   "signing key '%s' is not in the keys file",
                                   key_id);
        snprintf(keys->signer, sizeof(keys->signer), "%s", key_id);
        return FLOQ_OK;
}

const char *floq_keyring_signer(const floq_keyring_t *keys) {
        if (!keys || !keys->cnt)
                return NULL;
        return keys->signer[0] ? keys->signer : keys->keys[0].id;
}

static char *trim(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
                         e[-1] == '\n'))
                *--e = '\0';
        return s;
}

/* The scope attributes after a key's secret: blank-separated
 * `deployments=...` and `kinds=...`, each at most once. */
static floq_err_t parse_scope(floq_keyring_t *keys, const char *id,
                              char *attrs, const char *name, int lineno,
                              char *errstr, size_t errstr_size) {
        char *deployments = NULL, *kinds = NULL, *tok, *save = NULL, *v;
        char why[300];

        for (tok = strtok_r(attrs, " \t", &save); tok;
             tok = strtok_r(NULL, " \t", &save)) {
                char **slot = NULL;

                if ((v = strchr(tok, '=')))
                        *v++ = '\0';
                if (v && !strcmp(tok, "deployments"))
                        slot = &deployments;
                else if (v && !strcmp(tok, "kinds"))
                        slot = &kinds;
                if (!slot)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "%s:%d: key '%s': unknown "
                                           "attribute '%.40s' (expected "
                                           "deployments=GLOBS or "
                                           "kinds=KINDS)",
                                           name, lineno, id, tok);
                if (*slot)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "%s:%d: key '%s': %s given twice",
                                           name, lineno, id, tok);
                *slot = v;
        }
        if ((deployments || kinds) &&
            floq_keyring_set_scope(keys, id, deployments, kinds, why,
                                   sizeof(why)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s:%d: %s", name, lineno, why);
        return FLOQ_OK;
}

/* One `key-id=hex-secret [scope...]` line (already trimmed, not blank).
 * The secret never reaches errstr. */
static floq_err_t parse_line(floq_keyring_t *keys, char *line,
                             const char *name, int lineno, char *errstr,
                             size_t errstr_size) {
        unsigned char secret[SECRET_MAX];
        char why[200], *eq, *id, *hex, *attrs;
        size_t n;
        floq_err_t err;

        if (!(eq = strchr(line, '=')))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s:%d: expected key-id=hex-secret",
                                   name, lineno);
        *eq = '\0';
        id = trim(line);
        hex = trim(eq + 1);
        attrs = hex + strcspn(hex, " \t");
        if (*attrs)
                *attrs++ = '\0';
        if (!floq_key_id_ok(id))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s:%d: bad key id: 1 to %d of A-Z a-z "
                                   "0-9 . _ - :", name, lineno,
                                   FLOQ_KEY_ID_MAX);
        n = strlen(hex);
        if (n % 2 || n / 2 > SECRET_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s:%d: key '%s': secret is not an even "
                                   "number of hex digits (at most %d bytes)",
                                   name, lineno, id, SECRET_MAX);
        if (floq_avro_hex_decode_into(hex, n / 2, secret)) {
                OPENSSL_cleanse(secret, sizeof(secret));
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s:%d: key '%s': secret is not hex",
                                   name, lineno, id);
        }
        err = floq_keyring_add(keys, id, secret, n / 2, why, sizeof(why));
        OPENSSL_cleanse(secret, sizeof(secret));
        OPENSSL_cleanse(hex, n);
        if (err)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s:%d: %s", name, lineno, why);
        return parse_scope(keys, id, attrs, name, lineno, errstr,
                           errstr_size);
}

floq_err_t floq_keyring_parse(floq_keyring_t *keys, const char *text,
                              const char *name, char *errstr,
                              size_t errstr_size) {
        char line[KEYS_LINE_MAX + 2];
        const char *p = text, *nl;
        floq_err_t err = FLOQ_OK;
        int lineno = 0;
        size_t n;

        if (!keys || !text)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "bad argument");
        if (!name)
                name = "(keys)";
        while (*p) {
                char *s;

                lineno++;
                nl = strchr(p, '\n');
                n = nl ? (size_t)(nl - p) : strlen(p);
                if (n > KEYS_LINE_MAX) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_CONFIG,
                                          "%s:%d: line longer than %d bytes",
                                          name, lineno, KEYS_LINE_MAX);
                        break;
                }
                memcpy(line, p, n);
                line[n] = '\0';
                p += n + (nl ? 1 : 0);
                s = trim(line);
                if (*s && *s != '#')
                        err = parse_line(keys, s, name, lineno, errstr,
                                         errstr_size);
                if (err)
                        break;
        }
        OPENSSL_cleanse(line, sizeof(line));
        if (!err && !keys->cnt)
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "%s: no keys", name);
        return err;
}

floq_err_t floq_keyring_load(floq_keyring_t *keys, const char *path,
                             char *errstr, size_t errstr_size) {
        struct stat st;
        char *text = NULL;
        size_t len = 0;
        floq_err_t err;
        FILE *f;

        if (!keys || !path)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "bad argument");
        if (!(f = fopen(path, "r")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "cannot open keys file '%s': %s", path,
                                   strerror(errno));
        if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "keys file '%s' is not a regular file",
                                  path);
                goto out;
        }
        /* Refused rather than warned about: a library does not log, and a
         * readable secret is a misconfiguration to fix before start-up. */
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "keys file '%s' is accessible by group or "
                                  "others (mode %03o): chmod 600 it",
                                  path, (unsigned)(st.st_mode & 0777));
                goto out;
        }
        if (st.st_size > (off_t)KEYS_MAX * (KEYS_LINE_MAX + 1)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "keys file '%s' is too large", path);
                goto out;
        }
        if (!(text = calloc(1, (size_t)st.st_size + 1))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        len = fread(text, 1, (size_t)st.st_size, f);
        if (ferror(f)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                  "cannot read keys file '%s'", path);
                goto out;
        }
        text[len] = '\0';
        if (memchr(text, '\0', len)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "keys file '%s' holds a NUL byte", path);
                goto out;
        }
        err = floq_keyring_parse(keys, text, path, errstr, errstr_size);
out:
        if (text) {
                OPENSSL_cleanse(text, len);
                free(text);
        }
        fclose(f);
        return err;
}

floq_err_t floq_keyring_from_conf(const floq_conf_t *conf,
                                  floq_keyring_t **keysp, char *errstr,
                                  size_t errstr_size) {
        const char *path = floq_conf_get(conf, "security.hmac.keys.file");
        const char *signer = floq_conf_get(conf, "security.hmac.key.id");
        floq_keyring_t *keys = NULL;
        floq_err_t err = FLOQ_OK;

        *keysp = NULL;
        if (!path || !*path) {
                if (floq_conf_bool(conf, "security.require.signature"))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "security.require.signature=true "
                                           "needs security.hmac.keys.file");
                if (signer && *signer)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "security.hmac.key.id needs "
                                           "security.hmac.keys.file");
                return FLOQ_OK;
        }
        if (!(keys = floq_keyring_new()))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if ((err = floq_keyring_load(keys, path, errstr, errstr_size)))
                goto out;
        if (signer && *signer &&
            (err = floq_keyring_set_signer(keys, signer, errstr,
                                           errstr_size))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "security.hmac.key.id '%s' is not in "
                                  "keys file '%s'", signer, path);
                goto out;
        }
        *keysp = keys;
        keys = NULL;
out:
        floq_keyring_destroy(keys);
        return err;
}

/* ------------------------------------------------------ sign and verify */

static floq_err_t mac(const sig_key_t *k, const void *buf, size_t len,
                      unsigned char out[SIG_LEN], char *errstr,
                      size_t errstr_size) {
        unsigned int n = SIG_LEN;

        if (!HMAC(EVP_sha256(), k->secret, (int)k->len, buf, len, out, &n) ||
            n != SIG_LEN)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "HMAC-SHA256 failed");
        return FLOQ_OK;
}

floq_err_t floq_command_encode_signed(floq_codec_t *codec,
                                      const floq_keyring_t *keys,
                                      const char *key_id, json_t *cmd,
                                      void **bufp, size_t *lenp,
                                      char *errstr, size_t errstr_size) {
        unsigned char sig[SIG_LEN];
        const sig_key_t *k;
        json_t *copy = NULL;
        void *m0 = NULL;
        size_t m0_len = 0;
        floq_err_t err;

        *bufp = NULL;
        *lenp = 0;
        if (!key_id)
                key_id = floq_keyring_signer(keys);
        if (!(k = key_find(keys, key_id)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOT_FOUND,
                                   "no signing key '%s'",
                                   key_id ? key_id : "(none)");
        if (!json_is_object(cmd) || !(copy = json_copy(cmd)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "command is not a JSON object");
        if (json_object_set_new(copy, "key_id", json_string(k->id)) ||
            json_object_set_new(copy, "signature", json_null())) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        err = floq_codec_encode(codec, FLOQ_MSG_COMMAND, copy, &m0, &m0_len,
                                errstr, errstr_size);
        if (err)
                goto out;
        if ((err = mac(k, m0, m0_len, sig, errstr, errstr_size)))
                goto out;
        if (json_object_set_new(copy, "signature",
                                floq_avro_hex_json(sig, sizeof(sig)))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        err = floq_codec_encode(codec, FLOQ_MSG_COMMAND, copy, bufp, lenp,
                                errstr, errstr_size);
out:
        free(m0);
        json_decref(copy);
        return err;
}

/* The branch index of a [null, X] union value at @p p, @p n bytes; its
 * encoded length in *hdrp. -1 when malformed (the walk makes that rare). */
static int64_t union_index(const unsigned char *p, size_t n, size_t *hdrp) {
        uint64_t u = 0;
        size_t i;

        for (i = 0; i < n && i < 10; i++) {
                u |= (uint64_t)(p[i] & 0x7f) << (7 * i);
                if (!(p[i] & 0x80)) {
                        *hdrp = i + 1;
                        return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
                }
        }
        return -1;
}

/* The value of a string or bytes field in a [null, X] union span: NULL
 * for the null branch, else a pointer into @p buf with its length. */
static floq_err_t union_value(const unsigned char *buf,
                              const floq_avro_span_t *sp,
                              floq_avro_kind_t want, const char *field,
                              const unsigned char **valp, size_t *lenp,
                              char *errstr, size_t errstr_size) {
        const floq_avro_node_t *t = sp->type;
        const unsigned char *p = buf + sp->off;
        size_t hdr = 0, hdr2 = 0;
        int64_t idx, len;

        *valp = NULL;
        *lenp = 0;
        if (!sp->found)
                return FLOQ_OK; /* a writer schema without the field */
        if (t->kind != FLOQ_AVRO_UNION || t->nullable < 0 ||
            t->branches[t->nullable]->kind != want)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                                   "writer schema's %s is not a union of "
                                   "null and %s", field,
                                   floq_avro_kind_name(want));
        idx = union_index(p, sp->len, &hdr);
        if (idx < 0 || idx >= (int64_t)t->branch_cnt)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                                   "bad union index in %s", field);
        if (idx != t->nullable)
                return FLOQ_OK;
        len = union_index(p + hdr, sp->len - hdr, &hdr2);
        if (len < 0 || (uint64_t)len != sp->len - hdr - hdr2)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_DECODE,
                                   "bad length in %s", field);
        *valp = p + hdr + hdr2;
        *lenp = (size_t)len;
        return FLOQ_OK;
}

floq_err_t floq_command_verify(floq_codec_t *codec,
                               const floq_keyring_t *keys, const void *buf,
                               size_t len, int required,
                               floq_sig_status_t *statusp, char *errstr,
                               size_t errstr_size) {
        static const char *const fields[] = {"key_id", "signature"};
        const unsigned char *b = buf, *kid, *sig;
        floq_avro_span_t spans[2];
        unsigned char want[SIG_LEN], *m0 = NULL, null_idx[10];
        char id[FLOQ_KEY_ID_MAX + 1];
        size_t kid_len, sig_len, m0_len, nlen = 0;
        const sig_key_t *k;
        const floq_avro_node_t *st;
        uint64_t u;
        floq_err_t err;

        *statusp = FLOQ_SIG_BAD;
        err = floq_codec_field_spans(codec, FLOQ_MSG_COMMAND, buf, len, fields,
                                     spans, 2, errstr, errstr_size);
        if (err)
                return err;
        if ((err = union_value(b, &spans[0], FLOQ_AVRO_STRING, "key_id", &kid,
                               &kid_len, errstr, errstr_size)) ||
            (err = union_value(b, &spans[1], FLOQ_AVRO_BYTES, "signature",
                               &sig, &sig_len, errstr, errstr_size)))
                return err;

        if (!sig) {
                *statusp = FLOQ_SIG_UNSIGNED;
                if (required)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_UNAUTHORIZED,
                                           "command is not signed and "
                                           "security.require.signature is "
                                           "true");
                return FLOQ_OK;
        }
        if (!kid)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNAUTHORIZED,
                                   "command has a signature but no key_id");
        if (kid_len > FLOQ_KEY_ID_MAX) {
                kid_len = 0;
                k = NULL;
        } else {
                memcpy(id, kid, kid_len);
                id[kid_len] = '\0';
                k = key_find(keys, id);
        }
        if (!k) {
                *statusp = FLOQ_SIG_UNKNOWN_KEY;
                if (!required)
                        return FLOQ_OK;
                if (kid_len && floq_key_id_ok(id))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_UNAUTHORIZED,
                                           "command signed with unknown key "
                                           "id '%s'", id);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNAUTHORIZED,
                                   "command signed with an unknown, "
                                   "malformed key id");
        }
        if (sig_len != SIG_LEN)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNAUTHORIZED,
                                   "signature of %zu bytes, HMAC-SHA256 has "
                                   "%d (key id '%s')", sig_len, SIG_LEN, id);

        /* M0: the bytes with the signature union replaced by its null
         * branch index. */
        st = spans[1].type;
        u = (uint64_t)(st->nullable == 0 ? 1 : 0) << 1; /* zigzag */
        do {
                null_idx[nlen++] = (unsigned char)((u & 0x7f) |
                                                   (u > 0x7f ? 0x80 : 0));
                u >>= 7;
        } while (u);
        m0_len = len - spans[1].len + nlen;
        if (!(m0 = malloc(m0_len)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        memcpy(m0, b, spans[1].off);
        memcpy(m0 + spans[1].off, null_idx, nlen);
        memcpy(m0 + spans[1].off + nlen, b + spans[1].off + spans[1].len,
               len - spans[1].off - spans[1].len);
        err = mac(k, m0, m0_len, want, errstr, errstr_size);
        free(m0);
        if (err)
                return err;
        if (CRYPTO_memcmp(want, sig, SIG_LEN))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNAUTHORIZED,
                                   "signature does not match (key id '%s')",
                                   id);
        *statusp = FLOQ_SIG_VALID;
        return FLOQ_OK;
}
