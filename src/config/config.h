/*
 * The configuration system: applicationHost.config read with libxml2 into a
 * tree of nodes that keep their file and line, sections declared by
 * <configSections> (or by wasp's built-in declarations when the file has
 * none), collections merged (add / remove / clear) with the keys of the
 * built-in schema table, and <location path> tags applied down the URL
 * hierarchy.
 *
 * This is the seed of the full IIS configuration system (issue "IIS
 * configuration system"): schema files, web.config merging and locking grow
 * from the same node model and the same section lookup.
 *
 * Errors are for people: every failure fills a wasp_diag_t with the file, the
 * line and a sentence that says what is wrong and how to fix it.
 */
#ifndef WASP_CONFIG_H
#define WASP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "wasp/module.h"

typedef struct wasp_diag {
    char file[512];
    int line;           /* 0 when not tied to a line */
    char message[1024]; /* what is wrong, then how to fix it */
} wasp_diag_t;

/* Format "file:line: message" into buf (for logs and stderr). */
const char *wasp_diag_format(const wasp_diag_t *d, char *buf, size_t size);

/* ---- node model ---------------------------------------------------------- */
/* struct wasp_section is the public name (include/wasp/module.h) of a node. */
typedef struct wasp_attr {
    char *name;
    char *value;
    int line;
} wasp_attr_t;

struct wasp_section {
    char *name;                 /* element name, e.g. "mimeMap" or "staticContent" */
    const char *file;           /* file it came from (shared string) */
    int line;
    wasp_attr_t *attrs;
    size_t attr_count;
    struct wasp_section **children; /* child elements in document order */
    size_t child_count;
    /* For a collection element: the effective items after add/remove/clear
     * merging (pointers to "add"-kind children, possibly of other files). */
    struct wasp_section **items;
    size_t item_count;
};
typedef struct wasp_section wasp_node_t;
/* Nodes read from the file keep every child element in document order.  An
 * effective section that merges several levels (wasp_config_section) lists
 * as children only the non-collection elements, merged; its collection
 * directives (add / remove / clear) are already applied in items. */

/* ---- system.applicationHost model ---------------------------------------- */
typedef enum wasp_start_mode { WASP_START_ON_DEMAND = 0, WASP_START_ALWAYS_RUNNING = 1 } wasp_start_mode_t;

typedef enum wasp_idle_action { WASP_IDLE_TERMINATE = 0, WASP_IDLE_SUSPEND = 1 } wasp_idle_action_t;
typedef enum wasp_lb_caps { WASP_LB_HTTP_LEVEL = 2, WASP_LB_TCP_LEVEL = 1 } wasp_lb_caps_t;
typedef enum wasp_cpu_action {
    WASP_CPU_NO_ACTION = 0,
    WASP_CPU_KILL_W3WP = 1,
    WASP_CPU_THROTTLE = 2,
    WASP_CPU_THROTTLE_UNDER_LOAD = 3
} wasp_cpu_action_t;

/* recycling/@logEventOnRecycle flags (iis-hosting.md 1.3); also the
 * reasons a worker is recycled for. */
#define WASP_RECYCLE_TIME 1u
#define WASP_RECYCLE_REQUESTS 2u
#define WASP_RECYCLE_SCHEDULE 4u
#define WASP_RECYCLE_MEMORY 8u
#define WASP_RECYCLE_ISAPI_UNHEALTHY 16u
#define WASP_RECYCLE_ON_DEMAND 32u
#define WASP_RECYCLE_CONFIG_CHANGE 64u
#define WASP_RECYCLE_PRIVATE_MEMORY 128u

typedef struct wasp_env_var {
    char *name;
    char *value;
} wasp_env_var_t;

/* One application pool with every attribute resolved: the pool's <add>,
 * else <applicationPoolDefaults>, else the schema default (iis-hosting.md
 * 1.1-1.8).  Times are in seconds unless the name says otherwise. */
