/*
 * waspd: the activation service (WAS + W3SVC's role).  It reads
 * applicationHost.config, binds the sites' ports and the pools' channel
 * sockets (so the listener never needs privileges), starts wasp-http and
 * pushes the configuration to it, and starts a pool's worker when the
 * listener says requests are waiting (demand start) or at once for
 * startMode="AlwaysRunning" pools.  Every child is a direct child of waspd;
 * waspd reaps them, says how each one ended, and restarts the listener if it
 * dies.
 *
 * Shutdown (SIGTERM, or a first SIGINT): the listener stops accepting and
 * finishes the requests in flight, bounded by the pools' shutdownTimeLimit;
 * then the workers are stopped and waspd exits 0.  A second SIGINT kills
 * everything at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/channel.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "config/config.h"
#include "service/identity.h"

/* Rapid-fail protection with IIS' defaults (failure/@rapidFailProtection*):
 * 5 worker failures within 5 minutes stop the pool; the listener then
 * answers 503 AppOffline.  The settings themselves come with the process
 * manager work (application pools issue). */
#define WASP_RAPID_FAIL_MAX_CRASHES 5
#define WASP_RAPID_FAIL_INTERVAL_MS (5u * 60u * 1000u)

typedef struct svc_pool {
    const wasp_pool_cfg_t *cfg;
    wasp_identity_t id;
    char sock_path[PATH_MAX];
    int sock_fd;
    int live_workers;   /* spawned and not yet reaped */
    bool demand_pending;
    uint64_t last_start_ms;
    bool died_young;    /* the last worker exited within a second of its start */
    bool stopped;       /* by rapid-fail protection */
    uint64_t failures[WASP_RAPID_FAIL_MAX_CRASHES];
    size_t failure_next;
    wasp_ltimer_t *spawn_timer;
} svc_pool_t;

typedef struct svc_listen {
    char ip[64];
    uint16_t port;
    int fd;
} svc_listen_t;

typedef struct svc_child {
    struct svc_child *next;
    pid_t pid;
    svc_pool_t *pool; /* NULL: the listener */
    uint64_t started_ms;
} svc_child_t;

static struct {
    wasp_loop_t *loop;
    wasp_config_t *cfg;
    char config_path[PATH_MAX];
    char runtime_dir[PATH_MAX];
    char http_bin[PATH_MAX];
    char worker_bin[PATH_MAX];
    svc_pool_t *pools;
    size_t pool_count;
    svc_listen_t *listens;
    size_t listen_count;
    wasp_identity_t listener_id;
    wasp_channel_t *control;
    pid_t listener_pid;
    svc_child_t *children;
    int stopping;     /* 0 running, 1 draining, 2 immediate */
    bool listener_gone;
    uint32_t shutdown_limit_s;
    int exit_code;
    bool runtime_busy; /* another waspd owns the runtime directory */
} svc;

static void svc_spawn_listener(void);
static void svc_check_done(void);

static svc_pool_t *svc_pool_find(const char *name)
{
    for (size_t i = 0; i < svc.pool_count; i++) {
        if (strcmp(svc.pools[i].cfg->name, name) == 0) {
            return &svc.pools[i];
        }
    }
    return NULL;
}

/* ---- sockets ------------------------------------------------------------- */

static int svc_bind_tcp(const char *ip, uint16_t port, char *err, size_t err_size)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, zero = 0;

    memset(&ss, 0, sizeof(ss));
    if (strcmp(ip, "*") == 0) {
        /* One dual-stack socket answers IPv4 and IPv6 ("*" = all addresses). */
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_any;
        a->sin6_port = htons(port);
        len = sizeof(*a);
    } else if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) {
            snprintf(err, err_size, "'%s' is not an IPv6 address", ip);
            return -1;
        }
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) {
            snprintf(err, err_size, "'%s' is not an IPv4 address", ip);
            return -1;
        }
        len = sizeof(*a);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && strcmp(ip, "*") == 0) {
        /* No IPv6 on this machine: all IPv4 addresses. */
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        memset(&ss, 0, sizeof(ss));
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_ANY);
        a->sin_port = htons(port);
        len = sizeof(*a);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        snprintf(err, err_size, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6 && strcmp(ip, "*") == 0) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, err_size, "cannot listen on %s:%u: %s%s", ip, port, strerror(errno),
                 errno == EADDRINUSE ? " (another program uses this port; stop it or change "
                                       "the binding)"
                 : errno == EACCES   ? " (ports below 1024 need root)"
                                     : "");
        close(fd);
        return -1;
    }
    return fd;
}

