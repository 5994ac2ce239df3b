/*
 * Encrypted attribute values (IIS' configProtectedData, iis-hosting.md 6.4)
 * and wasp's own provider, WaspAesProvider.
 *
 * IIS writes a secret attribute (an application pool's processModel
 * password, a virtual directory's password) as "[enc:Provider:DATA:enc]",
 * where Provider is one of the <configProtectedData><providers> of
 * applicationHost.config.  The Windows providers (IISWASOnlyRsaProvider,
 * IISWASOnlyAesProvider, AesProvider, IISCngProvider, ...) keep their keys
 * in the Windows key store, so wasp cannot read their values; it says so,
 * naming the attribute, instead of using the encrypted text as the value.
 *
 * WaspAesProvider is wasp's: AES-256-GCM with a 32-byte key in a file
 * readable only by the user that runs waspd (default /etc/wasp/config.key).
 * Its values read
 *
 *     [enc:WaspAesProvider:BASE64(version | nonce | ciphertext | tag):enc]
 *
 * version: 1 byte (1); nonce: 12 random bytes, fresh for every value;
 * ciphertext: as long as the text; tag: 16 bytes.  The associated data is
 * the provider name followed by the version byte, so a value is only ever
 * read as what it was written as (a later format or provider cannot be fed
 * an old value).  Values are not bound to the attribute they sit in: IIS'
 * values are not either, an administrator moves them (a pool renamed, a
 * password moved to applicationPoolDefaults, the output of "waspctl encrypt"
 * pasted by hand), and wasp never shows a decrypted value, so swapping two
 * values gains nothing that write access to the file does not already give.
 *
 * "[enc:ANY::enc]" (no data) is the empty value for every provider: IIS'
 * schema defaults are written that way.
 *
 * Nothing here knows about the configuration tree; encrypted.c applies it
 * to attributes (wasp_config_decrypt_attr in config.h).
 */
#ifndef WASP_PROTECT_H
#define WASP_PROTECT_H

#include <stdbool.h>
#include <stddef.h>

#define WASP_PROTECT_PROVIDER "WaspAesProvider"
#define WASP_PROTECT_KEY_DEFAULT "/etc/wasp/config.key"
#define WASP_PROTECT_KEY_SIZE 32

/* The key of WaspAesProvider and the file it came from (for messages). */
typedef struct wasp_protect_key {
    unsigned char bytes[WASP_PROTECT_KEY_SIZE];
    char path[4096];
} wasp_protect_key_t;

/* The key file of this process: the last path given here (waspd and
 * waspctl pass --config-key), else $WASP_CONFIG_KEY, else
 * WASP_PROTECT_KEY_DEFAULT.  A relative path is made absolute against the
 * current directory when it is set. */
void wasp_protect_set_key_file(const char *path);
const char *wasp_protect_key_file(void);

/* Read the key at path.  create: when the file does not exist, make it
 * (32 random bytes, mode 0600, owned by the calling user; written under a
 * temporary name and linked into place, so two programs creating it at once
 * agree on one key).  Refused, with a sentence in err that says what to do:
 * a file that is not a regular file of exactly 32 bytes, or that group or
 * others may read or write.  Returns 0 or -1. */
int wasp_protect_key_load(const char *path, bool create, wasp_protect_key_t *key, char *err,
                          size_t errsz);

/* Overwrite the key's bytes (before it is freed or goes out of scope). */
void wasp_protect_key_wipe(wasp_protect_key_t *key);

/* True when value is in the "[enc:" form (well-formed or not). */
bool wasp_protect_is_encrypted(const char *value);

/* What an "[enc:...:enc]" value is, found without the key. */
typedef enum wasp_protect_kind {
    WASP_PROTECT_PLAIN = 0, /* not encrypted: the value is the text itself */
    WASP_PROTECT_EMPTY,     /* "[enc:ANY::enc]": the empty value */
    WASP_PROTECT_WASP,      /* a well-formed WaspAesProvider value: needs the key */
} wasp_protect_kind_t;

/* Classify value.  -1 with err for a value wasp can never read: another
 * provider's data (Windows or unknown), a value that starts "[enc:" but is
 * not of the form, or WaspAesProvider data that is not base64, too short or
 * of an unknown version.  err is a predicate to follow "Attribute 'x' ...":
 * "is encrypted with the Windows provider 'AesProvider', which ...". */
int wasp_protect_classify(const char *value, wasp_protect_kind_t *kind, char *err, size_t errsz);

/* Encrypt plain (a C string) into out as a WaspAesProvider value.  0, or -1
 * with err (out too small, no randomness, OpenSSL failure). */
int wasp_protect_encrypt(const wasp_protect_key_t *key, const char *plain, char *out,
                         size_t size, char *err, size_t errsz);

/* The text of value: plain text as it is, "" for an empty form, the
 * decrypted text of a WaspAesProvider value.  -1 with err (a predicate, as
 * for wasp_protect_classify) when it cannot be read: what classify refuses,
 * a value that does not authenticate under key (changed, or encrypted with
 * another key: GCM cannot tell the two apart), text with a NUL byte, or out
 * too small.  out never holds a partial or unauthenticated text on error. */
int wasp_protect_decrypt(const wasp_protect_key_t *key, const char *value, char *out,
                         size_t size, char *err, size_t errsz);

/* Overwrite size bytes at p (a decrypted secret) in a way the compiler
 * keeps. */
void wasp_protect_wipe(void *p, size_t size);

/* True when IIS' schema marks the attribute encrypted ("encrypted=true"):
 * section is the section path ("system.applicationHost/applicationPools"),
 * element the name of the element that carries the attribute
 * ("processModel"; the section's own name for an attribute of the section
 * element).  Writers (waspctl) encrypt these values.  The user names next to
 * these passwords are not encrypted in IIS, and are not here. */
bool wasp_protect_attr_encrypted(const char *section, const char *element, const char *attr);

#endif /* WASP_PROTECT_H */
