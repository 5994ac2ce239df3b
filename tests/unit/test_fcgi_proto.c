/*
 * FastCGI wire protocol (src/modules/fcgi_proto.c): the records wasp writes
 * are read back with a small independent reader written here from the
 * specification (record layer and name-value pairs), and the decoder is fed
 * hand-built application output split at every position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/fcgi_proto.h"

/* ---- an independent record reader --------------------------------------- */

typedef struct rec {
    uint8_t type;
    uint16_t id;
    const uint8_t *content;
    size_t clen;
    size_t plen;
} rec_t;

/* Read the record at b[*at] and check the framing wasp promises: version
 * 1, reserved 0, zero padding to a multiple of 8, content + padding within
 * the 65535 bytes php-cgi accepts, content within FCGI_RECORD_CHUNK. */
static void rd_record(const wasp_buf_t *b, size_t *at, rec_t *r)
{
    const uint8_t *p = (const uint8_t *)wasp_buf_ptr(b) + *at;
    size_t n = wasp_buf_size(b) - *at;

    assert_true(n >= 8);
    assert_int_equal(p[0], 1);
    r->type = p[1];
    r->id = (uint16_t)(p[2] << 8 | p[3]);
    r->clen = (size_t)p[4] << 8 | p[5];
    r->plen = p[6];
    assert_int_equal(p[7], 0);
    assert_true(n >= 8 + r->clen + r->plen);
    assert_int_equal((r->clen + r->plen) % 8, 0);
    assert_true(r->plen < 8);
    assert_true(r->clen <= FCGI_RECORD_CHUNK);
    assert_true(r->clen + r->plen <= 65535);
    for (size_t i = 0; i < r->plen; i++) {
        assert_int_equal(p[8 + r->clen + i], 0);
    }
    r->content = p + 8;
    *at += 8 + r->clen + r->plen;
}

/* Read a whole stream of one type (records until the empty one) into out;
 * returns the number of records, the empty one included. */
static size_t rd_stream(const wasp_buf_t *b, size_t *at, uint8_t type, uint16_t id, wasp_buf_t *out)
{
    size_t count = 0;
    rec_t r;

    do {
        rd_record(b, at, &r);
        assert_int_equal(r.type, type);
        assert_int_equal(r.id, id);
        assert_int_equal(wasp_buf_append(out, r.content, r.clen), 0);
        count++;
    } while (r.clen > 0);
    return count;
}

typedef struct pair {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} pair_t;

static size_t rd_length(const uint8_t *p, size_t n, size_t *at)
{
    size_t len;

    assert_true(*at < n);
    if (p[*at] < 128) {
        return p[(*at)++];
    }
    assert_true(n - *at >= 4);
    len = (size_t)(p[*at] & 0x7f) << 24 | (size_t)p[*at + 1] << 16 | (size_t)p[*at + 2] << 8 |
          p[*at + 3];
    assert_true(len >= 128); /* the 4-byte form only where the 1-byte one cannot do */
    *at += 4;
    return len;
}

/* Parse name-value pairs filling exactly p[0..n); returns how many. */
static size_t rd_pairs(const uint8_t *p, size_t n, pair_t *pairs, size_t max)
{
    size_t at = 0, count = 0;

    while (at < n) {
        pair_t q;

        q.name_len = rd_length(p, n, &at);
        q.value_len = rd_length(p, n, &at);
        assert_true(q.name_len <= n - at && q.value_len <= n - at - q.name_len);
        q.name = p + at;
        q.value = p + at + q.name_len;
        at += q.name_len + q.value_len;
        if (pairs != NULL) {
            assert_true(count < max);
            pairs[count] = q;
        }
        count++;
    }
    return count;
}

static void assert_pair(const pair_t *q, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    assert_int_equal(q->name_len, name_len);
    assert_int_equal(q->value_len, value_len);
    assert_memory_equal(q->name, name, name_len);
    assert_memory_equal(q->value, value, value_len);
}

/* ---- encoding ------------------------------------------------------------ */

