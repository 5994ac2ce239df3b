/*
 * Unit tests of encrypted attribute values (src/config/protect.c,
 * src/config/encrypted.c): WaspAesProvider's round trip, its refusal of any
 * changed byte and of another key, the "[enc:X::enc]" empty forms, the
 * Windows providers' message, the key file (made 0600, refused when group or
 * others may read it) and the loader's flags (plain load, CHECK_ENCRYPTED,
 * DECRYPT).
 *
 * The tests decode and re-encode values with OpenSSL's base64
 * (EVP_EncodeBlock / EVP_DecodeBlock), not with the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config/config.h"
#include "config/protect.h"

/* ---- helpers -------------------------------------------------------------------- */

static char tmp_dir[64];

static const char *tmp(const char *name)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, 256, "%s/%s", tmp_dir, name);
    return p;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/wasp-test-protect-XXXXXX");
    assert_non_null(mkdtemp(tmp_dir));
    wasp_protect_set_key_file(tmp("config.key"));
    return 0;
}

static int teardown(void **state)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    char p[512];

    (void)state;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", tmp_dir, e->d_name);
            unlink(p);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(tmp_dir);
    wasp_protect_set_key_file(NULL);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
    }
}

/* The key of the setup's key file, made on first use. */
static void key_of(const char *path, wasp_protect_key_t *key)
{
    char err[1024];

    if (wasp_protect_key_load(path, true, key, err, sizeof(err)) != 0) {
        fail_msg("key: %s", err);
    }
}

static void encrypt_ok(const wasp_protect_key_t *key, const char *plain, char *out, size_t size)
{
    char err[1024];

    if (wasp_protect_encrypt(key, plain, out, size, err, sizeof(err)) != 0) {
        fail_msg("encrypt: %s", err);
    }
}

/* The bytes of a WaspAesProvider value's data (OpenSSL's decoder). */
static size_t value_bytes(const char *value, unsigned char *out)
{
    const char *data = strchr(value + 5, ':') + 1;
    size_t n = strlen(data) - 5; /* ":enc]" */
    char b64[1024];
    int len;

    assert_true(n < sizeof(b64));
    memcpy(b64, data, n);
    b64[n] = '\0';
    len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    assert_true(len > 0);
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    while (n > 0 && b64[n - 1] == '=') {
        len--;
        n--;
    }
    return (size_t)len;
}

/* A WaspAesProvider value with these bytes. */
static void value_of(const unsigned char *bytes, size_t n, char *out)
{
    int p = sprintf(out, "[enc:WaspAesProvider:");

    p += EVP_EncodeBlock((unsigned char *)out + p, bytes, (int)n);
    strcpy(out + p, ":enc]");
}

/* ---- round trip ------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    wasp_protect_key_t key;
    char a[1024], b[1024], out[1024], err[1024], longtext[400];
    const char *texts[] = { "s3cret", "", "p\xc3\xa4ssw\xc3\xb6rd with \"quotes\" & <tags>",
                            longtext };

    (void)state;
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    key_of(tmp("config.key"), &key);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        encrypt_ok(&key, texts[i], a, sizeof(a));
        assert_true(strncmp(a, "[enc:WaspAesProvider:", 21) == 0);
        assert_string_equal(a + strlen(a) - 5, ":enc]");
        /* version 1, 12-byte nonce, the text, 16-byte tag */
        unsigned char bytes[512];
        assert_int_equal(value_bytes(a, bytes), 1 + 12 + strlen(texts[i]) + 16);
        assert_int_equal(bytes[0], 1);
        assert_int_equal(wasp_protect_decrypt(&key, a, out, sizeof(out), err, sizeof(err)), 0);
        assert_string_equal(out, texts[i]);
        /* a fresh nonce every time: the same text never gives the same value */
        encrypt_ok(&key, texts[i], b, sizeof(b));
        assert_string_not_equal(a, b);
    }
    /* plain text is its own value */
    assert_int_equal(wasp_protect_decrypt(&key, "plain", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "plain");
}