typedef struct wasp_pool_cfg {
    char *name;
    uint32_t queue_length;          /* 10..65535, default 1000 */
    bool auto_start;                /* default true */
    wasp_start_mode_t start_mode;   /* default OnDemand */
    char *managed_runtime_version;  /* default "" */
    char *managed_pipeline_mode;    /* "Integrated" / "Classic" */
    bool enable_32bit_app_on_win64; /* Windows only: stored and reported */
    bool enable_configuration_override; /* default true */
    bool pass_anonymous_token;      /* default true */
    char *managed_runtime_loader;   /* Windows only, default "webengine4.dll" */
    char *clr_config_file;          /* Windows only, default "" */
    /* processModel */
    char *identity_type;            /* processModel/@identityType, default ApplicationPoolIdentity */
    char *user_name;                /* processModel/@userName, default "" */
    bool load_user_profile;         /* default false */
    bool set_profile_environment;   /* default true: HOME, USER, LOGNAME, SHELL of the identity */
    char *logon_type;               /* Windows only: "LogonBatch" / "LogonService" */
    bool manual_group_membership;   /* Windows only, default false */
    char *request_queue_delegator_identity; /* Windows only, default "" */
    uint32_t max_processes;         /* processModel/@maxProcesses, default 1 */
    uint32_t idle_timeout_s;        /* processModel/@idleTimeout, default 20 min, 0 = never */
    wasp_idle_action_t idle_timeout_action; /* default Terminate */
    uint32_t startup_time_limit_s;  /* default 90 s */
    uint32_t shutdown_time_limit_s; /* default 90 s */
    uint32_t ping_interval_s;       /* default 30 s */
    uint32_t ping_response_time_s;  /* default 90 s */
    bool pinging_enabled;           /* default true */
    bool log_event_on_idle_timeout; /* processModel/@logEventOnProcessModel has IdleTimeout */
    /* recycling */
    bool disallow_overlapping_rotation;     /* default false */
    bool disallow_rotation_on_config_change; /* default false */
    uint32_t log_event_on_recycle;  /* WASP_RECYCLE_* flags; IIS 10 default: all of them */
    uint32_t restart_time_s;        /* periodicRestart/@time, default 29:00:00, 0 = never */
    uint32_t restart_requests;      /* periodicRestart/@requests, 0 = never */
    uint32_t restart_memory_kb;     /* periodicRestart/@memory (virtual), 0 = never */
    uint32_t restart_private_memory_kb; /* periodicRestart/@privateMemory, 0 = never */
    uint32_t *restart_schedule_s;   /* periodicRestart/schedule: seconds after local
                                       midnight, ascending */
    size_t restart_schedule_count;
    /* failure */
    bool rapid_fail_protection;             /* default true */
    uint32_t rapid_fail_interval_s;         /* default 5 min */
    uint32_t rapid_fail_max_crashes;        /* default 5 */
    wasp_lb_caps_t load_balancer_capabilities; /* default HttpLevel */
    bool orphan_worker_process;             /* default false */
    char *orphan_action_exe;                /* %VARS% expanded, default "" */
    char *orphan_action_params;             /* "%1%" is the orphaned worker's pid */
    char *auto_shutdown_exe;                /* run when the pool is stopped by rapid-fail */
    char *auto_shutdown_params;
    /* cpu */
    uint32_t cpu_limit;             /* 1/1000 of a percent, 0..100000, 0 = no limit */
    wasp_cpu_action_t cpu_action;   /* default NoAction */
    uint32_t cpu_reset_interval_s;  /* default 5 min */
    bool cpu_smp_affinitized;       /* default false */
    uint64_t cpu_smp_mask;          /* smpProcessorAffinityMask2 << 32 | smpProcessorAffinityMask */
    uint32_t cpu_processor_group;   /* Windows only, default 0 */
    char *cpu_numa_node_assignment; /* Windows only: "MostAvailableMemory" / "WindowsScheduling" */
    char *cpu_numa_node_affinity_mode; /* Windows only: "Soft" / "Hard" */
    /* environmentVariables: the pool's own, merged from the defaults */
    wasp_env_var_t *env;
    size_t env_count;
    const char *file;
    int line;
} wasp_pool_cfg_t;

/* The worker-visible settings of two pools are the same: false means a
 * running pool must be recycled to apply the new ones (recycling/
 * @disallowRotationOnConfigChange).  autoStart is not one of them: it only
 * says what to do when waspd starts. */
bool wasp_pool_cfg_same(const wasp_pool_cfg_t *a, const wasp_pool_cfg_t *b);

typedef struct wasp_binding_cfg {
    char *protocol;     /* "http", "https", ... lower-cased */
    char *ip;           /* "*" or an IPv4 / IPv6 literal (no brackets) */
    uint16_t port;
    char *host;         /* "" = any host; lower-cased */
    uint32_t ssl_flags;
    int line;
} wasp_binding_cfg_t;

