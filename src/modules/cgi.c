/*
 * CgiModule (IIS cgi.dll): runs a CGI/1.1 program per request
 * (iis-modules.md 1.8, 2.19, 2.21; RFC 3875).
 *
 * At ExecuteRequestHandler, for the handler mapping that names it:
 *   script         the URL's file; with allowPathInfo="true" the shortest
 *                  '/'-bounded prefix of the URL that is a file, the rest
 *                  being PATH_INFO                     (missing → 404.0)
 *   program        the mapping's scriptProcessor, a command line whose
 *                  first "%s" is replaced by the script's path (appended
 *                  when there is none; "exe|args" is accepted too), or the
 *                  script itself when there is no scriptProcessor (CGI-exe)
 *   restriction    <security/isapiCgiRestriction>: the program (or the
 *                  whole scriptProcessor line) must be listed allowed="true"
 *                  unless notListedCgisAllowed="true"      (else 404.2)
 *   process        fork + exec as the worker's identity (the pool's: that is
 *                  what createProcessAsUser means here), in the script's
 *                  directory, with exactly the cgi_env.h environment; stdin
 *                  is the request body, stdout the response, stderr goes to
 *                  the log (one line per read, with the script's path); the
 *                  process leads its own process group, so a timeout or a
 *                  client that goes away kills whatever it started too
 *   response       cgi_response.h: Status, Location (a client redirect → 302
 *                  with Location; a local one is answered 302 too, because
 *                  the URL can no longer be rewritten once the handler runs),
 *                  headers in order; the body is streamed as it comes: sent
 *                  when the script pauses (CGI_FLUSH_DELAY_MS without
 *                  output) or every CGI_FLUSH_BYTES, and not read on while
 *                  more than CGI_QUEUE_MAX bytes wait for a slow client
 *   "nph-" scripts write their own status line ("HTTP/1.1 200 OK"), which
 *                  gives the status; their output is sent unbuffered
 *   errors         no valid header block → 502.2; <cgi timeout> (default
 *                  15 minutes, "00:00:00" = none) exceeded → killed, 502.1;
 *                  a program the worker may not run → 403.19; a missing one
 *                  → 500.0.  After the headers were sent an error can only
 *                  end the response early (and is logged).
 *
 * Everything is asynchronous: the handler returns WASP_PENDING and the
 * pipes are served by the worker's loop, so one worker runs many CGI
 * requests and serves other requests meanwhile.  Children are reaped with
 * waitpid(WNOHANG) when their output ends, then by a polling timer for
 * those still running (which are killed at their request's deadline).
 * createCGIWithNewConsole is a Windows console matter and is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "modules/builtin.h"
#include "modules/cgi_env.h"
#include "modules/cgi_response.h"
#include "modules/modutil.h"

#define CGI_SECTION "system.webServer/cgi"
#define CGI_RESTRICTION_SECTION "system.webServer/security/isapiCgiRestriction"
#define CGI_DEFAULT_TIMEOUT_S (15 * 60)  /* schema default 00:15:00 */
#define CGI_READ_CHUNK (64 * 1024)
#define CGI_READS_PER_WAKEUP 16          /* then let other requests run */
#define CGI_FLUSH_DELAY_MS 20            /* a pause this long sends what we have */
#define CGI_FLUSH_BYTES (64 * 1024)      /* and so does this much unsent output */
#define CGI_QUEUE_MAX (256 * 1024)       /* stop reading above this many queued bytes */
#define CGI_QUEUE_POLL_MS 10
#define CGI_REAP_POLL_MS 50
#define CGI_STDERR_CHUNK 1024
#define CGI_NPH_LINE_MAX 256
#define CGI_MAX_ARGS 64

typedef struct cgi_req {
    wasp_request_t *req;
    bool live;                 /* a process runs for this request */
    pid_t pid;
    int in_fd, out_fd, err_fd; /* our ends of its stdin, stdout, stderr; -1 = closed */
    wasp_str_t body;
    size_t body_off;
    const char *script;        /* physical path, for messages */
    uint64_t timeout_s;
    uint64_t deadline_ms;      /* monotonic; 0 = none */
    wasp_timer_t *timeout_timer, *flush_timer, *queue_timer;
    cgi_head_t head;
    bool head_done;
    bool discard_body;         /* local redirect: the script's body is not sent */
    bool nph;
    bool nph_line_done;
    char nph_line[CGI_NPH_LINE_MAX];
    size_t nph_len;
    bool paused;               /* stdout unwatched until the client catches up */
    bool flushed;              /* headers are on their way: no error page now */
    size_t unflushed;
} cgi_req_t;

