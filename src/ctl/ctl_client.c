/*
 * waspctl's end of the control socket (protocol: src/common/ctl_proto.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/ctl_proto.h"
#include "ctl/ctl_client.h"

const char *ctl_socket_path(const char *rundir, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", rundir, WASP_CTL_SOCKET);
    return buf;
}

static void ctl_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ctl_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errsz > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
}

static int ctl_connect(const char *rundir, int *out, char *err, size_t errsz)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char path[4096];
    int fd;

    ctl_socket_path(rundir, path, sizeof(path));
    if (strlen(path) >= sizeof(sa.sun_path)) {
        ctl_err(err, errsz,
                "the control socket path %s is longer than a Unix socket path may be (%zu "
                "bytes); use a shorter --runtime-dir",
                path, sizeof(sa.sun_path) - 1);
        return CTL_CALL_ERROR;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ctl_err(err, errsz, "cannot create a socket: %s", strerror(errno));
        return CTL_CALL_ERROR;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;

        close(fd);
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
            return CTL_CALL_NOT_RUNNING;
        }
        if (e == EACCES || e == EPERM) {
            ctl_err(err, errsz,
                    "cannot connect to %s: %s; waspd serves only root and its own user, so "
                    "run waspctl as one of them",
                    path, strerror(e));
        } else {
            ctl_err(err, errsz, "cannot connect to %s: %s", path, strerror(e));
        }
        return CTL_CALL_ERROR;
    }
    *out = fd;
    return CTL_CALL_OK;
}

static int ctl_send_words(int fd, const char *const *words, size_t n, char *err, size_t errsz)
{
    size_t len = 0;
    char *msg;
    ssize_t w;

    for (size_t i = 0; i < n; i++) {
        len += strlen(words[i]) + 1;
    }
    if (len > WASP_CTL_MAX) {
        ctl_err(err, errsz, "the command is longer than the %d bytes waspd accepts",
                WASP_CTL_MAX);
        return CTL_CALL_ERROR;
    }
    msg = malloc(len ? len : 1);
    if (msg == NULL) {
        ctl_err(err, errsz, "out of memory");
        return CTL_CALL_ERROR;
    }
    len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(words[i]) + 1;

        memcpy(msg + len, words[i], l);
        len += l;
    }
    do {
        w = send(fd, msg, len, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    free(msg);
    if (w != (ssize_t)len) {
        ctl_err(err, errsz, "cannot send the command to waspd: %s",
                w < 0 ? strerror(errno) : "short write");
        return CTL_CALL_ERROR;
    }
    return CTL_CALL_OK;
}

static int ctl_append(ctl_reply_t *r, const char *p, size_t n)
{
    char *o = realloc(r->out, r->out_len + n + 1);

    if (o == NULL) {
        return -1;
    }
    memcpy(o + r->out_len, p, n);
    r->out = o;
    r->out_len += n;
    r->out[r->out_len] = '\0';
    return 0;
}

static void ctl_progress(const char *p, size_t n)
{
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) {
        n--;
    }
    fprintf(stderr, "%.*s\n", (int)n, p);
    fflush(stderr);
}

/* "D<status> <message>" */
static int ctl_done(ctl_reply_t *r, const char *p, size_t n)
{
    char *text = strndup(p, n), *end;
    long status;

    if (text == NULL) {
        return -1;
    }
    status = strtol(text, &end, 10);
    if (end == text) {
        free(text);
        return -1;
    }
    if (*end == ' ') {
        end++;
    }
    memmove(text, end, strlen(end) + 1);
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        text[--n] = '\0';
    }
    r->status = (int)status;
    r->message = text;
    return 0;
}

