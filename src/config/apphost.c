/*
 * The system.applicationHost model: application pools and sites (with their
 * bindings, applications and virtual directories) as plain structs for the
 * listener and the activation service, with every value resolved the IIS way
 * (iis-hosting.md 1.8, 2.9): the object's own attribute, else the nearest
 * defaults element (applicationPoolDefaults; siteDefaults; applicationDefaults
 * of the site, then of <sites>; virtualDirectoryDefaults of the application,
 * the site, then <sites>), else the schema default.
 *
 * Values are checked against the schema's types and ranges; a bad value
 * stops the load with the file, the line and the valid range.  Problems WAS
 * itself survives by ignoring one object (an application whose pool does not
 * exist, a site without a root application) become warnings and the object
 * is left out (see wasp_config_warning_count in config.h).
 *
 * Physical paths: %VAR% is expanded from the environment (an undefined
 * variable is left as written, as Windows does), except %SystemDrive%, which
 * is $WASP_SYSTEM_DRIVE or empty, so "%SystemDrive%\inetpub\wwwroot" becomes
 * "/inetpub/wwwroot".  Backslashes become '/', a leading drive letter ("C:")
 * is dropped, and a relative path is resolved against the directory of the
 * configuration file.  The pool strings the schema marks expanded
 * (CLRConfigFile, failure/@orphanActionExe and the like) get the same %VAR%
 * expansion, without the path rewriting; %1% in orphanActionParams is the
 * orphaned worker's pid, filled in when the action runs, and stays as is.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/cfg_internal.h"

extern char **environ;

/* ---- value helpers ----------------------------------------------------------- */

/* An attribute from the object, else from its defaults element. */
typedef struct cfg_val {
    const char *value;
    const char *file;
    int line;
} cfg_val_t;

static cfg_val_t cfg_get(const wasp_section_t *own, const wasp_section_t *dflt, const char *name)
{
    cfg_val_t v = { 0 };
    const wasp_section_t *from = own;
    v.value = cfg_node_attr_line(own, name, &v.line);
    if (!v.value && dflt) {
        from = dflt;
        v.value = cfg_node_attr_line(dflt, name, &v.line);
    }
    v.file = from ? from->file : NULL;
    return v;
}

static int cfg_get_uint(const wasp_section_t *own, const wasp_section_t *dflt, const char *name,
                        uint64_t lo, uint64_t hi, uint64_t def, const char *what, uint64_t *out,
                        wasp_diag_t *diag)
{
    cfg_val_t v = cfg_get(own, dflt, name);
    if (!v.value) {
        *out = def;
        return 0;
    }
    uint64_t x;
    if (!cfg_parse_uint(v.value, UINT32_MAX, &x)) {
        cfg_diag(diag, v.file, v.line,
                 "%s=\"%s\" of %s is not a valid unsigned integer; write a decimal number from "
                 "%llu to %llu, or remove the attribute for the default %llu",
                 name, v.value, what, (unsigned long long)lo, (unsigned long long)hi,
                 (unsigned long long)def);
        return -1;
    }
    if (x < lo || x > hi) {
        cfg_diag(diag, v.file, v.line,
                 "%s=\"%s\" of %s is out of range: Integer value must be between %llu and %llu "
                 "inclusive; change it, or remove the attribute for the default %llu",
                 name, v.value, what, (unsigned long long)lo, (unsigned long long)hi,
                 (unsigned long long)def);
        return -1;
    }
    *out = x;
    return 0;
}

static int cfg_get_bool(const wasp_section_t *own, const wasp_section_t *dflt, const char *name,
                        bool def, const char *what, bool *out, wasp_diag_t *diag)
{
    cfg_val_t v = cfg_get(own, dflt, name);
    if (!v.value) {
        *out = def;
        return 0;
    }
    if (!cfg_parse_bool(v.value, out)) {
        cfg_diag(diag, v.file, v.line, "%s=\"%s\" of %s is not valid; use true or false", name,
                 v.value, what);
        return -1;
    }
    return 0;
}

/* The names of a NULL-terminated list, comma-separated, for messages. */
static void cfg_name_list(char *buf, size_t size, const char *const *names)
{
    buf[0] = '\0';
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, "%s%s", i ? ", " : "", names[i]);
    }
}

/* An enum attribute: a friendly name (case-insensitive) or its number.
 * values[i] is the schema number of names[i]; NULL when the numbers are
 * 0, 1, 2... in list order.  *out receives the number; def is one too. */
static int cfg_get_enum_vals(const wasp_section_t *own, const wasp_section_t *dflt,
                             const char *name, const char *const *names, const int *values,
                             int def, const char *what, int *out, wasp_diag_t *diag)
{
    cfg_val_t v = cfg_get(own, dflt, name);
    if (!v.value) {
        *out = def;
        return 0;
    }
    uint64_t num;
    bool numeric = cfg_parse_uint(v.value, 1000, &num);
    for (int i = 0; names[i]; i++) {
        int val = values ? values[i] : i;
        if (strcasecmp(v.value, names[i]) == 0 || (numeric && num == (uint64_t)val)) {
            *out = val;
            return 0;
        }
    }
    char list[256];
    cfg_name_list(list, sizeof(list), names);
    cfg_diag(diag, v.file, v.line, "%s=\"%s\" of %s is not valid: Enum must be one of %s", name,
             v.value, what, list);
    return -1;
}

static int cfg_get_enum(const wasp_section_t *own, const wasp_section_t *dflt, const char *name,
                        const char *const *names, int def, const char *what, int *out,
                        wasp_diag_t *diag)
{
    return cfg_get_enum_vals(own, dflt, name, names, NULL, def, what, out, diag);
}

/* A flags attribute: friendly names separated by commas, case-insensitive,
 * white space around them ignored ("Time, Memory"); a number stands for its
 * bits.  An empty value is no flag at all.  bits[i] is the value of
 * names[i]. */
static int cfg_get_flags(const wasp_section_t *own, const wasp_section_t *dflt, const char *name,
                         const char *const *names, const uint32_t *bits, uint32_t def,
                         const char *what, uint32_t *out, wasp_diag_t *diag)
{
    cfg_val_t v = cfg_get(own, dflt, name);
    if (!v.value) {
        *out = def;
        return 0;
    }
    uint32_t all = 0, acc = 0;
    for (int i = 0; names[i]; i++)
        all |= bits[i];
    const char *p = v.value;
    while (isspace((unsigned char)*p))
        p++;
    bool ok = true;
    while (*p && ok) {
        const char *e = strchr(p, ',');
        const char *end = e ? e : p + strlen(p);
        const char *t = end;
        while (t > p && isspace((unsigned char)t[-1]))
            t--;
        size_t len = (size_t)(t - p);
        bool found = false;
        for (int i = 0; names[i] && !found; i++) {
            if (strlen(names[i]) == len && strncasecmp(p, names[i], len) == 0) {
                acc |= bits[i];
                found = true;
            }
        }
        if (!found && len && len < 12) {
            char num[12];
            uint64_t x;
            memcpy(num, p, len);
            num[len] = '\0';
            if (cfg_parse_uint(num, UINT32_MAX, &x) && (x & ~(uint64_t)all) == 0) {
                acc |= (uint32_t)x;
                found = true;
            }
        }
        ok = found;
        if (!e)
            break;
        /* "Time," ends in an empty name: not a combination of flags */
        p = e + 1;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            ok = false;
    }
    if (!ok) {
        char list[256], example[128];
        cfg_name_list(list, sizeof(list), names);
        if (names[1])
            snprintf(example, sizeof(example), "\"%s, %s\"", names[0], names[1]);
        else
            snprintf(example, sizeof(example), "\"%s\" or \"\"", names[0]);
        cfg_diag(diag, v.file, v.line,
                 "%s=\"%s\" of %s is not valid: Flags must be some combination of %s "
                 "(comma-separated, e.g. %s)",
                 name, v.value, what, list, example);
        return -1;
    }
    *out = acc;
    return 0;
}

static void cfg_fmt_ts(char *buf, size_t size, uint64_t s)
{
    uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d)
        snprintf(buf, size, "%llu.%02llu:%02llu:%02llu", (unsigned long long)d,
                 (unsigned long long)h, (unsigned long long)m, (unsigned long long)sec);
    else
        snprintf(buf, size, "%02llu:%02llu:%02llu", (unsigned long long)h, (unsigned long long)m,
                 (unsigned long long)sec);
}

/* A timeSpan attribute, in whole seconds, checked like the schema's
 * timeSpanRange validator (min,max,granularity in seconds). */
static int cfg_get_ts(const wasp_section_t *own, const wasp_section_t *dflt, const char *name,
                      uint64_t lo, uint64_t hi, uint64_t gran, uint64_t def, const char *what,
                      uint32_t *out, wasp_diag_t *diag)
{
    cfg_val_t v = cfg_get(own, dflt, name);
    if (!v.value) {
        *out = (uint32_t)def;
        return 0;
    }
    int64_t ms;
    char l[32], h[32], d[32];
    cfg_fmt_ts(l, sizeof(l), lo);
    cfg_fmt_ts(h, sizeof(h), hi);
    cfg_fmt_ts(d, sizeof(d), def);
    if (!wasp_config_parse_timespan(v.value, WASP_TIMESPAN_STRING, &ms)) {
        cfg_diag(diag, v.file, v.line,
                 "%s=\"%s\" of %s is not a valid timeSpan; write [d.]hh:mm:ss from %s to %s, "
                 "e.g. \"%s\" (the default)",
                 name, v.value, what, l, h, d);
        return -1;
    }
    if (ms < 0 || ms % 1000 || (uint64_t)ms / 1000 < lo || (uint64_t)ms / 1000 > hi ||
        ((uint64_t)ms / 1000) % gran) {
        cfg_diag(diag, v.file, v.line,
                 "%s=\"%s\" of %s is out of range: Timespan value must be between %s and %s "
                 "inclusive, with a granularity of %llu seconds; change it, or remove the "
                 "attribute for the default %s",
                 name, v.value, what, l, h, (unsigned long long)gran, d);
        return -1;
    }
    *out = (uint32_t)((uint64_t)ms / 1000);
    return 0;
}

