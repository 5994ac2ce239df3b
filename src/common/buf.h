/* Growable byte buffer with a read offset, for socket I/O and encoding. */
#ifndef WASP_BUF_H
#define WASP_BUF_H

#include <stddef.h>

typedef struct wasp_buf {
    char *data;
    size_t start; /* first unread byte */
    size_t len;   /* end of data (absolute) */
    size_t cap;
} wasp_buf_t;

static inline char *wasp_buf_ptr(const wasp_buf_t *b) { return b->data + b->start; }
static inline size_t wasp_buf_size(const wasp_buf_t *b) { return b->len - b->start; }

/* Make room for at least n more bytes at the end; 0 or -1 (ENOMEM). */
int wasp_buf_reserve(wasp_buf_t *b, size_t n);
int wasp_buf_append(wasp_buf_t *b, const void *p, size_t n);
int wasp_buf_appendf(wasp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wasp_buf_consume(wasp_buf_t *b, size_t n);
void wasp_buf_reset(wasp_buf_t *b);
void wasp_buf_free(wasp_buf_t *b);

#endif
