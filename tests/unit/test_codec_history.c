/*
 * test_codec_history.c - older schema versions stay readable. Every version
 * of every schema is listed in schemas/history/MANIFEST (type, version,
 * fingerprint, file); the older ones live in schemas/history/TYPE.vN.avsc,
 * are compiled in (floq_schema_history_json()) and registered as writer
 * schemas by every codec. The cases check:
 *  - the manifest is well formed: versions v1..vN per type in order, one
 *    current line (TYPE.avsc, the last) per message type;
 *  - the guard: each current schema's fingerprint (file and compiled-in
 *    text) is the one the manifest lists, so changing a schema's canonical
 *    form without keeping the previous version in history fails here, with
 *    the steps to follow (docs/codec.md, "Changing a schema");
 *  - each history file parses (with floq's parser and as a codec schema),
 *    has the manifest's fingerprint, is compiled in byte for byte and in
 *    order, and no stray file sits in schemas/history/;
 *  - all fingerprints differ (between versions and between types);
 *  - for each older version, the datums in
 *    tests/unit/data/codec/history/TYPE.vN.json, encoded by a codec using
 *    that version, carry its fingerprint, are recognised by a fresh codec
 *    and decode to the current schema: the file's expected values hold, every
 *    reader field the old version lacks (at any depth) has the current
 *    schema's default, and the result re-encodes and decodes unchanged.
 * tests/unit/test_codec_history.sh checks the same datums encoded by
 * another Avro implementation (python3-avro). FLOQ_SRCDIR points at the
 * source tree when not run from it.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"
#include "floq_schemas.h"
#include "test_util.h"

#define MAX_MSG (1024 * 1024)
#define MAX_ENTRIES 256

static char errstr[512];

/** One line of schemas/history/MANIFEST. */
typedef struct entry_s {
        char type[64];
        int msg_type;      /* floq_msg_type_t, -1: unknown name */
        unsigned version;  /* N of vN */
        uint64_t fp;
        char file[256];    /* relative to schemas/ */
        int current;       /* file is TYPE.avsc */
        int line;
} entry_t;

static entry_t entries[MAX_ENTRIES];
static size_t entry_cnt;

/* ---------------------------------------------------------------- helpers */

static const char *srcdir(void) {
        const char *dir = getenv("FLOQ_SRCDIR");

        return dir && *dir ? dir : ".";
}

/** Contents of @p rel (relative to the source tree), NULL if unreadable. */
static char *read_src(const char *rel) {
        char path[1024];
        char *text;
        long len;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
        if (!(fp = fopen(path, "rb")))
                return NULL;
        if (fseek(fp, 0, SEEK_END) || (len = ftell(fp)) < 0) {
                fclose(fp);
                return NULL;
        }
        rewind(fp);
        text = malloc((size_t)len + 1);
        if (text && fread(text, 1, (size_t)len, fp) != (size_t)len) {
                free(text);
                text = NULL;
        }
        if (text)
                text[len] = '\0';
        fclose(fp);
        return text;
}

static int msg_type_of(const char *name) {
        int t;

        for (t = 0; t < FLOQ_MSG__CNT; t++)
                if (!strcmp(floq_msg_type_name((floq_msg_type_t)t), name))
                        return t;
        return -1;
}

/** Fingerprint of @p text's canonical form; fails the test on error. */
static uint64_t fingerprint(const char *text, const char *what) {
        char *pcf = floq_avro_canonical_form(text, errstr, sizeof(errstr));
        uint64_t fp;

        ck_assert_msg(pcf != NULL, "%s: no canonical form: %s", what, errstr);
        fp = floq_avro_fingerprint64(pcf, strlen(pcf));
        free(pcf);
        return fp;
}

