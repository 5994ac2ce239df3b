/*
 * FastCgiModule: IIS' FastCGI handler (iis-modules.md 2.18), for php-cgi and
 * any other FastCGI responder.
 *
 * Configuration is IIS': system.webServer/fastCgi/application entries keyed
 * by fullPath + arguments, selected by a handler mapping whose
 * scriptProcessor is "fullPath" or "fullPath|arguments".
 *
 * Processes belong to the worker and run as the pool's identity.  Each has
 * its own listening Unix socket (in a 0700 directory of the worker) as fd 0,
 * the FastCGI convention (FCGI_LISTENSOCK_FILENO) php-cgi follows, and one
 * connection from the worker kept open across requests (FCGI_KEEP_CONN).
 * As on IIS a process runs one request at a time; an application has up to
 * maxInstances of them, started on demand, kept warm, recycled after
 * instanceMaxRequests (PHP_FCGI_MAX_REQUESTS is set to the same number so
 * php-cgi does not exit first), killed after idleTimeout, replaced when
 * they die; requests beyond maxInstances wait in the application's queue
 * (queueLength, then 503.4).
 *
 * Everything is asynchronous: the handler returns WASP_PENDING and the
 * worker's loop drives the socket (wasp_fd_watch), so a slow script holds
 * its process, never the worker.  The response is streamed as it comes:
 * headers when the CGI header block is complete, then every STDOUT piece
 * with a flush, so a script that flushes is seen flushing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "modules/builtin.h"
#include "modules/cgi_env.h"
#include "modules/cgi_response.h"
#include "modules/fcgi_proto.h"
#include "modules/modutil.h"
#include "wasp/module.h"

#define FCGI_REQUEST_ID 1
#define FCGI_READ_CHUNK 65536
#define FCGI_STDIN_BATCH FCGI_RECORD_CHUNK /* body bytes read from its file at a time */
#define FCGI_STDERR_MAX (64 * 1024) /* kept for the 500 page; the rest is logged */
/* Response bytes the client has not taken yet beyond which the process is
 * not read: a slow client slows the script, not the worker's memory. */
#define FCGI_BACKLOG_MAX (1024 * 1024)

typedef struct fcgi_app fcgi_app_t;
typedef struct fcgi_proc fcgi_proc_t;

typedef enum stderr_mode {
    STDERR_RETURN_IN_500 = 0,
    STDERR_GENERIC_500 = 1,
    STDERR_IGNORE = 2,
    STDERR_TERMINATE = 3
} stderr_mode_t;

/* One request, in the module's per-request state block. */
typedef struct fcgi_req {
    wasp_request_t *req;
    fcgi_app_t *app;
    fcgi_proc_t *proc;
    struct fcgi_req *qnext;
    bool queued;
    bool pending;         /* returned WASP_PENDING, not resumed yet */
    bool done;            /* finished (maybe before the handler even returned) */
    bool head_done;       /* the CGI header block is parsed and applied */
    bool flushed;         /* something reached the listener: status is final */
    bool stderr_seen;
    bool head_failed;     /* the header block was invalid: the request has failed */
    bool discard;         /* local redirect: the application's body is not sent */
    cgi_env_t env;
    char script_file[PATH_MAX];
    cgi_head_t head;
    wasp_modutil_buf_t err;
    wasp_timer_t *request_timer;
} fcgi_req_t;

struct fcgi_proc {
    fcgi_proc_t *next;
    fcgi_app_t *app;
    pid_t pid;
    int fd;                  /* our connection to it */
    char sock_path[108];
    fcgi_decoder_t dec;
    wasp_buf_t out;          /* bytes to write */
    fcgi_req_t *cur;         /* the request it runs, NULL if its client left */
    bool busy;               /* running a request (cur may be NULL: output dropped) */
    unsigned served;
    bool retire;             /* exit after the current request */
    bool paused;             /* not read while its client is slow */
    bool want_out;           /* watched for EPOLLOUT: a request is half written */
    int stdin_fd;            /* a body file still being sent (our own dup), or -1 */
    uint64_t stdin_off, stdin_len;
    wasp_timer_t *backlog_timer;
    bool dead;
    wasp_timer_t *idle_timer;
    wasp_timer_t *activity_timer;
};

struct fcgi_app {
    fcgi_app_t *next;
    char *full_path;
    char *arguments;
    const char *file;        /* where the entry is written, for messages */
    int line;
    unsigned max_instances;
    unsigned instance_max_requests;
    unsigned idle_timeout_s;
    unsigned activity_timeout_s;
    unsigned request_timeout_s;
    unsigned queue_length;
    unsigned rapid_fails_per_minute;
    unsigned signal_before_terminate_s;
    stderr_mode_t stderr_mode;
    char **env;              /* NAME=value, NULL-terminated */
    char *monitor;           /* monitorChangesTo, or NULL */
    int inotify_fd;
    fcgi_proc_t *procs;
    unsigned nprocs;
    fcgi_req_t *qhead, *qtail;
    unsigned qlen;
    uint64_t fails[64];      /* times of recent process failures (ms) */
    unsigned fail_count;
    uint64_t failed_until_ms;
};

