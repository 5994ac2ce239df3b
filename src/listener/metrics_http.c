/*
 * The admin binding: a second, tiny HTTP/1.x server inside the listener
 * that answers GET /metrics with the counters as OpenMetrics text.  It is
 * deliberately separate from conn.c: no routing, no worker, no keep-alive
 * (one request, then close), so nothing a site's configuration does can
 * reach it.  A client whose address is not in allowedAddresses gets 403
 * and the connection closes (an answer tells an operator who misconfigured
 * a scraper what happened; closing silently would look like a network
 * fault).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/counters.h"
#include "listener/listener.h"
#include "listener/metrics_fmt.h"

#define METRICS_MAX_HEAD 8192u
#define METRICS_TIMEOUT_MS 10000u

typedef struct metrics_conn {
    int fd;
    char peer[64];
    wasp_buf_t in, out;
    bool writing;
    bool allowed; /* the peer is in allowedAddresses */
    wasp_ltimer_t *timer;
} metrics_conn_t;

static int admin_fd = -1;
static char admin_binding[128];
static char allowed[1024];

/* Is ip one of the comma-separated literals in allowed? */
static bool metrics_allowed(const char *ip)
{
    const char *p = allowed;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);

        while (n > 0 && (*p == ' ')) {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ') {
            n--;
        }
        if (n == strlen(ip) && strncasecmp(p, ip, n) == 0) {
            return true;
        }
        p += n;
        while (*p == ' ' || *p == ',') {
            p++;
        }
    }
    return false;
}

static void metrics_close(metrics_conn_t *m)
{
    if (m->timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, m->timer);
    }
    wasp_loop_del(lsn_loop, m->fd);
    close(m->fd);
    wasp_buf_free(&m->in);
    wasp_buf_free(&m->out);
    free(m);
}

static void metrics_timeout(wasp_loop_t *loop, void *data)
{
    metrics_conn_t *m = data;

    m->timer = NULL;
    metrics_close(m);
}

/* Write what is queued; close when done. */
static void metrics_write(metrics_conn_t *m)
{
    while (wasp_buf_size(&m->out) > 0) {
        ssize_t n = send(m->fd, wasp_buf_ptr(&m->out), wasp_buf_size(&m->out), MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wasp_loop_mod(lsn_loop, m->fd, EPOLLOUT);
            return;
        }
        if (n <= 0) {
            break;
        }
        wasp_buf_consume(&m->out, (size_t)n);
    }
    metrics_close(m);
}

static void metrics_answer(metrics_conn_t *m, int status, const char *reason, const char *type,
                           const wasp_buf_t *body, bool head_only)
{
    size_t len = body != NULL ? wasp_buf_size(body) : 0;

    wasp_buf_appendf(&m->out,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, reason, type, len);
    if (body != NULL && !head_only) {
        wasp_buf_append(&m->out, wasp_buf_ptr(body), len);
    }
    m->writing = true;
    metrics_write(m);
}

static void metrics_text(metrics_conn_t *m, int status, const char *reason, bool head_only)
{
    wasp_buf_t body = {0};

    wasp_buf_appendf(&body, "%d %s\n", status, reason);
    metrics_answer(m, status, reason, "text/plain; charset=utf-8", &body, head_only);
    wasp_buf_free(&body);
}

/* The request head is complete: only its request line matters. */
static void metrics_request(metrics_conn_t *m)
{
    const char *p = wasp_buf_ptr(&m->in);
    const char *sp1 = memchr(p, ' ', wasp_buf_size(&m->in));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', wasp_buf_size(&m->in) - (size_t)(sp1 + 1 - p))
                          : NULL;
    bool get, head;
    size_t path_len;

    if (!m->allowed) {
        wasp_info("admin binding: %s is not in allowedAddresses: 403", m->peer);
        metrics_text(m, 403, "Forbidden", false);
        return;
    }
    if (sp1 == NULL || sp2 == NULL) {
        metrics_text(m, 400, "Bad Request", false);
        return;
    }
    get = sp1 - p == 3 && memcmp(p, "GET", 3) == 0;
    head = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;
    path_len = (size_t)(sp2 - (sp1 + 1));
    if (!(path_len == 8 || (path_len > 8 && sp1[9] == '?')) || memcmp(sp1 + 1, "/metrics", 8)) {
        metrics_text(m, 404, "Not Found", head);
        return;
    }
    if (!get && !head) {
        metrics_text(m, 405, "Method Not Allowed", false);
        return;
    }
    wasp_buf_t body = {0};

    lsn_counters_openmetrics(&body);
    metrics_answer(m, 200, "OK", WASP_METRICS_CONTENT_TYPE, &body, head);
    wasp_buf_free(&body);
}

static void metrics_on_io(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    metrics_conn_t *m = data;
    char chunk[2048];
    ssize_t n;

    if (m->writing) {
        metrics_write(m);
        return;
    }
    n = recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        metrics_close(m);
        return;
    }
    wasp_buf_append(&m->in, chunk, (size_t)n);
    if (memmem(wasp_buf_ptr(&m->in), wasp_buf_size(&m->in), "\r\n\r\n", 4) != NULL ||
        memmem(wasp_buf_ptr(&m->in), wasp_buf_size(&m->in), "\n\n", 2) != NULL) {
        metrics_request(m);
    } else if (wasp_buf_size(&m->in) > METRICS_MAX_HEAD) {
        metrics_text(m, 431, "Request Header Fields Too Large", false);
    }
}

static void metrics_on_accept(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        uint16_t port;
        int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        metrics_conn_t *m;

        if (cfd < 0) {
            return;
        }
        m = calloc(1, sizeof(*m));
        if (m == NULL) {
            close(cfd);
            continue;
        }
        m->fd = cfd;
        wasp_sockaddr_str(&peer, m->peer, sizeof(m->peer), &port);
        if (wasp_loop_add(lsn_loop, cfd, EPOLLIN, metrics_on_io, m) != 0) {
            close(cfd);
            free(m);
            continue;
        }
        m->allowed = metrics_allowed(m->peer);
        m->timer = wasp_loop_timer(lsn_loop, METRICS_TIMEOUT_MS, metrics_timeout, m);
    }
}

void lsn_metrics_listen(int fd, const char *binding, const char *allowed_addresses)
{
    snprintf(allowed, sizeof(allowed), "%s", allowed_addresses);
    if (admin_fd >= 0 && fd >= 0 && strcmp(binding, admin_binding) == 0) {
        close(fd); /* the same binding pushed again: keep the socket we have */
        return;
    }
    snprintf(admin_binding, sizeof(admin_binding), "%s", binding);
    if (admin_fd >= 0) {
        wasp_loop_del(lsn_loop, admin_fd);
        close(admin_fd);
        admin_fd = -1;
    }
    if (fd < 0) {
        return;
    }
    admin_fd = fd;
    wasp_set_nonblock(fd);
    wasp_loop_add(lsn_loop, fd, EPOLLIN, metrics_on_accept, NULL);
    wasp_info("admin binding %s: /metrics for %s", binding, allowed);
}
