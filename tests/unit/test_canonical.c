/*
 * test_canonical.c - Parsing Canonical Form and CRC-64-AVRO fingerprints
 * (schemas/canonical.c) against the Avro project's published vectors,
 * tests/unit/data/avro-schema-tests.txt (a copy of apache/avro's
 * share/test/data/schema-tests.txt): every canonical form must match
 * byte for byte and every fingerprint, which the file gives as a signed
 * 64-bit number, must match too. Further cases cover what those vectors
 * do not: namespace inheritance, named types printed in full once and by
 * full name after, logical types stripped, and bad schemas refused.
 * FLOQ_SRCDIR points at the source tree when not run from its top.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_schemas.h"
#include "test_util.h"

/** One vector of the file: input schema, canonical form, fingerprint. */
typedef struct vector_s {
        int line;
        char *input;
        char *canonical;
        int has_fp;
        int64_t fp;
} vector_t;

static char *strcat_dup(char *a, const char *b) {
        size_t alen = a ? strlen(a) : 0;
        char *s = realloc(a, alen + strlen(b) + 2);

        ck_assert_ptr_nonnull(s);
        if (alen)
                s[alen++] = '\n';
        strcpy(s + alen, b);
        return s;
}

static void chomp(char *s) {
        size_t n = strlen(s);

        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = '\0';
}

/**
 * Read the vectors: "<<INPUT text" or "<<INPUT" ... "INPUT" for the input,
 * "<<canonical text", "<<fingerprint N"; "//" and "#" lines are comments.
 * @return the count; *vp a malloc()ed array the caller frees.
 */
static size_t load_vectors(vector_t **vp) {
        const char *dir = getenv("FLOQ_SRCDIR");
        char path[1024], line[4096];
        vector_t *v = NULL;
        size_t cnt = 0;
        int lineno = 0, in_input = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/tests/unit/data/avro-schema-tests.txt",
                 dir ? dir : ".");
        fp = fopen(path, "r");
        ck_assert_msg(fp != NULL, "cannot open '%s'", path);
        while (fgets(line, sizeof(line), fp)) {
                lineno++;
                chomp(line);
                if (in_input) {
                        if (!strcmp(line, "INPUT"))
                                in_input = 0;
                        else
                                v[cnt - 1].input =
                                        strcat_dup(v[cnt - 1].input, line);
                        continue;
                }
                if (!strncmp(line, "//", 2) || line[0] == '#')
                        continue;
                if (!strncmp(line, "<<INPUT", 7)) {
                        v = realloc(v, (cnt + 1) * sizeof(*v));
                        ck_assert_ptr_nonnull(v);
                        memset(&v[cnt], 0, sizeof(*v));
                        v[cnt].line = lineno;
                        cnt++;
                        if (line[7] == ' ')
                                v[cnt - 1].input = strdup(line + 8);
                        else
                                in_input = 1;
                } else if (!strncmp(line, "<<canonical ", 12)) {
                        ck_assert(cnt > 0);
                        v[cnt - 1].canonical = strdup(line + 12);
                } else if (!strncmp(line, "<<fingerprint ", 14)) {
                        ck_assert(cnt > 0);
                        v[cnt - 1].has_fp = 1;
                        v[cnt - 1].fp = strtoll(line + 14, NULL, 10);
                }
        }
        fclose(fp);
        ck_assert(!in_input);
        *vp = v;
        return cnt;
}

static void free_vectors(vector_t *v, size_t cnt) {
        size_t i;

        for (i = 0; i < cnt; i++) {
                free(v[i].input);
                free(v[i].canonical);
        }
        free(v);
}

START_TEST(test_spec_vectors) {
        vector_t *v;
        size_t cnt, i, fps = 0;
        char errstr[256];

        cnt = load_vectors(&v);
        ck_assert_uint_ge(cnt, 34);
        for (i = 0; i < cnt; i++) {
                char *pcf;
                ck_assert_msg(v[i].input && v[i].canonical,
                              "vector at line %d incomplete", v[i].line);
                pcf = floq_avro_canonical_form(v[i].input, errstr,
                                               sizeof(errstr));
                ck_assert_msg(pcf != NULL, "line %d: %s", v[i].line, errstr);
                ck_assert_msg(!strcmp(pcf, v[i].canonical),
                              "line %d: got %s, want %s", v[i].line, pcf,
                              v[i].canonical);
                if (v[i].has_fp) {
                        int64_t fp = (int64_t)floq_avro_fingerprint64(
                                pcf, strlen(pcf));
                        ck_assert_msg(fp == v[i].fp,
                                      "line %d: fingerprint %" PRId64
                                      ", want %" PRId64,
                                      v[i].line, fp, v[i].fp);
                        fps++;
                }
                free(pcf);
        }
        ck_assert_uint_ge(fps, 25);
        free_vectors(v, cnt);
}
END_TEST

START_TEST(test_fingerprint_empty) {
        /* the spec's EMPTY constant is the fingerprint of no bytes */
        ck_assert_uint_eq(floq_avro_fingerprint64("", 0),
                          UINT64_C(0xc15d213aa4d7a795));
        ck_assert_uint_eq(floq_avro_fingerprint64("\"null\"", 6),
                          (uint64_t)INT64_C(7195948357588979594));
}
END_TEST

static void check_pcf(const char *input, const char *want) {
        char errstr[256];
        char *pcf = floq_avro_canonical_form(input, errstr, sizeof(errstr));

        ck_assert_msg(pcf != NULL, "%s: %s", input, errstr);
        ck_assert_str_eq(pcf, want);
        free(pcf);
}