/** Parse the manifest into entries[] (format errors fail the test). */
static void load_manifest(void) {
        char *text = read_src("schemas/history/MANIFEST"), *line, *save = NULL;
        int lineno = 0;

        ck_assert_msg(text != NULL, "cannot read '%s/schemas/history/MANIFEST'",
                      srcdir());
        entry_cnt = 0;
        for (line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char ver[32], fp[32];
                entry_t *e;
                int n = 0;

                lineno++;
                while (*line == ' ' || *line == '\t')
                        line++;
                if (!*line || *line == '#')
                        continue;
                ck_assert_msg(entry_cnt < MAX_ENTRIES, "manifest too long");
                e = &entries[entry_cnt++];
                memset(e, 0, sizeof(*e));
                e->line = lineno;
                ck_assert_msg(sscanf(line, "%63s %31s %31s %255s%n", e->type,
                                     ver, fp, e->file, &n) == 4,
                              "MANIFEST line %d: want TYPE VERSION "
                              "FINGERPRINT FILE: '%s'", lineno, line);
                e->msg_type = msg_type_of(e->type);
                ck_assert_msg(e->msg_type >= 0,
                              "MANIFEST line %d: no message type '%s'",
                              lineno, e->type);
                ck_assert_msg(sscanf(ver, "v%u%n", &e->version, &n) == 1 &&
                                      ver[n] == '\0' && e->version > 0,
                              "MANIFEST line %d: version '%s' is not vN",
                              lineno, ver);
                ck_assert_msg(strlen(fp) == 16 &&
                                      strspn(fp, "0123456789abcdef") == 16,
                              "MANIFEST line %d: fingerprint '%s' is not 16 "
                              "lower-case hex digits", lineno, fp);
                e->fp = strtoull(fp, NULL, 16);
                e->current = !strncmp(e->file, e->type, strlen(e->type)) &&
                             !strcmp(e->file + strlen(e->type), ".avsc");
        }
        free(text);
}

/** The manifest's current entry of @p type. */
static const entry_t *current_entry(int type) {
        size_t i;

        for (i = 0; i < entry_cnt; i++)
                if (entries[i].msg_type == type && entries[i].current)
                        return &entries[i];
        return NULL;
}

static const floq_avro_field_t *writer_field(const floq_avro_node_t *w,
                                             const floq_avro_field_t *rf) {
        size_t i, a;

        for (i = 0; i < w->field_cnt; i++) {
                if (!strcmp(w->fields[i].name, rf->name))
                        return &w->fields[i];
                for (a = 0; a < rf->alias_cnt; a++)
                        if (!strcmp(w->fields[i].name, rf->aliases[a]))
                                return &w->fields[i];
        }
        return NULL;
}

static const floq_avro_node_t *branch_named(const floq_avro_node_t *u,
                                            const char *name) {
        size_t i;

        if (u->kind != FLOQ_AVRO_UNION)
                return u;
        for (i = 0; i < u->branch_cnt; i++)
                if (!strcmp(floq_avro_branch_name(u->branches[i]), name))
                        return u->branches[i];
        return NULL;
}

/**
 * @p got was decoded with reader type @p r from a value written with
 * writer type @p w: every reader record field the writer lacks must hold
 * the reader's default, at any depth (records, arrays, maps, unions).
 */
