/*
 * applicationPools/add/cpu: CPU limits per pool.
 *
 * IIS counts `limit` in 1/1000 of a percent of the whole machine over
 * `resetInterval`.  wasp does the same in two ways:
 *
 *   action NoAction / KillW3wp: accounting.  Every resetInterval waspd adds
 *   up the CPU time its workers used (utime + stime in /proc/PID/stat) and
 *   compares it with limit; over it, NoAction logs an event and KillW3wp
 *   also stops the pool's workers (they are started again on demand, as on
 *   IIS).  This needs nothing from the machine.
 *
 *   action Throttle / ThrottleUnderLoad: the kernel enforces it through a
 *   cgroup v2 per pool: cpu.max (a hard cap: quota = limit x CPUs x period)
 *   for Throttle, cpu.weight (a share that only matters under contention)
 *   for ThrottleUnderLoad.  Where the machine has no cgroup v2 cpu
 *   controller that waspd may use (cgroup v1 hosts, containers without
 *   delegation), the pool runs without the cap and waspd says why, once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "service/cpu_setting.h"
#include "service/svc.h"

static struct {
    bool probed;
    char root[PATH_MAX];   /* waspd's own cgroup v2 directory, "" if unusable */
    char why_not[256];     /* the reason when unusable */
} cg;

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Find the cgroup v2 mount and our place in it, and make sure the cpu
 * controller can be given to per-pool children. */