START_TEST(test_namespaces) {
        /* namespace attribute, inherited namespace, dotted names, the
         * empty namespace, references by short and full name */
        check_pcf("{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a\","
                  "\"fields\":["
                  "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                  "\"symbols\":[\"X\"]}},"
                  "{\"name\":\"e2\",\"type\":\"E\"},"
                  "{\"name\":\"f\",\"type\":{\"type\":\"fixed\","
                  "\"name\":\"b.F\",\"size\":2}},"
                  "{\"name\":\"f2\",\"type\":\"b.F\"},"
                  "{\"name\":\"n\",\"type\":{\"type\":\"record\","
                  "\"name\":\"In\",\"namespace\":\"\",\"fields\":["
                  "{\"name\":\"g\",\"type\":\"a.E\"}]}}]}",
                  "{\"name\":\"a.R\",\"type\":\"record\",\"fields\":["
                  "{\"name\":\"e\",\"type\":{\"name\":\"a.E\","
                  "\"type\":\"enum\",\"symbols\":[\"X\"]}},"
                  "{\"name\":\"e2\",\"type\":\"a.E\"},"
                  "{\"name\":\"f\",\"type\":{\"name\":\"b.F\","
                  "\"type\":\"fixed\",\"size\":2}},"
                  "{\"name\":\"f2\",\"type\":\"b.F\"},"
                  "{\"name\":\"n\",\"type\":{\"name\":\"In\","
                  "\"type\":\"record\",\"fields\":["
                  "{\"name\":\"g\",\"type\":\"a.E\"}]}}]}");
        /* a dotted name ignores "namespace" and its prefix is inherited;
         * logical types are stripped; nested containers keep references */
        check_pcf("{\"type\":\"record\",\"name\":\"x.Outer\","
                  "\"namespace\":\"ignored\",\"doc\":\"d\",\"fields\":["
                  "{\"name\":\"i\",\"type\":{\"type\":\"record\","
                  "\"name\":\"Inner\",\"fields\":[{\"name\":\"s\","
                  "\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
                  "{\"name\":\"t\",\"type\":{\"type\":\"long\","
                  "\"logicalType\":\"timestamp-millis\"},\"default\":0}]}},"
                  "{\"name\":\"j\",\"type\":\"Inner\"},"
                  "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
                  "{\"type\":\"array\",\"items\":\"x.Inner\"}}}]}",
                  "{\"name\":\"x.Outer\",\"type\":\"record\",\"fields\":["
                  "{\"name\":\"i\",\"type\":{\"name\":\"x.Inner\","
                  "\"type\":\"record\",\"fields\":[{\"name\":\"s\","
                  "\"type\":\"string\"},{\"name\":\"t\",\"type\":\"long\"}]}},"
                  "{\"name\":\"j\",\"type\":\"x.Inner\"},"
                  "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
                  "{\"type\":\"array\",\"items\":\"x.Inner\"}}}]}");
}
END_TEST

START_TEST(test_builtin_schemas) {
        char errstr[256];
        int t;

        for (t = 0; t < FLOQ_MSG__CNT; t++) {
                const char *text = floq_schema_json((floq_msg_type_t)t);
                char *pcf, *again;
                ck_assert_ptr_nonnull(text);
                pcf = floq_avro_canonical_form(text, errstr, sizeof(errstr));
                ck_assert_msg(pcf != NULL, "%s: %s",
                              floq_msg_type_name((floq_msg_type_t)t), errstr);
                ck_assert_ptr_null(strstr(pcf, "\"doc\""));
                ck_assert_ptr_null(strstr(pcf, "default"));
                ck_assert_ptr_null(strstr(pcf, "logicalType"));
                ck_assert_ptr_nonnull(strstr(pcf, "\"name\":\"io.floq.v1."));
                /* the canonical form is its own canonical form */
                again = floq_avro_canonical_form(pcf, errstr, sizeof(errstr));
                ck_assert_ptr_nonnull(again);
                ck_assert_str_eq(again, pcf);
                free(again);
                free(pcf);
        }
}
END_TEST

START_TEST(test_bad_schemas) {
        static const char *const bad[] = {
                "",
                "nope",
                "\"Unknown\"",
                "{\"type\":\"record\",\"name\":\"R\"}",
                "{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}",
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                "{\"name\":\"a\",\"type\":\"int\"},"
                "{\"name\":\"a\",\"type\":\"int\"}]}",
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                "{\"name\":\"a\",\"type\":{\"type\":\"enum\",\"name\":\"R\","
                "\"symbols\":[]}}]}",
                "[\"int\",\"int\"]",
                "[\"int\",[\"string\"]]",
                "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
                "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],"
                "\"default\":\"B\"}",
                "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
                "{\"type\":\"array\"}",
                "{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}",
                "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a\","
                "\"fields\":[{\"name\":\"x\",\"type\":{\"type\":\"fixed\","
                "\"name\":\"F\",\"size\":1}},{\"name\":\"y\","
                "\"type\":\"b.F\"}]}",
        };
        char errstr[256];
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *pcf;
                errstr[0] = '\0';
                pcf = floq_avro_canonical_form(bad[i], errstr,
                                               sizeof(errstr));
                ck_assert_msg(pcf == NULL, "accepted %s as %s", bad[i], pcf);
                ck_assert_msg(errstr[0] != '\0', "no reason for %s", bad[i]);
        }
        ck_assert_ptr_null(floq_avro_canonical_form(NULL, NULL, 0));
}
END_TEST

static Suite *canonical_suite(void) {
        Suite *s = suite_create("canonical");
        TCase *tc = tcase_create("pcf");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_spec_vectors);
        tcase_add_test(tc, test_fingerprint_empty);
        tcase_add_test(tc, test_namespaces);
        tcase_add_test(tc, test_builtin_schemas);
        tcase_add_test(tc, test_bad_schemas);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(canonical_suite());
}