/* One socket per port with a "*" binding (routing by local address is the
 * listener's job, as in HTTP.sys), else one per (IP, port). */
static int svc_bind_all(void)
{
    for (size_t s = 0; s < wasp_config_site_count(svc.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);

        if (!site->server_auto_start) {
            continue;
        }
        for (size_t b = 0; b < site->binding_count; b++) {
            const wasp_binding_cfg_t *bd = &site->bindings[b];
            bool covered = false;
            char err[512];
            svc_listen_t *p;

            if (strcmp(bd->protocol, "http") != 0) {
                wasp_warn("%s:%d: site '%s': %s bindings are not served yet (binding %s:%u:%s "
                          "ignored)", wasp_config_path(svc.cfg), bd->line, site->name,
                          bd->protocol, bd->ip, bd->port, bd->host);
                continue;
            }
            for (size_t i = 0; i < svc.listen_count; i++) {
                svc_listen_t *l = &svc.listens[i];

                if (l->port == bd->port &&
                    (strcmp(l->ip, "*") == 0 || strcmp(l->ip, bd->ip) == 0)) {
                    covered = true;
                }
            }
            if (covered) {
                continue;
            }
            if (strcmp(bd->ip, "*") == 0) {
                /* A wildcard supersedes specific sockets bound earlier on this port. */
                for (size_t i = 0; i < svc.listen_count;) {
                    if (svc.listens[i].port == bd->port) {
                        close(svc.listens[i].fd);
                        svc.listens[i] = svc.listens[--svc.listen_count];
                    } else {
                        i++;
                    }
                }
            }
            p = realloc(svc.listens, (svc.listen_count + 1) * sizeof(*p));
            if (p == NULL) {
                return -1;
            }
            svc.listens = p;
            p = &svc.listens[svc.listen_count];
            snprintf(p->ip, sizeof(p->ip), "%s", bd->ip);
            p->port = bd->port;
            p->fd = svc_bind_tcp(bd->ip, bd->port, err, sizeof(err));
            if (p->fd < 0) {
                wasp_error("%s:%d: site '%s', binding %s:%u:%s: %s", wasp_config_path(svc.cfg),
                           bd->line, site->name, bd->ip, bd->port, bd->host, err);
                return -1;
            }
            svc.listen_count++;
        }
    }
    return 0;
}

static int svc_bind_pool(svc_pool_t *pool)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char safe[128];
    int fd;

    wasp_safe_name(pool->cfg->name, safe, sizeof(safe));
    snprintf(pool->sock_path, sizeof(pool->sock_path), "%s/pools/%s.sock", svc.runtime_dir, safe);
    if (strlen(pool->sock_path) >= sizeof(sun.sun_path)) {
        wasp_error("runtime directory '%s' is too long for a socket path; choose a shorter "
                   "--runtime-dir", svc.runtime_dir);
        return -1;
    }
    strcpy(sun.sun_path, pool->sock_path);
    unlink(pool->sock_path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 64) != 0) {
        wasp_error("pool '%s': cannot create its channel socket %s: %s", pool->cfg->name,
                   pool->sock_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    /* Only the pool's own identity may connect (the listener checks the
     * peer's uid as well: two locks, one per side). */
    if ((geteuid() == 0 && chown(pool->sock_path, pool->id.uid, pool->id.gid) != 0) ||
        chmod(pool->sock_path, 0600) != 0) {
        wasp_error("pool '%s': cannot restrict %s: %s", pool->cfg->name, pool->sock_path,
                   strerror(errno));
        close(fd);
        return -1;
    }
    pool->sock_fd = fd;
    return 0;
}

/* ---- children ------------------------------------------------------------ */

static void svc_child_add(pid_t pid, svc_pool_t *pool)
{
    svc_child_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return;
    }
    c->pid = pid;
    c->pool = pool;
    c->started_ms = wasp_now_ms();
    c->next = svc.children;
    svc.children = c;
}