static const wasp_section_t *cfg_server_section(const wasp_config_t *cfg, const char *path)
{
    const cfg_level_t *lv = cfg->levels.v[0];
    for (const cfg_instance_t *in = lv->sections; in; in = in->next)
        if (strcmp(in->decl->path, path) == 0)
            return &in->node->pub;
    return NULL;
}

/* ---- application pools --------------------------------------------------------- */

static const char *const cfg_start_modes[] = { "OnDemand", "AlwaysRunning", NULL };
static const char *const cfg_pipeline_modes[] = { "Integrated", "Classic", NULL };
static const char *const cfg_identity_types[] = { "LocalSystem", "LocalService",
                                                  "NetworkService", "SpecificUser",
                                                  "ApplicationPoolIdentity", NULL };

/* Validator applicationPoolName (iis-hosting.md 6.5). */
static bool cfg_pool_name_ok(const char *s)
{
    if (!s || !*s)
        return false;
    bool blank = true;
    for (; *s; s++) {
        if (strchr("|<>&\"/[]+=;:,?*@\\", *s))
            return false;
        if (!isspace((unsigned char)*s))
            blank = false;
    }
    return !blank;
}

static const char *const cfg_logon_types[] = { "LogonBatch", "LogonService", NULL };
static const char *const cfg_idle_actions[] = { "Terminate", "Suspend", NULL };
static const char *const cfg_lb_caps[] = { "TcpLevel", "HttpLevel", NULL };
static const int cfg_lb_caps_values[] = { WASP_LB_TCP_LEVEL, WASP_LB_HTTP_LEVEL };
static const char *const cfg_cpu_actions[] = { "NoAction", "KillW3wp", "Throttle",
                                               "ThrottleUnderLoad", NULL };
static const char *const cfg_numa_assignments[] = { "MostAvailableMemory", "WindowsScheduling",
                                                    NULL };
static const char *const cfg_numa_modes[] = { "Soft", "Hard", NULL };
/* recycling/@logEventOnRecycle: names[i] has the value bits[i]. */
static const char *const cfg_recycle_flags[] = {
    "Time", "Requests", "Schedule", "Memory", "IsapiUnhealthy", "OnDemand", "ConfigChange",
    "PrivateMemory", NULL,
};
static const uint32_t cfg_recycle_bits[] = {
    WASP_RECYCLE_TIME,          WASP_RECYCLE_REQUESTS,       WASP_RECYCLE_SCHEDULE,
    WASP_RECYCLE_MEMORY,        WASP_RECYCLE_ISAPI_UNHEALTHY, WASP_RECYCLE_ON_DEMAND,
    WASP_RECYCLE_CONFIG_CHANGE, WASP_RECYCLE_PRIVATE_MEMORY,
};
static const char *const cfg_process_model_flags[] = { "IdleTimeout", NULL };
static const uint32_t cfg_process_model_bits[] = { 1u };

static char *cfg_expand_env_keep(wasp_config_t *cfg, const char *s, const char *keep,
                                 char *undefined, size_t usize);

/* A string attribute; expanded="true" ones get %VARS% from the environment
 * (keep: a %name% that is a placeholder, not a variable). */
static char *cfg_get_str(wasp_config_t *cfg, const wasp_section_t *own,
                         const wasp_section_t *dflt, const char *name, const char *def,
                         bool expand, const char *keep)
{
    cfg_val_t v = cfg_get(own, dflt, name);
    if (!v.value)
        return (char *)def;
    if (!expand)
        return (char *)v.value;
    char undef[8];
    return cfg_expand_env_keep(cfg, v.value, keep, undef, sizeof(undef));
}

/* A child element of a pool by path ("recycling/periodicRestart"). */
static const wasp_section_t *cfg_child_path(const wasp_section_t *s, const char *path)
{
    char name[64];
    while (s && *path) {
        const char *e = strchr(path, '/');
        size_t len = e ? (size_t)(e - path) : strlen(path);
        if (len >= sizeof(name))
            return NULL;
        memcpy(name, path, len);
        name[len] = '\0';
        s = wasp_section_child(s, name);
        path += len + (e ? 1 : 0);
    }
    return s;
}

/* The items of a collection below a pool, applicationPoolDefaults' first:
 * the pool's <add>, <remove> and <clear/> act on the defaults' items the way
 * a lower configuration level acts on a higher one (so a pool's <clear/>
 * drops the inherited schedule, and adding a name the defaults already have
 * is a duplicate unless it is removed first). */
static int cfg_pool_collection(wasp_config_t *cfg, const wasp_section_t *own,
                               const wasp_section_t *dflt, const char *path,
                               const wasp_section_t *const **items, size_t *count,
                               wasp_diag_t *diag)
{
    const wasp_section_t *oc = cfg_child_path(own, path);
    const wasp_section_t *dc = cfg_child_path(dflt, path);
    *items = NULL;
    *count = 0;
    if (!oc && !dc)
        return 0;
    char elem[128];
    snprintf(elem, sizeof(elem), "add/%s", path);
    const cfg_coll_schema_t *cs =
        cfg_collection_schema(cfg, "system.applicationHost/applicationPools", elem);
    if (!cs) {
        /* Not in the table: the items computed at load are all there is. */
        const wasp_section_t *c = oc ? oc : dc;
        *items = (const wasp_section_t *const *)c->items;
        *count = c->item_count;
        return 0;
    }
    cfg_node_t *merged = cfg_arena_alloc(&cfg->arena, sizeof(*merged));
    if (cfg_collection_apply(&cfg->arena, cs, merged, dc, oc, diag) != 0)
        return -1;
    *items = (const wasp_section_t *const *)merged->pub.items;
    *count = merged->pub.item_count;
    return 0;
}

static int cfg_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* recycling/periodicRestart/schedule: times of day, 0..86399 s in whole
 * minutes (timeSpanRange 0,86399,60), unique, kept in ascending order. */
static int cfg_pool_schedule(wasp_config_t *cfg, const wasp_section_t *own,
                             const wasp_section_t *dflt, const char *what, wasp_pool_cfg_t *p,
                             wasp_diag_t *diag)
{
    const wasp_section_t *const *items;
    size_t n;
    if (cfg_pool_collection(cfg, own, dflt, "recycling/periodicRestart/schedule", &items, &n,
                            diag) != 0)
        return -1;
    p->restart_schedule_s = n ? cfg_arena_alloc(&cfg->arena, n * sizeof(uint32_t)) : NULL;
    p->restart_schedule_count = 0;
    for (size_t i = 0; i < n; i++) {
        const wasp_section_t *it = items[i];
        int line;
        const char *val = cfg_node_attr_line(it, "value", &line);
        int64_t ms;
        if (!val) {
            cfg_diag(diag, it->file, it->line,
                     "a recycling schedule entry of %s has no value; write the time of day to "
                     "recycle at, e.g. <add value=\"03:00:00\" />",
                     what);
            return -1;
        }
        if (!wasp_config_parse_timespan(val, WASP_TIMESPAN_STRING, &ms)) {
            cfg_diag(diag, it->file, line,
                     "schedule value=\"%s\" of %s is not a valid timeSpan; write the time of "
                     "day as hh:mm:ss, e.g. \"03:00:00\"",
                     val, what);
            return -1;
        }
        if (ms < 0 || ms % 60000 || ms / 1000 > 86399) {
            cfg_diag(diag, it->file, line,
                     "schedule value=\"%s\" of %s is out of range: Timespan value must be "
                     "between 00:00:00 and 23:59:59 inclusive, with a granularity of 60 "
                     "seconds; write a time of day in whole minutes, e.g. \"03:00:00\"",
                     val, what);
            return -1;
        }
        uint32_t sec = (uint32_t)(ms / 1000);
        /* One entry per item so far: restart_schedule_s[j] came from
         * items[j].  "3:00:00" and "03:00:00" are one key to IIS: the value
         * is a timeSpan, compared as one. */
        for (size_t j = 0; j < p->restart_schedule_count; j++) {
            if (p->restart_schedule_s[j] == sec) {
                const wasp_section_t *first = items[j];
                cfg_diag(diag, it->file, line,
                         "Cannot add duplicate collection entry of type 'add' with unique key "
                         "attribute 'value' set to '%s' (the same time of day as \"%s\" at "
                         "%s:%d); remove one of the two entries of %s",
                         val, wasp_section_attr(first, "value"), first->file, first->line,
                         what);
                return -1;
            }
        }
        p->restart_schedule_s[p->restart_schedule_count++] = sec;
    }
    if (p->restart_schedule_count > 1)
        qsort(p->restart_schedule_s, p->restart_schedule_count, sizeof(uint32_t), cfg_cmp_u32);
    return 0;
}

/* environmentVariables: name and value required, name non-empty (it is the
 * key), applicationPoolDefaults' variables first. */
static int cfg_pool_env(wasp_config_t *cfg, const wasp_section_t *own, const wasp_section_t *dflt,
                        const char *what, wasp_pool_cfg_t *p, wasp_diag_t *diag)
{
    const wasp_section_t *const *items;
    size_t n;
    if (cfg_pool_collection(cfg, own, dflt, "environmentVariables", &items, &n, diag) != 0)
        return -1;
    p->env = n ? cfg_arena_alloc(&cfg->arena, n * sizeof(*p->env)) : NULL;
    p->env_count = 0;
    for (size_t i = 0; i < n; i++) {
        const wasp_section_t *it = items[i];
        int nline, vline;
        const char *name = cfg_node_attr_line(it, "name", &nline);
        const char *value = cfg_node_attr_line(it, "value", &vline);
        if (!name || !*name || strchr(name, '=')) {
            cfg_diag(diag, it->file, nline,
                     "environment variable name \"%s\" of %s is not valid: it is required, "
                     "may not be empty and may not contain '='; e.g. <add name=\"APP_MODE\" "
                     "value=\"production\" />",
                     name ? name : "", what);
            return -1;
        }
        if (!value || !*value) {
            cfg_diag(diag, it->file, vline,
                     "environment variable '%s' of %s has no value; the value attribute is "
                     "required and may not be empty (to drop an inherited variable, write "
                     "<remove name=\"%s\" />)",
                     name, what, name);
            return -1;
        }
        p->env[p->env_count].name = (char *)name;
        p->env[p->env_count].value = (char *)value;
        p->env_count++;
    }
    return 0;
}

