/*
 * The process manager: what WAS does for each application pool.
 *
 * A pool has a target number of workers (processModel/@maxProcesses: a web
 * garden above 1, one per CPU at 0).  A worker is STARTING until the
 * listener says it connected (WORKER_READY), RUNNING while it takes
 * requests, STOPPING once told to stop (SIGTERM: it tells the listener to
 * send it nothing new, finishes what it holds and exits), and is killed if
 * it outlives startupTimeLimit or shutdownTimeLimit.
 *
 * Recycling replaces workers without losing a request.  Overlapped (the
 * default): the old worker is only marked retiring; a replacement is
 * started, and the old one is told to stop once the replacement is running,
 * so there is always a worker taking requests.  With
 * disallowOverlappingRotation the old worker stops first and the requests
 * that arrive meanwhile wait in the listener's queue (bounded by
 * queueLength); the replacement starts when the old one is gone.  Either way
 * nothing is lost: requests a worker was given but had not started go back
 * to the queue if it dies (listener.c).
 *
 * Failures (a crash, a failed ping, a start that timed out) are counted per
 * pool; rapidFailProtectionMaxCrashes of them within
 * rapidFailProtectionInterval stop the pool (event 5002) and the listener
 * answers 503 AppOffline until an administrator starts it again.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "service/svc.h"

/* How often worker memory is compared with periodicRestart memory limits. */
#define SVC_MEMORY_CHECK_MS 1000

static void worker_stop(svc_worker_t *w);

const char *svc_wp_state_name(svc_wp_state_t s)
{
    static const char *const names[] = {"Starting", "Running", "Suspended", "Stopping",
                                        "Orphaned"};
    return names[s];
}

const char *svc_pool_state_name(const svc_pool_t *pool)
{
    if (pool->stopped) {
        for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
            if (w->pool == pool && w->state == WP_STOPPING) {
                return "Stopping";
            }
        }
        return "Stopped";
    }
    return "Started";
}

void svc_pool_init(svc_pool_t *pool)
{
    pool->sock_fd = -1;
}

/* WAS gives each pool's workers a copy of the configuration with only what
 * concerns them (iis-hosting.md 1.9, "config isolation"): other pools'
 * settings (identities, environment variables: often secrets) and other
 * pools' applications are blanked out, and the file is readable by the
 * pool's user alone.  Written at start and after every change. */
void svc_pool_write_config_copy(svc_pool_t *pool)
{
    char safe[128], err[1024];

    if (pool->cfg == NULL) {
        return;
    }
    wasp_safe_name(pool->name, safe, sizeof(safe));
    snprintf(pool->config_copy, sizeof(pool->config_copy), "%s/pools/%s.config",
             svc.runtime_dir, safe);
    pool->config_copy_ok = wasp_config_write_pool_copy(svc.cfg, pool->name, pool->config_copy,
                                                       pool->id.uid, pool->id.gid, err,
                                                       sizeof(err)) == 0;
    if (!pool->config_copy_ok) {
        wasp_warn("pool '%s': %s; its workers read %s itself, so other pools' settings are as "
                  "private as that file's permissions make them", pool->name, err,
                  svc.config_path);
    }
}

/* Workers that count toward the pool's size: not retiring, not leaving. */
static int pool_active(const svc_pool_t *pool)
{
    int n = 0;

    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && !w->retiring &&
            (w->state == WP_STARTING || w->state == WP_RUNNING || w->state == WP_SUSPENDED)) {
            n++;
        }
    }
    return n;
}

size_t svc_pool_workers(const svc_pool_t *pool, bool include_stopping)
{
    size_t n = 0;

    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && (include_stopping || w->state != WP_STOPPING)) {
            n++;
        }
    }
    return n;
}

static svc_worker_t *worker_find(pid_t pid, const char *pool)
{
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        /* Only a worker of that pool that is our own child: the listener
         * cannot make us signal anything else. */
        if (w->pid == pid && (pool == NULL || strcmp(w->pool->name, pool) == 0)) {
            return w;
        }
    }
    return NULL;
}

/* How many workers the pool runs once started: processModel/@maxProcesses
 * (0 means one per CPU, as on IIS 10 with one NUMA node). */
/* NUMA nodes of the machine (/sys/devices/system/node/nodeN); 1 when the
 * kernel shows none. */
