/* SEQPACKET frame channel with fd passing (see channel.h). */
#include "common/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"

typedef struct ch_frame {
    struct ch_frame *next;
    size_t len;
    int fd;
    char bytes[]; /* header + payload */
} ch_frame_t;

struct wasp_channel {
    wasp_loop_t *loop;
    int fd;
    wasp_channel_msg_cb on_msg;
    wasp_channel_close_cb on_close;
    void *data;
    ch_frame_t *head, *tail;
    size_t queued;
    bool paused;
    bool want_out;
    bool closed;
    bool in_callback;
    bool free_pending;
    char *rbuf;
    /* Frames without a descriptor gather here until the loop finishes its
     * iteration (or the batch is full), then leave as one SEQPACKET record:
     * a worker answering twenty requests wakes the listener once, not sixty
     * times.  The receiver walks the frames of a record in order. */
    wasp_buf_t batch;
    wasp_defer_t flush;
};

static void ch_update_events(wasp_channel_t *ch)
{
    uint32_t ev = 0;

    if (ch->closed) {
        return;
    }
    if (!ch->paused) {
        ev |= EPOLLIN;
    }
    if (ch->head != NULL) {
        ev |= EPOLLOUT;
    }
    wasp_loop_mod(ch->loop, ch->fd, ev);
}

static void ch_fail(wasp_channel_t *ch)
{
    if (ch->closed) {
        return;
    }
    ch->closed = true;
    wasp_loop_del(ch->loop, ch->fd);
    if (ch->on_close != NULL) {
        ch->on_close(ch, ch->data);
    }
}

/* 1 = sent, 0 = would block, -1 = peer gone */
static int ch_send_record(wasp_channel_t *ch, const char *a, size_t alen, const char *b,
                          size_t blen, int fd)
{
    struct iovec iov[2] = {{.iov_base = (void *)a, .iov_len = alen},
                           {.iov_base = (void *)b, .iov_len = blen}};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = blen > 0 ? 2 : 1};
    ssize_t n;

    if (fd >= 0) {
        struct cmsghdr *c;

        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    do {
        n = sendmsg(ch->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            return 0;
        }
        return -1;
    }
    return 1;
}

static void ch_frame_free(ch_frame_t *f)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f);
}

static int ch_drain(wasp_channel_t *ch)
{
    while (ch->head != NULL) {
        ch_frame_t *f = ch->head;
        int rc = ch_send_record(ch, f->bytes, f->len, NULL, 0, f->fd);

        if (rc == 0) {
            return 0;
        }
        if (rc < 0) {
            return -1;
        }
        ch->head = f->next;
        if (ch->head == NULL) {
            ch->tail = NULL;
        }
        ch->queued -= f->len;
        ch_frame_free(f);
    }
    return 0;
}

static void ch_maybe_free(wasp_channel_t *ch);

/* Hand each frame of a record to on_msg, in order.  A passed descriptor
 * comes with a record of exactly one frame.  Frames after one whose
 * callback closed or freed the channel are dropped; a pause stops reading
 * further records, not the rest of this one (at most one record, 64 KiB,
 * of overshoot). */
static void ch_deliver(wasp_channel_t *ch, const char *p, size_t n, int passed)
{
    wasp_frame_hdr_t hdr;
    size_t off = 0;

    for (;;) {
        if (n - off < sizeof(hdr)) {
            break;
        }
        memcpy(&hdr, p + off, sizeof(hdr));
        if (hdr.length > n - off - sizeof(hdr) ||
            (passed >= 0 && (off != 0 || hdr.length != n - sizeof(hdr)))) {
            break;
        }
        ch->on_msg(ch, &hdr, p + off + sizeof(hdr), passed, ch->data);
        passed = -1;
        off += sizeof(hdr) + hdr.length;
        if (off == n) {
            return;
        }
        if (ch->closed || ch->free_pending) {
            return;
        }
    }
    wasp_error("channel: malformed record of %zu bytes (frame at offset %zu); closing", n, off);
    if (passed >= 0) {
        close(passed);
    }
    ch_fail(ch);
}

static void ch_on_io(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    wasp_channel_t *ch = data;

    ch->in_callback = true;
    if ((events & EPOLLOUT) && !ch->closed) {
        if (ch_drain(ch) != 0) {
            ch_fail(ch);
        } else {
            ch_update_events(ch);
        }
    }
    /* Read a bounded batch so one busy peer cannot starve the loop. */
    for (int i = 0; i < 64 && !ch->closed && !ch->paused && !ch->free_pending; i++) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = ch->rbuf, .iov_len = WASP_CH_MAX_FRAME};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf)};
        int passed = -1;
        ssize_t n = recvmsg(ch->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                break;
            }
            if (errno == ECONNRESET) {
                /* The peer closed with frames of ours still unread in its
                 * socket (a stopping worker, requests it never took): the
                 * kernel reports that once, ahead of the frames the peer
                 * sent before closing.  Those are still here, and they are
                 * its last responses: read them; end of stream follows. */
                continue;
            }
            ch_fail(ch);
            break;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                for (size_t k = 0; k < nfd; k++) {
                    int f;

                    memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
                    if (passed < 0) {
                        passed = f;
                    } else {
                        close(f); /* protocol allows one; never leak extras */
                    }
                }
            }
        }
        if (n == 0) {
            if (passed >= 0) {
                close(passed);
            }
            ch_fail(ch);
            break;
        }
        if (msg.msg_flags & MSG_TRUNC) {
            n = 0; /* larger than any record we send: malformed */
        }
        ch_deliver(ch, ch->rbuf, (size_t)n, passed);
    }
    if (!ch->closed && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
        ch_fail(ch);
    }
    ch->in_callback = false;
    ch_maybe_free(ch);
}