static fcgi_app_t *apps;
static char sock_dir[64];
static unsigned sock_seq;

static void proc_kill(fcgi_proc_t *p, const char *why);
static void app_dispatch(fcgi_app_t *app);
static void req_finish(fcgi_req_t *r);

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- configuration --------------------------------------------------------- */

static unsigned attr_uint(const wasp_section_t *s, const char *name, unsigned dflt, unsigned lo,
                          unsigned hi)
{
    uint64_t v = wasp_section_uint(s, name, dflt);

    return v < lo ? lo : v > hi ? hi : (unsigned)v;
}

static char *dupstr(const char *s)
{
    return strdup(s ? s : "");
}

/* scriptProcessor is "fullPath" or "fullPath|arguments" (IIS). */
static const wasp_section_t *app_entry(const wasp_section_t *sec, const char *processor)
{
    const char *bar = strchr(processor, '|');
    size_t plen = bar ? (size_t)(bar - processor) : strlen(processor);
    const char *args = bar ? bar + 1 : "";

    for (size_t i = 0; sec != NULL && i < wasp_section_item_count(sec); i++) {
        const wasp_section_t *it = wasp_section_item(sec, i);
        const char *fp = wasp_section_attr(it, "fullPath");
        const char *ar = wasp_section_attr(it, "arguments");

        if (fp != NULL && strlen(fp) == plen && strncmp(fp, processor, plen) == 0 &&
            strcmp(ar ? ar : "", args) == 0) {
            return it;
        }
    }
    return NULL;
}

static void app_watch(fcgi_app_t *app);

static fcgi_app_t *app_get(const wasp_section_t *it)
{
    static const char *const modes[] = {"ReturnStdErrIn500", "ReturnGeneric500",
                                        "IgnoreAndReturn200", "TerminateProcess"};
    const char *fp = wasp_section_attr(it, "fullPath");
    const char *ar = wasp_section_attr(it, "arguments");
    const wasp_section_t *ev = wasp_section_child(it, "environmentVariables");
    size_t n = ev ? wasp_section_item_count(ev) : 0;
    fcgi_app_t *app;
    long cpus;

    for (app = apps; app != NULL; app = app->next) {
        if (strcmp(app->full_path, fp) == 0 && strcmp(app->arguments, ar ? ar : "") == 0) {
            return app;
        }
    }
    /* Asked only when an application is first met: it reads /sys. */
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    app = calloc(1, sizeof(*app));
    if (app == NULL || (app->env = calloc(n + 3, sizeof(char *))) == NULL) {
        free(app);
        return NULL;
    }
    app->full_path = dupstr(fp);
    app->arguments = dupstr(ar);
    app->file = wasp_section_file(it, &app->line);
    /* IIS' schema defaults and ranges (iis-modules.md 2.18).  maxInstances 0
     * is "automatic" on IIS: here one per CPU, at least 4 (IIS 7.5's old
     * default). */
    app->max_instances = attr_uint(it, "maxInstances", 0, 0, 10000);
    if (app->max_instances == 0) {
        app->max_instances = cpus > 4 ? (unsigned)cpus : 4;
    }
    app->instance_max_requests = attr_uint(it, "instanceMaxRequests", 200, 1, 10000000);
    app->idle_timeout_s = attr_uint(it, "idleTimeout", 300, 10, 2592000);
    app->activity_timeout_s = attr_uint(it, "activityTimeout", 70, 10, 2592000);
    app->request_timeout_s = attr_uint(it, "requestTimeout", 90, 10, 2592000);
    app->queue_length = attr_uint(it, "queueLength", 1000, 1, 100000000);
    app->rapid_fails_per_minute = attr_uint(it, "rapidFailsPerMinute", 10, 0, 1000);
    app->signal_before_terminate_s = attr_uint(it, "signalBeforeTerminateSeconds", 0, 0, 60);
    app->stderr_mode = (stderr_mode_t)wasp_modutil_enum(it, "stderrMode", modes, 4, 0);
    app->inotify_fd = -1;
    {
        const char *m = wasp_section_attr(it, "monitorChangesTo");

        app->monitor = m && *m ? strdup(m) : NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const wasp_section_t *e = wasp_section_item(ev, i);
        const char *name = wasp_section_attr(e, "name"), *value = wasp_section_attr(e, "value");
        size_t len = strlen(name ? name : "") + strlen(value ? value : "") + 2;

        app->env[i] = malloc(len);
        if (app->env[i] != NULL) {
            snprintf(app->env[i], len, "%s=%s", name ? name : "", value ? value : "");
        }
    }
    app->next = apps;
    apps = app;
    app_watch(app);
    return app;
}

/* ---- processes --------------------------------------------------------------- */