static int numa_nodes(void)
{
    DIR *d = opendir("/sys/devices/system/node");
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' && e->d_name[4] <= '9') {
            n++;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n > 0 ? n : 1;
}

/* processModel/@maxProcesses; 0 is one worker per NUMA node (IIS 8.0+). */
static int garden_size(const svc_pool_t *pool)
{
    long n = pool->cfg ? pool->cfg->max_processes : 1;

    if (n == 0) {
        return numa_nodes();
    }
    return n < 1 ? 1 : (int)n;
}

/* ---- starting ------------------------------------------------------------ */

static void startup_timeout(wasp_loop_t *loop, void *data)
{
    svc_worker_t *w = data;

    w->limit_timer = NULL;
    if (w->state != WP_STARTING) {
        return;
    }
    w->startup_killed = true;
    svc_event(5012, EV_ERROR, w->pool->name, w->pid,
              "A process serving application pool '%s' exceeded time limits during start up. "
              "The process id was '%d'. (startupTimeLimit is %u s; the worker is killed and the "
              "failure counts toward rapid-fail protection.)",
              w->pool->name, (int)w->pid, w->pool->cfg ? w->pool->cfg->startup_time_limit_s : 0);
    kill(w->pid, SIGKILL);
}

/* The online CPUs (/sys/devices/system/cpu/online, e.g. "0-3,6"), and that
 * list as text for messages; the first _SC_NPROCESSORS_ONLN CPUs when the
 * file cannot be read.  Only CPUs 0-63 matter: the mask has 64 bits. */
static void online_cpus(cpu_set_t *set, char *text, size_t size)
{
    FILE *f = fopen("/sys/devices/system/cpu/online", "re");
    char *p = text;

    CPU_ZERO(set);
    text[0] = '\0';
    if (f != NULL) {
        if (fgets(text, (int)size, f) == NULL) {
            text[0] = '\0';
        }
        fclose(f);
    }
    text[strcspn(text, "\n")] = '\0';
    while (*p >= '0' && *p <= '9') {
        char *end;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;

        if (*end == '-') {
            hi = strtoul(end + 1, &end, 10);
        }
        for (unsigned long i = lo; i <= hi && i < 64; i++) {
            CPU_SET((int)i, set);
        }
        p = end + (*end == ',');
    }
    if (CPU_COUNT(set) == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        for (long i = 0; i < n && i < 64; i++) {
            CPU_SET((int)i, set);
        }
        snprintf(text, size, "0-%ld", n - 1);
    }
}

/* The CPUs a pinned pool's workers run on (cpu/@smpAffinitized): those of
 * the mask that are online; the mask's other bits are ignored, as on
 * Windows.  False when the workers are not pinned: not configured, or the
 * mask names no online CPU, which is said once per mask (a zero mask is
 * refused when the configuration is loaded). */
static bool pool_affinity(svc_pool_t *pool, cpu_set_t *set)
{
    const wasp_pool_cfg_t *cfg = pool->cfg;
    cpu_set_t online;
    char list[256];

    if (cfg == NULL || !cfg->cpu_smp_affinitized) {
        return false;
    }
    online_cpus(&online, list, sizeof(list));
    CPU_ZERO(set);
    for (int i = 0; i < 64; i++) {
        if ((cfg->cpu_smp_mask >> i & 1u) && CPU_ISSET(i, &online)) {
            CPU_SET(i, set);
        }
    }
    if (CPU_COUNT(set) > 0) {
        return true;
    }
    if (pool->affinity_warned != cfg->cpu_smp_mask) {
        pool->affinity_warned = cfg->cpu_smp_mask;
        wasp_warn("%s:%d: pool '%s': cpu/@smpAffinitized is true, but "
                  "smpProcessorAffinityMask=\"%u\" and smpProcessorAffinityMask2=\"%u\" name "
                  "no online CPU of this machine (online: %s): its workers run unpinned. "
                  "Set the bits of CPUs it has, or set smpAffinitized=\"false\"",
                  cfg->file ? cfg->file : "?", cfg->line, pool->name,
                  (unsigned)(cfg->cpu_smp_mask & 0xFFFFFFFFu),
                  (unsigned)(cfg->cpu_smp_mask >> 32), list);
    }
    return false;
}

