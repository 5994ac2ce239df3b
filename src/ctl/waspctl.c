/*
 * waspctl: wasp's appcmd.
 *
 *   waspctl [--config FILE] [--runtime-dir DIR] VERB OBJECT [ID] [/param:value ...]
 *
 * The syntax, the object names and the output are appcmd's
 * (iis-hosting.md 7), so IIS administrators and their scripts feel at
 * home: parameters are /name:value or -name:value, verbs and objects are
 * case-insensitive and may be plural, errors are "ERROR ( message:... )" on
 * stderr with a non-zero exit status.
 *
 * Configuration comes from applicationHost.config (FILE: --config, else
 * $WASP_CONFIG, else /etc/wasp/applicationHost.config); run-time state and
 * actions from waspd's control socket in DIR (--runtime-dir, else
 * $WASP_RUNTIME_DIR, else /run/wasp).  Encrypted values use the key file
 * KEY (--config-key, else $WASP_CONFIG_KEY, else /etc/wasp/config.key).
 *
 * "waspctl encrypt [TEXT]" is wasp's own (appcmd has no such verb): it
 * prints TEXT, or standard input, as a WaspAesProvider value to paste into
 * the file by hand.
 *
 * HTTP.sys' SSL configuration (the sslcert commands, which speak netsh's
 * language instead of appcmd's) lives in the certificate store
 * (--cert-store, else $WASP_CERT_STORE, else /etc/wasp/certs).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/protect.h"
#include "ctl/ctl.h"
#include "ctl/ctl_client.h"

/* ---- helpers shared by the commands ------------------------------------------------ */

int ctl_error(int status, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("ERROR ( message:", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" )\n", stderr);
    return status;
}

void ctl_warning(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("WARNING ( message:", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" )\n", stderr);
}

int ctl_not_running(const ctl_cmd_t *cmd)
{
    char sock[4096];

    return ctl_error(CTL_EXIT_FAILED,
                     "waspd is not running (no control socket at %s). Start it with waspd "
                     "--config %s.",
                     ctl_socket_path(cmd->rundir, sock, sizeof(sock)), cmd->config);
}

ctl_param_t *ctl_param(ctl_cmd_t *cmd, const char *name)
{
    for (size_t i = 0; i < cmd->param_count; i++) {
        if (strcasecmp(cmd->params[i].name, name) == 0) {
            cmd->params[i].used = true;
            return &cmd->params[i];
        }
    }
    return NULL;
}

const char *ctl_param_value(ctl_cmd_t *cmd, const char *name)
{
    const ctl_param_t *p = ctl_param(cmd, name);

    return p != NULL ? p->value : NULL;
}

bool ctl_general_param(const char *name)
{
    static const char *const general[] = { "text", "xml", "config", "metadata", "commit",
                                           "apphostconfig", "debug", NULL };

    for (int i = 0; general[i] != NULL; i++) {
        if (strcasecmp(general[i], name) == 0) {
            return true;
        }
    }
    return false;
}

const char *ctl_identifier(ctl_cmd_t *cmd, const char *object)
{
    char name[64];
    const char *v;

    snprintf(name, sizeof(name), "%s.name", object);
    v = ctl_param_value(cmd, name);
    return cmd->id != NULL ? cmd->id : v;
}

