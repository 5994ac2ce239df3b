/* The response cache's bookkeeping (src/listener/cache_store.c): keys with
 * varied headers, the LRU bound in bytes, expiry, the scavenger and the
 * frequent-hit counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "listener/cache_store.h"

static size_t removed_count;

static void on_remove(lsn_centry_t *e, void *data)
{
    (void)data;
    removed_count++;
    free(e);
}

/* An entry of bytes for (site 1, host, path), varied by Accept-Language
 * when lang is not NULL ("" = the request had none). */
static lsn_centry_t *entry(const char *path, size_t bytes, const char *lang)
{
    lsn_centry_t *e = calloc(1, sizeof(*e));

    e->site_id = 1;
    e->host = "example.com";
    e->host_len = strlen(e->host);
    e->path = path;
    e->path_len = strlen(path);
    e->hash = lsn_cstore_hash(1, e->host, e->host_len, path, e->path_len);
    e->bytes = bytes;
    if (lang != NULL) {
        e->nvary = 1;
        e->vary_name[0] = "Accept-Language";
        e->vary_value[0] = *lang ? lang : NULL;
        e->vary_len[0] = strlen(lang);
    }
    return e;
}

static const char *req_lang;

static const char *header(const char *name, size_t *len, void *data)
{
    (void)data;
    if (strcmp(name, "Accept-Language") != 0 || req_lang == NULL) {
        return NULL;
    }
    *len = strlen(req_lang);
    return req_lang;
}

static lsn_centry_t *find(lsn_cstore_t *s, const char *path, uint64_t now)
{
    uint64_t h = lsn_cstore_hash(1, "example.com", 11, path, strlen(path));

    return lsn_cstore_find(s, h, 1, "example.com", 11, path, strlen(path), header, NULL, now);
}

static void test_key_is_exact(void **state)
{
    static lsn_cstore_t s;
    lsn_centry_t *e = entry("/a/b.txt", 100, NULL);

    (void)state;
    lsn_cstore_init(&s, 1000, on_remove, NULL);
    assert_true(lsn_cstore_insert(&s, e, 0));
    assert_ptr_equal(find(&s, "/a/b.txt", 1), e);
    /* the file system is case-sensitive: so is the key */
    assert_null(find(&s, "/a/B.txt", 1));
    assert_null(find(&s, "/a/b.tx", 1));
    /* another site, another host */
    assert_null(lsn_cstore_find(&s, lsn_cstore_hash(2, "example.com", 11, "/a/b.txt", 8), 2,
                                "example.com", 11, "/a/b.txt", 8, header, NULL, 1));
    assert_null(lsn_cstore_find(&s, lsn_cstore_hash(1, "other.com", 9, "/a/b.txt", 8), 1,
                                "other.com", 9, "/a/b.txt", 8, header, NULL, 1));
    /* host and path are separated in the hash */
    assert_true(lsn_cstore_hash(1, "ab", 2, "/c", 2) != lsn_cstore_hash(1, "a", 1, "b/c", 3));
    lsn_cstore_flush(&s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
}

static void test_vary(void **state)
{
    static lsn_cstore_t s;
    lsn_centry_t *en = entry("/v", 10, "en"), *fr = entry("/v", 10, "fr");
    lsn_centry_t *none = entry("/v", 10, "");

    (void)state;
    lsn_cstore_init(&s, 1000, on_remove, NULL);
    assert_true(lsn_cstore_insert(&s, en, 0));
    assert_true(lsn_cstore_insert(&s, fr, 0));
    assert_true(lsn_cstore_insert(&s, none, 0));
    req_lang = "fr";
    assert_ptr_equal(find(&s, "/v", 1), fr);
    req_lang = "en";
    assert_ptr_equal(find(&s, "/v", 1), en);
    req_lang = NULL;
    assert_ptr_equal(find(&s, "/v", 1), none);
    req_lang = "de";
    assert_null(find(&s, "/v", 1));
    /* the same variant again replaces the old one */
    removed_count = 0;
    assert_true(lsn_cstore_insert(&s, entry("/v", 10, "en"), 2));
    assert_int_equal(removed_count, 1);
    assert_int_equal(s.entries, 3);
    req_lang = NULL;
    lsn_cstore_flush(&s);
}

static void test_lru_bound(void **state)
{
    static lsn_cstore_t s;
    char paths[10][8];

    (void)state;
    lsn_cstore_init(&s, 300, on_remove, NULL);
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/%d", i);
        assert_true(lsn_cstore_insert(&s, entry(paths[i], 100, NULL), (uint64_t)i));
    }
    /* /0 is used, so /1 is the least recently used */
    assert_non_null(find(&s, "/0", 5));
    snprintf(paths[3], sizeof(paths[3]), "/3");
    assert_true(lsn_cstore_insert(&s, entry(paths[3], 100, NULL), 6));
    assert_true(s.bytes <= 300);
    assert_null(find(&s, "/1", 7));
    assert_non_null(find(&s, "/0", 7));
    assert_non_null(find(&s, "/2", 7));
    /* a larger one pushes out as many as it needs, never itself */
    snprintf(paths[4], sizeof(paths[4]), "/4");
    assert_true(lsn_cstore_insert(&s, entry(paths[4], 250, NULL), 8));
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.bytes, 250);
    /* larger than the whole cache: refused, not stored */
    lsn_centry_t *huge = entry("/huge", 301, NULL);
    assert_false(lsn_cstore_insert(&s, huge, 9));
    free(huge);
    /* a lower bound evicts at once */
    lsn_cstore_set_limit(&s, 100);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.stored, 5);
    assert_int_equal(s.removed, 5);
}