typedef struct wasp_vdir_cfg {
    char *path;          /* relative to the application, "/" = root vdir */
    char *physical_path; /* %VARS% expanded, relative paths resolved against the
                            config file's directory, no trailing '/' */
    bool allow_sub_dir_config; /* default true; false: web.config files in the
                                  folders below this vdir's own are not read */
    int line;
} wasp_vdir_cfg_t;

typedef struct wasp_app_cfg {
    char *path;          /* "/" or "/app" (no trailing '/') */
    char *pool;          /* resolved through applicationDefaults */
    wasp_vdir_cfg_t *vdirs;
    size_t vdir_count;
    int line;
} wasp_app_cfg_t;

/* Logging (iis-hosting.md 2.4, 3.3, 4.6, 5).  Enum and flag values are
 * IIS' schema numbers. */
typedef enum wasp_log_format {
    WASP_LOG_IIS = 0,
    WASP_LOG_NCSA = 1,
    WASP_LOG_W3C = 2,
    WASP_LOG_CUSTOM = 3
} wasp_log_format_t;
typedef enum wasp_log_period {
    WASP_LOG_MAXSIZE = 0,
    WASP_LOG_DAILY = 1,
    WASP_LOG_WEEKLY = 2,
    WASP_LOG_MONTHLY = 3,
    WASP_LOG_HOURLY = 4
} wasp_log_period_t;
typedef enum wasp_log_source {
    WASP_LOG_REQUEST_HEADER = 0,
    WASP_LOG_RESPONSE_HEADER = 1,
    WASP_LOG_SERVER_VARIABLE = 2
} wasp_log_source_t;

/* logFile/customFields/add */
typedef struct wasp_log_custom_field {
    char *name;   /* logFieldName: the column */
    char *source; /* sourceName: a header or server variable */
    wasp_log_source_t type;
} wasp_log_custom_field_t;

/* A site's logFile (its own attributes, else siteDefaults', else the
 * schema's), or system.applicationHost/log/centralW3CLogFile (which has
 * only enabled, directory, period, truncateSize, localTimeRollover and
 * logExtFileFlags; the rest keep the schema defaults). */
typedef struct wasp_logfile_cfg {
    bool enabled;
    wasp_log_format_t format;      /* logFormat, default W3C */
    char *directory;               /* resolved like physicalPath; W3SVC<id> is added later */
    wasp_log_period_t period;      /* default Daily */
    uint64_t truncate_size;        /* 1048576..4294967295, default 20971520 */
    bool local_time_rollover;
    uint32_t ext_flags;            /* logExtFileFlags */
    bool log_site_id;              /* s-sitename is W3SVC<id> (true) or the site's name */
    uint32_t target_w3c;           /* logTargetW3C: 1 File, 2 ETW */
    uint32_t flush_by_entry_count; /* flushByEntryCountW3CLog, 0 = by size and time */
    uint32_t max_line_length;      /* maxLogLineLength, 2..65536 */
    uint32_t max_custom_field_length; /* customFields/@maxCustomFieldLength, 2..65536 */
    wasp_log_custom_field_t *custom;
    size_t custom_count;
} wasp_logfile_cfg_t;

typedef enum wasp_central_log_mode {
    WASP_LOG_MODE_SITE = 0,
    WASP_LOG_MODE_CENTRAL_BINARY = 1,
    WASP_LOG_MODE_CENTRAL_W3C = 2
} wasp_central_log_mode_t;

/* Server-wide logging: system.applicationHost/log, and the HTTPERR log of
 * wasp/httpSys (EnableErrorLogging, ErrorLogFileTruncateSize,
 * ErrorLoggingDir: HTTP.sys' registry values). */
typedef struct wasp_log_cfg {
    wasp_central_log_mode_t mode; /* centralLogFileMode, default Site */
    bool in_utf8;                 /* logInUTF8, default true: the "u_" file prefix */
    wasp_logfile_cfg_t central_w3c;
    bool error_logging;           /* default 1 */
    uint64_t error_truncate_size; /* default and minimum 1 MB */
    char *error_dir;              /* resolved; NULL = not set (IIS' default is a
                                     Windows path: the caller picks its own) */
} wasp_log_cfg_t;