static void svc_write_wp_file(pid_t pid, const svc_pool_t *pool, bool add)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/wp/%d", svc.runtime_dir, (int)pid);
    if (add) {
        FILE *f = fopen(path, "w");

        if (f != NULL) {
            fprintf(f, "%s\n", pool->cfg->name);
            fclose(f);
        }
    } else {
        unlink(path);
    }
}

/* Children get a clean environment: PATH, the log level, and the
 * sanitizer options of a test build (so a sanitized worker reports the same
 * way as its parent).  IIS gives a worker its pool's environment only. */
static void svc_child_env(char **envp, size_t max, const char *path)
{
    static const char *const pass[] = {"WASP_LOG_LEVEL", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                       "LSAN_OPTIONS"};
    static char storage[4][1024];
    size_t n = 0;

    envp[n++] = (char *)path;
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]) && n + 1 < max; i++) {
        const char *v = getenv(pass[i]);

        if (v != NULL) {
            snprintf(storage[i], sizeof(storage[i]), "%s=%s", pass[i], v);
            envp[n++] = storage[i];
        }
    }
    envp[n] = NULL;
}

static void svc_child_exec_failed(const char *what, const char *bin)
{
    wasp_error("cannot start %s (%s): %s", what, bin, strerror(errno));
    _exit(127);
}

static void svc_spawn_worker(svc_pool_t *pool)
{
    pid_t pid;
    char *argv[] = {"wasp-worker", "--pool", (char *)pool->cfg->name, "--config",
                    svc.config_path, "--channel", pool->sock_path, NULL};
    char *envp[8];
    int exe = open(svc.worker_bin, O_RDONLY | O_CLOEXEC);

    if (exe < 0) {
        wasp_error("cannot open the worker binary %s: %s", svc.worker_bin, strerror(errno));
        return;
    }
    svc_child_env(envp, 8, "PATH=/usr/local/bin:/usr/bin:/bin");
    pool->live_workers++;
    pool->demand_pending = false;
    pool->last_start_ms = wasp_now_ms();
    pid = fork();
    if (pid < 0) {
        pool->live_workers--;
        close(exe);
        wasp_error("pool '%s': fork: %s", pool->cfg->name, strerror(errno));
        return;
    }
    if (pid == 0) {
        sigset_t all;

        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        setpgid(0, 0); /* terminal signals go to waspd only; it decides */
        if (wasp_identity_become(&pool->id) != 0) {
            svc_child_exec_failed("a worker (dropping privileges)", svc.worker_bin);
        }
        /* fexecve: the binary was opened while still privileged, so a build
         * tree under a private home directory still starts. */
        fexecve(exe, argv, envp);
        svc_child_exec_failed("a worker", svc.worker_bin);
    }
    close(exe);
    svc_child_add(pid, pool);
    svc_write_wp_file(pid, pool, true);
    wasp_info("pool '%s': started worker pid %d as user %s (uid %d)", pool->cfg->name, (int)pid,
              pool->id.user, (int)pool->id.uid);
}

static void svc_demand(svc_pool_t *pool);

static void svc_spawn_timer(wasp_loop_t *loop, void *data)
{
    svc_pool_t *pool = data;

    pool->spawn_timer = NULL;
    if (svc.stopping == 0 && pool->demand_pending) {
        svc_demand(pool);
    }
}

/* How many workers the pool runs once started: processModel/@maxProcesses
 * (a web garden when above 1; 0 means one per CPU, as on IIS 10). */
static int svc_garden_size(const svc_pool_t *pool)
{
    long n = pool->cfg->max_processes;

    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    return n < 1 ? 1 : (int)n;
}

/* Bring the pool to its garden size; a worker that died right after it
 * started is not restarted more than once a second (rapid-fail protection
 * stops a pool that keeps failing). */