wasp_channel_t *wasp_channel_new(wasp_loop_t *loop, int fd, wasp_channel_msg_cb on_msg,
                                 wasp_channel_close_cb on_close, void *data)
{
    wasp_channel_t *ch = calloc(1, sizeof(*ch));

    if (ch == NULL) {
        return NULL;
    }
    ch->rbuf = malloc(WASP_CH_MAX_FRAME);
    if (ch->rbuf == NULL) {
        free(ch);
        return NULL;
    }
    ch->loop = loop;
    ch->fd = fd;
    ch->on_msg = on_msg;
    ch->on_close = on_close;
    ch->data = data;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (wasp_loop_add(loop, fd, EPOLLIN, ch_on_io, ch) != 0) {
        free(ch->rbuf);
        free(ch);
        return NULL;
    }
    return ch;
}

static void ch_destroy(wasp_channel_t *ch)
{
    wasp_loop_defer_cancel(ch->loop, &ch->flush);
    wasp_buf_free(&ch->batch);
    while (ch->head != NULL) {
        ch_frame_t *f = ch->head;

        ch->head = f->next;
        ch_frame_free(f);
    }
    if (!ch->closed) {
        wasp_loop_del(ch->loop, ch->fd);
    }
    close(ch->fd);
    free(ch->rbuf);
    free(ch);
}

static void ch_maybe_free(wasp_channel_t *ch)
{
    if (ch->free_pending) {
        ch_destroy(ch);
    }
}

void wasp_channel_free(wasp_channel_t *ch)
{
    if (ch == NULL) {
        return;
    }
    if (ch->in_callback) {
        /* Freed from inside its own callback: finish when the callback returns. */
        if (!ch->closed) {
            ch->closed = true;
            wasp_loop_del(ch->loop, ch->fd);
        }
        ch->free_pending = true;
        return;
    }
    ch_destroy(ch);
}

int wasp_channel_fd(const wasp_channel_t *ch)
{
    return ch->fd;
}

/* Put a record (a then b) at the end of the queue, copied; fd is taken
 * over. */