static void proc_unlink(fcgi_proc_t *p)
{
    fcgi_proc_t **pp = &p->app->procs;

    while (*pp != NULL && *pp != p) {
        pp = &(*pp)->next;
    }
    if (*pp == p) {
        *pp = p->next;
        p->app->nprocs--;
    }
}

static void reap_tick(void *data)
{
    pid_t pid = (pid_t)(intptr_t)data;

    if (waitpid(pid, NULL, WNOHANG) == 0) {
        /* Still there (SIGTERM ignored, or slow): force it, then reap. */
        kill(pid, SIGKILL);
        if (waitpid(pid, NULL, WNOHANG) == 0) {
            wasp_timer_start(1000, reap_tick, data);
        }
    }
}

/* Stop a process: SIGTERM, SIGKILL after signalBeforeTerminateSeconds (at
 * least a second), reaped without blocking the loop. */
static void proc_terminate(fcgi_proc_t *p)
{
    unsigned grace = p->app->signal_before_terminate_s ? p->app->signal_before_terminate_s : 1;

    if (p->fd >= 0) {
        wasp_fd_unwatch(p->fd);
        close(p->fd);
        p->fd = -1;
    }
    if (p->idle_timer != NULL) {
        wasp_timer_cancel(p->idle_timer);
        p->idle_timer = NULL;
    }
    if (p->activity_timer != NULL) {
        wasp_timer_cancel(p->activity_timer);
        p->activity_timer = NULL;
    }
    if (p->backlog_timer != NULL) {
        wasp_timer_cancel(p->backlog_timer);
        p->backlog_timer = NULL;
    }
    unlink(p->sock_path);
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        if (waitpid(p->pid, NULL, WNOHANG) == 0) {
            wasp_timer_start(grace * 1000ull, reap_tick, (void *)(intptr_t)p->pid);
        }
    }
    wasp_buf_free(&p->out);
    if (p->stdin_fd >= 0) {
        close(p->stdin_fd);
    }
    proc_unlink(p);
    free(p);
}

static void proc_on_io(int fd, uint32_t events, void *data);

static int proc_spawn(fcgi_app_t *app, fcgi_proc_t **out)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    fcgi_proc_t *p = calloc(1, sizeof(*p));
    int lfd = -1, cfd = -1;
    pid_t pid;
    char reqs[32];

    if (p == NULL) {
        return -1;
    }
    p->stdin_fd = -1;
    snprintf(p->sock_path, sizeof(p->sock_path), "%s/%u.sock", sock_dir, ++sock_seq);
    strcpy(sun.sun_path, p->sock_path);
    unlink(p->sock_path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(lfd, 4) != 0) {
        goto fail;
    }
    /* Connecting now succeeds at once (the backlog takes it): the process
     * accepts when it is ready, and our first bytes wait in the socket. */
    cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (cfd < 0 || connect(cfd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        goto fail;
    }
    snprintf(reqs, sizeof(reqs), "PHP_FCGI_MAX_REQUESTS=%u", app->instance_max_requests);
    pid = fork();
    if (pid < 0) {
        goto fail;
    }
    if (pid == 0) {
        char *argv[64];
        size_t argc = 0;
        char *args = strdup(app->arguments), *save = NULL;
        char *envp[128];
        size_t envc = 0;
        int devnull = open("/dev/null", O_RDWR);
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* fd 0: the listening socket (FCGI_LISTENSOCK_FILENO); fd 1:
         * nothing; fd 2: the worker's log. */
        if (dup2(lfd, 0) != 0 || (devnull >= 0 && dup2(devnull, 1) != 1)) {
            _exit(127);
        }
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        argv[argc++] = app->full_path;
        for (char *t = args ? strtok_r(args, " \t", &save) : NULL; t != NULL && argc < 63;
             t = strtok_r(NULL, " \t", &save)) {
            argv[argc++] = t;
        }
        argv[argc] = NULL;
        envp[envc++] = "PATH=/usr/local/bin:/usr/bin:/bin";
        envp[envc++] = reqs;
        /* One process per instance: php-cgi must not fork children of its
         * own (wasp counts and recycles the instances). */
        envp[envc++] = "PHP_FCGI_CHILDREN=0";
        for (size_t i = 0; app->env[i] != NULL && envc < 127; i++) {
            envp[envc++] = app->env[i];
        }
        envp[envc] = NULL;
        execve(app->full_path, argv, envp);
        fprintf(stderr, "FastCgiModule: cannot start %s: %s\n", app->full_path, strerror(errno));
        _exit(127);
    }
    close(lfd);
    p->app = app;
    p->pid = pid;
    p->fd = cfd;
    fcgi_decoder_init(&p->dec, FCGI_REQUEST_ID);
    if (wasp_fd_watch(cfd, EPOLLIN, proc_on_io, p) != 0) {
        p->fd = cfd;
        proc_terminate(p);
        return -1;
    }
    p->next = app->procs;
    app->procs = p;
    app->nprocs++;
    *out = p;
    return 0;
fail:
    if (lfd >= 0) {
        close(lfd);
    }
    if (cfd >= 0) {
        close(cfd);
    }
    unlink(p->sock_path);
    free(p);
    return -1;
}