static void test_encode_begin_abort(void **state)
{
    static const uint8_t keep[] = {1, 1, 0x12, 0x34, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
    static const uint8_t close[] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    static const uint8_t abort_rec[] = {1, 2, 0, 1, 0, 0, 0, 0};
    wasp_buf_t b = {0};

    assert_int_equal(fcgi_encode_begin(&b, 0x1234, true), 0);
    assert_int_equal(wasp_buf_size(&b), sizeof(keep));
    assert_memory_equal(wasp_buf_ptr(&b), keep, sizeof(keep));
    wasp_buf_reset(&b);
    assert_int_equal(fcgi_encode_begin(&b, 1, false), 0);
    assert_memory_equal(wasp_buf_ptr(&b), close, sizeof(close));
    wasp_buf_reset(&b);
    assert_int_equal(fcgi_encode_abort(&b, 1), 0);
    assert_int_equal(wasp_buf_size(&b), sizeof(abort_rec));
    assert_memory_equal(wasp_buf_ptr(&b), abort_rec, sizeof(abort_rec));
    wasp_buf_free(&b);
}

/* Encoders append: what the buffer held (even past a consumed prefix) stays. */
static void test_encode_appends(void **state)
{
    wasp_buf_t b = {0};
    size_t at = 4;
    rec_t r;

    assert_int_equal(wasp_buf_append(&b, "xxxxkeep", 8), 0);
    wasp_buf_consume(&b, 4);
    assert_int_equal(fcgi_encode_stdin(&b, 7, "abc", 3), 0);
    assert_int_equal(fcgi_encode_stdin(&b, 7, NULL, 0), 0);
    assert_memory_equal(wasp_buf_ptr(&b), "keep", 4);
    rd_record(&b, &at, &r);
    assert_int_equal(r.type, FCGI_STDIN);
    assert_int_equal(r.id, 7);
    assert_int_equal(r.clen, 3);
    assert_int_equal(r.plen, 5);
    assert_memory_equal(r.content, "abc", 3);
    rd_record(&b, &at, &r);
    assert_int_equal(r.clen, 0);
    assert_int_equal(r.plen, 0);
    assert_int_equal(at, wasp_buf_size(&b));
    wasp_buf_free(&b);
}

static void test_params_exact_bytes(void **state)
{
    static const char expect[] = "\x01\x04\x00\x01\x00\x25\x03\x00"
                                 "\x0f\x12SCRIPT_FILENAME/var/www/index.php"
                                 "\x00\x00"
                                 "\x00\x00\x00"
                                 "\x01\x04\x00\x01\x00\x00\x00\x00";
    fcgi_params_t p = {0};
    wasp_buf_t b = {0};

    assert_int_equal(fcgi_params_add(&p, "SCRIPT_FILENAME", 15, "/var/www/index.php", 18), 0);
    assert_int_equal(fcgi_params_add(&p, NULL, 0, NULL, 0), 0); /* empty name and value */
    assert_int_equal(fcgi_encode_params(&b, 1, &p), 0);
    assert_int_equal(wasp_buf_size(&b), sizeof(expect) - 1);
    assert_memory_equal(wasp_buf_ptr(&b), expect, sizeof(expect) - 1);
    fcgi_params_free(&p);
    assert_null(p.body.data);
    wasp_buf_free(&b);
}

static void test_params_none(void **state)
{
    static const uint8_t expect[] = {1, 4, 0, 1, 0, 0, 0, 0};
    fcgi_params_t p = {0};
    wasp_buf_t b = {0};

    assert_int_equal(fcgi_encode_params(&b, 1, &p), 0);
    assert_int_equal(wasp_buf_size(&b), sizeof(expect));
    assert_memory_equal(wasp_buf_ptr(&b), expect, sizeof(expect));
    wasp_buf_free(&b);
}

/* Length prefixes: 1 byte below 128, 4 bytes (high bit set) from 128 on. */
static void test_params_length_forms(void **state)
{
    static const struct {
        size_t len;
        uint8_t prefix[4];
        size_t prefix_len;
    } cases[] = {
        {0, {0}, 1},
        {1, {1}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0, 0, 0x80}, 4},
        {255, {0x80, 0, 0, 0xff}, 4},
        {65535, {0x80, 0, 0xff, 0xff}, 4},
        {65536, {0x80, 1, 0, 0}, 4},
        {200000, {0x80, 0x03, 0x0d, 0x40}, 4},
    };
    size_t big = 200000;
    char *text = malloc(big);

    assert_non_null(text);
    for (size_t i = 0; i < big; i++) {
        text[i] = (char)('a' + i % 26);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len, plen = cases[i].prefix_len;
        fcgi_params_t p = {0};
        const uint8_t *body;

        /* as the name, then as the value */
        assert_int_equal(fcgi_params_add(&p, text, len, "v", 1), 0);
        assert_int_equal(fcgi_params_add(&p, "n", 1, text, len), 0);
        body = (const uint8_t *)wasp_buf_ptr(&p.body);
        assert_int_equal(wasp_buf_size(&p.body), 2 * (plen + 1 + len + 1));
        assert_memory_equal(body, cases[i].prefix, plen);
        assert_int_equal(body[plen], 1);
        body += plen + 1 + len + 1;
        assert_int_equal(body[0], 1);
        assert_memory_equal(body + 1, cases[i].prefix, plen);
        fcgi_params_free(&p);
    }
    free(text);
}

static void test_params_reject_huge(void **state)
{
    fcgi_params_t p = {0};
    size_t before;

    assert_int_equal(fcgi_params_add(&p, "A", 1, "1", 1), 0);
    before = wasp_buf_size(&p.body);
    /* Lengths are checked before anything is read or allocated. */
    assert_int_equal(fcgi_params_add(&p, "N", (size_t)1 << 31, "v", 1), -1);
    assert_int_equal(fcgi_params_add(&p, "N", 1, "v", (size_t)1 << 31), -1);
    assert_int_equal(fcgi_params_add(&p, "N", SIZE_MAX, "v", 1), -1);
    assert_int_equal(fcgi_params_add(&p, "N", 1, "v", SIZE_MAX), -1);
    assert_int_equal(wasp_buf_size(&p.body), before);
    assert_memory_equal(wasp_buf_ptr(&p.body), "\x01\x01" "A1", 4);
    fcgi_params_free(&p);
}

/* Thousands of pairs: several records, each ending at a pair boundary (so
 * php-cgi, which parses every PARAMS record on its own, can read them). */
static void test_params_many_records(void **state)
{
    enum { N = 3000 };
    static pair_t got[N];
    char *value = malloc(400);
    fcgi_params_t p = {0};
    wasp_buf_t b = {0}, all = {0};
    size_t at = 0, records = 0, pairs = 0;
    rec_t r;

    assert_non_null(value);
    memset(value, 'v', 400);
    for (int i = 0; i < N; i++) {
        char name[32];
        int n = snprintf(name, sizeof(name), "HTTP_X_HEADER_%d", i);
        assert_int_equal(fcgi_params_add(&p, name, (size_t)n, value, (size_t)(i * 37 % 400)), 0);
    }
    assert_int_equal(fcgi_encode_params(&b, 1, &p), 0);
    do {
        rd_record(&b, &at, &r);
        assert_int_equal(r.type, FCGI_PARAMS);
        assert_int_equal(r.id, 1);
        pairs += rd_pairs(r.content, r.clen, NULL, 0); /* whole pairs in every record */
        assert_int_equal(wasp_buf_append(&all, r.content, r.clen), 0);
        records++;
    } while (r.clen > 0);
    assert_int_equal(at, wasp_buf_size(&b));
    assert_true(records > 4);
    assert_int_equal(pairs, N);
    assert_int_equal(rd_pairs((const uint8_t *)wasp_buf_ptr(&all), wasp_buf_size(&all), got, N), N);
    for (int i = 0; i < N; i++) {
        char name[32];
        int n = snprintf(name, sizeof(name), "HTTP_X_HEADER_%d", i);
        assert_pair(&got[i], name, (size_t)n, value, (size_t)(i * 37 % 400));
    }
    fcgi_params_free(&p);
    wasp_buf_free(&b);
    wasp_buf_free(&all);
    free(value);
}

