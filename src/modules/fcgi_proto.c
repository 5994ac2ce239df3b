/*
 * The FastCGI 1.0 wire protocol, responder role (see fcgi_proto.h).
 *
 * Written from the FastCGI specification 1.0: section 3.3 (records),
 * 3.4 (name-value pairs), 5.1 (BEGIN_REQUEST), 5.4 (ABORT_REQUEST) and
 * 5.5 (END_REQUEST).  The decoder is a small state machine over the
 * 8-byte header, the content and the padding of one record at a time, so
 * it can stop after any byte and resume with the next buffer.
 */
#include "modules/fcgi_proto.h"

#include <string.h>

#define FCGI_ROLE_RESPONDER 1
#define FCGI_KEEP_CONN 1
/* The 4-byte length form keeps 31 bits for the length. */
#define FCGI_PAIR_LEN_MAX 0x7fffffffu

/* ---- encoding ------------------------------------------------------------ */

static size_t fcgi_padding(size_t content_len)
{
    return (8 - (content_len & 7)) & 7;
}

/* Undo everything appended since out held `size` bytes.  wasp_buf_reserve()
 * may move the unread bytes to the front, but keeps their order, so the
 * first `size` of them are still the caller's. */
static int fcgi_rollback(wasp_buf_t *out, size_t size)
{
    out->len = out->start + size;
    return -1;
}

/* Append one record; content_len <= FCGI_MAX_CONTENT.  Room for the whole
 * record is reserved first, so the appends that follow cannot fail. */
static int fcgi_record(wasp_buf_t *out, uint8_t type, uint16_t request_id, const void *content,
                       size_t content_len)
{
    static const uint8_t zeros[8];
    size_t pad = fcgi_padding(content_len);
    uint8_t h[FCGI_HEADER_LEN];

    if (wasp_buf_reserve(out, FCGI_HEADER_LEN + content_len + pad) != 0) {
        return -1;
    }
    h[0] = FCGI_VERSION_1;
    h[1] = type;
    h[2] = (uint8_t)(request_id >> 8);
    h[3] = (uint8_t)request_id;
    h[4] = (uint8_t)(content_len >> 8);
    h[5] = (uint8_t)content_len;
    h[6] = (uint8_t)pad;
    h[7] = 0;
    wasp_buf_append(out, h, sizeof(h));
    wasp_buf_append(out, content, content_len);
    wasp_buf_append(out, zeros, pad);
    return 0;
}

/* Append data[0..len) as records of at most FCGI_RECORD_CHUNK bytes. */
static int fcgi_stream(wasp_buf_t *out, uint8_t type, uint16_t request_id, const char *data,
                       size_t len)
{
    while (len > 0) {
        size_t n = len < FCGI_RECORD_CHUNK ? len : FCGI_RECORD_CHUNK;

        if (fcgi_record(out, type, request_id, data, n) != 0) {
            return -1;
        }
        data += n;
        len -= n;
    }
    return 0;
}

int fcgi_encode_begin(wasp_buf_t *out, uint16_t request_id, bool keep_conn)
{
    uint8_t body[8] = {0};

    body[0] = (uint8_t)(FCGI_ROLE_RESPONDER >> 8);
    body[1] = (uint8_t)FCGI_ROLE_RESPONDER;
    body[2] = keep_conn ? FCGI_KEEP_CONN : 0;
    return fcgi_record(out, FCGI_BEGIN_REQUEST, request_id, body, sizeof(body));
}

int fcgi_encode_abort(wasp_buf_t *out, uint16_t request_id)
{
    return fcgi_record(out, FCGI_ABORT_REQUEST, request_id, NULL, 0);
}

int fcgi_encode_stdin(wasp_buf_t *out, uint16_t request_id, const void *data, size_t len)
{
    size_t mark = wasp_buf_size(out);

    if (len == 0) {
        return fcgi_record(out, FCGI_STDIN, request_id, NULL, 0);
    }
    if (fcgi_stream(out, FCGI_STDIN, request_id, data, len) != 0) {
        return fcgi_rollback(out, mark);
    }
    return 0;
}

static size_t fcgi_put_length(uint8_t *p, size_t n)
{
    if (n < 128) {
        p[0] = (uint8_t)n;
        return 1;
    }
    p[0] = (uint8_t)(0x80 | (n >> 24));
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    return 4;
}

