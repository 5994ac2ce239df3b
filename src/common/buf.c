/* Growable byte buffer (see buf.h). */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wasp_buf_reserve(wasp_buf_t *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->cap - b->len >= n) {
        return 0;
    }
    /* Reclaim consumed space first: cheaper than growing. */
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->len - b->start);
        b->len -= b->start;
        b->start = 0;
        if (b->cap - b->len >= n) {
            return 0;
        }
    }
    need = b->len + n;
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int wasp_buf_append(wasp_buf_t *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (wasp_buf_reserve(b, n) != 0) {
        return -1;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int wasp_buf_appendf(wasp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || wasp_buf_reserve(b, (size_t)n + 1) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void wasp_buf_consume(wasp_buf_t *b, size_t n)
{
    b->start += n;
    if (b->start >= b->len) {
        b->start = b->len = 0;
    }
}

void wasp_buf_reset(wasp_buf_t *b)
{
    b->start = b->len = 0;
}

void wasp_buf_free(wasp_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->len = b->cap = 0;
}
