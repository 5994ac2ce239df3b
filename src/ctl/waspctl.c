/*
 * waspctl: wasp's appcmd.  This first version reads what it lists straight
 * from applicationHost.config and from waspd's runtime directory:
 *
 *   waspctl [--config FILE] [--runtime-dir DIR] list site|apppool|app|vdir|wp
 *
 * Output uses appcmd's shapes, e.g.
 *   SITE "Default Web Site" (id:1,bindings:http/[binding],state:Started)
 *   APPPOOL "DefaultAppPool" (MgdVersion:,MgdMode:Integrated,state:Started)
 * Changing configuration (add/set/delete/start/stop/recycle) needs waspd's
 * control API and is refused with a clear message until then.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

static const char *runtime_dir = "/run/wasp";

static bool waspd_running(void)
{
    char path[4096];
    FILE *f;
    int pid = 0;

    snprintf(path, sizeof(path), "%s/waspd.pid", runtime_dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    if (fscanf(f, "%d", &pid) != 1) {
        pid = 0;
    }
    fclose(f);
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static void list_sites(const wasp_config_t *cfg, const char *state)
{
    for (size_t i = 0; i < wasp_config_site_count(cfg); i++) {
        const wasp_site_cfg_t *s = wasp_config_site(cfg, i);

        printf("SITE \"%s\" (id:%u,bindings:", s->name, s->id);
        for (size_t b = 0; b < s->binding_count; b++) {
            const wasp_binding_cfg_t *bd = &s->bindings[b];
            bool v6 = strchr(bd->ip, ':') != NULL;

            printf("%s%s/%s%s%s:%u:%s", b ? "," : "", bd->protocol, v6 ? "[" : "", bd->ip,
                   v6 ? "]" : "", bd->port, bd->host);
        }
        printf(",state:%s)\n", s->server_auto_start ? state : "Stopped");
    }
}

static void list_pools(const wasp_config_t *cfg, const char *state)
{
    for (size_t i = 0; i < wasp_config_pool_count(cfg); i++) {
        const wasp_pool_cfg_t *p = wasp_config_pool(cfg, i);

        printf("APPPOOL \"%s\" (MgdVersion:%s,MgdMode:%s,state:%s)\n", p->name,
               p->managed_runtime_version ? p->managed_runtime_version : "",
               p->managed_pipeline_mode ? p->managed_pipeline_mode : "Integrated",
               p->auto_start ? state : "Stopped");
    }
}

static void list_apps(const wasp_config_t *cfg, bool vdirs)
{
    for (size_t i = 0; i < wasp_config_site_count(cfg); i++) {
        const wasp_site_cfg_t *s = wasp_config_site(cfg, i);

        for (size_t a = 0; a < s->app_count; a++) {
            const wasp_app_cfg_t *app = &s->apps[a];

            if (!vdirs) {
                printf("APP \"%s%s\" (applicationPool:%s)\n", s->name, app->path, app->pool);
                continue;
            }
            for (size_t v = 0; v < app->vdir_count; v++) {
                const char *ap = strcmp(app->path, "/") == 0 ? "" : app->path;

                printf("VDIR \"%s%s%s\" (physicalPath:%s)\n", s->name, ap, app->vdirs[v].path,
                       app->vdirs[v].physical_path);
            }
        }
    }
}

static int list_wps(void)
{
    char path[4096];
    DIR *d;
    struct dirent *e;

    snprintf(path, sizeof(path), "%s/wp", runtime_dir);
    d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "ERROR ( message:waspd is not running with runtime directory %s. )\n",
                runtime_dir);
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        char file[4200], pool[256] = "";
        FILE *f;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        f = fopen(file, "r");
        if (f != NULL) {
            if (fgets(pool, sizeof(pool), f) != NULL) {
                pool[strcspn(pool, "\n")] = '\0';
            }
            fclose(f);
        }
        printf("WP \"%s\" (applicationPool:%s)\n", e->d_name, pool);
    }
    closedir(d);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: waspctl [--config FILE] [--runtime-dir DIR] list site|apppool|app|vdir|wp\n");
}

int main(int argc, char **argv)
{
    const char *config = "/etc/wasp/applicationHost.config";
    const char *verb = NULL, *object = NULL;
    wasp_config_t *cfg;
    wasp_diag_t diag;
    char buf[2048];
    const char *state;

    if (getenv("WASP_CONFIG") != NULL) {
        config = getenv("WASP_CONFIG");
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--runtime-dir") == 0 && i + 1 < argc) {
            runtime_dir = argv[++i];
        } else if (verb == NULL) {
            verb = argv[i];
        } else if (object == NULL) {
            object = argv[i];
        }
    }
    if (verb == NULL || object == NULL) {
        usage();
        return 2;
    }
    if (strcasecmp(verb, "list") != 0) {
        fprintf(stderr, "ERROR ( message:'%s' is not available yet: this waspctl lists only; "
                        "changes need waspd's control API. )\n", verb);
        return 1;
    }
    if (strcasecmp(object, "wp") == 0) {
        return list_wps();
    }
    cfg = wasp_config_load(config, &diag);
    if (cfg == NULL) {
        fprintf(stderr, "ERROR ( message:%s )\n", wasp_diag_format(&diag, buf, sizeof(buf)));
        return 1;
    }
    state = waspd_running() ? "Started" : "Unknown";
    if (strcasecmp(object, "site") == 0) {
        list_sites(cfg, state);
    } else if (strcasecmp(object, "apppool") == 0) {
        list_pools(cfg, state);
    } else if (strcasecmp(object, "app") == 0) {
        list_apps(cfg, false);
    } else if (strcasecmp(object, "vdir") == 0) {
        list_apps(cfg, true);
    } else {
        fprintf(stderr, "ERROR ( message:Unknown object type '%s'. )\n", object);
        wasp_config_free(cfg);
        return 1;
    }
    wasp_config_free(cfg);
    return 0;
}