/* A pair that fills a record exactly, and one a byte longer: a record is
 * closed before a pair that does not fit, and only a pair longer than a
 * whole record is cut across records. */
static void test_params_record_boundaries(void **state)
{
    /* name length (1 byte) + value length (4) + name (11) + value = FCGI_RECORD_CHUNK */
    size_t fit = FCGI_RECORD_CHUNK - 1 - 4 - 11;
    char *value = malloc(fit + 1);
    fcgi_params_t p = {0};
    wasp_buf_t b = {0}, all = {0};
    size_t at = 0;
    pair_t got[4];
    rec_t r;

    assert_non_null(value);
    memset(value, 'c', fit + 1);
    assert_int_equal(fcgi_params_add(&p, "A", 1, "1", 1), 0);
    assert_int_equal(fcgi_params_add(&p, "HTTP_COOKIE", 11, value, fit), 0);
    assert_int_equal(fcgi_params_add(&p, "HTTP_COOKIE", 11, value, fit + 1), 0);
    assert_int_equal(fcgi_params_add(&p, "B", 1, "2", 1), 0);
    assert_int_equal(fcgi_encode_params(&b, 1, &p), 0);

    rd_record(&b, &at, &r); /* "A": the next pair would not fit behind it */
    assert_int_equal(r.clen, 4);
    assert_int_equal(wasp_buf_append(&all, r.content, r.clen), 0);
    rd_record(&b, &at, &r); /* exactly one record, no padding */
    assert_int_equal(r.clen, FCGI_RECORD_CHUNK);
    assert_int_equal(r.plen, 0);
    assert_int_equal(wasp_buf_append(&all, r.content, r.clen), 0);
    rd_record(&b, &at, &r); /* one byte too long: cut */
    assert_int_equal(r.clen, FCGI_RECORD_CHUNK);
    assert_int_equal(wasp_buf_append(&all, r.content, r.clen), 0);
    rd_record(&b, &at, &r); /* its last byte, then "B" behind it */
    assert_int_equal(r.clen, 1 + 4);
    assert_int_equal(r.plen, 3);
    assert_int_equal(wasp_buf_append(&all, r.content, r.clen), 0);
    rd_record(&b, &at, &r);
    assert_int_equal(r.clen, 0);
    assert_int_equal(at, wasp_buf_size(&b));

    assert_int_equal(rd_pairs((const uint8_t *)wasp_buf_ptr(&all), wasp_buf_size(&all), got, 4), 4);
    assert_pair(&got[0], "A", 1, "1", 1);
    assert_pair(&got[1], "HTTP_COOKIE", 11, value, fit);
    assert_pair(&got[2], "HTTP_COOKIE", 11, value, fit + 1);
    assert_pair(&got[3], "B", 1, "2", 1);
    fcgi_params_free(&p);
    wasp_buf_free(&b);
    wasp_buf_free(&all);
    free(value);
}

/* Long names and values (127, 128, 65535 and more) survive the round trip,
 * the longest ones spanning records. */
static void test_params_long_round_trip(void **state)
{
    static const size_t sizes[] = {0, 1, 127, 128, 65535, 65536, 65528, 300000};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    size_t max = 300000;
    char *name = malloc(max), *value = malloc(max);
    fcgi_params_t p = {0};
    wasp_buf_t b = {0}, all = {0};
    pair_t got[2 * N];
    size_t at = 0, records;

    assert_non_null(name);
    assert_non_null(value);
    for (size_t i = 0; i < max; i++) {
        name[i] = (char)('A' + i % 26);
        value[i] = (char)(i * 7);
    }
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(fcgi_params_add(&p, name, sizes[i], value, sizes[N - 1 - i]), 0);
        assert_int_equal(fcgi_params_add(&p, name, sizes[i], value, sizes[i]), 0);
    }
    assert_int_equal(fcgi_encode_params(&b, 9, &p), 0);
    records = rd_stream(&b, &at, FCGI_PARAMS, 9, &all);
    assert_int_equal(at, wasp_buf_size(&b));
    assert_true(records >= 2 * 300000 / FCGI_RECORD_CHUNK);
    assert_int_equal(rd_pairs((const uint8_t *)wasp_buf_ptr(&all), wasp_buf_size(&all), got, 2 * N),
                     2 * N);
    for (size_t i = 0; i < N; i++) {
        assert_pair(&got[2 * i], name, sizes[i], value, sizes[N - 1 - i]);
        assert_pair(&got[2 * i + 1], name, sizes[i], value, sizes[i]);
    }
    fcgi_params_free(&p);
    wasp_buf_free(&b);
    wasp_buf_free(&all);
    free(name);
    free(value);
}

static void test_stdin_chunking(void **state)
{
    static const size_t sizes[] = {0, 1, 7, 8, 65528, 65529, 65535, 65536, 200000};
    size_t max = 200000;
    char *data = malloc(max);

    assert_non_null(data);
    for (size_t i = 0; i < max; i++) {
        data[i] = (char)(i * 31 + i / 251);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = sizes[i], at = 0, records, left = len;
        wasp_buf_t b = {0}, all = {0};
        rec_t r;

        if (len > 0) {
            assert_int_equal(fcgi_encode_stdin(&b, 1, data, len), 0);
        }
        assert_int_equal(fcgi_encode_stdin(&b, 1, data, 0), 0); /* the end of the stream */
        records = rd_stream(&b, &at, FCGI_STDIN, 1, &all);
        assert_int_equal(at, wasp_buf_size(&b));
        assert_int_equal(records, (len + FCGI_RECORD_CHUNK - 1) / FCGI_RECORD_CHUNK + 1);
        assert_int_equal(wasp_buf_size(&all), len);
        if (len > 0) {
            assert_memory_equal(wasp_buf_ptr(&all), data, len);
        }
        /* every record full but the last data one */
        at = 0;
        for (size_t k = 0; k + 1 < records; k++) {
            rd_record(&b, &at, &r);
            assert_int_equal(r.clen, left < FCGI_RECORD_CHUNK ? left : FCGI_RECORD_CHUNK);
            assert_int_equal(r.plen, (8 - r.clen % 8) % 8);
            left -= r.clen;
        }
        wasp_buf_free(&b);
        wasp_buf_free(&all);
    }
    free(data);
}