static void test_out_too_small(void **state)
{
    wasp_protect_key_t key;
    char v[512], out[6], err[1024];

    (void)state;
    key_of(tmp("config.key"), &key);
    assert_int_equal(wasp_protect_encrypt(&key, "s3cret", v, 40, err, sizeof(err)), -1);
    assert_contains(err, "more than the 40");
    encrypt_ok(&key, "s3cret", v, sizeof(v));
    assert_int_equal(wasp_protect_decrypt(&key, v, out, sizeof(out), err, sizeof(err)), -1);
    assert_string_equal(out, "");
    assert_contains(err, "decrypts to 6 bytes");
}

/* Every byte of the data changed in turn: never a text, always an error. */
static void test_tamper(void **state)
{
    wasp_protect_key_t key;
    char v[512], t[512], out[512], err[1024];
    unsigned char bytes[512];
    size_t n;

    (void)state;
    key_of(tmp("config.key"), &key);
    encrypt_ok(&key, "s3cret", v, sizeof(v));
    n = value_bytes(v, bytes);
    assert_int_equal(n, 1 + 12 + 6 + 16);
    for (size_t i = 0; i < n; i++) {
        bytes[i] ^= 0x01;
        value_of(bytes, n, t);
        strcpy(out, "junk");
        assert_int_equal(wasp_protect_decrypt(&key, t, out, sizeof(out), err, sizeof(err)), -1);
        assert_string_equal(out, "");
        if (i == 0) {
            assert_contains(err, "format version 0");
        } else {
            /* nonce (1..12), ciphertext (13..18), tag (19..34) */
            assert_contains(err, "could not be decrypted with the key in ");
            assert_contains(err, "the value was changed, or it was encrypted with another key");
        }
        bytes[i] ^= 0x01;
    }
    /* a byte cut off the tag, or one added */
    value_of(bytes, n - 1, t);
    assert_int_equal(wasp_protect_decrypt(&key, t, out, sizeof(out), err, sizeof(err)), -1);
    bytes[n] = 0;
    value_of(bytes, n + 1, t);
    assert_int_equal(wasp_protect_decrypt(&key, t, out, sizeof(out), err, sizeof(err)), -1);
    /* unchanged, it still decrypts */
    value_of(bytes, n, t);
    assert_int_equal(wasp_protect_decrypt(&key, t, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "s3cret");
}

static void test_wrong_key(void **state)
{
    wasp_protect_key_t k1, k2;
    char v[512], out[512], err[1024];

    (void)state;
    key_of(tmp("one.key"), &k1);
    key_of(tmp("two.key"), &k2);
    assert_memory_not_equal(k1.bytes, k2.bytes, sizeof(k1.bytes));
    encrypt_ok(&k1, "s3cret", v, sizeof(v));
    assert_int_equal(wasp_protect_decrypt(&k2, v, out, sizeof(out), err, sizeof(err)), -1);
    assert_string_equal(out, "");
    assert_contains(err, tmp("two.key"));
    assert_contains(err, "encrypted with another key");
}

/* ---- the form --------------------------------------------------------------------- */

static void test_empty_forms(void **state)
{
    const char *forms[] = { "[enc:AesProvider::enc]", "[enc:IISWASOnlyAesProvider::enc]",
                            "[enc:WaspAesProvider::enc]", "[enc:SomeoneElsesProvider::enc]" };
    wasp_protect_key_t key;
    wasp_protect_kind_t kind;
    char out[64], err[1024];

    (void)state;
    memset(&key, 0, sizeof(key));
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        assert_true(wasp_protect_is_encrypted(forms[i]));
        assert_int_equal(wasp_protect_classify(forms[i], &kind, err, sizeof(err)), 0);
        assert_int_equal(kind, WASP_PROTECT_EMPTY);
        strcpy(out, "junk");
        assert_int_equal(wasp_protect_decrypt(&key, forms[i], out, sizeof(out), err, sizeof(err)),
                         0);
        assert_string_equal(out, "");
    }
    assert_int_equal(wasp_protect_classify("plain text", &kind, err, sizeof(err)), 0);
    assert_int_equal(kind, WASP_PROTECT_PLAIN);
    assert_false(wasp_protect_is_encrypted("enc:x"));
}