typedef struct wasp_site_cfg {
    char *name;
    uint32_t id;
    bool server_auto_start;
    wasp_binding_cfg_t *bindings;
    size_t binding_count;
    wasp_app_cfg_t *apps;
    size_t app_count;
    uint32_t connection_timeout_s; /* limits/@connectionTimeout, default 120 */
    uint32_t max_connections;      /* limits/@maxConnections, 4294967295 = unlimited */
    uint32_t max_bandwidth;        /* limits/@maxBandwidth bytes/s, 4294967295 = unlimited */
    wasp_logfile_cfg_t log;        /* logFile merged with siteDefaults/logFile */
    int line;
} wasp_site_cfg_t;

typedef struct wasp_config wasp_config_t;

/* Read and check applicationHost.config.  NULL on error, diag filled. */
wasp_config_t *wasp_config_load(const char *path, wasp_diag_t *diag);

/* Flags of wasp_config_load_ex(). */
#define WASP_CONFIG_STRICT 0x1u /* treat warnings (below) as errors: for "waspctl check" */
/* Encrypted values ("[enc:Provider:DATA:enc]", src/config/protect.h) that
 * wasp uses (the processModel password of a SpecificUser pool) are plain
 * strings to a load without these flags, as they are to IIS' configuration
 * system.  CHECK_ENCRYPTED refuses, without the key, one wasp can never
 * read: a Windows or unknown provider's, a damaged one (waspctl).
 * DECRYPT also decrypts each with the key of wasp_protect_key_file(), so a
 * changed value or another key's is refused too (waspd, which holds the
 * key; the key file is read when the first such value needs it). */
#define WASP_CONFIG_CHECK_ENCRYPTED 0x2u
#define WASP_CONFIG_DECRYPT 0x4u

wasp_config_t *wasp_config_load_ex(const char *path, unsigned flags, wasp_diag_t *diag);

/* Load the file at path, but report display_path in every diagnostic and
 * node (file names), and resolve relative paths (physicalPath and the like)
 * against display_path's directory: a worker reads its pool's copy (below)
 * yet every message names applicationHost.config, line for line.  Errors
 * opening or reading path itself name path.  wasp_config_path() returns
 * display_path.  display_path NULL or "" = path (wasp_config_load_ex). */
wasp_config_t *wasp_config_load_as(const char *path, const char *display_path, unsigned flags,
                                   wasp_diag_t *diag);

/* Write to out_path what the workers of pool `pool` may see of cfg's file
 * (WAS gives each pool's worker a copy of the configuration with only its
 * own pool in it): the same bytes, read again from the file cfg was loaded
 * from, except that these elements are blanked out (every byte but line
 * breaks replaced by a space, so every remaining line and column stays where
 * it was):
 *   - in system.applicationHost/applicationPools, each <add> of another pool
 *     (names compare case-insensitively, as wasp_config_find_pool does);
 *   - in system.applicationHost/sites, each <application> that the loaded
 *     model does not give to this pool (pools resolved through
 *     applicationDefaults; applications matched by site name and path, and
 *     applications the model left out are blanked too), and each <site> left
 *     with no application of this pool.
 * Everything else stays (comments, configSections, siteDefaults and the
 * other defaults elements, system.webServer, <location> tags), and the copy
 * is checked to keep the pool's own <add> and every application the model
 * gives it.  system.applicationHost may be at the top level or in a
 * <location>; a section with configSource is left as it is (wasp does not
 * read the other file).  A site whose root application is another pool's
 * keeps only this pool's applications, so the copy's loader finds no root
 * and leaves the site out (a warning).  The file is written atomically (temp
 * file in the same directory, fsync, rename) with mode 0600 and, when
 * running as root, owner uid/gid.  Returns 0, or -1 with a sentence in err
 * (nothing written). */
int wasp_config_write_pool_copy(const wasp_config_t *cfg, const char *pool, const char *out_path,
                                uid_t uid, gid_t gid, char *err, size_t err_size);

/* Warnings: problems that IIS' WAS reports in the event log and survives by
 * ignoring one object, so wasp loads the file and leaves that object out of
 * the model: an application whose applicationPool does not exist (the URL
 * falls to the parent application), a site without a root application "/"
 * (the site is not started), an application without a root virtual
 * directory, settings written on a section group.  waspd logs them at start. */