/* Every value of a pool: from own, else from dflt (applicationPoolDefaults),
 * else the schema default (iis-hosting.md 1.1-1.8).  Windows-only settings
 * are checked like the others so a file IIS refuses is refused here too. */
static int cfg_pool_values(wasp_config_t *cfg, const wasp_section_t *own,
                           const wasp_section_t *dflt, const char *what, wasp_pool_cfg_t *p,
                           wasp_diag_t *diag)
{
    const wasp_section_t *pm = wasp_section_child(own, "processModel");
    const wasp_section_t *dpm = wasp_section_child(dflt, "processModel");
    uint64_t u;
    int e;
    uint32_t f;
    if (cfg_get_uint(own, dflt, "queueLength", 10, 65535, 1000, what, &u, diag))
        return -1;
    p->queue_length = (uint32_t)u;
    if (cfg_get_bool(own, dflt, "autoStart", true, what, &p->auto_start, diag))
        return -1;
    if (cfg_get_enum(own, dflt, "startMode", cfg_start_modes, 0, what, &e, diag))
        return -1;
    p->start_mode = (wasp_start_mode_t)e;
    p->managed_runtime_version = cfg_get_str(cfg, own, dflt, "managedRuntimeVersion", "", false,
                                             NULL);
    if (cfg_get_enum(own, dflt, "managedPipelineMode", cfg_pipeline_modes, 0, what, &e, diag))
        return -1;
    p->managed_pipeline_mode = (char *)cfg_pipeline_modes[e];
    if (cfg_get_bool(own, dflt, "enable32BitAppOnWin64", false, what,
                     &p->enable_32bit_app_on_win64, diag) ||
        cfg_get_bool(own, dflt, "enableConfigurationOverride", true, what,
                     &p->enable_configuration_override, diag) ||
        cfg_get_bool(own, dflt, "passAnonymousToken", true, what, &p->pass_anonymous_token,
                     diag))
        return -1;
    p->managed_runtime_loader = cfg_get_str(cfg, own, dflt, "managedRuntimeLoader",
                                            "webengine4.dll", false, NULL);
    p->clr_config_file = cfg_get_str(cfg, own, dflt, "CLRConfigFile", "", true, NULL);

    /* processModel.  requestQueueDelegatorIdentity is a string with nothing
     * to check, kept only to be reported as Windows-only.  The password is a
     * SpecificUser pool's only: wasp switches to the user with setuid and
     * needs no password, but a value waspd could not decrypt is reported
     * now (load flags), not silently kept.
     * A password left on a pool of another identity is not used, so not
     * checked (IIS does not use it either). */
    if (cfg_get_enum(pm, dpm, "identityType", cfg_identity_types, 4, what, &e, diag))
        return -1;
    p->identity_type = (char *)cfg_identity_types[e];
    if (e == 3) {
        const wasp_section_t *from = cfg_node_attr_line(pm, "password", NULL) ? pm : dpm;
        if (cfg_check_encrypted_attr(cfg, from, "password", diag))
            return -1;
    }
    p->user_name = cfg_get_str(cfg, pm, dpm, "userName", "", false, NULL);
    if (cfg_get_bool(pm, dpm, "loadUserProfile", false, what, &p->load_user_profile, diag) ||
        cfg_get_bool(pm, dpm, "setProfileEnvironment", true, what, &p->set_profile_environment,
                     diag) ||
        cfg_get_bool(pm, dpm, "manualGroupMembership", false, what,
                     &p->manual_group_membership, diag))
        return -1;
    if (cfg_get_enum(pm, dpm, "logonType", cfg_logon_types, 0, what, &e, diag))
        return -1;
    p->logon_type = (char *)cfg_logon_types[e];
    p->request_queue_delegator_identity =
        cfg_get_str(cfg, pm, dpm, "requestQueueDelegatorIdentity", "", false, NULL);
    if (cfg_get_uint(pm, dpm, "maxProcesses", 0, 2147483647, 1, what, &u, diag))
        return -1;
    p->max_processes = (uint32_t)u;
    if (cfg_get_ts(pm, dpm, "idleTimeout", 0, 2592000, 60, 20 * 60, what, &p->idle_timeout_s,
                   diag) ||
        cfg_get_ts(pm, dpm, "startupTimeLimit", 1, 4294967, 1, 90, what,
                   &p->startup_time_limit_s, diag) ||
        cfg_get_ts(pm, dpm, "shutdownTimeLimit", 1, 4294967, 1, 90, what,
                   &p->shutdown_time_limit_s, diag) ||
        cfg_get_ts(pm, dpm, "pingInterval", 1, 4294967, 1, 30, what, &p->ping_interval_s, diag) ||
        cfg_get_ts(pm, dpm, "pingResponseTime", 1, 4294967, 1, 90, what,
                   &p->ping_response_time_s, diag))
        return -1;
    if (cfg_get_bool(pm, dpm, "pingingEnabled", true, what, &p->pinging_enabled, diag))
        return -1;
    if (cfg_get_enum(pm, dpm, "idleTimeoutAction", cfg_idle_actions, 0, what, &e, diag))
        return -1;
    p->idle_timeout_action = (wasp_idle_action_t)e;
    if (cfg_get_flags(pm, dpm, "logEventOnProcessModel", cfg_process_model_flags,
                      cfg_process_model_bits, 1u, what, &f, diag))
        return -1;
    p->log_event_on_idle_timeout = (f & 1u) != 0;

    /* recycling, recycling/periodicRestart (+ schedule) */
    const wasp_section_t *rc = wasp_section_child(own, "recycling");
    const wasp_section_t *drc = wasp_section_child(dflt, "recycling");
    const wasp_section_t *pr = wasp_section_child(rc, "periodicRestart");
    const wasp_section_t *dpr = wasp_section_child(drc, "periodicRestart");
    if (cfg_get_bool(rc, drc, "disallowOverlappingRotation", false, what,
                     &p->disallow_overlapping_rotation, diag) ||
        cfg_get_bool(rc, drc, "disallowRotationOnConfigChange", false, what,
                     &p->disallow_rotation_on_config_change, diag))
        return -1;
    /* IIS 10's default names every reason (the 2015 schema file still has
     * "Time, Memory, PrivateMemory", IIS 7-8.5's default). */
    if (cfg_get_flags(rc, drc, "logEventOnRecycle", cfg_recycle_flags, cfg_recycle_bits, 0xFFu,
                      what, &p->log_event_on_recycle, diag))
        return -1;
    if (cfg_get_ts(pr, dpr, "time", 0, 25920000, 60, 29 * 3600, what, &p->restart_time_s, diag))
        return -1;
    if (cfg_get_uint(pr, dpr, "requests", 0, UINT32_MAX, 0, what, &u, diag))
        return -1;
    p->restart_requests = (uint32_t)u;
    if (cfg_get_uint(pr, dpr, "memory", 0, UINT32_MAX, 0, what, &u, diag))
        return -1;
    p->restart_memory_kb = (uint32_t)u;
    if (cfg_get_uint(pr, dpr, "privateMemory", 0, UINT32_MAX, 0, what, &u, diag))
        return -1;
    p->restart_private_memory_kb = (uint32_t)u;
    if (cfg_pool_schedule(cfg, own, dflt, what, p, diag))
        return -1;

    /* failure */
    const wasp_section_t *fl = wasp_section_child(own, "failure");
    const wasp_section_t *dfl = wasp_section_child(dflt, "failure");
    if (cfg_get_bool(fl, dfl, "rapidFailProtection", true, what, &p->rapid_fail_protection,
                     diag) ||
        cfg_get_ts(fl, dfl, "rapidFailProtectionInterval", 60, 8640000, 60, 5 * 60, what,
                   &p->rapid_fail_interval_s, diag))
        return -1;
    if (cfg_get_uint(fl, dfl, "rapidFailProtectionMaxCrashes", 1, 2147483647, 5, what, &u, diag))
        return -1;
    p->rapid_fail_max_crashes = (uint32_t)u;
    if (cfg_get_enum_vals(fl, dfl, "loadBalancerCapabilities", cfg_lb_caps, cfg_lb_caps_values,
                          WASP_LB_HTTP_LEVEL, what, &e, diag))
        return -1;
    p->load_balancer_capabilities = (wasp_lb_caps_t)e;
    if (cfg_get_bool(fl, dfl, "orphanWorkerProcess", false, what, &p->orphan_worker_process,
                     diag))
        return -1;
    /* %1% in orphanActionParams is the orphaned worker's pid, filled in when
     * the action runs: never an environment variable. */
    p->orphan_action_exe = cfg_get_str(cfg, fl, dfl, "orphanActionExe", "", true, NULL);
    p->orphan_action_params = cfg_get_str(cfg, fl, dfl, "orphanActionParams", "", true, "1");
    p->auto_shutdown_exe = cfg_get_str(cfg, fl, dfl, "autoShutdownExe", "", true, NULL);
    p->auto_shutdown_params = cfg_get_str(cfg, fl, dfl, "autoShutdownParams", "", true, NULL);

    /* cpu.  processorGroup and the NUMA settings are Windows-only: checked,
     * and kept only to be reported. */
    const wasp_section_t *cpu = wasp_section_child(own, "cpu");
    const wasp_section_t *dcpu = wasp_section_child(dflt, "cpu");
    if (cfg_get_uint(cpu, dcpu, "limit", 0, 100000, 0, what, &u, diag))
        return -1;
    p->cpu_limit = (uint32_t)u;
    if (cfg_get_enum(cpu, dcpu, "action", cfg_cpu_actions, 0, what, &e, diag))
        return -1;
    p->cpu_action = (wasp_cpu_action_t)e;
    if (cfg_get_ts(cpu, dcpu, "resetInterval", 0, 86400, 60, 5 * 60, what,
                   &p->cpu_reset_interval_s, diag) ||
        cfg_get_bool(cpu, dcpu, "smpAffinitized", false, what, &p->cpu_smp_affinitized, diag))
        return -1;
    uint64_t lo, hi;
    if (cfg_get_uint(cpu, dcpu, "smpProcessorAffinityMask", 0, UINT32_MAX, UINT32_MAX, what, &lo,
                     diag) ||
        cfg_get_uint(cpu, dcpu, "smpProcessorAffinityMask2", 0, UINT32_MAX, UINT32_MAX, what,
                     &hi, diag))
        return -1;
    p->cpu_smp_mask = hi << 32 | lo;
    /* A pinned pool whose mask names no CPU is an error in IIS: its workers
     * could run nowhere. */
    if (p->cpu_smp_affinitized && p->cpu_smp_mask == 0) {
        cfg_val_t v = cfg_get(cpu, dcpu, "smpProcessorAffinityMask");
        cfg_diag(diag, v.file, v.line,
                 "smpAffinitized=\"true\" of %s, but smpProcessorAffinityMask and "
                 "smpProcessorAffinityMask2 are both 0: the workers would run on no CPU; set "
                 "the bit of each CPU they may use (e.g. smpProcessorAffinityMask=\"1\" for CPU "
                 "0), or set smpAffinitized=\"false\"",
                 what);
        return -1;
    }
    if (cfg_get_uint(cpu, dcpu, "processorGroup", 0, 2147483647, 0, what, &u, diag))
        return -1;
    p->cpu_processor_group = (uint32_t)u;
    if (cfg_get_enum(cpu, dcpu, "numaNodeAssignment", cfg_numa_assignments, 0, what, &e, diag))
        return -1;
    p->cpu_numa_node_assignment = (char *)cfg_numa_assignments[e];
    if (cfg_get_enum(cpu, dcpu, "numaNodeAffinityMode", cfg_numa_modes, 0, what, &e, diag))
        return -1;
    p->cpu_numa_node_affinity_mode = (char *)cfg_numa_modes[e];

    return cfg_pool_env(cfg, own, dflt, what, p, diag);
}