/* A whole request as FastCgiModule writes it. */
static void test_request_round_trip(void **state)
{
    fcgi_params_t p = {0};
    wasp_buf_t b = {0}, params = {0}, in = {0};
    pair_t got[3];
    size_t at = 0;
    rec_t r;

    assert_int_equal(fcgi_params_add(&p, "REQUEST_METHOD", 14, "POST", 4), 0);
    assert_int_equal(fcgi_params_add(&p, "CONTENT_LENGTH", 14, "11", 2), 0);
    assert_int_equal(fcgi_params_add(&p, "QUERY_STRING", 12, "", 0), 0);
    assert_int_equal(fcgi_encode_begin(&b, 1, true), 0);
    assert_int_equal(fcgi_encode_params(&b, 1, &p), 0);
    assert_int_equal(fcgi_encode_stdin(&b, 1, "hello world", 11), 0);
    assert_int_equal(fcgi_encode_stdin(&b, 1, NULL, 0), 0);

    rd_record(&b, &at, &r);
    assert_int_equal(r.type, FCGI_BEGIN_REQUEST);
    assert_int_equal(r.clen, 8);
    assert_memory_equal(r.content, "\x00\x01\x01\x00\x00\x00\x00\x00", 8);
    assert_int_equal(rd_stream(&b, &at, FCGI_PARAMS, 1, &params), 2);
    assert_int_equal(
        rd_pairs((const uint8_t *)wasp_buf_ptr(&params), wasp_buf_size(&params), got, 3), 3);
    assert_pair(&got[0], "REQUEST_METHOD", 14, "POST", 4);
    assert_pair(&got[1], "CONTENT_LENGTH", 14, "11", 2);
    assert_pair(&got[2], "QUERY_STRING", 12, "", 0);
    assert_int_equal(rd_stream(&b, &at, FCGI_STDIN, 1, &in), 2);
    assert_int_equal(wasp_buf_size(&in), 11);
    assert_memory_equal(wasp_buf_ptr(&in), "hello world", 11);
    assert_int_equal(at, wasp_buf_size(&b));
    fcgi_params_free(&p);
    wasp_buf_free(&b);
    wasp_buf_free(&params);
    wasp_buf_free(&in);
}

/* ---- decoding ------------------------------------------------------------ */

/* Application output built by hand, with any padding and reserved bytes. */
static void put_rec(wasp_buf_t *b, uint8_t version, uint8_t type, uint16_t id, const void *content,
                    size_t clen, size_t plen)
{
    uint8_t h[8] = {version, type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(clen >> 8),
                    (uint8_t)clen, (uint8_t)plen, 0};
    static const char pad[255] = "padding is not content";

    assert_true(clen <= 65535 && plen <= 255);
    assert_int_equal(wasp_buf_append(b, h, 8), 0);
    assert_int_equal(wasp_buf_append(b, content, clen), 0);
    assert_int_equal(wasp_buf_append(b, pad, plen), 0);
}

static void put_out(wasp_buf_t *b, uint8_t type, const char *s)
{
    size_t n = strlen(s);
    put_rec(b, 1, type, 1, s, n, (8 - n % 8) % 8);
}

static void put_end(wasp_buf_t *b, uint16_t id, uint32_t app, uint8_t proto, size_t plen)
{
    uint8_t body[8] = {(uint8_t)(app >> 24), (uint8_t)(app >> 16), (uint8_t)(app >> 8),
                       (uint8_t)app, proto, 0xaa, 0xbb, 0xcc}; /* reserved bytes ignored */
    put_rec(b, 1, FCGI_END_REQUEST, id, body, 8, plen);
}

typedef struct outcome {
    wasp_buf_t out, err;
    char kinds[64]; /* event kinds in order, a run of one kind written once */
    size_t nkinds;
    size_t consumed;
    bool ended;
    uint32_t app_status;
    uint8_t protocol_status;
    const char *error;
} outcome_t;

static void note_kind(outcome_t *o, char k)
{
    if (o->nkinds == 0 || o->kinds[o->nkinds - 1] != k) {
        assert_true(o->nkinds < sizeof(o->kinds));
        o->kinds[o->nkinds++] = k;
    }
}

/* Feed one piece until it is used up (or an error), checking that every
 * data event points at the bytes just consumed from this piece. */
static void feed(fcgi_decoder_t *d, const char *piece, size_t len, outcome_t *o)
{
    size_t at = 0;

    while (o->error == NULL) {
        size_t used = 12345;
        fcgi_event_t ev = fcgi_decode(d, piece + at, len - at, &used);

        assert_true(used <= len - at);
        o->consumed += used;
        at += used;
        switch (ev.kind) {
        case FCGI_EV_NONE:
            assert_int_equal(at, len);
            return;
        case FCGI_EV_STDOUT:
        case FCGI_EV_STDERR:
            assert_true(ev.len > 0);
            assert_ptr_equal(ev.data + ev.len, piece + at);
            assert_true(ev.data >= piece);
            assert_int_equal(wasp_buf_append(ev.kind == FCGI_EV_STDOUT ? &o->out : &o->err, ev.data,
                                             ev.len),
                             0);
            note_kind(o, ev.kind == FCGI_EV_STDOUT ? 'O' : 'E');
            break;
        case FCGI_EV_END:
            assert_false(o->ended);
            o->ended = true;
            o->app_status = ev.app_status;
            o->protocol_status = ev.protocol_status;
            note_kind(o, 'X');
            break;
        case FCGI_EV_ERROR:
            assert_non_null(ev.message);
            o->error = ev.message;
            break;
        default:
            fail_msg("unexpected event kind %d", (int)ev.kind);
        }
    }
}

/* Decode in[0..n) handed over in pieces cut at cuts[] (ascending), each
 * piece in its own exactly-sized allocation so ASan sees any over-read. */