size_t wasp_config_warning_count(const wasp_config_t *cfg);
const wasp_diag_t *wasp_config_warning(const wasp_config_t *cfg, size_t i);
void wasp_config_free(wasp_config_t *cfg);
/* The path messages name: the one given to wasp_config_load(_ex), or
 * wasp_config_load_as' display_path. */
const char *wasp_config_path(const wasp_config_t *cfg);
/* The configSource files the configuration was read from besides the file
 * itself (absolute paths): whoever watches the file watches these too. */
size_t wasp_config_source_count(const wasp_config_t *cfg);
const char *wasp_config_source(const wasp_config_t *cfg, size_t i);

size_t wasp_config_pool_count(const wasp_config_t *cfg);
const wasp_pool_cfg_t *wasp_config_pool(const wasp_config_t *cfg, size_t i);
const wasp_pool_cfg_t *wasp_config_find_pool(const wasp_config_t *cfg, const char *name);
size_t wasp_config_site_count(const wasp_config_t *cfg);
const wasp_site_cfg_t *wasp_config_site(const wasp_config_t *cfg, size_t i);
const wasp_site_cfg_t *wasp_config_find_site_by_id(const wasp_config_t *cfg, uint32_t id);
/* Site names compare case-insensitively, as on IIS. */
const wasp_site_cfg_t *wasp_config_find_site(const wasp_config_t *cfg, const char *name);

/* IIS timeSpan values (iis-hosting.md 6.4).  WASP_TIMESPAN_STRING accepts
 * "[-][d.]hh:mm[:ss[.fffffff]]", "[-]d:hh:mm:ss" and a plain integer (days,
 * as .NET reads it); hours may exceed 23 ("29:00:00").  SECONDS / MINUTES
 * accept a plain integer (timeSpanFormat="seconds"/"minutes" attributes).
 * Result in milliseconds (fractions below 1 ms are dropped).  false when the
 * text is not a timeSpan. */
typedef enum wasp_timespan_format {
    WASP_TIMESPAN_STRING = 0,
    WASP_TIMESPAN_SECONDS,
    WASP_TIMESPAN_MINUTES
} wasp_timespan_format_t;
bool wasp_config_parse_timespan(const char *text, wasp_timespan_format_t format, int64_t *ms);

/* The value of attribute `name` of node, decrypted when it is encrypted
 * ("[enc:...:enc]"): out receives the plain text ("" when the attribute is
 * absent or "[enc:ANY::enc]").  A WaspAesProvider value needs a
 * configuration loaded with WASP_CONFIG_DECRYPT (only waspd holds the key).
 * Returns 0, or -1 with diag naming the attribute, the file and the line:
 * "Attribute 'password' (applicationHost.config line 12) is encrypted with
 * the Windows provider ...".  out is secret: wipe it after use
 * (wasp_protect_wipe) and never log it.  Other attributes are read raw with
 * wasp_section_attr(). */
int wasp_config_decrypt_attr(wasp_config_t *cfg, const wasp_section_t *node, const char *name,
                             char *out, size_t size, wasp_diag_t *diag);

/* HTTP.sys' registry parameters (KB 820129), from wasp's own section
 * <wasp><httpSys MaxFieldLength="..." .../></wasp>: registry value names,
 * defaults and ranges; DWORD booleans are 0 or 1. */
typedef struct wasp_httpsys_cfg {
    uint32_t max_field_length;       /* 64..65534, default 16384 (reduced to max_request_bytes) */
    uint32_t max_request_bytes;      /* 256..16777216, default 16384 */
    uint32_t url_segment_max_length; /* 0..32766, default 260, 0 = unlimited */
    uint32_t url_segment_max_count;  /* 0..16383, default 255, 0 = unlimited */
    bool allow_restricted_chars;     /* default 0 */
    bool percent_u_allowed;          /* default 1 */
    bool enable_non_utf8;            /* default 1 */
    bool favor_utf8;                 /* default 1 */
    bool enable_http2_tls;           /* default 1 */
    bool enable_http2_cleartext;     /* default 1 */
    uint32_t http2_max_streams;      /* 1..1000, default 100 */
    uint32_t http2_settings_per_frame;  /* 7..2796202, default 32 */
    uint32_t http2_settings_per_minute; /* >= 7, default 1000 */
    uint32_t http2_resets_per_10s;   /* 1..100000, default 200 */
    uint32_t max_connections;        /* >= 1024; default 4294967295 = no limit of wasp's own */
    bool uri_enable_cache;           /* default 1: the response cache may be used at all */
    uint32_t uri_max_uri_bytes;      /* 4096..16777216, default 262144: largest cached body */
    uint32_t uri_scavenger_period_s; /* >= 10, default 120: an entry idle this long goes */
} wasp_httpsys_cfg_t;
int wasp_config_httpsys(const wasp_config_t *cfg, wasp_httpsys_cfg_t *out, wasp_diag_t *diag);

