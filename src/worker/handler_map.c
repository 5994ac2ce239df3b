/*
 * Handler mapping (MapRequestHandler): the first entry of the effective
 * <handlers> collection whose path matches the URL's last segment, whose verb
 * list has the request's verb, whose requireAccess the accessPolicy grants,
 * whose preCondition holds for this pool, and whose resourceType exists on
 * disk (iis-modules.md 1.8).  Nothing matches: 405 if some entry matched the
 * path but not the verb, 404.0 if an entry matched but the file or directory
 * is missing, else 404.4.
 */
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "worker/worker.h"

enum { ACCESS_READ = 1, ACCESS_WRITE = 2, ACCESS_EXECUTE = 4, ACCESS_SOURCE = 16,
       ACCESS_SCRIPT = 512 };

static unsigned parse_access_policy(const char *s)
{
    unsigned flags = 0;
    const char *p = s;

    if (s == NULL) {
        return ACCESS_READ; /* schema default */
    }
    while (*p) {
        char tok[32];
        size_t n = 0;

        while (*p == ' ' || *p == ',') {
            p++;
        }
        while (*p && *p != ',' && *p != ' ' && n < sizeof(tok) - 1) {
            tok[n++] = *p++;
        }
        tok[n] = '\0';
        if (strcasecmp(tok, "Read") == 0) {
            flags |= ACCESS_READ;
        } else if (strcasecmp(tok, "Write") == 0) {
            flags |= ACCESS_WRITE;
        } else if (strcasecmp(tok, "Execute") == 0) {
            flags |= ACCESS_EXECUTE;
        } else if (strcasecmp(tok, "Source") == 0) {
            flags |= ACCESS_SOURCE;
        } else if (strcasecmp(tok, "Script") == 0) {
            flags |= ACCESS_SCRIPT;
        } else if (n > 0 && tok[0] >= '0' && tok[0] <= '9') {
            flags |= (unsigned)strtoul(tok, NULL, 10);
        }
    }
    return flags;
}

static bool access_granted(const char *require, unsigned policy)
{
    if (require == NULL || strcasecmp(require, "Script") == 0) {
        /* Execute permission implies Script, as on IIS. */
        return policy & (ACCESS_SCRIPT | ACCESS_EXECUTE);
    }
    if (strcasecmp(require, "None") == 0) {
        return true;
    }
    if (strcasecmp(require, "Read") == 0) {
        return policy & ACCESS_READ;
    }
    if (strcasecmp(require, "Write") == 0) {
        return policy & ACCESS_WRITE;
    }
    if (strcasecmp(require, "Execute") == 0) {
        return policy & ACCESS_EXECUTE;
    }
    return false;
}

/* The pool's managedPipelineMode: integratedMode or classicMode (ISAPIMode
 * is IIS 7.0's name for it) holds as the pool says, as on IIS, where a
 * Classic pool skips the integratedMode entries and takes the classicMode
 * ones.  A native-only 64-bit server: bitness64 holds; managedHandler and
 * runtimeVersion* name managed code the worker cannot run, so those entries
 * are skipped as on a pool without the CLR. */
static bool pool_is_classic(void)
{
    const wasp_pool_cfg_t *pool = wasp_config_find_pool(worker_cfg, worker_pool);

    return pool != NULL && pool->managed_pipeline_mode != NULL &&
           strcasecmp(pool->managed_pipeline_mode, "Classic") == 0;
}