/* ---- reaping -------------------------------------------------------------- */

/* Processes whose request is over but which have not exited yet: polled
 * until waitpid() collects them, killed (with their process group) at
 * kill_at.  Process-wide, because they outlive their request. */
typedef struct cgi_orphan {
    struct cgi_orphan *next;
    pid_t pid;
    uint64_t kill_at; /* 0 = never */
    bool killed;
} cgi_orphan_t;

static cgi_orphan_t *cgi_orphans;
static wasp_timer_t *cgi_reap_timer;

static uint64_t cgi_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void cgi_kill_group(pid_t pid)
{
    /* The group first (the script's own children); the leader by pid in
     * case setpgid() lost a race with exec and it has no group of its own. */
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

static void cgi_reap_tick(void *data)
{
    uint64_t now = cgi_now_ms();

    cgi_reap_timer = NULL;
    for (cgi_orphan_t **pp = &cgi_orphans; *pp != NULL;) {
        cgi_orphan_t *o = *pp;
        pid_t r = waitpid(o->pid, NULL, WNOHANG);

        if (r == o->pid || (r < 0 && errno == ECHILD)) {
            *pp = o->next;
            free(o);
            continue;
        }
        if (!o->killed && o->kill_at != 0 && now >= o->kill_at) {
            cgi_kill_group(o->pid);
            o->killed = true;
        }
        pp = &o->next;
    }
    if (cgi_orphans != NULL) {
        cgi_reap_timer = wasp_timer_start(CGI_REAP_POLL_MS, cgi_reap_tick, NULL);
    }
}

static void cgi_orphan_add(pid_t pid, uint64_t kill_at, bool killed)
{
    cgi_orphan_t *o = calloc(1, sizeof(*o));

    if (o == NULL) {
        /* Cannot remember it: make sure it dies; init reaps it when the
         * worker exits. */
        cgi_kill_group(pid);
        return;
    }
    o->pid = pid;
    o->kill_at = kill_at;
    o->killed = killed;
    o->next = cgi_orphans;
    cgi_orphans = o;
    if (cgi_reap_timer == NULL) {
        cgi_reap_timer = wasp_timer_start(CGI_REAP_POLL_MS, cgi_reap_tick, NULL);
    }
}

static void cgi_process_exit(wasp_module_t *self)
{
    if (cgi_reap_timer != NULL) {
        wasp_timer_cancel(cgi_reap_timer);
        cgi_reap_timer = NULL;
    }
    while (cgi_orphans != NULL) {
        cgi_orphan_t *o = cgi_orphans;

        cgi_orphans = o->next;
        cgi_kill_group(o->pid);
        free(o);
    }
}

/* ---- one request's process ------------------------------------------------ */

static void cgi_close(int *fd)
{
    if (*fd >= 0) {
        wasp_fd_unwatch(*fd);
        close(*fd);
        *fd = -1;
    }
}

static void cgi_cancel(wasp_timer_t **t)
{
    if (*t != NULL) {
        wasp_timer_cancel(*t);
        *t = NULL;
    }
}

/* Release everything the request holds: timers, pipes, the process (killed
 * when kill_it, else left to finish until the request's deadline). */
static void cgi_stop(cgi_req_t *c, bool kill_it)
{
    if (!c->live) {
        return;
    }
    c->live = false;
    cgi_cancel(&c->timeout_timer);
    cgi_cancel(&c->flush_timer);
    cgi_cancel(&c->queue_timer);
    cgi_close(&c->in_fd);
    cgi_close(&c->out_fd);
    cgi_close(&c->err_fd);
    if (kill_it) {
        cgi_kill_group(c->pid);
    }
    int st;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == c->pid) {
        if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
            wasp_log(c->req, WASP_LOG_INFO, "CGI %s exited with status %d", c->script,
                     WEXITSTATUS(st));
        }
    } else if (r == 0) {
        cgi_orphan_add(c->pid, c->deadline_ms, kill_it);
    }
    c->pid = 0;
    cgi_head_free(&c->head);
}

static void cgi_request_cleanup(void *data)
{
    cgi_stop(data, true); /* only does something if the request ended oddly */
}

/* The request is over for this module: release, then resume.  The request
 * may be gone when wasp_request_resume() returns; callers return at once. */
static void cgi_finish(cgi_req_t *c, bool kill_it)
{
    wasp_request_t *req = c->req;

    cgi_stop(c, kill_it);
    wasp_request_resume(req, WASP_FINISH);
}

/* Fail with an IIS status, or, when the headers are already on their way,
 * end the response where it is (only the log can tell). */
