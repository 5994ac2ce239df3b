/*
 * Encrypted attributes of a loaded configuration: IIS' "[enc:...:enc]"
 * values (protect.h) read from a node, with messages that name the
 * attribute, the file and the line.
 *
 * Only the process that holds the key (waspd, which loads with
 * WASP_CONFIG_DECRYPT) decrypts.  The key file is read when the first
 * WaspAesProvider value needs it, so a configuration without encrypted
 * values needs no key file, and every load (a reload included) reads the
 * file again: a new key takes effect with the configuration that uses it.
 * The key is wiped at the end of the load (and read again by a later
 * wasp_config_decrypt_attr), so waspd does not hold it between uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_internal.h"
#include "config/protect.h"

/* "Attribute 'password' (applicationHost.config line 12) <predicate>". */
static int enc_fail(wasp_diag_t *diag, const wasp_section_t *node, const char *name, int line,
                    const char *predicate)
{
    const char *file = node->file ? node->file : "";
    const char *base = strrchr(file, '/');

    cfg_diag(diag, file, line, "Attribute '%s' (%s line %d) %s", name, base ? base + 1 : file,
             line, predicate);
    return -1;
}

static int enc_key(wasp_config_t *cfg, char *err, size_t errsz)
{
    wasp_protect_key_t *key;

    if (cfg->key != NULL) {
        return 0;
    }
    key = malloc(sizeof(*key));
    if (key == NULL) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    if (wasp_protect_key_load(wasp_protect_key_file(), false, key, err, errsz) != 0) {
        free(key);
        return -1;
    }
    cfg->key = key;
    return 0;
}

void cfg_free_key(wasp_config_t *cfg)
{
    if (cfg->key != NULL) {
        wasp_protect_key_wipe(cfg->key);
        free(cfg->key);
        cfg->key = NULL;
    }
}

/* Decrypt value (a WaspAesProvider one) into out. */
static int enc_decrypt(wasp_config_t *cfg, const wasp_section_t *node, const char *name,
                       int line, const char *value, char *out, size_t size, wasp_diag_t *diag)
{
    char err[1024], why[1100];

    if (!(cfg->flags & WASP_CONFIG_DECRYPT)) {
        return enc_fail(diag, node, name, line,
                        "is encrypted with " WASP_PROTECT_PROVIDER ", which only waspd reads: "
                        "its key file is readable by waspd's user only");
    }
    if (enc_key(cfg, err, sizeof(err)) != 0) {
        snprintf(why, sizeof(why), "could not be decrypted: %s", err);
        return enc_fail(diag, node, name, line, why);
    }
    if (wasp_protect_decrypt(cfg->key, value, out, size, err, sizeof(err)) != 0) {
        return enc_fail(diag, node, name, line, err);
    }
    return 0;
}

int wasp_config_decrypt_attr(wasp_config_t *cfg, const wasp_section_t *node, const char *name,
                             char *out, size_t size, wasp_diag_t *diag)
{
    wasp_protect_kind_t kind;
    char err[1024];
    int line;
    const char *v = cfg_node_attr_line(node, name, &line);

    if (size == 0) {
        return enc_fail(diag, node, name, line, "could not be read: no room for it");
    }
    out[0] = '\0';
    if (v == NULL) {
        return 0;
    }
    if (wasp_protect_classify(v, &kind, err, sizeof(err)) != 0) {
        return enc_fail(diag, node, name, line, err);
    }
    if (kind == WASP_PROTECT_WASP) {
        return enc_decrypt(cfg, node, name, line, v, out, size, diag);
    }
    if (kind == WASP_PROTECT_PLAIN) {
        if (strlen(v) >= size) {
            return enc_fail(diag, node, name, line, "is longer than wasp has room for");
        }
        memcpy(out, v, strlen(v) + 1);
    }
    return 0;
}

int cfg_check_encrypted_attr(wasp_config_t *cfg, const wasp_section_t *node, const char *name,
                             wasp_diag_t *diag)
{
    wasp_protect_kind_t kind;
    char err[1024], *plain;
    int line, rc;
    const char *v = cfg_node_attr_line(node, name, &line);

    if (v == NULL || !(cfg->flags & (WASP_CONFIG_CHECK_ENCRYPTED | WASP_CONFIG_DECRYPT))) {
        return 0;
    }
    if (wasp_protect_classify(v, &kind, err, sizeof(err)) != 0) {
        return enc_fail(diag, node, name, line, err);
    }
    if (kind != WASP_PROTECT_WASP || !(cfg->flags & WASP_CONFIG_DECRYPT)) {
        return 0;
    }
    /* The text is never longer than its encrypted form. */
    plain = malloc(strlen(v) + 1);
    if (plain == NULL) {
        return enc_fail(diag, node, name, line, "could not be decrypted: out of memory");
    }
    rc = enc_decrypt(cfg, node, name, line, v, plain, strlen(v) + 1, diag);
    wasp_protect_wipe(plain, strlen(v) + 1);
    free(plain);
    return rc;
}