static void svc_demand(svc_pool_t *pool)
{
    uint64_t since;

    if (svc.stopping || pool->stopped) {
        return;
    }
    pool->demand_pending = true;
    if (pool->live_workers >= svc_garden_size(pool) || pool->spawn_timer != NULL) {
        return;
    }
    since = wasp_now_ms() - pool->last_start_ms;
    if (pool->died_young && since < 1000) {
        pool->spawn_timer = wasp_loop_timer(svc.loop, 1000 - since, svc_spawn_timer, pool);
        return;
    }
    while (pool->live_workers < svc_garden_size(pool)) {
        int before = pool->live_workers;

        svc_spawn_worker(pool);
        if (pool->live_workers == before) {
            break; /* could not start one; said why */
        }
    }
}

static void svc_control_on_msg(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr,
                               const char *payload, int fd, void *data)
{
    if (fd >= 0) {
        close(fd);
    }
    if (hdr->type == WASP_MSG_DEMAND) {
        char name[256];
        size_t n = hdr->length < sizeof(name) - 1 ? hdr->length : sizeof(name) - 1;
        svc_pool_t *pool;

        memcpy(name, payload, n);
        name[n] = '\0';
        pool = svc_pool_find(name);
        if (pool != NULL) {
            svc_demand(pool);
        }
    } else if (hdr->type == WASP_MSG_WORKER_HUNG) {
        wasp_dec_t d;
        char name[256];
        pid_t pid;

        wasp_dec_init(&d, payload, hdr->length);
        pid = (pid_t)wasp_dec_u32(&d);
        wasp_dec_cstr(&d, name, sizeof(name));
        for (svc_child_t *c = svc.children; c != NULL && !d.error; c = c->next) {
            /* Only a worker of that pool that is our own child: the listener
             * cannot make us kill anything else. */
            if (c->pid == pid && c->pool != NULL && strcmp(c->pool->cfg->name, name) == 0) {
                wasp_error("pool '%s': worker pid %d failed to respond to a ping within %u s "
                           "(IIS event 5010); killing it", name, (int)pid,
                           c->pool->cfg->ping_response_time_s);
                kill(pid, SIGKILL);
            }
        }
    } else if (hdr->type == WASP_MSG_DRAINED) {
        wasp_info("listener drained every request");
    }
}

static void svc_control_on_close(wasp_channel_t *ch, void *data)
{
    /* The listener is gone; SIGCHLD tells us how, and restarts it. */
    wasp_channel_free(svc.control);
    svc.control = NULL;
}

static void svc_send(uint16_t type, wasp_enc_t *e, int fd)
{
    wasp_channel_send(svc.control, type, 0, 0, e ? wasp_buf_ptr(&e->buf) : NULL,
                      e ? wasp_buf_size(&e->buf) : 0, fd);
    if (e != NULL) {
        wasp_buf_free(&e->buf);
    }
}

static void svc_push_config(void)
{
    svc_send(WASP_MSG_CFG_BEGIN, NULL, -1);
    for (size_t i = 0; i < svc.listen_count; i++) {
        wasp_enc_t e = {0};

        wasp_enc_cstr(&e, svc.listens[i].ip);
        wasp_enc_u16(&e, svc.listens[i].port);
        svc_send(WASP_MSG_CFG_LISTEN, &e, svc.listens[i].fd);
    }
    for (size_t i = 0; i < svc.pool_count; i++) {
        wasp_enc_t e = {0};

        wasp_enc_cstr(&e, svc.pools[i].cfg->name);
        wasp_enc_u32(&e, (uint32_t)svc.pools[i].id.uid);
        wasp_enc_u32(&e, svc.pools[i].cfg->queue_length);
        wasp_enc_u32(&e, svc.pools[i].cfg->pinging_enabled
                             ? svc.pools[i].cfg->ping_interval_s * 1000u : 0);
        wasp_enc_u32(&e, svc.pools[i].cfg->ping_response_time_s * 1000u);
        svc_send(WASP_MSG_CFG_POOL, &e, svc.pools[i].sock_fd);
    }
    for (size_t s = 0; s < wasp_config_site_count(svc.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);
        wasp_enc_t e = {0};

        wasp_enc_u32(&e, site->id);
        wasp_enc_cstr(&e, site->name);
        wasp_enc_u32(&e, site->server_auto_start ? 1 : 0);
        wasp_enc_u32(&e, site->connection_timeout_s * 1000u);
        svc_send(WASP_MSG_CFG_SITE, &e, -1);
        for (size_t b = 0; b < site->binding_count; b++) {
            const wasp_binding_cfg_t *bd = &site->bindings[b];

            if (strcmp(bd->protocol, "http") != 0) {
                continue;
            }
            wasp_enc_u32(&e, site->id);
            wasp_enc_cstr(&e, bd->ip);
            wasp_enc_u16(&e, bd->port);
            wasp_enc_cstr(&e, bd->host);
            svc_send(WASP_MSG_CFG_BINDING, &e, -1);
        }
        for (size_t a = 0; a < site->app_count; a++) {
            wasp_enc_u32(&e, site->id);
            wasp_enc_cstr(&e, site->apps[a].path);
            wasp_enc_cstr(&e, site->apps[a].pool);
            svc_send(WASP_MSG_CFG_APP, &e, -1);
        }
    }
    for (size_t i = 0; i < svc.pool_count; i++) {
        if (svc.pools[i].stopped) {
            wasp_enc_t e = {0};

            wasp_enc_cstr(&e, svc.pools[i].cfg->name);
            wasp_enc_u8(&e, 0);
            wasp_enc_cstr(&e, "AppOffline");
            svc_send(WASP_MSG_POOL_STATE, &e, -1);
        }
    }
    svc_send(WASP_MSG_CFG_END, NULL, -1);
}

