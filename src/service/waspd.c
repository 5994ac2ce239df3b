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
#include <sys/inotify.h>
#include <pwd.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/channel.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "config/config.h"
#include "config/protect.h"
#include "service/identity.h"
#include "service/svc.h"

svc_state_t svc;

svc_pool_t *svc_pool_find(const char *name)
{
    for (size_t i = 0; i < svc.pool_count; i++) {
        if (strcmp(svc.pools[i]->name, name) == 0) {
            return svc.pools[i];
        }
    }
    return NULL;
}

bool svc_site_started(size_t i)
{
    return wasp_config_site(svc.cfg, i)->server_auto_start && !svc.site_stopped[i];
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

        /* As HTTP.sys: a port is open while a started site has a binding
         * on it (a stopped site's requests then answer 404); a port only
         * stopped sites use is closed. */
        if (!svc_site_started(s)) {
            continue;
        }
        for (size_t b = 0; b < site->binding_count; b++) {
            const wasp_binding_cfg_t *bd = &site->bindings[b];
            bool covered = false;
            char err[512];
            svc_listen_t *p;

            bool tls = strcmp(bd->protocol, "https") == 0;

            if (strcmp(bd->protocol, "http") != 0 && !tls) {
                wasp_warn("%s:%d: site '%s': %s bindings are not served (binding %s:%u:%s "
                          "ignored)", wasp_config_path(svc.cfg), bd->line, site->name,
                          bd->protocol, bd->ip, bd->port, bd->host);
                continue;
            }
            for (size_t i = 0; i < svc.listen_count; i++) {
                svc_listen_t *l = &svc.listens[i];

                if (l->port == bd->port &&
                    (strcmp(l->ip, "*") == 0 || strcmp(l->ip, bd->ip) == 0)) {
                    if (l->tls != tls) {
                        /* As HTTP.sys: one port speaks one protocol. */
                        wasp_error("%s:%d: site '%s': binding %s %s:%u:%s uses a port that "
                                   "another binding serves as %s; give it a port of its own",
                                   wasp_config_path(svc.cfg), bd->line, site->name,
                                   bd->protocol, bd->ip, bd->port, bd->host,
                                   l->tls ? "https" : "http");
                        return -1;
                    }
                    covered = true;
                    l->keep = true;
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
            p->tls = tls;
            p->keep = true;
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

/* Children get a clean environment.  Workers: their pool's
 * environmentVariables, the identity's profile variables (HOME, USER,
 * LOGNAME, SHELL, when processModel/@setProfileEnvironment), PATH, and for a
 * test build the sanitizer options; nothing else of waspd's environment.
 * pool NULL: the listener or a helper program. */
void svc_child_env(char **envp, size_t max, const svc_pool_t *pool)
{
    static const char *const pass[] = {"WASP_LOG_LEVEL", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                                       "LSAN_OPTIONS", "TZ"};
    static char storage[256][512];
    size_t n = 0, k = 0;

#define ENV_ADD(...)                                                                   \
    do {                                                                               \
        if (n + 1 < max && k < 256) {                                                  \
            snprintf(storage[k], sizeof(storage[k]), __VA_ARGS__);                     \
            envp[n++] = storage[k++];                                                  \
        }                                                                              \
    } while (0)
    ENV_ADD("PATH=/usr/local/bin:/usr/bin:/bin");
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
        const char *v = getenv(pass[i]);

        if (v != NULL) {
            ENV_ADD("%s=%s", pass[i], v);
        }
    }
    if (pool != NULL && pool->cfg != NULL) {
        if (pool->cfg->set_profile_environment) {
            struct passwd *pw = getpwuid(pool->id.uid);

            ENV_ADD("USER=%s", pool->id.user);
            ENV_ADD("LOGNAME=%s", pool->id.user);
            ENV_ADD("HOME=%s", pw && pw->pw_dir ? pw->pw_dir : "/");
            ENV_ADD("SHELL=%s", pw && pw->pw_shell ? pw->pw_shell : "/bin/sh");
        }
        ENV_ADD("APP_POOL_ID=%s", pool->name);
        for (size_t i = 0; i < pool->cfg->env_count; i++) {
            const char *name = pool->cfg->env[i].name;
            bool replaced = false;

            /* The pool's own value wins over the defaults above. */
            for (size_t j = 0; j < n; j++) {
                size_t l = strlen(name);

                if (strncmp(envp[j], name, l) == 0 && envp[j][l] == '=' && k < 256) {
                    snprintf(storage[k], sizeof(storage[k]), "%s=%s", name,
                             pool->cfg->env[i].value);
                    envp[j] = storage[k++];
                    replaced = true;
                }
            }
            if (!replaced) {
                ENV_ADD("%s=%s", name, pool->cfg->env[i].value);
            }
        }
    }
#undef ENV_ADD
    envp[n] = NULL;
}

/* ---- the listener -------------------------------------------------------- */

static void svc_spawn_listener(void);

static void svc_control_on_msg(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr,
                               const char *payload, int fd, void *data)
{
    wasp_dec_t d;
    char name[256];
    pid_t pid;

    if (fd >= 0) {
        close(fd);
    }
    wasp_dec_init(&d, payload, hdr->length);
    switch (hdr->type) {
    case WASP_MSG_DEMAND: {
        size_t n = hdr->length < sizeof(name) - 1 ? hdr->length : sizeof(name) - 1;
        svc_pool_t *pool;

        memcpy(name, payload, n);
        name[n] = '\0';
        pool = svc_pool_find(name);
        if (pool != NULL) {
            svc_demand(pool);
        }
        break;
    }
    case WASP_MSG_WORKER_HUNG:
    case WASP_MSG_WORKER_READY:
    case WASP_MSG_WORKER_RECYCLE: {
        uint32_t reason;

        pid = (pid_t)wasp_dec_u32(&d);
        wasp_dec_cstr(&d, name, sizeof(name));
        if (d.error) {
            break;
        }
        if (hdr->type == WASP_MSG_WORKER_HUNG) {
            svc_worker_hung(pid, name);
        } else if (hdr->type == WASP_MSG_WORKER_READY) {
            svc_worker_ready(pid, name);
        } else {
            reason = wasp_dec_u32(&d);
            if (!d.error && reason == WASP_RECYCLE_REQUESTS) {
                svc_worker_recycle_request(pid, name, reason);
            }
        }
        break;
    }
    case WASP_MSG_POOL_IDLE:
        wasp_dec_cstr(&d, name, sizeof(name));
        if (!d.error) {
            svc_pool_idle(name);
        }
        break;
    case WASP_MSG_REQUESTS:
        svc_control_requests_answer(payload, hdr->length);
        break;
    case WASP_MSG_COUNTERS:
        svc_control_counters_answer(payload, hdr->length);
        break;
    case WASP_MSG_DRAINED:
        wasp_info("listener drained every request");
        break;
    case WASP_MSG_LIMITS_QUERY:
        svc_limits_query(payload, hdr->length);
        break;
    default:
        wasp_warn("listener sent unknown frame type %u", hdr->type);
        break;
    }
}

static void svc_control_on_close(wasp_channel_t *ch, void *data)
{
    /* The listener is gone; SIGCHLD tells us how, and restarts it. */
    wasp_channel_free(svc.control);
    svc.control = NULL;
}

void svc_send(uint16_t type, wasp_enc_t *e, int fd)
{
    if (svc.control != NULL) {
        wasp_channel_send(svc.control, type, 0, 0, e ? wasp_buf_ptr(&e->buf) : NULL,
                          e ? wasp_buf_size(&e->buf) : 0, fd);
    }
    if (e != NULL) {
        wasp_buf_free(&e->buf);
    }
}

void svc_send_pool_state(const svc_pool_t *pool)
{
    wasp_enc_t e = {0};

    wasp_enc_cstr(&e, pool->name);
    wasp_enc_u8(&e, pool->stopped ? 0 : 1);
    wasp_enc_cstr(&e, pool->stopped ? pool->stop_reason : "");
    svc_send(WASP_MSG_POOL_STATE, &e, -1);
}

static void svc_push_pool(const svc_pool_t *pool)
{
    const wasp_pool_cfg_t *c = pool->cfg;
    wasp_enc_t e = {0};

    wasp_enc_cstr(&e, pool->name);
    wasp_enc_u32(&e, (uint32_t)pool->id.uid);
    wasp_enc_u32(&e, c->queue_length);
    wasp_enc_u32(&e, c->pinging_enabled ? c->ping_interval_s * 1000u : 0);
    wasp_enc_u32(&e, c->ping_response_time_s * 1000u);
    wasp_enc_u32(&e, c->restart_requests);
    wasp_enc_u32(&e, c->start_mode == WASP_START_ALWAYS_RUNNING ? 0 : c->idle_timeout_s * 1000u);
    wasp_enc_u8(&e, c->idle_timeout_action == WASP_IDLE_SUSPEND ? 1 : 0);
    wasp_enc_u8(&e, c->load_balancer_capabilities == WASP_LB_TCP_LEVEL ? 1 : 0);
    svc_send(WASP_MSG_CFG_POOL, &e, pool->sock_fd);
}

/* sslFlags 4 (IIS 10: disable HTTP/2) on an https binding served by this
 * socket: HTTP.sys decides per endpoint, so one such binding decides. */
static bool svc_listen_no_h2(const svc_listen_t *l)
{
    for (size_t s = 0; s < wasp_config_site_count(svc.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);

        for (size_t b = 0; b < site->binding_count; b++) {
            const wasp_binding_cfg_t *bd = &site->bindings[b];

            if (bd->port == l->port && (bd->ssl_flags & 4u) != 0 &&
                strcmp(bd->protocol, "https") == 0 &&
                (strcmp(l->ip, "*") == 0 || strcmp(l->ip, bd->ip) == 0)) {
                return true;
            }
        }
    }
    return false;
}

/* The whole routing configuration, every time: the listener builds it aside
 * and switches at CFG_END, so a request never sees half of it. */
void svc_push_config(void)
{
    svc_limits_reset(); /* the listener forgets its requestLimits at CFG_BEGIN */
    svc_send(WASP_MSG_CFG_BEGIN, NULL, -1);
    for (size_t i = 0; i < svc.listen_count; i++) {
        wasp_enc_t e = {0};

        wasp_enc_cstr(&e, svc.listens[i].ip);
        wasp_enc_u16(&e, svc.listens[i].port);
        wasp_enc_u8(&e, (svc.listens[i].tls ? WASP_LISTEN_TLS : 0u) |
                            (svc_listen_no_h2(&svc.listens[i]) ? WASP_LISTEN_NO_H2 : 0u));
        svc_send(WASP_MSG_CFG_LISTEN, &e, svc.listens[i].fd);
    }
    svc_push_tls();
    for (size_t i = 0; i < svc.pool_count; i++) {
        if (svc.pools[i]->cfg != NULL) {
            svc_push_pool(svc.pools[i]);
        }
    }
    for (size_t s = 0; s < wasp_config_site_count(svc.cfg); s++) {
        const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);
        wasp_enc_t e = {0};

        wasp_enc_u32(&e, site->id);
        wasp_enc_cstr(&e, site->name);
        wasp_enc_u32(&e, svc_site_started(s) ? 1 : 0);
        wasp_enc_u32(&e, site->connection_timeout_s * 1000u);
        wasp_enc_u32(&e, site->max_connections);
        wasp_enc_u32(&e, site->max_bandwidth);
        svc_send(WASP_MSG_CFG_SITE, &e, -1);
        for (size_t b = 0; b < site->binding_count; b++) {
            const wasp_binding_cfg_t *bd = &site->bindings[b];

            if (strcmp(bd->protocol, "http") != 0 && strcmp(bd->protocol, "https") != 0) {
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
        svc_send_pool_state(svc.pools[i]);
    }
    {
        wasp_httpsys_cfg_t hs;
        wasp_weblimits_cfg_t wl;
        wasp_diag_t diag;
        wasp_enc_t e = {0};

        if (wasp_config_httpsys(svc.cfg, &hs, &diag) == 0 && /* both checked at load */
            wasp_config_weblimits(svc.cfg, &wl, &diag) == 0) {
            wasp_enc_u32(&e, hs.max_field_length);
            wasp_enc_u32(&e, hs.max_request_bytes);
            wasp_enc_u32(&e, hs.url_segment_max_length);
            wasp_enc_u32(&e, hs.url_segment_max_count);
            wasp_enc_u8(&e, hs.allow_restricted_chars);
            wasp_enc_u8(&e, hs.percent_u_allowed);
            wasp_enc_u32(&e, hs.max_connections);
            wasp_enc_u32(&e, wl.connection_timeout_s);
            wasp_enc_u32(&e, wl.header_wait_timeout_s);
            wasp_enc_u32(&e, wl.min_bytes_per_second);
            wasp_enc_u32(&e, wl.max_global_bandwidth);
            wasp_enc_u8(&e, hs.enable_non_utf8);
            wasp_enc_u8(&e, hs.favor_utf8);
            wasp_enc_u8(&e, hs.enable_http2_tls);
            wasp_enc_u8(&e, hs.enable_http2_cleartext);
            wasp_enc_u32(&e, hs.http2_max_streams);
            wasp_enc_u32(&e, hs.http2_settings_per_frame);
            wasp_enc_u32(&e, hs.http2_settings_per_minute);
            wasp_enc_u32(&e, hs.http2_resets_per_10s);
            wasp_enc_u8(&e, hs.uri_enable_cache);
            wasp_enc_u32(&e, hs.uri_max_uri_bytes);
            wasp_enc_u32(&e, hs.uri_scavenger_period_s);
            svc_send(WASP_MSG_CFG_LIMITS, &e, -1);
        }
    }
    {
        const wasp_section_t *adm = wasp_config_section(svc.cfg, NULL, "/", "wasp/admin");
        const char *allowed = adm != NULL ? wasp_section_attr(adm, "allowedAddresses") : NULL;
        wasp_enc_t e = {0};

        wasp_enc_cstr(&e, svc.admin_binding);
        wasp_enc_cstr(&e, allowed != NULL ? allowed : "127.0.0.1,::1");
        svc_send(WASP_MSG_CFG_METRICS, &e, svc.admin_fd > 0 ? svc.admin_fd : -1);
    }
    svc_push_logs();
    svc_send(WASP_MSG_CFG_END, NULL, -1);
    svc_dynamic_idle_check();
    svc_dynamic_idle_push();
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
        char *argv[] = {"wasp-http", "--control-fd", "3", "--temp-dir", svc.temp_dir, NULL};
        char *envp[8];
        sigset_t all;

        svc_child_env(envp, 8, NULL);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        setpgid(0, 0);
        if (dup2(sv[1], 3) != 3) {
            _exit(127);
        }
        if (wasp_identity_become(&svc.listener_id) != 0) {
            wasp_error("cannot start the listener (dropping privileges): %s", strerror(errno));
            _exit(127);
        }
        fexecve(exe, argv, envp);
        wasp_error("cannot start the listener (%s): %s", svc.http_bin, strerror(errno));
        _exit(127);
    }
    close(sv[1]);
    close(exe);
    svc.listener_pid = pid;
    svc.listener_started_ms = wasp_now_ms();
    svc.listener_gone = false;
    svc.control = wasp_channel_new(svc.loop, sv[0], svc_control_on_msg, svc_control_on_close,
                                   NULL);
    wasp_info("started listener pid %d as user %s (uid %d)", (int)pid, svc.listener_id.user,
              (int)svc.listener_id.uid);
    svc_push_config();
}

static void svc_listener_restart_tick(wasp_loop_t *loop, void *data)
{
    if (svc.stopping == 0 && svc.listener_gone) {
        svc_spawn_listener();
    }
}

static void svc_reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid <= 0) {
            return;
        }
        if (pid == svc.listener_pid) {
            char how[128];

            if (WIFSIGNALED(status)) {
                snprintf(how, sizeof(how), "on signal %d (%s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
            } else {
                snprintf(how, sizeof(how), "with status %d", WEXITSTATUS(status));
            }
            svc.listener_gone = true;
            svc.listener_pid = 0;
            if (svc.control != NULL) {
                wasp_channel_free(svc.control);
                svc.control = NULL;
            }
            if (svc.stopping) {
                wasp_info("listener exited %s", how);
            } else {
                /* Restart at once, but not in a tight loop if it keeps dying
                 * at start: at most once every 200 ms. */
                uint64_t age = wasp_now_ms() - svc.listener_started_ms;

                svc_event(SVC_EV_LISTENER_RESTART, EV_ERROR, NULL, pid,
                          "The listener (wasp-http, pid %d) exited %s; restarting it. Its "
                          "connections are lost; workers reconnect to the new one.",
                          (int)pid, how);
                wasp_loop_timer(svc.loop, age < 200 ? 200 - age : 0, svc_listener_restart_tick,
                                NULL);
            }
            continue;
        }
        svc_worker_reaped(pid, status); /* false: e.g. useradd or a helper program */
    }
}

static void svc_kill_all(int sig)
{
    if (svc.listener_pid > 0) {
        kill(svc.listener_pid, sig);
    }
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->state == WP_SUSPENDED) {
            kill(w->pid, SIGCONT);
        }
        kill(w->pid, sig);
    }
}

