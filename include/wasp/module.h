/*
 * wasp module API — the one interface between the worker's integrated
 * pipeline and every native module, built-in or third-party.
 *
 * A module is a shared object with one exported function,
 * wasp_module_register(), named in <globalModules><add name image/> and
 * enabled for an application by <modules><add name/>.  The built-in modules
 * (StaticFileModule, DefaultDocumentModule, ...) register through exactly the
 * same calls; they are only linked into wasp-worker instead of dlopen'ed.
 *
 * The model is IIS' integrated pipeline (CHttpModule): a request passes through
 * a fixed list of events (wasp_event_t, in IIS' order); for each event the
 * subscribed modules run by priority, FIRST to LAST, ties broken by the order of
 * the effective <modules> list; SEND_RESPONSE runs in the inverted order.  A
 * handler returns:
 *   WASP_CONTINUE  go on with the next module / event;
 *   WASP_PENDING   the module started asynchronous work and will call
 *                  wasp_request_resume() exactly once, later, from the worker's
 *                  event loop (a timer or fd callback registered below);
 *   WASP_FINISH    the request is complete: skip to SendResponse, LogRequest,
 *                  EndRequest.
 *
 * All types are opaque; all functions are plain calls exported by wasp-worker.
 * Strings in this API are (ptr, len) pairs and are NOT NUL-terminated unless a
 * function says so.  Everything a module gets from a request lives until the
 * request ends.  The worker is single-threaded: call these functions only from
 * handlers and from loop callbacks, never from threads of your own.
 *
 * See docs/module-guide.md for a complete example.
 */
#ifndef WASP_MODULE_H
#define WASP_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WASP_MODULE_ABI 1u

#if defined(__GNUC__)
#define WASP_EXPORT __attribute__((visibility("default")))
#define WASP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WASP_EXPORT
#define WASP_PRINTF(f, a)
#endif

typedef struct wasp_request wasp_request_t;
typedef struct wasp_registration wasp_registration_t;
typedef struct wasp_module wasp_module_t;
typedef struct wasp_section wasp_section_t;

/* A byte string that need not be NUL-terminated.  ptr == NULL means absent. */
typedef struct wasp_str {
    const char *ptr;
    size_t len;
} wasp_str_t;

typedef enum wasp_status {
    WASP_CONTINUE = 0,
    WASP_PENDING = 1,
    WASP_FINISH = 2
} wasp_status_t;

/* IIS' deterministic notifications in order (iis-modules.md 1.1), then the
 * non-deterministic SendResponse. */
typedef enum wasp_event {
    WASP_EVENT_BEGIN_REQUEST,
    WASP_EVENT_AUTHENTICATE_REQUEST,
    WASP_EVENT_AUTHORIZE_REQUEST,
    WASP_EVENT_RESOLVE_REQUEST_CACHE,
    WASP_EVENT_MAP_REQUEST_HANDLER,
    WASP_EVENT_ACQUIRE_REQUEST_STATE,
    WASP_EVENT_PRE_EXECUTE_REQUEST_HANDLER,
    WASP_EVENT_EXECUTE_REQUEST_HANDLER,
    WASP_EVENT_RELEASE_REQUEST_STATE,
    WASP_EVENT_UPDATE_REQUEST_CACHE,
    WASP_EVENT_LOG_REQUEST,
    WASP_EVENT_END_REQUEST,
    WASP_EVENT_SEND_RESPONSE,
    WASP_EVENT_COUNT
} wasp_event_t;

typedef enum wasp_priority {
    WASP_PRIORITY_FIRST,
    WASP_PRIORITY_HIGH,
    WASP_PRIORITY_MEDIUM,
    WASP_PRIORITY_LOW,
    WASP_PRIORITY_LAST
} wasp_priority_t;

typedef enum wasp_log_level {
    WASP_LOG_ERROR,
    WASP_LOG_WARN,
    WASP_LOG_INFO,
    WASP_LOG_DEBUG
} wasp_log_level_t;

/* state: this module's zeroed per-request block of request_state_size bytes,
 * or NULL when request_state_size is 0. */
typedef wasp_status_t (*wasp_event_handler_t)(wasp_request_t *req, void *state);

typedef struct wasp_module_info {
    uint32_t abi;               /* WASP_MODULE_ABI                                  */
    uint32_t size;              /* sizeof(wasp_module_info_t): the struct may grow  */
    const char *name;           /* must equal <globalModules><add name="...">       */
    size_t request_state_size;  /* engine allocates it zeroed per request           */
    int (*process_init)(wasp_module_t *self);   /* once, before the first request  */
    void (*process_exit)(wasp_module_t *self);  /* once, at worker shutdown        */
    /* Called while a request of this module is PENDING and the engine gives up
     * on it (client gone, worker shutting down): release what the pending
     * operation holds; a later wasp_request_resume() is ignored. */
    void (*request_abort)(wasp_request_t *req, void *state);
} wasp_module_info_t;