static void test_windows_providers(void **state)
{
    const char *names[] = { "IISWASOnlyRsaProvider", "IISWASOnlyCngProvider",
                            "IISWASOnlyAesProvider", "IISCngProvider", "IISRsaProvider",
                            "AesProvider", "RsaProtectedConfigurationProvider",
                            "DataProtectionConfigurationProvider" };
    wasp_protect_kind_t kind;
    char v[256], err[1024], want[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(v, sizeof(v), "[enc:%s:9mM2ovvK6I1KeNdmNtr4fftObncukaJ9aSnxtLV4ZJs=:enc]",
                 names[i]);
        assert_int_equal(wasp_protect_classify(v, &kind, err, sizeof(err)), -1);
        snprintf(want, sizeof(want),
                 "is encrypted with the Windows provider '%s', which wasp cannot read: set it "
                 "again with waspctl (it encrypts with WaspAesProvider) or write it in plain "
                 "text",
                 names[i]);
        assert_string_equal(err, want);
    }
    assert_int_equal(wasp_protect_classify("[enc:MyProvider:AAAA:enc]", &kind, err, sizeof(err)),
                     -1);
    assert_contains(err, "provider 'MyProvider', which wasp does not know");
}

static void test_malformed(void **state)
{
    static const struct {
        const char *value, *why;
    } cases[] = {
        { "[enc:WaspAesProvider:AAAA", "does not end with \":enc]\"" },
        { "[enc:", "does not end with \":enc]\"" },
        { "[enc:AesProvider:enc]", "the provider name or the data is missing" },
        { "[enc::AAAA:enc]", "the provider name is missing" },
        { "[enc:WaspAesProvider:@@@@:enc]", "not base64" },
        { "[enc:WaspAesProvider:AAA:enc]", "not base64" },
        { "[enc:WaspAesProvider:AA=A:enc]", "not base64" },
        { "[enc:WaspAesProvider:AAAA AAAA:enc]", "not base64" },
        { "[enc:WaspAesProvider:AAAA====:enc]", "not base64" },
        /* 12 bytes: fewer than version + nonce + tag */
        { "[enc:WaspAesProvider:AQAAAAAAAAAAAAAA:enc]", "its data is 12 bytes, fewer than the 29" },
        /* 30 bytes of version 2 */
        { "[enc:WaspAesProvider:AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:enc]",
          "format version 2" },
    };
    wasp_protect_key_t key;
    wasp_protect_kind_t kind;
    char out[64], err[1024];

    (void)state;
    key_of(tmp("config.key"), &key);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (wasp_protect_classify(cases[i].value, &kind, err, sizeof(err)) != -1) {
            fail_msg("%s was accepted", cases[i].value);
        }
        assert_contains(err, cases[i].why);
        assert_contains(err, "set it again with waspctl");
        strcpy(out, "junk");
        assert_int_equal(
            wasp_protect_decrypt(&key, cases[i].value, out, sizeof(out), err, sizeof(err)), -1);
        assert_string_equal(out, "");
    }
}

/* ---- the key file ----------------------------------------------------------------- */