/* IIS' rapidFailsPerMinute: process failures within a minute beyond it
 * mark the application failed for a minute. */
static void app_failure(fcgi_app_t *app, const char *what)
{
    uint64_t now = now_ms();
    unsigned keep = 0;

    for (unsigned i = 0; i < app->fail_count; i++) {
        if (now - app->fails[i] < 60000) {
            app->fails[keep++] = app->fails[i];
        }
    }
    app->fail_count = keep;
    if (app->fail_count < sizeof(app->fails) / sizeof(app->fails[0])) {
        app->fails[app->fail_count++] = now;
    }
    if (app->rapid_fails_per_minute != 0 && app->fail_count > app->rapid_fails_per_minute &&
        app->failed_until_ms <= now) {
        app->failed_until_ms = now + 60000;
        wasp_log(NULL, WASP_LOG_ERROR,
                 "FastCGI application %s%s%s failed %u times within a minute "
                 "(rapidFailsPerMinute=%u, %s:%d): its requests are answered 500 for a minute; "
                 "last failure: %s", app->full_path, *app->arguments ? " " : "", app->arguments,
                 app->fail_count, app->rapid_fails_per_minute, app->file, app->line, what);
    }
}

/* ---- requests ------------------------------------------------------------------ */

static void req_timers_stop(fcgi_req_t *r)
{
    if (r->request_timer != NULL) {
        wasp_timer_cancel(r->request_timer);
        r->request_timer = NULL;
    }
}

/* The request ends with an error.  IIS' FastCGI errors are 500.0 with a
 * sentence saying what happened; once the head is out, the response can
 * only be cut short. */
static void req_fail(fcgi_req_t *r, int status, int substatus, const char *why)
{
    if (!r->flushed) {
        wasp_response_clear(r->req);
        if (r->stderr_seen && r->app != NULL && r->app->stderr_mode == STDERR_RETURN_IN_500 &&
            r->err.len > 0 && status == 500) {
            /* ReturnStdErrIn500: the application's error text is the body. */
            wasp_response_set_status(r->req, 500, 0, NULL);
            wasp_response_set_header(r->req, "Content-Type", "text/plain");
            wasp_response_write(r->req, r->err.ptr, r->err.len);
        } else {
            wasp_request_fail(r->req, status, substatus, why);
        }
    } else {
        wasp_log(r->req, WASP_LOG_ERROR, "FastCGI: %s (the response was cut short)", why);
    }
    req_finish(r);
}

static void req_finish(fcgi_req_t *r)
{
    req_timers_stop(r);
    if (r->proc != NULL) {
        r->proc->cur = NULL;
        r->proc = NULL;
    }
    cgi_head_free(&r->head);
    wasp_modutil_buf_free(&r->err);
    r->done = true;
    if (r->pending) {
        r->pending = false;
        wasp_request_resume(r->req, WASP_FINISH);
    }
}

static void queue_remove(fcgi_app_t *app, fcgi_req_t *r)
{
    fcgi_req_t **pp = &app->qhead, *prev = NULL;

    while (*pp != NULL && *pp != r) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp == r) {
        *pp = r->qnext;
        if (app->qtail == r) {
            app->qtail = prev;
        }
        app->qlen--;
    }
    r->queued = false;
}

static void request_timeout(void *data)
{
    fcgi_req_t *r = data;
    fcgi_proc_t *p = r->proc;

    fcgi_app_t *app = r->app;
    char why[256];

    r->request_timer = NULL;
    snprintf(why, sizeof(why), "The FastCGI process exceeded configured request timeout "
             "(requestTimeout=%u s)", app->request_timeout_s);
    if (p != NULL) {
        p->cur = NULL;
        r->proc = NULL;
        proc_kill(p, "request timeout");
    } else if (r->queued) {
        queue_remove(app, r); /* it never got a process */
    }
    req_fail(r, 500, 0, why); /* r is gone after this */
    app_dispatch(app);
}

static void activity_timeout(void *data)
{
    fcgi_proc_t *p = data;
    fcgi_req_t *r = p->cur;
    char why[256];

    p->activity_timer = NULL;
    if (r == NULL) {
        /* Its client left and it still runs: it is not worth waiting for. */
        proc_kill(p, "activity timeout (its client had left)");
        return;
    }
    fcgi_app_t *app = p->app;

    snprintf(why, sizeof(why), "The FastCGI process exceeded configured activity timeout "
             "(activityTimeout=%u s without output)", app->activity_timeout_s);
    p->cur = NULL;
    r->proc = NULL;
    proc_kill(p, "activity timeout");
    req_fail(r, 500, 0, why);
    app_dispatch(app);
}

static void activity_arm(fcgi_proc_t *p)
{
    if (p->activity_timer != NULL) {
        wasp_timer_cancel(p->activity_timer);
    }
    p->activity_timer = wasp_timer_start(p->app->activity_timeout_s * 1000ull, activity_timeout, p);
}