static svc_worker_t *worker_spawn(svc_pool_t *pool)
{
    pid_t pid;
    char *argv[] = {"wasp-worker", "--pool", pool->name, "--config",
                    pool->config_copy_ok ? pool->config_copy : svc.config_path,
                    "--config-name", svc.config_path, "--channel", pool->sock_path, NULL};
    char *envp[256];
    int exe = open(svc.worker_bin, O_RDONLY | O_CLOEXEC);
    svc_worker_t *w;
    cpu_set_t cpus;
    bool pinned;

    if (exe < 0) {
        wasp_error("cannot open the worker binary %s: %s", svc.worker_bin, strerror(errno));
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        close(exe);
        return NULL;
    }
    svc_child_env(envp, sizeof(envp) / sizeof(envp[0]), pool);
    pinned = pool_affinity(pool, &cpus);
    pool->last_start_ms = wasp_now_ms();
    pid = fork();
    if (pid < 0) {
        close(exe);
        free(w);
        wasp_error("pool '%s': fork: %s", pool->name, strerror(errno));
        return NULL;
    }
    if (pid == 0) {
        sigset_t all;

        sigemptyset(&all);
        sigaddset(&all, SIGHUP); /* until the worker's loop takes it */
        sigprocmask(SIG_SETMASK, &all, NULL);
        setpgid(0, 0); /* terminal signals go to waspd only; it decides */
        if (pinned) {
            /* applied before exec: the worker never runs elsewhere */
            sched_setaffinity(0, sizeof(cpus), &cpus);
        }
        svc_cpu_child_join(pool);
        if (wasp_identity_become(&pool->id) != 0) {
            wasp_error("cannot start a worker (dropping privileges): %s", strerror(errno));
            _exit(127);
        }
        /* fexecve: the binary was opened while still privileged, so a build
         * tree under a private home directory still starts. */
        fexecve(exe, argv, envp);
        wasp_error("cannot start a worker (%s): %s", svc.worker_bin, strerror(errno));
        _exit(127);
    }
    close(exe);
    w->pid = pid;
    w->pool = pool;
    w->state = WP_STARTING;
    w->started_ms = wasp_now_ms();
    w->next = svc.workers;
    svc.workers = w;
    if (pool->cfg != NULL) {
        w->limit_timer = wasp_loop_timer(svc.loop, pool->cfg->startup_time_limit_s * 1000ull,
                                         startup_timeout, w);
    }
    {
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/wp/%d", svc.runtime_dir, (int)pid);
        f = fopen(path, "w");
        if (f != NULL) {
            fprintf(f, "%s\n", pool->name);
            fclose(f);
        }
    }
    svc_event(SVC_EV_WORKER_STARTED, EV_INFO, pool->name, pid,
              "A worker process with process id of '%d' serving application pool '%s' was "
              "started (user %s, uid %d).", (int)pid, pool->name, pool->id.user,
              (int)pool->id.uid);
    return w;
}

static void spawn_timer_fired(wasp_loop_t *loop, void *data)
{
    svc_pool_t *pool = data;

    pool->spawn_timer = NULL;
    if (svc.stopping == 0 && pool->demand_pending) {
        svc_demand(pool);
    }
}

/* Bring the pool to its garden size; a worker that died right after it
 * started is not restarted more than once a second (rapid-fail protection
 * stops a pool that keeps failing). */
void svc_demand(svc_pool_t *pool)
{
    uint64_t since;

    if (svc.stopping || pool->stopped || pool->cfg == NULL) {
        return;
    }
    svc_resume(pool);
    pool->demand_pending = true;
    if (pool_active(pool) >= garden_size(pool) || pool->spawn_timer != NULL) {
        return;
    }
    if (pool->cfg->disallow_overlapping_rotation && pool->respawn_after_stop) {
        return; /* the old workers must be gone first */
    }
    since = wasp_now_ms() - pool->last_start_ms;
    if (pool->died_young && since < 1000) {
        pool->spawn_timer = wasp_loop_timer(svc.loop, 1000 - since, spawn_timer_fired, pool);
        return;
    }
    while (pool_active(pool) < garden_size(pool)) {
        if (worker_spawn(pool) == NULL) {
            break; /* said why */
        }
    }
}

/* A request reached a suspended pool: wake its workers. */
void svc_resume(svc_pool_t *pool)
{
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && w->state == WP_SUSPENDED) {
            kill(w->pid, SIGCONT);
            w->state = WP_RUNNING;
            wasp_info("pool '%s': worker pid %d resumed", pool->name, (int)w->pid);
        }
    }
}

