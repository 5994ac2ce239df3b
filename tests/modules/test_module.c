/*
 * TestModule: a module for the integration tests, built only into
 * build/tests/wasp_test_module.so and loaded through <globalModules> like any
 * third-party module.  Mapped with a handler such as path="*.wtest", it
 * answers /x.wtest?op=...:
 *   echo          200 with method, URL, headers and body echoed back
 *   sleep&ms=N    answers after N ms through PENDING + a loop timer: other
 *                 requests of the same worker proceed meanwhile
 *   crash         kills its worker with SIGSEGV
 *   hang          blocks the whole worker, event loop included, forever
 *   grow&mb=N     keeps N MiB more memory allocated and touched
 *   whoami        pid=<pid> uid=<uid> pool=<pool name>
 *   stream&n=N    N chunks flushed as they are written (length unknown)
 *   big&kb=N      N KiB of body from memory (flow control)
 *   env&name=X    the value of environment variable X ("(unset)" if none)
 *   spin&ms=N     burns N ms of CPU time in the worker (blocking it)
 *   status        the worker's /proc/self/status lines NoNewPrivs, Cap*, Groups
 * With WASP_TEST_INIT_SLEEP_MS=N in the worker's environment (a pool's
 * environmentVariables), registration sleeps N ms: a worker that starts
 * slowly, for startupTimeLimit.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wasp/module.h"

typedef struct test_state {
    wasp_timer_t *timer;
    wasp_request_t *req;
} test_state_t;

static void **grown;
static size_t grown_count;

/* Value of key in the query string (not decoded; tests use plain values). */
static int query_get(wasp_request_t *req, const char *key, char *out, size_t size)
{
    wasp_str_t q = wasp_request_query(req);
    size_t klen = strlen(key);
    const char *p = q.ptr, *end = q.ptr + q.len;

    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;

        if ((size_t)(stop - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t n = (size_t)(stop - p - (ptrdiff_t)klen - 1);

            if (n >= size) {
                n = size - 1;
            }
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

static void test_write_str(wasp_request_t *req, const char *s)
{
    wasp_response_write(req, s, strlen(s));
}

static wasp_status_t test_echo(wasp_request_t *req)
{
    char line[512];
    wasp_str_t m = wasp_request_method(req), u = wasp_request_raw_url(req);
    wasp_str_t body = wasp_request_body(req);

    wasp_response_set_header(req, "Content-Type", "text/plain; charset=utf-8");
    snprintf(line, sizeof(line), "method=%.*s\nurl=%.*s\n", (int)m.len, m.ptr, (int)u.len, u.ptr);
    test_write_str(req, line);
    for (size_t i = 0; i < wasp_request_header_count(req); i++) {
        wasp_str_t n, v;

        wasp_request_header_at(req, i, &n, &v);
        test_write_str(req, "header=");
        wasp_response_write(req, n.ptr, n.len);
        test_write_str(req, ": ");
        wasp_response_write(req, v.ptr, v.len);
        test_write_str(req, "\n");
    }
    snprintf(line, sizeof(line), "body-length=%zu\nbody=", body.len);
    test_write_str(req, line);
    wasp_response_write(req, body.ptr, body.len);
    return WASP_FINISH;
}

static void test_sleep_done(void *data)
{
    test_state_t *st = data;
    wasp_request_t *req = st->req;
    char pid[16];

    st->timer = NULL;
    wasp_response_set_header(req, "Content-Type", "text/plain");
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    wasp_response_set_header(req, "X-Worker-Pid", pid); /* which garden member */
    test_write_str(req, "slept\n");
    wasp_request_resume(req, WASP_FINISH);
}

static void test_abort(wasp_request_t *req, void *state)
{
    test_state_t *st = state;

    if (st != NULL && st->timer != NULL) {
        wasp_timer_cancel(st->timer);
        st->timer = NULL;
    }
}

static wasp_status_t test_execute(wasp_request_t *req, void *state)
{
    test_state_t *st = state;
    char op[32] = "", arg[32] = "";

    query_get(req, "op", op, sizeof(op));
    if (op[0] == '\0' && wasp_request_query(req).len == 0) {
        /* No query: a body that changes with every execution (the response
         * cache tests tell a cached answer from a fresh one by it). */
        static unsigned long executions;
        char line[64];

        wasp_str_t path = wasp_request_path(req);

        snprintf(line, sizeof(line), "execution %lu\n", ++executions);
        wasp_response_set_header(req, "Content-Type", "text/plain");
        /* .../cookie.wtest and .../vary.wtest: headers that keep a response
         * out of a shared cache, or key it. */
        if (path.len >= 12 && memcmp(path.ptr + path.len - 12, "cookie.wtest", 12) == 0) {
            wasp_response_add_header(req, "Set-Cookie", "session=1");
        }
        if (path.len >= 10 && memcmp(path.ptr + path.len - 10, "vary.wtest", 10) == 0) {
            wasp_response_set_header(req, "Vary", "Accept-Language");
        }
        test_write_str(req, line);
        return WASP_FINISH;
    }
    if (strcmp(op, "echo") == 0) {
        return test_echo(req);
    }
    if (strcmp(op, "sleep") == 0) {
        long ms = query_get(req, "ms", arg, sizeof(arg)) == 0 ? strtol(arg, NULL, 10) : 100;

        st->req = req;
        st->timer = wasp_timer_start((uint64_t)(ms < 0 ? 0 : ms), test_sleep_done, st);
        return st->timer ? WASP_PENDING : wasp_request_fail(req, 500, 0, "no timer");
    }
    if (strcmp(op, "crash") == 0) {
        raise(SIGSEGV);
        return WASP_FINISH;
    }
    if (strcmp(op, "hang") == 0) {
        for (;;) {
            pause();
        }
    }
    if (strcmp(op, "grow") == 0) {
        long mb = query_get(req, "mb", arg, sizeof(arg)) == 0 ? strtol(arg, NULL, 10) : 1;
        void **p = realloc(grown, (grown_count + 1) * sizeof(*p));
        char *block;

        if (p == NULL || mb <= 0 || mb > 4096) {
            return wasp_request_fail(req, 500, 0, "grow: bad size");
        }
        grown = p;
        block = malloc((size_t)mb << 20);
        if (block == NULL) {
            return wasp_request_fail(req, 500, 0, "grow: out of memory");
        }
        memset(block, 0x5a, (size_t)mb << 20); /* touched: counts as resident */
        grown[grown_count++] = block;
        snprintf(arg, sizeof(arg), "grown=%ld\n", mb);
        test_write_str(req, arg);
        return WASP_FINISH;
    }
    if (strcmp(op, "whoami") == 0) {
        char line[512];

        snprintf(line, sizeof(line), "pid=%d uid=%d pool=%s\n", (int)getpid(), (int)getuid(),
                 wasp_worker_pool_name());
        wasp_response_set_header(req, "Content-Type", "text/plain");
        test_write_str(req, line);
        return WASP_FINISH;
    }
    if (strcmp(op, "spin") == 0) {
        long ms = query_get(req, "ms", arg, sizeof(arg)) == 0 ? strtol(arg, NULL, 10) : 100;
        struct timespec t0, t;
        volatile unsigned long x = 0;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        do {
            for (int i = 0; i < 100000; i++) {
                x += (unsigned long)i;
            }
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
        /* The sum is printed so no compiler can drop the loop. */
        snprintf(arg, sizeof(arg), "spun %lu\n", x & 1u);
        test_write_str(req, arg);
        return WASP_FINISH;
    }
    if (strcmp(op, "var") == 0) {
        /* a server variable, as modules see it */
        char name[64] = "";
        wasp_str_t v;

        query_get(req, "name", name, sizeof(name));
        v = wasp_request_server_variable(req, name);
        wasp_response_write(req, v.ptr ? v.ptr : "", v.ptr ? v.len : 0);
        test_write_str(req, "\n");
        return WASP_FINISH;
    }
    if (strcmp(op, "env") == 0) {
        char name[64] = "", line[1200];
        const char *v;

        query_get(req, "name", name, sizeof(name));
        v = getenv(name);
        snprintf(line, sizeof(line), "%s\n", v ? v : "(unset)");
        test_write_str(req, line);
        return WASP_FINISH;
    }
    if (strcmp(op, "status") == 0) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[512];

        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "NoNewPrivs", 10) == 0 || strncmp(line, "Cap", 3) == 0 ||
                strncmp(line, "Groups", 6) == 0) {
                test_write_str(req, line);
            }
        }
        if (f != NULL) {
            fclose(f);
        }
        return WASP_FINISH;
    }
    if (strcmp(op, "stream") == 0) {
        long n = query_get(req, "n", arg, sizeof(arg)) == 0 ? strtol(arg, NULL, 10) : 3;

        for (long i = 0; i < n; i++) {
            char line[32];

            snprintf(line, sizeof(line), "chunk %ld\n", i);
            test_write_str(req, line);
            wasp_response_flush(req);
        }
        return WASP_FINISH;
    }
    if (strcmp(op, "big") == 0) {
        long kb = query_get(req, "kb", arg, sizeof(arg)) == 0 ? strtol(arg, NULL, 10) : 1024;
        char block[1024];

        for (size_t i = 0; i < sizeof(block); i++) {
            block[i] = (char)('a' + i % 26);
        }
        for (long i = 0; i < kb; i++) {
            wasp_response_write(req, block, sizeof(block));
        }
        return WASP_FINISH;
    }
    return wasp_request_fail(req, 400, 0, "TestModule: unknown op");
}

static void test_exit(wasp_module_t *self)
{
    for (size_t i = 0; i < grown_count; i++) {
        free(grown[i]);
    }
    free(grown);
}

WASP_EXPORT int wasp_module_register(wasp_registration_t *reg, uint32_t server_abi)
{
    const char *sleep_ms = getenv("WASP_TEST_INIT_SLEEP_MS");

    if (sleep_ms != NULL) {
        usleep((useconds_t)strtoul(sleep_ms, NULL, 10) * 1000u);
    }
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(info),
        .name = "TestModule",
        .request_state_size = sizeof(test_state_t),
        .process_exit = test_exit,
        .request_abort = test_abort,
    };

    (void)server_abi;
    if (wasp_registration_set_info(reg, &info) != 0 ||
        wasp_registration_on(reg, WASP_EVENT_EXECUTE_REQUEST_HANDLER, WASP_PRIORITY_MEDIUM,
                             test_execute) != 0) {
        return -1;
    }
    return 0;
}