static void decode_cuts(const char *in, size_t n, const size_t *cuts, size_t ncuts, outcome_t *o)
{
    fcgi_decoder_t d;
    size_t from = 0;

    memset(o, 0, sizeof(*o));
    fcgi_decoder_init(&d, 1);
    for (size_t k = 0; k <= ncuts && o->error == NULL; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        char *piece = malloc(to - from ? to - from : 1);

        assert_non_null(piece);
        memcpy(piece, in + from, to - from);
        feed(&d, piece, to - from, o);
        free(piece);
        from = to;
    }
}

static void outcome_free(outcome_t *o)
{
    wasp_buf_free(&o->out);
    wasp_buf_free(&o->err);
}

static void assert_same_outcome(const outcome_t *a, const outcome_t *b)
{
    assert_int_equal(a->consumed, b->consumed);
    assert_int_equal(a->nkinds, b->nkinds);
    assert_memory_equal(a->kinds, b->kinds, a->nkinds);
    assert_int_equal(wasp_buf_size(&a->out), wasp_buf_size(&b->out));
    assert_memory_equal(wasp_buf_ptr(&a->out), wasp_buf_ptr(&b->out), wasp_buf_size(&a->out));
    assert_int_equal(wasp_buf_size(&a->err), wasp_buf_size(&b->err));
    assert_memory_equal(wasp_buf_ptr(&a->err), wasp_buf_ptr(&b->err), wasp_buf_size(&a->err));
    assert_int_equal(a->ended, b->ended);
    assert_int_equal(a->app_status, b->app_status);
    assert_int_equal(a->protocol_status, b->protocol_status);
    assert_ptr_equal(a->error, b->error);
}

/* Decode whole, then split at every position, at every pair of positions
 * (short inputs only: that is quadratic) and byte by byte: always the same
 * outcome as whole. */
static void decode_every_split(const wasp_buf_t *in, outcome_t *whole)
{
    const char *p = wasp_buf_ptr(in);
    size_t n = wasp_buf_size(in);
    size_t *cuts = malloc((n + 1) * sizeof(*cuts));
    outcome_t o;

    assert_non_null(cuts);
    decode_cuts(p, n, NULL, 0, whole);
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = n <= 512 ? i : n; j <= n; j++) {
            cuts[0] = i;
            cuts[1] = j;
            decode_cuts(p, n, cuts, 2, &o);
            assert_same_outcome(whole, &o);
            outcome_free(&o);
        }
    }
    for (size_t i = 0; i + 1 < n; i++) {
        cuts[i] = i + 1;
    }
    decode_cuts(p, n, cuts, n > 0 ? n - 1 : 0, &o);
    assert_same_outcome(whole, &o);
    outcome_free(&o);
    free(cuts);
}

#define PHP_HEADERS "X-Powered-By: PHP/8.2.7\r\nContent-type: text/html; charset=UTF-8\r\n\r\n"
#define PHP_WARNING                                                                               \
    "PHP Warning:  Undefined variable $name in /var/www/html/index.php on line 3\n"
#define PHP_BODY1 "<!DOCTYPE html>\n<html><head><title>Hi</title></head>\n<body><h1>Hello, </h1>\n"
#define PHP_BODY2 "</body></html>\n"

/* php-cgi's shape: STDOUT records padded to 8, an error-log line on STDERR
 * between them, an empty STDOUT and then END_REQUEST. */
static void build_php_response(wasp_buf_t *b)
{
    put_out(b, FCGI_STDOUT, PHP_HEADERS);
    put_out(b, FCGI_STDERR, PHP_WARNING);
    put_out(b, FCGI_STDOUT, PHP_BODY1);
    put_out(b, FCGI_STDOUT, PHP_BODY2);
    put_rec(b, 1, FCGI_STDOUT, 1, NULL, 0, 0);
    put_rec(b, 1, FCGI_STDERR, 1, NULL, 0, 0);
    put_end(b, 1, 0, FCGI_REQUEST_COMPLETE, 0);
}

static void test_decode_php_response_every_split(void **state)
{
    static const char out[] = PHP_HEADERS PHP_BODY1 PHP_BODY2;
    wasp_buf_t in = {0};
    outcome_t o;

    build_php_response(&in);
    decode_every_split(&in, &o);
    assert_null(o.error);
    assert_true(o.ended);
    assert_int_equal(o.consumed, wasp_buf_size(&in));
    assert_int_equal(o.app_status, 0);
    assert_int_equal(o.protocol_status, FCGI_REQUEST_COMPLETE);
    assert_int_equal(o.nkinds, 4);
    assert_memory_equal(o.kinds, "OEOX", 4);
    assert_int_equal(wasp_buf_size(&o.out), sizeof(out) - 1);
    assert_memory_equal(wasp_buf_ptr(&o.out), out, sizeof(out) - 1);
    assert_int_equal(wasp_buf_size(&o.err), strlen(PHP_WARNING));
    assert_memory_equal(wasp_buf_ptr(&o.err), PHP_WARNING, strlen(PHP_WARNING));
    outcome_free(&o);
    wasp_buf_free(&in);
}

/* Whole in one buffer: each record is one event pointing into the buffer,
 * no copy; an empty STDOUT record consumes its header and says nothing. */
