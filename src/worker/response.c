/*
 * Sending a response to the listener: a RESP_HEAD frame, then the body parts
 * in order (memory in frames of at most WASP_CH_CHUNK, files as passed
 * descriptors the listener sendfile()s), then RESP_END.  Memory bytes are
 * flow-controlled per response: at most WORKER_STREAM_WINDOW bytes may be
 * unacknowledged by the listener, so a slow client costs the listener a
 * bounded buffer and the worker simply waits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/worker.h"

void pipeline_after_send(wasp_request_t *req);

void response_free_parts(wasp_request_t *req)
{
    while (req->parts != NULL) {
        resp_part_t *p = req->parts;

        req->parts = p->next;
        if (p->fd >= 0) {
            close(p->fd);
        }
        free(p->data);
        free(p);
    }
    req->parts_tail = NULL;
    if (!req->head_sent) {
        req->body_len = 0;
    }
}

/* The Win32 error code IIS logs with a status (sc-win32-status): the
 * values its logs show for these answers; 0 for the rest.  (The listener
 * adds its own: 64 when the client leaves during the response.) */
static uint32_t response_win32_status(const wasp_request_t *req)
{
    if (req->status == 404 && req->substatus == 0) {
        return 2;  /* ERROR_FILE_NOT_FOUND */
    }
    if (req->status == 404 && req->substatus == 3) {
        return 50; /* ERROR_NOT_SUPPORTED: no MIME type */
    }
    if (req->status == 401 && req->substatus == 3) {
        return 5;  /* ERROR_ACCESS_DENIED */
    }
    if (req->status == 405) {
        return 1;  /* ERROR_INVALID_FUNCTION */
    }
    return 0;
}

/* httpLogging for the request's URL (iis-modules.md 2.23): dontLog, or
 * selectiveLogging LogSuccessful (100-399) / LogError (400-999) excluding
 * this status. */
static uint8_t response_log_flags(const wasp_request_t *req)
{
    const wasp_section_t *s = wasp_request_section(req, "system.webServer/httpLogging");
    const char *sel = wasp_section_attr(s, "selectiveLogging");

    if (s == NULL) {
        return 0;
    }
    if (wasp_section_bool(s, "dontLog", false)) {
        return WASP_RESP_NO_LOG;
    }
    if (sel != NULL && (strcasecmp(sel, "LogSuccessful") == 0 || strcmp(sel, "1") == 0)) {
        return req->status >= 400 ? WASP_RESP_NO_LOG : 0;
    }
    if (sel != NULL && (strcasecmp(sel, "LogError") == 0 || strcmp(sel, "2") == 0)) {
        return req->status < 400 ? WASP_RESP_NO_LOG : 0;
    }
    return 0;
}

/* Encode the RESP_HEAD payload into e (channel.h). */
static void response_encode_head(wasp_request_t *req, wasp_enc_t *e)
{
    bool has_length = !req->streaming;
    uint64_t length = req->body_len;
    uint32_t count = 0;

    for (size_t i = 0; i < req->rh_count; i++) {
        if (strcasecmp(req->rh[i].name, "Content-Length") == 0) {
            /* A module answering HEAD states the length it would send. */
            if (req->body_len == 0) {
                length = strtoull(req->rh[i].value, NULL, 10);
                has_length = true;
            }
            continue;
        }
        count++;
    }
    wasp_enc_u16(e, (uint16_t)req->status);
    wasp_enc_cstr(e, req->reason);
    wasp_enc_u16(e, (uint16_t)req->substatus);
    wasp_enc_u32(e, response_win32_status(req));
    wasp_enc_u8(e, response_log_flags(req));
    wasp_enc_u8(e, has_length);
    wasp_enc_u64(e, length);
    wasp_enc_u32(e, count);
    for (size_t i = 0; i < req->rh_count; i++) {
        if (strcasecmp(req->rh[i].name, "Content-Length") != 0) {
            wasp_enc_cstr(e, req->rh[i].name);
            wasp_enc_cstr(e, req->rh[i].value);
        }
    }
    if (wasp_buf_size(&e->buf) > WASP_CH_CHUNK) {
        /* Headers larger than a frame: refuse them rather than send garbage. */
        wasp_buf_reset(&e->buf);
        wasp_log(req, WASP_LOG_ERROR, "response headers exceed %d bytes; answering 500",
                 WASP_CH_CHUNK);
        wasp_response_clear(req);
        req->status = 500;
        snprintf(req->reason, sizeof(req->reason), "Internal Server Error");
        wasp_enc_u16(e, 500);
        wasp_enc_cstr(e, req->reason);
        wasp_enc_u16(e, 0);
        wasp_enc_u32(e, 0);
        wasp_enc_u8(e, response_log_flags(req));
        wasp_enc_u8(e, 1);
        wasp_enc_u64(e, 0);
        wasp_enc_u32(e, 0);
    }
}

/* The whole response in one frame when it is complete, small, and made of
 * memory or small files: the common case costs one frame, not three.
 * Returns true when sent. */
