/*
 * Who each process runs as.  Started as root, waspd runs the listener as the
 * system user "wasp-http" and each pool's workers as a system user of their
 * own (IIS' ApplicationPoolIdentity), creating those users on first use.
 * Started as anyone else, everything runs as that user.
 */
#ifndef WASP_IDENTITY_H
#define WASP_IDENTITY_H

#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"

#define WASP_LISTENER_USER "wasp-http"

typedef struct wasp_identity {
    uid_t uid;
    gid_t gid;
    char user[64];
} wasp_identity_t;

/* The system user for a pool's ApplicationPoolIdentity: "wasp-pool-<name>",
 * shortened with a hash to fit the 32-byte user name limit. */
void wasp_pool_user_name(const char *pool, char *out, size_t size);
/* Resolve (and as root create) the identity for a pool / the listener. */
int wasp_identity_for_pool(const wasp_pool_cfg_t *pool, wasp_identity_t *id,
                           bool allow_local_system, char *err, size_t err_size);
int wasp_identity_for_listener(wasp_identity_t *id, char *err, size_t err_size);
/* In a freshly forked child: become id, drop supplementary groups, forbid
 * regaining privileges.  Returns 0 or -1 (errno set). */
int wasp_identity_become(const wasp_identity_t *id);

#endif
