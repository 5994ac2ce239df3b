/*
 * The control socket (protocol: common/ctl_proto.h).  Commands that change
 * a pool's processes (recycle, stop) keep their connection open and report
 * each worker as it starts, stops and exits, then answer 'D' once the last
 * old worker is gone: `waspctl recycle apppool` returns when the recycle is
 * really over, as appcmd does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <strings.h>
#include <unistd.h>

#include "common/ctl_proto.h"
#include "common/log.h"
#include "common/util.h"
#include "service/svc.h"

typedef struct ctl_conn {
    struct ctl_conn *next;
    int fd;
    svc_pool_t *pool;   /* a command waiting on this pool's workers */
    const char *done;   /* message when they are gone */
    pid_t *pids;        /* workers still to exit */
    size_t pid_count;
    bool wants_requests;
} ctl_conn_t;

static int ctl_fd = -1;
static char ctl_path[PATH_MAX];
static ctl_conn_t *waiting;

static void ctl_send(int fd, char kind, const char *text, size_t len)
{
    char buf[WASP_CTL_MAX];

    if (len > sizeof(buf) - 1) {
        len = sizeof(buf) - 1;
    }
    buf[0] = kind;
    memcpy(buf + 1, text, len);
    /* What the command told the listener leaves first: an administrator
     * whose "start apppool" returned must find the listener told (the
     * channel otherwise sends at the end of the loop turn). */
    if (svc.control != NULL) {
        wasp_channel_flush(svc.control);
    }
    /* A blocking send of a small datagram: waspctl reads as it goes. */
    if (send(fd, buf, len + 1, MSG_NOSIGNAL) < 0) {
        /* waspctl went away; the command still completes. */
    }
}