/* ---- recycling ----------------------------------------------------------- */

static const char *recycle_reason_name(uint32_t reason)
{
    switch (reason) {
    case WASP_RECYCLE_TIME: return "Time";
    case WASP_RECYCLE_REQUESTS: return "Requests";
    case WASP_RECYCLE_SCHEDULE: return "Schedule";
    case WASP_RECYCLE_MEMORY: return "Memory";
    case WASP_RECYCLE_ON_DEMAND: return "OnDemand";
    case WASP_RECYCLE_CONFIG_CHANGE: return "ConfigChange";
    case WASP_RECYCLE_PRIVATE_MEMORY: return "PrivateMemory";
    default: return "IsapiUnhealthy";
    }
}

/* The per-worker recycle events of WAS, logged when logEventOnRecycle has
 * the reason. */
static void recycle_event(svc_worker_t *w, uint32_t reason)
{
    static const struct {
        uint32_t reason;
        int id;
        const char *why;
    } ev[] = {
        {WASP_RECYCLE_TIME, 5074, "the worker process reached its allowed processing time limit"},
        {WASP_RECYCLE_REQUESTS, 5075, "it reached its allowed request limit"},
        {WASP_RECYCLE_SCHEDULE, 5076, "it reached its scheduled recycle time"},
        {WASP_RECYCLE_MEMORY, 5077, "it reached its virtual memory limit"},
        {WASP_RECYCLE_PRIVATE_MEMORY, 5117, "it reached its private bytes memory limit"},
    };

    if (w->pool->cfg == NULL || !(w->pool->cfg->log_event_on_recycle & reason)) {
        return;
    }
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
        if (ev[i].reason == reason) {
            svc_event(ev[i].id, EV_INFO, w->pool->name, w->pid,
                      "A worker process with process id of '%d' serving application pool '%s' "
                      "has requested a recycle because %s.",
                      (int)w->pid, w->pool->name, ev[i].why);
        }
    }
}

/* Replacements are running: the retiring workers may stop now.  One
 * retiring worker stops per running replacement, and all of them once no
 * replacement is still starting, so the pool never has fewer workers taking
 * requests than it had. */
static void retire_ready(svc_pool_t *pool)
{
    int running_new = 0, starting_new = 0, stopped = 0;

    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && !w->retiring) {
            running_new += w->state == WP_RUNNING;
            starting_new += w->state == WP_STARTING;
        }
    }
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool != pool || !w->retiring || w->state == WP_STOPPING ||
            w->state == WP_ORPHANED) {
            continue;
        }
        if (stopped < running_new || starting_new == 0) {
            worker_stop(w);
            stopped++;
        }
    }
}

static void worker_retire(svc_worker_t *w, uint32_t reason)
{
    svc_pool_t *pool = w->pool;

    if (w->retiring || w->state == WP_STOPPING || w->state == WP_ORPHANED) {
        return;
    }
    w->retiring = true;
    w->stop_reason = reason;
    if (w->state == WP_STARTING || pool->stopped || pool->cfg == NULL ||
        pool->cfg->disallow_overlapping_rotation) {
        /* Not overlapped: stop now; the replacement follows its exit. */
        pool->respawn_after_stop = !pool->stopped && pool->cfg != NULL;
        worker_stop(w);
        return;
    }
    /* Overlapped: a replacement first; this one stops once it runs. */
    svc_demand(pool);
    retire_ready(pool);
}

void svc_pool_recycle(svc_pool_t *pool, uint32_t reason)
{
    bool any = false;

    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && !w->retiring &&
            (w->state == WP_RUNNING || w->state == WP_SUSPENDED || w->state == WP_STARTING)) {
            any = true;
        }
    }
    if (pool->cfg != NULL && (pool->cfg->log_event_on_recycle & reason)) {
        if (reason == WASP_RECYCLE_ON_DEMAND) {
            svc_event(5079, EV_INFO, pool->name, 0,
                      "An administrator has requested a recycle of all worker processes in "
                      "application pool '%s'.", pool->name);
        } else if (reason == WASP_RECYCLE_CONFIG_CHANGE) {
            svc_event(5080, EV_INFO, pool->name, 0,
                      "The worker processes serving application pool '%s' are being recycled "
                      "due to 1 or more configuration changes in the application pool "
                      "properties which necessitate a restart of the processes.", pool->name);
        }
    }
    if (!any) {
        return; /* nothing runs: the next request starts the new configuration */
    }
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && !w->retiring &&
            (w->state == WP_RUNNING || w->state == WP_SUSPENDED || w->state == WP_STARTING)) {
            if (reason == WASP_RECYCLE_SCHEDULE) {
                recycle_event(w, reason);
            }
            worker_retire(w, reason);
        }
    }
}