static void test_decode_events_in_place(void **state)
{
    wasp_buf_t in = {0};
    fcgi_decoder_t d;
    fcgi_event_t ev;
    const char *p;
    size_t n, used;

    build_php_response(&in);
    p = wasp_buf_ptr(&in);
    n = wasp_buf_size(&in);
    fcgi_decoder_init(&d, 1);

    ev = fcgi_decode(&d, p, n, &used);
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_ptr_equal(ev.data, p + 8);
    assert_int_equal(ev.len, strlen(PHP_HEADERS));
    assert_int_equal(used, 8 + strlen(PHP_HEADERS));
    p += used;
    n -= used;
    ev = fcgi_decode(&d, p, n, &used); /* the padding first, then STDERR */
    assert_int_equal(ev.kind, FCGI_EV_STDERR);
    assert_int_equal(ev.len, strlen(PHP_WARNING));
    assert_memory_equal(ev.data, PHP_WARNING, ev.len);
    p += used;
    n -= used;
    ev = fcgi_decode(&d, p, n, &used);
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_int_equal(ev.len, strlen(PHP_BODY1));
    p += used;
    n -= used;
    ev = fcgi_decode(&d, p, n, &used);
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_int_equal(ev.len, strlen(PHP_BODY2));
    p += used;
    n -= used;
    ev = fcgi_decode(&d, p, n, &used);
    assert_int_equal(ev.kind, FCGI_EV_END);
    assert_int_equal(used, n);
    ev = fcgi_decode(&d, p + used, 0, &used); /* nothing more: fine */
    assert_int_equal(ev.kind, FCGI_EV_NONE);
    assert_int_equal(used, 0);

    /* Empty records only: no event, all consumed. */
    wasp_buf_reset(&in);
    put_rec(&in, 1, FCGI_STDOUT, 1, NULL, 0, 0);
    put_rec(&in, 1, FCGI_STDERR, 1, NULL, 0, 0);
    fcgi_decoder_init(&d, 1);
    ev = fcgi_decode(&d, wasp_buf_ptr(&in), wasp_buf_size(&in), &used);
    assert_int_equal(ev.kind, FCGI_EV_NONE);
    assert_int_equal(used, 16);
    ev = fcgi_decode(&d, NULL, 0, &used);
    assert_int_equal(ev.kind, FCGI_EV_NONE);
    assert_int_equal(used, 0);
    wasp_buf_free(&in);
}

/* Content is handed out as it arrives: a piece per buffer. */
static void test_decode_partial_content(void **state)
{
    wasp_buf_t in = {0};
    fcgi_decoder_t d;
    fcgi_event_t ev;
    const char *p;
    size_t used;

    put_out(&in, FCGI_STDOUT, "0123456789");
    p = wasp_buf_ptr(&in);
    fcgi_decoder_init(&d, 1);
    ev = fcgi_decode(&d, p, 5, &used); /* header not complete */
    assert_int_equal(ev.kind, FCGI_EV_NONE);
    assert_int_equal(used, 5);
    ev = fcgi_decode(&d, p + 5, 7, &used); /* rest of header + 4 bytes */
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_ptr_equal(ev.data, p + 8);
    assert_int_equal(ev.len, 4);
    assert_int_equal(used, 7);
    ev = fcgi_decode(&d, p + 12, 10, &used); /* 6 more bytes and 4 of padding */
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_ptr_equal(ev.data, p + 12);
    assert_int_equal(ev.len, 6);
    assert_int_equal(used, 6);
    ev = fcgi_decode(&d, p + 18, 4, &used);
    assert_int_equal(ev.kind, FCGI_EV_NONE);
    assert_int_equal(used, 4);
    ev = fcgi_decode(&d, p + 22, 2, &used); /* the last of the padding */
    assert_int_equal(ev.kind, FCGI_EV_NONE);
    assert_int_equal(used, 2);
    assert_int_equal(d.header_have, 0);
    wasp_buf_free(&in);
}

/* Padding of any length (0..255, not only to 8) is skipped, also after
 * END_REQUEST, which is reported only once its padding is read. */
static void test_decode_padding(void **state)
{
    static const size_t pads[] = {0, 1, 7, 8, 200, 255};
    wasp_buf_t in = {0};
    outcome_t o;

    for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        put_rec(&in, 1, FCGI_STDOUT, 1, "ab", 2, pads[i]);
        put_rec(&in, 1, FCGI_STDERR, 1, "e", 1, pads[i]);
        put_rec(&in, 1, FCGI_STDOUT, 1, NULL, 0, pads[i]); /* an empty record may be padded */
    }
    put_end(&in, 1, 3, 0, 255);
    decode_every_split(&in, &o);
    assert_null(o.error);
    assert_true(o.ended);
    assert_int_equal(o.consumed, wasp_buf_size(&in));
    assert_int_equal(wasp_buf_size(&o.out), 12);
    assert_memory_equal(wasp_buf_ptr(&o.out), "abababababab", 12);
    assert_int_equal(wasp_buf_size(&o.err), 6);
    assert_int_equal(o.nkinds, 12 + 1);
    outcome_free(&o);

    /* END_REQUEST without its padding yet: not over. */
    {
        fcgi_decoder_t d;
        fcgi_event_t ev;
        size_t used;

        wasp_buf_reset(&in);
        put_end(&in, 1, 0, 0, 5);
        fcgi_decoder_init(&d, 1);
        ev = fcgi_decode(&d, wasp_buf_ptr(&in), 16, &used);
        assert_int_equal(ev.kind, FCGI_EV_NONE);
        assert_int_equal(used, 16);
        ev = fcgi_decode(&d, wasp_buf_ptr(&in) + 16, 5, &used);
        assert_int_equal(ev.kind, FCGI_EV_END);
        assert_int_equal(used, 5);
    }
    wasp_buf_free(&in);
}

/* A maximal record: 65535 bytes of content and 255 of padding. */
static void test_decode_max_record(void **state)
{
    char *content = malloc(65535);
    wasp_buf_t in = {0};
    fcgi_decoder_t d;
    fcgi_event_t ev;
    size_t used;

    assert_non_null(content);
    memset(content, 'z', 65535);
    put_rec(&in, 1, FCGI_STDOUT, 1, content, 65535, 255);
    put_end(&in, 1, 0, 0, 0);
    fcgi_decoder_init(&d, 1);
    ev = fcgi_decode(&d, wasp_buf_ptr(&in), wasp_buf_size(&in), &used);
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_int_equal(ev.len, 65535);
    assert_memory_equal(ev.data, content, 65535);
    ev = fcgi_decode(&d, wasp_buf_ptr(&in) + used, wasp_buf_size(&in) - used, &used);
    assert_int_equal(ev.kind, FCGI_EV_END);
    assert_int_equal(used, 255 + 16);
    free(content);
    wasp_buf_free(&in);
}