static void cgi_fail(cgi_req_t *c, int status, int substatus, const char *why)
{
    wasp_log(c->req, WASP_LOG_WARN, "CGI %s: %s", c->script, why);
    if (!c->flushed) {
        wasp_response_clear(c->req);
        wasp_request_fail(c->req, status, substatus, why);
    }
    cgi_finish(c, true);
}

/* "HTTP/1.x NNN reason" of an nph- script.  0 ok, -1 invalid. */
static int cgi_nph_status(cgi_req_t *c)
{
    const char *l = c->nph_line;
    size_t n = c->nph_len;

    if (n > 0 && l[n - 1] == '\r') {
        n--;
    }
    if (n < 12 || strncmp(l, "HTTP/", 5) != 0 || l[5] < '0' || l[5] > '9' || l[6] != '.' ||
        l[7] < '0' || l[7] > '9' || l[8] != ' ') {
        return -1;
    }
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9') {
            return -1;
        }
        code = code * 10 + (l[i] - '0');
    }
    if (code < 200 || code > 599 || (n > 12 && l[12] != ' ')) {
        return -1;
    }
    size_t r = n > 12 ? 13 : 12, rlen = n - r;
    for (size_t i = r; i < n; i++) {
        if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f) {
            return -1;
        }
    }
    if (rlen >= sizeof(c->head.reason)) {
        rlen = sizeof(c->head.reason) - 1;
    }
    memcpy(c->head.reason, l + r, rlen);
    c->head.reason[rlen] = '\0';
    /* A status set before parsing counts as a Status header given. */
    c->head.status = code;
    return 0;
}

/* Take the nph status line from the front of data; returns how many bytes
 * it used, or -1 when the line is invalid. */
static ssize_t cgi_nph_take(cgi_req_t *c, const char *data, size_t len)
{
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;

    if (c->nph_len + take > sizeof(c->nph_line)) {
        return -1;
    }
    memcpy(c->nph_line + c->nph_len, data, take);
    c->nph_len += take;
    if (nl == NULL) {
        return (ssize_t)len;
    }
    c->nph_line_done = true;
    return cgi_nph_status(c) == 0 ? (ssize_t)take + 1 : -1;
}

static void cgi_flush(cgi_req_t *c)
{
    cgi_cancel(&c->flush_timer);
    c->unflushed = 0;
    c->flushed = true;
    wasp_response_flush(c->req);
}

static void cgi_flush_tick(void *data)
{
    cgi_req_t *c = data;

    c->flush_timer = NULL;
    cgi_flush(c);
}

static void cgi_on_stdout(int fd, uint32_t events, void *data);

static void cgi_queue_tick(void *data)
{
    cgi_req_t *c = data;

    c->queue_timer = NULL;
    if (wasp_response_queued(c->req) > CGI_QUEUE_MAX / 2) {
        c->queue_timer = wasp_timer_start(CGI_QUEUE_POLL_MS, cgi_queue_tick, c);
        if (c->queue_timer != NULL) {
            return;
        }
    }
    c->paused = false;
    if (wasp_fd_watch(c->out_fd, EPOLLIN, cgi_on_stdout, c) != 0) {
        cgi_fail(c, 500, 0, "0x8007000e Cannot watch the CGI application's output again.");
    }
}

/* Too much output waits for the client: stop reading, so the script
 * blocks on its pipe instead of the worker buffering without bound. */
static void cgi_maybe_pause(cgi_req_t *c)
{
    if (c->paused || wasp_response_queued(c->req) <= CGI_QUEUE_MAX) {
        return;
    }
    c->queue_timer = wasp_timer_start(CGI_QUEUE_POLL_MS, cgi_queue_tick, c);
    if (c->queue_timer != NULL) {
        wasp_fd_unwatch(c->out_fd);
        c->paused = true;
    }
}

/* Bytes from stdout.  Returns 0, or -1 when the request was finished (c
 * must not be used any more). */