void svc_worker_recycle_request(pid_t pid, const char *pool, uint32_t reason)
{
    svc_worker_t *w = worker_find(pid, pool);

    if (w == NULL || w->retiring || w->state == WP_STOPPING || w->state == WP_ORPHANED) {
        return;
    }
    recycle_event(w, reason);
    worker_retire(w, reason);
}

static void restart_time_fired(wasp_loop_t *loop, void *data)
{
    svc_worker_t *w = data;

    w->restart_timer = NULL;
    svc_worker_recycle_request(w->pid, w->pool->name, WASP_RECYCLE_TIME);
}

/* Seconds from now to the next local time of day in the schedule. */
static int64_t schedule_next_ms(const wasp_pool_cfg_t *cfg)
{
    time_t now = time(NULL);
    struct tm tm;
    int64_t sec_of_day, best = -1;

    localtime_r(&now, &tm);
    sec_of_day = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    for (size_t i = 0; i < cfg->restart_schedule_count; i++) {
        int64_t d = (int64_t)cfg->restart_schedule_s[i] - sec_of_day;

        if (d <= 0) {
            d += 86400;
        }
        if (best < 0 || d < best) {
            best = d;
        }
    }
    return best < 0 ? -1 : best * 1000;
}

static void schedule_fired(wasp_loop_t *loop, void *data)
{
    svc_pool_t *pool = data;

    pool->schedule_timer = NULL;
    if (!pool->stopped && pool->cfg != NULL) {
        svc_pool_recycle(pool, WASP_RECYCLE_SCHEDULE);
    }
    svc_pool_schedule_arm(pool);
}

void svc_pool_schedule_arm(svc_pool_t *pool)
{
    int64_t ms;

    if (pool->schedule_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, pool->schedule_timer);
        pool->schedule_timer = NULL;
    }
    if (pool->cfg == NULL || pool->cfg->restart_schedule_count == 0) {
        return;
    }
    ms = schedule_next_ms(pool->cfg);
    if (ms > 0) {
        pool->schedule_timer = wasp_loop_timer(svc.loop, (uint64_t)ms, schedule_fired, pool);
    }
}

/* periodicRestart memory / privateMemory: virtual size (VmSize) and private
 * memory (anonymous resident + swapped: what the process alone owns), both
 * in KB as IIS counts them. */
static void memory_check(wasp_loop_t *loop, void *data)
{
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        const wasp_pool_cfg_t *cfg = w->pool->cfg;
        char path[64], line[256];
        unsigned long vm = 0, anon = 0, swap = 0, v;
        FILE *f;

        if (cfg == NULL || w->state != WP_RUNNING || w->retiring ||
            (cfg->restart_memory_kb == 0 && cfg->restart_private_memory_kb == 0)) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/status", (int)w->pid);
        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
            if (sscanf(line, "VmSize: %lu", &v) == 1) {
                vm = v;
            } else if (sscanf(line, "RssAnon: %lu", &v) == 1) {
                anon = v;
            } else if (sscanf(line, "VmSwap: %lu", &v) == 1) {
                swap = v;
            }
        }
        fclose(f);
        if (cfg->restart_memory_kb != 0 && vm > cfg->restart_memory_kb) {
            svc_worker_recycle_request(w->pid, NULL, WASP_RECYCLE_MEMORY);
        } else if (cfg->restart_private_memory_kb != 0 &&
                   anon + swap > cfg->restart_private_memory_kb) {
            svc_worker_recycle_request(w->pid, NULL, WASP_RECYCLE_PRIVATE_MEMORY);
        }
    }
    svc_dynamic_idle_check();
    wasp_loop_timer(svc.loop, SVC_MEMORY_CHECK_MS, memory_check, NULL);
}

void svc_memory_watch_start(void)
{
    wasp_loop_timer(svc.loop, SVC_MEMORY_CHECK_MS, memory_check, NULL);
}

