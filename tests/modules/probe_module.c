/*
 * ProbeModule: traces the integrated pipeline for tests/integration/
 * test_pipeline.py.  Built three times (ProbeA, ProbeB, ProbeC) with a
 * name and a priority from -D flags; each copy subscribes to every event and
 * post-event and appends "<Name>:<Event>" to the response header X-Trace
 * while headers can still change (LogRequest and EndRequest go to the log).
 * The query string steers it:
 *   finish=<Event>&who=<Name>    that module returns FINISH at that event
 *   pending=<Event>&who=<Name>   that module goes PENDING there and resumes
 *                                from a 50 ms timer
 *   fail=<Event>&who=<Name>      wasp_request_fail(req, 404, 7, ...) there
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasp/module.h"

#ifndef PROBE_NAME
#define PROBE_NAME "ProbeA"
#endif
#ifndef PROBE_PRIORITY
#define PROBE_PRIORITY WASP_PRIORITY_MEDIUM
#endif

static const char *const names[WASP_EVENT_COUNT][2] = {
    {"BeginRequest", "PostBeginRequest"},
    {"AuthenticateRequest", "PostAuthenticateRequest"},
    {"AuthorizeRequest", "PostAuthorizeRequest"},
    {"ResolveRequestCache", "PostResolveRequestCache"},
    {"MapRequestHandler", "PostMapRequestHandler"},
    {"AcquireRequestState", "PostAcquireRequestState"},
    {"PreExecuteRequestHandler", "PostPreExecuteRequestHandler"},
    {"ExecuteRequestHandler", "PostExecuteRequestHandler"},
    {"ReleaseRequestState", "PostReleaseRequestState"},
    {"UpdateRequestCache", "PostUpdateRequestCache"},
    {"LogRequest", "PostLogRequest"},
    {"EndRequest", "PostEndRequest"},
    {"SendResponse", "SendResponse"},
};

typedef struct probe_state {
    wasp_request_t *req;
} probe_state_t;

static int query_is(wasp_request_t *req, const char *key, const char *value)
{
    wasp_str_t q = wasp_request_query(req);
    char want[160];
    int n = snprintf(want, sizeof(want), "%s=%s", key, value);
    const char *p = q.ptr, *end = q.ptr + q.len;

    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t len = (size_t)((amp ? amp : end) - p);

        if (len == (size_t)n && memcmp(p, want, len) == 0) {
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

static void probe_resume(void *data)
{
    probe_state_t *st = data;

    wasp_request_resume(st->req, WASP_CONTINUE);
}

static wasp_status_t probe(wasp_request_t *req, void *state, int ev, int post)
{
    const char *event = names[ev][post];
    wasp_str_t trace = wasp_response_header(req, "X-Trace");
    char buf[8192];
    int mine = query_is(req, "who", PROBE_NAME);

    snprintf(buf, sizeof(buf), "%.*s%s%s:%s", (int)trace.len, trace.ptr ? trace.ptr : "",
             trace.len ? "," : "", PROBE_NAME, event);
    if (wasp_response_set_header(req, "X-Trace", buf) != 0) {
        wasp_log(req, WASP_LOG_INFO, "probe %s:%s", PROBE_NAME, event);
    }
    if (mine && query_is(req, "finish", event)) {
        return WASP_FINISH;
    }
    if (mine && query_is(req, "fail", event)) {
        return wasp_request_fail(req, 404, 7, "ProbeModule was told to fail here");
    }
    if (mine && query_is(req, "pending", event)) {
        probe_state_t *st = state;

        st->req = req;
        return wasp_timer_start(50, probe_resume, st) ? WASP_PENDING : WASP_FINISH;
    }
    if (ev == WASP_EVENT_EXECUTE_REQUEST_HANDLER && !post) {
        wasp_response_set_header(req, "Content-Type", "text/plain");
        wasp_response_write(req, "probed\n", 7);
    }
    return WASP_CONTINUE;
}

#define PROBE_PAIR(EV)                                                                       \
    static wasp_status_t probe_##EV##_0(wasp_request_t *r, void *s) { return probe(r, s, EV, 0); } \
    static wasp_status_t probe_##EV##_1(wasp_request_t *r, void *s) { return probe(r, s, EV, 1); }

PROBE_PAIR(0)
PROBE_PAIR(1)
PROBE_PAIR(2)
PROBE_PAIR(3)
PROBE_PAIR(4)
PROBE_PAIR(5)
PROBE_PAIR(6)
PROBE_PAIR(7)
PROBE_PAIR(8)
PROBE_PAIR(9)
PROBE_PAIR(10)
PROBE_PAIR(11)

static wasp_status_t probe_send(wasp_request_t *r, void *s)
{
    return probe(r, s, WASP_EVENT_SEND_RESPONSE, 0);
}

static const wasp_event_handler_t handlers[12][2] = {
    {probe_0_0, probe_0_1}, {probe_1_0, probe_1_1}, {probe_2_0, probe_2_1},
    {probe_3_0, probe_3_1}, {probe_4_0, probe_4_1}, {probe_5_0, probe_5_1},
    {probe_6_0, probe_6_1}, {probe_7_0, probe_7_1}, {probe_8_0, probe_8_1},
    {probe_9_0, probe_9_1}, {probe_10_0, probe_10_1}, {probe_11_0, probe_11_1},
};

WASP_EXPORT int wasp_module_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(info),
        .name = PROBE_NAME,
        .request_state_size = sizeof(probe_state_t),
    };

    (void)server_abi;
    if (wasp_registration_set_info(reg, &info) != 0) {
        return -1;
    }
    for (int ev = 0; ev < 12; ev++) {
        if (wasp_registration_on(reg, (wasp_event_t)ev, PROBE_PRIORITY, handlers[ev][0]) != 0 ||
            wasp_registration_on_post(reg, (wasp_event_t)ev, PROBE_PRIORITY,
                                      handlers[ev][1]) != 0) {
            return -1;
        }
    }
    return wasp_registration_on(reg, WASP_EVENT_SEND_RESPONSE, PROBE_PRIORITY, probe_send);
}