static void check_defaults(const floq_avro_node_t *w,
                           const floq_avro_node_t *r, json_t *got,
                           const char *path, int depth) {
        char sub[512];
        const char *key;
        json_t *v;
        size_t i;

        ck_assert_msg(depth < FLOQ_AVRO_MAX_DEPTH, "%s: too deep", path);
        if (!w || !r || !got)
                return;
        switch (r->kind) {
        case FLOQ_AVRO_RECORD:
                if (w->kind != FLOQ_AVRO_RECORD)
                        return;
                for (i = 0; i < r->field_cnt; i++) {
                        const floq_avro_field_t *rf = &r->fields[i];
                        const floq_avro_field_t *wf = writer_field(w, rf);
                        json_t *fv = json_object_get(got, rf->name);

                        snprintf(sub, sizeof(sub), "%s.%s", path, rf->name);
                        ck_assert_msg(fv != NULL, "%s: missing", sub);
                        if (wf) {
                                check_defaults(wf->type, rf->type, fv, sub,
                                               depth + 1);
                        } else {
                                char *g = json_dumps(fv, JSON_ENCODE_ANY);
                                char *d = json_dumps(rf->defval,
                                                     JSON_ENCODE_ANY);
                                int ok = rf->defval &&
                                         json_equal(fv, rf->defval);

                                ck_assert_msg(ok, "%s: not in the old "
                                              "version, so the default %s "
                                              "is due, got %s",
                                              sub, d ? d : "(none)", g);
                                free(g);
                                free(d);
                        }
                }
                return;
        case FLOQ_AVRO_ARRAY:
                if (w->kind != FLOQ_AVRO_ARRAY)
                        return;
                json_array_foreach(got, i, v) {
                        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                        check_defaults(w->items, r->items, v, sub, depth + 1);
                }
                return;
        case FLOQ_AVRO_MAP:
                if (w->kind != FLOQ_AVRO_MAP)
                        return;
                json_object_foreach(got, key, v) {
                        snprintf(sub, sizeof(sub), "%s[\"%s\"]", path, key);
                        check_defaults(w->items, r->items, v, sub, depth + 1);
                }
                return;
        case FLOQ_AVRO_UNION:
                if (json_is_null(got))
                        return;
                if (r->nullable >= 0) {
                        const floq_avro_node_t *rb = r->branches[r->nullable];

                        check_defaults(branch_named(
                                               w, floq_avro_branch_name(rb)),
                                       rb, got, path, depth + 1);
                        return;
                }
                if (json_is_object(got) && json_object_size(got) == 1) {
                        key = json_object_iter_key(json_object_iter(got));
                        v = json_object_iter_value(json_object_iter(got));
                        snprintf(sub, sizeof(sub), "%s.%s", path, key);
                        check_defaults(branch_named(w, key),
                                       branch_named(r, key), v, sub,
                                       depth + 1);
                }
                return;
        default:
                return;
        }
}

/* ------------------------------------------------------------------ cases */

START_TEST(manifest_well_formed) {
        unsigned last_version[FLOQ_MSG__CNT] = {0};
        int seen_current[FLOQ_MSG__CNT] = {0};
        char want[256];
        size_t i;
        int t;

        load_manifest();
        ck_assert_msg(entry_cnt >= FLOQ_MSG__CNT, "MANIFEST lists %zu "
                      "versions, fewer than the %d message types", entry_cnt,
                      FLOQ_MSG__CNT);
        for (i = 0; i < entry_cnt; i++) {
                const entry_t *e = &entries[i];

                t = e->msg_type;
                ck_assert_msg(!seen_current[t], "MANIFEST line %d: %s %s "
                              "after the current version: the current one "
                              "is the last line of its type", e->line,
                              e->type, e->file);
                ck_assert_msg(e->version == last_version[t] + 1,
                              "MANIFEST line %d: %s v%u, expected v%u "
                              "(versions count up from v1, oldest first)",
                              e->line, e->type, e->version,
                              last_version[t] + 1);
                last_version[t] = e->version;
                if (e->current) {
                        snprintf(want, sizeof(want), "%.63s.avsc", e->type);
                        ck_assert_str_eq(e->file, want);
                        seen_current[t] = 1;
                } else {
                        snprintf(want, sizeof(want), "history/%.63s.v%u.avsc",
                                 e->type, e->version);
                        ck_assert_msg(!strcmp(e->file, want),
                                      "MANIFEST line %d: file '%s', "
                                      "expected '%s'", e->line, e->file,
                                      want);
                }
        }
        for (t = 0; t < FLOQ_MSG__CNT; t++)
                ck_assert_msg(seen_current[t], "MANIFEST has no current "
                              "line (%s ... %s.avsc) for %s",
                              floq_msg_type_name((floq_msg_type_t)t),
                              floq_msg_type_name((floq_msg_type_t)t),
                              floq_msg_type_name((floq_msg_type_t)t));
}
END_TEST

/* The guard: a current schema whose canonical form changed must come with
 * its previous version in history and a new manifest line. */