static bool response_send_whole(wasp_request_t *req, bool is_head)
{
    wasp_enc_t e = {0};
    bool ok = true;

    if (req->streaming || req->phase != PH_SENDING) {
        return false;
    }
    if (!is_head) {
        uint64_t total = 0;

        for (resp_part_t *p = req->parts; p != NULL; p = p->next) {
            if (p->fd >= 0 && p->len > WORKER_INLINE_FILE) {
                return false;
            }
            total += (uint64_t)p->len;
        }
        if (total > WASP_CH_CHUNK - 4096) {
            return false;
        }
    }
    response_encode_head(req, &e);
    for (resp_part_t *p = req->parts; p != NULL && ok && !is_head; p = p->next) {
        if (p->fd < 0) {
            ok = wasp_buf_append(&e.buf, p->data, (size_t)p->len) == 0;
        } else if (wasp_buf_reserve(&e.buf, (size_t)p->len) == 0) {
            ok = pread(p->fd, e.buf.data + e.buf.len, (size_t)p->len, p->off) == (ssize_t)p->len;
            e.buf.len += ok ? (size_t)p->len : 0;
        } else {
            ok = false;
        }
    }
    if (ok && wasp_buf_size(&e.buf) <= WASP_CH_CHUNK) {
        wasp_channel_send(worker_ch, WASP_MSG_RESP_HEAD, WASP_FLAG_END, req->stream,
                          wasp_buf_ptr(&e.buf), wasp_buf_size(&e.buf), -1);
        req->head_sent = true;
    } else {
        ok = false;
    }
    wasp_buf_free(&e.buf);
    return ok;
}

static void response_send_head(wasp_request_t *req)
{
    wasp_enc_t e = {0};

    response_encode_head(req, &e);
    wasp_channel_send(worker_ch, WASP_MSG_RESP_HEAD, 0, req->stream, wasp_buf_ptr(&e.buf),
                      wasp_buf_size(&e.buf), -1);
    wasp_buf_free(&e.buf);
    req->head_sent = true;
}

void response_send(wasp_request_t *req)
{
    bool is_head = req->method.len == 4 && memcmp(req->method.ptr, "HEAD", 4) == 0;

    if (!req->head_sent) {
        worker_cache_verdict(req);
        if (response_send_whole(req, is_head)) {
            response_free_parts(req);
            req->sent_all = true;
            pipeline_after_send(req);
            return;
        }
        response_send_head(req);
    }
    while (req->parts != NULL) {
        resp_part_t *p = req->parts;

        if (is_head) {
            /* The length went in the head; the bytes are never sent. */
        } else if (p->fd >= 0 && p->len <= WORKER_INLINE_FILE && !req->unacked) {
            /* A small file costs less as bytes in the frame than as a passed
             * descriptor (no SCM_RIGHTS, no sendfile, no close in the
             * listener); the result on the wire is the same. */
            char buf[WORKER_INLINE_FILE];
            ssize_t n = pread(p->fd, buf, (size_t)p->len, p->off);

            if (n == (ssize_t)p->len) {
                wasp_channel_send(worker_ch, WASP_MSG_RESP_BODY, 0, req->stream, buf,
                                  (size_t)n, -1);
                req->unacked += (uint64_t)n;
            } else {
                uint64_t range[2] = {(uint64_t)p->off, (uint64_t)p->len};

                wasp_channel_send(worker_ch, WASP_MSG_RESP_FILE, 0, req->stream, range,
                                  sizeof(range), p->fd);
            }
        } else if (p->fd >= 0) {
            uint64_t range[2] = {(uint64_t)p->off, (uint64_t)p->len};

            wasp_channel_send(worker_ch, WASP_MSG_RESP_FILE, 0, req->stream, range,
                              sizeof(range), p->fd);
        } else {
            while (p->off < p->len) {
                size_t n = (size_t)(p->len - p->off);

                if (n > WASP_CH_CHUNK) {
                    n = WASP_CH_CHUNK;
                }
                if (req->unacked + n > WORKER_STREAM_WINDOW) {
                    return; /* wait for WINDOW */
                }
                wasp_channel_send(worker_ch, WASP_MSG_RESP_BODY, 0, req->stream,
                                  p->data + p->off, n, -1);
                p->off += (off_t)n;
                req->unacked += n;
            }
        }
        req->parts = p->next;
        if (req->parts == NULL) {
            req->parts_tail = NULL;
        }
        if (p->fd >= 0) {
            close(p->fd);
        }
        free(p->data);
        free(p);
    }
    if (req->phase == PH_SENDING) {
        wasp_channel_send(worker_ch, WASP_MSG_RESP_END, 0, req->stream, NULL, 0, -1);
        req->sent_all = true;
        pipeline_after_send(req);
    }
}

void response_window(wasp_request_t *req, uint32_t acked)
{
    req->unacked = acked > req->unacked ? 0 : req->unacked - acked;
    if (req->head_sent && (req->parts != NULL || req->phase == PH_SENDING) && !req->sent_all) {
        response_send(req);
    }
}