/* The next piece of a body that is in a file: one STDIN record read from
 * it, and the empty record that ends the stream after the last.  The
 * process owns a duplicate of the descriptor, so the stream completes even
 * if the client leaves (and its request is freed) half-way. */
static int proc_fill_stdin(fcgi_proc_t *p)
{
    static char chunk[FCGI_STDIN_BATCH];
    uint64_t left = p->stdin_len - p->stdin_off;
    ssize_t n = 0;

    if (left > 0) {
        do {
            n = pread(p->stdin_fd, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk),
                      (off_t)p->stdin_off);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            return -1; /* the file is shorter than it was: never send a short body */
        }
        if (fcgi_encode_stdin(&p->out, FCGI_REQUEST_ID, chunk, (size_t)n) != 0) {
            return -1;
        }
        p->stdin_off += (uint64_t)n;
    }
    if (p->stdin_off == p->stdin_len) {
        close(p->stdin_fd);
        p->stdin_fd = -1;
        return fcgi_encode_stdin(&p->out, FCGI_REQUEST_ID, NULL, 0);
    }
    return 0;
}

/* Write what is pending, refilling from a body file as the socket takes it
 * (at most one record waits in memory).  The watch changes only when a
 * request does not fit the socket at once (a large body): the common
 * request costs no epoll_ctl. */
static int proc_write(fcgi_proc_t *p)
{
    while (wasp_buf_size(&p->out) > 0 || p->stdin_fd >= 0) {
        if (wasp_buf_size(&p->out) == 0) {
            if (proc_fill_stdin(p) != 0) {
                return -1;
            }
            continue;
        }
        ssize_t n = send(p->fd, wasp_buf_ptr(&p->out), wasp_buf_size(&p->out), MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                if (!p->want_out) {
                    p->want_out = true;
                    return wasp_fd_watch(p->fd, EPOLLIN | EPOLLOUT, proc_on_io, p);
                }
                return 0;
            }
            return -1;
        }
        wasp_buf_consume(&p->out, (size_t)n);
    }
    if (p->want_out) {
        p->want_out = false;
        return wasp_fd_watch(p->fd, EPOLLIN, proc_on_io, p);
    }
    return 0;
}

static int proc_send_request(fcgi_proc_t *p, fcgi_req_t *r)
{
    fcgi_params_t params = {0};
    int body_fd = wasp_request_body_fd(r->req);
    uint64_t body_len = wasp_request_body_length(r->req);
    int rc = 0;

    for (size_t i = 0; i < r->env.count && rc == 0; i++) {
        rc = fcgi_params_add(&params, r->env.vars[i].name, r->env.vars[i].name_len,
                             r->env.vars[i].value, r->env.vars[i].value_len);
    }
    if (rc == 0) {
        rc = fcgi_encode_begin(&p->out, FCGI_REQUEST_ID, true);
    }
    if (rc == 0) {
        rc = fcgi_encode_params(&p->out, FCGI_REQUEST_ID, &params);
    }
    if (rc == 0 && body_fd >= 0 && body_len > 0) {
        /* A large body: streamed from its file by proc_write. */
        p->stdin_fd = fcntl(body_fd, F_DUPFD_CLOEXEC, 3);
        p->stdin_off = 0;
        p->stdin_len = body_len;
        rc = p->stdin_fd >= 0 ? 0 : -1;
    } else if (rc == 0) {
        wasp_str_t body = wasp_request_body(r->req);

        if (body.len > 0) {
            rc = fcgi_encode_stdin(&p->out, FCGI_REQUEST_ID, body.ptr, body.len);
        }
        if (rc == 0) {
            rc = fcgi_encode_stdin(&p->out, FCGI_REQUEST_ID, NULL, 0);
        }
    }
    fcgi_params_free(&params);
    if (rc != 0) {
        return -1;
    }
    fcgi_decoder_init(&p->dec, FCGI_REQUEST_ID);
    return proc_write(p);
}

static void idle_expired(void *data)
{
    fcgi_proc_t *p = data;

    p->idle_timer = NULL;
    proc_terminate(p);
}

/* The process is done with its request: back to the pool, or retired. */
static void proc_release(fcgi_proc_t *p)
{
    fcgi_app_t *app = p->app;

    if (p->activity_timer != NULL) {
        wasp_timer_cancel(p->activity_timer);
        p->activity_timer = NULL;
    }
    p->served++;
    p->busy = false;
    if (p->retire || p->served >= app->instance_max_requests) {
        proc_terminate(p);
    } else {
        p->idle_timer = wasp_timer_start(app->idle_timeout_s * 1000ull, idle_expired, p);
    }
    app_dispatch(app);
}

/* A process died or broke the protocol: its request (if any) fails. */
static void proc_kill(fcgi_proc_t *p, const char *why)
{
    fcgi_app_t *app = p->app;

    wasp_log(NULL, WASP_LOG_WARN, "FastCGI process %d of %s: %s", (int)p->pid, app->full_path,
             why);
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
    }
    app_failure(app, why);
    proc_terminate(p);
}

