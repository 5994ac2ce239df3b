/*
 * The FastCGI wire protocol (FastCGI specification 1.0, responder role),
 * as the FastCgiModule speaks it to php-cgi and other applications: pure
 * encoding and incremental decoding over byte buffers, no I/O, so that it
 * can be unit-tested and fuzzed on its own.
 *
 * Records: 8-byte header {version 1, type, requestId (BE16), contentLength
 * (BE16), paddingLength, reserved} + content + padding.  wasp writes one
 * request at a time per connection (IIS' FastCGI: one request per process),
 * with request id 1 and keep-conn set, so a process serves many requests.
 */
#ifndef WASP_FCGI_PROTO_H
#define WASP_FCGI_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define FCGI_VERSION_1 1
#define FCGI_HEADER_LEN 8
#define FCGI_MAX_CONTENT 65535
/* The content length wasp cuts its streams at: the largest multiple of 8
 * that fits in a record, so a full record needs no padding and content +
 * padding never exceeds 65535 bytes.  php-cgi refuses a PARAMS record whose
 * content + padding is longer than that (fcgi_read_request() in
 * main/fastcgi.c) and drops the connection, so 65535 bytes of content
 * padded to 8 would fail there. */
#define FCGI_RECORD_CHUNK 65528

enum fcgi_type {
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_STDERR = 7,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11
};

enum fcgi_protocol_status {
    FCGI_REQUEST_COMPLETE = 0,
    FCGI_CANT_MPX_CONN = 1,
    FCGI_OVERLOADED = 2,
    FCGI_UNKNOWN_ROLE = 3
};

/* ---- encoding (appends to out; 0 or -1 on allocation failure) ------------ */
/* Every record's content is padded to a multiple of 8 bytes (the spec's
 * recommendation, and what php-cgi itself does).  On failure out is left as
 * it was, so a half-written stream never reaches the application. */

/* BEGIN_REQUEST, role RESPONDER, flags FCGI_KEEP_CONN when keep_conn. */
int fcgi_encode_begin(wasp_buf_t *out, uint16_t request_id, bool keep_conn);

/* Name-value pairs for PARAMS are collected first (fcgi_params_add), then
 * framed (fcgi_encode_params): lengths use the 1-byte form below 128 and
 * the 4-byte form (high bit set) above, as the specification says; records
 * hold at most FCGI_RECORD_CHUNK bytes and the stream ends with an empty
 * PARAMS.  A record ends at a pair boundary whenever the pair fits in a
 * record of its own, because php-cgi parses each PARAMS record separately;
 * only a pair longer than that is cut across records (valid FastCGI, which
 * php-cgi rejects all the same).  Start from a zeroed fcgi_params_t. */
typedef struct fcgi_params {
    wasp_buf_t body; /* encoded pairs, not yet framed */
} fcgi_params_t;
/* -1 also when name_len or value_len is 2^31 or more (the 4-byte length
 * form has 31 bits); p is then unchanged.  Empty names and values are
 * allowed (a NULL pointer with length 0 too). */
int fcgi_params_add(fcgi_params_t *p, const char *name, size_t name_len, const char *value,
                    size_t value_len);
int fcgi_encode_params(wasp_buf_t *out, uint16_t request_id, const fcgi_params_t *p);
void fcgi_params_free(fcgi_params_t *p);

/* STDIN: data cut into records of at most FCGI_RECORD_CHUNK bytes; len 0
 * writes the empty record that ends the stream. */
int fcgi_encode_stdin(wasp_buf_t *out, uint16_t request_id, const void *data, size_t len);
int fcgi_encode_abort(wasp_buf_t *out, uint16_t request_id);

/* ---- decoding ------------------------------------------------------------ */

typedef enum fcgi_event_kind {
    FCGI_EV_NONE = 0,     /* need more bytes */
    FCGI_EV_STDOUT,       /* data, len: a piece of the response (never empty) */
    FCGI_EV_STDERR,       /* data, len: a piece of the error stream (never empty) */
    FCGI_EV_END,          /* app_status, protocol_status: the request is over */
    FCGI_EV_ERROR         /* the stream is not FastCGI: message says what */
} fcgi_event_kind_t;

typedef struct fcgi_event {
    fcgi_event_kind_t kind;
    const char *data;     /* points into the caller's buffer */
    size_t len;
    uint32_t app_status;
    uint8_t protocol_status;
    const char *message;  /* FCGI_EV_ERROR: a static sentence for the log */
} fcgi_event_t;

/* Decoder state for one connection: it may stop in the middle of a record
 * (the content of a STDOUT record is handed out as it arrives). */
typedef struct fcgi_decoder {
    uint16_t request_id;  /* records of other ids are an error */
    uint8_t header[FCGI_HEADER_LEN];
    size_t header_have;
    uint8_t type;
    size_t content_left;  /* of the current record */
    size_t padding_left;
    uint8_t end_body[8];  /* END_REQUEST content */
    size_t end_have;
    bool ended;
    const char *error;    /* once an error is reported, every later call repeats it */
} fcgi_decoder_t;

void fcgi_decoder_init(fcgi_decoder_t *d, uint16_t request_id);

/* Consume bytes from buf[0..len) and return the next event; *used receives
 * how many bytes were consumed (call again with the rest).  Empty STDOUT /
 * STDERR records (stream ends) produce no event.  Records after END, of
 * another request id, of an unknown type, or with a bad version are
 * FCGI_EV_ERROR; so is an END_REQUEST whose content is not 8 bytes.
 *
 * FCGI_EV_NONE means every byte was consumed; a data event's bytes are the
 * last len bytes consumed (data + len == buf + *used).  END is reported
 * once the record's padding has been read too.  Record types the
 * application has no business sending (BEGIN_REQUEST, ABORT_REQUEST,
 * PARAMS, STDIN, DATA, GET_VALUES) and FCGI_UNKNOWN_TYPE (the answer to a
 * management record, and wasp sends none) are errors; GET_VALUES_RESULT
 * with request id 0 is skipped, being informational only. */
fcgi_event_t fcgi_decode(fcgi_decoder_t *d, const char *buf, size_t len, size_t *used);

#endif
