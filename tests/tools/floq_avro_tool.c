/*
 * floq_avro_tool.c - a small CLI over the codec for the interop tests
 * (tests/unit/test_interop.sh) and for poking at messages by hand:
 *
 *   floq_avro_tool encode TYPE       JSON on stdin -> framed bytes on stdout
 *   floq_avro_tool decode TYPE       framed bytes on stdin -> JSON on stdout
 *   floq_avro_tool fingerprint FILE  canonical form, then fingerprint (hex)
 *   floq_avro_tool canonical FILE    canonical form only
 *
 * TYPE is a record name (Command, Reply, Deployment, ScheduleSet,
 * RunState). Options before the command: -w FILE adds a writer schema for
 * TYPE, -r FILE replaces the reader schema, -m BYTES sets the max message
 * size (default 1 MiB). Exit status 0 on success, 1 on a codec error
 * (printed on stderr as "floq_avro_tool: ERRNAME: message"), 2 on usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floq_schemas.h"

/** Read all of @p fp, up to @p max bytes; NULL when larger or on error. */
static char *slurp(FILE *fp, size_t max, size_t *lenp) {
        size_t len = 0, size = 4096, n;
        char *buf = malloc(size + 1), *nbuf;

        while (buf) {
                n = fread(buf + len, 1, size - len, fp);
                len += n;
                if (len > max) {
                        free(buf);
                        return NULL;
                }
                if (len < size) {
                        if (ferror(fp))
                                break;
                        buf[len] = '\0';
                        *lenp = len;
                        return buf;
                }
                size *= 2;
                nbuf = realloc(buf, size + 1);
                if (!nbuf)
                        break;
                buf = nbuf;
        }
        free(buf);
        return NULL;
}

static char *slurp_file(const char *path, size_t *lenp) {
        FILE *fp = fopen(path, "rb");
        char *s;

        if (!fp) {
                fprintf(stderr, "floq_avro_tool: cannot open '%s'\n", path);
                return NULL;
        }
        s = slurp(fp, 16 << 20, lenp);
        fclose(fp);
        if (!s)
                fprintf(stderr, "floq_avro_tool: cannot read '%s'\n", path);
        return s;
}

static int msg_type(const char *name) {
        int t;

        for (t = 0; t < FLOQ_MSG__CNT; t++)
                if (!strcmp(floq_msg_type_name((floq_msg_type_t)t), name))
                        return t;
        return -1;
}

static int usage(void) {
        fprintf(stderr,
                "usage: floq_avro_tool [-w WRITER.avsc] [-r READER.avsc] "
                "[-m BYTES] encode|decode TYPE\n"
                "       floq_avro_tool fingerprint|canonical FILE.avsc\n");
        return 2;
}

static int schema_cmd(const char *cmd, const char *path) {
        char errstr[512];
        size_t len;
        char *text, *pcf;

        text = slurp_file(path, &len);
        if (!text)
                return 1;
        pcf = floq_avro_canonical_form(text, errstr, sizeof(errstr));
        free(text);
        if (!pcf) {
                fprintf(stderr, "floq_avro_tool: %s: %s\n", path, errstr);
                return 1;
        }
        printf("%s\n", pcf);
        if (!strcmp(cmd, "fingerprint"))
                printf("%016" PRIx64 "\n",
                       floq_avro_fingerprint64(pcf, strlen(pcf)));
        free(pcf);
        return 0;
}

int main(int argc, char **argv) {
        const char *writer_path = NULL, *reader_path = NULL;
        size_t max = 1 << 20, len = 0, outlen = 0;
        floq_codec_t *codec = NULL;
        char errstr[512];
        char *in = NULL, *text = NULL;
        void *out = NULL;
        json_t *msg = NULL;
        floq_err_t err = FLOQ_OK;
        int opt, type, ret = 1;

        while ((opt = getopt(argc, argv, "w:r:m:")) != -1) {
                switch (opt) {
                case 'w': writer_path = optarg; break;
                case 'r': reader_path = optarg; break;
                case 'm': max = strtoul(optarg, NULL, 10); break;
                default: return usage();
                }
        }
        if (argc - optind != 2)
                return usage();
        if (!strcmp(argv[optind], "fingerprint") ||
            !strcmp(argv[optind], "canonical"))
                return schema_cmd(argv[optind], argv[optind + 1]);
        type = msg_type(argv[optind + 1]);
        if (type < 0 || (strcmp(argv[optind], "encode") &&
                         strcmp(argv[optind], "decode")))
                return usage();

        codec = floq_codec_new(max, errstr, sizeof(errstr));
        if (!codec)
                goto out;
        if (reader_path) {
                text = slurp_file(reader_path, &len);
                if (!text)
                        goto out_quiet;
                err = floq_codec_set_schema(codec, (floq_msg_type_t)type,
                                            text, errstr, sizeof(errstr));
                free(text);
                if (err)
                        goto out;
        }
        if (writer_path) {
                text = slurp_file(writer_path, &len);
                if (!text)
                        goto out_quiet;
                err = floq_codec_add_writer_schema(codec,
                                                   (floq_msg_type_t)type, text,
                                                   -1, errstr,
                                                   sizeof(errstr));
                free(text);
                if (err)
                        goto out;
        }
        in = slurp(stdin, max + 1, &len);
        if (!in) {
                fprintf(stderr, "floq_avro_tool: cannot read stdin\n");
                goto out_quiet;
        }
        if (!strcmp(argv[optind], "encode")) {
                json_error_t jerr;
                msg = json_loadb(in, len, 0, &jerr);
                if (!msg) {
                        fprintf(stderr, "floq_avro_tool: stdin is not JSON: "
                                "%s\n", jerr.text);
                        goto out_quiet;
                }
                err = floq_codec_encode(codec, (floq_msg_type_t)type, msg,
                                        &out, &outlen, errstr,
                                        sizeof(errstr));
                if (err)
                        goto out;
                if (fwrite(out, 1, outlen, stdout) != outlen)
                        goto out_quiet;
        } else {
                err = floq_codec_decode(codec, (floq_msg_type_t)type, in, len,
                                        &msg, errstr, sizeof(errstr));
                if (err)
                        goto out;
                if (json_dumpf(msg, stdout, JSON_SORT_KEYS | JSON_COMPACT |
                                                    JSON_REAL_PRECISION(17)))
                        goto out_quiet;
                putchar('\n');
        }
        ret = 0;
        goto out_quiet;
out:
        fprintf(stderr, "floq_avro_tool: %s: %s\n",
                err ? floq_err_name(err) : "error", errstr);
out_quiet:
        json_decref(msg);
        free(out);
        free(in);
        floq_codec_destroy(codec);
        return ret;
}
