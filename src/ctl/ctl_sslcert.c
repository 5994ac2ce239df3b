/*
 * waspctl add | show | delete sslcert: HTTP.sys' SSL configuration
 * (src/tls/sslstore.h), with netsh http's parameters, output and errors, so
 * that a Windows administrator's commands and scripts carry over:
 *
 *   waspctl add sslcert ipport=0.0.0.0:443 certhash=THUMBPRINT certstorename=My
 *   SSL Certificate successfully added
 *
 * Failures print netsh's own lines ("SSL Certificate add failed, Error:
 * 183" and the Windows message) on stderr, then a line starting "wasp:"
 * that says in plain words what is wrong and where wasp looked.
 *
 * waspctl edits <cert store>/sslbindings.conf itself, whether waspd runs
 * or not (under the store's lock, replaced atomically); then, if waspd
 * runs, it tells waspd over the control socket (sslcert-changed), which
 * reads the file again and answers once the new entries are in force.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/ctl_client.h"
#include "tls/sslstore.h"

/* netsh's messages (Win32 error texts). */
#define NETSH_ADD_EXISTS                                                                       \
    "SSL Certificate add failed, Error: 183\n"                                                 \
    "Cannot create a file when that file already exists.\n"
#define NETSH_ADD_NO_CERT                                                                      \
    "SSL Certificate add failed, Error: 1312\n"                                                \
    "A specified logon session does not exist. It may already have been terminated.\n"
#define NETSH_DELETE_MISSING                                                                   \
    "SSL Certificate deletion failed, Error: 2\n"                                              \
    "The system cannot find the file specified.\n"
#define NETSH_NOT_FOUND "The system cannot find the file specified.\n"
#define NETSH_BAD_PARAMETER "The parameter is incorrect.\n"