static int cgi_output(cgi_req_t *c, const char *data, size_t len)
{
    if (c->nph && !c->nph_line_done) {
        ssize_t used = cgi_nph_take(c, data, len);

        if (used < 0) {
            cgi_fail(c, 502, 2, "The nph- CGI application did not start its output with an "
                     "HTTP status line (\"HTTP/1.1 200 OK\").");
            return -1;
        }
        data += used;
        len -= (size_t)used;
    }
    if (!c->head_done && len > 0) {
        size_t used;

        switch (cgi_head_parse(&c->head, data, len, &used)) {
        case CGI_HEAD_MORE:
            return 0;
        case CGI_HEAD_ERROR: {
            char why[256];
            snprintf(why, sizeof(why), "The specified CGI application misbehaved by not "
                     "returning a complete set of HTTP headers: %s", c->head.error);
            cgi_fail(c, 502, 2, why);
            return -1;
        }
        case CGI_HEAD_DONE:
            c->head_done = true;
            if (c->nph && c->head.local_redirect) {
                c->head.local_redirect = false; /* an nph- script says it all itself */
            }
            c->discard_body = cgi_head_apply(&c->head, c->req, c->script);
            data += used;
            len -= used;
            break;
        }
    }
    if (len == 0 || c->discard_body) {
        return 0;
    }
    if (wasp_response_write(c->req, data, len) != 0) {
        cgi_fail(c, 500, 0, "0x8007000e Out of memory buffering the CGI application's output.");
        return -1;
    }
    c->unflushed += len;
    if (c->nph || c->unflushed >= CGI_FLUSH_BYTES) {
        cgi_flush(c);
    }
    cgi_maybe_pause(c);
    return 0;
}

static void cgi_on_stderr(int fd, uint32_t events, void *data);

/* stdout ended (EOF or error): the response is complete, or invalid. */
static void cgi_output_end(cgi_req_t *c)
{
    if (c->nph && !c->nph_line_done) {
        cgi_fail(c, 502, 2, "The nph- CGI application ended before its status line.");
        return;
    }
    if (!c->head_done && cgi_head_finish(&c->head) != CGI_HEAD_DONE) {
        char why[256];
        snprintf(why, sizeof(why), "The specified CGI application misbehaved by not returning "
                 "a complete set of HTTP headers: %s", c->head.error);
        cgi_fail(c, 502, 2, why);
        return;
    }
    if (c->err_fd >= 0) {
        cgi_on_stderr(c->err_fd, EPOLLIN, c); /* what it said last, if it is there */
    }
    /* Not flushed since the pause timer was armed: the rest goes with the
     * response (Content-Length when nothing was flushed at all). */
    cgi_finish(c, false);
}

static void cgi_on_stdout(int fd, uint32_t events, void *data)
{
    cgi_req_t *c = data;
    char buf[CGI_READ_CHUNK];

    for (int i = 0; i < CGI_READS_PER_WAKEUP && !c->paused; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0) {
            if (cgi_output(c, buf, (size_t)n) != 0) {
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The script paused: what it wrote goes out soon, unless more
             * follows at once (coalescing keeps quick scripts' responses in
             * one piece, with a Content-Length). */
            if (c->head_done && (c->unflushed > 0 || !c->flushed) && c->flush_timer == NULL) {
                c->flush_timer = wasp_timer_start(CGI_FLUSH_DELAY_MS, cgi_flush_tick, c);
            }
            return;
        }
        cgi_output_end(c);
        return;
    }
}

/* stderr: logged, one line per read, never sent to the client. */
static void cgi_log_stderr(cgi_req_t *c, const char *data, size_t len)
{
    char line[CGI_STDERR_CHUNK * 2 + 1];
    size_t n = 0;

    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r')) {
        len--;
    }
    for (size_t i = 0; i < len && n + 2 < sizeof(line); i++) {
        unsigned char ch = (unsigned char)data[i];

        if (ch == '\n') {
            line[n++] = '\\';
            line[n++] = 'n';
        } else if (ch < 0x20 || ch == 0x7f) {
            line[n++] = '?';
        } else {
            line[n++] = (char)ch;
        }
    }
    line[n] = '\0';
    if (n > 0) {
        wasp_log(c->req, WASP_LOG_WARN, "CGI %s stderr: %s", c->script, line);
    }
}

