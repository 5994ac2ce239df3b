/*
 * libFuzzer target for the configuration loader: the input is an
 * applicationHost.config.  It goes through everything a load does — XML
 * (libxml2 with wasp's safe options), section declarations, the schema
 * check of every section, collections, <location> levels and merging, the
 * pools and sites model — and then every site's effective configuration is
 * looked up and its URL mapped, as waspd and the workers do.
 *
 * Invariants: a load either succeeds or gives a message with a file name
 * (never a crash, a leak or a hang); a loaded configuration answers every
 * lookup; loading the same bytes twice gives the same result.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static const char *fuzz_file(void)
{
    static char path[64];

    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/wasp-fuzz-config-%d.config", (int)getpid());
    }
    return path;
}

static wasp_config_t *load(const uint8_t *data, size_t size, wasp_diag_t *d)
{
    FILE *f = fopen(fuzz_file(), "wb");

    CHECK(f != NULL);
    CHECK(fwrite(data, 1, size, f) == size);
    CHECK(fclose(f) == 0);
    return wasp_config_load(fuzz_file(), d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const sections[] = {
        "system.webServer/handlers", "system.webServer/staticContent",
        "system.webServer/defaultDocument", "system.webServer/security/requestFiltering",
        "system.webServer/httpErrors", "system.webServer/rewrite/rules"};
    wasp_diag_t d1, d2;
    wasp_config_t *a, *b;

    if (size > 256 * 1024) {
        return 0;
    }
    a = load(data, size, &d1);
    b = load(data, size, &d2);
    CHECK((a == NULL) == (b == NULL));
    if (a == NULL) {
        CHECK(d1.file[0] != '\0' && d1.message[0] != '\0');
        CHECK(strcmp(d1.message, d2.message) == 0 && d1.line == d2.line);
    } else {
        for (size_t i = 0; i < wasp_config_site_count(a); i++) {
            const wasp_site_cfg_t *s = wasp_config_site(a, i);
            char phys[4096];

            for (size_t k = 0; k < sizeof(sections) / sizeof(sections[0]); k++) {
                (void)wasp_config_section(a, s->name, "/", sections[k]);
                (void)wasp_config_section(a, s->name, "/a/b/c.txt", sections[k]);
            }
            (void)wasp_config_map_url(a, s, "/", NULL, NULL, phys, sizeof(phys));
            (void)wasp_config_map_url(a, s, "/a/b/c.txt", NULL, NULL, phys, sizeof(phys));
        }
        CHECK(wasp_config_site_count(a) == wasp_config_site_count(b));
        CHECK(wasp_config_pool_count(a) == wasp_config_pool_count(b));
    }
    wasp_config_free(a);
    wasp_config_free(b);
    unlink(fuzz_file());
    return 0;
}