static void svc_spawn_listener(void)
{
    int sv[2];
    pid_t pid;
    int exe;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        wasp_error("socketpair: %s", strerror(errno));
        return;
    }
    exe = open(svc.http_bin, O_RDONLY | O_CLOEXEC);
    if (exe < 0) {
        wasp_error("cannot open the listener binary %s: %s", svc.http_bin, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return;
    }
    pid = fork();
    if (pid < 0) {
        wasp_error("fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        close(exe);
        return;
    }
    if (pid == 0) {
        char *argv[] = {"wasp-http", "--control-fd", "3", NULL};
        char *envp[8];
        sigset_t all;

        svc_child_env(envp, 8, "PATH=/usr/bin:/bin");
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        setpgid(0, 0);
        if (dup2(sv[1], 3) != 3) {
            _exit(127);
        }
        if (wasp_identity_become(&svc.listener_id) != 0) {
            svc_child_exec_failed("the listener (dropping privileges)", svc.http_bin);
        }
        fexecve(exe, argv, envp);
        svc_child_exec_failed("the listener", svc.http_bin);
    }
    close(sv[1]);
    close(exe);
    svc.listener_pid = pid;
    svc.listener_gone = false;
    svc_child_add(pid, NULL);
    svc.control = wasp_channel_new(svc.loop, sv[0], svc_control_on_msg, svc_control_on_close,
                                   NULL);
    wasp_info("started listener pid %d as user %s (uid %d)", (int)pid, svc.listener_id.user,
              (int)svc.listener_id.uid);
    svc_push_config();
}

static void svc_describe_exit(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        snprintf(buf, size, "on signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(buf, size, "with status %d", WEXITSTATUS(status));
    }
}

static void svc_rapid_fail_count(svc_pool_t *pool)
{
    uint64_t now = wasp_now_ms();
    uint64_t oldest;
    wasp_enc_t e = {0};

    pool->failures[pool->failure_next] = now;
    pool->failure_next = (pool->failure_next + 1) % WASP_RAPID_FAIL_MAX_CRASHES;
    oldest = pool->failures[pool->failure_next]; /* the 5th most recent failure */
    if (oldest == 0 || now - oldest > WASP_RAPID_FAIL_INTERVAL_MS) {
        return;
    }
    pool->stopped = true;
    pool->demand_pending = false;
    wasp_error("pool '%s' stopped by rapid-fail protection: %d worker failures within %u "
               "seconds; its requests are answered 503 until waspd is restarted",
               pool->cfg->name, WASP_RAPID_FAIL_MAX_CRASHES, WASP_RAPID_FAIL_INTERVAL_MS / 1000);
    if (svc.control != NULL) {
        wasp_enc_cstr(&e, pool->cfg->name);
        wasp_enc_u8(&e, 0);
        wasp_enc_cstr(&e, "AppOffline");
        svc_send(WASP_MSG_POOL_STATE, &e, -1);
    }
}

static void svc_reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        svc_child_t **pp = &svc.children, *c;
        char how[128];

        if (pid <= 0) {
            return;
        }
        while (*pp != NULL && (*pp)->pid != pid) {
            pp = &(*pp)->next;
        }
        c = *pp;
        if (c == NULL) {
            continue; /* e.g. useradd */
        }
        *pp = c->next;
        svc_describe_exit(status, how, sizeof(how));
        if (c->pool == NULL) {
            svc.listener_gone = true;
            if (svc.stopping) {
                wasp_info("listener pid %d exited %s", (int)pid, how);
            } else {
                wasp_error("listener pid %d exited %s; restarting it", (int)pid, how);
                if (svc.control != NULL) {
                    wasp_channel_free(svc.control);
                    svc.control = NULL;
                }
                svc_spawn_listener();
            }
        } else {
            svc_pool_t *pool = c->pool;
            bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;

            pool->live_workers--;
            pool->died_young = wasp_now_ms() - c->started_ms < 1000;
            svc_write_wp_file(pid, pool, false);
            if (clean || svc.stopping) {
                wasp_info("pool '%s': worker pid %d exited %s", pool->cfg->name, (int)pid, how);
            } else {
                wasp_error("pool '%s': worker pid %d exited %s", pool->cfg->name, (int)pid, how);
                svc_rapid_fail_count(pool);
            }
            /* Replace it when requests wait for it, for an AlwaysRunning
             * pool, and for a web garden that still runs (its members
             * share the pool's load; a missing one is not noticed by the
             * listener, which asks only when no worker is left). */
            if (pool->demand_pending || pool->cfg->start_mode == WASP_START_ALWAYS_RUNNING ||
                (svc_garden_size(pool) > 1 && pool->live_workers > 0 && !clean)) {
                pool->demand_pending = true;
                svc_demand(pool);
            }
        }
        free(c);
    }
}