static int ch_enqueue(wasp_channel_t *ch, const char *a, size_t alen, const char *b, size_t blen,
                      int fd)
{
    size_t len = alen + blen;
    ch_frame_t *f = malloc(sizeof(*f) + len);

    if (f == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    f->next = NULL;
    f->len = len;
    f->fd = fd;
    memcpy(f->bytes, a, alen);
    if (blen > 0) {
        memcpy(f->bytes + alen, b, blen);
    }
    if (ch->tail != NULL) {
        ch->tail->next = f;
    } else {
        ch->head = f;
    }
    ch->tail = f;
    ch->queued += len;
    ch_update_events(ch);
    return 0;
}

/* Send a record now if nothing waits before it, else queue it.  fd is
 * taken over.  -1: the peer is gone (the read side reports the close). */
static int ch_write_record(wasp_channel_t *ch, const char *a, size_t alen, const char *b,
                           size_t blen, int fd)
{
    if (ch->head == NULL) {
        int rc = ch_send_record(ch, a, alen, b, blen, fd);

        if (rc != 0) {
            if (fd >= 0) {
                close(fd);
            }
            return rc > 0 ? 0 : -1;
        }
    }
    return ch_enqueue(ch, a, alen, b, blen, fd);
}

/* The gathered frames leave as one record. */
static int ch_seal(wasp_channel_t *ch)
{
    int rc;

    if (wasp_buf_size(&ch->batch) == 0) {
        return 0;
    }
    rc = ch_write_record(ch, wasp_buf_ptr(&ch->batch), wasp_buf_size(&ch->batch), NULL, 0, -1);
    wasp_buf_reset(&ch->batch);
    return rc;
}

static void ch_on_flush(wasp_loop_t *loop, void *data)
{
    wasp_channel_t *ch = data;

    if (!ch->closed) {
        ch_seal(ch);
    }
}

int wasp_channel_send(wasp_channel_t *ch, uint16_t type, uint16_t flags, uint32_t stream,
                      const void *payload, size_t len, int pass_fd)
{
    wasp_frame_hdr_t hdr = {.type = type, .flags = flags, .stream = stream,
                            .length = (uint32_t)len};
    size_t total = sizeof(hdr) + len;

    if (ch->closed) {
        return -1;
    }
    if (len > WASP_CH_MAX_FRAME - sizeof(hdr)) {
        wasp_alert("channel: frame of %zu bytes is too large", len);
        return -1;
    }
    if (pass_fd >= 0) {
        /* A descriptor belongs to exactly one record: this frame alone,
         * after everything gathered before it. */
        int fd = fcntl(pass_fd, F_DUPFD_CLOEXEC, 0);

        if (fd < 0) {
            return -1;
        }
        if (ch_seal(ch) != 0) {
            close(fd);
            return -1;
        }
        return ch_write_record(ch, (const char *)&hdr, sizeof(hdr), payload, len, fd);
    }
    if (wasp_buf_size(&ch->batch) + total > WASP_CH_MAX_FRAME && ch_seal(ch) != 0) {
        return -1;
    }
    if (wasp_buf_append(&ch->batch, &hdr, sizeof(hdr)) != 0 ||
        (len > 0 && wasp_buf_append(&ch->batch, payload, len) != 0)) {
        return -1;
    }
    wasp_loop_defer(ch->loop, &ch->flush, ch_on_flush, ch);
    return 0;
}

int wasp_channel_flush(wasp_channel_t *ch)
{
    if (ch->closed) {
        return -1;
    }
    return ch_seal(ch);
}

size_t wasp_channel_queued(const wasp_channel_t *ch)
{
    return ch->queued + wasp_buf_size(&ch->batch);
}

void wasp_channel_pause(wasp_channel_t *ch, bool paused)
{
    if (ch->paused != paused) {
        ch->paused = paused;
        ch_update_events(ch);
    }
}

size_t wasp_channel_pending(const wasp_channel_t *ch)
{
    size_t n = wasp_buf_size(&ch->batch) > 0;

    for (const ch_frame_t *f = ch->head; f != NULL; f = f->next) {
        n++;
    }
    return n;
}

void wasp_channel_flush_blocking(wasp_channel_t *ch)
{
    /* Bounded: at most ~2 s, for shutdown paths where the loop is gone. */
    if (!ch->closed) {
        ch_seal(ch);
    }
    for (int i = 0; ch->head != NULL && i < 20; i++) {
        struct pollfd p = {.fd = ch->fd, .events = POLLOUT};

        if (ch_drain(ch) != 0) {
            break;
        }
        if (ch->head != NULL) {
            poll(&p, 1, 100);
        }
    }
}

/* ---- payload codec ------------------------------------------------------- */

void wasp_enc_u8(wasp_enc_t *e, uint8_t v)
{
    wasp_buf_append(&e->buf, &v, 1);
}

void wasp_enc_u16(wasp_enc_t *e, uint16_t v)
{
    wasp_buf_append(&e->buf, &v, 2);
}

void wasp_enc_u32(wasp_enc_t *e, uint32_t v)
{
    wasp_buf_append(&e->buf, &v, 4);
}

void wasp_enc_u64(wasp_enc_t *e, uint64_t v)
{
    wasp_buf_append(&e->buf, &v, 8);
}

void wasp_enc_str(wasp_enc_t *e, const char *p, size_t len)
{
    wasp_enc_u32(e, (uint32_t)len);
    wasp_buf_append(&e->buf, p, len);
}

void wasp_enc_cstr(wasp_enc_t *e, const char *s)
{
    wasp_enc_str(e, s ? s : "", s ? strlen(s) : 0);
}

void wasp_dec_init(wasp_dec_t *d, const char *p, size_t len)
{
    d->p = p;
    d->end = p + len;
    d->error = false;
}

static bool dec_take(wasp_dec_t *d, void *out, size_t n)
{
    if (d->error || (size_t)(d->end - d->p) < n) {
        d->error = true;
        memset(out, 0, n);
        return false;
    }
    memcpy(out, d->p, n);
    d->p += n;
    return true;
}

uint8_t wasp_dec_u8(wasp_dec_t *d)
{
    uint8_t v;

    dec_take(d, &v, 1);
    return v;
}

uint16_t wasp_dec_u16(wasp_dec_t *d)
{
    uint16_t v;

    dec_take(d, &v, 2);
    return v;
}

uint32_t wasp_dec_u32(wasp_dec_t *d)
{
    uint32_t v;

    dec_take(d, &v, 4);
    return v;
}

uint64_t wasp_dec_u64(wasp_dec_t *d)
{
    uint64_t v;

    dec_take(d, &v, 8);
    return v;
}

const char *wasp_dec_str(wasp_dec_t *d, size_t *len)
{
    uint32_t n = wasp_dec_u32(d);
    const char *p;

    if (d->error || (size_t)(d->end - d->p) < n) {
        d->error = true;
        *len = 0;
        return "";
    }
    p = d->p;
    d->p += n;
    *len = n;
    return p;
}

void wasp_dec_cstr(wasp_dec_t *d, char *dst, size_t size)
{
    size_t n;
    const char *p = wasp_dec_str(d, &n);

    if (n >= size) {
        d->error = true;
        n = size - 1;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
}