/* ---- stopping ------------------------------------------------------------ */

static void shutdown_timeout(wasp_loop_t *loop, void *data)
{
    svc_worker_t *w = data;

    w->limit_timer = NULL;
    svc_event(5013, EV_WARNING, w->pool->name, w->pid,
              "A process serving application pool '%s' exceeded time limits during shut down. "
              "The process id was '%d'.", w->pool->name, (int)w->pid);
    kill(w->pid, SIGKILL);
}

static void worker_stop(svc_worker_t *w)
{
    uint32_t limit = w->pool->cfg ? w->pool->cfg->shutdown_time_limit_s : 90;

    if (w->state == WP_STOPPING) {
        return;
    }
    if (w->state == WP_SUSPENDED) {
        kill(w->pid, SIGCONT);
    }
    if (w->restart_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, w->restart_timer);
        w->restart_timer = NULL;
    }
    if (w->limit_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, w->limit_timer);
    }
    w->state = WP_STOPPING;
    w->limit_timer = wasp_loop_timer(svc.loop, limit * 1000ull, shutdown_timeout, w);
    kill(w->pid, SIGTERM);
    svc_control_worker_event(w, "stopping");
}

void svc_pool_stop(svc_pool_t *pool, const char *reason)
{
    pool->stopped = true;
    pool->demand_pending = false;
    pool->respawn_after_stop = false;
    snprintf(pool->stop_reason, sizeof(pool->stop_reason), "%s", reason);
    if (pool->spawn_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, pool->spawn_timer);
        pool->spawn_timer = NULL;
    }
    svc_send_pool_state(pool);
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && w->state != WP_ORPHANED) {
            worker_stop(w);
        }
    }
}

void svc_pool_shutdown_workers(svc_pool_t *pool)
{
    pool->demand_pending = false;
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool && w->state != WP_ORPHANED) {
            worker_stop(w);
        }
    }
}

void svc_pool_start(svc_pool_t *pool)
{
    pool->stopped = false;
    pool->stop_reason[0] = '\0';
    pool->failure_count = 0;
    pool->died_young = false;
    svc_send_pool_state(pool);
    if (pool->cfg != NULL && pool->cfg->start_mode == WASP_START_ALWAYS_RUNNING) {
        svc_demand(pool);
    }
}

/* The workers' configuration follows applicationHost.config without a
 * restart (src/worker/config_cache.c): each re-reads its pool's copy on
 * SIGHUP.  A worker still starting has SIGHUP blocked until its loop takes
 * it, so the signal waits rather than kills. */
void svc_workers_config_changed(void)
{
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->state == WP_STARTING || w->state == WP_RUNNING || w->state == WP_SUSPENDED) {
            kill(w->pid, SIGHUP);
        }
    }
}

/* A changed pool: recycle it unless the configuration says not to (then the
 * new settings apply to the next worker that starts). */
void svc_pool_config_changed(svc_pool_t *pool)
{
    svc_pool_schedule_arm(pool);
    svc_cpu_pool_apply(pool);
    svc_cpu_accounting_arm(pool);
    if (pool->cfg != NULL && !pool->cfg->disallow_rotation_on_config_change && !pool->stopped) {
        svc_pool_recycle(pool, WASP_RECYCLE_CONFIG_CHANGE);
    }
}

/* ---- health -------------------------------------------------------------- */

static void run_program(const char *exe, const char *params, pid_t pid)
{
    char cmd[2048], pidstr[16];
    size_t n = 0;
    pid_t child;

    if (exe == NULL || exe[0] == '\0') {
        return;
    }
    /* Build "exe params" with IIS' %1% replaced by the worker's pid. */
    snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
    n = (size_t)snprintf(cmd, sizeof(cmd), "'%s' ", exe);
    for (const char *p = params ? params : ""; *p && n + 16 < sizeof(cmd); p++) {
        if (strncmp(p, "%1%", 3) == 0) {
            n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%s", pidstr);
            p += 2;
        } else {
            cmd[n++] = *p;
        }
    }
    cmd[n] = '\0';
    child = fork();
    if (child == 0) {
        char *envp[8];

        svc_child_env(envp, 8, NULL);
        setsid();
        execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, envp);
        _exit(127);
    }
    if (child > 0) {
        wasp_info("ran %s (pid %d)", cmd, (int)child);
    }
}