static void cgi_on_stderr(int fd, uint32_t events, void *data)
{
    cgi_req_t *c = data;
    char buf[CGI_STDERR_CHUNK];

    for (int i = 0; i < CGI_READS_PER_WAKEUP; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0) {
            cgi_log_stderr(c, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        cgi_close(&c->err_fd); /* EOF: the script (and its children) closed it */
        return;
    }
}

/* stdin: the request body, written as the pipe takes it, then closed so
 * the script sees the end.  A script that does not read it all is fine. */
static void cgi_on_stdin(int fd, uint32_t events, void *data)
{
    cgi_req_t *c = data;

    while (c->body_off < c->body.len) {
        size_t n = c->body.len - c->body_off;
        ssize_t w = write(fd, c->body.ptr + c->body_off, n > CGI_READ_CHUNK ? CGI_READ_CHUNK : n);

        if (w > 0) {
            c->body_off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            break; /* EPIPE: it closed its stdin */
        }
    }
    cgi_close(&c->in_fd);
}

static void cgi_on_timeout(void *data)
{
    cgi_req_t *c = data;
    char why[256];

    c->timeout_timer = NULL;
    snprintf(why, sizeof(why), "0x80070102 The CGI application exceeded the configured timeout "
             "(%llu s, <cgi timeout>) and was terminated.", (unsigned long long)c->timeout_s);
    cgi_fail(c, 502, 1, why);
}

static void cgi_abort(wasp_request_t *req, void *state)
{
    cgi_req_t *c = state;

    if (c != NULL && c->live) {
        wasp_log(req, WASP_LOG_INFO, "CGI %s: the client went away; killing the process",
                 c->script);
        cgi_stop(c, true);
    }
}

/* ---- configuration --------------------------------------------------------- */

/* The <handlers> entry chosen for the request (for allowPathInfo). */
static const wasp_section_t *cgi_mapping(wasp_request_t *req)
{
    const char *name = wasp_request_handler_name(req);
    const wasp_section_t *hs = wasp_request_section(req, "system.webServer/handlers");

    for (size_t i = 0; name != NULL && hs != NULL && i < wasp_section_item_count(hs); i++) {
        const wasp_section_t *h = wasp_section_item(hs, i);
        const char *n = wasp_section_attr(h, "name");

        if (n != NULL && strcmp(n, name) == 0) {
            return h;
        }
    }
    return NULL;
}

static uint64_t cgi_timeout(wasp_request_t *req)
{
    const wasp_section_t *s = wasp_request_section(req, CGI_SECTION);
    const char *v = s ? wasp_section_attr(s, "timeout") : NULL;
    uint64_t secs = CGI_DEFAULT_TIMEOUT_S;

    if (v != NULL && wasp_modutil_timespan(v, &secs) != 0) {
        wasp_log(req, WASP_LOG_WARN, "<cgi timeout=\"%s\"> is not a timeSpan; using 00:15:00", v);
        secs = CGI_DEFAULT_TIMEOUT_S;
    }
    return secs;
}

/* isapiCgiRestriction (AppHostOnly): an entry matches the program's path or
 * the whole scriptProcessor line (IIS lists CGI interpreters with their
 * "%s %s" arguments). */
static bool cgi_allowed(wasp_request_t *req, const char *exe, const char *line)
{
    const wasp_section_t *s = wasp_request_section(req, CGI_RESTRICTION_SECTION);

    for (size_t i = 0; s != NULL && i < wasp_section_item_count(s); i++) {
        const wasp_section_t *e = wasp_section_item(s, i);
        const char *p = wasp_section_attr(e, "path");

        if (p != NULL && (strcmp(p, exe) == 0 || (line != NULL && strcmp(p, line) == 0))) {
            return wasp_section_bool(e, "allowed", false);
        }
    }
    return s != NULL && wasp_section_bool(s, "notListedCgisAllowed", false);
}

/* ---- the command line ---------------------------------------------------- */

typedef struct cgi_cmd {
    const char *exe;
    char *argv[CGI_MAX_ARGS + 2];
    size_t argc;
} cgi_cmd_t;

/* Next word of a command line: blanks separate, double quotes group (and
 * are dropped).  Returns NULL at the end. */
static char *cgi_word(wasp_request_t *req, const char **pp)
{
    const char *p = *pp;
    char *w, *o;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0') {
        *pp = p;
        return NULL;
    }
    w = o = wasp_request_alloc(req, strlen(p) + 1);
    if (w == NULL) {
        return NULL;
    }
    bool quoted = false;
    for (; *p != '\0' && (quoted || (*p != ' ' && *p != '\t')); p++) {
        if (*p == '"') {
            quoted = !quoted;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *pp = p;
    return w;
}

/* An argument with its "%s" replaced: the first one in the line by the
 * script's path, later ones by nothing.  (IIS 6 put the query string's
 * words there; handing client text to an interpreter's command line is how
 * php-cgi's CVE-2012-1823 happened, so wasp never does.) */
static char *cgi_subst(wasp_request_t *req, const char *arg, const char *script, bool *first)
{
    size_t n = 0, sl = strlen(script);

    for (const char *p = arg; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            n += sl;
            p++;
        } else {
            n++;
        }
    }
    char *out = wasp_request_alloc(req, n + 1), *o = out;
    if (out == NULL) {
        return NULL;
    }
    for (const char *p = arg; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            if (*first) {
                memcpy(o, script, sl);
                o += sl;
                *first = false;
            }
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* scriptProcessor → program and arguments.  Returns NULL or why not. */
static const char *cgi_command(wasp_request_t *req, const char *processor, const char *script,
                               cgi_cmd_t *cmd)
{
    cmd->argc = 0;
    if (processor == NULL || processor[0] == '\0') {
        cmd->exe = script; /* CGI-exe: the script is the program */
        cmd->argv[cmd->argc++] = (char *)script;
        cmd->argv[cmd->argc] = NULL;
        return NULL;
    }
    const char *bar = strchr(processor, '|');
    const char *p = processor;
    char *exe;
    if (bar != NULL) {
        /* FastCGI's "fullPath|arguments" form. */
        const char *s = processor, *e = bar;
        while (s < e && (*s == ' ' || *s == '\t')) {
            s++;
        }
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }
        exe = wasp_modutil_strdup(req, s, (size_t)(e - s));
        p = bar + 1;
    } else {
        exe = cgi_word(req, &p);
    }
    if (exe == NULL || exe[0] != '/') {
        return "The handler's scriptProcessor does not start with an absolute program path.";
    }
    cmd->exe = exe;
    cmd->argv[cmd->argc++] = exe;
    bool first = true;
    for (char *w; (w = cgi_word(req, &p)) != NULL;) {
        bool had = strstr(w, "%s") != NULL;
        char *a = cgi_subst(req, w, script, &first);

        if (a == NULL) {
            return "0x8007000e Out of memory.";
        }
        if (had && a[0] == '\0') {
            continue; /* a lone "%s" that stands for nothing */
        }
        if (cmd->argc == CGI_MAX_ARGS) {
            return "The handler's scriptProcessor has too many arguments.";
        }
        cmd->argv[cmd->argc++] = a;
    }
    if (first) {
        if (cmd->argc == CGI_MAX_ARGS) {
            return "The handler's scriptProcessor has too many arguments.";
        }
        cmd->argv[cmd->argc++] = (char *)script;
    }
    cmd->argv[cmd->argc] = NULL;
    return NULL;
}

/* ---- starting the process ---------------------------------------------------- */

typedef struct cgi_spawn {
    const char *exe;
    char *const *argv;
    char *const *envp;
    const char *dir;
    const char *fail_msg; /* written to stderr if exec fails */
    size_t fail_len;
    pid_t parent;
    int child_fds[3];     /* its stdin, stdout, stderr */
    bool stdin_is_file;   /* the body's file: read from its start */
} cgi_spawn_t;

/* Only async-signal-safe calls between fork and exec. */
static void cgi_child_fail(const cgi_spawn_t *sp, int err) __attribute__((noreturn));

static void cgi_child_fail(const cgi_spawn_t *sp, int err)
{
    char num[16];
    size_t n = sizeof(num);

    num[--n] = '\n';
    do {
        num[--n] = (char)('0' + err % 10);
        err /= 10;
    } while (err > 0 && n > 0);
    if (write(2, sp->fail_msg, sp->fail_len) >= 0 && write(2, num + n, sizeof(num) - n) >= 0) {
        /* nothing else to do */
    }
    _exit(127);
}

static void cgi_child(const cgi_spawn_t *sp) __attribute__((noreturn));

static void cgi_child(const cgi_spawn_t *sp)
{
    int fds[3] = {sp->child_fds[0], sp->child_fds[1], sp->child_fds[2]};
    struct sigaction dfl;
    sigset_t none;

    /* The worker blocks the signals its loop reads (SIGTERM, SIGINT) and
     * ignores SIGPIPE; a blocked or ignored signal survives exec. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) {
            sigaction(s, &dfl, NULL);
        }
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Its own process group, so everything it starts can be killed with it;
     * and it dies with the worker rather than run on unattended. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != sp->parent) {
        _exit(127);
    }
    /* Move the pipe ends clear of 0-2 first, so each dup2 below makes a
     * fresh descriptor without FD_CLOEXEC. */
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 3 && (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0) {
            cgi_child_fail(sp, errno);
        }
    }
    if (sp->stdin_is_file && lseek(fds[0], 0, SEEK_SET) != 0) {
        cgi_child_fail(sp, errno);
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) {
            cgi_child_fail(sp, errno);
        }
    }
    /* Nothing of the worker's leaks into the script: channel, listener
     * sockets, other requests' pipes, files. */
    if (close_range(3, ~0U, 0) != 0) {
        for (int fd = 3; fd < 65536; fd++) {
            close(fd);
        }
    }
    if (chdir(sp->dir) != 0) {
        cgi_child_fail(sp, errno);
    }
    execve(sp->exe, sp->argv, sp->envp);
    cgi_child_fail(sp, errno);
}

