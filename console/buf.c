/*
 * buf.c - the bounded text buffer the pages are written into, and the two
 * escapes every byte from Kafka goes through on its way out: HTML (text
 * and quoted attributes alike) and percent-encoding for URLs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_int.h"

void cbuf_init(cbuf_t *b, size_t max) {
        memset(b, 0, sizeof(*b));
        b->max = max;
}

void cbuf_release(cbuf_t *b) {
        free(b->p);
        memset(b, 0, sizeof(*b));
}

void cbuf_add(cbuf_t *b, const char *s, size_t n) {
        if (b->over || b->oom || !n)
                return;
        if (b->len + n > b->max) {
                b->over = 1;
                return;
        }
        if (b->len + n + 1 > b->size) {
                size_t size = b->size ? b->size : 4096;
                char *p;

                while (size < b->len + n + 1)
                        size *= 2;
                if (!(p = realloc(b->p, size))) {
                        b->oom = 1;
                        return;
                }
                b->p = p;
                b->size = size;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

void cbuf_puts(cbuf_t *b, const char *s) {
        if (s)
                cbuf_add(b, s, strlen(s));
}

void cbuf_printf(cbuf_t *b, const char *fmt, ...) {
        char tmp[1024];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n > 0)
                cbuf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n
                                                         : sizeof(tmp) - 1);
}

void cbuf_html(cbuf_t *b, const char *s) {
        const char *run = s;

        if (!s)
                return;
        for (; *s; s++) {
                const char *rep = NULL;
                unsigned char c = (unsigned char)*s;

                switch (c) {
                case '&': rep = "&amp;"; break;
                case '<': rep = "&lt;"; break;
                case '>': rep = "&gt;"; break;
                case '"': rep = "&quot;"; break;
                case '\'': rep = "&#39;"; break;
                default:
                        if (c < 0x20 && c != '\n' && c != '\t')
                                rep = "";
                        else if (c == 0x7f)
                                rep = "";
                }
                if (rep) {
                        cbuf_add(b, run, (size_t)(s - run));
                        cbuf_puts(b, rep);
                        run = s + 1;
                }
        }
        cbuf_add(b, run, (size_t)(s - run));
}

void cbuf_url(cbuf_t *b, const char *s) {
        static const char hex[] = "0123456789ABCDEF";

        for (; s && *s; s++) {
                unsigned char c = (unsigned char)*s;

                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.' || c == '~') {
                        cbuf_add(b, (const char *)&c, 1);
                } else {
                        char e[3] = { '%', hex[c >> 4], hex[c & 15] };

                        cbuf_add(b, e, 3);
                }
        }
}

char *cbuf_take(cbuf_t *b) {
        char *p;

        if (b->oom) {
                cbuf_release(b);
                return NULL;
        }
        if (!b->p)
                return strdup("");
        p = b->p;
        b->p = NULL;
        b->len = b->size = 0;
        return p;
}
