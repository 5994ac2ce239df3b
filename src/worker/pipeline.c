/*
 * The integrated pipeline: a request walks IIS' events in order
 * (BeginRequest .. UpdateRequestCache), each event's handlers then its
 * post-event handlers; ExecuteRequestHandler goes only to the modules of the
 * handler mapping chosen at MapRequestHandler.  Then SendResponse (inverted
 * order), the response goes to the listener, and LogRequest and EndRequest
 * run last.  FINISH from any handler skips straight to SendResponse.
 *
 * The position (event, post, index) lives in the request, so a handler that
 * returns PENDING simply stops the walk; wasp_request_resume() picks it up
 * from the worker's loop.  A resume that arrives while its handler is still
 * running is applied when the handler returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "worker/worker.h"

static const char *const event_names[WASP_EVENT_COUNT] = {
    "BeginRequest",         "AuthenticateRequest",      "AuthorizeRequest",
    "ResolveRequestCache",  "MapRequestHandler",        "AcquireRequestState",
    "PreExecuteRequestHandler", "ExecuteRequestHandler", "ReleaseRequestState",
    "UpdateRequestCache",   "LogRequest",               "EndRequest",
    "SendResponse"};

static const char *const post_names[WASP_EVENT_COUNT] = {
    "PostBeginRequest",        "PostAuthenticateRequest",      "PostAuthorizeRequest",
    "PostResolveRequestCache", "PostMapRequestHandler",        "PostAcquireRequestState",
    "PostPreExecuteRequestHandler", "PostExecuteRequestHandler", "PostReleaseRequestState",
    "PostUpdateRequestCache",  "PostLogRequest",               "PostEndRequest",
    "SendResponse"};

const char *pipeline_event_name(int event, int post)
{
    return post ? post_names[event] : event_names[event];
}

static void pipeline_run(wasp_request_t *req);

/* The modules to call at the current position. */
static void step_modules(wasp_request_t *req, wasp_module_t *const **list, size_t *count)
{
    if (req->event == WASP_EVENT_EXECUTE_REQUEST_HANDLER && req->post == 0) {
        *list = req->handler_mods;
        *count = req->handler_mod_count;
        return;
    }
    *list = req->pipe->steps[req->event][req->post].mods;
    *count = req->pipe->steps[req->event][req->post].count;
}

static void *module_state(wasp_request_t *req, wasp_module_t *m)
{
    size_t size = m->info.request_state_size;

    if (size == 0) {
        return NULL;
    }
    if (req->state[m->index] == NULL) {
        req->state[m->index] = wasp_request_alloc(req, size);
    }
    return req->state[m->index];
}

/* Move to the first position of the next (event, post) pair in order. */
static void step_advance(wasp_request_t *req)
{
    req->idx = 0;
    if (req->post == 0 && req->event != WASP_EVENT_SEND_RESPONSE) {
        req->post = 1;
        return;
    }
    req->post = 0;
    switch (req->event) {
    case WASP_EVENT_UPDATE_REQUEST_CACHE:
        req->event = WASP_EVENT_SEND_RESPONSE;
        break;
    case WASP_EVENT_SEND_RESPONSE:
        req->event = WASP_EVENT_LOG_REQUEST;
        break;
    default:
        req->event++;
        break;
    }
}

/* FINISH: skip what is left before SendResponse; during the tail events, skip
 * the rest of the current event only. */
static void step_finish(wasp_request_t *req)
{
    if (req->event < WASP_EVENT_LOG_REQUEST) {
        req->event = WASP_EVENT_SEND_RESPONSE;
        req->post = 0;
        req->idx = 0;
    } else {
        req->idx = 0;
        step_advance(req);
    }
}

static void pipeline_apply(wasp_request_t *req, wasp_status_t st)
{
    if (st == WASP_FINISH) {
        step_finish(req);
    } else {
        req->idx++;
    }
}

/* A configuration file that applies to the URL is invalid (a broken
 * web.config above it): 500.19 from the core itself, as IIS Web Core does,
 * before any module of the request runs. */
static bool pipeline_config_failed(wasp_request_t *req)
{
    const wasp_config_error_t *e = wasp_dircfg_error(worker_request_config(req));
    char why[1536];

    if (e == NULL) {
        return false;
    }
    req->config_error = e;
    req->current = NULL;
    snprintf(why, sizeof(why), "0x%08x %s", e->hresult, e->message);
    wasp_request_fail(req, 500, 19, why);
    step_finish(req);
    return true;
}