START_TEST(current_schemas_are_listed) {
        char rel[256];
        int t;

        load_manifest();
        for (t = 0; t < FLOQ_MSG__CNT; t++) {
                const char *name = floq_msg_type_name((floq_msg_type_t)t);
                const entry_t *cur = current_entry(t);
                char *text;
                uint64_t fp_file, fp_built;

                ck_assert_ptr_nonnull(cur);
                snprintf(rel, sizeof(rel), "schemas/%s.avsc", name);
                text = read_src(rel);
                ck_assert_msg(text != NULL, "cannot read '%s'", rel);
                fp_file = fingerprint(text, rel);
                fp_built = fingerprint(floq_schema_json((floq_msg_type_t)t),
                                       "built-in schema");
                ck_assert_msg(!strcmp(text,
                                      floq_schema_json((floq_msg_type_t)t)),
                              "%s: the compiled-in schema is not the file "
                              "(rebuild)", rel);
                free(text);
                ck_assert_msg(
                        fp_file == cur->fp && fp_built == cur->fp,
                        "%s: fingerprint %016" PRIx64 ", but "
                        "schemas/history/MANIFEST line %d lists %016" PRIx64
                        " as current. Its canonical form changed, so "
                        "records already written with %s v%u could no "
                        "longer be read. Keep that version: "
                        "`git show HEAD:%s > schemas/history/%s.v%u.avsc`, "
                        "in MANIFEST change that line's file to "
                        "history/%s.v%u.avsc and add "
                        "'%s v%u %016" PRIx64 " %s.avsc', then add datums "
                        "in tests/unit/data/codec/history/%s.v%u.json "
                        "(docs/codec.md, \"Changing a schema\")",
                        rel, fp_file, cur->line, cur->fp, name, cur->version,
                        rel, name, cur->version, name, cur->version, name,
                        cur->version + 1, fp_file, name, name, cur->version);
        }
}
END_TEST

START_TEST(history_files_parse_and_are_built_in) {
        floq_codec_t *codec = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        size_t i, listed[FLOQ_MSG__CNT] = {0}, n;
        char rel[512];
        struct dirent *de;
        DIR *dir;
        int t;

        ck_assert_msg(codec != NULL, "%s", errstr);
        load_manifest();
        for (i = 0; i < entry_cnt; i++) {
                const entry_t *e = &entries[i];
                const char *built, *version = NULL;
                char *text;
                uint64_t fp;

                if (e->current)
                        continue;
                snprintf(rel, sizeof(rel), "schemas/%s", e->file);
                text = read_src(rel);
                ck_assert_msg(text != NULL, "MANIFEST line %d: cannot read "
                              "'%s'", e->line, rel);
                fp = fingerprint(text, rel);
                ck_assert_msg(fp == e->fp, "%s: fingerprint %016" PRIx64
                              ", MANIFEST line %d says %016" PRIx64, rel, fp,
                              e->line, e->fp);
                /* as a codec would use it: both parsers, defaults checked */
                ck_assert_msg(floq_codec_set_schema(codec, e->msg_type, text,
                                                    errstr, sizeof(errstr)) ==
                                      FLOQ_OK,
                              "%s: %s", rel, errstr);
                /* compiled in, in manifest order */
                built = floq_schema_history_json(e->msg_type,
                                                 listed[e->msg_type],
                                                 &version);
                ck_assert_msg(built != NULL, "%s is not compiled in "
                              "(rebuild: make)", rel);
                snprintf(rel, sizeof(rel), "%.63s.v%u", e->type, e->version);
                ck_assert_str_eq(version, rel);
                ck_assert_msg(!strcmp(built, text), "%s: the compiled-in "
                              "text differs from the file (rebuild)", rel);
                listed[e->msg_type]++;
                free(text);
        }
        for (t = 0; t < FLOQ_MSG__CNT; t++)
                ck_assert_msg(!floq_schema_history_json((floq_msg_type_t)t,
                                                        listed[t], NULL),
                              "a compiled-in %s version is not in MANIFEST",
                              floq_msg_type_name((floq_msg_type_t)t));
        ck_assert_ptr_null(floq_schema_history_json(FLOQ_MSG__CNT, 0, NULL));

        /* no file in history/ the manifest does not list */
        snprintf(rel, sizeof(rel), "%s/schemas/history", srcdir());
        dir = opendir(rel);
        ck_assert_msg(dir != NULL, "cannot open '%s'", rel);
        n = 0;
        while ((de = readdir(dir))) {
                size_t len = strlen(de->d_name);
                int found = 0;

                if (len < 5 || strcmp(de->d_name + len - 5, ".avsc"))
                        continue;
                n++;
                for (i = 0; i < entry_cnt; i++)
                        if (!strncmp(entries[i].file, "history/", 8) &&
                            !strcmp(entries[i].file + 8, de->d_name))
                                found = 1;
                ck_assert_msg(found, "schemas/history/%s is not in MANIFEST",
                              de->d_name);
        }
        closedir(dir);
        for (i = 0, t = 0; t < FLOQ_MSG__CNT; t++)
                i += listed[t];
        ck_assert_uint_eq(n, i);
        floq_codec_destroy(codec);
}
END_TEST