/* Read datagrams until 'D'. */
static int ctl_read_reply(int fd, unsigned flags, int timeout_ms, ctl_reply_t *r, char *err,
                          size_t errsz)
{
    char *dg = malloc(WASP_CTL_MAX + 1);
    int rc = CTL_CALL_ERROR;

    if (dg == NULL) {
        ctl_err(err, errsz, "out of memory");
        return CTL_CALL_ERROR;
    }
    if (timeout_ms > 0) {
        struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    for (;;) {
        ssize_t n = recv(fd, dg, WASP_CTL_MAX, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ctl_err(err, errsz, "waspd did not answer within %d seconds", timeout_ms / 1000);
            break;
        }
        if (n < 0) {
            ctl_err(err, errsz, "reading waspd's answer failed: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            ctl_err(err, errsz,
                    "waspd closed the control connection before it finished the command "
                    "(see waspd's log)");
            break;
        }
        if (dg[0] == 'O') {
            if (ctl_append(r, dg + 1, (size_t)n - 1) != 0) {
                ctl_err(err, errsz, "out of memory");
                break;
            }
        } else if (dg[0] == 'P') {
            if (flags & CTL_PROGRESS) {
                ctl_progress(dg + 1, (size_t)n - 1);
            }
        } else if (dg[0] == 'D' && ctl_done(r, dg + 1, (size_t)n - 1) == 0) {
            rc = CTL_CALL_OK;
            break;
        } else {
            ctl_err(err, errsz, "waspd sent an answer waspctl does not understand ('%c'); are "
                                "waspd and waspctl from the same build?",
                    dg[0]);
            break;
        }
    }
    free(dg);
    return rc;
}

int ctl_call(const char *rundir, const char *const *words, size_t n, unsigned flags,
             int timeout_ms, ctl_reply_t *reply, char *err, size_t errsz)
{
    int fd = -1, rc;

    memset(reply, 0, sizeof(*reply));
    reply->status = -1;
    if (ctl_append(reply, "", 0) != 0) {
        ctl_err(err, errsz, "out of memory");
        return CTL_CALL_ERROR;
    }
    rc = ctl_connect(rundir, &fd, err, errsz);
    if (rc == CTL_CALL_OK) {
        rc = ctl_send_words(fd, words, n, err, errsz);
    }
    if (rc == CTL_CALL_OK) {
        rc = ctl_read_reply(fd, flags, timeout_ms, reply, err, errsz);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (reply->message == NULL) {
        reply->message = strdup("");
    }
    return rc;
}

void ctl_reply_free(ctl_reply_t *reply)
{
    free(reply->message);
    free(reply->out);
    memset(reply, 0, sizeof(*reply));
}

size_t ctl_split(char *line, char sep, char **fields, size_t max)
{
    size_t n = 0;

    while (n < max) {
        char *s = strchr(line, sep);

        fields[n++] = line;
        if (s == NULL) {
            break;
        }
        *s = '\0';
        line = s + 1;
    }
    return n;
}

/* ---- state ------------------------------------------------------------------- */

static void ctl_state_line(ctl_state_t *st, char *line)
{
    char *f[8] = { 0 };
    size_t n = ctl_split(line, '\t', f, 8);

    if (n >= 3 && strcmp(f[0], "pool") == 0) {
        st->pools[st->pool_count++] = (ctl_pool_state_t){ f[1], f[2], n > 3 ? f[3] : "" };
    } else if (n >= 4 && strcmp(f[0], "wp") == 0) {
        st->wps[st->wp_count++] = (ctl_wp_state_t){ f[1], f[2], f[3], n > 4 ? f[4] : "",
                                                    n > 5 ? f[5] : "" };
    } else if (n >= 4 && strcmp(f[0], "site") == 0) {
        st->sites[st->site_count++] = (ctl_site_state_t){ f[1], f[2], f[3] };
    }
    /* other kinds: a newer waspd; ignored */
}

int ctl_state_fetch(const char *rundir, ctl_state_t *st, char *err, size_t errsz)
{
    static const char *const words[] = { "state" };
    size_t lines = 1;
    char *line;
    int rc;

    memset(st, 0, sizeof(*st));
    rc = ctl_call(rundir, words, 1, 0, 10000, &st->reply, err, errsz);
    if (rc == CTL_CALL_NOT_RUNNING) {
        return CTL_CALL_OK;
    }
    if (rc != CTL_CALL_OK) {
        return rc;
    }
    if (st->reply.status != 0) {
        ctl_err(err, errsz, "waspd did not give its state: %s", st->reply.message);
        return CTL_CALL_ERROR;
    }
    st->running = true;
    for (const char *p = st->reply.out; *p; p++) {
        lines += *p == '\n';
    }
    st->pools = calloc(lines, sizeof(*st->pools));
    st->wps = calloc(lines, sizeof(*st->wps));
    st->sites = calloc(lines, sizeof(*st->sites));
    if (st->pools == NULL || st->wps == NULL || st->sites == NULL) {
        ctl_err(err, errsz, "out of memory");
        return CTL_CALL_ERROR;
    }
    line = st->reply.out;
    while (*line) {
        char *nl = strchr(line, '\n');

        if (nl != NULL) {
            *nl = '\0';
        }
        ctl_state_line(st, line);
        if (nl == NULL) {
            break;
        }
        line = nl + 1;
    }
    return CTL_CALL_OK;
}

void ctl_state_free(ctl_state_t *st)
{
    free(st->pools);
    free(st->wps);
    free(st->sites);
    ctl_reply_free(&st->reply);
    memset(st, 0, sizeof(*st));
}

const char *ctl_state_pool(const ctl_state_t *st, const char *name)
{
    for (size_t i = 0; i < st->pool_count; i++) {
        if (strcasecmp(st->pools[i].name, name) == 0) {
            return st->pools[i].state;
        }
    }
    return "Unknown";
}

const char *ctl_state_site(const ctl_state_t *st, const char *name, unsigned id)
{
    char num[16];

    snprintf(num, sizeof(num), "%u", id);
    for (size_t i = 0; i < st->site_count; i++) {
        if (strcmp(st->sites[i].id, num) == 0 || strcasecmp(st->sites[i].name, name) == 0) {
            return st->sites[i].state;
        }
    }
    return "Unknown";
}