int fcgi_params_add(fcgi_params_t *p, const char *name, size_t name_len, const char *value,
                    size_t value_len)
{
    uint8_t lengths[8];
    size_t k;

    if (name_len > FCGI_PAIR_LEN_MAX || value_len > FCGI_PAIR_LEN_MAX ||
        value_len > SIZE_MAX - sizeof(lengths) - name_len) {
        return -1;
    }
    k = fcgi_put_length(lengths, name_len);
    k += fcgi_put_length(lengths + k, value_len);
    if (wasp_buf_reserve(&p->body, k + name_len + value_len) != 0) {
        return -1;
    }
    wasp_buf_append(&p->body, lengths, k);
    wasp_buf_append(&p->body, name, name_len);
    wasp_buf_append(&p->body, value, value_len);
    return 0;
}

/* Read one length at body[*at..n); false when the body ends first. */
static bool fcgi_get_length(const uint8_t *body, size_t n, size_t *at, size_t *len)
{
    if (*at >= n) {
        return false;
    }
    if (body[*at] < 128) {
        *len = body[(*at)++];
        return true;
    }
    if (n - *at < 4) {
        return false;
    }
    *len = (size_t)(body[*at] & 0x7f) << 24 | (size_t)body[*at + 1] << 16 |
           (size_t)body[*at + 2] << 8 | body[*at + 3];
    *at += 4;
    return true;
}

/* Where the pair starting at body[at] ends.  The body is fcgi_params_add()'s
 * work, but the struct is open, so a malformed tail is treated as one pair
 * running to the end rather than read past. */
static size_t fcgi_pair_end(const uint8_t *body, size_t n, size_t at)
{
    size_t name_len, value_len;

    if (!fcgi_get_length(body, n, &at, &name_len) || !fcgi_get_length(body, n, &at, &value_len) ||
        name_len > n - at || value_len > n - at - name_len) {
        return n;
    }
    return at + name_len + value_len;
}

int fcgi_encode_params(wasp_buf_t *out, uint16_t request_id, const fcgi_params_t *p)
{
    const char *body = wasp_buf_ptr(&p->body);
    size_t n = wasp_buf_size(&p->body);
    size_t mark = wasp_buf_size(out);
    size_t start = 0, at = 0; /* the record being filled holds body[start, at) */

    while (at < n) {
        size_t end = fcgi_pair_end((const uint8_t *)body, n, at);

        if (end - start > FCGI_RECORD_CHUNK) {
            /* The pair does not fit behind what the record holds: close it
             * at the pair boundary, as php-cgi needs. */
            if (at > start && fcgi_record(out, FCGI_PARAMS, request_id, body + start,
                                          at - start) != 0) {
                return fcgi_rollback(out, mark);
            }
            start = at;
            /* A pair longer than any record is cut into full records. */
            while (end - start > FCGI_RECORD_CHUNK) {
                if (fcgi_record(out, FCGI_PARAMS, request_id, body + start,
                                FCGI_RECORD_CHUNK) != 0) {
                    return fcgi_rollback(out, mark);
                }
                start += FCGI_RECORD_CHUNK;
            }
        }
        at = end;
    }
    if ((n > start && fcgi_record(out, FCGI_PARAMS, request_id, body + start, n - start) != 0) ||
        fcgi_record(out, FCGI_PARAMS, request_id, NULL, 0) != 0) {
        return fcgi_rollback(out, mark);
    }
    return 0;
}

void fcgi_params_free(fcgi_params_t *p)
{
    wasp_buf_free(&p->body);
}

/* ---- decoding ------------------------------------------------------------ */

void fcgi_decoder_init(fcgi_decoder_t *d, uint16_t request_id)
{
    memset(d, 0, sizeof(*d));
    d->request_id = request_id;
}

/* Take the completed header in: check it and set up the content and padding
 * counts.  Returns NULL, or why the record is not acceptable. */