START_TEST(fingerprints_differ) {
        size_t i, j;

        load_manifest();
        for (i = 0; i < entry_cnt; i++)
                for (j = i + 1; j < entry_cnt; j++)
                        ck_assert_msg(entries[i].fp != entries[j].fp,
                                      "MANIFEST lines %d and %d (%s v%u, "
                                      "%s v%u) have the same fingerprint "
                                      "%016" PRIx64 ": a version is made by "
                                      "a change of the canonical form only",
                                      entries[i].line, entries[j].line,
                                      entries[i].type, entries[i].version,
                                      entries[j].type, entries[j].version,
                                      entries[i].fp);
}
END_TEST

/** Decode every datum of one older version with a current codec. */
static void check_version(const entry_t *e) {
        floq_msg_type_t type = (floq_msg_type_t)e->msg_type;
        floq_codec_t *old = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        floq_codec_t *cur = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        floq_avro_schema_t *wsch, *rsch;
        char rel[512], *text, *data;
        json_t *doc, *c;
        json_error_t jerr;
        size_t i;

        ck_assert_ptr_nonnull(old);
        ck_assert_ptr_nonnull(cur);
        snprintf(rel, sizeof(rel), "schemas/%s", e->file);
        text = read_src(rel);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(floq_codec_set_schema(old, type, text, errstr,
                                            sizeof(errstr)) == FLOQ_OK,
                      "%s: %s", rel, errstr);
        wsch = floq_avro_schema_parse(text, 1, errstr, sizeof(errstr));
        ck_assert_msg(wsch != NULL, "%s: %s", rel, errstr);
        rsch = floq_avro_schema_parse(floq_schema_json(type), 1, errstr,
                                      sizeof(errstr));
        ck_assert_msg(rsch != NULL, "current %s: %s", e->type, errstr);

        snprintf(rel, sizeof(rel), "tests/unit/data/codec/history/%s.v%u.json",
                 e->type, e->version);
        data = read_src(rel);
        ck_assert_msg(data != NULL, "cannot read '%s': each older version "
                      "needs datums written with it (docs/codec.md, "
                      "\"Changing a schema\")", rel);
        doc = json_loads(data, 0, &jerr);
        ck_assert_msg(doc != NULL, "%s:%d: %s", rel, jerr.line, jerr.text);
        ck_assert_msg(json_array_size(json_object_get(doc, "cases")) > 0,
                      "%s: no \"cases\"", rel);

        json_array_foreach(json_object_get(doc, "cases"), i, c) {
                json_t *datum = json_object_get(c, "datum");
                json_t *expect = json_object_get(c, "expect");
                json_t *out = NULL, *again = NULL;
                unsigned char *buf = NULL, *buf2 = NULL;
                size_t len = 0, len2 = 0;
                uint64_t fp = 0;
                char what[600], *g;
                int b;

                snprintf(what, sizeof(what), "%s case %zu", rel, i);
                ck_assert_msg(datum && expect, "%s: needs datum and expect",
                              what);
                ck_assert_msg(floq_codec_encode(old, type, datum,
                                                (void **)&buf, &len, errstr,
                                                sizeof(errstr)) == FLOQ_OK,
                              "%s: encode with v%u: %s", what, e->version,
                              errstr);
                ck_assert_msg(len >= 10 && buf[0] == 0xc3 && buf[1] == 0x01,
                              "%s: no single-object header", what);
                for (b = 0; b < 8; b++)
                        fp |= (uint64_t)buf[2 + b] << (8 * b);
                ck_assert_msg(fp == e->fp, "%s: header fingerprint %016"
                              PRIx64 ", expected %016" PRIx64, what, fp,
                              e->fp);
                ck_assert_int_eq(floq_codec_peek_type(cur, buf, len), type);
                ck_assert_msg(floq_codec_decode(cur, type, buf, len, &out,
                                                errstr, sizeof(errstr)) ==
                                      FLOQ_OK,
                              "%s: the current codec cannot read v%u: %s",
                              what, e->version, errstr);
                g = json_dumps(out, JSON_SORT_KEYS);
                ck_assert_msg(test_json_subset(expect, out),
                              "%s: decoded %s\nnot as expected", what, g);
                free(g);
                check_defaults(wsch->root, rsch->root, out, e->type, 0);

                /* what the current codec made of it is a current message */
                ck_assert_msg(floq_codec_encode(cur, type, out,
                                                (void **)&buf2, &len2, errstr,
                                                sizeof(errstr)) == FLOQ_OK,
                              "%s: re-encode: %s", what, errstr);
                ck_assert_msg(floq_codec_decode(cur, type, buf2, len2, &again,
                                                errstr, sizeof(errstr)) ==
                                      FLOQ_OK,
                              "%s: decode again: %s", what, errstr);
                ck_assert_msg(json_equal(out, again), "%s: round trip "
                              "changed the message", what);
                json_decref(out);
                json_decref(again);
                free(buf);
                free(buf2);
        }
        json_decref(doc);
        free(data);
        free(text);
        floq_avro_schema_destroy(wsch);
        floq_avro_schema_destroy(rsch);
        floq_codec_destroy(old);
        floq_codec_destroy(cur);
}

