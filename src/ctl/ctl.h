/*
 * waspctl internals: the parsed command line and what every command uses.
 *
 *   waspctl.c     command line, help, dispatch
 *   ctl_list.c    list apppool / site / app / vdir / wp / requests / events
 *   ctl_change.c  add / set / delete apppool (config_edit), start / stop /
 *                 recycle apppool, start / stop site (control socket),
 *                 encrypt (and the encrypted attributes of set / add)
 *   ctl_sslcert.c add / show / delete sslcert (HTTP.sys' SSL configuration,
 *                 netsh's words; src/tls/sslstore.h)
 *   ctl_config.c  list / set config: any section at any config path, with
 *                 the web.config files (config_edit, webconfig)
 *   ctl_client.c  the control socket
 */
#ifndef WASP_CTL_H
#define WASP_CTL_H

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses: the control protocol's numbers (ctl_proto.h). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILED 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_NOT_FOUND 3

/* One /name:value (or -name:value) argument. */
typedef struct ctl_param {
    const char *name;  /* without the leading '/' or '-' */
    const char *value; /* after the first ':'; NULL when there is no ':' */
    bool used;         /* consumed by the command (not a filter / attribute) */
} ctl_param_t;

typedef struct ctl_cmd {
    const char *config;  /* applicationHost.config */
    const char *rundir;  /* waspd's runtime directory (control.sock) */
    const char *cert_store; /* --cert-store DIR, or NULL (see wasp_cert_store_root) */
    const char *verb;    /* lower case: "list" */
    const char *object;  /* lower case, singular: "apppool" */
    const char *id;      /* the identifier after the object, or NULL */
    const char *const *args; /* every word after the object (netsh's name=value for sslcert) */
    size_t arg_count;
    ctl_param_t *params;
    size_t param_count;
} ctl_cmd_t;

/* The parameter called name (case-insensitive), marked used; NULL if absent. */
ctl_param_t *ctl_param(ctl_cmd_t *cmd, const char *name);

/* The parameter's value, marked used; NULL if absent. */
const char *ctl_param_value(ctl_cmd_t *cmd, const char *name);

/* True for appcmd's general parameters (/text, /xml, /commit, ...), which
 * are neither filters nor attributes. */
bool ctl_general_param(const char *name);

/* The identifier: the positional one, else /<object>.name:X (e.g.
 * /apppool.name:X), else NULL. */
const char *ctl_identifier(ctl_cmd_t *cmd, const char *object);

/* "ERROR ( message:... )" on stderr, appcmd's shape; returns status. */
int ctl_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "WARNING ( message:... )" on stderr. */
void ctl_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The message for a command that needs waspd when it is not running. */
int ctl_not_running(const ctl_cmd_t *cmd);

/* Ask a running waspd to reload applicationHost.config and wait (0 when it
 * is not running; else ctl_error's status). */
int ctl_reload(const ctl_cmd_t *cmd);

/* Commands (return the exit status). */
int ctl_list_apppool(ctl_cmd_t *cmd);
int ctl_list_site(ctl_cmd_t *cmd);
int ctl_list_app(ctl_cmd_t *cmd);
int ctl_list_vdir(ctl_cmd_t *cmd);
int ctl_list_wp(ctl_cmd_t *cmd);
int ctl_list_request(ctl_cmd_t *cmd);
int ctl_list_event(ctl_cmd_t *cmd);
int ctl_list_counters(ctl_cmd_t *cmd); /* ctl_counters.c */
int ctl_add_apppool(ctl_cmd_t *cmd);
int ctl_set_apppool(ctl_cmd_t *cmd);
int ctl_delete_apppool(ctl_cmd_t *cmd);
int ctl_run_apppool(ctl_cmd_t *cmd); /* start / stop / recycle */
int ctl_run_site(ctl_cmd_t *cmd);    /* start / stop */
/* Print text (NULL: standard input) as a WaspAesProvider value. */
int ctl_encrypt(const char *text);
int ctl_add_sslcert(ctl_cmd_t *cmd);
int ctl_show_sslcert(ctl_cmd_t *cmd);
int ctl_delete_sslcert(ctl_cmd_t *cmd);
int ctl_list_config(ctl_cmd_t *cmd);
int ctl_set_config(ctl_cmd_t *cmd);

#endif /* WASP_CTL_H */