static int cgi_pipe(int fds[2], int parent_end)
{
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return -1;
    }
    int fl = fcntl(fds[parent_end], F_GETFL);
    if (fl < 0 || fcntl(fds[parent_end], F_SETFL, fl | O_NONBLOCK) != 0) {
        close(fds[0]);
        close(fds[1]);
        fds[0] = fds[1] = -1;
        return -1;
    }
    return 0;
}

/* "NAME=value" strings for execve, in request memory. */
static char **cgi_envp(wasp_request_t *req, const cgi_env_t *env)
{
    char **envp = wasp_request_alloc(req, (env->count + 1) * sizeof(char *));

    if (envp == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < env->count; i++) {
        const cgi_var_t *v = &env->vars[i];
        char *s = wasp_request_alloc(req, v->name_len + 1 + v->value_len + 1);

        if (s == NULL) {
            return NULL;
        }
        memcpy(s, v->name, v->name_len);
        s[v->name_len] = '=';
        memcpy(s + v->name_len + 1, v->value, v->value_len);
        s[v->name_len + 1 + v->value_len] = '\0';
        envp[i] = s;
    }
    envp[env->count] = NULL;
    return envp;
}

/* fork + exec with the pipes; fills c's fds and pid.  0, or -1 (errno).
 * A body in a file (body_fd >= 0) is the script's stdin itself: no copy,
 * and the script sees end-of-file after exactly CONTENT_LENGTH bytes. */
