/*
 * wasp-worker internals (w3wp's role).  main.c connects to the pool's
 * channel and moves frames; modules.c loads and registers modules; pipeline.c
 * runs a request through the IIS event order; handler_map.c chooses the
 * handler; request.c implements the request/response half of the public API;
 * response.c sends the response back under the listener's flow control.
 */
#ifndef WASP_WORKER_H
#define WASP_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/channel.h"
#include "common/loop.h"
#include "config/config.h"
#include "wasp/module.h"

#define WORKER_CREDIT 64            /* requests executing at once */
#define WORKER_STREAM_WINDOW (1024 * 1024) /* unacknowledged body bytes per response */
#define WORKER_MAX_MODULES 64
#define WORKER_INLINE_FILE (16 * 1024) /* files up to this size travel as bytes */

typedef struct handler_slot {
    wasp_event_handler_t fn;
    wasp_priority_t priority;
} handler_slot_t;

struct wasp_module {
    char name[128];
    size_t index;             /* position in the loaded-module table */
    wasp_module_info_t info;
    handler_slot_t on[WASP_EVENT_COUNT][2]; /* [event][0 = event, 1 = post-event] */
    void *dl;                 /* dlopen handle, NULL for built-ins */
};

struct wasp_registration {
    wasp_module_t *mod;
    char error[512];
};

/* One event's handlers for one application, in run order. */
typedef struct pipe_step {
    wasp_module_t **mods;
    size_t count;
} pipe_step_t;

typedef struct pipeline {
    const wasp_section_t *modules_section; /* cache key */
    pipe_step_t steps[WASP_EVENT_COUNT][2];
    bool enabled[WORKER_MAX_MODULES];
    struct pipeline *next;
} pipeline_t;

typedef struct resp_header {
    char *name;
    char *value;
} resp_header_t;

typedef struct resp_part {
    struct resp_part *next;
    int fd;          /* -1 for memory */
    off_t off, len;  /* file range, or memory length */
    char *data;
} resp_part_t;

typedef struct req_alloc {
    struct req_alloc *next;
} req_alloc_t;

typedef struct req_cleanup {
    struct req_cleanup *next;
    void (*fn)(void *);
    void *data;
} req_cleanup_t;

typedef enum req_phase { PH_PIPELINE, PH_SENDING, PH_TAIL, PH_DONE } req_phase_t;

struct wasp_request {
    struct wasp_request *next, *prev; /* live requests */
    uint32_t stream;
    char *head;              /* owned copy of the REQ_HEAD payload */
    req_alloc_t *allocs;
    req_cleanup_t *cleanups;

    /* request */
    const wasp_site_cfg_t *site;
    const wasp_app_cfg_t *app;
    const wasp_vdir_cfg_t *vdir;
    wasp_str_t method, raw_url, path, query;
    char *path_z;           /* NUL-terminated decoded path (request memory) */
    bool has_query;
    /* wasp_request_rewrite_url: path, query, app, vdir and physical_path
     * are the rewritten URL's; raw_url stays the original as sent. */
    bool rewritten;
    const char *local_redirect; /* wasp_request_redirect_local: restart for this URL */
    unsigned local_redirects;
    bool body_dropped;          /* restarted as a GET: the body is not the new request's */
    wasp_str_t current_url; /* HTTP_URL: the rewritten request-target */
    /* the configuration of path_z (config_cache.c), held until the end */
    wasp_dircfg_t *dircfg;
    const char *dircfg_path;
    const wasp_config_error_t *config_error; /* the 500.19 this request got */
    int http_version; /* 10, 11 or 20 (wasp_request_http_version) */
    bool is_local;
    char client_ip[64], local_ip[64];
    bool https;               /* the connection is TLS (an https binding) */
    struct {
        char protocol[16], cipher[64], sni[256];
        unsigned keysize;
        bool has_cert, cert_verified; /* a client certificate, and whether it is trusted */
        char cert_subject[512], cert_issuer[512], cert_serial[128];
        wasp_str_t cert_pem;  /* PEM, in the head frame */
    } tls;
    uint16_t client_port, local_port;
    wasp_str_t *hnames, *hvalues;
    size_t hcount;
    wasp_buf_t body;          /* a body the listener sent in frames (<= 64 KiB) */
    int body_fd;              /* or the file it spooled a larger one to; -1 = none */
    uint64_t body_file_len;
    void *body_map;           /* body_fd mapped read-only, for wasp_request_body() */
    bool body_complete;
    uint16_t refuse_status, refuse_sub; /* the listener's request filtering verdict */
    char physical_path[4096];