/* netsh's lines, then wasp's explanation; returns status. */
static int netsh_fail(int status, const char *netsh, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int netsh_fail(int status, const char *netsh, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs(netsh, stderr);
    if (fmt != NULL) {
        fputs("wasp: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    return status;
}

/* appcmd's /name:value parameters mean nothing here. */
static int no_slash_params(const ctl_cmd_t *cmd)
{
    if (cmd->param_count > 0) {
        return netsh_fail(CTL_EXIT_USAGE, NETSH_BAD_PARAMETER,
                          "sslcert parameters are written name=value as in netsh (e.g. "
                          "certhash=...), not /%s",
                          cmd->params[0].name);
    }
    return 0;
}

/* The key of show / delete: one ipport=, hostnameport= or ccs= word (a bare
 * IP:port is an ipport, as netsh allows).  1 = a key, 0 = none given. */
static int parse_key_only(const ctl_cmd_t *cmd, wasp_sslkey_t *key, int *status)
{
    const char *w, *eq;
    char name[32], why[512];

    if (cmd->arg_count == 0) {
        return 0;
    }
    if (cmd->arg_count > 1) {
        *status = netsh_fail(CTL_EXIT_USAGE, NETSH_BAD_PARAMETER,
                             "%s %s takes one key: ipport=IP:port, hostnameport=host:port or "
                             "ccs=port",
                             cmd->verb, cmd->object);
        return -1;
    }
    w = cmd->args[0];
    eq = strchr(w, '=');
    if (eq == NULL) {
        snprintf(name, sizeof(name), "ipport");
    } else {
        snprintf(name, sizeof(name), "%.*s", (int)(eq - w), w);
    }
    if (wasp_sslkey_parse(name, eq != NULL ? eq + 1 : w, key, why, sizeof(why)) != 0) {
        *status = netsh_fail(CTL_EXIT_USAGE, NETSH_BAD_PARAMETER, "%s", why);
        return -1;
    }
    return 1;
}

/* Lock the store and read its file. */
static int open_store(const char *root, char *file, size_t size, wasp_ssl_bindings_t *set,
                      int *lock_fd)
{
    char err[2048];

    wasp_ssl_bindings_path(root, file, size);
    *lock_fd = wasp_ssl_store_lock(root, err, sizeof(err));
    if (*lock_fd < 0) {
        return ctl_error(CTL_EXIT_FAILED, "%s", err);
    }
    if (wasp_ssl_bindings_load(file, set, err, sizeof(err)) != 0) {
        close(*lock_fd);
        return ctl_error(CTL_EXIT_FAILED, "%s", err);
    }
    return 0;
}

/* Tell a running waspd that the file changed, and wait for its answer. */
static int tell_waspd(const ctl_cmd_t *cmd, const char *root, const char *file)
{
    char real[PATH_MAX], err[1024];
    const char *words[2] = { "sslcert-changed", realpath(root, real) != NULL ? real : root };
    ctl_reply_t r;
    int rc = ctl_call(cmd->rundir, words, 2, 0, 30000, &r, err, sizeof(err));

    if (rc == CTL_CALL_NOT_RUNNING) {
        rc = 0;
    } else if (rc != CTL_CALL_OK) {
        rc = ctl_error(CTL_EXIT_FAILED,
                       "the change is saved in %s, but waspd could not be told about it: %s",
                       file, err);
    } else if (r.status != 0) {
        rc = ctl_error(CTL_EXIT_FAILED, "the change is saved in %s, but waspd did not take it: %s",
                       file, r.message);
    } else {
        if (*r.message) {
            fprintf(stderr, "%s\n", r.message);
        }
        rc = 0;
    }
    ctl_reply_free(&r);
    return rc;
}

/* The certificate of a new ipport / hostnameport entry must be in its store,
 * with its private key (what netsh's error 1312 means on Windows). */
static int check_certificate(const char *root, const wasp_sslbinding_t *b)
{
    char dir[PATH_MAX], err[2048];
    const char *store = wasp_sslbinding_store(b);
    wasp_cert_t cert;

    if (wasp_certstore_dir(root, store, dir, sizeof(dir)) != 0) {
        return netsh_fail(CTL_EXIT_FAILED, NETSH_ADD_NO_CERT,
                          "there is no certificate store \"%s\": %s is not a directory (create "
                          "it and put the certificate there as a PEM file with its key)",
                          store, dir);
    }
    switch (wasp_certstore_find(dir, b->certhash, &cert, err, sizeof(err))) {
    case WASP_CERT_FOUND:
        wasp_cert_clear(&cert);
        return 0;
    case WASP_CERT_BAD_KEY:
        return netsh_fail(CTL_EXIT_FAILED, NETSH_ADD_NO_CERT, "%s", err);
    default:
        return netsh_fail(CTL_EXIT_FAILED, NETSH_ADD_NO_CERT,
                          "%s; `openssl x509 -noout -fingerprint -sha1 -in FILE` shows a file's "
                          "thumbprint",
                          err);
    }
}

/* A ccs entry works once the Central Certificate Store has files: say so
 * if its directory is missing, without refusing the entry. */
static void check_ccs_dir(const char *root, const wasp_sslbinding_t *b)
{
    char dir[PATH_MAX];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/%s", root, WASP_CCS_DIR);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "wasp: warning: the Central Certificate Store %s does not exist yet; "
                "handshakes on port %u find a certificate there once it holds <host>.pem "
                "files\n",
                dir, (unsigned)b->key.port);
    }
}

int ctl_add_sslcert(ctl_cmd_t *cmd)
{
    const char *root = wasp_cert_store_root(cmd->cert_store);
    char file[PATH_MAX], err[2048];
    wasp_ssl_bindings_t set;
    wasp_sslbinding_t b;
    int lock_fd, rc = no_slash_params(cmd);

    if (rc != 0) {
        return rc;
    }
    if (wasp_sslbinding_parse(cmd->args, cmd->arg_count, &b, err, sizeof(err)) != 0) {
        return netsh_fail(CTL_EXIT_USAGE, NETSH_BAD_PARAMETER, "%s", err);
    }
    rc = open_store(root, file, sizeof(file), &set, &lock_fd);
    if (rc != 0) {
        return rc;
    }
    if (wasp_ssl_bindings_find(&set, &b.key) != NULL) {
        char key[300];

        wasp_sslkey_format(&b.key, key, sizeof(key));
        rc = netsh_fail(CTL_EXIT_FAILED, NETSH_ADD_EXISTS,
                        "%s=%s already has an entry in %s; delete it first (waspctl delete "
                        "sslcert %s=%s)",
                        wasp_sslkey_param(b.key.kind), key, file, wasp_sslkey_param(b.key.kind),
                        key);
    } else if (b.key.kind == WASP_SSL_CCS) {
        check_ccs_dir(root, &b);
    } else {
        rc = check_certificate(root, &b);
    }
    if (rc == 0 && wasp_ssl_bindings_add(&set, &b) != 0) {
        rc = ctl_error(CTL_EXIT_FAILED, "out of memory");
    }
    if (rc == 0 && wasp_ssl_bindings_save(file, &set, err, sizeof(err)) != 0) {
        rc = ctl_error(CTL_EXIT_FAILED, "%s", err);
    }
    wasp_ssl_bindings_free(&set);
    close(lock_fd);
    if (rc != 0) {
        return rc;
    }
    printf("SSL Certificate successfully added\n");
    fflush(stdout);
    return tell_waspd(cmd, root, file);
}

int ctl_delete_sslcert(ctl_cmd_t *cmd)
{
    const char *root = wasp_cert_store_root(cmd->cert_store);
    char file[PATH_MAX], err[2048];
    wasp_ssl_bindings_t set;
    wasp_sslkey_t key;
    int lock_fd, status = 0, rc = no_slash_params(cmd);

    if (rc != 0) {
        return rc;
    }
    rc = parse_key_only(cmd, &key, &status);
    if (rc < 0) {
        return status;
    }
    if (rc == 0) {
        return netsh_fail(CTL_EXIT_USAGE, NETSH_BAD_PARAMETER,
                          "say which entry to delete: ipport=IP:port, hostnameport=host:port or "
                          "ccs=port");
    }
    rc = open_store(root, file, sizeof(file), &set, &lock_fd);
    if (rc != 0) {
        return rc;
    }
    if (!wasp_ssl_bindings_delete(&set, &key)) {
        char k[300];

        wasp_sslkey_format(&key, k, sizeof(k));
        rc = netsh_fail(CTL_EXIT_NOT_FOUND, NETSH_DELETE_MISSING, "no entry for %s=%s in %s",
                        wasp_sslkey_param(key.kind), k, file);
    } else if (wasp_ssl_bindings_save(file, &set, err, sizeof(err)) != 0) {
        rc = ctl_error(CTL_EXIT_FAILED, "%s", err);
    }
    wasp_ssl_bindings_free(&set);
    close(lock_fd);
    if (rc != 0) {
        return rc;
    }
    printf("SSL Certificate successfully deleted\n");
    fflush(stdout);
    return tell_waspd(cmd, root, file);
}

int ctl_show_sslcert(ctl_cmd_t *cmd)
{
    const char *root = wasp_cert_store_root(cmd->cert_store);
    char file[PATH_MAX], err[2048];
    wasp_ssl_bindings_t set;
    wasp_sslkey_t key;
    int status = 0, rc = no_slash_params(cmd), filtered;

    if (rc != 0) {
        return rc;
    }
    filtered = parse_key_only(cmd, &key, &status);
    if (filtered < 0) {
        return status;
    }
    /* Reading needs no lock: the file is only ever replaced whole. */
    wasp_ssl_bindings_path(root, file, sizeof(file));
    if (wasp_ssl_bindings_load(file, &set, err, sizeof(err)) != 0) {
        return ctl_error(CTL_EXIT_FAILED, "%s", err);
    }
    printf("\nSSL Certificate bindings:\n-------------------------\n\n");
    if (filtered) {
        const wasp_sslbinding_t *b = wasp_ssl_bindings_find(&set, &key);

        if (b == NULL) {
            rc = netsh_fail(CTL_EXIT_NOT_FOUND, NETSH_NOT_FOUND, NULL);
        } else {
            wasp_sslbinding_show(b, stdout);
            putchar('\n');
        }
    } else {
        /* netsh lists the IP entries, then the host name ones, then CCS. */
        for (int kind = WASP_SSL_IPPORT; kind <= WASP_SSL_CCS; kind++) {
            for (size_t i = 0; i < set.count; i++) {
                if ((int)set.v[i].key.kind == kind) {
                    wasp_sslbinding_show(&set.v[i], stdout);
                    putchar('\n');
                }
            }
        }
    }
    fflush(stdout);
    wasp_ssl_bindings_free(&set);
    return rc;
}