static void test_key_file_created_0600(void **state)
{
    wasp_protect_key_t k1, k2;
    struct stat st;
    char err[1024];
    mode_t old = umask(0);

    (void)state;
    /* not there, not asked to create it: the message says what to do */
    assert_int_equal(wasp_protect_key_load(tmp("config.key"), false, &k1, err, sizeof(err)), -1);
    assert_contains(err, "does not exist");
    assert_contains(err, "--config-key");
    key_of(tmp("config.key"), &k1);
    umask(old);
    assert_int_equal(stat(tmp("config.key"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(st.st_uid, geteuid());
    assert_string_equal(k1.path, tmp("config.key"));
    /* read again, not made again */
    key_of(tmp("config.key"), &k2);
    assert_memory_equal(k1.bytes, k2.bytes, sizeof(k1.bytes));
    /* no temporary file is left behind */
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        files += e->d_name[0] != '.';
    }
    closedir(d);
    assert_int_equal(files, 1);
}

/* Programs that make the key at the same time agree on one key. */
static void test_key_file_created_once(void **state)
{
    enum { N = 6 };
    int fds[N][2];
    unsigned char keys[N][WASP_PROTECT_KEY_SIZE];

    (void)state;
    for (int i = 0; i < N; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            wasp_protect_key_t k;
            char err[1024];
            int ok = wasp_protect_key_load(tmp("race.key"), true, &k, err, sizeof(err)) == 0 &&
                     write(fds[i][1], k.bytes, sizeof(k.bytes)) == (ssize_t)sizeof(k.bytes);
            _exit(ok ? 0 : 1);
        }
        close(fds[i][1]);
    }
    for (int i = 0; i < N; i++) {
        int status;
        assert_int_equal(read(fds[i][0], keys[i], sizeof(keys[i])), (ssize_t)sizeof(keys[i]));
        close(fds[i][0]);
        assert_true(wait(&status) > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int i = 1; i < N; i++) {
        assert_memory_equal(keys[0], keys[i], sizeof(keys[0]));
    }
}

static void test_key_file_refused(void **state)
{
    unsigned char bytes[33] = { 0 };
    wasp_protect_key_t key;
    char err[1024];
    static const mode_t open_modes[] = { 0644, 0640, 0604, 0660, 0602 };

    (void)state;
    for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
        write_file(tmp("open.key"), bytes, 32, open_modes[i]);
        assert_int_equal(wasp_protect_key_load(tmp("open.key"), true, &key, err, sizeof(err)),
                         -1);
        assert_contains(err, "group or others may read or change it");
        assert_contains(err, "chmod 600");
        assert_contains(err, tmp("open.key"));
    }
    write_file(tmp("short.key"), bytes, 31, 0600);
    assert_int_equal(wasp_protect_key_load(tmp("short.key"), true, &key, err, sizeof(err)), -1);
    assert_contains(err, "exactly 32 bytes");
    write_file(tmp("long.key"), bytes, 33, 0600);
    assert_int_equal(wasp_protect_key_load(tmp("long.key"), true, &key, err, sizeof(err)), -1);
    assert_contains(err, "exactly 32 bytes");
    assert_int_equal(wasp_protect_key_load(tmp_dir, true, &key, err, sizeof(err)), -1);
    assert_contains(err, "not a regular file");
    write_file(tmp("good.key"), bytes, 32, 0400);
    assert_int_equal(wasp_protect_key_load(tmp("good.key"), false, &key, err, sizeof(err)), 0);
}

static void test_key_file_name(void **state)
{
    char cwd[1024], want[2048];

    (void)state;
    wasp_protect_set_key_file(NULL);
    unsetenv("WASP_CONFIG_KEY");
    assert_string_equal(wasp_protect_key_file(), "/etc/wasp/config.key");
    setenv("WASP_CONFIG_KEY", "/srv/k", 1);
    assert_string_equal(wasp_protect_key_file(), "/srv/k");
    wasp_protect_set_key_file("rel/k.key");
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "%s/rel/k.key", cwd);
    assert_string_equal(wasp_protect_key_file(), want);
    unsetenv("WASP_CONFIG_KEY");
}

