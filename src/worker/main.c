/*
 * wasp-worker: one application pool's worker process (w3wp's role).
 * Started by waspd as the pool's identity:
 *   wasp-worker --pool NAME --config FILE --channel SOCKET
 * It loads the configuration and the modules, connects to the pool's channel
 * in the listener, says HELLO, offers credit, and runs each request it is
 * given through the pipeline.  It never sees a client socket.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/worker.h"

wasp_loop_t *worker_loop;
wasp_config_t *worker_cfg;
wasp_channel_t *worker_ch;
const char *worker_pool;

static wasp_request_t *live;
static size_t live_count;
static bool draining;
static bool server_stopping; /* the listener said SHUTDOWN: its close is no crash */

/* How long a worker that lost its listener waits for the new one. */
#define WORKER_RECONNECT_MS 10000

static bool listener_lost;
static uint64_t lost_since_ms;
static wasp_ltimer_t *reconnect_timer;
static const char *worker_channel_path;

static void worker_reconnect_if_idle(void);
static bool ready_remove(wasp_request_t *req);
static int worker_connect(const char *path);
static void worker_on_msg(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr, const char *payload,
                          int fd, void *data);
static void worker_on_close(wasp_channel_t *ch, void *data);

static wasp_request_t *live_find(uint32_t stream)
{
    for (wasp_request_t *r = live; r != NULL; r = r->next) {
        if (r->stream == stream) {
            return r;
        }
    }
    return NULL;
}

