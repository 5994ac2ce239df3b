/*
 * The log files' side of the configuration push: where each log goes, its
 * directory made ready for the listener, and one CFG_LOG frame per log
 * (channel.h).  The listener writes the files itself; waspd only prepares
 * the directories, because the listener runs as an unprivileged user and
 * log roots such as /var/log/wasp belong to root.
 *
 * Paths: IIS' default log root, %SystemDrive%\inetpub\logs (which the
 * configuration maps to /inetpub/logs when WASP_SYSTEM_DRIVE is not set, as
 * "C:\inetpub\logs" is too), becomes wasp's log root: /var/log/wasp with
 * the default --runtime-dir, else <runtime-dir>/logs (the event log follows
 * the same rule).  HTTPERR goes to <ErrorLoggingDir>/HTTPERR, by default
 * <log root>/HTTPERR.  Each directory that gets files (W3SVC<id>, W3SVC for
 * the central log, HTTPERR) is owned by the listener's user with mode 0750;
 * the ones above it are created 0755 and keep their owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "service/svc.h"

/* wasp's log root (see above). */
static void svc_log_root(char *out, size_t size)
{
    if (strcmp(svc.runtime_dir, "/run/wasp") == 0) {
        snprintf(out, size, "/var/log/wasp");
    } else {
        snprintf(out, size, "%s/logs", svc.runtime_dir);
    }
}

/* A configured directory, with IIS' default root mapped to wasp's. */
static void svc_log_map(const char *dir, char *out, size_t size)
{
    static const char iis_root[] = "/inetpub/logs";
    size_t n = sizeof(iis_root) - 1;
    char root[PATH_MAX];

    if (strncasecmp(dir, iis_root, n) == 0 && (dir[n] == '\0' || dir[n] == '/')) {
        svc_log_root(root, sizeof(root));
        snprintf(out, size, "%s%s", root, dir + n);
    } else {
        snprintf(out, size, "%s", dir);
    }
}

/* Make dir (and what is above it) and give it to the listener's user.  The
 * leaf is opened without following a symbolic link before it changes
 * hands. */
/* The listener must be able to pass through every directory above dir:
 * a parent made 0750 by hand (or by an older wasp, for the event log) would
 * hide the logs from it without any error until the first line. */
static int svc_log_dir_reachable(const char *dir)
{
    char path[PATH_MAX];
    char *slash;
    struct stat st;

    snprintf(path, sizeof(path), "%s", dir);
    while ((slash = strrchr(path, '/')) != NULL && slash != path) {
        *slash = '\0';
        if (stat(path, &st) != 0) {
            continue;
        }
        bool by_user = st.st_uid == svc.listener_id.uid && (st.st_mode & S_IXUSR);
        bool by_group = st.st_gid == svc.listener_id.gid && (st.st_mode & S_IXGRP);

        if (!by_user && !by_group && !(st.st_mode & S_IXOTH)) {
            wasp_warn("log directory %s: the listener (user %s) cannot reach it: %s is mode "
                      "%04o; fix: chmod o+x %s", dir, svc.listener_id.user, path,
                      (unsigned)(st.st_mode & 07777), path);
            return -1;
        }
    }
    return 0;
}

static int svc_log_dir_ready(const char *dir)
{
    char parent[PATH_MAX];
    char *slash;
    int fd;

    snprintf(parent, sizeof(parent), "%s", dir);
    slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        if (wasp_mkdir_p(parent, 0755) != 0) {
            goto fail;
        }
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        goto fail;
    }
    if (geteuid() != 0) {
        return 0; /* everything runs as this user */
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown(fd, svc.listener_id.uid, svc.listener_id.gid) != 0 ||
        fchmod(fd, 0750) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        goto fail;
    }
    close(fd);
    return svc_log_dir_reachable(dir);
fail:
    wasp_warn("log directory %s: %s; the listener cannot write its logs there (create it, "
              "writable by user %s, or set another directory)",
              dir, strerror(errno), svc.listener_id.user);
    return -1;
}

