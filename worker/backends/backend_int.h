/*
 * backend_int.h - helpers shared by the backends in worker/backends/ and not
 * part of the worker's public interface: the `{param}` template language
 * every backend uses to put run parameters into its spec (process argv and
 * environment today; URLs and request bodies of the HTTP backends later).
 * Implemented in registry.c, next to the table of built-in backends.
 *
 * Template syntax: `{name}` is replaced by the run parameter `name`, where a
 * name is [A-Za-z_][A-Za-z0-9_.-]*; `{{` and `}}` stand for literal braces;
 * any other brace is an error. Substitution is textual and happens once: a
 * parameter value is never re-scanned, so `{x}` inside a value stays as is.
 */
#ifndef FLOQ_BACKEND_INT_H
#define FLOQ_BACKEND_INT_H

#include <stddef.h>

#include <jansson.h>

#include "floq_common.h"

/** Longest placeholder name accepted. */
#define FLOQ_TPL_NAME_MAX 128

/**
 * Check the syntax of template @p tpl. On error errstr names the offending
 * character position, e.g. "unmatched '}' at offset 4".
 * @return FLOQ_OK or FLOQ_ERR_INVALID_ARG. Thread-safe.
 */
floq_err_t floq_tpl_check(const char *tpl, char *errstr, size_t errstr_size);

/**
 * Expand @p tpl with the values of @p params (an object; may be NULL when
 * the template has no placeholders). Strings are used verbatim (a value with
 * a NUL byte is refused), integers, reals and booleans as their JSON text.
 * @param outp  receives a malloc()ed string the caller frees
 * @return FLOQ_OK; FLOQ_ERR_INVALID_ARG with "missing parameter 'date'" when
 *         a placeholder has no parameter, or a syntax error; FLOQ_ERR_NOMEM.
 * Thread-safe; @p params is only read.
 */
floq_err_t floq_tpl_expand(const char *tpl, const json_t *params, char **outp,
                           char *errstr, size_t errstr_size);

/**
 * Overwrite the secret string @p s (a token, a password read from a
 * file) and free it; NULL is fine. Every backend frees its credentials
 * this way, so none stays readable in freed memory.
 */
void floq_secret_free(char *s);

#endif /* FLOQ_BACKEND_INT_H */
