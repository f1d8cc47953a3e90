/* Persisted group offsets: a small text file "<group>\t<topic>\t<offset>\n"
 * replaced atomically (write, fdatasync, rename, fsync of the directory).
 * The log is synced before each write, so a committed offset never covers a
 * retry or dead-letter copy that is not yet durable. */
#include "mq/broker/broker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

int bk_offsets_load(mq_broker *b, char *err, size_t errlen)
{
    char path[600];
    snprintf(path, sizeof path, "%s/offsets", b->o.data_dir);
    FILE *f = fopen(path, "re");
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

char *bk_offsets_snapshot(mq_broker *b)
{
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    for (size_t i = 0; text && i < b->ngroups; i++)
        for (size_t j = 0; text && j < b->groups[i]->nq; j++) {
            bk_queue *q = b->groups[i]->queues[j];
            size_t need = strlen(b->groups[i]->name) + strlen(q->t->name) + 32;
            if (len + need > cap) {
                cap = 2 * (len + need);
                char *n = realloc(text, cap);
                if (!n) {
                    free(text);
                    return NULL;
                }
                text = n;
            }
            len += (size_t)snprintf(text + len, cap - len, "%s\t%s\t%llu\n", b->groups[i]->name,
                                    q->t->name, (unsigned long long)q->base);
        }
    if (text) {
        text[len] = '\0';
        b->offsets_dirty = 0;
    }
    return text;
}

int bk_offsets_write(const char *dir, const char *text)
{
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/offsets", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    int rc = fd >= 0 && write(fd, text, len) == (ssize_t)len && fdatasync(fd) == 0 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (rc != 0) {
        int e = errno;
        unlink(tmp); /* a partial file would hold space a full disk needs */
        shop_log_error("offsets save failed path=%s err=%s", path, strerror(e));
    }
    return rc;
}
