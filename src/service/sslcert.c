/*
 * waspd's copy of HTTP.sys' SSL configuration (src/tls/sslstore.h): the
 * entries of <cert store>/sslbindings.conf, read at start-up and again
 * whenever waspctl says it changed the file (control command
 * sslcert-changed), held in svc.ssl_bindings for the listener's TLS
 * termination.  waspctl writes the file itself, so a change made while
 * waspd is stopped is simply read at the next start.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "service/svc.h"

void svc_sslcert_load(void)
{
    char file[PATH_MAX], err[2048];

    wasp_ssl_bindings_path(svc.cert_store, file, sizeof(file));
    if (wasp_ssl_bindings_load(file, &svc.ssl_bindings, err, sizeof(err)) != 0) {
        wasp_error("%s; waspd runs with no SSL certificate bindings until it is fixed", err);
        return;
    }
    if (svc.ssl_bindings.count > 0) {
        wasp_info("SSL certificate bindings: %zu (from %s)", svc.ssl_bindings.count, file);
    }
}

int svc_sslcert_changed(const char *root, char *msg, size_t size)
{
    char ours[PATH_MAX], theirs[PATH_MAX], file[PATH_MAX], err[2048];
    wasp_ssl_bindings_t set;

    /* waspctl and waspd must mean the same store, or the change would
     * silently not apply. */
    if (root != NULL && *root &&
        (realpath(svc.cert_store, ours) == NULL || realpath(root, theirs) == NULL ||
         strcmp(ours, theirs) != 0)) {
        snprintf(msg, size,
                 "waspd reads its SSL certificate bindings from the certificate store %s, not "
                 "%s: give waspctl --cert-store %s (or start waspd with --cert-store %s)",
                 svc.cert_store, root, svc.cert_store, root);
        return 1;
    }
    wasp_ssl_bindings_path(svc.cert_store, file, sizeof(file));
    if (wasp_ssl_bindings_load(file, &set, err, sizeof(err)) != 0) {
        snprintf(msg, size, "%s; waspd keeps the %zu entries it had", err,
                 svc.ssl_bindings.count);
        wasp_error("%s", msg);
        return 1;
    }
    wasp_ssl_bindings_free(&svc.ssl_bindings);
    svc.ssl_bindings = set;
    snprintf(msg, size, "SSL certificate bindings changed: %zu bindings", set.count);
    wasp_info("%s", msg);
    return 0;
}