static void svc_push_log(uint8_t kind, const wasp_site_cfg_t *site, const char *dir,
                         const wasp_logfile_cfg_t *lf, bool utf8, uint64_t truncate)
{
    wasp_enc_t e = {0};
    size_t count = lf != NULL ? lf->custom_count : 0;

    if (strlen(dir) >= PATH_MAX - 64) {
        wasp_warn("log directory %s is too long; that log is not written", dir);
        return;
    }
    svc_log_dir_ready(dir);
    wasp_enc_u8(&e, kind);
    wasp_enc_u32(&e, site != NULL ? site->id : 0);
    wasp_enc_cstr(&e, site != NULL ? site->name : "");
    wasp_enc_cstr(&e, dir);
    wasp_enc_u8(&e, lf != NULL ? (uint8_t)lf->format : WASP_LOG_W3C);
    wasp_enc_u8(&e, lf != NULL ? (uint8_t)lf->period : WASP_LOG_MAXSIZE);
    wasp_enc_u8(&e, utf8);
    wasp_enc_u8(&e, lf != NULL && lf->local_time_rollover);
    wasp_enc_u8(&e, lf == NULL || lf->log_site_id);
    wasp_enc_u64(&e, truncate);
    wasp_enc_u32(&e, lf != NULL ? lf->ext_flags : 0);
    wasp_enc_u32(&e, lf != NULL ? lf->max_line_length : 65536);
    wasp_enc_u32(&e, lf != NULL ? lf->flush_by_entry_count : 0);
    wasp_enc_u32(&e, lf != NULL ? lf->max_custom_field_length : 4096);
    wasp_enc_u32(&e, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        wasp_enc_cstr(&e, lf->custom[i].name);
        wasp_enc_cstr(&e, lf->custom[i].source);
        wasp_enc_u8(&e, (uint8_t)lf->custom[i].type);
    }
    svc_send(WASP_MSG_CFG_LOG, &e, -1);
}

void svc_push_logs(void)
{
    const wasp_log_cfg_t *log = wasp_config_log(svc.cfg);
    char dir[PATH_MAX], path[PATH_MAX + 32];

    if (log->mode == WASP_LOG_MODE_CENTRAL_W3C) {
        /* One file set for every site; the sites' own logFile is not used. */
        if (log->central_w3c.enabled) {
            svc_log_map(log->central_w3c.directory, dir, sizeof(dir));
            snprintf(path, sizeof(path), "%s/W3SVC", dir);
            svc_push_log(WASP_CFG_LOG_CENTRAL, NULL, path, &log->central_w3c, log->in_utf8,
                         log->central_w3c.truncate_size);
        }
    } else if (log->mode == WASP_LOG_MODE_CENTRAL_BINARY) {
        wasp_warn("%s: centralLogFileMode=\"CentralBinary\" is not supported (IIS' binary "
                  "format is not documented): no access log is written; use \"CentralW3C\" or "
                  "\"Site\"", wasp_config_path(svc.cfg));
    } else {
        for (size_t s = 0; s < wasp_config_site_count(svc.cfg); s++) {
            const wasp_site_cfg_t *site = wasp_config_site(svc.cfg, s);
            const wasp_logfile_cfg_t *lf = &site->log;

            if (!lf->enabled || !(lf->target_w3c & 1u)) {
                continue; /* off, or ETW only */
            }
            if (lf->format == WASP_LOG_CUSTOM) {
                wasp_warn("%s: site '%s': logFormat=\"Custom\" needs a custom logging module, "
                          "which wasp does not have; the site's requests are not logged",
                          wasp_config_path(svc.cfg), site->name);
                continue;
            }
            svc_log_map(lf->directory, dir, sizeof(dir));
            snprintf(path, sizeof(path), "%s/W3SVC%u", dir, site->id);
            svc_push_log(WASP_CFG_LOG_SITE, site, path, lf, log->in_utf8, lf->truncate_size);
        }
    }
    if (log->error_logging) {
        if (log->error_dir != NULL) {
            snprintf(dir, sizeof(dir), "%s", log->error_dir);
        } else {
            svc_log_root(dir, sizeof(dir));
        }
        snprintf(path, sizeof(path), "%s/HTTPERR", dir);
        svc_push_log(WASP_CFG_LOG_HTTPERR, NULL, path, NULL, false, log->error_truncate_size);
    }
}