static void svc_kill_all(int sig)
{
    for (svc_child_t *c = svc.children; c != NULL; c = c->next) {
        kill(c->pid, sig);
    }
}

static void svc_shutdown_timeout(wasp_loop_t *loop, void *data)
{
    wasp_warn("shutdownTimeLimit (%u s) reached; killing what is left", svc.shutdown_limit_s);
    svc_kill_all(SIGKILL);
}

static void svc_check_done(void)
{
    if (svc.stopping == 0) {
        return;
    }
    if (svc.listener_gone) {
        bool workers = false;

        for (svc_child_t *c = svc.children; c != NULL; c = c->next) {
            if (c->pool != NULL) {
                workers = true;
            }
        }
        if (workers) {
            svc_kill_all(SIGTERM);
            return;
        }
        wasp_loop_stop(svc.loop);
    }
}

static void svc_on_signal(wasp_loop_t *loop, int signo, void *data)
{
    if (signo == SIGCHLD) {
        svc_reap();
        svc_check_done();
        return;
    }
    if (signo == SIGINT && svc.stopping) {
        wasp_info("second interrupt: stopping now");
        svc_kill_all(SIGKILL);
        svc.exit_code = 130;
        svc.stopping = 2;
        wasp_loop_stop(loop);
        return;
    }
    if (signo == SIGTERM || signo == SIGINT) {
        if (svc.stopping) {
            return;
        }
        svc.stopping = 1;
        wasp_info("stopping (%s): finishing requests in flight, at most %u s",
                  signo == SIGTERM ? "SIGTERM" : "SIGINT; press again to stop at once",
                  svc.shutdown_limit_s);
        /* Our copies of the listening sockets must go too, or the kernel
         * keeps accepting connections nobody will serve. */
        for (size_t i = 0; i < svc.listen_count; i++) {
            close(svc.listens[i].fd);
        }
        svc.listen_count = 0;
        if (svc.listener_pid > 0 && !svc.listener_gone) {
            kill(svc.listener_pid, SIGTERM);
        }
        wasp_loop_timer(loop, (uint64_t)svc.shutdown_limit_s * 1000u, svc_shutdown_timeout,
                        NULL);
        svc_check_done();
    }
}