/* ---- help ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("waspctl: wasp's appcmd.\n"
          "\n"
          "usage: waspctl [--config FILE] [--runtime-dir DIR] [--config-key KEY] [--cert-store DIR]\n"
          "               COMMAND OBJECT [ID] [/parameter:value ...]\n"
          "\n"
          "  FILE  applicationHost.config; default $WASP_CONFIG, else\n"
          "        /etc/wasp/applicationHost.config\n"
          "  DIR   waspd's runtime directory (its control.sock); default\n"
          "        $WASP_RUNTIME_DIR, else /run/wasp\n"
          "  KEY   the key of encrypted values (made on first use, mode 0600); default\n"
          "        $WASP_CONFIG_KEY, else " WASP_PROTECT_KEY_DEFAULT "\n"
          "  --cert-store DIR  the certificate store root; default $WASP_CERT_STORE,\n"
          "        else /etc/wasp/certs\n"
          "  Parameters are written /name:value or -name:value; commands and objects\n"
          "  are case-insensitive and may be plural (list apppools).\n"
          "\n"
          "Lists.  /attribute:value filters (/state:Started /managedPipelineMode:Classic\n"
          "/processModel.idleTimeout:00:20:00); /text:* shows every property, /text:NAME\n"
          "one property per line, /xml appcmd's XML.\n"
          "  list apppool [NAME]\n"
          "  list site [NAME]\n"
          "  list app [SITE/PATH] [/apppool.name:POOL] [/site.name:SITE]\n"
          "  list vdir [SITE/APP/PATH] [/app.name:SITE/APP]\n"
          "  list wp [PID] [/apppool.name:POOL]                      (needs waspd)\n"
          "  list requests [/elapsed:MS] [/apppool.name:POOL]        (needs waspd)\n"
          "  list events [/apppool.name:POOL] [/count:N]             (needs waspd)\n"
          "  list counters [/site:NAME] [/apppool:NAME]              (needs waspd)\n"
          "\n"
          "Configuration.  The file is checked as waspd would load it before it is\n"
          "replaced; a running waspd then reloads it before waspctl returns.\n"
          "  add apppool /name:NAME [/attribute:value ...]\n"
          "  set apppool NAME /attribute:value ...\n"
          "      e.g. /queueLength:2000 /processModel.idleTimeout:00:05:00\n"
          "           /recycling.periodicRestart.time:1.00:00:00\n"
          "  delete apppool NAME\n"
          "  /processModel.password:TEXT is written encrypted (WaspAesProvider), as\n"
          "  IIS writes it; a value already written [enc:...:enc] is kept as given.\n"
          "  encrypt [TEXT]  print TEXT (else standard input, one final newline\n"
          "                  dropped) as an [enc:WaspAesProvider:...:enc] value\n"
          "  list config [SITE/PATH] -section:NAME [/text:ATTR|/text:*] [/xml]\n"
          "      the effective section at that path (web.config files included)\n"
          "  set config [SITE/PATH] -section:NAME [/attr:v] [/child.attr:v]\n"
          "      [/+\"[key='v',attr='v2']\"] [/+child.[key='v']] [/-\"[key='v']\"]\n"
          "      [/\"[key='v'].attr:v\"] [/commit:url|site|app|parent|apphost|SITE/PATH]\n"
          "      (default url: the web.config of the path; no path or apphost:\n"
          "      applicationHost.config; webroot, machine: refused, wasp has no such file)\n"
          "\n"
          "Run time (needs waspd; start and stop also save autoStart or\n"
          "serverAutoStart in the file, so the state outlives a restart).\n"
          "  start apppool NAME      stop apppool NAME      recycle apppool NAME\n"
          "  start site NAME         stop site NAME\n"
          "\n"
          "NAME may also be given as /apppool.name:NAME or /site.name:NAME.\n"
          "\n"
          "SSL certificates: HTTP.sys' SSL configuration, with netsh http's words\n"
          "(certificates are PEM files with their key in <cert store>/<store name>/).\n"
          "A running waspd takes the change at once.\n"
          "  add sslcert ipport=IP:PORT certhash=THUMBPRINT [certstorename=My]\n"
          "              [appid={GUID}] [clientcertnegotiation=enable] [...]\n"
          "  add sslcert hostnameport=HOST:PORT certhash=THUMBPRINT certstorename=NAME [...]\n"
          "  add sslcert ccs=PORT [appid={GUID}]\n"
          "  show sslcert [ipport=IP:PORT | hostnameport=HOST:PORT | ccs=PORT]\n"
          "  delete sslcert ipport=IP:PORT | hostnameport=HOST:PORT | ccs=PORT\n"
          "\n"
          "waspctl /? or waspctl help shows this.\n"
          "Exit status: 0 done, 1 failed, 2 bad command line, 3 no such object.\n",
          f);
}

/* ---- command line ---------------------------------------------------------------- */

typedef int (*ctl_fn_t)(ctl_cmd_t *cmd);

static const struct {
    const char *verb, *object;
    ctl_fn_t fn;
} ctl_commands[] = {
    { "list", "apppool", ctl_list_apppool },   { "list", "site", ctl_list_site },
    { "list", "app", ctl_list_app },           { "list", "vdir", ctl_list_vdir },
    { "list", "wp", ctl_list_wp },             { "list", "request", ctl_list_request },
    { "list", "event", ctl_list_event },       { "add", "apppool", ctl_add_apppool },
    { "set", "apppool", ctl_set_apppool },     { "delete", "apppool", ctl_delete_apppool },
    { "start", "apppool", ctl_run_apppool },   { "stop", "apppool", ctl_run_apppool },
    { "recycle", "apppool", ctl_run_apppool }, { "start", "site", ctl_run_site },
    { "stop", "site", ctl_run_site },          { "add", "sslcert", ctl_add_sslcert },
    { "show", "sslcert", ctl_show_sslcert },   { "delete", "sslcert", ctl_delete_sslcert },
    { "list", "config", ctl_list_config },     { "set", "config", ctl_set_config },
    { "list", "counter", ctl_list_counters },
};

