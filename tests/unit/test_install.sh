#!/usr/bin/env bash
# make install into a scratch prefix, then build a program against the
# installed libfloq through pkg-config (shared and static) and run it: the
# program encodes a Command with the installed headers and library and
# decodes it back. Fails if a public header, the library or floq.pc is
# missing or wrong.
set -euo pipefail
B=${B:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

make -s install B="$B" PREFIX="$prefix" >/dev/null
for f in bin/floq bin/floq-worker lib/libfloq.a lib/libfloq.so \
         lib/pkgconfig/floq.pc include/floq/floq.h \
         include/floq/floq_common.h include/floq/floq_schemas.h \
         share/floq/schemas/Command.avsc \
         share/floq/schemas/history/MANIFEST \
         share/floq/schemas/history/Command.v1.avsc; do
    [[ -e "$prefix/$f" ]] || { echo "missing after install: $f"; exit 1; }
done

cat >"$tmp/app.c" <<'C'
#include <floq.h>
#include <floq_schemas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
        char errstr[256], id[37];
        void *buf = NULL;
        size_t len = 0;
        json_t *msg, *back = NULL;
        floq_codec_t *codec = floq_codec_new(1 << 20, errstr, sizeof(errstr));
        if (!codec) { fprintf(stderr, "%s\n", errstr); return 1; }
        floq_uuid_new(id);
        msg = json_pack("{s:s, s:I, s:s, s:{s:{}}}", "command_id", id,
                        "issued_at", (json_int_t)floq_now_ms(),
                        "deployment", "install-check",
                        "body", "StatusBody");
        if (floq_codec_encode(codec, FLOQ_MSG_COMMAND, msg, &buf, &len,
                              errstr, sizeof(errstr)) ||
            floq_codec_decode(codec, FLOQ_MSG_COMMAND, buf, len, &back,
                              errstr, sizeof(errstr))) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        if (strcmp(json_string_value(json_object_get(back, "command_id")), id))
                return 1;
        printf("ok %zu bytes\n", len);
        free(buf);
        json_decref(msg);
        json_decref(back);
        floq_codec_destroy(codec);
        return 0;
}
C
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# a sanitizer build's library needs the sanitizer runtimes at link time
san=""
if nm "$B/libfloq.a" 2>/dev/null | grep -c __asan_ >/dev/null; then
    san="-fsanitize=address,undefined"
fi
cc $san -std=c11 -Wall -Werror -o "$tmp/app-shared" "$tmp/app.c" \
    $(pkg-config --cflags --libs floq)
LD_LIBRARY_PATH=$prefix/lib "$tmp/app-shared"
cc $san -std=c11 -Wall -Werror -o "$tmp/app-static" "$tmp/app.c" \
    $(pkg-config --cflags floq) "$prefix/lib/libfloq.a" \
    $(pkg-config --libs rdkafka jansson avro-c libcurl uuid libcrypto \
      libmicrohttpd) -lpthread -lm
"$tmp/app-static"
echo "install: ok"