/* The one symbol a module .so exports (IIS: RegisterModule).  Return 0, or -1
 * after wasp_registration_error() said why; the worker then refuses to start
 * and names the module, its image and the reason. */
WASP_EXPORT int wasp_module_register(wasp_registration_t *reg, uint32_t server_abi);

int wasp_registration_set_info(wasp_registration_t *reg, const wasp_module_info_t *info);
int wasp_registration_on(wasp_registration_t *reg, wasp_event_t event, wasp_priority_t priority,
                         wasp_event_handler_t handler);
/* Post-event (OnPostXxx): runs after every module's handler for the event. */
int wasp_registration_on_post(wasp_registration_t *reg, wasp_event_t event,
                              wasp_priority_t priority, wasp_event_handler_t handler);
void wasp_registration_error(wasp_registration_t *reg, const char *fmt, ...) WASP_PRINTF(2, 3);

/* The module's own handle (for process_init / process_exit). */
const char *wasp_module_name(const wasp_module_t *m);

/* ---- the request -------------------------------------------------------- */

void *wasp_request_alloc(wasp_request_t *req, size_t size);   /* zeroed, freed at end */
int wasp_request_on_cleanup(wasp_request_t *req, void (*fn)(void *), void *data);

wasp_str_t wasp_request_method(const wasp_request_t *req);
wasp_str_t wasp_request_raw_url(const wasp_request_t *req);  /* request-target as sent */
wasp_str_t wasp_request_path(const wasp_request_t *req);     /* decoded, dot-segments resolved */
wasp_str_t wasp_request_query(const wasp_request_t *req);    /* after '?', raw; len 0 if none */
/* The request's HTTP version as major * 10 + minor: 10 (HTTP/1.0), 11
 * (HTTP/1.1) or 20 (HTTP/2).  Framing is the listener's business; this is
 * for modules that report or log the version. */
int wasp_request_http_version(const wasp_request_t *req);
/* Case-insensitive header lookup; the first field of that name. */
wasp_str_t wasp_request_header(const wasp_request_t *req, const char *name);
size_t wasp_request_header_count(const wasp_request_t *req);
int wasp_request_header_at(const wasp_request_t *req, size_t i, wasp_str_t *name,
                           wasp_str_t *value);
/* The request body, de-chunked.  It is complete before the pipeline starts:
 * the listener reads it first, keeping bodies over 64 KiB in an unlinked
 * temporary file rather than in anyone's memory.
 *   wasp_request_body_length: its size in bytes (0 when there is none);
 *   wasp_request_body_read:   copy up to len bytes from offset into buf;
 *                             returns the count (0 at the end), or -1;
 *   wasp_request_body_fd:     the body's file, or -1 when the body is in
 *                             memory.  The request owns it; read it with
 *                             pread(), or give it to one child process as its
 *                             stdin after lseek(fd, 0, SEEK_SET);
 *   wasp_request_body:        the whole body as one string.  A body in a file
 *                             is mapped (address space, not heap); modules that
 *                             pass bodies on should stream with the calls above. */
uint64_t wasp_request_body_length(const wasp_request_t *req);
ssize_t wasp_request_body_read(const wasp_request_t *req, uint64_t offset, void *buf, size_t len);
int wasp_request_body_fd(const wasp_request_t *req);
wasp_str_t wasp_request_body(const wasp_request_t *req);

/* Where the URL maps on disk: vdir physicalPath + rest of the URL (NUL-terminated). */
const char *wasp_request_physical_path(const wasp_request_t *req);
/* Where another URL path of the request's site maps on disk (IIS:
 * IHttpContext::MapPath): the virtual directory's physicalPath followed by
 * the rest of url_path, as wasp_request_physical_path() is made for the
 * request's own URL.  url_path is a decoded, canonical absolute path.
 * Returns 0, or -1 when no application of the site holds url_path or phys
 * is too small.  (CgiModule finds where a script ends and PATH_INFO starts
 * with it.) */
int wasp_request_map_path(const wasp_request_t *req, const char *url_path, char *phys,
                          size_t phys_size);
/* True when the client address is a loopback / local address (DetailedLocalOnly). */
bool wasp_request_is_local(const wasp_request_t *req);
/* IIS server variables (REMOTE_ADDR, REMOTE_PORT, LOCAL_ADDR, SERVER_PORT,
 * SERVER_NAME, SERVER_PROTOCOL, REQUEST_METHOD, URL, QUERY_STRING, HTTP_<NAME>,
 * APPL_MD_PATH, APPL_PHYSICAL_PATH, INSTANCE_ID, APP_POOL_ID, REQUEST_FILENAME,
 * REQUEST_URI, UNENCODED_URL, HTTP_URL, CACHE_URL, ...). */