static int cfg_build_pools(wasp_config_t *cfg, wasp_diag_t *diag)
{
    const wasp_section_t *sec = cfg_server_section(cfg, "system.applicationHost/applicationPools");
    if (!sec)
        return 0;
    const wasp_section_t *dp = wasp_section_child(sec, "applicationPoolDefaults");
    if (dp) {
        /* The defaults are checked even when every pool overrides them. */
        wasp_pool_cfg_t scratch = { 0 };
        if (cfg_pool_values(cfg, dp, NULL, "<applicationPoolDefaults>", &scratch, diag) != 0)
            return -1;
    }
    cfg->pools = sec->item_count ? cfg_arena_alloc(&cfg->arena,
                                                   sec->item_count * sizeof(*cfg->pools))
                                 : NULL;
    for (size_t i = 0; i < sec->item_count; i++) {
        const wasp_section_t *it = sec->items[i];
        wasp_pool_cfg_t *p = &cfg->pools[cfg->pool_count];
        int line;
        const char *name = cfg_node_attr_line(it, "name", &line);
        if (!cfg_pool_name_ok(name)) {
            cfg_diag(diag, it->file, line,
                     "application pool name \"%s\" is not valid: it must be non-empty and may "
                     "not contain | < > & \" / [ ] + = ; : , ? * @ or \\",
                     name ? name : "");
            return -1;
        }
        p->name = (char *)name;
        p->file = it->file;
        p->line = it->line;
        const char *what = cfg_arena_printf(&cfg->arena, "application pool '%s'", name);
        if (cfg_pool_values(cfg, it, dp, what, p, diag) != 0)
            return -1;
        cfg->pool_count++;
    }
    return 0;
}

/* ---- paths ----------------------------------------------------------------------- */

typedef struct cfg_sb {
    char *p;
    size_t n, cap;
} cfg_sb_t;

static void cfg_sb_add(cfg_sb_t *sb, const char *s, size_t n)
{
    if (sb->n + n + 1 > sb->cap) {
        size_t cap = (sb->n + n + 1) * 2;
        char *p = realloc(sb->p, cap);
        if (!p) {
            fputs("wasp: out of memory while reading configuration\n", stderr);
            abort();
        }
        sb->p = p;
        sb->cap = cap;
    }
    memcpy(sb->p + sb->n, s, n);
    sb->n += n;
    sb->p[sb->n] = '\0';
}

static const char *cfg_getenv_icase(const char *name, size_t len)
{
    /* Windows variable names are case-insensitive; prefer an exact match. */
    const char *hit = NULL;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
        if (!hit && strncasecmp(*e, name, len) == 0 && (*e)[len] == '=')
            hit = *e + len + 1;
    }
    return hit;
}

/* Expand %VAR%; *undefined receives the first variable that is not set.
 * %keep% (when keep is not NULL) is a placeholder of the value's reader,
 * copied as written even if the environment has such a variable. */
static char *cfg_expand_env_keep(wasp_config_t *cfg, const char *s, const char *keep,
                                 char *undefined, size_t usize)
{
    if (usize)
        undefined[0] = '\0';
    cfg_sb_t sb = { 0 };
    cfg_sb_add(&sb, "", 0);
    while (*s) {
        const char *pct = strchr(s, '%');
        const char *close = pct ? strchr(pct + 1, '%') : NULL;
        if (!pct || !close) {
            cfg_sb_add(&sb, s, strlen(s));
            break;
        }
        cfg_sb_add(&sb, s, (size_t)(pct - s));
        size_t len = (size_t)(close - pct - 1);
        const char *val = NULL;
        if (keep && len == strlen(keep) && strncmp(pct + 1, keep, len) == 0) {
            cfg_sb_add(&sb, pct, len + 2);
            s = close + 1;
            continue;
        }
        if (len == 11 && strncasecmp(pct + 1, "SystemDrive", 11) == 0) {
            val = getenv("WASP_SYSTEM_DRIVE");
            if (!val)
                val = "";
        } else if (len) {
            val = cfg_getenv_icase(pct + 1, len);
        }
        if (val) {
            cfg_sb_add(&sb, val, strlen(val));
            s = close + 1;
        } else {
            /* Undefined: keep "%NAME" and look for the next variable from
             * the second '%', as ExpandEnvironmentStrings does. */
            if (len && usize && !undefined[0])
                snprintf(undefined, usize, "%.*s", (int)len, pct + 1);
            cfg_sb_add(&sb, pct, (size_t)(close - pct));
            s = close;
        }
    }
    char *r = cfg_arena_strdup(&cfg->arena, sb.p);
    free(sb.p);
    return r;
}

static char *cfg_expand_env(wasp_config_t *cfg, const char *s, char *undefined, size_t usize)
{
    return cfg_expand_env_keep(cfg, s, NULL, undefined, usize);
}

/* NULL for a UNC path (\\server\share\...): a Windows file share has no
 * Linux path wasp could guess (a mount point is the administrator's
 * choice), so the caller refuses it with the file, the line and the fix
 * rather than serve whatever /server/share happens to be. */
char *cfg_map_windows_path(wasp_config_t *cfg, const char *raw, char *undefined,
                           size_t usize)
{
    char *x = cfg_expand_env(cfg, raw, undefined, usize);
    if (x[0] == '\\' && x[1] == '\\')
        return NULL;
    for (char *q = x; *q; q++)
        if (*q == '\\')
            *q = '/';
    const char *p = x;
    if (isalpha((unsigned char)p[0]) && p[1] == ':' && (p[2] == '/' || p[2] == '\0'))
        p += 2;
    cfg_sb_t sb = { 0 };
    cfg_sb_add(&sb, "", 0);
    if (*p != '/' && strcmp(cfg->dir, "/") != 0)
        cfg_sb_add(&sb, cfg->dir, strlen(cfg->dir));
    /* Rebuild segment by segment: no "//", no "/./", no trailing '/'. */
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (!len || (len == 1 && s[0] == '.'))
            continue;
        cfg_sb_add(&sb, "/", 1);
        cfg_sb_add(&sb, s, len);
    }
    if (sb.n == 0)
        cfg_sb_add(&sb, "/", 1);
    char *r = cfg_arena_strdup(&cfg->arena, sb.p);
    free(sb.p);
    return r;
}

/* Validator applicationPath / virtualDirectoryPath. */
static bool cfg_vpath_ok(const char *p)
{
    if (!p || p[0] != '/')
        return false;
    if (p[1] == '\0')
        return true;
    const char *s = p + 1;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!len || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (!e)
            return true;
        s = e + 1;
    }
}

/* ---- logging (iis-hosting.md 2.4, 3.3, 4.6) ------------------------------------------ */

static const char *const cfg_log_formats[] = { "IIS", "NCSA", "W3C", "Custom", NULL };
static const char *const cfg_log_periods[] = { "MaxSize", "Daily", "Weekly", "Monthly", "Hourly",
                                               NULL };
static const char *const cfg_log_sources[] = { "RequestHeader", "ResponseHeader",
                                               "ServerVariable", NULL };
static const char *const cfg_log_modes[] = { "Site", "CentralBinary", "CentralW3C", NULL };
static const char *const cfg_log_targets[] = { "File", "ETW", NULL };
static const uint32_t cfg_log_target_bits[] = { 1u, 2u };
static const char *const cfg_log_flag_names[] = {
    "Date", "Time", "ClientIP", "UserName", "SiteName", "ComputerName", "ServerIP", "Method",
    "UriStem", "UriQuery", "HttpStatus", "Win32Status", "BytesSent", "BytesRecv", "TimeTaken",
    "ServerPort", "UserAgent", "Cookie", "Referer", "ProtocolVersion", "Host", "HttpSubStatus",
    NULL
};
static const uint32_t cfg_log_flag_bits[] = {
    1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u, 512u, 1024u, 2048u, 4096u, 8192u, 16384u,
    32768u, 65536u, 131072u, 262144u, 524288u, 1048576u, 2097152u
};
/* Schema defaults of logExtFileFlags: Date, Time, ClientIP, UserName,
 * ServerIP, Method, UriStem, UriQuery, TimeTaken, HttpStatus, Win32Status,
 * ServerPort, UserAgent, HttpSubStatus, Referer; SiteName too for the
 * central W3C file. */
#define CFG_LOG_SITE_FLAGS                                                                \
    (1u | 2u | 4u | 8u | 64u | 128u | 256u | 512u | 16384u | 1024u | 2048u | 32768u | 65536u | \
     2097152u | 262144u)
