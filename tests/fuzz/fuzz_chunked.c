/*
 * libFuzzer target for the chunked decoder (src/listener/chunked.c).
 *
 * The input is decoded three ways: whole and in place, byte by byte into a
 * separate buffer, and in pieces whose sizes come from the input itself.
 * Invariants: every call writes no more than it consumed and consumes no
 * more than it was given; "more" (0) means everything was consumed; all
 * three ways agree on the result, the bytes consumed and the decoded data
 * (a framing decision never depends on how the bytes were split); total
 * equals the decoded length.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/h1_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

typedef struct outcome {
    int rc;
    size_t consumed;
    size_t out_len;
    uint64_t total;
} outcome_t;

/* Decode in[0..n) in pieces; piece sizes cycle through sizes[0..nsizes).
 * dst == NULL means in place.  Decoded data is gathered into acc. */
static outcome_t run(char *in, size_t n, const uint8_t *sizes, size_t nsizes, char *dst,
                     char *acc)
{
    wasp_chunked_t c;
    outcome_t o = {0, 0, 0, 0};
    size_t k = 0;

    wasp_chunked_init(&c);
    while (o.consumed < n) {
        size_t piece = nsizes ? (size_t)(sizes[k++ % nsizes] % 16) + 1 : n;
        size_t used, wrote;
        char *out;

        if (piece > n - o.consumed) {
            piece = n - o.consumed;
        }
        out = dst != NULL ? dst : in + o.consumed;
        o.rc = wasp_chunked_decode(&c, in + o.consumed, piece, &used, out, &wrote);
        CHECK(o.rc >= -1 && o.rc <= 1);
        CHECK(used <= piece);
        CHECK(wrote <= used);
        CHECK(o.rc != 0 || used == piece);
        memmove(acc + o.out_len, out, wrote);
        o.out_len += wrote;
        o.consumed += used;
        if (o.rc != 0) {
            break;
        }
    }
    o.total = c.total;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *a = malloc(size + 1), *b = malloc(size + 1), *tmp = malloc(size + 1);
    char *acc_a = malloc(size + 1), *acc_b = malloc(size + 1), *acc_c = malloc(size + 1);
    static const uint8_t one[1] = {0};
    outcome_t oa, ob, oc;

    CHECK(a && b && tmp && acc_a && acc_b && acc_c);
    memcpy(a, data, size);
    memcpy(b, data, size);

    oa = run(a, size, NULL, 0, NULL, acc_a);
    ob = run(b, size, one, 1, tmp, acc_b);
    memcpy(b, data, size);
    oc = run(b, size, data, size < 8 ? size : 8, NULL, acc_c);

    CHECK(oa.out_len <= oa.consumed);
    CHECK(oa.total == oa.out_len);
    CHECK(oa.rc == ob.rc && oa.rc == oc.rc);
    CHECK(oa.consumed == ob.consumed && oa.consumed == oc.consumed);
    CHECK(oa.out_len == ob.out_len && oa.out_len == oc.out_len);
    CHECK(memcmp(acc_a, acc_b, oa.out_len) == 0);
    CHECK(memcmp(acc_a, acc_c, oa.out_len) == 0);
    if (oa.rc == 1) {
        CHECK(oa.consumed >= 5); /* "0\r\n\r\n" */
        CHECK(memcmp(data + oa.consumed - 2, "\r\n", 2) == 0);
    }

    free(a);
    free(b);
    free(tmp);
    free(acc_a);
    free(acc_b);
    free(acc_c);
    return 0;
}