wasp_str_t wasp_request_server_variable(wasp_request_t *req, const char *name);

/* Effective configuration section for this request's URL, e.g.
 * "system.webServer/staticContent"; NULL when the section is absent. */
const wasp_section_t *wasp_request_section(const wasp_request_t *req, const char *section_path);
/* The same for another URL path of the request's site ("/" = the site
 * root): how a module finds out at which level a setting is made (IIS:
 * IAppHostAdminManager::GetAdminSection with another configuration path).
 * RewriteModule uses it to see each rule relative to the <location> that
 * defines it. */
const wasp_section_t *wasp_request_section_at(const wasp_request_t *req, const char *url_path,
                                              const char *section_path);

/* Rewrite the request's URL (IIS: IHttpRequest::SetUrl; URL Rewrite's
 * Rewrite action).  url is a request-target: an absolute path, percent-
 * encoded as on the wire, optionally followed by "?query"; bytes that cannot
 * appear in a request-target (space, controls, non-ASCII) are percent-encoded
 * first, so a decoded path may be passed as it is — except that '%' always
 * starts an escape (a literal '%' must be written %25).  The path is
 * canonicalised as the listener does it (decoded once, backslash as '/', "."
 * segments dropped), then the request continues as if it had asked for the
 * new URL: wasp_request_path / _query / _physical_path, the application and
 * virtual directory, the configuration sections and, if it was already
 * chosen, the handler mapping all follow it.  The modules that run
 * (<modules>) stay those of the original URL.  Server variables: URL,
 * PATH_INFO, QUERY_STRING, REQUEST_FILENAME, HTTP_URL give the new URL;
 * REQUEST_URI and UNENCODED_URL keep the original as sent, and the request
 * header X-Original-URL (server variable HTTP_X_ORIGINAL_URL) gets the
 * original decoded path and query, replacing one sent by the client.
 *
 * Call it before ExecuteRequestHandler.  Returns WASP_CONTINUE when the
 * request has the new URL.  Otherwise the request was failed (status set,
 * reason recorded) and WASP_FINISH is returned, to be returned in turn:
 *   400    the URL is not valid, or has a ".." segment (even percent-encoded:
 *          a value captured from a decoded URL and decoded again must not
 *          climb out of the directory a rule meant);
 *   403.18 the new URL belongs to an application of another application
 *          pool, which this worker does not serve (IIS answers the same;
 *          it would need the listener to hand the request over);
 *   500    called too late, url not an absolute path, out of memory. */
wasp_status_t wasp_request_rewrite_url(wasp_request_t *req, const char *url);

/* A local redirect (CGI's "Location: /path" without Status, RFC 3875
 * 6.2.2): once the calling handler completes, whatever it answered is
 * dropped and the request starts over for url (an absolute path, optionally
 * with "?query", encoded as for wasp_request_rewrite_url): as a GET (HEAD
 * stays HEAD) without a body, through the whole pipeline of the new URL —
 * request filtering, authentication and authorization judge it as they
 * would a client's request for it; the server variables follow it as after
 * a rewrite.  At most 10 times per request, then 500.  Call it from
 * ExecuteRequestHandler before anything is flushed; 0, or -1 when it cannot
 * be done (nothing changes then). */
int wasp_request_redirect_local(wasp_request_t *req, const char *url);

/* The handler mapping chosen at MapRequestHandler (<handlers><add name>), or NULL. */
const char *wasp_request_handler_name(const wasp_request_t *req);
/* The scriptProcessor attribute of that mapping (NUL-terminated), or NULL. */
const char *wasp_request_script_processor(const wasp_request_t *req);

/* ---- configuration sections -------------------------------------------- */
/* A section or one of its elements.  Attribute values are NUL-terminated. */
const char *wasp_section_attr(const wasp_section_t *s, const char *name);
bool wasp_section_bool(const wasp_section_t *s, const char *name, bool dflt);
uint64_t wasp_section_uint(const wasp_section_t *s, const char *name, uint64_t dflt);
const wasp_section_t *wasp_section_child(const wasp_section_t *s, const char *name);
/* Effective items of a collection after add/remove/clear merging. */
size_t wasp_section_item_count(const wasp_section_t *s);
const wasp_section_t *wasp_section_item(const wasp_section_t *s, size_t i);
/* Where an element is written: its configuration file (NUL-terminated, ""
 * when unknown) and, in *line, its line — for messages that tell people
 * what to fix ("applicationHost.config:57: pattern ... is not valid"). */
const char *wasp_section_file(const wasp_section_t *s, int *line);

/* ---- the response ------------------------------------------------------- */
/* substatus is logged and shown on error pages, never sent on the wire.
 * reason NULL or "": the standard reason phrase of the status. */