#define CFG_LOG_CENTRAL_FLAGS (CFG_LOG_SITE_FLAGS | 16u)
#define CFG_LOG_DEFAULT_DIR "%SystemDrive%\\inetpub\\logs\\LogFiles"
#define CFG_HTTPERR_DEFAULT_DIR "%SystemRoot%\\System32\\LogFiles"

/* A directory attribute: %VARS% expanded and mapped like physicalPath. */
static int cfg_log_dir(wasp_config_t *cfg, const wasp_section_t *own, const wasp_section_t *dflt,
                       const char *name, const char *def, const char *what, char **out,
                       wasp_diag_t *diag)
{
    cfg_val_t v = cfg_get(own, dflt, name);
    char undef[128];
    if (v.value && !*v.value) {
        cfg_diag(diag, v.file, v.line,
                 "%s of %s is empty; write the folder for the log files, or remove the "
                 "attribute for the default",
                 name, what);
        return -1;
    }
    *out = cfg_map_windows_path(cfg, v.value ? v.value : def, undef, sizeof(undef));
    if (!*out) {
        cfg_diag(diag, v.file, v.line,
                 "%s \"%s\" of %s is a UNC path (a Windows file share), which wasp does not "
                 "map; mount the share and write its Linux path, e.g. /mnt/server/share/...",
                 name, v.value, what);
        return -1;
    }
    if (undef[0])
        cfg_warn(cfg, v.file, v.line,
                 "%s \"%s\" of %s uses %%%s%%, which is not set in wasp's environment; the path "
                 "is used as written (%s). Set the variable, or write the directory itself",
                 name, v.value, what, undef, *out);
    return 0;
}

/* What a site's logFile and centralW3CLogFile have in common. */
static int cfg_logfile_common(wasp_config_t *cfg, const wasp_section_t *own,
                              const wasp_section_t *dflt, const char *what, uint32_t flags,
                              wasp_logfile_cfg_t *out, wasp_diag_t *diag)
{
    int e;
    uint64_t u;
    if (cfg_get_bool(own, dflt, "enabled", true, what, &out->enabled, diag) ||
        cfg_log_dir(cfg, own, dflt, "directory", CFG_LOG_DEFAULT_DIR, what, &out->directory,
                    diag) ||
        cfg_get_enum(own, dflt, "period", cfg_log_periods, WASP_LOG_DAILY, what, &e, diag))
        return -1;
    out->period = (wasp_log_period_t)e;
    if (cfg_get_uint(own, dflt, "truncateSize", 1048576, 4294967295u, 20971520, what, &u, diag))
        return -1;
    out->truncate_size = u;
    if (cfg_get_bool(own, dflt, "localTimeRollover", false, what, &out->local_time_rollover,
                     diag) ||
        cfg_get_flags(own, dflt, "logExtFileFlags", cfg_log_flag_names, cfg_log_flag_bits, flags,
                      what, &out->ext_flags, diag))
        return -1;
    out->format = WASP_LOG_W3C;
    out->log_site_id = true;
    out->target_w3c = 1;
    out->max_line_length = 65536;
    out->max_custom_field_length = 4096;
    return 0;
}

/* logFile/customFields: siteDefaults' collection, then the site's add / clear. */
static int cfg_log_custom_fields(wasp_config_t *cfg, const wasp_section_t *own,
                                 const wasp_section_t *dflt, const char *site,
                                 wasp_logfile_cfg_t *out, wasp_diag_t *diag)
{
    const wasp_section_t *cf = wasp_section_child(own, "customFields");
    const wasp_section_t *dcf = wasp_section_child(dflt, "customFields");
    char *what = cfg_arena_printf(&cfg->arena, "<customFields> of site '%s'", site);
    cfg_node_t merged = { 0 };
    uint64_t u;
    if (cfg_get_uint(cf, dcf, "maxCustomFieldLength", 2, 65536, 4096, what, &u, diag))
        return -1;
    out->max_custom_field_length = (uint32_t)u;
    if (cfg_collection_apply(&cfg->arena,
                             cfg_collection_schema(cfg, "system.applicationHost/sites",
                                                   "site/logFile/customFields"),
                             &merged, dcf, cf, diag) != 0)
        return -1;
    out->custom = merged.pub.item_count
                      ? cfg_arena_alloc(&cfg->arena, merged.pub.item_count * sizeof(*out->custom))
                      : NULL;
    for (size_t i = 0; i < merged.pub.item_count; i++) {
        const wasp_section_t *it = merged.pub.items[i];
        wasp_log_custom_field_t *f = &out->custom[out->custom_count];
        const char *name = wasp_section_attr(it, "logFieldName");
        const char *src = wasp_section_attr(it, "sourceName");
        int type;
        if (!name || !*name || strpbrk(name, " \t\r\n") || !src || !*src) {
            cfg_diag(diag, it->file, it->line,
                     "a custom log field of site '%s' needs logFieldName (the column name, "
                     "without spaces) and sourceName (a header or server variable name), e.g. "
                     "<add logFieldName=\"X-Forwarded-For\" sourceName=\"X-Forwarded-For\" "
                     "sourceType=\"RequestHeader\" />",
                     site);
            return -1;
        }
        if (!wasp_section_attr(it, "sourceType")) {
            cfg_diag(diag, it->file, it->line,
                     "custom log field '%s' of site '%s' has no sourceType; add "
                     "sourceType=\"RequestHeader\", \"ResponseHeader\" or \"ServerVariable\"",
                     name, site);
            return -1;
        }
        if (cfg_get_enum(it, NULL, "sourceType", cfg_log_sources, 0, what, &type, diag))
            return -1;
        f->name = (char *)name;
        f->source = (char *)src;
        f->type = (wasp_log_source_t)type;
        out->custom_count++;
    }
    return 0;
}

/* A site's logFile: its own attributes, else siteDefaults/logFile's. */
static int cfg_site_log(wasp_config_t *cfg, const wasp_section_t *st,
                        const wasp_section_t *site_defaults, const char *site,
                        wasp_logfile_cfg_t *out, wasp_diag_t *diag)
{
    const wasp_section_t *own = wasp_section_child(st, "logFile");
    const wasp_section_t *dflt = wasp_section_child(site_defaults, "logFile");
    char *what = cfg_arena_printf(&cfg->arena, "<logFile> of site '%s'", site);
    int e;
    uint64_t u;
    if (cfg_logfile_common(cfg, own, dflt, what, CFG_LOG_SITE_FLAGS, out, diag) ||
        cfg_get_enum(own, dflt, "logFormat", cfg_log_formats, WASP_LOG_W3C, what, &e, diag))
        return -1;
    out->format = (wasp_log_format_t)e;
    if (cfg_get_bool(own, dflt, "logSiteId", true, what, &out->log_site_id, diag) ||
        cfg_get_flags(own, dflt, "logTargetW3C", cfg_log_targets, cfg_log_target_bits, 1u, what,
                      &out->target_w3c, diag) ||
        cfg_get_uint(own, dflt, "flushByEntryCountW3CLog", 0, UINT32_MAX, 0, what, &u, diag))
        return -1;
    out->flush_by_entry_count = (uint32_t)u;
    if (cfg_get_uint(own, dflt, "maxLogLineLength", 2, 65536, 65536, what, &u, diag))
        return -1;
    out->max_line_length = (uint32_t)u;
    return cfg_log_custom_fields(cfg, own, dflt, site, out, diag);
}

/* system.applicationHost/log, and the HTTPERR values of wasp/httpSys. */
static int cfg_build_log(wasp_config_t *cfg, wasp_diag_t *diag)
{
    const wasp_section_t *sec = cfg_server_section(cfg, "system.applicationHost/log");
    const wasp_section_t *hs = cfg_server_section(cfg, "wasp/httpSys");
    const char *what = "<log> (system.applicationHost/log)";
    const char *hwhat = "<httpSys> (wasp/httpSys)";
    wasp_log_cfg_t *out = &cfg->log;
    int e;
    uint64_t u;
    if (cfg_get_enum(sec, NULL, "centralLogFileMode", cfg_log_modes, WASP_LOG_MODE_SITE, what, &e,
                     diag))
        return -1;
    out->mode = (wasp_central_log_mode_t)e;
    if (cfg_get_bool(sec, NULL, "logInUTF8", true, what, &out->in_utf8, diag) ||
        cfg_logfile_common(cfg, wasp_section_child(sec, "centralW3CLogFile"), NULL,
                           "<centralW3CLogFile> (system.applicationHost/log)",
                           CFG_LOG_CENTRAL_FLAGS, &out->central_w3c, diag) ||
        cfg_get_uint(hs, NULL, "EnableErrorLogging", 0, 1, 1, hwhat, &u, diag))
        return -1;
    out->error_logging = u != 0;
    if (cfg_get_uint(hs, NULL, "ErrorLogFileTruncateSize", 1048576, 4294967295u, 1048576, hwhat,
                     &out->error_truncate_size, diag))
        return -1;
    /* IIS' default names a Windows folder: the same text means "wasp's
     * default" here, as does no attribute at all. */
    const char *dir = wasp_section_attr(hs, "ErrorLoggingDir");
    if (dir && strcasecmp(dir, CFG_HTTPERR_DEFAULT_DIR) != 0 &&
        cfg_log_dir(cfg, hs, NULL, "ErrorLoggingDir", CFG_HTTPERR_DEFAULT_DIR, hwhat,
                    &out->error_dir, diag))
        return -1;
    return 0;
}

const wasp_log_cfg_t *wasp_config_log(const wasp_config_t *cfg)
{
    return &cfg->log;
}

/* ---- bindings ---------------------------------------------------------------------- */