static void failure_count(svc_pool_t *pool)
{
    const wasp_pool_cfg_t *cfg = pool->cfg;
    uint64_t now = wasp_now_ms(), window;
    size_t keep = 0;

    if (cfg == NULL || !cfg->rapid_fail_protection || pool->stopped) {
        return;
    }
    window = cfg->rapid_fail_interval_s * 1000ull;
    /* Keep only failures inside the window, then add this one. */
    for (size_t i = 0; i < pool->failure_count; i++) {
        if (now - pool->failures[i] <= window) {
            pool->failures[keep++] = pool->failures[i];
        }
    }
    pool->failure_count = keep;
    if (pool->failure_count == pool->failure_cap) {
        size_t cap = pool->failure_cap ? pool->failure_cap * 2 : 8;
        uint64_t *p = realloc(pool->failures, cap * sizeof(*p));

        if (p == NULL) {
            return;
        }
        pool->failures = p;
        pool->failure_cap = cap;
    }
    pool->failures[pool->failure_count++] = now;
    if (pool->failure_count < cfg->rapid_fail_max_crashes) {
        return;
    }
    svc_event(5002, EV_ERROR, pool->name, 0,
              "Application pool '%s' is being automatically disabled due to a series of "
              "failures in the process(es) serving that application pool. (%zu failures within "
              "%u s: rapidFailProtection.) Its requests are answered 503 until it is started "
              "again: waspctl start apppool \"%s\"",
              pool->name, pool->failure_count, cfg->rapid_fail_interval_s, pool->name);
    svc_pool_stop(pool, "AppOffline");
    run_program(cfg->auto_shutdown_exe, cfg->auto_shutdown_params, 0);
}

void svc_worker_ready(pid_t pid, const char *pool)
{
    svc_worker_t *w = worker_find(pid, pool);

    if (w == NULL || w->state != WP_STARTING) {
        return;
    }
    w->state = WP_RUNNING;
    if (w->limit_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, w->limit_timer);
        w->limit_timer = NULL;
    }
    if (w->pool->cfg != NULL && w->pool->cfg->restart_time_s != 0) {
        w->restart_timer = wasp_loop_timer(svc.loop, w->pool->cfg->restart_time_s * 1000ull,
                                           restart_time_fired, w);
    }
    svc_control_worker_event(w, "running");
    retire_ready(w->pool);
}

void svc_worker_hung(pid_t pid, const char *pool)
{
    svc_worker_t *w = worker_find(pid, pool);

    if (w == NULL || w->state == WP_STOPPING || w->state == WP_ORPHANED) {
        return;
    }
    svc_event(5010, EV_ERROR, w->pool->name, pid,
              "A process serving application pool '%s' failed to respond to a ping. The "
              "process id was '%d'.", w->pool->name, (int)pid);
    if (w->pool->cfg != NULL && w->pool->cfg->orphan_worker_process) {
        /* Left running for a debugger; a replacement takes its place. */
        w->state = WP_ORPHANED;
        if (w->limit_timer != NULL) {
            wasp_loop_timer_cancel(svc.loop, w->limit_timer);
            w->limit_timer = NULL;
        }
        wasp_warn("pool '%s': worker pid %d is orphaned (failure/@orphanWorkerProcess): it is "
                  "left running and no longer gets requests; stop it yourself when done",
                  w->pool->name, (int)pid);
        run_program(w->pool->cfg->orphan_action_exe, w->pool->cfg->orphan_action_params, pid);
        failure_count(w->pool);
        svc_demand(w->pool);
        return;
    }
    w->ping_killed = true;
    kill(pid, SIGKILL);
}

/* The listener saw no request for idleTimeout. */
void svc_pool_idle(const char *name)
{
    svc_pool_t *pool = svc_pool_find(name);
    bool suspend;

    if (pool == NULL || pool->cfg == NULL || pool->cfg->idle_timeout_s == 0 ||
        pool->cfg->start_mode == WASP_START_ALWAYS_RUNNING) {
        return; /* AlwaysRunning keeps its workers, as the name says */
    }
    suspend = pool->cfg->idle_timeout_action == WASP_IDLE_SUSPEND;
    pool->demand_pending = false;
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool != pool || w->state != WP_RUNNING || w->retiring) {
            continue;
        }
        if (pool->cfg->log_event_on_idle_timeout) {
            svc_event(5186, EV_INFO, pool->name, w->pid,
                      "A worker process with process id of '%d' serving application pool '%s' "
                      "was %s due to inactivity. Application Pool timeout configuration was set "
                      "to %u minutes. A new worker process will be started when needed.",
                      (int)w->pid, pool->name, suspend ? "suspended" : "shutdown",
                      pool->cfg->idle_timeout_s / 60);
        }
        if (suspend) {
            w->state = WP_SUSPENDED;
            kill(w->pid, SIGSTOP);
        } else {
            worker_stop(w);
        }
    }
}