static void on_stdout(fcgi_req_t *r, const char *data, size_t len)
{
    size_t used = 0;

    if (!r->head_done) {
        cgi_head_result_t res = cgi_head_parse(&r->head, data, len, &used);

        if (res == CGI_HEAD_MORE) {
            return;
        }
        if (res == CGI_HEAD_ERROR) {
            char why[256];

            snprintf(why, sizeof(why), "The FastCGI application returned an invalid set of "
                     "headers: %s", r->head.error ? r->head.error : "malformed");
            r->head_done = true;
            r->head_failed = true;
            wasp_request_fail(r->req, 500, 0, why);
            return;
        }
        r->head_done = true;
        r->discard = cgi_head_apply(&r->head, r->req, r->script_file);
        data += used;
        len -= used;
    }
    if (r->head_failed) {
        return; /* the body of a failed head is not sent */
    }
    if (r->discard) {
        /* A local redirect: the request starts over once this one ends
         * (nothing may be flushed), or a 302 whose headers go out without
         * the script's body. */
        return;
    }
    if (r->stderr_seen && r->app->stderr_mode != STDERR_IGNORE && !r->flushed) {
        return; /* the 500 with stderr wins; the body is dropped */
    }
    if (len > 0) {
        wasp_response_write(r->req, data, len);
    }
    if (wasp_response_flush(r->req) == 0) {
        r->flushed = true;
    }
}

static void on_stderr(fcgi_req_t *r, const char *data, size_t len)
{
    wasp_log(r->req, r->app->stderr_mode == STDERR_IGNORE ? WASP_LOG_INFO : WASP_LOG_WARN,
             "FastCGI stderr (%s): %.*s", r->script_file, (int)(len > 2000 ? 2000 : len), data);
    if (r->app->stderr_mode == STDERR_IGNORE) {
        return;
    }
    r->stderr_seen = true;
    if (r->err.len < FCGI_STDERR_MAX) {
        wasp_modutil_buf_append(&r->err, data,
                                len > FCGI_STDERR_MAX - r->err.len ? FCGI_STDERR_MAX - r->err.len
                                                                   : len);
    }
}

static void on_end(fcgi_proc_t *p, fcgi_req_t *r)
{
    p->cur = NULL;
    if (r == NULL) {
        proc_release(p); /* the client left; the process finished anyway */
        return;
    }
    r->proc = NULL;
    if (r->stderr_seen && r->app->stderr_mode == STDERR_TERMINATE) {
        fcgi_app_t *app = r->app;

        proc_kill(p, "wrote to stderr (stderrMode TerminateProcess)");
        req_fail(r, 500, 0, "The FastCGI process wrote to stderr and was terminated "
                 "(stderrMode TerminateProcess)");
        app_dispatch(app);
        return;
    }
    if (r->stderr_seen && !r->flushed &&
        (r->app->stderr_mode == STDERR_RETURN_IN_500 ||
         r->app->stderr_mode == STDERR_GENERIC_500)) {
        proc_release(p);
        req_fail(r, 500, 0, "The FastCGI process wrote to stderr");
        return;
    }
    if (r->head_failed) {
        proc_release(p);
        req_finish(r); /* already failed, with the parser's reason */
        return;
    }
    if (!r->head_done || cgi_head_finish(&r->head) == CGI_HEAD_ERROR) {
        proc_release(p);
        req_fail(r, 500, 0, "The FastCGI application ended without a valid response "
                 "header block");
        return;
    }
    proc_release(p);
    req_finish(r);
}

static void proc_on_io(int fd, uint32_t events, void *data);

static void backlog_check(void *data)
{
    fcgi_proc_t *p = data;

    p->backlog_timer = NULL;
    if (p->cur != NULL && wasp_response_queued(p->cur->req) > FCGI_BACKLOG_MAX / 2) {
        p->backlog_timer = wasp_timer_start(10, backlog_check, p);
        return;
    }
    p->paused = false;
    if (p->fd >= 0) {
        wasp_fd_watch(p->fd, EPOLLIN, proc_on_io, p);
        proc_on_io(p->fd, EPOLLIN, p); /* what arrived meanwhile */
    }
}