static void test_encrypted_attrs(void **state)
{
    (void)state;
    assert_true(wasp_protect_attr_encrypted("system.applicationHost/applicationPools",
                                            "processModel", "password"));
    assert_false(wasp_protect_attr_encrypted("system.applicationHost/applicationPools",
                                             "processModel", "userName"));
    assert_true(wasp_protect_attr_encrypted("system.applicationHost/sites", "virtualDirectory",
                                            "password"));
    assert_false(wasp_protect_attr_encrypted("system.applicationHost/sites", "virtualDirectory",
                                             "userName"));
    assert_true(wasp_protect_attr_encrypted(
        "system.webServer/security/authentication/anonymousAuthentication",
        "anonymousAuthentication", "password"));
}

/* ---- the loader ------------------------------------------------------------------- */

/* applicationHost.config in the test directory with a pool whose
 * processModel carries pm (line 6) and defaults carrying dpm (line 9). */
static const char *write_config(const char *pm, const char *dpm)
{
    char text[4096];
    const char *path = tmp("applicationHost.config");

    snprintf(text, sizeof(text),
             "<?xml version=\"1.0\"?>\n"
             "<configuration>\n"
             "<system.applicationHost>\n"
             "<applicationPools>\n"
             "<add name=\"P\">\n"
             "<processModel %s />\n"
             "</add>\n"
             "<applicationPoolDefaults>\n"
             "<processModel %s />\n"
             "</applicationPoolDefaults>\n"
             "</applicationPools>\n"
             "</system.applicationHost>\n"
             "</configuration>\n",
             pm, dpm);
    write_file(path, text, strlen(text), 0644);
    return path;
}

static const wasp_section_t *pool_pm(wasp_config_t *cfg)
{
    const wasp_section_t *pools =
        wasp_config_section(cfg, NULL, "/", "system.applicationHost/applicationPools");
    assert_non_null(pools);
    return wasp_section_child(wasp_section_item(pools, 0), "processModel");
}

static void test_load_windows_value(void **state)
{
    const char *path = write_config("identityType=\"SpecificUser\" userName=\"bob\" "
                                    "password=\"[enc:IISWASOnlyAesProvider:AAAA:enc]\"",
                                    "");
    char want[1024], buf[2048];
    wasp_diag_t d;
    wasp_config_t *cfg;

    (void)state;
    /* a plain load reads the file as IIS' configuration system does */
    cfg = wasp_config_load(path, &d);
    assert_non_null(cfg);
    char out[64];
    assert_int_equal(wasp_config_decrypt_attr(cfg, pool_pm(cfg), "password", out, sizeof(out), &d),
                     -1);
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 6);
    wasp_config_free(cfg);
    snprintf(want, sizeof(want),
             "%s:6: Attribute 'password' (applicationHost.config line 6) is encrypted with the "
             "Windows provider 'IISWASOnlyAesProvider', which wasp cannot read: set it again "
             "with waspctl (it encrypts with WaspAesProvider) or write it in plain text",
             path);
    assert_string_equal(wasp_diag_format(&d, buf, sizeof(buf)), want);
    /* waspctl's and waspd's loads refuse it, with the same words */
    for (unsigned flags = WASP_CONFIG_CHECK_ENCRYPTED; flags <= WASP_CONFIG_DECRYPT; flags <<= 1) {
        assert_null(wasp_config_load_ex(path, flags, &d));
        assert_string_equal(wasp_diag_format(&d, buf, sizeof(buf)), want);
    }
}

static void test_load_only_specific_user(void **state)
{
    const char *path;
    wasp_diag_t d;
    wasp_config_t *cfg;

    (void)state;
    /* a password the pool's identity does not use is not read */
    path = write_config("identityType=\"ApplicationPoolIdentity\" "
                        "password=\"[enc:AesProvider:AAAA:enc]\"",
                        "");
    cfg = wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &d);
    assert_non_null(cfg);
    wasp_config_free(cfg);
    /* SpecificUser from the defaults, password from the defaults (line 9) */
    path = write_config("userName=\"bob\"",
                        "identityType=\"SpecificUser\" password=\"[enc:AesProvider:AAAA:enc]\"");
    assert_null(wasp_config_load_ex(path, WASP_CONFIG_CHECK_ENCRYPTED, &d));
    assert_int_equal(d.line, 9);
    assert_contains(d.message, "Attribute 'password' (applicationHost.config line 9)");
    /* the empty forms of IIS' schema defaults are fine everywhere */
    path = write_config("identityType=\"SpecificUser\" userName=\"bob\" "
                        "password=\"[enc:IISWASOnlyAesProvider::enc]\"",
                        "");
    cfg = wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &d);
    assert_non_null(cfg);
    wasp_config_free(cfg);
}