/* Objects appcmd knows; waspctl answers the ones it lacks with a clear
 * "not supported" instead of "unknown". */
static const char *const ctl_objects[] = { "site", "apppool", "app", "vdir", "wp", "request",
                                           "event", "config", "module", "backup", "trace",
                                           "binding", "sslcert", "counter", NULL };
static const char *const ctl_verbs[] = { "list", "add", "set", "delete", "show", "start", "stop",
                                         "recycle", "search", "lock", "unlock", "clear",
                                         "reset", "migrate", "install", "uninstall", "restore",
                                         "configure", "inspect", NULL };

static bool in_list(const char *const *list, const char *s)
{
    for (int i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* Lower case, and singular: "AppPools" -> "apppool". */
static char *canonical(const char *word)
{
    char *s = strdup(word);
    size_t n;

    if (s == NULL) {
        fputs("waspctl: out of memory\n", stderr);
        exit(CTL_EXIT_FAILED);
    }
    for (char *p = s; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    n = strlen(s);
    if (n > 1 && s[n - 1] == 's' && !in_list(ctl_objects, s)) {
        s[n - 1] = '\0';
    }
    return s;
}

static bool is_help(const char *a)
{
    return strcmp(a, "/?") == 0 || strcmp(a, "-?") == 0 || strcmp(a, "--help") == 0 ||
           strcmp(a, "-h") == 0;
}

/* /name:value or -name:value ('!' escapes a name that is a general
 * parameter, as in appcmd). */
static bool parse_param(const char *a, ctl_param_t *p)
{
    const char *colon;
    char *name;

    if ((a[0] != '/' && a[0] != '-') || a[1] == '\0' || (a[0] == '-' && a[1] == '-')) {
        return false;
    }
    a++;
    if (*a == '!') {
        a++;
    }
    colon = strchr(a, ':');
    name = colon != NULL ? strndup(a, (size_t)(colon - a)) : strdup(a);
    if (name == NULL) {
        fputs("waspctl: out of memory\n", stderr);
        exit(CTL_EXIT_FAILED);
    }
    p->name = name;
    p->value = colon != NULL ? colon + 1 : NULL;
    p->used = false;
    return true;
}

/* Fill cmd from argv; -1 = help asked, 0 = ok, else an exit status. */
static int parse_args(int argc, char **argv, ctl_cmd_t *cmd, const char **pos, size_t *npos)
{
    cmd->params = calloc((size_t)argc, sizeof(*cmd->params));
    if (cmd->params == NULL) {
        return ctl_error(CTL_EXIT_FAILED, "out of memory");
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (*npos >= 1 && strcasecmp(pos[0], "encrypt") == 0) {
            /* The text is data: "/x" or "-h" is a password, not a parameter. */
            if (*npos >= 2) {
                return ctl_error(CTL_EXIT_USAGE,
                                 "encrypt takes one text (quote it; options go before the "
                                 "command)");
            }
            pos[(*npos)++] = a;
            continue;
        }
        if (is_help(a)) {
            return -1;
        }
        if (strcmp(a, "--config-key") == 0 || strncmp(a, "--config-key=", 13) == 0) {
            if (a[12] == '\0' && i + 1 >= argc) {
                return ctl_error(CTL_EXIT_USAGE, "%s needs a value", a);
            }
            wasp_protect_set_key_file(a[12] == '=' ? a + 13 : argv[++i]);
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "--runtime-dir") == 0 ||
                   strcmp(a, "--cert-store") == 0) {
            if (i + 1 >= argc) {
                return ctl_error(CTL_EXIT_USAGE, "%s needs a value", a);
            }
            *(strcmp(a, "--config") == 0        ? &cmd->config
              : strcmp(a, "--runtime-dir") == 0 ? &cmd->rundir
                                                : &cmd->cert_store) = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            cmd->config = a + 9;
        } else if (strncmp(a, "--runtime-dir=", 14) == 0) {
            cmd->rundir = a + 14;
        } else if (strncmp(a, "--cert-store=", 13) == 0) {
            cmd->cert_store = a + 13;
        } else if (strncmp(a, "--", 2) == 0) {
            return ctl_error(CTL_EXIT_USAGE, "unknown option %s; see waspctl /?", a);
        } else if (strcmp(a, "-") == 0 || strcasecmp(a, "/in") == 0 ||
                   strcasecmp(a, "-in") == 0) {
            return ctl_error(CTL_EXIT_USAGE,
                             "reading objects from standard input (/in) is not supported yet");
        } else if (parse_param(a, &cmd->params[cmd->param_count])) {
            cmd->param_count++;
        } else {
            pos[(*npos)++] = a;
        }
    }
    return 0;
}

static int dispatch(ctl_cmd_t *cmd, const char *verb_word, const char *object_word)
{
    for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++) {
        if (strcmp(ctl_commands[i].verb, cmd->verb) == 0 &&
            strcmp(ctl_commands[i].object, cmd->object) == 0) {
            return ctl_commands[i].fn(cmd);
        }
    }
    if (!in_list(ctl_verbs, cmd->verb)) {
        return ctl_error(CTL_EXIT_USAGE, "Unknown command \"%s\". See waspctl /? for the commands.",
                         verb_word);
    }
    if (!in_list(ctl_objects, cmd->object)) {
        return ctl_error(CTL_EXIT_USAGE, "Unknown object type \"%s\".", object_word);
    }
    return ctl_error(CTL_EXIT_USAGE,
                     "The command \"%s\" is not supported on object type \"%s\" by waspctl. See "
                     "waspctl /? for the commands.",
                     verb_word, object_word);
}

int main(int argc, char **argv)
{
    ctl_cmd_t cmd = { 0 };
    char redirected[PATH_MAX];
    const char **pos = calloc((size_t)argc, sizeof(*pos));
    size_t npos = 0;
    char *verb = NULL, *object = NULL;
    int rc;

    cmd.config = getenv("WASP_CONFIG");
    if (cmd.config == NULL || !*cmd.config) {
        cmd.config = "/etc/wasp/applicationHost.config";
    }
    cmd.rundir = getenv("WASP_RUNTIME_DIR");
    if (cmd.rundir == NULL || !*cmd.rundir) {
        cmd.rundir = "/run/wasp";
    }
    if (pos == NULL) {
        return ctl_error(CTL_EXIT_FAILED, "out of memory");
    }
    rc = parse_args(argc, argv, &cmd, pos, &npos);
    if (rc == 0) {
        /* Offline commands read and write the shared file that waspd
         * serves, as appcmd does with shared configuration. */
        wasp_diag_t diag;
        char buf[2048];

        if (wasp_config_redirect(cmd.config, redirected, sizeof(redirected), &diag) < 0) {
            rc = ctl_error(CTL_EXIT_FAILED, "%s", wasp_diag_format(&diag, buf, sizeof(buf)));
            free(pos);
            return rc;
        }
        cmd.config = redirected;
    }
    if (rc == 0 && npos >= 1 && strcasecmp(pos[0], "help") == 0) {
        rc = -1;
    }
    if (rc == -1) {
        usage(stdout);
        rc = 0;
    } else if (rc == 0 && npos >= 1 && strcasecmp(pos[0], "encrypt") == 0) {
        rc = ctl_encrypt(npos > 1 ? pos[1] : NULL);
    } else if (rc == 0 && npos < 2) {
        usage(stderr);
        rc = ctl_error(CTL_EXIT_USAGE, "give a command and an object, e.g. waspctl list apppool");
    } else if (rc == 0) {
        verb = canonical(pos[0]);
        object = canonical(pos[1]);
        cmd.verb = verb;
        cmd.object = object;
        cmd.id = npos > 2 ? pos[2] : NULL;
        cmd.args = pos + 2;
        cmd.arg_count = npos - 2;
        /* netsh's sslcert commands take name=value words; appcmd's one identifier. */
        if (npos > 3 && strcmp(object, "sslcert") != 0) {
            rc = ctl_error(CTL_EXIT_USAGE,
                           "unexpected argument \"%s\": one identifier at most (quote names "
                           "with spaces); see waspctl /?",
                           pos[3]);
        } else {
            rc = dispatch(&cmd, pos[0], pos[1]);
        }
    }
    for (size_t i = 0; i < cmd.param_count; i++) {
        free((char *)cmd.params[i].name);
    }
    free(cmd.params);
    free(pos);
    free(verb);
    free(object);
    return rc;
}
