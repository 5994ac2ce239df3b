/*
 * waspd's internal types, shared by its files:
 *   waspd.c    start-up, sockets, the listener, configuration push and reload
 *   pools.c    the process manager (WAS): workers, recycling, health,
 *              rapid-fail protection, idle shutdown
 *   control.c  the control socket that waspctl talks to (common/ctl_proto.h)
 *   eventlog.c the event log (IIS' WAS event ids) to a file and journald
 *   sslcert.c  HTTP.sys' SSL configuration (sslbindings.conf) held for the listener
 *   dynidle.c  webLimits/@dynamicIdleThreshold: shorter idle time-outs when memory is short
 *   req_limits.c requestLimits for any URL, asked by the listener (web.config included)
 */
#ifndef WASP_SVC_H
#define WASP_SVC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/channel.h"
#include "common/loop.h"
#include "config/config.h"
#include "service/identity.h"
#include "tls/sslstore.h"

typedef enum svc_wp_state {
    WP_STARTING,  /* forked, not yet connected to the listener */
    WP_RUNNING,   /* connected: takes requests */
    WP_SUSPENDED, /* idleTimeoutAction="Suspend": SIGSTOPped until a request comes */
    WP_STOPPING,  /* told to stop (SIGTERM): finishes what it holds, then exits */
    WP_ORPHANED   /* failure/@orphanWorkerProcess: left alone after failing a ping */
} svc_wp_state_t;

typedef struct svc_pool svc_pool_t;

typedef struct svc_worker {
    struct svc_worker *next; /* every worker of every pool */
    svc_pool_t *pool;
    pid_t pid;
    svc_wp_state_t state;
    bool retiring;           /* recycled: stops once a replacement is running */
    uint32_t stop_reason;    /* WASP_RECYCLE_* that retired it, 0 otherwise */
    bool ping_killed;        /* killed for failing a ping: a failure, already logged */
    bool startup_killed;     /* killed by startupTimeLimit: a failure, already logged */
    uint64_t started_ms;
    wasp_ltimer_t *limit_timer;   /* startupTimeLimit, then shutdownTimeLimit */
    wasp_ltimer_t *restart_timer; /* recycling/periodicRestart/@time */
    uint64_t cpu_ms_mark;    /* CPU time at the start of the cpu accounting window */
} svc_worker_t;

struct svc_pool {
    char name[256];
    const wasp_pool_cfg_t *cfg; /* in svc.cfg; NULL once the pool is deleted */
    wasp_identity_t id;
    char sock_path[PATH_MAX];
    int sock_fd;
    char config_copy[PATH_MAX]; /* what its workers read: only this pool's configuration */
    bool config_copy_ok;
    bool stopped;            /* by rapid-fail protection or an administrator */
    char stop_reason[32];    /* HTTPERR reason the listener answers with */
    bool demand_pending;     /* requests wait for a worker */
    bool respawn_after_stop; /* non-overlapped recycle: start anew once the old ones exit */
    uint64_t last_start_ms;
    bool died_young;         /* the last worker exited within a second of its start */
    uint64_t *failures;      /* times of recent failures, oldest first */
    size_t failure_count, failure_cap;
    wasp_ltimer_t *spawn_timer;
    wasp_ltimer_t *schedule_timer;
    wasp_ltimer_t *cpu_timer;   /* cpu/@resetInterval accounting */
    bool cgroup_ready;          /* workers join the pool's cgroup v2 (cpu Throttle) */
    uint64_t affinity_warned;   /* cpu mask last said to name no online CPU, 0 = none */
};

typedef struct svc_listen {
    char ip[64];
    uint16_t port;
    int fd;
    bool tls;  /* an https binding's port */
    bool keep; /* still wanted by the configuration being applied */
} svc_listen_t;

typedef struct svc_state {
    wasp_loop_t *loop;
    wasp_config_t *cfg;
    char config_path[PATH_MAX];
    char runtime_dir[PATH_MAX];
    char temp_dir[PATH_MAX];     /* --temp-dir: the listener's request-body files */
    char event_log_path[PATH_MAX];
    char http_bin[PATH_MAX];
    char worker_bin[PATH_MAX];
    svc_pool_t **pools;
    size_t pool_count;
    svc_listen_t *listens;
    size_t listen_count;
    int admin_fd;            /* wasp/admin@metricsBinding's socket, 0 = none (see svc_admin_apply) */
    char admin_binding[128]; /* its "ip:port" */
    bool *site_stopped;      /* runtime state by site index of cfg (start/stop site) */
    wasp_identity_t listener_id;
    wasp_channel_t *control;
    pid_t listener_pid;
    uint64_t listener_started_ms;
    svc_worker_t *workers;
    int stopping;            /* 0 running, 1 draining, 2 immediate */
    bool listener_gone;
    uint32_t shutdown_limit_s;
    int exit_code;
    bool runtime_busy;       /* another waspd owns the runtime directory */
    bool allow_local_system; /* --allow-localsystem: identityType LocalSystem runs as root */
    char cert_store[PATH_MAX];         /* --cert-store, $WASP_CERT_STORE or /etc/wasp/certs */
    wasp_ssl_bindings_t ssl_bindings;  /* its sslbindings.conf, as last read */
} svc_state_t;

extern svc_state_t svc;

