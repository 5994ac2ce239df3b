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
static int ch_send_one(wasp_channel_t *ch, ch_frame_t *f)
{
    struct iovec iov = {.iov_base = f->bytes, .iov_len = f->len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (f->fd >= 0) {
        struct cmsghdr *c;

        memset(&u, 0, sizeof(u));
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &f->fd, sizeof(int));
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
        int rc = ch_send_one(ch, f);

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
        wasp_frame_hdr_t hdr;
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
        if ((size_t)n < sizeof(hdr) || (msg.msg_flags & MSG_TRUNC)) {
            wasp_error("channel: malformed frame of %zd bytes; closing", n);
            if (passed >= 0) {
                close(passed);
            }
            ch_fail(ch);
            break;
        }
        memcpy(&hdr, ch->rbuf, sizeof(hdr));
        if (hdr.length != (size_t)n - sizeof(hdr)) {
            wasp_error("channel: frame length %u does not match %zd bytes; closing",
                       hdr.length, n);
            if (passed >= 0) {
                close(passed);
            }
            ch_fail(ch);
            break;
        }
        ch->on_msg(ch, &hdr, ch->rbuf + sizeof(hdr), passed, ch->data);
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

int wasp_channel_send(wasp_channel_t *ch, uint16_t type, uint16_t flags, uint32_t stream,
                      const void *payload, size_t len, int pass_fd)
{
    wasp_frame_hdr_t hdr = {.type = type, .flags = flags, .stream = stream,
                            .length = (uint32_t)len};
    ch_frame_t *f;

    if (ch->closed) {
        return -1;
    }
    if (len > WASP_CH_MAX_FRAME - sizeof(hdr)) {
        wasp_alert("channel: frame of %zu bytes is too large", len);
        return -1;
    }
    f = malloc(sizeof(*f) + sizeof(hdr) + len);
    if (f == NULL) {
        return -1;
    }
    f->next = NULL;
    f->len = sizeof(hdr) + len;
    f->fd = -1;
    memcpy(f->bytes, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(f->bytes + sizeof(hdr), payload, len);
    }
    if (pass_fd >= 0) {
        f->fd = fcntl(pass_fd, F_DUPFD_CLOEXEC, 0);
        if (f->fd < 0) {
            free(f);
            return -1;
        }
    }
    if (ch->head == NULL) {
        int rc = ch_send_one(ch, f);

        if (rc == 1) {
            ch_frame_free(f);
            return 0;
        }
        if (rc < 0) {
            ch_frame_free(f);
            return -1;
        }
    }
    if (ch->tail != NULL) {
        ch->tail->next = f;
    } else {
        ch->head = f;
    }
    ch->tail = f;
    ch->queued += f->len;
    ch_update_events(ch);
    return 0;
}

size_t wasp_channel_queued(const wasp_channel_t *ch)
{
    return ch->queued;
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
    size_t n = 0;

    for (const ch_frame_t *f = ch->head; f != NULL; f = f->next) {
        n++;
    }
    return n;
}

void wasp_channel_flush_blocking(wasp_channel_t *ch)
{
    /* Bounded: at most ~2 s, for shutdown paths where the loop is gone. */
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