static bool pipeline_map_handler(wasp_request_t *req)
{
    /* A rewritten URL has the configuration of its new path. */
    if (req->rewritten && pipeline_config_failed(req)) {
        return false;
    }
    if (handler_map(req) != 0) {
        step_finish(req);
        return false;
    }
    return true;
}

static void pipeline_run(wasp_request_t *req)
{
    while (req->phase == PH_PIPELINE) {
        wasp_module_t *const *list;
        size_t count;

        if (req->local_redirect != NULL && !req->aborted) {
            /* The handler is done and asked for another URL: the request
             * starts over, its whole pipeline judging the new URL. */
            if (request_restart_for_redirect(req) != WASP_CONTINUE) {
                step_finish(req);
            }
            continue;
        }
        if (req->event == WASP_EVENT_END_REQUEST && req->post == 1 &&
            req->idx >= req->pipe->steps[WASP_EVENT_END_REQUEST][1].count) {
            req->phase = PH_DONE;
            break;
        }
        if (req->event == WASP_EVENT_LOG_REQUEST && req->post == 0 && req->idx == 0 &&
            !req->sent_all && !req->aborted) {
            /* SendResponse is over: the answer leaves before logging, as in
             * IIS, so the log knows what was sent. */
            req->phase = PH_SENDING;
            response_send(req);
            return;
        }
        if (req->event == WASP_EVENT_MAP_REQUEST_HANDLER && req->post == 0 && req->idx == 0 &&
            req->handler == NULL && !pipeline_map_handler(req)) {
            continue;
        }
        step_modules(req, &list, &count);
        if (req->idx >= count) {
            step_advance(req);
            continue;
        }
        {
            wasp_module_t *m = list[req->idx];
            wasp_event_handler_t fn = m->on[req->event][req->post].fn;
            wasp_status_t st;

            if (fn == NULL) {
                req->idx++;
                continue;
            }
            req->current = m;
            req->in_handler = true;
            req->resumed_early = false;
            st = fn(req, module_state(req, m));
            req->in_handler = false;
            if (st == WASP_PENDING) {
                if (!req->resumed_early) {
                    req->pending = true;
                    return;
                }
                st = req->resume_status;
            }
            pipeline_apply(req, st);
        }
    }
    if (req->phase == PH_DONE) {
        worker_request_done(req);
    }
}

/* Called by response.c when the last byte is handed to the listener. */
void pipeline_after_send(wasp_request_t *req);

void pipeline_after_send(wasp_request_t *req)
{
    req->phase = PH_PIPELINE;
    pipeline_run(req);
}

/* system.webServer/security/access sslFlags: what the URL asks of the
 * connection, checked by the core at BeginRequest as IIS does (403.4 SSL
 * required, 403.5 128-bit SSL required, 403.7 client certificate required,
 * 403.16 client certificate untrusted).  A client certificate is asked for
 * in the handshake when the sslcert entry has clientcertnegotiation=enable;
 * wasp never renegotiates for one. */
enum { SSL_FLAG_SSL = 8, SSL_FLAG_NEGOTIATE = 32, SSL_FLAG_REQUIRE = 64, SSL_FLAG_128 = 256 };

static unsigned pipeline_ssl_flags(const wasp_section_t *access)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"Ssl", SSL_FLAG_SSL}, {"SslNegotiateCert", SSL_FLAG_NEGOTIATE},
                 {"SslRequireCert", SSL_FLAG_REQUIRE}, {"Ssl128", SSL_FLAG_128}};
    const char *v = wasp_section_attr(access, "sslFlags");
    unsigned flags = 0;

    /* The schema has checked the value: names (any case) separated by commas. */
    while (v != NULL && *v) {
        size_t len;

        while (*v == ' ' || *v == ',') {
            v++;
        }
        len = strcspn(v, ", ");
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strlen(names[i].name) == len && strncasecmp(v, names[i].name, len) == 0) {
                flags |= names[i].bit;
            }
        }
        v += len;
    }
    return flags;
}