static void test_expiry_and_scavenger(void **state)
{
    static lsn_cstore_t s;
    lsn_centry_t *timed = entry("/t", 10, NULL);

    (void)state;
    lsn_cstore_init(&s, 1000, on_remove, NULL);
    timed->expires_ms = 1000;
    assert_true(lsn_cstore_insert(&s, timed, 0));
    assert_true(lsn_cstore_insert(&s, entry("/u", 10, NULL), 0));
    assert_non_null(find(&s, "/t", 999));
    assert_null(find(&s, "/t", 1000)); /* expired: removed */
    assert_int_equal(s.entries, 1);
    /* idle for the scavenger's period: gone; recently used: kept */
    assert_true(lsn_cstore_insert(&s, entry("/w", 10, NULL), 50000));
    lsn_cstore_scavenge(&s, 120000, 120000);
    assert_null(find(&s, "/u", 120001));
    assert_non_null(find(&s, "/w", 120001));
    lsn_cstore_flush(&s);
}

static void test_frequent_hits(void **state)
{
    static lsn_cstore_t s;
    uint64_t h = lsn_cstore_hash(1, "", 0, "/f", 2), other;

    (void)state;
    lsn_cstore_init(&s, 1000, on_remove, NULL);
    /* threshold 2 within 10 s: the first request is not enough, the second is */
    lsn_cstore_hit_count(&s, h, 0);
    assert_false(lsn_cstore_hit_frequent(&s, h, 2, 10000, 0));
    lsn_cstore_hit_count(&s, h, 100);
    assert_true(lsn_cstore_hit_frequent(&s, h, 2, 10000, 100));
    /* the window ends: counting starts again */
    lsn_cstore_hit_count(&s, h, 20000);
    assert_false(lsn_cstore_hit_frequent(&s, h, 2, 10000, 20000));
    /* threshold 1 (or 0): the first request suffices, even uncounted */
    assert_true(lsn_cstore_hit_frequent(&s, lsn_cstore_hash(1, "", 0, "/g", 2), 1, 10000, 0));
    /* a URL that takes the slot resets the count of the one it replaces */
    other = h + LSN_CSTORE_HITS;
    lsn_cstore_hit_count(&s, h, 30000);
    lsn_cstore_hit_count(&s, other, 30000);
    lsn_cstore_hit_count(&s, h, 30001);
    assert_false(lsn_cstore_hit_frequent(&s, h, 2, 10000, 30001));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_is_exact),
        cmocka_unit_test(test_vary),
        cmocka_unit_test(test_lru_bound),
        cmocka_unit_test(test_expiry_and_scavenger),
        cmocka_unit_test(test_frequent_hits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