/* system.applicationHost/webLimits: the server-wide timers and bandwidth
 * HTTP.sys is given (iis-hosting.md 3.1, 4.2), with IIS' defaults. */
typedef struct wasp_weblimits_cfg {
    uint32_t connection_timeout_s;  /* default 120 */
    uint32_t header_wait_timeout_s; /* default 0 = HTTP.sys' 2 minutes */
    uint32_t min_bytes_per_second;  /* default 240 */
    uint32_t max_global_bandwidth;  /* bytes/s, 4294967295 = unlimited */
    uint32_t dynamic_idle_threshold; /* percent of RAM, 0..10000, 0 = off */
} wasp_weblimits_cfg_t;
int wasp_config_weblimits(const wasp_config_t *cfg, wasp_weblimits_cfg_t *out, wasp_diag_t *diag);

/* The server-wide logging settings of a loaded configuration. */
const wasp_log_cfg_t *wasp_config_log(const wasp_config_t *cfg);

/* Effective section for a URL of a site: the root-level section merged with
 * every <location path> that is a segment-wise, case-insensitive prefix of
 * "SiteName/url/path" (and path="" / "."), in hierarchy order.  Collections
 * are merged (append, or prepend for mergeAppend="false" sections: handlers,
 * defaultDocument/files, caching/profiles).  site_name NULL = server level.
 * Every level a <location> or an application root defines is computed at
 * load, so a lookup is a walk down the level tree plus one hash probe: no
 * allocation, no lock.  The result lives as long as cfg.  NULL if the
 * section is set nowhere. */
const wasp_section_t *wasp_config_section(wasp_config_t *cfg, const char *site_name,
                                          const char *url_path, const char *section_path);

/* ---- web.config files (iis-hosting.md 6.1, 6.6-6.11) ----------------------
 * A process that serves URLs (the worker) keeps one wasp_webcfg_t: the
 * effective configuration of each (site, URL) it has seen, built from
 * applicationHost.config and the web.config files along the URL (and their
 * configSource files), with every lock and allowDefinition rule checked.
 * Entries are built on first use, kept in an LRU of max_entries, and dropped
 * as soon as a file they were built from (or a directory where a web.config
 * was looked for) changes: inotify watches every such directory; the owner
 * polls wasp_webcfg_fd() for reading and calls wasp_webcfg_process().
 *
 * Section pointers stay valid for the life of the wasp_webcfg_t, and the
 * same content gives the same pointer again after an entry is rebuilt (files
 * are kept per content, merges are memoised), so modules may cache by
 * section pointer.  Memory grows with the number of distinct file contents
 * seen, not with requests. */
typedef struct wasp_webcfg wasp_webcfg_t;
typedef struct wasp_dircfg wasp_dircfg_t;
/* Called once for each configuration error found, until a watched file
 * changes (then errors still present are reported again). */
typedef void (*wasp_webcfg_log_fn)(const wasp_config_error_t *err, void *data);

wasp_webcfg_t *wasp_webcfg_new(wasp_config_t *cfg, size_t max_entries, wasp_webcfg_log_fn log,
                               void *log_data);
void wasp_webcfg_free(wasp_webcfg_t *wc);
/* applicationHost.config changed: build every entry from cfg from now on.
 * cfg must outlive wc, and so must the old one (levels that requests still
 * hold, and pointers modules cached, refer to it). */
void wasp_webcfg_set_config(wasp_webcfg_t *wc, wasp_config_t *cfg);
/* The inotify descriptor (non-blocking), or -1 when inotify is unavailable
 * (then nothing is cached: every lookup reads the files again). */
