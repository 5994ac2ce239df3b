/*
 * libFuzzer target for the FastCGI decoder (src/modules/fcgi_proto.c): the
 * input is what an application might send back on the connection.
 *
 * It is decoded three ways: whole, byte by byte, and in pieces whose sizes
 * come from the input itself; every piece is copied into an allocation of
 * exactly its size, so ASan catches a read past the bytes handed over.
 * Invariants per call: no more consumed than given; FCGI_EV_NONE consumed
 * everything; a STDOUT/STDERR event is non-empty and is exactly the last
 * bytes consumed from the piece (so it lies inside the caller's buffer);
 * END comes at most once and only an error may follow it; an error has a
 * message.  The three ways agree on the bytes consumed, the error, the END
 * fields, the STDOUT and STDERR data and the order the streams came in (a
 * decision never depends on how the bytes were split).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modules/fcgi_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

typedef struct outcome {
    char *out, *err; /* STDOUT and STDERR data, at most the input's size each */
    size_t out_len, err_len;
    char kinds[64];  /* event kinds in order, a run of one kind kept once */
    size_t nkinds;
    char last;
    size_t consumed;
    int ended;
    uint32_t app_status;
    uint8_t protocol_status;
    const char *error;
} outcome_t;

static void note_kind(outcome_t *o, char k)
{
    if (o->nkinds == 0 || o->last != k) {
        /* Past the array only the count is kept: it still has to agree. */
        if (o->nkinds < sizeof(o->kinds)) {
            o->kinds[o->nkinds] = k;
        }
        o->nkinds++;
        o->last = k;
    }
}

/* Hand one piece to the decoder until it is used up or an error comes. */
static void feed(fcgi_decoder_t *d, const char *piece, size_t len, outcome_t *o)
{
    size_t at = 0;

    while (o->error == NULL) {
        size_t used = (size_t)-1;
        fcgi_event_t ev = fcgi_decode(d, piece + at, len - at, &used);

        CHECK(used <= len - at);
        at += used;
        o->consumed += used;
        switch (ev.kind) {
        case FCGI_EV_NONE:
            CHECK(at == len);
            return;
        case FCGI_EV_STDOUT:
        case FCGI_EV_STDERR:
            CHECK(!o->ended);
            CHECK(ev.len > 0 && ev.len <= used);
            CHECK(ev.data == piece + at - ev.len);
            if (ev.kind == FCGI_EV_STDOUT) {
                memcpy(o->out + o->out_len, ev.data, ev.len);
                o->out_len += ev.len;
            } else {
                memcpy(o->err + o->err_len, ev.data, ev.len);
                o->err_len += ev.len;
            }
            note_kind(o, ev.kind == FCGI_EV_STDOUT ? 'O' : 'E');
            break;
        case FCGI_EV_END:
            CHECK(!o->ended);
            CHECK(used >= 1);
            o->ended = 1;
            o->app_status = ev.app_status;
            o->protocol_status = ev.protocol_status;
            note_kind(o, 'X');
            break;
        case FCGI_EV_ERROR:
            CHECK(ev.message != NULL);
            o->error = ev.message;
            break;
        default:
            CHECK(!"unknown event kind");
        }
    }
}

/* Decode data[0..size) in pieces; sizes[] cycles (nsizes 0: one piece). */
static void run(const uint8_t *data, size_t size, const uint8_t *sizes, size_t nsizes,
                outcome_t *o)
{
    fcgi_decoder_t d;
    size_t from = 0, k = 0;

    fcgi_decoder_init(&d, 1);
    do {
        size_t piece = nsizes ? (size_t)(sizes[k++ % nsizes] % 32) + 1 : size;
        char *copy;

        if (piece > size - from) {
            piece = size - from;
        }
        copy = malloc(piece ? piece : 1);
        CHECK(copy != NULL);
        memcpy(copy, data + from, piece);
        feed(&d, copy, piece, o);
        free(copy);
        from += piece;
    } while (from < size && o->error == NULL);
    CHECK(o->consumed <= size);
    CHECK(o->error != NULL || o->consumed == size);
}

static void outcome_init(outcome_t *o, size_t size)
{
    memset(o, 0, sizeof(*o));
    o->out = malloc(size + 1);
    o->err = malloc(size + 1);
    CHECK(o->out != NULL && o->err != NULL);
}

static void outcome_free(outcome_t *o)
{
    free(o->out);
    free(o->err);
}

static void check_same(const outcome_t *a, const outcome_t *b)
{
    size_t nk = a->nkinds < sizeof(a->kinds) ? a->nkinds : sizeof(a->kinds);

    CHECK(a->consumed == b->consumed);
    CHECK(a->error == b->error);
    CHECK(a->ended == b->ended);
    CHECK(a->app_status == b->app_status);
    CHECK(a->protocol_status == b->protocol_status);
    CHECK(a->nkinds == b->nkinds);
    CHECK(memcmp(a->kinds, b->kinds, nk) == 0);
    CHECK(a->out_len == b->out_len && memcmp(a->out, b->out, a->out_len) == 0);
    CHECK(a->err_len == b->err_len && memcmp(a->err, b->err, a->err_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t one[1] = {0};
    outcome_t whole, bytes, pieces;

    outcome_init(&whole, size);
    outcome_init(&bytes, size);
    outcome_init(&pieces, size);
    run(data, size, NULL, 0, &whole);
    run(data, size, one, 1, &bytes);
    run(data, size, data, size < 8 ? size : 8, &pieces);

    /* Data plus the 8-byte headers never exceed what was consumed. */
    CHECK(whole.out_len + whole.err_len <= whole.consumed);
    check_same(&whole, &bytes);
    check_same(&whole, &pieces);

    outcome_free(&whole);
    outcome_free(&bytes);
    outcome_free(&pieces);
    return 0;
}