static void ctl_printf(int fd, char kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ctl_printf(int fd, char kind, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    ctl_send(fd, kind, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

static void ctl_done(int fd, int status, const char *msg)
{
    ctl_printf(fd, 'D', "%d %s", status, msg ? msg : "");
    close(fd);
}

/* Output in datagrams of at most WASP_CTL_MAX bytes, cut at line ends. */
typedef struct ctl_out {
    int fd;
    char buf[WASP_CTL_MAX - 1];
    size_t len;
} ctl_out_t;

static void out_flush(ctl_out_t *o)
{
    if (o->len > 0) {
        ctl_send(o->fd, 'O', o->buf, o->len);
        o->len = 0;
    }
}

static void out_line(ctl_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_line(ctl_out_t *o, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (o->len + (size_t)n > sizeof(o->buf)) {
        out_flush(o);
    }
    memcpy(o->buf + o->len, line, (size_t)n);
    o->len += (size_t)n;
}

/* ---- commands ------------------------------------------------------------ */

static void cmd_state(int fd)
{
    ctl_out_t o = {.fd = fd};

    for (size_t i = 0; i < svc.pool_count; i++) {
        const svc_pool_t *p = svc.pools[i];

        if (p->cfg == NULL) {
            continue;
        }
        out_line(&o, "pool\t%s\t%s\t%s", p->name, svc_pool_state_name(p),
                 p->stopped ? p->stop_reason : "");
        out_line(&o,
                 "poolcfg\t%s\tqueueLength=%u\tmaxProcesses=%u\tidleTimeout=%u\t"
                 "idleTimeoutAction=%s\tperiodicRestart.time=%u\tperiodicRestart.requests=%u\t"
                 "periodicRestart.memory=%u\tperiodicRestart.privateMemory=%u\t"
                 "periodicRestart.schedule=%zu\tdisallowOverlappingRotation=%d\t"
                 "rapidFailProtection=%d\trapidFailProtectionInterval=%u\t"
                 "rapidFailProtectionMaxCrashes=%u\tpingInterval=%u\tpingResponseTime=%u\t"
                 "startupTimeLimit=%u\tshutdownTimeLimit=%u\tuser=%s",
                 p->name, p->cfg->queue_length, p->cfg->max_processes, p->cfg->idle_timeout_s,
                 p->cfg->idle_timeout_action == WASP_IDLE_SUSPEND ? "Suspend" : "Terminate",
                 p->cfg->restart_time_s, p->cfg->restart_requests, p->cfg->restart_memory_kb,
                 p->cfg->restart_private_memory_kb, p->cfg->restart_schedule_count,
                 p->cfg->disallow_overlapping_rotation, p->cfg->rapid_fail_protection,
                 p->cfg->rapid_fail_interval_s, p->cfg->rapid_fail_max_crashes,
                 p->cfg->pinging_enabled ? p->cfg->ping_interval_s : 0,
                 p->cfg->ping_response_time_s, p->cfg->startup_time_limit_s,
                 p->cfg->shutdown_time_limit_s, p->id.user);
    }
    for (const svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        struct timespec ts;
        uint64_t unix_now;

        clock_gettime(CLOCK_REALTIME, &ts);
        unix_now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
        out_line(&o, "wp\t%d\t%s\t%s\t%llu\t0", (int)w->pid, w->pool->name,
                 svc_wp_state_name(w->state),
                 (unsigned long long)(unix_now - (wasp_now_ms() - w->started_ms)));
    }
    for (size_t s = 0; s < wasp_config_site_count(svc.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);

        out_line(&o, "site\t%u\t%s\t%s", site->id, site->name,
                 svc_site_started(s) ? "Started" : "Stopped");
    }
    out_flush(&o);
    ctl_done(fd, 0, "");
}

static void cmd_events(int fd, const char *count_arg)
{
    FILE *f = fopen(svc.event_log_path, "r");
    ctl_out_t o = {.fd = fd};
    char line[2048];
    long want = count_arg ? strtol(count_arg, NULL, 10) : 0;
    long total = 0, skip;

    if (f == NULL) {
        ctl_done(fd, 0, "");
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        total++;
    }
    skip = want > 0 && total > want ? total - want : 0;
    rewind(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (skip > 0) {
            skip--;
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        out_line(&o, "%s", line);
    }
    fclose(f);
    out_flush(&o);
    ctl_done(fd, 0, "");
}

/* Wait for the pool's current workers to exit, reporting as they go. */
static void ctl_wait_pool(int fd, svc_pool_t *pool, const char *done)
{
    ctl_conn_t *c = calloc(1, sizeof(*c));
    size_t n = 0;

    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        n += w->pool == pool && w->state != WP_ORPHANED;
    }
    if (c == NULL || (c->pids = calloc(n ? n : 1, sizeof(pid_t))) == NULL) {
        free(c);
        ctl_done(fd, 1, "out of memory");
        return;
    }
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && w->state != WP_ORPHANED) {
            c->pids[c->pid_count++] = w->pid;
        }
    }
    if (c->pid_count == 0) {
        free(c->pids);
        free(c);
        ctl_done(fd, 0, done);
        return;
    }
    c->fd = fd;
    c->pool = pool;
    c->done = done;
    c->next = waiting;
    waiting = c;
}

void svc_control_worker_event(const svc_worker_t *w, const char *what)
{
    ctl_conn_t **pp = &waiting;

    while (*pp != NULL) {
        ctl_conn_t *c = *pp;
        bool finished = false;

        if (c->pool != w->pool) {
            pp = &c->next;
            continue;
        }
        ctl_printf(c->fd, 'P', "worker %d of pool \"%s\": %s", (int)w->pid, w->pool->name,
                   what);
        if (strcmp(what, "exited") == 0) {
            for (size_t i = 0; i < c->pid_count; i++) {
                if (c->pids[i] == w->pid) {
                    c->pids[i] = c->pids[--c->pid_count];
                    break;
                }
            }
            finished = c->pid_count == 0;
        }
        if (finished) {
            *pp = c->next;
            ctl_done(c->fd, 0, c->done);
            free(c->pids);
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

static void cmd_pool(int fd, const char *verb, const char *name)
{
    svc_pool_t *pool = name ? svc_pool_find(name) : NULL;

    if (pool == NULL || pool->cfg == NULL) {
        ctl_printf(fd, 'D', "3 Cannot find APPPOOL object with identifier \"%s\".",
                   name ? name : "");
        close(fd);
        return;
    }
    if (strcmp(verb, "start-apppool") == 0) {
        if (!pool->stopped) {
            ctl_done(fd, 1, "The application pool is already started.");
            return;
        }
        svc_event(SVC_EV_POOL_STARTED, EV_INFO, pool->name, 0,
                  "Application pool '%s' was started by an administrator.", pool->name);
        svc_pool_start(pool);
        ctl_done(fd, 0, "started");
    } else if (strcmp(verb, "stop-apppool") == 0) {
        if (pool->stopped && svc_pool_workers(pool, true) == 0) {
            ctl_done(fd, 1, "The application pool is already stopped.");
            return;
        }
        svc_event(SVC_EV_POOL_STOPPED, EV_INFO, pool->name, 0,
                  "Application pool '%s' was stopped by an administrator.", pool->name);
        /* Waiting first, as for a recycle: each worker's "stopping" is
         * reported too. */
        ctl_wait_pool(fd, pool, "stopped");
        svc_pool_stop(pool, "Disabled");
    } else {
        if (pool->stopped) {
            ctl_done(fd, 1, "The application pool is stopped; start it first.");
            return;
        }
        ctl_wait_pool(fd, pool, "recycled");
        svc_pool_recycle(pool, WASP_RECYCLE_ON_DEMAND);
        /* The waiter was registered before: every old worker is in its
         * list; replacements are not. */
    }
}

static void cmd_site(int fd, const char *verb, const char *name)
{
    for (size_t s = 0; name != NULL && s < wasp_config_site_count(svc.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);

        if (strcasecmp(site->name, name) != 0) {
            continue;
        }
        if (strcmp(verb, "start-site") == 0) {
            if (svc_site_started(s)) {
                ctl_done(fd, 1, "The site is already started.");
                return;
            }
            svc.site_stopped[s] = false;
        } else {
            if (!svc_site_started(s)) {
                ctl_done(fd, 1, "The site is already stopped.");
                return;
            }
            svc.site_stopped[s] = true;
        }
        svc_apply_listens();
        svc_push_config();
        ctl_done(fd, 0, strcmp(verb, "start-site") == 0 ? "started" : "stopped");
        return;
    }
    ctl_printf(fd, 'D', "3 Cannot find SITE object with identifier \"%s\".", name ? name : "");
    close(fd);
}

static ctl_conn_t *requests_waiting;

/* A caller that waits on *list for the listener's answer to a query; NULL
 * (answered already) when there is no listener or no memory. */
static ctl_conn_t *ctl_wait_listener(int fd, ctl_conn_t **list)
{
    ctl_conn_t *c;

    if (svc.control == NULL) {
        ctl_done(fd, 1, "the listener is restarting; try again");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ctl_done(fd, 1, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->next = *list;
    *list = c;
    return c;
}

static void cmd_requests(int fd, const char *min_elapsed)
{
    ctl_conn_t *c = ctl_wait_listener(fd, &requests_waiting);
    wasp_enc_t e = {0};

    if (c == NULL) {
        return;
    }
    c->wants_requests = true;
    wasp_enc_u32(&e, min_elapsed ? (uint32_t)strtoul(min_elapsed, NULL, 10) : 0);
    svc_send(WASP_MSG_QUERY_REQUESTS, &e, -1);
}

static ctl_conn_t *counters_waiting;

/* `counters`: the listener's counter lines (WASP_MSG_QUERY_COUNTERS). */
static void cmd_counters(int fd)
{
    if (ctl_wait_listener(fd, &counters_waiting) != NULL) {
        svc_send(WASP_MSG_QUERY_COUNTERS, NULL, -1);
    }
}

/* Send a listener's text answer to every caller waiting on *list, in
 * datagrams of whole lines, and finish them. */
static void answer_all(ctl_conn_t **list, const char *payload, size_t len)
{
    while (*list != NULL) {
        ctl_conn_t *c = *list;
        size_t off = 0;

        *list = c->next;
        while (off < len) {
            size_t n = len - off > WASP_CTL_MAX - 2 ? WASP_CTL_MAX - 2 : len - off;

            /* Cut at a line end so every datagram holds whole lines. */
            if (off + n < len) {
                while (n > 0 && payload[off + n - 1] != '\n') {
                    n--;
                }
                if (n == 0) {
                    break;
                }
            }
            ctl_send(c->fd, 'O', payload + off, n);
            off += n;
        }
        ctl_done(c->fd, 0, "");
        free(c);
    }
}

/* The listener's answer to QUERY_REQUESTS: 'req' lines for every waiting
 * caller (queries are answered in order, so one answer serves all). */
void svc_control_requests_answer(const char *payload, size_t len)
{
    answer_all(&requests_waiting, payload, len);
}

/* The listener's answer to QUERY_COUNTERS, likewise. */
void svc_control_counters_answer(const char *payload, size_t len)
{
    answer_all(&counters_waiting, payload, len);
}

/* ---- SSL certificate bindings (sslcert.c) ---------------------------------- */

/* The entries waspd holds, as sslbindings.conf lines. */
static void cmd_sslcert(int fd)
{
    ctl_out_t o = {.fd = fd};
    char line[2048];

    for (size_t i = 0; i < svc.ssl_bindings.count; i++) {
        wasp_sslbinding_format(&svc.ssl_bindings.v[i], line, sizeof(line));
        out_line(&o, "%s", line);
    }
    out_flush(&o);
    ctl_done(fd, 0, "");
}

static void cmd_sslcert_changed(int fd, const char *root)
{
    char msg[4096];
    int rc = svc_sslcert_changed(root, msg, sizeof(msg));

    ctl_done(fd, rc, msg);
}

static void ctl_dispatch(int fd, char *req, size_t len)
{
    char *words[8];
    size_t nw = 0;

    req[len] = '\0';
    for (size_t i = 0; i < len && nw < 8;) {
        words[nw++] = req + i;
        i += strlen(req + i) + 1;
    }
    if (nw == 0) {
        ctl_done(fd, 2, "empty command");
        return;
    }
    if (strcmp(words[0], "state") == 0) {
        cmd_state(fd);
    } else if (strcmp(words[0], "events") == 0) {
        cmd_events(fd, nw > 1 ? words[1] : NULL);
    } else if (strcmp(words[0], "start-apppool") == 0 || strcmp(words[0], "stop-apppool") == 0 ||
               strcmp(words[0], "recycle-apppool") == 0) {
        cmd_pool(fd, words[0], nw > 1 ? words[1] : NULL);
    } else if (strcmp(words[0], "start-site") == 0 || strcmp(words[0], "stop-site") == 0) {
        cmd_site(fd, words[0], nw > 1 ? words[1] : NULL);
    } else if (strcmp(words[0], "reload") == 0) {
        char summary[1024];
        int rc = svc_reload(summary, sizeof(summary));

        ctl_done(fd, rc == 0 ? 0 : 1, summary);
    } else if (strcmp(words[0], "requests") == 0) {
        cmd_requests(fd, nw > 1 ? words[1] : NULL);
    } else if (strcmp(words[0], "counters") == 0) {
        cmd_counters(fd);
    } else if (strcmp(words[0], "sslcert") == 0) {
        cmd_sslcert(fd);
    } else if (strcmp(words[0], "sslcert-changed") == 0) {
        cmd_sslcert_changed(fd, nw > 1 ? words[1] : NULL);
    } else {
        ctl_printf(fd, 'D', "2 unknown command \"%s\"", words[0]);
        close(fd);
    }
}

static void ctl_on_client(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    char req[4096];
    ssize_t n;

    wasp_loop_del(loop, fd);
    n = recv(fd, req, sizeof(req) - 1, MSG_DONTWAIT);
    if (n <= 0) {
        close(fd);
        return;
    }
    ctl_dispatch(fd, req, (size_t)n);
}

static void ctl_on_accept(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    for (;;) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

        if (c < 0) {
            return;
        }
        /* Root and waspd's own user only: never a pool's identity. */
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            (cred.uid != 0 && cred.uid != geteuid())) {
            wasp_warn("control socket: refused uid %d pid %d", (int)cred.uid, (int)cred.pid);
            close(c);
            continue;
        }
        {
            struct timeval tv = {.tv_sec = 5};

            /* A waspctl that stops reading cannot stall waspd for long. */
            setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        }
        wasp_loop_add(loop, c, EPOLLIN, ctl_on_client, NULL);
    }
}

int svc_control_open(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    snprintf(ctl_path, sizeof(ctl_path), "%s/%s", svc.runtime_dir, WASP_CTL_SOCKET);
    if (strlen(ctl_path) >= sizeof(sun.sun_path)) {
        wasp_error("runtime directory '%s' is too long for a socket path", svc.runtime_dir);
        return -1;
    }
    strcpy(sun.sun_path, ctl_path);
    unlink(ctl_path);
    ctl_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (ctl_fd < 0 || bind(ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
        chmod(ctl_path, 0600) != 0 || listen(ctl_fd, 16) != 0) {
        wasp_error("cannot create the control socket %s: %s", ctl_path, strerror(errno));
        return -1;
    }
    return wasp_loop_add(svc.loop, ctl_fd, EPOLLIN, ctl_on_accept, NULL);
}

void svc_control_close(void)
{
    if (ctl_fd >= 0) {
        close(ctl_fd);
        unlink(ctl_path);
        ctl_fd = -1;
    }
}