    /* pipeline position */
    const pipeline_t *pipe;
    req_phase_t phase;
    int event;
    int post;
    size_t idx;
    bool in_handler, pending, resumed_early, aborted;
    wasp_status_t resume_status;
    wasp_module_t *current;
    void **state;             /* per-module request state, by module index */

    /* handler mapping */
    const wasp_section_t *handler;
    const char *handler_name;
    const char *script_processor;
    wasp_module_t *handler_mods[8];
    size_t handler_mod_count;

    /* response */
    int status, substatus;
    char reason[96];
    resp_header_t *rh;
    size_t rh_count, rh_cap;
    resp_part_t *parts, *parts_tail;
    uint64_t body_len;
    bool head_sent;
    bool sent_all;            /* every part handed to the listener */
    bool streaming;           /* flushed before the end: length unknown */
    const char *cache_file;   /* wasp_response_cache_file(): the body is this file */
    const char *fail_reason, *fail_module, *fail_event;
    uint64_t unacked;         /* body bytes sent, not yet acknowledged */
};

/* main.c */
extern wasp_loop_t *worker_loop;
extern wasp_config_t *worker_cfg;
extern wasp_channel_t *worker_ch;
extern const char *worker_pool;
void worker_request_done(wasp_request_t *req);

/* modules.c */
int worker_modules_load(char *err, size_t err_size);
void worker_modules_exit(void);
size_t worker_module_count(void);
wasp_module_t *worker_module_find(const char *name);
const pipeline_t *worker_pipeline_for(const wasp_section_t *modules_section);

/* pipeline.c */
void pipeline_start(wasp_request_t *req);
void pipeline_abort(wasp_request_t *req);
const char *pipeline_event_name(int event, int post);

/* handler_map.c: 0 = mapped; otherwise the request was failed (status set). */
int handler_map(wasp_request_t *req);

/* request.c */
wasp_request_t *request_new(uint32_t stream, const char *payload, size_t len);
void request_free(wasp_request_t *req);
/* The listener spooled the body to a file: take its descriptor. */
int request_set_body_file(wasp_request_t *req, int fd, uint64_t len);
/* A handler asked for a local redirect: make the request the new URL's. */
wasp_status_t request_restart_for_redirect(wasp_request_t *req);

/* config_cache.c: the level of the request's URL (held by the request), and
 * a section of another URL of its site. */
/* wasp_config_map_url for a request's site, with the site's
 * case-insensitive file lookup when it opted in (file_lookup.c).  -1 when
 * the request has no site or the URL no application. */
int worker_map_url(const wasp_request_t *req, const char *url, const wasp_app_cfg_t **app,
                   const wasp_vdir_cfg_t **vdir, char *phys, size_t phys_size);
/* Load the pool's configuration file (path; messages name `name`) and
 * remember its bytes for worker_config_reload(). */
wasp_config_t *worker_config_load(const char *path, const char *name, wasp_diag_t *diag);
/* SIGHUP from waspd: if the file changed, load it and use it for the next
 * requests; a file that does not load changes nothing (logged). */
void worker_config_reload(void);
const wasp_dircfg_t *worker_request_config(wasp_request_t *req);
const wasp_section_t *worker_section_at(const wasp_request_t *req, const char *url_path,
                                        const char *section_path);

/* response.c */
void response_send(wasp_request_t *req);   /* start or continue sending */
void response_window(wasp_request_t *req, uint32_t acked);
void response_free_parts(wasp_request_t *req);

/* kernel_cache.c: before the head, tell the listener whether it may keep
 * the response (WASP_MSG_RESP_CACHE), from the URL's configuration. */
void worker_cache_verdict(wasp_request_t *req);

#endif
