/* Tags and tag expressions (RocketMQ's "*", "A", "A || B"): parsing a
 * subscription's expression, and matching a stored record against it
 * without unpacking the record. The broker filters with it (dispatch.c). */
#ifndef SHOP_MQ_BROKER_TAGS_H
#define SHOP_MQ_BROKER_TAGS_H

#include <stddef.h>
#include <stdint.h>

#define BK_TAG_MAX 64  /* bytes in a tag */
#define BK_TAGS_MAX 32 /* tags in an expression */

/* A parsed expression: the tags it accepts. NULL stands for "*". */
typedef struct bk_tagset {
    size_t n;
    uint8_t len[BK_TAGS_MAX];
    char tag[BK_TAGS_MAX][BK_TAG_MAX];
    uint32_t hash[BK_TAGS_MAX]; /* mq_tag_hash of each (store.h) */
    char *text;                 /* the expression as given, for stats and logs */
} bk_tagset;

/* Whether `tag` is a valid tag: 1..64 bytes, none a space, control
 * character or '|'. */
int bk_tag_valid(const char *tag);

/* Parses expr ("" or "*": *out = NULL, every message). Returns 0, or -1
 * with the reason in err. */
int bk_tags_parse(const char *expr, bk_tagset **out, char *err, size_t errlen);
void bk_tags_free(bk_tagset *set);

/* The tag of a packed shop.mq.Record ("" when none; *len 0), found by
 * walking its fields: no allocation, no copy. -1 when it does not decode. */
int bk_record_tag(const uint8_t *rec, size_t len, const char **tag, size_t *taglen);

/* Whether a record whose tag hash (mq_store_record_tag) is `hash` may
 * pass set: 0 means it does not, 1 that its tag must still be compared. */
int bk_tags_hash_may_match(const bk_tagset *set, uint32_t hash);

/* Whether a packed record passes set (NULL passes everything). A record
 * that does not decode passes (the consumer drops and acks it, as before). */
int bk_tags_match(const bk_tagset *set, const uint8_t *rec, size_t len);

#endif
