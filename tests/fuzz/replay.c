/*
 * replay.c - a main() for the libFuzzer targets of tests/fuzz/ when
 * libFuzzer (clang) is not there: it feeds every file named on the command
 * line, and every regular file in every directory named, to
 * LLVMFuzzerTestOneInput() once. Linked with any fuzz_*.c and built with
 * gcc -fsanitize=address,undefined, it is `make fuzz-replay`: the corpus
 * and the reproducers of fixed bugs replayed in CI. A crash, a sanitizer
 * report or a leak fails the run; otherwise it exits 0.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs above this are not corpus files but mistakes. */
#define REPLAY_FILE_MAX (16 * 1024 * 1024)

static int replay_file(const char *path, long *count) {
        FILE *fp = fopen(path, "rb");
        uint8_t *data = NULL;
        long size;
        int rc = -1;

        if (!fp) {
                fprintf(stderr, "replay: cannot open '%s'\n", path);
                return -1;
        }
        if (fseek(fp, 0, SEEK_END) || (size = ftell(fp)) < 0 ||
            size > REPLAY_FILE_MAX || fseek(fp, 0, SEEK_SET)) {
                fprintf(stderr, "replay: cannot size '%s'\n", path);
                goto out;
        }
        /* one byte more so that an empty file still gets a real pointer */
        if (!(data = malloc((size_t)size + 1)) ||
            fread(data, 1, (size_t)size, fp) != (size_t)size) {
                fprintf(stderr, "replay: cannot read '%s'\n", path);
                goto out;
        }
        fprintf(stderr, "replay: %s\n", path);
        LLVMFuzzerTestOneInput(data, (size_t)size);
        (*count)++;
        rc = 0;
out:
        free(data);
        fclose(fp);
        return rc;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of @p dir, in name order so runs are repeatable. */
static int replay_dir(const char *dir, long *count) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL, **grown;
        size_t n = 0, cap = 0, i;
        int rc = 0;

        if (!d) {
                fprintf(stderr, "replay: cannot open '%s'\n", dir);
                return -1;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        if (!(grown = realloc(names, cap * sizeof(*names)))) {
                                rc = -1;
                                break;
                        }
                        names = grown;
                }
                if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) {
                        rc = -1;
                        break;
                }
                n++;
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof(*names), cmp_names);
        for (i = 0; i < n; i++) {
                struct stat st;

                if (rc == 0 && !stat(names[i], &st) && S_ISREG(st.st_mode) &&
                    replay_file(names[i], count))
                        rc = -1;
                free(names[i]);
        }
        free(names);
        return rc;
}

int main(int argc, char **argv) {
        long count = 0;
        int i, rc = 0;

        for (i = 1; i < argc; i++) {
                struct stat st;

                if (argv[i][0] == '-')
                        continue; /* libFuzzer flags: ignored here */
                if (stat(argv[i], &st)) {
                        fprintf(stderr, "replay: cannot open '%s'\n", argv[i]);
                        rc = 1;
                } else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
                                               : replay_file(argv[i], &count)) {
                        rc = 1;
                }
        }
        printf("%s: %ld inputs replayed\n", argv[0], count);
        return rc;
}
