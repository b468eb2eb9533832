/*
 * config_int.h - private helpers of common/config.c shared with the other
 * common/ files (kafka.c builds librdkafka configs from the passthrough
 * list). Not installed; not part of the libfloq API.
 */
#ifndef FLOQ_CONFIG_INT_H
#define FLOQ_CONFIG_INT_H

#include <stddef.h>

#include "floq_common.h"

/** Number of librdkafka passthrough settings (-X, kafka.*, file keys). */
size_t floq_conf_kafka_cnt(const floq_conf_t *conf);
/** The @p i th passthrough setting, in the order first set. */
void floq_conf_kafka_get(const floq_conf_t *conf, size_t i, const char **key,
                         const char **value);

/** 1 if the value of librdkafka property @p key must never be printed. */
int floq_conf_kafka_key_is_secret(const char *key);

#endif /* FLOQ_CONFIG_INT_H */