static void test_decode_end_fields(void **state)
{
    static const struct {
        uint32_t app;
        uint8_t proto;
    } cases[] = {
        {0, FCGI_REQUEST_COMPLETE},    {255, FCGI_REQUEST_COMPLETE},
        {0xdeadbeef, FCGI_CANT_MPX_CONN}, {0x01020304, FCGI_OVERLOADED},
        {0xffffffff, FCGI_UNKNOWN_ROLE}, {7, 200}, /* an unknown status is passed on */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wasp_buf_t in = {0};
        outcome_t o;

        put_end(&in, 1, cases[i].app, cases[i].proto, i);
        decode_every_split(&in, &o);
        assert_null(o.error);
        assert_true(o.ended);
        assert_int_equal(o.app_status, cases[i].app);
        assert_int_equal(o.protocol_status, cases[i].proto);
        assert_int_equal(o.consumed, wasp_buf_size(&in));
        assert_int_equal(wasp_buf_size(&o.out), 0);
        outcome_free(&o);
        wasp_buf_free(&in);
    }
}

/* keep-conn: one response after another on the connection, each with a
 * fresh decoder; the old one refuses the next response's bytes. */
static void test_decode_keep_conn(void **state)
{
    wasp_buf_t in = {0};
    fcgi_decoder_t d;
    fcgi_event_t ev;
    const char *p;
    size_t n, used, pos, first;

    put_out(&in, FCGI_STDOUT, "one");
    put_end(&in, 1, 0, 0, 0);
    first = wasp_buf_size(&in);
    put_out(&in, FCGI_STDOUT, "two");
    put_end(&in, 1, 1, 0, 0);
    p = wasp_buf_ptr(&in);
    n = wasp_buf_size(&in);

    fcgi_decoder_init(&d, 1);
    ev = fcgi_decode(&d, p, n, &used);
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    pos = used;
    ev = fcgi_decode(&d, p + pos, n - pos, &used);
    assert_int_equal(ev.kind, FCGI_EV_END);
    assert_int_equal(ev.app_status, 0);
    assert_int_equal(pos + used, first); /* stops right after END_REQUEST */
    ev = fcgi_decode(&d, p + first, n - first, &used);
    assert_int_equal(ev.kind, FCGI_EV_ERROR);
    assert_int_equal(used, 0);

    fcgi_decoder_init(&d, 1);
    ev = fcgi_decode(&d, p + first, n - first, &used);
    assert_int_equal(ev.kind, FCGI_EV_STDOUT);
    assert_memory_equal(ev.data, "two", 3);
    ev = fcgi_decode(&d, p + first + used, n - first - used, &used);
    assert_int_equal(ev.kind, FCGI_EV_END);
    assert_int_equal(ev.app_status, 1);
    wasp_buf_free(&in);
}

/* GET_VALUES_RESULT (request id 0) is informational: skipped. */
static void test_decode_get_values_result_ignored(void **state)
{
    static const char result[] = "\x0f\x01" "FCGI_MPXS_CONNS0" "\x0e\x01" "FCGI_MAX_CONNS1";
    wasp_buf_t in = {0};
    outcome_t o;

    put_rec(&in, 1, FCGI_GET_VALUES_RESULT, 0, result, sizeof(result) - 1, 3);
    put_out(&in, FCGI_STDOUT, "Status: 204\r\n\r\n");
    put_rec(&in, 1, FCGI_GET_VALUES_RESULT, 0, NULL, 0, 0);
    put_end(&in, 1, 0, 0, 0);
    decode_every_split(&in, &o);
    assert_null(o.error);
    assert_true(o.ended);
    assert_int_equal(o.nkinds, 2);
    assert_memory_equal(o.kinds, "OX", 2);
    assert_int_equal(wasp_buf_size(&o.out), 15);
    assert_memory_equal(wasp_buf_ptr(&o.out), "Status: 204\r\n\r\n", 15);
    outcome_free(&o);
    wasp_buf_free(&in);
}

/* An erroneous record after some good output: the output before it is
 * delivered, then the error, at the same byte for every split; the error
 * sticks. */
static void check_error(const wasp_buf_t *bad, const char *word)
{
    static const char text[] = "Content-type: text/plain\r\n\r\nok";
    wasp_buf_t in = {0};
    outcome_t o;
    size_t good, tail = wasp_buf_size(bad) < 24 ? wasp_buf_size(bad) : 24;

    put_out(&in, FCGI_STDOUT, text);
    good = wasp_buf_size(&in);
    /* The header and a little of the record: the rest never matters. */
    assert_int_equal(wasp_buf_append(&in, wasp_buf_ptr(bad), tail), 0);
    decode_every_split(&in, &o);
    assert_non_null(o.error);
    if (strstr(o.error, word) == NULL) {
        fail_msg("error \"%s\" does not mention \"%s\"", o.error, word);
    }
    assert_int_equal(wasp_buf_size(&o.out), sizeof(text) - 1);
    assert_memory_equal(wasp_buf_ptr(&o.out), text, sizeof(text) - 1);
    /* The header that gave the error is consumed, nothing behind it. */
    assert_int_equal(o.consumed, good + 8);
    outcome_free(&o);
    wasp_buf_free(&in);
}