static bool precondition_holds(const char *pc)
{
    const char *p = pc;

    if (pc == NULL) {
        return true;
    }
    while (*p) {
        char tok[64];
        size_t n = 0;

        while (*p == ' ' || *p == ',') {
            p++;
        }
        while (*p && *p != ',' && n < sizeof(tok) - 1) {
            tok[n++] = *p++;
        }
        while (n > 0 && tok[n - 1] == ' ') {
            n--;
        }
        tok[n] = '\0';
        if (n == 0 || strcasecmp(tok, "bitness64") == 0) {
            continue;
        }
        if (strcasecmp(tok, "integratedMode") == 0) {
            if (pool_is_classic()) {
                return false;
            }
            continue;
        }
        if (strcasecmp(tok, "classicMode") == 0 || strcasecmp(tok, "ISAPIMode") == 0) {
            if (!pool_is_classic()) {
                return false;
            }
            continue;
        }
        if (strcasecmp(tok, "bitness32") == 0 || strncasecmp(tok, "runtimeVersion", 14) == 0 ||
            strcasecmp(tok, "managedHandler") == 0) {
            return false;
        }
    }
    return true;
}

static bool verb_matches(const char *list, const wasp_str_t *method)
{
    const char *p = list;

    if (list == NULL) {
        return false;
    }
    while (*p) {
        const char *start;
        size_t n;

        while (*p == ' ' || *p == ',') {
            p++;
        }
        start = p;
        while (*p && *p != ',') {
            p++;
        }
        n = (size_t)(p - start);
        while (n > 0 && start[n - 1] == ' ') {
            n--;
        }
        if ((n == 1 && start[0] == '*') ||
            (n == method->len && memcmp(start, method->ptr, n) == 0)) {
            return true;
        }
    }
    return false;
}

static bool name_matches(const char *pattern, const char *name)
{
    if (strcmp(pattern, "*.") == 0) {
        return name[0] != '\0' && strchr(name, '.') == NULL;
    }
    return fnmatch(pattern, name, FNM_CASEFOLD | FNM_PERIOD) == 0 ||
           fnmatch(pattern, name, FNM_CASEFOLD) == 0;
}

/* path="*", "*.ext", "*." (no extension), "name", or a wildcard pattern,
 * against the last URL segment, case-insensitively; a pattern with '/' is
 * matched against the whole path.  Returns how much of url_path the
 * mapping covers: all of it, 0 for no match, or, for an extension pattern
 * that matches an earlier segment ("/index.php/extra/path"), the length of
 * the path up to the end of that segment: the rest is PATH_INFO, as IIS'
 * script maps work (the first such segment wins). */
static size_t path_matches(const char *pattern, const char *url_path)
{
    const char *last = strrchr(url_path, '/');
    const char *name = last ? last + 1 : url_path;
    size_t len = strlen(url_path);

    if (pattern == NULL) {
        return 0;
    }
    if (strcmp(pattern, "*") == 0) {
        return len;
    }
    if (strchr(pattern, '/') != NULL) {
        return fnmatch(pattern, url_path, FNM_CASEFOLD) == 0 ? len : 0;
    }
    if (pattern[0] == '*' && pattern[1] == '.' && strcmp(pattern, "*.") != 0) {
        /* Earlier segments first: /a.php/b.php runs a.php with /b.php. */
        for (const char *seg = url_path; seg < name;) {
            const char *slash = strchr(seg + 1, '/');
            char part[NAME_MAX + 1];
            size_t n;

            if (slash == NULL || slash > name) {
                break;
            }
            n = (size_t)(slash - seg - 1);
            if (n > 0 && n < sizeof(part)) {
                memcpy(part, seg + 1, n);
                part[n] = '\0';
                if (name_matches(pattern, part)) {
                    return (size_t)(slash - url_path);
                }
            }
            seg = slash;
        }
    }
    return name_matches(pattern, name) ? len : 0;
}

/* 0 ok, 1 missing */
static int resource_check(const char *type, const char *phys)
{
    struct stat st;

    if (type == NULL || strcasecmp(type, "Unspecified") == 0) {
        return 0;
    }
    if (stat(phys, &st) != 0) {
        return 1;
    }
    if (strcasecmp(type, "File") == 0) {
        return S_ISREG(st.st_mode) ? 0 : 1;
    }
    if (strcasecmp(type, "Directory") == 0) {
        return S_ISDIR(st.st_mode) ? 0 : 1;
    }
    return (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) ? 0 : 1;
}