/* ---- start-up ------------------------------------------------------------ */

static int svc_find_binaries(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;
    const char *dir = getenv("WASP_BIN_DIR");

    if (dir == NULL) {
        if (n <= 0) {
            return -1;
        }
        self[n] = '\0';
        slash = strrchr(self, '/');
        *slash = '\0';
        dir = self;
    }
    snprintf(svc.http_bin, sizeof(svc.http_bin), "%s/wasp-http", dir);
    snprintf(svc.worker_bin, sizeof(svc.worker_bin), "%s/wasp-worker", dir);
    if (access(svc.http_bin, X_OK) != 0 || access(svc.worker_bin, X_OK) != 0) {
        wasp_error("wasp-http and wasp-worker must be next to waspd (looked in %s)", dir);
        return -1;
    }
    return 0;
}

static int svc_prepare(void)
{
    char path[PATH_MAX], err[1024];
    FILE *f;

    if (wasp_mkdir_p(svc.runtime_dir, 0755) != 0) {
        wasp_error("cannot create the runtime directory %s: %s%s", svc.runtime_dir,
                   strerror(errno),
                   errno == EACCES ? " (not root? choose one you own with --runtime-dir DIR)"
                                   : "");
        return -1;
    }
    chmod(svc.runtime_dir, 0755);
    if (access(svc.runtime_dir, W_OK) != 0) {
        wasp_error("cannot write in the runtime directory %s: %s (not root? choose one you own "
                   "with --runtime-dir DIR)", svc.runtime_dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/pools", svc.runtime_dir);
    if (wasp_mkdir_p(path, 0711) != 0) {
        wasp_error("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    chmod(path, 0711);
    snprintf(path, sizeof(path), "%s/wp", svc.runtime_dir);
    wasp_mkdir_p(path, 0755);
    snprintf(path, sizeof(path), "%s/waspd.pid", svc.runtime_dir);
    f = fopen(path, "r");
    if (f != NULL) {
        int other = 0;

        /* A second waspd on the same runtime directory would unlink the
         * first one's pool sockets from under it. */
        if (fscanf(f, "%d", &other) == 1 && other > 0 && other != (int)getpid() &&
            (kill(other, 0) == 0 || errno == EPERM)) {
            fclose(f);
            wasp_error("another waspd (pid %d) is running with the runtime directory %s; stop "
                       "it, or give this one its own --runtime-dir", other, svc.runtime_dir);
            svc.runtime_busy = true;
            return -1;
        }
        fclose(f);
    }
    f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
    if (wasp_identity_for_listener(&svc.listener_id, err, sizeof(err)) != 0) {
        wasp_error("%s", err);
        return -1;
    }
    if (geteuid() != 0) {
        wasp_info("not started as root: the listener and every worker run as user '%s'",
                  svc.listener_id.user);
    }
    svc.pool_count = wasp_config_pool_count(svc.cfg);
    svc.pools = calloc(svc.pool_count ? svc.pool_count : 1, sizeof(*svc.pools));
    if (svc.pools == NULL) {
        return -1;
    }
    svc.shutdown_limit_s = 1;
    for (size_t i = 0; i < svc.pool_count; i++) {
        svc_pool_t *pool = &svc.pools[i];

        pool->cfg = wasp_config_pool(svc.cfg, i);
        pool->sock_fd = -1;
        if (wasp_identity_for_pool(pool->cfg, &pool->id, err, sizeof(err)) != 0) {
            wasp_error("%s", err);
            return -1;
        }
        if (svc_bind_pool(pool) != 0) {
            return -1;
        }
        if (pool->cfg->shutdown_time_limit_s > svc.shutdown_limit_s) {
            svc.shutdown_limit_s = pool->cfg->shutdown_time_limit_s;
        }
    }
    return svc_bind_all();
}

/* As root, each pool reads its content as its own user: say at start if a
 * virtual directory is out of its reach, rather than let every request fail
 * with 401.3 / 404 and leave the administrator guessing. */
static void svc_check_content_access(void)
{
    if (geteuid() != 0) {
        return;
    }
    for (size_t s = 0; s < wasp_config_site_count(svc.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);

        for (size_t a = 0; a < site->app_count; a++) {
            const wasp_app_cfg_t *app = &site->apps[a];
            svc_pool_t *pool = svc_pool_find(app->pool);

            if (pool == NULL) {
                continue;
            }
            for (size_t v = 0; v < app->vdir_count; v++) {
                const char *dir = app->vdirs[v].physical_path;
                int ok, err;

                if (setegid(pool->id.gid) != 0 || seteuid(pool->id.uid) != 0) {
                    break;
                }
                ok = faccessat(AT_FDCWD, dir, R_OK | X_OK, AT_EACCESS) == 0;
                err = errno;
                if (seteuid(0) != 0 || setegid(0) != 0) {
                    wasp_alert("cannot regain root after an access check");
                    return;
                }
                if (!ok) {
                    wasp_warn("%s:%d: site '%s', application '%s': pool '%s' runs as user %s, "
                              "which cannot read %s (%s); grant it access (for example chmod o+rx "
                              "on that directory and each one above it) or requests there will "
                              "fail", wasp_config_path(svc.cfg), app->vdirs[v].line, site->name,
                              app->path, pool->cfg->name, pool->id.user, dir, strerror(err));
                }
            }
        }
    }
}

static void svc_cleanup(void)
{
    char path[PATH_MAX];

    if (svc.runtime_busy) {
        return; /* those files are the other waspd's */
    }
    for (size_t i = 0; i < svc.pool_count; i++) {
        if (svc.pools[i].sock_fd >= 0) {
            close(svc.pools[i].sock_fd);
            unlink(svc.pools[i].sock_path);
        }
    }
    snprintf(path, sizeof(path), "%s/waspd.pid", svc.runtime_dir);
    unlink(path);
}

/* A server holds a descriptor per connection (and per file being sent):
 * take the hard limit, which the children inherit, instead of the shell's
 * 1024. */
static void svc_raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: waspd --config FILE [--runtime-dir DIR]\n"
                    "  Runs in the foreground and logs to stderr.\n"
                    "  --config FILE       applicationHost.config to serve\n"
                    "  --runtime-dir DIR   sockets and pid files (default /run/wasp)\n");
}

int main(int argc, char **argv)
{
    static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
    const char *config = NULL;
    wasp_diag_t diag;
    char buf[2048];

    wasp_log_init("waspd");
    snprintf(svc.runtime_dir, sizeof(svc.runtime_dir), "/run/wasp");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--runtime-dir") == 0 && i + 1 < argc) {
            snprintf(svc.runtime_dir, sizeof(svc.runtime_dir), "%s", argv[++i]);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (config == NULL) {
        usage();
        return 2;
    }
    if (realpath(config, svc.config_path) == NULL) {
        wasp_error("%s: %s", config, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    svc_raise_fd_limit();
    svc.cfg = wasp_config_load(svc.config_path, &diag);
    if (svc.cfg == NULL) {
        wasp_error("%s", wasp_diag_format(&diag, buf, sizeof(buf)));
        return 1;
    }
    for (size_t i = 0; i < wasp_config_warning_count(svc.cfg); i++) {
        wasp_warn("%s", wasp_diag_format(wasp_config_warning(svc.cfg, i), buf, sizeof(buf)));
    }
    svc.loop = wasp_loop_new();
    if (svc.loop == NULL || svc_find_binaries() != 0 ||
        wasp_loop_signals(svc.loop, sigs, 4, svc_on_signal, NULL) != 0) {
        return 1;
    }
    if (svc_prepare() != 0) {
        svc_cleanup();
        return 1;
    }
    svc_check_content_access();
    svc_spawn_listener();
    for (size_t i = 0; i < svc.pool_count; i++) {
        if (svc.pools[i].cfg->start_mode == WASP_START_ALWAYS_RUNNING &&
            svc.pools[i].cfg->auto_start) {
            svc_demand(&svc.pools[i]);
        }
    }
    wasp_info("serving %s (runtime files in %s)", svc.config_path, svc.runtime_dir);
    wasp_loop_run(svc.loop);
    svc_cleanup();
    wasp_info("stopped");
    return svc.exit_code;
}