static void proc_on_io(int fd, uint32_t events, void *data)
{
    fcgi_proc_t *p = data;
    char buf[FCGI_READ_CHUNK];

    if (p->paused) {
        return;
    }

    if ((events & EPOLLOUT) && proc_write(p) != 0) {
        goto broken;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        return;
    }
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        size_t off = 0;

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            goto broken;
        }
        if (p->busy) {
            activity_arm(p);
        }
        while (off < (size_t)n) {
            size_t used = 0;
            fcgi_event_t ev = fcgi_decode(&p->dec, buf + off, (size_t)n - off, &used);

            off += used;
            if (ev.kind == FCGI_EV_NONE) {
                break;
            }
            if (ev.kind == FCGI_EV_ERROR) {
                fcgi_req_t *r = p->cur;
                fcgi_app_t *app = p->app;

                p->cur = NULL;
                if (r != NULL) {
                    r->proc = NULL;
                }
                proc_kill(p, ev.message);
                if (r != NULL) {
                    req_fail(r, 500, 0, "The FastCGI application broke the protocol");
                }
                app_dispatch(app);
                return;
            }
            if (ev.kind == FCGI_EV_STDOUT && p->cur != NULL) {
                on_stdout(p->cur, ev.data, ev.len);
                if (p->cur != NULL && wasp_response_queued(p->cur->req) > FCGI_BACKLOG_MAX &&
                    off == (size_t)n) {
                    /* Stop reading until the client catches up (the
                     * activity timer is off meanwhile: it is the
                     * client, not the script, that is slow). */
                    p->paused = true;
                    wasp_fd_watch(fd, 0, proc_on_io, p);
                    if (p->activity_timer != NULL) {
                        wasp_timer_cancel(p->activity_timer);
                        p->activity_timer = NULL;
                    }
                    p->backlog_timer = wasp_timer_start(10, backlog_check, p);
                    return;
                }
            } else if (ev.kind == FCGI_EV_STDERR && p->cur != NULL) {
                on_stderr(p->cur, ev.data, ev.len);
            } else if (ev.kind == FCGI_EV_END) {
                on_end(p, p->cur);
                return; /* p may be gone; more bytes would be a protocol error */
            }
        }
    }
broken: {
        fcgi_req_t *r = p->cur;
        fcgi_app_t *app = p->app;

        p->cur = NULL;
        if (r != NULL) {
            r->proc = NULL;
        }
        proc_kill(p, "the connection closed (the process exited)");
        if (r != NULL) {
            req_fail(r, 500, 0, "The FastCGI process exited unexpectedly");
        }
        app_dispatch(app);
    }
}

/* Give queued requests to idle processes, starting new ones up to
 * maxInstances. */
static void app_dispatch(fcgi_app_t *app)
{
    while (app->qhead != NULL) {
        fcgi_req_t *r = app->qhead;
        fcgi_proc_t *p = NULL;

        for (fcgi_proc_t *q = app->procs; q != NULL; q = q->next) {
            if (!q->busy && !q->retire && q->fd >= 0) {
                p = q;
                break;
            }
        }
        if (p == NULL) {
            if (app->nprocs >= app->max_instances) {
                return;
            }
            if (proc_spawn(app, &p) != 0) {
                app->qhead = r->qnext;
                if (app->qhead == NULL) {
                    app->qtail = NULL;
                }
                app->qlen--;
                r->queued = false;
                app_failure(app, strerror(errno));
                req_fail(r, 500, 0, "The FastCGI process could not be started");
                continue;
            }
        }
        app->qhead = r->qnext;
        if (app->qhead == NULL) {
            app->qtail = NULL;
        }
        app->qlen--;
        r->queued = false;
        if (p->idle_timer != NULL) {
            wasp_timer_cancel(p->idle_timer);
            p->idle_timer = NULL;
        }
        p->cur = r;
        p->busy = true;
        r->proc = p;
        activity_arm(p);
        if (proc_send_request(p, r) != 0) {
            p->cur = NULL;
            r->proc = NULL;
            proc_kill(p, "cannot send the request");
            req_fail(r, 500, 0, "The FastCGI process could not be reached");
        }
    }
}

/* ---- monitorChangesTo ---------------------------------------------------------- */

static void app_recycle(fcgi_app_t *app)
{
    for (fcgi_proc_t *p = app->procs, *next; p != NULL; p = next) {
        next = p->next;
        if (p->cur == NULL) {
            proc_terminate(p);
        } else {
            p->retire = true;
        }
    }
}

static void app_on_change(int fd, uint32_t events, void *data)
{
    fcgi_app_t *app = data;
    char buf[4096];

    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    wasp_log(NULL, WASP_LOG_INFO, "FastCGI %s: %s changed (monitorChangesTo): recycling its "
             "processes", app->full_path, app->monitor);
    app_recycle(app);
}

static void app_watch(fcgi_app_t *app)
{
    if (app->monitor == NULL) {
        return;
    }
    app->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (app->inotify_fd < 0 ||
        inotify_add_watch(app->inotify_fd, app->monitor,
                          IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF |
                              IN_DELETE_SELF) < 0 ||
        wasp_fd_watch(app->inotify_fd, EPOLLIN, app_on_change, app) != 0) {
        wasp_log(NULL, WASP_LOG_WARN, "FastCGI %s: cannot watch monitorChangesTo=\"%s\": %s",
                 app->full_path, app->monitor, strerror(errno));
    }
}

/* ---- the handler ----------------------------------------------------------------- */

