/*
 * client_int.h - libfloq internals shared by the producer sources and the unit
 * tests: the table of commands waiting for replies (match.c), which pairs
 * each reply read from the reply topic with the command it answers and
 * queues it, with no Kafka involved so it can be tested alone. Not
 * installed.
 */
#ifndef FLOQ_CLIENT_INT_H
#define FLOQ_CLIENT_INT_H

#include <stddef.h>

#include <jansson.h>

#include "floq.h"

/** How a tracked command's replies are delivered. */
typedef enum floq_pending_mode_e {
        FLOQ_PENDING_QUEUE,    /**< kept for floq_client_wait_reply() */
        FLOQ_PENDING_CALLBACK, /**< handed to the reply callback */
} floq_pending_mode_t;

/** Outcome of offering a reply to the table. */
typedef enum floq_match_e {
        FLOQ_MATCH_NONE,     /**< answers no tracked command */
        FLOQ_MATCH_QUEUED,   /**< queued for a waiter */
        FLOQ_MATCH_CALLBACK, /**< tracked in callback mode: give it to the cb */
        FLOQ_MATCH_FOREIGN,  /**< same command id, other correlation id:
                                  not ours (ignored) */
        FLOQ_MATCH_INVALID,  /**< no command_id string */
} floq_match_t;

typedef struct floq_pending_s floq_pending_t;

/** A table holding at most @p max_cmds commands (0: unbounded). */
floq_pending_t *floq_pending_new(size_t max_cmds);
/** Frees every queued reply. NULL is ignored. */
void floq_pending_destroy(floq_pending_t *pend);

/**
 * Track @p command_id (copied) with @p correlation_id (copied; NULL for
 * none). @return FLOQ_OK, FLOQ_ERR_EXISTS, FLOQ_ERR_TOO_LARGE (table full),
 * FLOQ_ERR_NOMEM
 */
floq_err_t floq_pending_add(floq_pending_t *pend, const char *command_id,
                            const char *correlation_id,
                            floq_pending_mode_t mode);

/**
 * Offer a decoded reply. QUEUED takes a reference of its own; CALLBACK
 * takes none (the caller calls the callback, then, if the reply was
 * final, floq_pending_remove()).
 */
floq_match_t floq_pending_offer(floq_pending_t *pend, json_t *reply);

/**
 * Pop the oldest queued reply of @p command_id (with @p final_only, drop
 * non-final ones first). A final reply ends tracking.
 * @return 1 and *reply (a reference the caller owns); 0 nothing queued
 *         yet; -1 not tracked
 */
int floq_pending_take(floq_pending_t *pend, const char *command_id,
                      int final_only, json_t **reply);

/** Stop tracking; frees queued replies. @return 1 if it was tracked. */
int floq_pending_remove(floq_pending_t *pend, const char *command_id);

/** Commands tracked. */
size_t floq_pending_cnt(const floq_pending_t *pend);

#endif /* FLOQ_CLIENT_INT_H */
