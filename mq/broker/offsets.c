/* Persisted group offsets: a small text file "<group>\t<topic>\t<offset>\n"
 * replaced atomically (write, fdatasync, rename, fsync of the directory).
 * The log is synced first, so a committed offset never covers a retry or
 * dead-letter copy that is not yet durable. */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/log.h"

int bk_offsets_load(mq_broker *b, char *err, size_t errlen)
{
    char path[600];
    snprintf(path, sizeof path, "%s/offsets", b->o.data_dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *group = line, *topic = strchr(line, '\t'), *offs, *end;
        if (!topic || !(offs = strchr(topic + 1, '\t')))
            continue;
        *topic++ = '\0';
        *offs++ = '\0';
        unsigned long long v = strtoull(offs, &end, 10);
        if (end == offs || !*group || !*topic)
            continue;
        bk_group *g = bk_group_get(b, group, 1);
        bk_queue *q = g ? bk_queue_get(b, g, topic, 1) : NULL;
        if (!q)
            continue;
        uint64_t off = v < q->t->start ? q->t->start : v > q->t->end ? q->t->end : v;
        q->base = q->next = q->saved = off;
    }
    fclose(f);
    b->offsets_dirty = 0;
    return 0;
}

int bk_offsets_save(mq_broker *b)
{
    if (mq_store_flush(b->store) != 0 || mq_store_sync(b->store) != 0)
        return -1;
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/offsets", b->o.data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        shop_error("offsets save failed path=%s err=%s", tmp, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < b->ngroups; i++)
        for (size_t j = 0; j < b->groups[i]->nq; j++) {
            bk_queue *q = b->groups[i]->queues[j];
            fprintf(f, "%s\t%s\t%llu\n", b->groups[i]->name, q->t->name,
                    (unsigned long long)q->base);
        }
    int rc = fflush(f) == 0 && fdatasync(fileno(f)) == 0 ? 0 : -1;
    rc |= fclose(f);
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc == 0) {
        int dfd = open(b->o.data_dir, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (rc != 0) {
        shop_error("offsets save failed path=%s err=%s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < b->ngroups; i++)
        for (size_t j = 0; j < b->groups[i]->nq; j++)
            b->groups[i]->queues[j]->saved = b->groups[i]->queues[j]->base;
    b->offsets_dirty = 0;
    return 0;
}