static int cgi_start(cgi_req_t *c, const cgi_cmd_t *cmd, char **envp, const char *dir,
                     int body_fd)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    cgi_spawn_t sp = {.exe = cmd->exe, .argv = cmd->argv, .envp = envp, .dir = dir,
                      .parent = getpid()};
    char *msg = wasp_modutil_printf(c->req, "wasp: cannot execute %s: errno ", cmd->exe);

    if (msg == NULL) {
        errno = ENOMEM;
        return -1;
    }
    sp.fail_msg = msg;
    sp.fail_len = strlen(msg);
    if ((body_fd < 0 && cgi_pipe(in, 1) != 0) || cgi_pipe(out, 0) != 0 ||
        cgi_pipe(err, 0) != 0) {
        int e = errno;
        int *all[] = {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1]};
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            if (*all[i] >= 0) {
                close(*all[i]);
            }
        }
        errno = e;
        return -1;
    }
    sp.child_fds[0] = body_fd >= 0 ? body_fd : in[0];
    sp.stdin_is_file = body_fd >= 0;
    sp.child_fds[1] = out[1];
    sp.child_fds[2] = err[1];
    pid_t pid = fork();
    if (pid == 0) {
        cgi_child(&sp);
    }
    int e = errno;
    if (in[0] >= 0) {
        close(in[0]);
    }
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
        if (in[1] >= 0) {
            close(in[1]);
        }
        close(out[0]);
        close(err[0]);
        errno = e;
        return -1;
    }
    setpgid(pid, pid); /* also here: no window where a kill of the group misses it */
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    return 0;
}

/* ---- the handler ----------------------------------------------------------- */

