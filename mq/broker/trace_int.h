/* Internal to trace.c and trace_file.c: the trace's state. */
#ifndef SHOP_MQ_BROKER_TRACE_INT_H
#define SHOP_MQ_BROKER_TRACE_INT_H

#include "mq/broker/trace.h"

#define BK_TRACE_NAMES_MAX 65536u      /* interned names; more show as "?" */
#define BK_TRACE_NAME_SLOTS (1u << 17) /* hash slots for the names */
#define BK_TRACE_NONAME 0xffffffffu
#define BK_TRACE_REC_EVENT 'E'
#define BK_TRACE_REC_NAME 'N'
#define BK_TRACE_REC_GEN 'G'

/* A name noted last in one role of bk_trace_note, by pointer: deliveries
 * note the same topic, group and consumer many times in a row. */
typedef struct bk_trace_memo {
    const char *ptr;
    uint32_t id;
} bk_trace_memo;

struct bk_trace {
    bk_trace_ev *ring;
    size_t cap;
    uint64_t head; /* events ever added: ring[(head - 1) % cap] is the newest */
    char **names;  /* names[id], id 1..nnames */
    uint32_t nnames;
    uint32_t *slots;       /* name hash slots: id or 0 */
    bk_trace_memo memo[3]; /* bk_trace_note's topic, group and consumer */
    /* persistence (trace_file.c) */
    char path[2][512];
    int fd, cur;  /* the file being appended to: path[cur] */
    uint64_t gen; /* its generation (the other file is older) */
    size_t file_events;
    uint8_t *wbuf; /* encoded records not written yet */
    size_t wlen, wcap;
    int write_failed; /* logged once */
};

/* trace.c */
uint32_t bk_trace_intern_id(bk_trace *t, const char *name, uint32_t id);
void bk_trace_push(bk_trace *t, const bk_trace_ev *e);

/* trace_file.c: encodes a record into the write buffer. */
void bk_trace_buf_add(bk_trace *t, char type, const void *payload, size_t len);
int bk_trace_files_load(bk_trace *t, const char *dir, char *err, size_t errlen);

#endif