int wasp_webcfg_fd(const wasp_webcfg_t *wc);
/* Read the pending change events and drop the entries that depend on them. */
void wasp_webcfg_process(wasp_webcfg_t *wc);
/* The configuration of url_path (decoded, canonical, starting with '/') of
 * site (NULL: the server level).  Never NULL; hold it while its sections are
 * in use and give it back with wasp_dircfg_release(). */
wasp_dircfg_t *wasp_webcfg_lookup(wasp_webcfg_t *wc, const wasp_site_cfg_t *site,
                                  const char *url_path);
void wasp_dircfg_release(wasp_dircfg_t *dc);
/* The effective section, NULL when it is set nowhere.  For a URL with a
 * configuration error: applicationHost.config's section for the URL. */
const wasp_section_t *wasp_dircfg_section(const wasp_dircfg_t *dc, const char *section_path);
/* The configuration error of the URL (500.19), or NULL. */
const wasp_config_error_t *wasp_dircfg_error(const wasp_dircfg_t *dc);
/* The files the level's configuration was read from, and the names looked
 * for where none exists yet (creating a web.config changes the
 * configuration too): fn(directory, name) once per dependency of the level
 * and of every level above it.  applicationHost.config is not among them
 * (wasp_config_path()).  Returns -1, calling fn for nothing, when some
 * level could not be watched, so its dependencies are not known. */
int wasp_dircfg_depends(const wasp_dircfg_t *dc,
                        void (*fn)(const char *dir, const char *name, void *data), void *data);

typedef struct wasp_webcfg_stats {
    size_t entries; /* URLs cached */
    size_t builds;  /* levels built since the start (cache misses) */
    size_t watches; /* directories watched */
    size_t files;   /* file versions kept */
} wasp_webcfg_stats_t;
void wasp_webcfg_stats(const wasp_webcfg_t *wc, wasp_webcfg_stats_t *st);

/* True when section_path is declared (configSections or built-in). */
bool wasp_config_section_known(const wasp_config_t *cfg, const char *section_path);

/* Map a URL of a site to (application, vdir, physical path).  Longest
 * segment-wise prefix, case-insensitive as on IIS.  Returns 0, or -1 when no
 * application matches.  phys receives vdir physicalPath + rest of the URL. */
int wasp_config_map_url(const wasp_config_t *cfg, const wasp_site_cfg_t *site, const char *url_path,
                        const wasp_app_cfg_t **app, const wasp_vdir_cfg_t **vdir, char *phys,
                        size_t phys_size);

/* ---- what wasp acts on (sections_effect.c, docs/configuration.md) -------- */
typedef struct wasp_section_effect {
    const char *path;   /* a section the schema describes */
    const char *reader; /* what reads it; NULL: accepted and validated only */
} wasp_section_effect_t;
/* The i-th section of the schema, NULL past the end. */
const wasp_section_effect_t *wasp_section_effect(size_t i);
/* The row of section_path (case-insensitive), NULL for a section the schema
 * does not describe (.NET sections, sections of unknown modules). */
const wasp_section_effect_t *wasp_section_effect_find(const char *section_path);

/* ---- waspd --check (check.c) ----------------------------------------------- */
/* Check the configuration at path as waspd would load it, then every
 * web.config (and its configSource files) under the physical folders of every
 * site's applications and virtual directories, with the worker's code
 * (wasp_webcfg_lookup), so that locks, allowDefinition and the schema apply.
 * Writes one line per file to out ("ok  FILE" or "FILE:LINE: message"), plus
 * a note per section that is accepted but not acted on.  Returns 0 when
 * everything loads, 1 otherwise. */
int wasp_config_check(const char *path, FILE *out);

/* IIS' shared configuration (system.applicationHost/configurationRedirection
 * in redirection.config, which IIS keeps beside applicationHost.config):
 * when the redirection.config in apphost_path's directory has
 * enabled="true", its path (a directory, mapped like physicalPath) holds
 * the applicationHost.config to read.  out receives the file to read:
 * apphost_path itself (returns 0: no redirection.config, or not enabled) or
 * the redirected one (returns 1).  -1 with diag naming redirection.config
 * and its line: not well-formed, a bad value, a UNC path, no
 * applicationHost.config at path.  userName and password (the share's
 * credentials on Windows) are not used: the administrator mounts the
 * share. */
int wasp_config_redirect(const char *apphost_path, char *out, size_t size, wasp_diag_t *diag);

#endif /* WASP_CONFIG_H */