static int cfg_parse_binding(wasp_config_t *cfg, const wasp_section_t *b, const char *site,
                             wasp_binding_cfg_t *out, wasp_diag_t *diag)
{
    int line;
    const char *info = cfg_node_attr_line(b, "bindingInformation", &line);
    const char *proto = wasp_section_attr(b, "protocol");
    const char *bad = NULL;
    char ip[64] = "";
    const char *p = info ? info : "";
    if (*p == '[') {
        const char *rb = strchr(p, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - p - 1) >= sizeof(ip))
            bad = "the IPv6 address must be written in brackets, e.g. [::1]:80:";
        else {
            memcpy(ip, p + 1, (size_t)(rb - p - 1));
            ip[rb - p - 1] = '\0';
            struct in6_addr a6;
            if (inet_pton(AF_INET6, ip, &a6) != 1)
                bad = "the IP part is not a valid IPv6 address";
            p = rb + 2;
        }
    } else {
        const char *c = strchr(p, ':');
        if (!c || (size_t)(c - p) >= sizeof(ip))
            bad = "it must have the form IP:port:host";
        else {
            memcpy(ip, p, (size_t)(c - p));
            ip[c - p] = '\0';
            struct in_addr a4;
            if (!ip[0] || strcmp(ip, "*") == 0)
                strcpy(ip, "*"); /* IIS Express writes ":8080:localhost" for all addresses */
            else if (inet_pton(AF_INET, ip, &a4) != 1)
                bad = "the IP part must be *, an IPv4 address or a [bracketed] IPv6 address";
            p = c + 1;
        }
    }
    uint64_t port = 0;
    const char *host = "";
    if (!bad) {
        const char *c = strchr(p, ':');
        char num[16];
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (!c)
            bad = "it must have the form IP:port:host (the last ':' may not be left out)";
        else if (len >= sizeof(num))
            bad = "the port must be a number from 1 to 65535";
        else {
            memcpy(num, p, len);
            num[len] = '\0';
            if (!cfg_parse_uint(num, 65535, &port) || port == 0)
                bad = "the port must be a number from 1 to 65535";
            host = c + 1;
            if (strchr(host, ':') || strchr(host, '/') || strchr(host, ' '))
                bad = "the host name may not contain ':', '/' or spaces";
        }
    }
    if (bad) {
        cfg_diag(diag, b->file, line,
                 "bindingInformation=\"%s\" of site '%s' is not valid: %s. Expected "
                 "IP:port:host, e.g. \"*:80:\", \"192.168.0.1:8080:www.example.com\" or "
                 "\"[::1]:443:\" (IP is *, an IPv4 address or a [bracketed] IPv6 address; port "
                 "1-65535; host may be empty for any host name)",
                 info ? info : "", site, bad);
        return -1;
    }
    out->protocol = cfg_arena_strdup(&cfg->arena, proto);
    for (char *q = out->protocol; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    out->ip = cfg_arena_strdup(&cfg->arena, ip);
    out->port = (uint16_t)port;
    out->host = cfg_arena_strdup(&cfg->arena, host);
    for (char *q = out->host; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    out->line = b->line;
    uint64_t flags = 0;
    const char *sf = cfg_node_attr_line(b, "sslFlags", &line);
    if (sf && !cfg_parse_uint(sf, UINT32_MAX, &flags)) {
        cfg_diag(diag, b->file, line,
                 "sslFlags=\"%s\" of site '%s' is not a valid unsigned integer (bits: 1 SNI, 2 "
                 "central certificate store, 4 no HTTP/2, ...)",
                 sf, site);
        return -1;
    }
    out->ssl_flags = (uint32_t)flags;
    return 0;
}

/* ---- sites ------------------------------------------------------------------------- */

typedef struct cfg_site_ctx {
    const wasp_section_t *sec, *site_defaults, *app_defaults, *vdir_defaults;
    const cfg_coll_schema_t *bindings_schema;
} cfg_site_ctx_t;

static int cfg_build_vdirs(wasp_config_t *cfg, const cfg_site_ctx_t *sc, const wasp_section_t *st,
                           const char *site, const wasp_section_t *ap, wasp_app_cfg_t *app,
                           bool *has_root, wasp_diag_t *diag)
{
    /* virtualDirectoryDefaults: application, then site, then <sites> */
    const wasp_section_t *d1 = wasp_section_child(ap, "virtualDirectoryDefaults");
    const wasp_section_t *d2 = wasp_section_child(st, "virtualDirectoryDefaults");
    const wasp_section_t *d3 = sc->vdir_defaults;
    app->vdirs = ap->item_count ? cfg_arena_alloc(&cfg->arena, ap->item_count * sizeof(*app->vdirs))
                                : NULL;
    *has_root = false;
    for (size_t i = 0; i < ap->item_count; i++) {
        const wasp_section_t *vd = ap->items[i];
        int line;
        const char *path = cfg_node_attr_line(vd, "path", &line);
        if (!cfg_vpath_ok(path)) {
            cfg_diag(diag, vd->file, line,
                     "virtual directory path \"%s\" of application '%s' (site '%s') is not valid: "
                     "it must start with '/', must not end with '/' (except \"/\") and may not "
                     "contain empty, '.' or '..' segments",
                     path ? path : "", app->path, site);
            return -1;
        }
        cfg_val_t v = cfg_get(vd, d1, "physicalPath");
        if (!v.value)
            v = cfg_get(d2, d3, "physicalPath");
        if (!v.value || !*v.value) {
            cfg_warn(cfg, vd->file, vd->line,
                     "virtual directory '%s' of application '%s' (site '%s') has no "
                     "physicalPath; it is ignored. Set physicalPath to the directory it serves",
                     path, app->path, site);
            continue;
        }
        wasp_vdir_cfg_t *out = &app->vdirs[app->vdir_count++];
        out->path = (char *)path;
        cfg_val_t sd = cfg_get(vd, d1, "allowSubDirConfig");
        if (!sd.value)
            sd = cfg_get(d2, d3, "allowSubDirConfig");
        out->allow_sub_dir_config = true;
        if (sd.value && !cfg_parse_bool(sd.value, &out->allow_sub_dir_config)) {
            cfg_diag(diag, sd.file, sd.line,
                     "allowSubDirConfig=\"%s\" of virtual directory '%s' (application '%s', "
                     "site '%s') is not valid; use true or false",
                     sd.value, path, app->path, site);
            return -1;
        }
        char undef[128];
        out->physical_path = cfg_map_windows_path(cfg, v.value, undef, sizeof(undef));
        if (!out->physical_path) {
            cfg_diag(diag, v.file, v.line,
                     "physicalPath \"%s\" of virtual directory '%s' (application '%s', site "
                     "'%s') is a UNC path (a Windows file share), which wasp does not map; "
                     "mount the share and write its Linux path, e.g. /mnt/server/share/...",
                     v.value, path, app->path, site);
            return -1;
        }
        out->line = vd->line;
        if (undef[0])
            cfg_warn(cfg, v.file, v.line,
                     "physicalPath \"%s\" of virtual directory '%s' (application '%s', site '%s') "
                     "uses %%%s%%, which is not set in wasp's environment; the path is used as "
                     "written (%s). Set the variable, or write the directory itself",
                     v.value, path, app->path, site, undef, out->physical_path);
        if (strcmp(path, "/") == 0)
            *has_root = true;
    }
    return 0;
}

static cfg_level_t *cfg_app_level(wasp_config_t *cfg, const char *site, const char *path)
{
    cfg_level_t *lv = cfg_level_child(cfg, cfg->levels.v[0], site, strlen(site), true);
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        if (p > s)
            lv = cfg_level_child(cfg, lv, s, (size_t)(p - s), true);
    }
    return lv;
}

