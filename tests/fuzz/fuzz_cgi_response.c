/*
 * libFuzzer target for the CGI response header parser
 * (src/modules/cgi_response.c).
 *
 * The input is parsed three ways: whole, byte by byte, and in pieces whose
 * sizes come from the input itself.  Invariants: a call never uses more
 * than it was given and uses everything when it asks for more; all three
 * ways agree on the result, on where the body starts and on every parsed
 * field (a decision never depends on how the bytes were split); a finished
 * head respects the limits, has a status in 200-599, names that are tokens,
 * values without CR, LF or NUL, and a local redirect only for a Location
 * starting with a single '/'.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/cgi_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

typedef struct outcome {
    cgi_head_result_t rc;
    size_t used;
    cgi_head_t head;
} outcome_t;

/* Parse in pieces; piece sizes cycle through sizes[0..nsizes) (whole when
 * nsizes is 0).  The head is left for the caller to compare and free. */
static void run(const char *in, size_t n, const uint8_t *sizes, size_t nsizes, outcome_t *o)
{
    size_t k = 0;

    cgi_head_init(&o->head);
    o->rc = CGI_HEAD_MORE;
    o->used = 0;
    while (o->used < n && o->rc == CGI_HEAD_MORE) {
        size_t piece = nsizes ? (size_t)(sizes[k++ % nsizes] % 64) + 1 : n;
        size_t used = (size_t)-1;

        if (piece > n - o->used) {
            piece = n - o->used;
        }
        o->rc = cgi_head_parse(&o->head, in + o->used, piece, &used);
        CHECK(o->rc == CGI_HEAD_MORE || o->rc == CGI_HEAD_DONE || o->rc == CGI_HEAD_ERROR);
        CHECK(used <= piece);
        CHECK(o->rc != CGI_HEAD_MORE || used == piece);
        o->used += used;
    }
    if (o->rc == CGI_HEAD_MORE) {
        o->rc = cgi_head_finish(&o->head);
        CHECK(o->rc == CGI_HEAD_ERROR);
    }
    CHECK((o->rc == CGI_HEAD_ERROR) == (o->head.error != NULL));
}

static bool is_token(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr("!#$%&'*+-.^_`|~", c) == NULL) {
            return false;
        }
    }
    return true;
}

static bool is_value(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return false;
        }
    }
    return true;
}

static void check_done(const outcome_t *o)
{
    const cgi_head_t *h = &o->head;

    CHECK(o->used <= CGI_RESPONSE_MAX_HEAD);
    CHECK(h->status >= 200 && h->status <= 599);
    CHECK(h->header_count <= CGI_RESPONSE_MAX_HEADERS);
    CHECK(strlen(h->reason) < sizeof(h->reason));
    CHECK(is_value(h->reason));
    for (size_t i = 0; i < h->header_count; i++) {
        CHECK(is_token(h->headers[i].name));
        CHECK(is_value(h->headers[i].value));
    }
    if (h->location != NULL) {
        CHECK(h->location[0] != '\0' && is_value(h->location));
    }
    CHECK(!h->local_redirect ||
          (h->location != NULL && h->location[0] == '/' && h->location[1] != '/'));
}

static void same(const outcome_t *a, const outcome_t *b)
{
    CHECK(a->rc == b->rc);
    if (a->rc != CGI_HEAD_DONE) {
        return;
    }
    CHECK(a->used == b->used);
    CHECK(a->head.status == b->head.status);
    CHECK(strcmp(a->head.reason, b->head.reason) == 0);
    CHECK(a->head.local_redirect == b->head.local_redirect);
    CHECK((a->head.location == NULL) == (b->head.location == NULL));
    CHECK(a->head.location == NULL || strcmp(a->head.location, b->head.location) == 0);
    CHECK(a->head.header_count == b->head.header_count);
    for (size_t i = 0; i < a->head.header_count; i++) {
        CHECK(strcmp(a->head.headers[i].name, b->head.headers[i].name) == 0);
        CHECK(strcmp(a->head.headers[i].value, b->head.headers[i].value) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t one[1] = {0};
    const char *in = (const char *)data;
    outcome_t *oa = malloc(sizeof(*oa)), *ob = malloc(sizeof(*ob)), *oc = malloc(sizeof(*oc));

    CHECK(oa && ob && oc);
    run(in, size, NULL, 0, oa);
    run(in, size, one, 1, ob);
    run(in, size, data, size < 8 ? size : 8, oc);
    same(oa, ob);
    same(oa, oc);
    if (oa->rc == CGI_HEAD_DONE) {
        check_done(oa);
        CHECK(oa->used >= 1 && data[oa->used - 1] == '\n');
    }
    cgi_head_free(&oa->head);
    cgi_head_free(&ob->head);
    cgi_head_free(&oc->head);
    free(oa);
    free(ob);
    free(oc);
    return 0;
}