static wasp_status_t fastcgi_execute(wasp_request_t *req, void *state)
{
    fcgi_req_t *r = state;
    const char *processor = wasp_request_script_processor(req);
    const wasp_section_t *sec = wasp_request_section(req, "system.webServer/fastCgi");
    const wasp_section_t *entry;
    size_t script_len;
    fcgi_app_t *app;

    if (processor == NULL || *processor == '\0') {
        return wasp_request_fail(req, 500, 0, "The FastCGI handler mapping has no "
                                 "scriptProcessor: name the application, e.g. "
                                 "scriptProcessor=\"/usr/bin/php-cgi\"");
    }
    entry = app_entry(sec, processor);
    if (entry == NULL) {
        char why[PATH_MAX + 200];

        snprintf(why, sizeof(why), "The FastCGI application \"%s\" is not configured: add "
                 "<application fullPath=... arguments=...> for it to system.webServer/fastCgi",
                 processor);
        return wasp_request_fail(req, 500, 0, why);
    }
    app = app_get(entry);
    if (app == NULL) {
        return wasp_request_fail(req, 500, 0, "out of memory");
    }
    if (app->failed_until_ms > now_ms()) {
        return wasp_request_fail(req, 500, 0, "The FastCGI application failed too often "
                                 "(rapidFailsPerMinute) and is not started for a minute");
    }
    script_len = cgi_env_script_len(req, r->script_file, sizeof(r->script_file));
    if (script_len == 0) {
        /* The handler mapping allows a missing file (resourceType
         * Unspecified): the whole URL is the script name. */
        snprintf(r->script_file, sizeof(r->script_file), "%s", wasp_request_physical_path(req));
        script_len = wasp_request_path(req).len;
    }
    if (cgi_env_build(req, script_len, r->script_file, &r->env) != 0) {
        return wasp_request_fail(req, 500, 0, "out of memory");
    }
    if (app->qlen >= app->queue_length) {
        return wasp_request_fail(req, 503, 4, "FastCGI queue full");
    }
    r->req = req;
    r->app = app;
    cgi_head_init(&r->head);
    r->queued = true;
    if (app->qtail != NULL) {
        app->qtail->qnext = r;
    } else {
        app->qhead = r;
    }
    app->qtail = r;
    app->qlen++;
    r->request_timer = wasp_timer_start(app->request_timeout_s * 1000ull, request_timeout, r);
    app_dispatch(app);
    if (r->done) {
        return WASP_FINISH; /* failed at once (no process could start) */
    }
    /* From here on, completions come from loop callbacks and resume. */
    r->pending = true;
    return WASP_PENDING;
}

/* The client left (or the worker stops) while the request is pending. */
static void fastcgi_abort(wasp_request_t *req, void *state)
{
    fcgi_req_t *r = state;
    fcgi_app_t *app = r->app;

    if (app == NULL) {
        return;
    }
    req_timers_stop(r);
    if (r->queued) {
        queue_remove(app, r);
    }
    if (r->proc != NULL) {
        /* The process finishes the request and its output is dropped (its
         * END makes it free again); a script that runs on is bounded by
         * the activity timeout, armed on the process. */
        r->proc->cur = NULL;
        r->proc = NULL;
    }
    cgi_head_free(&r->head);
    wasp_modutil_buf_free(&r->err);
    r->pending = false;
}

static int fastcgi_init(wasp_module_t *self)
{
    snprintf(sock_dir, sizeof(sock_dir), "/tmp/wasp-fcgi-XXXXXX");
    if (mkdtemp(sock_dir) == NULL) {
        wasp_log(NULL, WASP_LOG_ERROR, "FastCgiModule: cannot create a socket directory in "
                 "/tmp: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void fastcgi_exit(wasp_module_t *self)
{
    while (apps != NULL) {
        fcgi_app_t *app = apps;

        apps = app->next;
        while (app->procs != NULL) {
            fcgi_proc_t *p = app->procs;

            if (p->pid > 0) {
                kill(p->pid, SIGKILL);
                waitpid(p->pid, NULL, 0);
                p->pid = 0;
            }
            proc_terminate(p);
        }
        for (size_t i = 0; app->env[i] != NULL; i++) {
            free(app->env[i]);
        }
        if (app->inotify_fd >= 0) {
            wasp_fd_unwatch(app->inotify_fd);
            close(app->inotify_fd);
        }
        free(app->env);
        free(app->full_path);
        free(app->arguments);
        free(app->monitor);
        free(app);
    }
    if (sock_dir[0] != '\0') {
        rmdir(sock_dir);
    }
}

int wasp_fastcgi_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(info),
        .name = "FastCgiModule",
        .request_state_size = sizeof(fcgi_req_t),
        .process_init = fastcgi_init,
        .process_exit = fastcgi_exit,
        .request_abort = fastcgi_abort,
    };

    if (wasp_registration_set_info(reg, &info) != 0) {
        return -1;
    }
    return wasp_registration_on(reg, WASP_EVENT_EXECUTE_REQUEST_HANDLER, WASP_PRIORITY_MEDIUM,
                                fastcgi_execute);
}
