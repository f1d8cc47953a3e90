/* Tag expressions and the broker-side tag filter: the expression is parsed
 * once per subscription; a record's tag (shop.mq.Record field 20) is found
 * by skipping over the record's other fields, so filtering a record costs
 * a few varint reads on the mapped segment. */
#include "mq/broker/tags.h"
#include "mq/broker/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_TAG_FIELD 20

static int tag_char_ok(char ch)
{
    return (unsigned char)ch > ' ' && ch != '|' && ch != 0x7f;
}

int bk_tag_valid(const char *tag)
{
    size_t n = tag ? strlen(tag) : 0;
    if (n == 0 || n > BK_TAG_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!tag_char_ok(tag[i]))
            return 0;
    return 1;
}

void bk_tags_free(bk_tagset *set)
{
    if (!set)
        return;
    free(set->text);
    free(set);
}

int bk_tags_parse(const char *expr, bk_tagset **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *s = expr ? expr : "";
    while (*s == ' ')
        s++;
    if (*s == '\0' || (s[0] == '*' && s[1 + strspn(s + 1, " ")] == '\0'))
        return 0;
    bk_tagset *set = calloc(1, sizeof *set);
    if (!set || !(set->text = strdup(expr))) {
        free(set);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (;;) {
        while (*s == ' ')
            s++;
        size_t n = 0;
        while (tag_char_ok(s[n]))
            n++;
        if (n == 0) {
            snprintf(err, errlen,
                     "tag expression \"%s\": a tag is missing at \"%s\" (write *, A or A || B)",
                     expr, s);
            goto fail;
        }
        if (n == 1 && s[0] == '*') {
            snprintf(err, errlen, "tag expression \"%s\": * stands alone (every tag)", expr);
            goto fail;
        }
        if (n > BK_TAG_MAX) {
            snprintf(err, errlen, "tag expression \"%s\": a tag is longer than %d bytes", expr,
                     BK_TAG_MAX);
            goto fail;
        }
        if (set->n == BK_TAGS_MAX) {
            snprintf(err, errlen, "tag expression \"%s\": more than %d tags", expr, BK_TAGS_MAX);
            goto fail;
        }
        memcpy(set->tag[set->n], s, n);
        set->hash[set->n] = mq_tag_hash(s, n);
        set->len[set->n++] = (uint8_t)n;
        s += n;
        while (*s == ' ')
            s++;
        if (*s == '\0')
            break;
        if (s[0] != '|' || s[1] != '|') {
            snprintf(err, errlen,
                     "tag expression \"%s\": expected \"||\" between tags at \"%s\" (write *, A or "
                     "A || B)",
                     expr, s);
            goto fail;
        }
        s += 2;
    }
    *out = set;
    return 0;
fail:
    bk_tags_free(set);
    return -1;
}

/* Reads a base-128 varint at *p (< end); -1 when truncated or too long. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

int bk_record_tag(const uint8_t *rec, size_t len, const char **tag, size_t *taglen)
{
    const uint8_t *p = rec, *end = rec + len;
    *tag = "";
    *taglen = 0;
    while (p < end) {
        uint64_t key, v;
        if (varint(&p, end, &key) != 0)
            return -1;
        switch (key & 7) {
        case 0: /* varint */
            if (varint(&p, end, &v) != 0)
                return -1;
            break;
        case 1: /* 64-bit */
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 2: /* length-delimited */
            if (varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return -1;
            if ((key >> 3) == RECORD_TAG_FIELD) {
                *tag = (const char *)p;
                *taglen = (size_t)v; /* the last occurrence wins, as in protobuf */
            }
            p += v;
            break;
        case 5: /* 32-bit */
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

int bk_tags_hash_may_match(const bk_tagset *set, uint32_t hash)
{
    if (!set)
        return 1;
    for (size_t i = 0; i < set->n; i++)
        if (set->hash[i] == hash)
            return 1;
    return 0;
}

int bk_tags_match(const bk_tagset *set, const uint8_t *rec, size_t len)
{
    if (!set)
        return 1;
    const char *tag;
    size_t n;
    if (bk_record_tag(rec, len, &tag, &n) != 0)
        return 1;
    for (size_t i = 0; i < set->n; i++)
        if (set->len[i] == n && memcmp(set->tag[i], tag, n) == 0)
            return 1;
    return 0;
}