void wasp_response_set_status(wasp_request_t *req, int status, int substatus, const char *reason);
int wasp_response_status(const wasp_request_t *req);
int wasp_response_substatus(const wasp_request_t *req);
/* Replace (set) or append (add, e.g. Set-Cookie) a header.  value NUL-terminated. */
int wasp_response_set_header(wasp_request_t *req, const char *name, const char *value);
int wasp_response_add_header(wasp_request_t *req, const char *name, const char *value);
wasp_str_t wasp_response_header(const wasp_request_t *req, const char *name);
/* Append body bytes (copied). */
int wasp_response_write(wasp_request_t *req, const void *data, size_t len);
/* Send [offset, offset+length) of an open file; the worker takes ownership of
 * fd and passes it to the listener, which sends it with sendfile(2). */
int wasp_response_send_file(wasp_request_t *req, int fd, off_t offset, off_t length);
/* The response is the whole content of the file at physical_path, as the
 * static file handler sends it: the listener may keep it in its response
 * cache (HTTP.sys' kernel cache) and answer later requests for the URL
 * itself until the file or the configuration changes, when the caching
 * section and the kernel-cache rules allow (docs/configuration.md,
 * "caching").  Forgotten by wasp_response_clear(). */
void wasp_response_cache_file(wasp_request_t *req, const char *physical_path);
/* Drop headers and body written so far (status kept). */
void wasp_response_clear(wasp_request_t *req);
bool wasp_response_has_body(const wasp_request_t *req);
/* Send what is buffered now (headers on the first call).  After the first
 * flush, status and headers can no longer change. */
int wasp_response_flush(wasp_request_t *req);
/* Body bytes written (or files queued) that the worker has not yet handed to
 * the listener: after a flush they wait for the client to read (the
 * listener acknowledges at most 1 MiB ahead).  A module that produces a
 * stream (CgiModule) stops reading its source while this is large, so a
 * slow client slows the producer instead of growing the worker's memory. */
size_t wasp_response_queued(const wasp_request_t *req);

/* Set status.substatus, record why (for logs and the detailed error page) and
 * return WASP_FINISH:  return wasp_request_fail(req, 404, 3, "no MIME map"); */
wasp_status_t wasp_request_fail(wasp_request_t *req, int status, int substatus, const char *why);
/* The reason given to wasp_request_fail, or NULL. */
const char *wasp_request_fail_reason(const wasp_request_t *req);
/* The module that was running when the request failed, and in which event. */
const char *wasp_request_fail_module(const wasp_request_t *req);
const char *wasp_request_fail_event(const wasp_request_t *req);

/* A configuration error (iis-hosting.md 6.11): a configuration file that
 * applies to the request's URL is invalid (not well-formed, an unknown
 * section, a lock or allowDefinition broken, a duplicate collection key), so
 * the core failed the request with 500.19 at BeginRequest, before any module
 * ran, and the modules' sections are applicationHost.config's alone.  The
 * strings live as long as the worker. */
typedef struct wasp_config_error {
    uint32_t hresult;    /* Error Code: 0x8007000d, 0x80070021, 0x800700b7, ... */
    const char *message; /* Config Error: what is wrong and how to fix it */
    const char *file;    /* Config File */
    int line;            /* 0 when not tied to a line */
    const char *source;  /* Config Source: the lines around `line`, each
                            "%5d: text\n"; "" when there are none */
} wasp_config_error_t;
/* The configuration error this request was failed for, or NULL. */
const wasp_config_error_t *wasp_request_config_error(const wasp_request_t *req);

/* Complete a request that went WASP_PENDING: next is CONTINUE or FINISH. */
void wasp_request_resume(wasp_request_t *req, wasp_status_t next);

/* ---- the worker's event loop (for pending work) ------------------------- */
typedef struct wasp_timer wasp_timer_t;
typedef void (*wasp_timer_fn)(void *data);
typedef void (*wasp_fd_fn)(int fd, uint32_t events, void *data);

/* One-shot timer, ms from now.  Cancel before it fires with wasp_timer_cancel. */
wasp_timer_t *wasp_timer_start(uint64_t ms, wasp_timer_fn fn, void *data);
void wasp_timer_cancel(wasp_timer_t *t);
/* Watch fd for EPOLLIN/EPOLLOUT (uint32_t events as in epoll); 0 ok, -1 error. */
int wasp_fd_watch(int fd, uint32_t events, wasp_fd_fn fn, void *data);
void wasp_fd_unwatch(int fd);

/* ---- identity and logging ----------------------------------------------- */
const char *wasp_worker_pool_name(void);
void wasp_log(wasp_request_t *req, wasp_log_level_t level, const char *fmt, ...) WASP_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif
#endif /* WASP_MODULE_H */
