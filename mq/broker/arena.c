/* A list of allocations freed together once a reply has been packed. */
#include "mq/broker/broker.h"

#include <stdlib.h>

void *bk_alloc(bk_arena *a, size_t size)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        void **n = realloc(a->ptrs, cap * sizeof *n);
        if (!n)
            return NULL;
        a->ptrs = n;
        a->cap = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        a->ptrs[a->n++] = p;
    return p;
}

void bk_arena_free(bk_arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
    *a = (bk_arena){0};
}