/* ---- exits --------------------------------------------------------------- */

static void describe_exit(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        snprintf(buf, size, "on signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    } else {
        snprintf(buf, size, "with status %d", WEXITSTATUS(status));
    }
}

bool svc_worker_reaped(pid_t pid, int status)
{
    svc_worker_t **pp = &svc.workers, *w;
    svc_pool_t *pool;
    char how[128], path[PATH_MAX];
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    bool expected, failure;

    while (*pp != NULL && (*pp)->pid != pid) {
        pp = &(*pp)->next;
    }
    w = *pp;
    if (w == NULL) {
        return false;
    }
    *pp = w->next;
    pool = w->pool;
    if (w->limit_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, w->limit_timer);
    }
    if (w->restart_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, w->restart_timer);
    }
    snprintf(path, sizeof(path), "%s/wp/%d", svc.runtime_dir, (int)pid);
    unlink(path);
    describe_exit(status, how, sizeof(how));
    /* A worker told to stop may end any way it likes (SIGKILL after the
     * shutdown limit included); one that ends on its own with status 0
     * (its listener went away) is not a failure either. */
    expected = w->state == WP_STOPPING || svc.stopping || (clean && !w->ping_killed &&
                                                           !w->startup_killed);
    failure = !expected || w->ping_killed || w->startup_killed;
    /* Only a failure right after start slows the next start down; a worker
     * stopped on purpose (recycle, stop) is replaced at once. */
    pool->died_young = failure && wasp_now_ms() - w->started_ms < 1000;
    if (!failure) {
        svc_event(SVC_EV_WORKER_EXITED, EV_INFO, pool->name, pid,
                  "A worker process with process id of '%d' serving application pool '%s' "
                  "exited %s%s%s.", (int)pid, pool->name, how,
                  w->stop_reason ? " after a recycle for " : "",
                  w->stop_reason ? recycle_reason_name(w->stop_reason) : "");
    } else if (!w->ping_killed && !w->startup_killed) {
        svc_event(5009, EV_ERROR, pool->name, pid,
                  "A process serving application pool '%s' terminated unexpectedly. The process "
                  "id was '%d'. The process exit code was '0x%x'. (It exited %s.)",
                  pool->name, (int)pid,
                  WIFEXITED(status) ? (unsigned)WEXITSTATUS(status) : 0xffffffffu, how);
    } else {
        svc_event(SVC_EV_WORKER_EXITED, EV_WARNING, pool->name, pid,
                  "A worker process with process id of '%d' serving application pool '%s' "
                  "was killed (%s) and exited %s.", (int)pid, pool->name,
                  w->ping_killed ? "failed ping" : "startupTimeLimit", how);
    }
    svc_control_worker_event(w, "exited");
    free(w);
    if (svc.stopping) {
        return true;
    }
    if (failure) {
        failure_count(pool);
    }
    if (pool->stopped || pool->cfg == NULL) {
        return true;
    }
    if (pool->respawn_after_stop) {
        bool stopping_left = false;

        for (svc_worker_t *o = svc.workers; o != NULL; o = o->next) {
            if (o->pool == pool && o->state == WP_STOPPING && o->retiring) {
                stopping_left = true;
            }
        }
        if (stopping_left) {
            return true;
        }
        pool->respawn_after_stop = false;
        pool->demand_pending = true;
    }
    /* Replace it when requests wait for it, for an AlwaysRunning pool, and
     * for a web garden member that failed while the others run (the
     * listener asks only when no worker is left). */
    if (pool->demand_pending || pool->cfg->start_mode == WASP_START_ALWAYS_RUNNING ||
        (failure && pool_active(pool) > 0)) {
        svc_demand(pool);
    }
    return true;
}
