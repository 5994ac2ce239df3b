/* Process identities (see identity.h). */
#include "service/identity.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

void wasp_pool_user_name(const char *pool, char *out, size_t size)
{
    char safe[64];
    uint32_t h = 2166136261u;

    for (const char *p = pool; *p; p++) {
        h = (h ^ (unsigned char)*p) * 16777619u;
    }
    /* User names: lower-case letters, digits, '-', '_'; at most 32 bytes. */
    size_t o = 0;
    bool changed = false;

    for (const char *p = pool; *p && o < sizeof(safe) - 1; p++) {
        char c = *p;

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c + 32);
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            c = '_';
            changed = true;
        }
        safe[o++] = c;
    }
    safe[o] = '\0';
    if (changed || strlen(pool) > 22) {
        safe[o > 13 ? 13 : o] = '\0';
        snprintf(out, size, "wasp-pool-%s-%08x", safe, h);
    } else {
        snprintf(out, size, "wasp-pool-%s", safe);
    }
}

static int identity_lookup(const char *user, wasp_identity_t *id)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
        return -1;
    }
    id->uid = pw.pw_uid;
    id->gid = pw.pw_gid;
    snprintf(id->user, sizeof(id->user), "%s", user);
    return 0;
}

/* useradd --system: no home, no login shell, its own group. */
static int identity_create(const char *user, const char *comment)
{
    pid_t pid = fork();
    int status;

    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        execl("/usr/sbin/useradd", "useradd", "--system", "--user-group", "--no-create-home",
              "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", comment,
              user, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return -1;
    }
    wasp_info("created system user '%s' (%s)", user, comment);
    return 0;
}

static int identity_ensure(const char *user, const char *comment, wasp_identity_t *id, char *err,
                           size_t err_size)
{
    if (identity_lookup(user, id) == 0) {
        return 0;
    }
    if (identity_create(user, comment) != 0 || identity_lookup(user, id) != 0) {
        snprintf(err, err_size, "cannot create the system user '%s' with useradd", user);
        return -1;
    }
    return 0;
}

static void identity_self(wasp_identity_t *id)
{
    struct passwd *pw = getpwuid(getuid());

    id->uid = getuid();
    id->gid = getgid();
    snprintf(id->user, sizeof(id->user), "%s", pw ? pw->pw_name : "?");
}

int wasp_identity_for_pool(const wasp_pool_cfg_t *pool, wasp_identity_t *id,
                           bool allow_local_system, char *err, size_t err_size)
{
    char user[64], comment[320];

    if (geteuid() != 0) {
        identity_self(id);
        return 0;
    }
    if (pool->identity_type != NULL && strcasecmp(pool->identity_type, "SpecificUser") == 0) {
        if (pool->user_name == NULL || pool->user_name[0] == '\0' ||
            identity_lookup(pool->user_name, id) != 0) {
            snprintf(err, err_size,
                     "%s:%d: application pool '%s' has identityType=\"SpecificUser\" but user "
                     "'%s' does not exist on this machine; create it or use "
                     "ApplicationPoolIdentity",
                     pool->file ? pool->file : "?", pool->line, pool->name,
                     pool->user_name ? pool->user_name : "");
            return -1;
        }
        return 0;
    }
    /* ApplicationPoolIdentity, and the Windows built-in accounts
     * (NetworkService, LocalService) for which the nearest Linux meaning is
     * the same: a dedicated unprivileged identity per pool.  LocalSystem
     * means root: only with waspd --allow-localsystem, and said loudly. */
    if (pool->identity_type != NULL && strcasecmp(pool->identity_type, "LocalSystem") == 0) {
        if (allow_local_system) {
            wasp_warn("%s:%d: pool '%s' runs as root (identityType=\"LocalSystem\", allowed by "
                      "--allow-localsystem): its code can do anything on this machine",
                      pool->file ? pool->file : "?", pool->line, pool->name);
            id->uid = 0;
            id->gid = 0;
            snprintf(id->user, sizeof(id->user), "root");
            return 0;
        }
        wasp_warn("%s:%d: pool '%s' has identityType=\"LocalSystem\" (root); it runs as its own "
                  "unprivileged user instead. Start waspd with --allow-localsystem to run it as "
                  "root", pool->file ? pool->file : "?", pool->line, pool->name);
    }
    wasp_pool_user_name(pool->name, user, sizeof(user));
    snprintf(comment, sizeof(comment), "wasp application pool %s", pool->name);
    return identity_ensure(user, comment, id, err, err_size);
}

int wasp_identity_for_listener(wasp_identity_t *id, char *err, size_t err_size)
{
    if (geteuid() != 0) {
        identity_self(id);
        return 0;
    }
    return identity_ensure(WASP_LISTENER_USER, "wasp listener", id, err, err_size);
}

int wasp_identity_become(const wasp_identity_t *id)
{
    if (geteuid() == 0 && id->uid == 0) {
        /* LocalSystem (opted in): root, but still no supplementary groups. */
        if (setgroups(0, NULL) != 0) {
            return -1;
        }
    } else if (geteuid() == 0) {
        if (setgroups(0, NULL) != 0 || setgid(id->gid) != 0 || setuid(id->uid) != 0) {
            return -1;
        }
        /* A process that dropped root must not be able to get it back. */
        if (setuid(0) == 0) {
            errno = EPERM;
            return -1;
        }
    }
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}