static int cfg_build_site(wasp_config_t *cfg, const cfg_site_ctx_t *sc, const wasp_section_t *st,
                          wasp_site_cfg_t *s, bool *keep, wasp_diag_t *diag)
{
    int line;
    *keep = false;
    const char *name = cfg_node_attr_line(st, "name", &line);
    if (!name || !*name || strchr(name, '/') || strchr(name, '?')) {
        cfg_diag(diag, st->file, line,
                 "site name \"%s\" is not valid: it must be non-empty and may not contain '/' or "
                 "'?'",
                 name ? name : "");
        return -1;
    }
    s->name = (char *)name;
    s->line = st->line;
    char *what = cfg_arena_printf(&cfg->arena, "site '%s'", name);
    const char *id = cfg_node_attr_line(st, "id", &line);
    uint64_t u;
    if (!id) {
        cfg_diag(diag, st->file, st->line,
                 "site '%s' has no id; add a unique number, e.g. id=\"%zu\" (the id names its "
                 "log folder W3SVC<id>)",
                 name, cfg->site_count + 1);
        return -1;
    }
    if (!cfg_parse_uint(id, UINT32_MAX, &u) || u == 0) {
        cfg_diag(diag, st->file, line,
                 "id=\"%s\" of site '%s' is not valid; use a whole number from 1 to 4294967295",
                 id, name);
        return -1;
    }
    s->id = (uint32_t)u;
    if (cfg_get_bool(st, sc->site_defaults, "serverAutoStart", true, what, &s->server_auto_start,
                     diag))
        return -1;
    const wasp_section_t *limits = wasp_section_child(st, "limits");
    const wasp_section_t *dlimits = wasp_section_child(sc->site_defaults, "limits");
    if (cfg_get_ts(limits, dlimits, "connectionTimeout", 0, 65535, 1, 120, what,
                   &s->connection_timeout_s, diag) ||
        cfg_get_uint(limits, dlimits, "maxConnections", 0, UINT32_MAX, UINT32_MAX, what, &u,
                     diag))
        return -1;
    s->max_connections = (uint32_t)u;
    if (cfg_get_uint(limits, dlimits, "maxBandwidth", 1024, UINT32_MAX, UINT32_MAX, what, &u,
                     diag))
        return -1;
    s->max_bandwidth = (uint32_t)u;
    if (cfg_site_log(cfg, st, sc->site_defaults, name, &s->log, diag))
        return -1;

    /* Bindings: siteDefaults/bindings, then the site's own add / clear. */
    const wasp_section_t *sb = wasp_section_child(st, "bindings");
    const wasp_section_t *db = wasp_section_child(sc->site_defaults, "bindings");
    cfg_node_t merged = { 0 };
    if (cfg_collection_apply(&cfg->arena, sc->bindings_schema, &merged, db, sb, diag) != 0)
        return -1;
    s->bindings = merged.pub.item_count ? cfg_arena_alloc(&cfg->arena, merged.pub.item_count *
                                                                           sizeof(*s->bindings))
                                        : NULL;
    for (size_t i = 0; i < merged.pub.item_count; i++) {
        const wasp_section_t *b = merged.pub.items[i];
        const char *proto = wasp_section_attr(b, "protocol");
        if (!proto || !*proto) {
            cfg_diag(diag, b->file, b->line,
                     "a binding of site '%s' has no protocol; add protocol=\"http\" or "
                     "protocol=\"https\"",
                     name);
            return -1;
        }
        /* Other protocols (net.tcp, net.pipe, ftp, ...) belong to listener
         * adapters wasp does not have: parsed by IIS, not served here. */
        if (strcasecmp(proto, "http") != 0 && strcasecmp(proto, "https") != 0)
            continue;
        if (cfg_parse_binding(cfg, b, name, &s->bindings[s->binding_count], diag) != 0)
            return -1;
        s->binding_count++;
    }

    /* Applications */
    const wasp_section_t *ad1 = wasp_section_child(st, "applicationDefaults");
    s->apps = st->item_count ? cfg_arena_alloc(&cfg->arena, st->item_count * sizeof(*s->apps))
                             : NULL;
    bool has_root = false;
    for (size_t i = 0; i < st->item_count; i++) {
        const wasp_section_t *ap = st->items[i];
        const char *path = cfg_node_attr_line(ap, "path", &line);
        if (!cfg_vpath_ok(path)) {
            cfg_diag(diag, ap->file, line,
                     "application path \"%s\" of site '%s' is not valid: it must start with '/', "
                     "must not end with '/' (except \"/\") and may not contain empty, '.' or "
                     "'..' segments",
                     path ? path : "", name);
            return -1;
        }
        cfg_val_t pool = cfg_get(ap, ad1, "applicationPool");
        if (!pool.value)
            pool = cfg_get(sc->app_defaults, NULL, "applicationPool");
        if (!pool.value || !*pool.value) {
            cfg_warn(cfg, ap->file, ap->line,
                     "application '%s' of site '%s' has no applicationPool, and no "
                     "<applicationDefaults> names one; the application is ignored. Set "
                     "applicationPool=\"DefaultAppPool\" on it or on <applicationDefaults>",
                     path, name);
            continue;
        }
        if (!wasp_config_find_pool(cfg, pool.value)) {
            cfg_warn(cfg, pool.file ? pool.file : ap->file, pool.file ? pool.line : ap->line,
                     "application '%s' of site '%s' uses application pool '%s', which does not "
                     "exist; the application is ignored (its URLs fall to the parent "
                     "application). Add <add name=\"%s\" /> to <applicationPools>, or set "
                     "applicationPool to an existing pool",
                     path, name, pool.value, pool.value);
            continue;
        }
        wasp_app_cfg_t *app = &s->apps[s->app_count];
        app->path = (char *)path;
        app->pool = (char *)wasp_config_find_pool(cfg, pool.value)->name;
        app->line = ap->line;
        bool vroot;
        if (cfg_build_vdirs(cfg, sc, st, name, ap, app, &vroot, diag) != 0)
            return -1;
        if (!vroot) {
            cfg_warn(cfg, ap->file, ap->line,
                     "application '%s' of site '%s' has no root virtual directory; it is "
                     "ignored. Add <virtualDirectory path=\"/\" physicalPath=\"...\" /> to it",
                     path, name);
            continue;
        }
        s->app_count++;
        if (strcmp(path, "/") == 0)
            has_root = true;
    }
    if (!has_root) {
        cfg_warn(cfg, st->file, st->line,
                 "site '%s' has no root application; it is not started (its bindings are not "
                 "listened on). Add <application path=\"/\"> with a <virtualDirectory "
                 "path=\"/\" physicalPath=\"...\" /> to it",
                 name);
        return 0;
    }
    *keep = true;
    return 0;
}

static int cfg_build_sites(wasp_config_t *cfg, wasp_diag_t *diag)
{
    const wasp_section_t *sec = cfg_server_section(cfg, "system.applicationHost/sites");
    if (!sec)
        return 0;
    cfg_site_ctx_t sc = {
        .sec = sec,
        .site_defaults = wasp_section_child(sec, "siteDefaults"),
        .app_defaults = wasp_section_child(sec, "applicationDefaults"),
        .vdir_defaults = wasp_section_child(sec, "virtualDirectoryDefaults"),
        .bindings_schema = cfg_collection_schema(cfg, "system.applicationHost/sites",
                                                 "site/bindings"),
    };
    cfg->sites = sec->item_count ? cfg_arena_alloc(&cfg->arena,
                                                   sec->item_count * sizeof(*cfg->sites))
                                 : NULL;
    cfg_map_t ids, binds;
    cfg_map_init(&ids, false);
    cfg_map_init(&binds, true);
    int rc = 0;
    for (size_t i = 0; i < sec->item_count && rc == 0; i++) {
        const wasp_section_t *st = sec->items[i];
        wasp_site_cfg_t *s = &cfg->sites[cfg->site_count];
        memset(s, 0, sizeof(*s));
        bool keep;
        if (cfg_build_site(cfg, &sc, st, s, &keep, diag) != 0) {
            rc = -1;
            break;
        }
        const wasp_section_t *other = cfg_map_get(&ids, s->id, "", 0);
        if (other) {
            cfg_diag(diag, st->file, st->line,
                     "site '%s' has id %u, which site '%s' (line %d) already has; give each site "
                     "its own id",
                     s->name, s->id, wasp_section_attr(other, "name"), other->line);
            rc = -1;
            break;
        }
        cfg_map_put(&ids, s->id, "", 0, (void *)st);
        if (!keep)
            continue;
        for (size_t b = 0; b < s->binding_count; b++) {
            wasp_binding_cfg_t *bd = &s->bindings[b];
            char *key = cfg_arena_printf(&cfg->arena, "%s:%u:%s", bd->ip, bd->port, bd->host);
            const wasp_site_cfg_t *owner = cfg_map_get(&binds, 0, key, strlen(key));
            if (owner && owner != s) {
                cfg_diag(diag, st->file, bd->line,
                         "binding %s %s%s%s:%u:%s of site '%s' is already used by site '%s' "
                         "(line %d): two sites cannot share one IP:port:host; change the port, "
                         "the IP address or the host name of one of them",
                         bd->protocol, strchr(bd->ip, ':') ? "[" : "", bd->ip,
                         strchr(bd->ip, ':') ? "]" : "", bd->port, bd->host, s->name,
                         owner->name, owner->line);
                rc = -1;
                break;
            }
            cfg_map_put(&binds, 0, key, strlen(key), s);
        }
        if (rc)
            break;
        /* Application roots become levels of the configuration tree, for
         * inheritInChildApplications. */
        for (size_t a = 0; a < s->app_count; a++)
            cfg_app_level(cfg, s->name, s->apps[a].path)->is_app_root = true;
        cfg->site_count++;
    }
    cfg_map_free(&ids);
    cfg_map_free(&binds);
    return rc;
}

/* ---- wasp/httpSys: HTTP.sys' registry parameters (KB 820129) ------------------------- */

/* On Windows these live in the registry, outside applicationHost.config;
 * wasp keeps them in its own section so one file describes the server.  The
 * attribute names are the registry value names, with their defaults and
 * ranges (iis-hosting.md 4.1). */
int wasp_config_httpsys(const wasp_config_t *cfg, wasp_httpsys_cfg_t *out, wasp_diag_t *diag)
{
    const wasp_section_t *sec = cfg_server_section(cfg, "wasp/httpSys");
    const char *what = "<httpSys> (wasp/httpSys)";
    uint64_t u;

    memset(out, 0, sizeof(*out));
    if (cfg_get_uint(sec, NULL, "MaxFieldLength", 64, 65534, 16384, what, &u, diag))
        return -1;
    out->max_field_length = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "MaxRequestBytes", 256, 16777216, 16384, what, &u, diag))
        return -1;
    out->max_request_bytes = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "UrlSegmentMaxLength", 0, 32766, 260, what, &u, diag))
        return -1;
    out->url_segment_max_length = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "UrlSegmentMaxCount", 0, 16383, 255, what, &u, diag))
        return -1;
    out->url_segment_max_count = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "AllowRestrictedChars", 0, 1, 0, what, &u, diag))
        return -1;
    out->allow_restricted_chars = u != 0;
    if (cfg_get_uint(sec, NULL, "PercentUAllowed", 0, 1, 1, what, &u, diag))
        return -1;
    out->percent_u_allowed = u != 0;
    if (cfg_get_uint(sec, NULL, "EnableNonUTF8", 0, 1, 1, what, &u, diag))
        return -1;
    out->enable_non_utf8 = u != 0;
    if (cfg_get_uint(sec, NULL, "FavorUTF8", 0, 1, 1, what, &u, diag))
        return -1;
    out->favor_utf8 = u != 0;
    if (cfg_get_uint(sec, NULL, "EnableHttp2Tls", 0, 1, 1, what, &u, diag))
        return -1;
    out->enable_http2_tls = u != 0;
    if (cfg_get_uint(sec, NULL, "EnableHttp2Cleartext", 0, 1, 1, what, &u, diag))
        return -1;
    out->enable_http2_cleartext = u != 0;
    if (cfg_get_uint(sec, NULL, "Http2MaxConcurrentStreams", 1, 1000, 100, what, &u, diag))
        return -1;
    out->http2_max_streams = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "Http2MaxSettingsPerFrame", 7, 2796202, 32, what, &u, diag))
        return -1;
    out->http2_settings_per_frame = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "Http2MaxSettingsPerMinute", 7, UINT32_MAX, 1000, what, &u, diag))
        return -1;
    out->http2_settings_per_minute = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "Http2MaxResetsPer10Seconds", 1, 100000, 200, what, &u, diag))
        return -1;
    out->http2_resets_per_10s = (uint32_t)u;
    /* The registry's default is computed from memory; 4294967295 here: no
     * limit of wasp's own (the descriptor limit still applies). */
    if (cfg_get_uint(sec, NULL, "MaxConnections", 1024, UINT32_MAX, UINT32_MAX, what, &u, diag))
        return -1;
    out->max_connections = (uint32_t)u;
    /* The kernel cache's own switches (the response cache, listener/cache.c). */
    if (cfg_get_uint(sec, NULL, "UriEnableCache", 0, 1, 1, what, &u, diag))
        return -1;
    out->uri_enable_cache = u != 0;
    if (cfg_get_uint(sec, NULL, "UriMaxUriBytes", 4096, 16777216, 262144, what, &u, diag))
        return -1;
    out->uri_max_uri_bytes = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "UriScavengerPeriod", 10, UINT32_MAX, 120, what, &u, diag))
        return -1;
    out->uri_scavenger_period_s = (uint32_t)u;
    /* "If MaxRequestBytes is lower than MaxFieldLength, MaxFieldLength is
     * reduced to it" (KB 820129). */
    if (out->max_field_length > out->max_request_bytes)
        out->max_field_length = out->max_request_bytes;
    return 0;
}