static const char *fcgi_start_record(fcgi_decoder_t *d)
{
    const uint8_t *h = d->header;
    uint16_t id = (uint16_t)(h[2] << 8 | h[3]);

    d->type = h[1];
    d->content_left = (size_t)h[4] << 8 | h[5];
    d->padding_left = h[6];
    d->end_have = 0;
    if (h[0] != FCGI_VERSION_1) {
        return "FastCGI record of a protocol version other than 1";
    }
    switch (d->type) {
    case FCGI_STDOUT:
    case FCGI_STDERR:
        break;
    case FCGI_END_REQUEST:
        if (d->content_left != sizeof(d->end_body)) {
            return "FastCGI END_REQUEST record whose content is not 8 bytes";
        }
        break;
    case FCGI_GET_VALUES_RESULT:
        /* A management record: it carries no part of the response, so it is
         * skipped, as long as it really is one (request id 0). */
        return id == 0 ? NULL : "FastCGI GET_VALUES_RESULT record with a request id";
    case FCGI_UNKNOWN_TYPE:
        return "FastCGI UNKNOWN_TYPE record: the application did not understand a record";
    case FCGI_BEGIN_REQUEST:
    case FCGI_ABORT_REQUEST:
    case FCGI_PARAMS:
    case FCGI_STDIN:
    case FCGI_DATA:
    case FCGI_GET_VALUES:
        return "FastCGI record of a type only a web server sends";
    default:
        return "FastCGI record of an unknown type";
    }
    if (id != d->request_id) {
        return "FastCGI record for another request id";
    }
    return NULL;
}

static fcgi_event_t fcgi_event(fcgi_event_kind_t kind)
{
    fcgi_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    return ev;
}

static fcgi_event_t fcgi_fail(fcgi_decoder_t *d, const char *message)
{
    fcgi_event_t ev = fcgi_event(FCGI_EV_ERROR);

    d->error = message;
    ev.message = message;
    return ev;
}

static fcgi_event_t fcgi_end_event(fcgi_decoder_t *d)
{
    fcgi_event_t ev = fcgi_event(FCGI_EV_END);
    const uint8_t *b = d->end_body;

    d->ended = true;
    ev.app_status = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    ev.protocol_status = b[4];
    return ev;
}

fcgi_event_t fcgi_decode(fcgi_decoder_t *d, const char *buf, size_t len, size_t *used)
{
    size_t pos = 0;

    *used = 0;
    if (d->error != NULL) {
        return fcgi_fail(d, d->error);
    }
    for (;;) {
        size_t n;

        if (d->ended) {
            /* keep-conn: the next request starts with a fresh decoder, so
             * anything the application sends now belongs to no request. */
            if (pos < len) {
                *used = pos;
                return fcgi_fail(d, "FastCGI data after END_REQUEST");
            }
            break;
        }
        if (d->header_have < FCGI_HEADER_LEN) {
            n = FCGI_HEADER_LEN - d->header_have;
            n = n < len - pos ? n : len - pos;
            if (n == 0) {
                break;
            }
            memcpy(d->header + d->header_have, buf + pos, n);
            d->header_have += n;
            pos += n;
            if (d->header_have < FCGI_HEADER_LEN) {
                break;
            }
            const char *why = fcgi_start_record(d);
            if (why != NULL) {
                *used = pos;
                return fcgi_fail(d, why);
            }
        }
        if (d->content_left > 0) {
            const char *content;

            n = d->content_left < len - pos ? d->content_left : len - pos;
            if (n == 0) {
                break;
            }
            content = buf + pos;
            pos += n;
            d->content_left -= n;
            if (d->type == FCGI_STDOUT || d->type == FCGI_STDERR) {
                fcgi_event_t ev = fcgi_event(d->type == FCGI_STDOUT ? FCGI_EV_STDOUT
                                                                    : FCGI_EV_STDERR);
                ev.data = content;
                ev.len = n;
                *used = pos;
                return ev;
            }
            if (d->type == FCGI_END_REQUEST) {
                memcpy(d->end_body + d->end_have, content, n);
                d->end_have += n;
            }
            continue; /* GET_VALUES_RESULT content is skipped */
        }
        if (d->padding_left > 0) {
            n = d->padding_left < len - pos ? d->padding_left : len - pos;
            if (n == 0) {
                break;
            }
            pos += n;
            d->padding_left -= n;
            continue;
        }
        /* The record is complete (empty STDOUT/STDERR ones say nothing). */
        d->header_have = 0;
        if (d->type == FCGI_END_REQUEST) {
            *used = pos;
            return fcgi_end_event(d);
        }
    }
    *used = pos;
    return fcgi_event(FCGI_EV_NONE);
}