static void svc_shutdown_timeout(wasp_loop_t *loop, void *data)
{
    wasp_warn("shutdownTimeLimit (%u s) reached; killing what is left", svc.shutdown_limit_s);
    svc_kill_all(SIGKILL);
}

void svc_check_done(void)
{
    if (svc.stopping == 0) {
        return;
    }
    if (svc.listener_gone) {
        if (svc.workers != NULL) {
            for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
                if (w->state == WP_SUSPENDED) {
                    kill(w->pid, SIGCONT);
                }
                kill(w->pid, SIGTERM);
            }
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
    if (signo == SIGUSR1) {
        /* logrotate: the listener opens its log files again, waspd its
         * event log. */
        svc_event_reopen(svc.event_log_path);
        if (svc.listener_pid > 0 && !svc.listener_gone) {
            kill(svc.listener_pid, SIGUSR1);
        }
        return;
    }
    if (signo == SIGHUP) {
        char summary[1024];

        if (svc_reload(summary, sizeof(summary)) == 0) {
            wasp_info("SIGHUP: %s", summary);
        }
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
        if (svc.admin_fd > 0) {
            close(svc.admin_fd);
            svc.admin_fd = 0;
        }
        svc_control_close();
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

/* Settings that mean something only on Windows are accepted (a file from
 * IIS loads unchanged) and said once, so nobody expects them to work. */
static void svc_pool_report_windows_only(const wasp_pool_cfg_t *c)
{
    char list[512] = "";
    size_t n = 0;

#define WINDOWS_ONLY(cond, text)                                                        \
    do {                                                                                \
        if (cond) {                                                                     \
            n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0,    \
                                  "%s%s", n ? ", " : "", text);                         \
        }                                                                               \
    } while (0)
    WINDOWS_ONLY(c->enable_32bit_app_on_win64, "enable32BitAppOnWin64");
    WINDOWS_ONLY(c->managed_runtime_loader != NULL &&
                     strcmp(c->managed_runtime_loader, "webengine4.dll") != 0,
                 "managedRuntimeLoader");
    WINDOWS_ONLY(c->clr_config_file != NULL && c->clr_config_file[0] != '\0', "CLRConfigFile");
    WINDOWS_ONLY(c->logon_type != NULL && strcmp(c->logon_type, "LogonBatch") != 0,
                 "processModel/@logonType");
    WINDOWS_ONLY(c->load_user_profile, "processModel/@loadUserProfile");
    WINDOWS_ONLY(!c->pass_anonymous_token, "passAnonymousToken");
    WINDOWS_ONLY(c->manual_group_membership, "processModel/@manualGroupMembership");
    WINDOWS_ONLY(c->request_queue_delegator_identity != NULL &&
                     c->request_queue_delegator_identity[0] != '\0',
                 "processModel/@requestQueueDelegatorIdentity");
    WINDOWS_ONLY(c->cpu_processor_group != 0, "cpu/@processorGroup");
    WINDOWS_ONLY(c->cpu_numa_node_assignment != NULL &&
                     strcmp(c->cpu_numa_node_assignment, "MostAvailableMemory") != 0,
                 "cpu/@numaNodeAssignment");
    WINDOWS_ONLY(c->cpu_numa_node_affinity_mode != NULL &&
                     strcmp(c->cpu_numa_node_affinity_mode, "Soft") != 0,
                 "cpu/@numaNodeAffinityMode");
#undef WINDOWS_ONLY
    if (n > 0) {
        wasp_info("%s:%d: pool '%s': %s %s Windows-only: accepted, without effect on Linux",
                  c->file ? c->file : "?", c->line, c->name, list,
                  strchr(list, ',') ? "are" : "is");
    }
    /* Windows' built-in service accounts have no Linux counterpart; the
     * nearest meaning is the pool's own identity (identity.c). */
    if (c->identity_type != NULL && (strcmp(c->identity_type, "NetworkService") == 0 ||
                                     strcmp(c->identity_type, "LocalService") == 0)) {
        wasp_info("%s:%d: pool '%s': processModel/@identityType=\"%s\" is a Windows account: "
                  "accepted, and run like ApplicationPoolIdentity (the pool's own user)",
                  c->file ? c->file : "?", c->line, c->name, c->identity_type);
    }
}

/* Create the runtime side of a pool: identity (as root: its own system
 * user), channel socket.  A pool stopped in the configuration
 * (autoStart="false") starts Stopped, answering 503 Disabled. */
static svc_pool_t *svc_pool_add(const wasp_pool_cfg_t *cfg)
{
    svc_pool_t *pool = calloc(1, sizeof(*pool)), **pp;
    char err[1024];

    pp = realloc(svc.pools, (svc.pool_count + 1) * sizeof(*pp));
    if (pool == NULL || pp == NULL) {
        free(pool);
        return NULL;
    }
    svc.pools = pp;
    svc_pool_init(pool);
    snprintf(pool->name, sizeof(pool->name), "%s", cfg->name);
    pool->cfg = cfg;
    svc_pool_report_windows_only(cfg);
    if (wasp_identity_for_pool(cfg, &pool->id, svc.allow_local_system, err, sizeof(err)) != 0) {
        wasp_error("%s", err);
        free(pool);
        return NULL;
    }
    if (svc_bind_pool(pool) != 0) {
        free(pool);
        return NULL;
    }
    if (!cfg->auto_start) {
        pool->stopped = true;
        snprintf(pool->stop_reason, sizeof(pool->stop_reason), "Disabled");
    }
    svc.pools[svc.pool_count++] = pool;
    svc_pool_write_config_copy(pool);
    svc_pool_schedule_arm(pool);
    svc_cpu_pool_apply(pool);
    svc_cpu_accounting_arm(pool);
    return pool;
}

static void svc_shutdown_limit_update(void)
{
    svc.shutdown_limit_s = 1;
    for (size_t i = 0; i < svc.pool_count; i++) {
        const wasp_pool_cfg_t *c = svc.pools[i]->cfg;

        if (c != NULL && c->shutdown_time_limit_s > svc.shutdown_limit_s) {
            svc.shutdown_limit_s = c->shutdown_time_limit_s;
        }
    }
}

static void svc_admin_apply(void);

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
    /* Only the listener writes request bodies here (and only it can read
     * the directory); workers get each file as a descriptor. */
    if (wasp_mkdir_p(svc.temp_dir, 0700) != 0 ||
        chown(svc.temp_dir, svc.listener_id.uid, svc.listener_id.gid) != 0 ||
        chmod(svc.temp_dir, 0700) != 0) {
        wasp_error("cannot prepare the temporary directory %s: %s (choose another with "
                   "--temp-dir DIR)", svc.temp_dir, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < wasp_config_pool_count(svc.cfg); i++) {
        if (svc_pool_add(wasp_config_pool(svc.cfg, i)) == NULL) {
            return -1;
        }
    }
    svc.site_stopped = calloc(wasp_config_site_count(svc.cfg) + 1, sizeof(bool));
    if (svc.site_stopped == NULL) {
        return -1;
    }
    svc_shutdown_limit_update();
    if (svc_bind_all() != 0) {
        return -1;
    }
    svc_admin_apply();
    return 0;
}

/* ---- live configuration -------------------------------------------------- */

/* The admin binding (wasp/admin@metricsBinding, "ip:port" or "[ipv6]:port"):
 * opened here like a site's port and pushed to the listener, which serves
 * /metrics on it.  Kept open across reloads while the value is the same. */
static void svc_admin_apply(void)
{
    const wasp_section_t *sec = wasp_config_section(svc.cfg, NULL, "/", "wasp/admin");
    const char *v = sec != NULL ? wasp_section_attr(sec, "metricsBinding") : NULL;
    char ip[128], err[512];
    const char *colon;
    unsigned long port;
    int fd;

    v = v != NULL ? v : "";
    if (svc.admin_fd > 0 && strcmp(v, svc.admin_binding) == 0) {
        return;
    }
    if (svc.admin_fd > 0) {
        close(svc.admin_fd);
        svc.admin_fd = 0;
    }
    snprintf(svc.admin_binding, sizeof(svc.admin_binding), "%s", v);
    if (*v == '\0') {
        return;
    }
    colon = strrchr(v, ':');
    port = colon != NULL ? strtoul(colon + 1, NULL, 10) : 0;
    if (colon == NULL || port == 0 || port > 65535 || (size_t)(colon - v) >= sizeof(ip)) {
        wasp_error("%s: <admin metricsBinding=\"%s\"> (wasp/admin) is not ip:port; write e.g. "
                   "metricsBinding=\"127.0.0.1:9180\"; /metrics is not served",
                   wasp_config_path(svc.cfg), v);
        return;
    }
    snprintf(ip, sizeof(ip), "%.*s", (int)(colon - v), v);
    if (ip[0] == '[' && ip[strlen(ip) - 1] == ']') {
        memmove(ip, ip + 1, strlen(ip));
        ip[strlen(ip) - 1] = '\0';
    }
    fd = svc_bind_tcp(ip, (uint16_t)port, err, sizeof(err));
    if (fd < 0) {
        wasp_error("%s: <admin metricsBinding=\"%s\"> (wasp/admin): %s; /metrics is not served",
                   wasp_config_path(svc.cfg), v, err);
        return;
    }
    svc.admin_fd = fd;
}

/* Listening sockets: keep the ones still bound by a started site, open new
 * ones, close the rest (the caller pushes the configuration next). */
void svc_apply_listens(void)
{
    for (size_t i = 0; i < svc.listen_count; i++) {
        svc.listens[i].keep = false;
    }
    if (svc_bind_all() != 0) {
        wasp_warn("some bindings of the configuration could not be opened (see above)");
    }
    svc_admin_apply();
    for (size_t i = 0; i < svc.listen_count;) {
        if (!svc.listens[i].keep) {
            close(svc.listens[i].fd);
            svc.listens[i] = svc.listens[--svc.listen_count];
        } else {
            i++;
        }
    }
}

/* Re-read applicationHost.config and apply the difference, as WAS does when
 * the file changes: new pools are created, deleted ones stopped, changed
 * ones recycled (unless disallowRotationOnConfigChange), listening sockets
 * opened and closed, and the listener gets the new routing in one piece.
 * A file that does not load changes nothing: the error is logged (event)
 * and the running configuration stays. */
int svc_reload(char *summary, size_t size)
{
    wasp_diag_t diag;
    char buf[2048];
    wasp_config_t *next = wasp_config_load_ex(svc.config_path, WASP_CONFIG_DECRYPT, &diag);
    wasp_config_t *old = svc.cfg;
    svc_pool_t **changed;
    size_t changed_count = 0, added = 0, removed = 0;
    bool *site_stopped;

    if (next == NULL) {
        wasp_diag_format(&diag, buf, sizeof(buf));
        svc_event(SVC_EV_CONFIG_RELOAD, EV_ERROR, NULL, 0,
                  "The configuration was not applied: %s. The running configuration stays.", buf);
        snprintf(summary, size, "not applied: %s", buf);
        return -1;
    }
    for (size_t i = 0; i < wasp_config_warning_count(next); i++) {
        wasp_warn("%s", wasp_diag_format(wasp_config_warning(next, i), buf, sizeof(buf)));
    }
    changed = calloc(svc.pool_count + 1, sizeof(*changed));
    site_stopped = calloc(wasp_config_site_count(next) + 1, sizeof(bool));
    if (changed == NULL || site_stopped == NULL) {
        free(changed);
        free(site_stopped);
        wasp_config_free(next);
        snprintf(summary, size, "out of memory");
        return -1;
    }
    /* Sites stopped by an administrator stay stopped (matched by name). */
    for (size_t s = 0; s < wasp_config_site_count(next); s++) {
        const wasp_site_cfg_t *ns = wasp_config_site(next, s);

        for (size_t o = 0; o < wasp_config_site_count(old); o++) {
            if (strcasecmp(wasp_config_site(old, o)->name, ns->name) == 0) {
                site_stopped[s] = svc.site_stopped[o];
            }
        }
    }
    /* Pools: match by name. */
    for (size_t i = 0; i < svc.pool_count; i++) {
        svc_pool_t *pool = svc.pools[i];
        const wasp_pool_cfg_t *nc = wasp_config_find_pool(next, pool->name);

        if (nc == NULL) {
            if (pool->cfg != NULL) {
                removed++;
                pool->cfg = NULL;
                svc_pool_stop(pool, "AppOffline");
            }
            continue;
        }
        if (pool->cfg == NULL || !wasp_pool_cfg_same(pool->cfg, nc)) {
            char err[1024];
            wasp_identity_t id;

            if (wasp_identity_for_pool(nc, &id, svc.allow_local_system, err, sizeof(err)) == 0 &&
                id.uid != pool->id.uid) {
                /* A new identity: the socket must let the new user in only. */
                pool->id = id;
                if (geteuid() == 0 && chown(pool->sock_path, id.uid, id.gid) != 0) {
                    wasp_error("pool '%s': cannot give %s to user %s: %s", pool->name,
                               pool->sock_path, id.user, strerror(errno));
                }
            }
            if (pool->cfg == NULL) {
                added++;
                pool->stopped = !nc->auto_start;
                snprintf(pool->stop_reason, sizeof(pool->stop_reason), "%s",
                         nc->auto_start ? "" : "Disabled");
            } else {
                changed[changed_count++] = pool;
            }
        }
        pool->cfg = nc;
    }
    svc.cfg = next;
    for (size_t i = 0; i < svc.pool_count; i++) {
        svc_pool_write_config_copy(svc.pools[i]); /* new pools write theirs below */
    }
    for (size_t i = 0; i < wasp_config_pool_count(next); i++) {
        const wasp_pool_cfg_t *nc = wasp_config_pool(next, i);

        if (svc_pool_find(nc->name) == NULL) {
            if (svc_pool_add(nc) != NULL) {
                added++;
            }
        }
    }
    free(svc.site_stopped);
    svc.site_stopped = site_stopped;
    svc_apply_listens();
    svc_shutdown_limit_update();
    svc_push_config();
    wasp_config_free(old);
    svc_watch_config();
    svc_workers_config_changed();
    for (size_t i = 0; i < changed_count; i++) {
        svc_pool_config_changed(changed[i]);
    }
    for (size_t i = 0; i < svc.pool_count; i++) {
        svc_pool_t *pool = svc.pools[i];

        if (pool->cfg != NULL && pool->cfg->start_mode == WASP_START_ALWAYS_RUNNING &&
            !pool->stopped) {
            svc_demand(pool);
        }
    }
    snprintf(summary, size, "configuration applied: %zu pool(s) added, %zu changed, %zu removed",
             added, changed_count, removed);
    svc_event(SVC_EV_CONFIG_RELOAD, EV_INFO, NULL, 0, "The configuration was read again: %s.",
              summary + strlen("configuration applied: "));
    free(changed);
    return 0;
}

/* IIS' configuration system notices a changed applicationHost.config by
 * itself; so does waspd, through inotify on the file's directory (editors
 * replace files by rename, which a watch on the file itself would miss), and
 * on the directories of its configSource files.  Changes are applied 300 ms
 * after the last event, so a burst of writes is read once. */
typedef struct svc_watched {
    int wd;
    char name[NAME_MAX + 1];
} svc_watched_t;

static int svc_inotify_fd = -1;
static wasp_ltimer_t *svc_reload_timer;
static svc_watched_t *svc_watched;
static size_t svc_watched_count;

static void svc_reload_fire(wasp_loop_t *loop, void *data)
{
    char summary[1024];

    svc_reload_timer = NULL;
    if (svc.stopping == 0 && svc_reload(summary, sizeof(summary)) == 0) {
        wasp_info("%s changed: %s", svc.config_path, summary);
    }
}

static bool svc_is_watched(int wd, const char *name)
{
    for (size_t i = 0; i < svc_watched_count; i++) {
        if (svc_watched[i].wd == wd && strcmp(svc_watched[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static void svc_on_inotify(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool ours = false;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;

            if (ev->len > 0 && svc_is_watched(ev->wd, ev->name)) {
                ours = true;
            }
            p += sizeof(*ev) + ev->len;
        }
    }
    if (ours) {
        if (svc_reload_timer != NULL) {
            wasp_loop_timer_cancel(loop, svc_reload_timer);
        }
        svc_reload_timer = wasp_loop_timer(loop, 300, svc_reload_fire, NULL);
    }
}

/* Watch the directory entry of path (once). */
static void svc_watch_file(const char *path)
{
    char dir[PATH_MAX];
    char *slash;
    svc_watched_t *grown;
    int wd;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        return;
    }
    *slash = '\0';
    wd = inotify_add_watch(svc_inotify_fd, dir[0] ? dir : "/",
                           IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
    if (wd < 0) {
        wasp_warn("cannot watch %s for changes (%s); apply changes with waspctl or SIGHUP", path,
                  strerror(errno));
        return;
    }
    if (svc_is_watched(wd, slash + 1)) {
        return;
    }
    grown = realloc(svc_watched, (svc_watched_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        return;
    }
    svc_watched = grown;
    svc_watched[svc_watched_count].wd = wd;
    snprintf(svc_watched[svc_watched_count].name, sizeof(grown->name), "%s", slash + 1);
    svc_watched_count++;
}

/* The files of the running configuration: applicationHost.config and its
 * configSource files (a file no longer used keeps its watch, which costs a
 * needless reload at most). */
void svc_watch_config(void)
{
    if (svc_inotify_fd < 0) {
        svc_inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (svc_inotify_fd < 0 ||
            wasp_loop_add(svc.loop, svc_inotify_fd, EPOLLIN, svc_on_inotify, NULL) != 0) {
            wasp_warn("cannot watch %s for changes (%s); apply changes with waspctl or SIGHUP",
                      svc.config_path, strerror(errno));
            return;
        }
    }
    svc_watch_file(svc.config_path);
    for (size_t i = 0; i < wasp_config_source_count(svc.cfg); i++) {
        svc_watch_file(wasp_config_source(svc.cfg, i));
    }
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

            if (pool == NULL || pool->cfg == NULL) {
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
        if (svc.pools[i]->sock_fd >= 0) {
            close(svc.pools[i]->sock_fd);
            unlink(svc.pools[i]->sock_path);
        }
        if (svc.pools[i]->config_copy[0] != '\0') {
            unlink(svc.pools[i]->config_copy);
        }
    }
    svc_control_close();
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
    fprintf(stderr,
            "usage: waspd --config FILE [--runtime-dir DIR] [--event-log FILE] [--temp-dir DIR]\n"
            "             [--config-key FILE] [--cert-store DIR] [--allow-localsystem]\n"
            "  Runs in the foreground and logs to stderr.\n"
            "  --config FILE         applicationHost.config to serve\n"
            "  --config-key FILE     the key of encrypted values (WaspAesProvider); default\n"
            "                        $WASP_CONFIG_KEY, else " WASP_PROTECT_KEY_DEFAULT "\n"
            "  --runtime-dir DIR     sockets and pid files (default /run/wasp)\n"
            "  --event-log FILE      the event log (default /var/log/wasp/events.log with the\n"
            "                        default runtime directory, else DIR/events.log)\n"
            "  --temp-dir DIR        request bodies over 64 KiB while they wait for a worker\n"
            "                        (default /var/tmp/wasp with the default runtime\n"
            "                        directory, else DIR/temp; files there have no name)\n"
            "  --cert-store DIR      certificate stores and SSL certificate bindings (default\n"
            "                        $WASP_CERT_STORE, else /etc/wasp/certs)\n"
            "  --check               validate the configuration and every web.config of\n"
            "                        every site, print one line per file, and exit\n"
            "  --allow-localsystem   let pools with identityType=\"LocalSystem\" run as root\n"
            "  SIGHUP reads the configuration again; SIGUSR1 opens the log files again\n"
            "  (after logrotate moved them).\n");
}

int main(int argc, char **argv)
{
    static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    const char *config = NULL;
    bool check = false;
    wasp_diag_t diag;
    char buf[2048], redirected[PATH_MAX];
    int redirect;

    wasp_log_init("waspd");
    snprintf(svc.runtime_dir, sizeof(svc.runtime_dir), "/run/wasp");
    snprintf(svc.cert_store, sizeof(svc.cert_store), "%s", wasp_cert_store_root(NULL));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--runtime-dir") == 0 && i + 1 < argc) {
            snprintf(svc.runtime_dir, sizeof(svc.runtime_dir), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--temp-dir") == 0 && i + 1 < argc) {
            snprintf(svc.temp_dir, sizeof(svc.temp_dir), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--event-log") == 0 && i + 1 < argc) {
            snprintf(svc.event_log_path, sizeof(svc.event_log_path), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--config-key") == 0 && i + 1 < argc) {
            wasp_protect_set_key_file(argv[++i]);
        } else if (strcmp(argv[i], "--cert-store") == 0 && i + 1 < argc) {
            snprintf(svc.cert_store, sizeof(svc.cert_store), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--allow-localsystem") == 0) {
            svc.allow_local_system = true;
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
    /* Shared configuration: everything below (the check, the loads, the
     * watch, the workers, waspctl through us) uses the redirected file. */
    redirect = wasp_config_redirect(config, redirected, sizeof(redirected), &diag);
    if (redirect < 0) {
        wasp_diag_format(&diag, buf, sizeof(buf));
        if (check) {
            printf("%s\n", buf);
        } else {
            wasp_error("%s", buf);
        }
        return 1;
    }
    if (redirect == 1) {
        if (check) {
            printf("ok  %s: redirected by redirection.config to %s\n", config, redirected);
        } else {
            wasp_info("%s: redirected by redirection.config to %s", config, redirected);
        }
        config = redirected;
    }
    if (check) {
        return wasp_config_check(config, stdout); /* no sockets, no processes */
    }
    if (realpath(config, svc.config_path) == NULL) {
        wasp_error("%s: %s", config, strerror(errno));
        return 1;
    }
    if (svc.event_log_path[0] == '\0') {
        if (strcmp(svc.runtime_dir, "/run/wasp") == 0) {
            snprintf(svc.event_log_path, sizeof(svc.event_log_path), "/var/log/wasp/events.log");
        } else {
            snprintf(svc.event_log_path, sizeof(svc.event_log_path), "%s/events.log",
                     svc.runtime_dir);
        }
    }
    if (svc.temp_dir[0] == '\0') {
        /* Disk, not /run's tmpfs: a big upload must not live in RAM. */
        if (strcmp(svc.runtime_dir, "/run/wasp") == 0) {
            snprintf(svc.temp_dir, sizeof(svc.temp_dir), "/var/tmp/wasp");
        } else {
            snprintf(svc.temp_dir, sizeof(svc.temp_dir), "%s/temp", svc.runtime_dir);
        }
    }
    signal(SIGPIPE, SIG_IGN);
    svc_raise_fd_limit();
    svc.cfg = wasp_config_load_ex(svc.config_path, WASP_CONFIG_DECRYPT, &diag);
    if (svc.cfg == NULL) {
        wasp_error("%s", wasp_diag_format(&diag, buf, sizeof(buf)));
        return 1;
    }
    for (size_t i = 0; i < wasp_config_warning_count(svc.cfg); i++) {
        wasp_warn("%s", wasp_diag_format(wasp_config_warning(svc.cfg, i), buf, sizeof(buf)));
    }
    svc.loop = wasp_loop_new();
    if (svc.loop == NULL || svc_find_binaries() != 0 ||
        wasp_loop_signals(svc.loop, sigs, 5, svc_on_signal, NULL) != 0) {
        return 1;
    }
    if (svc_prepare() != 0) {
        svc_cleanup();
        return 1;
    }
    svc_event_open(svc.event_log_path);
    svc_sslcert_load();
    if (svc_control_open() != 0) {
        svc_cleanup();
        return 1;
    }
    svc_watch_config();
    svc_sslcert_watch();
    svc_memory_watch_start();
    svc_check_content_access();
    svc_spawn_listener();
    for (size_t i = 0; i < svc.pool_count; i++) {
        if (svc.pools[i]->cfg->start_mode == WASP_START_ALWAYS_RUNNING &&
            !svc.pools[i]->stopped) {
            svc_demand(svc.pools[i]);
        }
    }
    wasp_info("serving %s (runtime files in %s)", svc.config_path, svc.runtime_dir);
    wasp_loop_run(svc.loop);
    svc_cleanup();
    wasp_info("stopped");
    return svc.exit_code;
}