static void test_load_decrypt(void **state)
{
    wasp_protect_key_t key, other;
    char v[512], pm[1024], out[64], buf[2048];
    const char *path;
    wasp_diag_t d;
    wasp_config_t *cfg;

    (void)state;
    /* no encrypted value: no key file is needed, none is made */
    path = write_config("identityType=\"SpecificUser\" userName=\"bob\" password=\"plain\"", "");
    cfg = wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &d);
    assert_non_null(cfg);
    assert_int_equal(wasp_config_decrypt_attr(cfg, pool_pm(cfg), "password", out, sizeof(out), &d),
                     0);
    assert_string_equal(out, "plain");
    wasp_config_free(cfg);
    assert_int_equal(access(tmp("config.key"), F_OK), -1);

    /* encrypted: waspd's load decrypts it; so does wasp_config_decrypt_attr */
    key_of(tmp("config.key"), &key);
    encrypt_ok(&key, "s3cret", v, sizeof(v));
    snprintf(pm, sizeof(pm), "identityType=\"SpecificUser\" userName=\"bob\" password=\"%s\"", v);
    path = write_config(pm, "");
    cfg = wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &d);
    if (cfg == NULL) {
        fail_msg("%s", wasp_diag_format(&d, buf, sizeof(buf)));
    }
    assert_int_equal(wasp_config_decrypt_attr(cfg, pool_pm(cfg), "password", out, sizeof(out), &d),
                     0);
    assert_string_equal(out, "s3cret");
    /* absent: empty */
    assert_int_equal(wasp_config_decrypt_attr(cfg, pool_pm(cfg), "nothing", out, sizeof(out), &d),
                     0);
    assert_string_equal(out, "");
    wasp_config_free(cfg);

    /* without the key (a worker, waspctl): the value is kept, not read */
    cfg = wasp_config_load_ex(path, WASP_CONFIG_CHECK_ENCRYPTED, &d);
    assert_non_null(cfg);
    assert_int_equal(wasp_config_decrypt_attr(cfg, pool_pm(cfg), "password", out, sizeof(out), &d),
                     -1);
    assert_contains(d.message, "which only waspd reads");
    assert_string_equal(out, "");
    wasp_config_free(cfg);

    /* another key: the load fails with the attribute, the file and the line */
    key_of(tmp("other.key"), &other);
    wasp_protect_set_key_file(tmp("other.key"));
    assert_null(wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &d));
    assert_string_equal(d.file, path);
    assert_int_equal(d.line, 6);
    assert_contains(d.message, "Attribute 'password' (applicationHost.config line 6) could not "
                               "be decrypted with the key in ");
    assert_contains(d.message, tmp("other.key"));

    /* no key file at all */
    wasp_protect_set_key_file(tmp("missing.key"));
    assert_null(wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &d));
    assert_contains(d.message, "could not be decrypted: the key file ");
    assert_contains(d.message, "does not exist");

    /* a key file others may read */
    assert_int_equal(chmod(tmp("config.key"), 0644), 0);
    wasp_protect_set_key_file(tmp("config.key"));
    assert_null(wasp_config_load_ex(path, WASP_CONFIG_DECRYPT, &d));
    assert_contains(d.message, "chmod 600");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_too_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows_providers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_created_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_created_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_attrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_windows_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_only_specific_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_decrypt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