static void cgroup_probe(void)
{
    char line[1024], mount[PATH_MAX] = "", rel[PATH_MAX] = "", path[PATH_MAX];
    FILE *f;

    cg.probed = true;
    f = fopen("/proc/self/mountinfo", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char mnt[PATH_MAX], fstype[64];
        const char *sep = strstr(line, " - ");

        if (sep != NULL && sscanf(sep + 3, "%63s", fstype) == 1 &&
            strcmp(fstype, "cgroup2") == 0 && sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1) {
            snprintf(mount, sizeof(mount), "%s", mnt);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    if (mount[0] == '\0') {
        snprintf(cg.why_not, sizeof(cg.why_not), "this machine has no cgroup v2 hierarchy");
        return;
    }
    f = fopen("/proc/self/cgroup", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(rel, sizeof(rel), "%s", line + 3);
            rel[strcspn(rel, "\n")] = '\0';
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    snprintf(cg.root, sizeof(cg.root), "%s%s", mount, strcmp(rel, "/") == 0 ? "" : rel);
    snprintf(path, sizeof(path), "%s/cgroup.controllers", cg.root);
    f = fopen(path, "r");
    line[0] = '\0';
    if (f == NULL || fgets(line, sizeof(line), f) == NULL || strstr(line, "cpu") == NULL) {
        snprintf(cg.why_not, sizeof(cg.why_not),
                 "the cpu controller is not available in cgroup %s (a cgroup v1 host, or a "
                 "container or service without cgroup delegation)", cg.root);
        cg.root[0] = '\0';
    }
    if (f != NULL) {
        fclose(f);
    }
    if (cg.root[0] == '\0') {
        return;
    }
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg.root);
    if (write_file(path, "+cpu") != 0) {
        /* A cgroup with processes of its own cannot give controllers to
         * children ("no internal processes"): move waspd into a leaf. */
        char leaf[PATH_MAX + 16], pid[32];

        snprintf(leaf, sizeof(leaf), "%s/waspd", cg.root);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        mkdir(leaf, 0755);
        strncat(leaf, "/cgroup.procs", sizeof(leaf) - strlen(leaf) - 1);
        if (write_file(leaf, pid) != 0 || write_file(path, "+cpu") != 0) {
            snprintf(cg.why_not, sizeof(cg.why_not),
                     "cannot enable the cpu controller below %s: %s", cg.root, strerror(errno));
            cg.root[0] = '\0';
        }
    }
}

static void pool_cgroup_path(const svc_pool_t *pool, char *out, size_t size)
{
    char safe[128];

    wasp_safe_name(pool->name, safe, sizeof(safe));
    snprintf(out, size, "%s/wasp-pool-%s", cg.root, safe);
}

static bool wants_throttle(const wasp_pool_cfg_t *c)
{
    return c != NULL && c->cpu_limit != 0 &&
           (c->cpu_action == WASP_CPU_THROTTLE || c->cpu_action == WASP_CPU_THROTTLE_UNDER_LOAD);
}

/* Create or update the pool's cgroup; say once why not when it cannot be. */
void svc_cpu_pool_apply(svc_pool_t *pool)
{
    const wasp_pool_cfg_t *c = pool->cfg;
    char dir[PATH_MAX], file[PATH_MAX + 32], value[64];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    pool->cgroup_ready = false;
    if (!wants_throttle(c)) {
        return;
    }
    if (!cg.probed) {
        cgroup_probe();
    }
    if (cg.root[0] == '\0') {
        wasp_warn("%s:%d: pool '%s': cpu limit %u (%s) is not enforced: %s; the pool runs "
                  "without a CPU cap (NoAction and KillW3wp need no cgroup)",
                  c->file ? c->file : "?", c->line, pool->name, c->cpu_limit,
                  c->cpu_action == WASP_CPU_THROTTLE ? "Throttle" : "ThrottleUnderLoad",
                  cg.why_not);
        return;
    }
    pool_cgroup_path(pool, dir, sizeof(dir));
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        wasp_warn("pool '%s': cannot create cgroup %s: %s; no CPU cap", pool->name, dir,
                  strerror(errno));
        return;
    }
    snprintf(file, sizeof(file), "%s/%s", dir,
             wasp_cpu_cgroup_setting(c->cpu_limit, c->cpu_action == WASP_CPU_THROTTLE, cpus,
                                     value, sizeof(value)));
    if (write_file(file, value) != 0) {
        wasp_warn("pool '%s': cannot write %s to %s: %s; no CPU cap", pool->name, value, file,
                  strerror(errno));
        return;
    }
    pool->cgroup_ready = true;
    wasp_info("pool '%s': CPU %s through %s (%s)", pool->name,
              c->cpu_action == WASP_CPU_THROTTLE ? "capped" : "weighted", file, value);
}

/* In a worker's child process, before it drops root: join the pool's cgroup. */
void svc_cpu_child_join(const svc_pool_t *pool)
{
    char dir[PATH_MAX], file[PATH_MAX + 32], pid[32];

    if (!pool->cgroup_ready) {
        return;
    }
    pool_cgroup_path(pool, dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/cgroup.procs", dir);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    write_file(file, pid);
}

/* ---- accounting (NoAction, KillW3wp) -------------------------------------- */

static uint64_t proc_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    const char *p;
    FILE *f;
    static long hz;

    if (hz == 0) {
        hz = sysconf(_SC_CLK_TCK);
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    if (fgets(buf, sizeof(buf), f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    /* Fields 14 and 15 after the ")" that ends the command name. */
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) != 2) {
        return 0;
    }
    return (ut + st) * 1000ull / (unsigned long long)(hz > 0 ? hz : 100);
}

static void cpu_interval_fired(wasp_loop_t *loop, void *data)
{
    svc_pool_t *pool = data;
    const wasp_pool_cfg_t *c = pool->cfg;
    uint64_t used = 0, allowed;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    pool->cpu_timer = NULL;
    if (c == NULL || c->cpu_limit == 0 || c->cpu_reset_interval_s == 0 || wants_throttle(c)) {
        return;
    }
    for (svc_worker_t *w = svc.workers; w != NULL; w = w->next) {
        if (w->pool == pool) {
            uint64_t now = proc_cpu_ms(w->pid);

            used += now > w->cpu_ms_mark ? now - w->cpu_ms_mark : 0;
            w->cpu_ms_mark = now;
        }
    }
    allowed = (uint64_t)c->cpu_reset_interval_s * 1000u * (uint64_t)(cpus > 0 ? cpus : 1) *
              c->cpu_limit / 100000u;
    if (used > allowed) {
        svc_event(SVC_EV_CPU_LIMIT, EV_WARNING, pool->name, 0,
                  "Application pool '%s' used %llu ms of CPU in %u s, over its cpu limit of "
                  "%u.%03u%% (%llu ms)%s.", pool->name, (unsigned long long)used,
                  c->cpu_reset_interval_s, c->cpu_limit / 1000u, c->cpu_limit % 1000u,
                  (unsigned long long)allowed,
                  c->cpu_action == WASP_CPU_KILL_W3WP
                      ? "; its worker processes are shut down (action KillW3wp) and start "
                        "again on demand"
                      : " (action NoAction: logged only)");
        if (c->cpu_action == WASP_CPU_KILL_W3WP) {
            svc_pool_shutdown_workers(pool);
        }
    }
    pool->cpu_timer = wasp_loop_timer(svc.loop, c->cpu_reset_interval_s * 1000ull,
                                      cpu_interval_fired, pool);
}

/* (Re)start the accounting window of a pool. */
void svc_cpu_accounting_arm(svc_pool_t *pool)
{
    const wasp_pool_cfg_t *c = pool->cfg;

    if (pool->cpu_timer != NULL) {
        wasp_loop_timer_cancel(svc.loop, pool->cpu_timer);
        pool->cpu_timer = NULL;
    }
    if (c == NULL || c->cpu_limit == 0 || wants_throttle(c)) {
        return;
    }
    if (c->cpu_reset_interval_s == 0) {
        wasp_warn("pool '%s': cpu limit %u with resetInterval 0 has no accounting period; it is "
                  "not checked", pool->name, c->cpu_limit);
        return;
    }
    pool->cpu_timer = wasp_loop_timer(svc.loop, c->cpu_reset_interval_s * 1000ull,
                                      cpu_interval_fired, pool);
}