START_TEST(old_versions_decode) {
        size_t i, checked = 0;

        load_manifest();
        for (i = 0; i < entry_cnt; i++) {
                if (entries[i].current)
                        continue;
                check_version(&entries[i]);
                checked++;
        }
        /* Command, Deployment and ScheduleSet have had two versions */
        ck_assert_uint_ge(checked, 3);
}
END_TEST

/* What the guard relies on: a schema whose canonical form differs has
 * another fingerprint, one differing in attributes outside it (doc, custom
 * ones) or whitespace only does not. */
START_TEST(guard_sees_canonical_changes_only) {
        const char *cur = floq_schema_json(FLOQ_MSG_REPLY);
        char *attr, *field, *p;
        uint64_t fp = fingerprint(cur, "Reply");

        attr = malloc(strlen(cur) + 64);
        field = malloc(strlen(cur) + 128);
        ck_assert_ptr_nonnull(attr);
        ck_assert_ptr_nonnull(field);
        /* an attribute outside the canonical form, and whitespace */
        p = strchr(cur, '{');
        ck_assert_ptr_nonnull(p);
        sprintf(attr, "%.*s{ \"x-note\": \"changed\",\n %s", (int)(p - cur),
                cur, p + 1);
        ck_assert(fingerprint(attr, "attribute change") == fp);
        /* a new field is a new version */
        p = strstr(cur, "\"fields\"");
        ck_assert_ptr_nonnull(p);
        p = strchr(p, '[');
        ck_assert_ptr_nonnull(p);
        sprintf(field, "%.*s[{\"name\": \"x_new\", \"type\": \"int\", "
                "\"default\": 0}, %s", (int)(p - cur), cur, p + 1);
        ck_assert(fingerprint(field, "field change") != fp);
        free(attr);
        free(field);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("codec_history");
        TCase *tc = tcase_create("history");

        tcase_add_test(tc, manifest_well_formed);
        tcase_add_test(tc, current_schemas_are_listed);
        tcase_add_test(tc, history_files_parse_and_are_built_in);
        tcase_add_test(tc, fingerprints_differ);
        tcase_add_test(tc, old_versions_decode);
        tcase_add_test(tc, guard_sees_canonical_changes_only);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
