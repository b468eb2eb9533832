/*
 * test_util.h - helpers the Check unit tests in tests/unit share, so that
 * each test_<module>.c holds only its cases. Everything here is static
 * inline: the Makefile builds each test_<name>.c in tests/unit into its own
 * test binary and links every other .c file there into all of them; a
 * header needs neither rule.
 */
#ifndef FLOQ_TEST_UTIL_H
#define FLOQ_TEST_UTIL_H

#include <check.h>
#include <jansson.h>
#include <stddef.h>

#include "floq_common.h"
#include "floq_schemas.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

/**
 * 1 if @p want is contained in @p got: objects by the keys of @p want
 * (recursively; @p got may have more), arrays element by element and of
 * the same length, anything else equal. Decoding adds the defaults of
 * fields the input left out, including fields added to the schemas after
 * a test was written, so tests compare what they gave by this.
 * @p got may be NULL (a missing key): then 0. Borrows both.
 */
static inline int test_json_subset(json_t *want, json_t *got) {
        const char *key;
        json_t *v;
        size_t i;

        if (json_is_object(want)) {
                if (!json_is_object(got))
                        return 0;
                json_object_foreach(want, key, v) {
                        if (!test_json_subset(v, json_object_get(got, key)))
                                return 0;
                }
                return 1;
        }
        if (json_is_array(want)) {
                if (!json_is_array(got) ||
                    json_array_size(got) != json_array_size(want))
                        return 0;
                json_array_foreach(want, i, v) {
                        if (!test_json_subset(v, json_array_get(got, i)))
                                return 0;
                }
                return 1;
        }
        return got && json_equal(want, got);
}

/**
 * 1 when @p e is how a call to a closed port ends: the last refusal
 * (FLOQ_ERR_TRANSPORT) or, where a try is itself slow (valgrind on a
 * loaded machine: curl's resolver thread), the deadline passed
 * (FLOQ_ERR_TIMED_OUT). Both are retriable and said as unreachable; which
 * one comes is timing.
 */
static inline int test_unreachable(floq_err_t e) {
        return e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT;
}

/**
 * Runs every case of @p s (fork mode unless CK_FORK=no says otherwise) and
 * returns main()'s exit status: EXIT_FAILURE if any case failed. Takes
 * ownership of @p s.
 */
static inline int test_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/**
 * A lock directory of this test process's own for the worker's identity
 * lock (worker.lock.dir): workers of tests that run at the same time on
 * one host (another suite, a sanitizer pass) then never share a lock by
 * their common ids. The path is static; the directory is left behind (it
 * holds only empty lock files).
 */
static inline const char *test_lock_dir(void) {
        static char dir[64];

        if (!dir[0]) {
                snprintf(dir, sizeof(dir), "/tmp/floq-test-locks-XXXXXX");
                if (!mkdtemp(dir))
                        snprintf(dir, sizeof(dir), "/tmp");
        }
        return dir;
}

/**
 * Everything written to @p f so far, NUL-terminated (malloc()ed; the
 * caller frees). Read with pread(), so @p f's position stays where its
 * writers left it: other threads (a worker's, librdkafka's) may be logging
 * to @p f meanwhile.
 */
static inline char *test_file_text(FILE *f) {
        size_t size = 0, cap = 65536;
        char *buf = malloc(cap + 1);
        ssize_t n;

        ck_assert_ptr_nonnull(buf);
        fflush(f);
        while ((n = pread(fileno(f), buf + size, cap - size, (off_t)size)) >
               0) {
                size += (size_t)n;
                if (size == cap) {
                        cap *= 2;
                        buf = realloc(buf, cap + 1);
                        ck_assert_ptr_nonnull(buf);
                }
        }
        buf[size] = '\0';
        return buf;
}

/**
 * How often @p needle occurs in what was written to @p f so far.
 */
static inline int test_file_count(FILE *f, const char *needle) {
        char *text = test_file_text(f), *p = text;
        int n = 0;

        while ((p = strstr(p, needle))) {
                n++;
                p += strlen(needle);
        }
        free(text);
        return n;
}

/* Is @p pid gone? A zombie counts as gone (an init that does not reap,
 * a container's, keeps killed orphans as zombies); reaps our own child. */
static inline int test_pid_dead(pid_t pid) {
        char path[64], buf[512], *p;
        FILE *f;
        int st;

        (void)waitpid(pid, &st, WNOHANG);
        if (kill(pid, 0) == -1 && errno == ESRCH)
                return 1;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (!(f = fopen(path, "r")))
                return 1;
        buf[0] = '\0';
        if (!fgets(buf, sizeof(buf), f))
                buf[0] = '\0';
        fclose(f);
        p = strrchr(buf, ')');
        return p && (p[2] == 'Z' || p[2] == 'X');
}

/** A codec that reads and writes @p type in its first schema version
 *  (floq_schema_history_json() 0), as an older program does; the caller
 *  destroys it. */
static inline floq_codec_t *test_codec_v1(floq_msg_type_t type) {
        floq_codec_t *c = floq_codec_new(1 << 20, NULL, 0);
        char err[256];

        ck_assert_ptr_nonnull(c);
        ck_assert_msg(!floq_codec_set_schema(c, type,
                                             floq_schema_history_json(type, 0,
                                                                      NULL),
                                             err, sizeof(err)),
                      "%s", err);
        return c;
}

#endif /* FLOQ_TEST_UTIL_H */