static bool pipeline_ssl_refused(wasp_request_t *req)
{
    unsigned flags = pipeline_ssl_flags(wasp_request_section(req, "system.webServer/security/access"));
    int sub = 0;
    const char *why = NULL;

    if ((flags & SSL_FLAG_SSL) && !req->https) {
        sub = 4, why = "This page requires SSL (security/access sslFlags=\"Ssl\"): use https.";
    } else if ((flags & SSL_FLAG_128) && req->https && req->tls.keysize < 128) {
        sub = 5, why = "This page requires a cipher with a key of at least 128 bits.";
    } else if ((flags & SSL_FLAG_REQUIRE) && req->https && !req->tls.has_cert) {
        sub = 7, why = "This page requires a client certificate (sslFlags=\"SslRequireCert\"); "
                       "the client sent none. The sslcert entry of the binding must have "
                       "clientcertnegotiation=enable for clients to be asked for one.";
    } else if ((flags & (SSL_FLAG_REQUIRE | SSL_FLAG_NEGOTIATE)) && req->https &&
               req->tls.has_cert && !req->tls.cert_verified) {
        sub = 16, why = "The client certificate is untrusted or invalid: its issuer is not a "
                        "certification authority this server trusts.";
    }
    if (why == NULL) {
        return false;
    }
    req->current = NULL;
    wasp_request_fail(req, 403, sub, why);
    step_finish(req);
    return true;
}

/* IIS' detailed-page reasons for the limits the listener enforces. */
static const char *pipeline_refusal_reason(int status, int sub)
{
    if (status == 404 && sub == 14) {
        return "The request filtering module is configured to deny a request where the URL is "
               "too long (requestLimits maxUrl).";
    }
    if (status == 404 && sub == 15) {
        return "The request filtering module is configured to deny a request where the query "
               "string is too long (requestLimits maxQueryString).";
    }
    return "The request filtering module is configured to deny a request that exceeds the "
           "request content length (requestLimits maxAllowedContentLength).";
}

/* requestFiltering/requestLimits at BeginRequest, as RequestFilteringModule
 * checks them: the listener has already refused a request with a body that
 * breaks them (before the body came here); a request without one is
 * checked here, where every web.config is known.  Sets the verdict. */
static void pipeline_request_limits(wasp_request_t *req)
{
    const wasp_section_t *rf =
        wasp_request_section(req, "system.webServer/security/requestFiltering");
    const wasp_section_t *lim = rf != NULL ? wasp_section_child(rf, "requestLimits") : NULL;

    if (req->path.len > wasp_section_uint(lim, "maxUrl", 4096)) {
        req->refuse_status = 404, req->refuse_sub = 14;
    } else if (req->has_query && req->query.len > wasp_section_uint(lim, "maxQueryString", 2048)) {
        req->refuse_status = 404, req->refuse_sub = 15;
    } else if (wasp_request_body_length(req) >
               wasp_section_uint(lim, "maxAllowedContentLength", 30000000)) {
        req->refuse_status = 413, req->refuse_sub = 1;
    }
}

void pipeline_start(wasp_request_t *req)
{
    req->phase = PH_PIPELINE;
    req->event = WASP_EVENT_BEGIN_REQUEST;
    req->post = 0;
    req->idx = 0;
    if (pipeline_config_failed(req) || pipeline_ssl_refused(req)) {
        pipeline_run(req); /* answered: 500.19 or 403.x */
        return;
    }
    if (req->refuse_status == 0) {
        pipeline_request_limits(req);
    }
    if (req->refuse_status != 0) {
        /* Request filtering refuses it (the listener did, and kept the
         * body from us, or the check above): answer as RequestFilteringModule
         * would at BeginRequest, through the rest of the pipeline (custom
         * errors, logging).  A broken configuration for the URL comes
         * first: it is what request filtering would have read. */
        wasp_request_fail(req, req->refuse_status, req->refuse_sub,
                          pipeline_refusal_reason(req->refuse_status, req->refuse_sub));
        req->fail_module = "RequestFilteringModule";
        step_finish(req);
    }
    pipeline_run(req);
}

void wasp_request_resume(wasp_request_t *req, wasp_status_t next)
{
    if (next != WASP_FINISH) {
        next = WASP_CONTINUE;
    }
    if (req->in_handler) {
        req->resumed_early = true;
        req->resume_status = next;
        return;
    }
    if (!req->pending) {
        wasp_debug("resume of a request that is not pending (stream %u) ignored", req->stream);
        return;
    }
    req->pending = false;
    pipeline_apply(req, next);
    pipeline_run(req);
}

void pipeline_abort(wasp_request_t *req)
{
    req->aborted = true;
    if (req->pending) {
        wasp_module_t *m = req->current;

        req->pending = false;
        if (m != NULL && m->info.request_abort != NULL) {
            m->info.request_abort(req, module_state(req, m));
        }
        /* The client is gone: only the tail events remain to run. */
        req->event = WASP_EVENT_LOG_REQUEST;
        req->post = 0;
        req->idx = 0;
        req->phase = PH_PIPELINE;
        pipeline_run(req);
    }
}