int wasp_config_weblimits(const wasp_config_t *cfg, wasp_weblimits_cfg_t *out, wasp_diag_t *diag)
{
    const wasp_section_t *sec = cfg_server_section(cfg, "system.applicationHost/webLimits");
    const char *what = "<webLimits> (system.applicationHost/webLimits)";
    uint64_t u;

    memset(out, 0, sizeof(*out));
    if (cfg_get_ts(sec, NULL, "connectionTimeout", 0, 65535, 1, 120, what,
                   &out->connection_timeout_s, diag) ||
        cfg_get_ts(sec, NULL, "headerWaitTimeout", 0, 65535, 1, 0, what,
                   &out->header_wait_timeout_s, diag) ||
        cfg_get_uint(sec, NULL, "minBytesPerSecond", 0, UINT32_MAX, 240, what, &u, diag))
        return -1;
    out->min_bytes_per_second = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "maxGlobalBandwidth", 1024, UINT32_MAX, UINT32_MAX, what, &u,
                     diag))
        return -1;
    out->max_global_bandwidth = (uint32_t)u;
    if (cfg_get_uint(sec, NULL, "dynamicIdleThreshold", 0, 10000, 0, what, &u, diag))
        return -1;
    out->dynamic_idle_threshold = (uint32_t)u;
    return 0;
}

int cfg_apphost_build(wasp_config_t *cfg, wasp_diag_t *diag)
{
    wasp_httpsys_cfg_t hs;
    wasp_weblimits_cfg_t wl;

    if (cfg_build_pools(cfg, diag) != 0)
        return -1;
    if (wasp_config_httpsys(cfg, &hs, diag) != 0 || wasp_config_weblimits(cfg, &wl, diag) != 0)
        return -1;
    if (cfg_build_log(cfg, diag) != 0)
        return -1;
    return cfg_build_sites(cfg, diag);
}

/* ---- comparing pools ---------------------------------------------------------------- */

static bool cfg_str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool wasp_pool_cfg_same(const wasp_pool_cfg_t *a, const wasp_pool_cfg_t *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    /* Everything a running worker was started with, or that the activation
     * service applies to it; not name (the pools are matched by name), not
     * autoStart (only read when waspd starts), not file and line. */
    if (a->queue_length != b->queue_length || a->start_mode != b->start_mode ||
        !cfg_str_eq(a->managed_runtime_version, b->managed_runtime_version) ||
        !cfg_str_eq(a->managed_pipeline_mode, b->managed_pipeline_mode) ||
        a->enable_32bit_app_on_win64 != b->enable_32bit_app_on_win64 ||
        a->enable_configuration_override != b->enable_configuration_override ||
        a->pass_anonymous_token != b->pass_anonymous_token ||
        !cfg_str_eq(a->managed_runtime_loader, b->managed_runtime_loader) ||
        !cfg_str_eq(a->clr_config_file, b->clr_config_file))
        return false;
    if (!cfg_str_eq(a->identity_type, b->identity_type) ||
        !cfg_str_eq(a->user_name, b->user_name) || a->load_user_profile != b->load_user_profile ||
        a->set_profile_environment != b->set_profile_environment ||
        !cfg_str_eq(a->logon_type, b->logon_type) ||
        a->manual_group_membership != b->manual_group_membership ||
        !cfg_str_eq(a->request_queue_delegator_identity, b->request_queue_delegator_identity) ||
        a->max_processes != b->max_processes || a->idle_timeout_s != b->idle_timeout_s ||
        a->idle_timeout_action != b->idle_timeout_action ||
        a->startup_time_limit_s != b->startup_time_limit_s ||
        a->shutdown_time_limit_s != b->shutdown_time_limit_s ||
        a->ping_interval_s != b->ping_interval_s ||
        a->ping_response_time_s != b->ping_response_time_s ||
        a->pinging_enabled != b->pinging_enabled ||
        a->log_event_on_idle_timeout != b->log_event_on_idle_timeout)
        return false;
    if (a->disallow_overlapping_rotation != b->disallow_overlapping_rotation ||
        a->disallow_rotation_on_config_change != b->disallow_rotation_on_config_change ||
        a->log_event_on_recycle != b->log_event_on_recycle ||
        a->restart_time_s != b->restart_time_s || a->restart_requests != b->restart_requests ||
        a->restart_memory_kb != b->restart_memory_kb ||
        a->restart_private_memory_kb != b->restart_private_memory_kb ||
        a->restart_schedule_count != b->restart_schedule_count)
        return false;
    for (size_t i = 0; i < a->restart_schedule_count; i++)
        if (a->restart_schedule_s[i] != b->restart_schedule_s[i])
            return false;
    if (a->rapid_fail_protection != b->rapid_fail_protection ||
        a->rapid_fail_interval_s != b->rapid_fail_interval_s ||
        a->rapid_fail_max_crashes != b->rapid_fail_max_crashes ||
        a->load_balancer_capabilities != b->load_balancer_capabilities ||
        a->orphan_worker_process != b->orphan_worker_process ||
        !cfg_str_eq(a->orphan_action_exe, b->orphan_action_exe) ||
        !cfg_str_eq(a->orphan_action_params, b->orphan_action_params) ||
        !cfg_str_eq(a->auto_shutdown_exe, b->auto_shutdown_exe) ||
        !cfg_str_eq(a->auto_shutdown_params, b->auto_shutdown_params))
        return false;
    if (a->cpu_limit != b->cpu_limit || a->cpu_action != b->cpu_action ||
        a->cpu_reset_interval_s != b->cpu_reset_interval_s ||
        a->cpu_smp_affinitized != b->cpu_smp_affinitized || a->cpu_smp_mask != b->cpu_smp_mask ||
        a->cpu_processor_group != b->cpu_processor_group ||
        !cfg_str_eq(a->cpu_numa_node_assignment, b->cpu_numa_node_assignment) ||
        !cfg_str_eq(a->cpu_numa_node_affinity_mode, b->cpu_numa_node_affinity_mode))
        return false;
    /* Same variables in the same order: the order is the environment's. */
    if (a->env_count != b->env_count)
        return false;
    for (size_t i = 0; i < a->env_count; i++)
        if (!cfg_str_eq(a->env[i].name, b->env[i].name) ||
            !cfg_str_eq(a->env[i].value, b->env[i].value))
            return false;
    return true;
}

/* ---- lookups ---------------------------------------------------------------------- */

size_t wasp_config_pool_count(const wasp_config_t *cfg)
{
    return cfg ? cfg->pool_count : 0;
}

const wasp_pool_cfg_t *wasp_config_pool(const wasp_config_t *cfg, size_t i)
{
    return cfg && i < cfg->pool_count ? &cfg->pools[i] : NULL;
}

const wasp_pool_cfg_t *wasp_config_find_pool(const wasp_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->pool_count; i++)
        if (strcasecmp(cfg->pools[i].name, name) == 0)
            return &cfg->pools[i];
    return NULL;
}

size_t wasp_config_site_count(const wasp_config_t *cfg)
{
    return cfg ? cfg->site_count : 0;
}

const wasp_site_cfg_t *wasp_config_site(const wasp_config_t *cfg, size_t i)
{
    return cfg && i < cfg->site_count ? &cfg->sites[i] : NULL;
}

const wasp_site_cfg_t *wasp_config_find_site_by_id(const wasp_config_t *cfg, uint32_t id)
{
    for (size_t i = 0; cfg && i < cfg->site_count; i++)
        if (cfg->sites[i].id == id)
            return &cfg->sites[i];
    return NULL;
}

const wasp_site_cfg_t *wasp_config_find_site(const wasp_config_t *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->site_count; i++)
        if (strcasecmp(cfg->sites[i].name, name) == 0)
            return &cfg->sites[i];
    return NULL;
}

int wasp_config_map_url(const wasp_config_t *cfg, const wasp_site_cfg_t *site, const char *url_path,
                        const wasp_app_cfg_t **app, const wasp_vdir_cfg_t **vdir, char *phys,
                        size_t phys_size)
{
    (void)cfg;
    if (!site || !url_path || url_path[0] != '/')
        return -1;
    const wasp_app_cfg_t *best = NULL;
    const char *rest = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < site->app_count; i++) {
        const char *r;
        size_t len = strlen(site->apps[i].path);
        if ((!best || len > best_len) && cfg_path_prefix(site->apps[i].path, url_path, &r)) {
            best = &site->apps[i];
            best_len = len;
            rest = r;
        }
    }
    if (!best)
        return -1;
    const wasp_vdir_cfg_t *bv = NULL;
    const char *vrest = NULL;
    size_t bv_len = 0;
    for (size_t i = 0; i < best->vdir_count; i++) {
        const char *r;
        size_t len = strlen(best->vdirs[i].path);
        if ((!bv || len > bv_len) && cfg_path_prefix(best->vdirs[i].path, rest, &r)) {
            bv = &best->vdirs[i];
            bv_len = len;
            vrest = r;
        }
    }
    if (!bv)
        return -1;
    if (app)
        *app = best;
    if (vdir)
        *vdir = bv;
    if (phys) {
        const char *base = bv->physical_path;
        if (strcmp(base, "/") == 0 && *vrest == '/')
            base = "";
        int n = snprintf(phys, phys_size, "%s%s", base, vrest);
        if (n < 0 || (size_t)n >= phys_size)
            return -1;
    }
    return 0;
}