static void test_decode_errors(void **state)
{
    static const uint8_t server_types[] = {FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST, FCGI_PARAMS,
                                           FCGI_STDIN,         FCGI_DATA,          FCGI_GET_VALUES};
    static const uint8_t unknown_types[] = {0, 12, 13, 100, 255};
    static const uint8_t bad_versions[] = {0, 2, 255};
    static const size_t end_lens[] = {0, 1, 7, 9, 16, 65535};
    char content[65535] = {0};
    wasp_buf_t bad = {0};

    for (size_t i = 0; i < sizeof(bad_versions); i++) {
        wasp_buf_reset(&bad);
        put_rec(&bad, bad_versions[i], FCGI_STDOUT, 1, "x", 1, 7);
        check_error(&bad, "version");
    }
    wasp_buf_reset(&bad);
    put_rec(&bad, 1, FCGI_STDOUT, 2, "x", 1, 7);
    check_error(&bad, "another request id");
    wasp_buf_reset(&bad);
    put_rec(&bad, 1, FCGI_STDERR, 0, "x", 1, 7);
    check_error(&bad, "another request id");
    wasp_buf_reset(&bad);
    put_end(&bad, 0x101, 0, 0, 0);
    check_error(&bad, "another request id");
    for (size_t i = 0; i < sizeof(unknown_types); i++) {
        wasp_buf_reset(&bad);
        put_rec(&bad, 1, unknown_types[i], 1, "x", 1, 7);
        check_error(&bad, "unknown type");
    }
    for (size_t i = 0; i < sizeof(server_types); i++) {
        wasp_buf_reset(&bad);
        put_rec(&bad, 1, server_types[i], 1, "x", 1, 7);
        check_error(&bad, "web server");
    }
    wasp_buf_reset(&bad);
    put_rec(&bad, 1, FCGI_UNKNOWN_TYPE, 0, "\x09\0\0\0\0\0\0\0", 8, 0);
    check_error(&bad, "UNKNOWN_TYPE");
    wasp_buf_reset(&bad);
    put_rec(&bad, 1, FCGI_GET_VALUES_RESULT, 1, NULL, 0, 0);
    check_error(&bad, "GET_VALUES_RESULT");
    for (size_t i = 0; i < sizeof(end_lens) / sizeof(end_lens[0]); i++) {
        wasp_buf_reset(&bad);
        put_rec(&bad, 1, FCGI_END_REQUEST, 1, content, end_lens[i], 0);
        check_error(&bad, "not 8 bytes");
    }
    wasp_buf_free(&bad);
}

/* Anything after END_REQUEST, even one byte or an empty record. */
static void test_decode_after_end(void **state)
{
    static const struct {
        const char *s;
        size_t n;
    } tails[] = {{"\x01", 1}, {"\x01\x06\x00\x01\x00\x00\x00\x00", 8}, {"garbage", 7}};

    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        wasp_buf_t in = {0};
        outcome_t o;
        size_t end;

        put_out(&in, FCGI_STDOUT, "done");
        put_end(&in, 1, 0, 0, 0);
        end = wasp_buf_size(&in);
        assert_int_equal(wasp_buf_append(&in, tails[i].s, tails[i].n), 0);
        decode_every_split(&in, &o);
        assert_true(o.ended);
        assert_non_null(o.error);
        assert_non_null(strstr(o.error, "after END_REQUEST"));
        assert_int_equal(o.consumed, end);
        outcome_free(&o);
        wasp_buf_free(&in);
    }
}

/* Once an error is reported, every later call reports it and consumes
 * nothing: a caller cannot resynchronise on garbage by accident. */
static void test_decode_error_sticks(void **state)
{
    static const char bad[8] = {2, FCGI_STDOUT, 0, 1, 0, 0, 0, 0};
    wasp_buf_t good = {0};
    fcgi_decoder_t d;
    fcgi_event_t ev, again;
    size_t used;

    fcgi_decoder_init(&d, 1);
    ev = fcgi_decode(&d, bad, sizeof(bad), &used);
    assert_int_equal(ev.kind, FCGI_EV_ERROR);
    assert_int_equal(used, 8);
    put_out(&good, FCGI_STDOUT, "fine");
    again = fcgi_decode(&d, wasp_buf_ptr(&good), wasp_buf_size(&good), &used);
    assert_int_equal(again.kind, FCGI_EV_ERROR);
    assert_ptr_equal(again.message, ev.message);
    assert_int_equal(used, 0);
    again = fcgi_decode(&d, NULL, 0, &used);
    assert_int_equal(again.kind, FCGI_EV_ERROR);
    wasp_buf_free(&good);
}

/* The decoder reads what the encoder writes for another type's framing:
 * a long STDOUT body cut by the test's own writer into maximal records. */
static void test_decode_long_body(void **state)
{
    size_t total = 200000, at = 0;
    char *body = malloc(total);
    wasp_buf_t in = {0};
    size_t cuts[] = {1, 9, 65535, 65543, 131078, 131079, 199999};
    outcome_t o, whole;

    assert_non_null(body);
    for (size_t i = 0; i < total; i++) {
        body[i] = (char)(i % 251);
    }
    while (at < total) {
        size_t n = total - at < 65535 ? total - at : 65535;
        put_rec(&in, 1, FCGI_STDOUT, 1, body + at, n, (8 - n % 8) % 8);
        at += n;
    }
    put_end(&in, 1, 0, 0, 0);
    decode_cuts(wasp_buf_ptr(&in), wasp_buf_size(&in), NULL, 0, &whole);
    decode_cuts(wasp_buf_ptr(&in), wasp_buf_size(&in), cuts, sizeof(cuts) / sizeof(cuts[0]), &o);
    assert_same_outcome(&whole, &o);
    assert_true(o.ended);
    assert_int_equal(wasp_buf_size(&o.out), total);
    assert_memory_equal(wasp_buf_ptr(&o.out), body, total);
    outcome_free(&o);
    outcome_free(&whole);
    wasp_buf_free(&in);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_begin_abort),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_params_exact_bytes),
        cmocka_unit_test(test_params_none),
        cmocka_unit_test(test_params_length_forms),
        cmocka_unit_test(test_params_reject_huge),
        cmocka_unit_test(test_params_many_records),
        cmocka_unit_test(test_params_record_boundaries),
        cmocka_unit_test(test_params_long_round_trip),
        cmocka_unit_test(test_stdin_chunking),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_decode_php_response_every_split),
        cmocka_unit_test(test_decode_events_in_place),
        cmocka_unit_test(test_decode_partial_content),
        cmocka_unit_test(test_decode_padding),
        cmocka_unit_test(test_decode_max_record),
        cmocka_unit_test(test_decode_end_fields),
        cmocka_unit_test(test_decode_keep_conn),
        cmocka_unit_test(test_decode_get_values_result_ignored),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_after_end),
        cmocka_unit_test(test_decode_error_sticks),
        cmocka_unit_test(test_decode_long_body),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