/* The script's file and where its URL ends.  0, or a failed request. */
static wasp_status_t cgi_locate(wasp_request_t *req, char *file, size_t file_size,
                                size_t *script_len)
{
    const wasp_section_t *mapping = cgi_mapping(req);
    wasp_str_t path = wasp_request_path(req);

    if (mapping != NULL && wasp_section_bool(mapping, "allowPathInfo", false)) {
        *script_len = cgi_env_script_len(req, file, file_size);
        if (*script_len > 0) {
            return WASP_CONTINUE;
        }
    } else {
        struct stat st;
        const char *phys = wasp_request_physical_path(req);

        *script_len = path.len;
        if (phys != NULL && strlen(phys) < file_size && stat(phys, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            strcpy(file, phys);
            return WASP_CONTINUE;
        }
    }
    return wasp_request_fail(req, 404, 0, "0x80070002 The CGI script does not exist (no file "
                             "at the URL, or before its path info when allowPathInfo is set).");
}

/* The script's directory: the process starts there, as on IIS. */
static char *cgi_dir(wasp_request_t *req, const char *file)
{
    const char *slash = strrchr(file, '/');

    if (slash == NULL) {
        return wasp_modutil_strdup(req, ".", 1);
    }
    return wasp_modutil_strdup(req, file, slash == file ? 1 : (size_t)(slash - file));
}

static bool cgi_is_nph(const char *file)
{
    const char *slash = strrchr(file, '/');

    return strncmp(slash ? slash + 1 : file, "nph-", 4) == 0;
}

static wasp_status_t cgi_fail_exe(wasp_request_t *req, const char *exe, int err)
{
    char msg[128];
    const char *text = strerror_r(err, msg, sizeof(msg));
    const char *why;

    if (err == EACCES || err == EPERM) {
        why = wasp_modutil_printf(req, "0x80070005 The application pool's identity may not run "
                                  "the CGI program %s (%s).", exe, text);
        return wasp_request_fail(req, 403, 19, why ? why : "CGI program not executable");
    }
    why = wasp_modutil_printf(req, "0x80070002 The CGI program %s cannot be run (%s).", exe, text);
    return wasp_request_fail(req, 500, 0, why ? why : "CGI program missing");
}

static wasp_status_t cgi_execute(wasp_request_t *req, void *state)
{
    cgi_req_t *c = state;
    char *file = wasp_request_alloc(req, PATH_MAX);
    size_t script_len;
    cgi_cmd_t cmd;
    cgi_env_t env;

    c->req = req;
    c->in_fd = c->out_fd = c->err_fd = -1;
    if (file == NULL) {
        return wasp_request_fail(req, 500, 0, "0x8007000e Out of memory.");
    }
    if (cgi_locate(req, file, PATH_MAX, &script_len) != WASP_CONTINUE) {
        return WASP_FINISH;
    }
    c->script = file;

    const char *processor = wasp_request_script_processor(req);
    const char *why = cgi_command(req, processor, file, &cmd);
    if (why != NULL) {
        return wasp_request_fail(req, 500, 0, why);
    }
    if (!cgi_allowed(req, cmd.exe, processor)) {
        why = wasp_modutil_printf(req, "The CGI program %s is not allowed by "
                                  "<security/isapiCgiRestriction> (list it with "
                                  "allowed=\"true\").", cmd.exe);
        return wasp_request_fail(req, 404, 2, why ? why : "CGI restriction");
    }
    if (access(cmd.exe, X_OK) != 0) {
        return cgi_fail_exe(req, cmd.exe, errno);
    }

    char **envp = NULL;
    char *dir = cgi_dir(req, file);
    if (cgi_env_build(req, script_len, file, &env) == 0) {
        envp = cgi_envp(req, &env);
    }
    if (envp == NULL || dir == NULL || wasp_request_on_cleanup(req, cgi_request_cleanup, c) != 0) {
        return wasp_request_fail(req, 500, 0, "0x8007000e Out of memory building the CGI "
                                 "environment.");
    }

    c->timeout_s = cgi_timeout(req);
    c->nph = cgi_is_nph(file);
    if (wasp_request_body_fd(req) < 0) {
        c->body = wasp_request_body(req); /* small: written through a pipe */
    }
    cgi_head_init(&c->head);
    if (cgi_start(c, &cmd, envp, dir, wasp_request_body_fd(req)) != 0) {
        why = wasp_modutil_printf(req, "0x80004005 Starting the CGI program %s failed (%s).",
                                  cmd.exe, strerror(errno));
        return wasp_request_fail(req, 500, 0, why ? why : "fork failed");
    }
    c->live = true;
    if (c->timeout_s > 0) {
        c->deadline_ms = cgi_now_ms() + c->timeout_s * 1000;
        c->timeout_timer = wasp_timer_start(c->timeout_s * 1000, cgi_on_timeout, c);
    }
    if (c->body.len == 0 && c->in_fd >= 0) {
        cgi_close(&c->in_fd); /* EOF on its stdin at once */
    }
    if ((c->timeout_s > 0 && c->timeout_timer == NULL) ||
        (c->in_fd >= 0 && wasp_fd_watch(c->in_fd, EPOLLOUT, cgi_on_stdin, c) != 0) ||
        wasp_fd_watch(c->out_fd, EPOLLIN, cgi_on_stdout, c) != 0 ||
        wasp_fd_watch(c->err_fd, EPOLLIN, cgi_on_stderr, c) != 0) {
        cgi_stop(c, true);
        return wasp_request_fail(req, 500, 0, "0x8007000e Cannot watch the CGI process.");
    }
    return WASP_PENDING;
}

int wasp_cgi_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(wasp_module_info_t),
        .name = "CgiModule",
        .request_state_size = sizeof(cgi_req_t),
        .process_exit = cgi_process_exit,
        .request_abort = cgi_abort,
    };

    if (server_abi != WASP_MODULE_ABI) {
        wasp_registration_error(reg, "built for module ABI %u, the worker speaks %u",
                                WASP_MODULE_ABI, server_abi);
        return -1;
    }
    if (wasp_registration_set_info(reg, &info) != 0 ||
        wasp_registration_on(reg, WASP_EVENT_EXECUTE_REQUEST_HANDLER, WASP_PRIORITY_MEDIUM,
                             cgi_execute) != 0) {
        return -1;
    }
    return 0;
}