static int handler_use(wasp_request_t *req, const wasp_section_t *h)
{
    const char *mods = wasp_section_attr(h, "modules");
    const char *p = mods ? mods : "ManagedPipelineHandler";

    req->handler = h;
    req->handler_name = wasp_section_attr(h, "name");
    req->script_processor = wasp_section_attr(h, "scriptProcessor");
    req->handler_mod_count = 0;
    while (*p) {
        char name[128];
        size_t n = 0;
        wasp_module_t *m;

        while (*p == ' ' || *p == ',') {
            p++;
        }
        while (*p && *p != ',' && n < sizeof(name) - 1) {
            name[n++] = *p++;
        }
        while (n > 0 && name[n - 1] == ' ') {
            n--;
        }
        name[n] = '\0';
        if (n == 0) {
            continue;
        }
        m = worker_module_find(name);
        if (m == NULL || !req->pipe->enabled[m->index]) {
            char why[256];

            snprintf(why, sizeof(why), "Handler \"%s\" has a bad module \"%s\" in its module "
                     "list (not installed in <globalModules> or not enabled in <modules>)",
                     req->handler_name ? req->handler_name : "", name);
            wasp_request_fail(req, 500, 21, why);
            return -1;
        }
        if (req->handler_mod_count < sizeof(req->handler_mods) / sizeof(req->handler_mods[0])) {
            req->handler_mods[req->handler_mod_count++] = m;
        }
    }
    return 0;
}

int handler_map(wasp_request_t *req)
{
    const wasp_section_t *hs = wasp_request_section(req, "system.webServer/handlers");
    unsigned policy = parse_access_policy(hs ? wasp_section_attr(hs, "accessPolicy") : NULL);
    bool verb_refused = false, missing = false;
    const wasp_section_t *missing_entry = NULL;

    req->current = NULL;
    for (size_t i = 0; hs != NULL && i < wasp_section_item_count(hs); i++) {
        const wasp_section_t *h = wasp_section_item(hs, i);
        size_t covered;
        char script_phys[sizeof(req->physical_path)];
        const char *phys = req->physical_path;

        if (!precondition_holds(wasp_section_attr(h, "preCondition")) ||
            wasp_section_attr(h, "type") != NULL ||
            !access_granted(wasp_section_attr(h, "requireAccess"), policy) ||
            (covered = path_matches(wasp_section_attr(h, "path"), req->path_z)) == 0) {
            continue;
        }
        if (covered < strlen(req->path_z)) {
            /* Path info: the resource that must exist is the script. */
            char prefix[sizeof(req->physical_path)];

            snprintf(prefix, sizeof(prefix), "%.*s", (int)covered, req->path_z);
            if (worker_map_url(req, prefix, NULL, NULL, script_phys, sizeof(script_phys)) != 0) {
                continue;
            }
            phys = script_phys;
        }
        if (!verb_matches(wasp_section_attr(h, "verb"), &req->method)) {
            verb_refused = true;
            continue;
        }
        if (resource_check(wasp_section_attr(h, "resourceType"), phys) != 0) {
            if (!missing) {
                missing_entry = h;
            }
            missing = true;
            continue;
        }
        return handler_use(req, h);
    }
    req->fail_module = "IIS Web Core";
    if (missing) {
        req->handler_name = wasp_section_attr(missing_entry, "name");
        wasp_request_fail(req, 404, 0, "The file or directory does not exist");
    } else if (verb_refused) {
        wasp_response_set_header(req, "Allow", "GET, HEAD, OPTIONS, TRACE");
        wasp_request_fail(req, 405, 0, "No handler mapping allows this verb for this path");
    } else {
        wasp_request_fail(req, 404, 4, "No handler mapping matches this request");
    }
    req->fail_module = "IIS Web Core";
    return -1;
}