/* waspd.c */
void svc_send(uint16_t type, wasp_enc_t *e, int fd);

/* dynidle.c: webLimits/@dynamicIdleThreshold */
uint32_t svc_idle_divisor(uint64_t committed_kb, uint64_t total_kb, uint32_t threshold);
/* Once a second: recompute, tell the listener if it changed. */
void svc_dynamic_idle_check(void);
/* With every configuration push (a restarted listener must learn it). */
void svc_dynamic_idle_push(void);
void svc_send_pool_state(const svc_pool_t *pool);
void svc_push_config(void);
/* logs.c: the CFG_LOG frames of the push, after making the log directories. */
void svc_push_logs(void);
void svc_apply_listens(void);
/* Watch applicationHost.config and its configSource files (again after a
 * reload: the set may have changed). */
void svc_watch_config(void);
/* Read applicationHost.config again and apply what changed.  Returns 0, or
 * -1 with the reason in err (the running configuration stays). */
int svc_reload(char *summary, size_t size);
void svc_child_env(char **envp, size_t max, const svc_pool_t *pool);
void svc_check_done(void);
svc_pool_t *svc_pool_find(const char *name);
bool svc_site_started(size_t site_index);

/* pools.c */
void svc_pool_init(svc_pool_t *pool);
/* Write the pool's copy of the configuration (wasp_config_write_pool_copy). */
void svc_pool_write_config_copy(svc_pool_t *pool);
void svc_demand(svc_pool_t *pool);
void svc_resume(svc_pool_t *pool);
/* Recycle every worker of the pool (reason WASP_RECYCLE_*). */
void svc_pool_recycle(svc_pool_t *pool, uint32_t reason);
/* Stop (administrator: "Disabled") or start a pool. */
void svc_pool_stop(svc_pool_t *pool, const char *reason);
void svc_pool_start(svc_pool_t *pool);
/* applicationHost.config changed and the pools' copies were written again:
 * tell every worker (SIGHUP) to read its copy again. */
void svc_workers_config_changed(void);
void svc_pool_config_changed(svc_pool_t *pool);
void svc_pool_schedule_arm(svc_pool_t *pool);
void svc_worker_ready(pid_t pid, const char *pool);
void svc_worker_hung(pid_t pid, const char *pool);
void svc_worker_recycle_request(pid_t pid, const char *pool, uint32_t reason);
void svc_pool_idle(const char *pool);
/* SIGCHLD: a worker exited.  false when pid is not a worker. */
bool svc_worker_reaped(pid_t pid, int status);
size_t svc_pool_workers(const svc_pool_t *pool, bool include_stopping);
const char *svc_wp_state_name(svc_wp_state_t s);
const char *svc_pool_state_name(const svc_pool_t *pool);
void svc_memory_watch_start(void);
/* Stop every running worker of a started pool (they come back on demand). */
void svc_pool_shutdown_workers(svc_pool_t *pool);

/* cpu.c */
void svc_cpu_pool_apply(svc_pool_t *pool);
void svc_cpu_child_join(const svc_pool_t *pool);
void svc_cpu_accounting_arm(svc_pool_t *pool);

/* control.c */
int svc_control_open(void);
void svc_control_close(void);
/* A worker exited or became ready: waiting commands may be done. */
void svc_control_worker_event(const svc_worker_t *w, const char *what);
void svc_control_requests_answer(const char *payload, size_t len);
void svc_control_counters_answer(const char *payload, size_t len);

/* sslcert.c */
/* Read <cert store>/sslbindings.conf at start-up (a broken file is logged
 * and leaves no entries: plain http sites still start). */
void svc_sslcert_load(void);
/* waspctl changed the file under root: read it again.  Returns the control
 * exit status (0, or 1 with the reason in msg; the entries held stay). */
int svc_sslcert_changed(const char *root, char *msg, size_t size);
/* Inside a configuration push: every certificate the bindings name (and the
 * Central Certificate Store's files) with its key, and the bindings. */
void svc_push_tls(void);
/* inotify on the store: a replaced certificate or an edited binding file is
 * pushed to the listener by itself. */
void svc_sslcert_watch(void);

/* req_limits.c: the listener's LIMITS_QUERY.  svc_limits_reset() starts
 * over from svc.cfg (every configuration push). */
void svc_limits_reset(void);
void svc_limits_query(const char *payload, size_t len);

/* eventlog.c */
/* Events IIS does not write to its log but wasp does (the issue of record:
 * every worker start and exit).  IIS' own ids are used everywhere else. */
#define SVC_EV_WORKER_STARTED 9001
#define SVC_EV_WORKER_EXITED 9002
#define SVC_EV_POOL_STARTED 9003
#define SVC_EV_POOL_STOPPED 9004
#define SVC_EV_LISTENER_RESTART 9005
#define SVC_EV_CONFIG_RELOAD 9006
#define SVC_EV_CPU_LIMIT 9007
typedef enum svc_event_level { EV_INFO, EV_WARNING, EV_ERROR } svc_event_level_t;
void svc_event_open(const char *path);
/* SIGUSR1: open the event log again by name (logrotate moved it). */
void svc_event_reopen(const char *path);
void svc_event(int id, svc_event_level_t level, const char *pool, pid_t pid, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

#endif