static void live_unlink(wasp_request_t *req)
{
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else {
        live = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    live_count--;
}

/* waspctl list requests: where each live request is in the pipeline. */
static void worker_status_reply(void)
{
    wasp_enc_t e = {0};

    for (wasp_request_t *r = live; r != NULL; r = r->next) {
        if (wasp_buf_size(&e.buf) > WASP_CH_CHUNK - 256) {
            break;
        }
        wasp_enc_u32(&e, r->stream);
        wasp_enc_cstr(&e, r->pipe == NULL ? "ReadingBody" : pipeline_event_name(r->event, r->post));
        wasp_enc_cstr(&e, r->current != NULL ? wasp_module_name(r->current) : "-");
    }
    wasp_channel_send(worker_ch, WASP_MSG_REQ_STATUS, 0, 0, wasp_buf_ptr(&e.buf),
                      wasp_buf_size(&e.buf), -1);
    wasp_buf_free(&e.buf);
}

static void worker_exit_if_drained(void);

static void drain_tick(wasp_loop_t *loop, void *data)
{
    worker_exit_if_drained();
}

/* Stopping: exit once no request is left AND every response frame has
 * left the channel.  A listener slow to read (a loaded machine) must not
 * see responses cut off by our exit: the loop keeps writing them, however
 * long it takes; waspd's shutdownTimeLimit bounds the wait. */
static void worker_exit_if_drained(void)
{
    if (!draining || live_count != 0) {
        return;
    }
    if (wasp_channel_pending(worker_ch) > 0 && !listener_lost) {
        wasp_loop_timer(worker_loop, 5, drain_tick, NULL); /* the loop writes meanwhile */
        return;
    }
    wasp_info("pool '%s': drained; exiting", worker_pool);
    worker_modules_exit();
    exit(0);
}

static void worker_abort(wasp_request_t *req)
{
    if (!req->body_complete) {
        req->aborted = true;
        req->body_complete = true;
        req->sent_all = false;
        live_unlink(req);
        wasp_channel_send(worker_ch, WASP_MSG_RESP_END, 0, req->stream, NULL, 0, -1);
        request_free(req);
        worker_reconnect_if_idle();
    } else if (ready_remove(req)) {
        /* Not started yet: drop it without running anything. */
        req->sent_all = false;
        worker_request_done(req);
    } else {
        pipeline_abort(req);
    }
}

static void worker_hello(void)
{
    wasp_enc_t e = {0};
    uint32_t credit = WORKER_CREDIT;

    wasp_enc_u32(&e, (uint32_t)getpid());
    wasp_enc_cstr(&e, worker_pool);
    wasp_channel_send(worker_ch, WASP_MSG_HELLO, 0, 0, wasp_buf_ptr(&e.buf),
                      wasp_buf_size(&e.buf), -1);
    wasp_buf_free(&e.buf);
    wasp_channel_send(worker_ch, WASP_MSG_CREDIT, 0, 0, &credit, sizeof(credit), -1);
}

static void reconnect_tick(wasp_loop_t *loop, void *data)
{
    reconnect_timer = NULL;
    worker_reconnect_if_idle();
}

static void worker_reconnect_if_idle(void)
{
    wasp_channel_t *old = worker_ch;
    int fd;

    if (!listener_lost || live_count > 0 || reconnect_timer != NULL) {
        return;
    }
    fd = worker_connect(worker_channel_path);
    if (fd < 0) {
        if (wasp_now_ms() - lost_since_ms > WORKER_RECONNECT_MS) {
            wasp_info("pool '%s': no listener to reconnect to; exiting", worker_pool);
            worker_modules_exit();
            exit(0);
        }
        reconnect_timer = wasp_loop_timer(worker_loop, 100, reconnect_tick, NULL);
        return;
    }
    worker_ch = wasp_channel_new(worker_loop, fd, worker_on_msg, worker_on_close, NULL);
    if (worker_ch == NULL) {
        exit(1);
    }
    wasp_channel_free(old);
    listener_lost = false;
    worker_hello();
    wasp_info("pool '%s': reconnected to the listener", worker_pool);
}

void worker_request_done(wasp_request_t *req)
{
    /* RESP_END also hands the request's credit back to the listener. */
    if (!req->sent_all) {
        wasp_channel_send(worker_ch, WASP_MSG_RESP_END, 0, req->stream, NULL, 0, -1);
    }
    live_unlink(req);
    request_free(req);
    worker_exit_if_drained();
    worker_reconnect_if_idle();
}

/* Requests whose body is complete wait here until the end of the current
 * batch of frames; then one STARTED frame names them all and they run.
 * STARTED must precede execution (a worker that dies mid-request must not
 * have it retried elsewhere), but it need not cost a frame per request. */
static wasp_request_t *ready[WORKER_CREDIT];
static size_t ready_count;
static wasp_ltimer_t *ready_timer;

static void worker_run_ready(wasp_loop_t *loop, void *data)
{
    wasp_request_t *batch[WORKER_CREDIT];
    uint32_t streams[WORKER_CREDIT];
    size_t n = ready_count;

    ready_timer = NULL;
    ready_count = 0;
    if (n == 0) {
        return; /* every one was aborted before its turn */
    }
    for (size_t i = 0; i < n; i++) {
        batch[i] = ready[i];
        streams[i] = ready[i]->stream;
    }
    wasp_channel_send(worker_ch, WASP_MSG_STARTED, 0, 0, streams, n * sizeof(uint32_t), -1);
    /* Out before anything runs: a module that crashes the process must find
     * the listener knowing these started, or it would retry them elsewhere
     * (and crash the next worker too). */
    wasp_channel_flush(worker_ch);
    for (size_t i = 0; i < n; i++) {
        pipeline_start(batch[i]);
    }
}

static void worker_start(wasp_request_t *req)
{
    if (ready_count == WORKER_CREDIT) {
        /* Cannot happen while the listener honours credit; run what waits. */
        worker_run_ready(worker_loop, NULL);
    }
    ready[ready_count++] = req;
    if (ready_timer == NULL) {
        /* A 0 ms timer runs after every descriptor event of this turn. */
        ready_timer = wasp_loop_timer(worker_loop, 0, worker_run_ready, NULL);
    }
}

static bool ready_remove(wasp_request_t *req)
{
    for (size_t i = 0; i < ready_count; i++) {
        if (ready[i] == req) {
            ready[i] = ready[--ready_count];
            return true;
        }
    }
    return false;
}

static void worker_on_msg(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr, const char *payload,
                          int fd, void *data)
{
    wasp_request_t *req;

    if (fd >= 0 && hdr->type != WASP_MSG_REQ_BODY_FILE) {
        close(fd); /* only a spooled body comes with a descriptor */
        fd = -1;
    }
    switch (hdr->type) {
    case WASP_MSG_REQ_HEAD:
        req = request_new(hdr->stream, payload, hdr->length);
        if (req == NULL) {
            /* Out of memory or a malformed frame: a protocol failure the
             * listener must see, so drop the channel (it answers 502). */
            wasp_alert("cannot accept request stream %u; closing the channel", hdr->stream);
            exit(1);
        }
        req->next = live;
        if (live != NULL) {
            live->prev = req;
        }
        live = req;
        live_count++;
        if (hdr->flags & WASP_FLAG_END) {
            req->body_complete = true;
            worker_start(req);
        }
        break;
    case WASP_MSG_REQ_BODY:
        req = live_find(hdr->stream);
        if (req == NULL || req->body_complete) {
            break;
        }
        wasp_buf_append(&req->body, payload, hdr->length);
        if (hdr->flags & WASP_FLAG_END) {
            req->body_complete = true;
            worker_start(req);
        }
        break;
    case WASP_MSG_REQ_BODY_FILE: {
        uint64_t len;

        req = live_find(hdr->stream);
        if (req == NULL || req->body_complete || fd < 0 || hdr->length != sizeof(len)) {
            if (fd >= 0) {
                close(fd);
            }
            break;
        }
        memcpy(&len, payload, sizeof(len));
        if (request_set_body_file(req, fd, len) != 0) {
            /* Cannot map it: a protocol-level failure, as for a bad head. */
            wasp_alert("cannot map the request body of stream %u: %s", hdr->stream,
                       strerror(errno));
            exit(1);
        }
        req->body_complete = true;
        worker_start(req);
        break;
    }
    case WASP_MSG_WINDOW:
        req = live_find(hdr->stream);
        if (req != NULL && hdr->length == sizeof(uint32_t)) {
            uint32_t n;

            memcpy(&n, payload, sizeof(n));
            response_window(req, n);
        }
        break;
    case WASP_MSG_ABORT:
        req = live_find(hdr->stream);
        if (req != NULL) {
            worker_abort(req);
        }
        break;
    case WASP_MSG_PING:
        wasp_channel_send(worker_ch, WASP_MSG_PONG, 0, 0, NULL, 0, -1);
        break;
    case WASP_MSG_SHUTDOWN:
        server_stopping = true;
        break;
    case WASP_MSG_STATUS_QUERY:
        worker_status_reply();
        break;
    default:
        wasp_alert("unknown frame type %u from the listener", hdr->type);
        break;
    }
}

static void worker_on_close(wasp_channel_t *ch, void *data)
{
    if (draining || server_stopping) {
        wasp_info("pool '%s': the listener closed the channel%s; exiting", worker_pool,
                  server_stopping ? " (the server is stopping)" : "");
        worker_modules_exit();
        exit(0);
    }
    /* The listener died and waspd is starting a new one: the clients of our
     * requests are gone with it, so they are aborted; once none is left we
     * connect to the new listener through the same pool socket (waspd holds
     * it, so connecting works even before the new listener accepts). */
    wasp_warn("pool '%s': lost the listener; aborting %zu request(s) and reconnecting",
              worker_pool, live_count);
    listener_lost = true;
    lost_since_ms = wasp_now_ms();
    for (wasp_request_t *r = live, *next; r != NULL; r = next) {
        next = r->next;
        worker_abort(r);
    }
    worker_reconnect_if_idle();
}

static void worker_on_signal(wasp_loop_t *loop, int signo, void *data)
{
    if (signo == SIGHUP) {
        worker_config_reload();
    } else if ((signo == SIGTERM || signo == SIGINT) && !draining) {
        draining = true;
        /* Tell the listener first, so nothing new arrives while we finish. */
        wasp_channel_send(worker_ch, WASP_MSG_DRAIN, 0, 0, NULL, 0, -1);
        worker_exit_if_drained();
    }
}

static int worker_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        return -1;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- loop API for modules ------------------------------------------------ */

struct wasp_timer {
    wasp_ltimer_t *lt;
    wasp_timer_fn fn;
    void *data;
};

static void api_timer_fire(wasp_loop_t *loop, void *data)
{
    wasp_timer_t *t = data;
    wasp_timer_fn fn = t->fn;
    void *d = t->data;

    free(t);
    fn(d);
}

wasp_timer_t *wasp_timer_start(uint64_t ms, wasp_timer_fn fn, void *data)
{
    wasp_timer_t *t = malloc(sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    t->fn = fn;
    t->data = data;
    t->lt = wasp_loop_timer(worker_loop, ms, api_timer_fire, t);
    if (t->lt == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void wasp_timer_cancel(wasp_timer_t *t)
{
    if (t != NULL) {
        wasp_loop_timer_cancel(worker_loop, t->lt);
        free(t);
    }
}

typedef struct api_fd {
    wasp_fd_fn fn;
    void *data;
} api_fd_t;

static api_fd_t *api_fds;
static int api_fd_cap;

static void api_fd_fire(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    /* Looked up by fd, not through data: api_fds moves when it grows. */
    api_fd_t *w = &api_fds[fd];

    w->fn(fd, events, w->data);
}

int wasp_fd_watch(int fd, uint32_t events, wasp_fd_fn fn, void *data)
{
    if (fd < 0) {
        return -1;
    }
    if (fd >= api_fd_cap) {
        int cap = api_fd_cap ? api_fd_cap : 64;
        api_fd_t *p;

        while (cap <= fd) {
            cap *= 2;
        }
        p = realloc(api_fds, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        memset(p + api_fd_cap, 0, (size_t)(cap - api_fd_cap) * sizeof(*p));
        api_fds = p;
        api_fd_cap = cap;
    }
    api_fds[fd].fn = fn;
    api_fds[fd].data = data;
    if (wasp_loop_add(worker_loop, fd, events, api_fd_fire, NULL) != 0) {
        return wasp_loop_mod(worker_loop, fd, events);
    }
    return 0;
}

void wasp_fd_unwatch(int fd)
{
    wasp_loop_del(worker_loop, fd);
}

int main(int argc, char **argv)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    const char *config = NULL, *channel = NULL, *config_name = NULL;
    wasp_diag_t diag;
    char buf[2048], err[1024];
    int fd;

    wasp_log_init("wasp-worker");
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--pool") == 0) {
            worker_pool = argv[i + 1];
        } else if (strcmp(argv[i], "--config") == 0) {
            config = argv[i + 1];
        } else if (strcmp(argv[i], "--channel") == 0) {
            channel = argv[i + 1];
        } else if (strcmp(argv[i], "--config-name") == 0) {
            config_name = argv[i + 1];
        }
    }
    if (worker_pool == NULL || config == NULL || channel == NULL) {
        fprintf(stderr, "wasp-worker is started by waspd "
                        "(--pool NAME --config FILE --channel SOCKET).\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* waspd gives the worker its pool's copy of the configuration
     * (--config) and the original's name (--config-name): messages and
     * relative paths are the original's, line for line. */
    worker_cfg = worker_config_load(config, config_name ? config_name : config, &diag);
    if (worker_cfg == NULL) {
        wasp_error("pool '%s': %s", worker_pool, wasp_diag_format(&diag, buf, sizeof(buf)));
        return 1;
    }
    worker_loop = wasp_loop_new();
    if (worker_loop == NULL || wasp_loop_signals(worker_loop, sigs, 3, worker_on_signal, NULL)) {
        return 1;
    }
    if (worker_modules_load(err, sizeof(err)) != 0) {
        wasp_error("pool '%s': %s", worker_pool, err);
        return 1;
    }
    worker_channel_path = channel;
    fd = worker_connect(channel);
    if (fd < 0) {
        wasp_error("pool '%s': cannot connect to %s: %s", worker_pool, channel, strerror(errno));
        return 1;
    }
    worker_ch = wasp_channel_new(worker_loop, fd, worker_on_msg, worker_on_close, NULL);
    if (worker_ch == NULL) {
        return 1;
    }
    worker_hello();
    wasp_debug("pool '%s': %zu module(s) loaded; serving", worker_pool, worker_module_count());
    wasp_loop_run(worker_loop);
    return 0;
}
