/*
 * `waspctl list requests`: IIS' RequestMonitor.  The listener knows every
 * request in flight (client, URL, pool, worker, how long); only the worker
 * knows where each one is in its pipeline.  So a query asks every connected
 * worker for the stage and module of its requests (STATUS_QUERY →
 * REQ_STATUS), waits for all answers or 500 ms (a hung worker must not hang
 * the query: its requests are then listed without a stage), and answers
 * waspd with one text line per request.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "listener/listener.h"

#define MONITOR_WAIT_MS 500

static struct {
    bool active;
    uint32_t min_ms;
    size_t waiting;
    wasp_ltimer_t *timer;
} query;

/* Method and URL from the request's encoded REQ_HEAD (conn_request.c writes it). */
static void head_fields(const lsn_request_t *req, char *method, size_t msize, char *url,
                        size_t usize, char *client, size_t csize, uint32_t *site)
{
    wasp_dec_t d;
    size_t ml, ul, n;
    const char *m, *u;
    char ip[64];

    wasp_dec_init(&d, wasp_buf_ptr(&req->head.buf), wasp_buf_size(&req->head.buf));
    *site = wasp_dec_u32(&d);
    m = wasp_dec_str(&d, &ml);
    u = wasp_dec_str(&d, &ul);
    wasp_dec_str(&d, &n);  /* decoded path */
    wasp_dec_u8(&d);       /* has query */
    wasp_dec_str(&d, &n);  /* query */
    wasp_dec_u8(&d);       /* HTTP version */
    wasp_dec_u8(&d);       /* is local */
    wasp_dec_cstr(&d, ip, sizeof(ip));
    if (d.error) {
        snprintf(method, msize, "?");
        snprintf(url, usize, "?");
        snprintf(client, csize, "?");
        return;
    }
    snprintf(method, msize, "%.*s", (int)ml, m);
    /* A tab or newline in the URL would break the line format. */
    snprintf(url, usize, "%.*s", (int)ul, u);
    for (char *p = url; *p; p++) {
        if (*p == '\t' || *p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    snprintf(client, csize, "%s", ip); /* the address alone, as IIS shows it */
}

static void line_add(wasp_buf_t *out, const lsn_pool_t *pool, pid_t pid, const lsn_request_t *req,
                     uint64_t now, const char *stage, const char *module)
{
    char method[32], url[2048], client[96], line[2400];
    uint32_t site;
    uint64_t elapsed = now - req->submit_ms;
    int n;

    if (elapsed < query.min_ms) {
        return;
    }
    head_fields(req, method, sizeof(method), url, sizeof(url), client, sizeof(client), &site);
    n = snprintf(line, sizeof(line), "req\t%s\t%d\t%u\t%llu\t%s\t%s\t%s\t%s\t%s\n", pool->name,
                 (int)pid, site, (unsigned long long)elapsed, client, method, url, stage, module);
    if (n > 0 && wasp_buf_size(out) + (size_t)n < WASP_CH_CHUNK) {
        wasp_buf_append(out, line, (size_t)n > sizeof(line) - 1 ? sizeof(line) - 1 : (size_t)n);
    }
}

static void query_finish(void)
{
    wasp_buf_t out = {0};
    uint64_t now = wasp_now_ms();
    size_t count;
    lsn_pool_t **pools = lsn_pools(&count);

    if (query.timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, query.timer);
        query.timer = NULL;
    }
    query.active = false;
    for (size_t i = 0; i < count; i++) {
        const lsn_pool_t *pool = pools[i];

        for (const wasp_qlink_t *l = pool->queue.head; l != NULL; l = l->next) {
            line_add(&out, pool, 0, (const lsn_request_t *)l, now, "Queued", "-");
        }
        for (const lsn_worker_t *w = pool->workers; w != NULL; w = w->next) {
            for (const lsn_request_t *r = w->streams; r != NULL; r = r->wnext) {
                const char *stage = r->stage[0] ? r->stage
                                    : r->state == REQ_DISPATCHED ? "Dispatched"
                                                                 : "Unknown";

                line_add(&out, pool, w->pid, r, now, stage, r->module[0] ? r->module : "-");
            }
        }
    }
    wasp_channel_send(lsn_control(), WASP_MSG_REQUESTS, 0, 0, wasp_buf_ptr(&out),
                      wasp_buf_size(&out), -1);
    wasp_buf_free(&out);
}

static void query_timeout(wasp_loop_t *loop, void *data)
{
    query.timer = NULL;
    query_finish();
}

void lsn_status_query(uint32_t min_elapsed_ms)
{
    size_t count;
    lsn_pool_t **pools = lsn_pools(&count);

    if (query.active) {
        return; /* the running query answers every caller (waspd queues them) */
    }
    query.active = true;
    query.min_ms = min_elapsed_ms;
    query.waiting = 0;
    for (size_t i = 0; i < count; i++) {
        for (lsn_worker_t *w = pools[i]->workers; w != NULL; w = w->next) {
            for (lsn_request_t *r = w->streams; r != NULL; r = r->wnext) {
                r->stage[0] = r->module[0] = '\0';
            }
            if (w->hello && w->streams != NULL && !pools[i]->suspended &&
                wasp_channel_send(w->ch, WASP_MSG_STATUS_QUERY, 0, 0, NULL, 0, -1) == 0) {
                query.waiting++;
            }
        }
    }
    if (query.waiting == 0) {
        query_finish();
        return;
    }
    query.timer = wasp_loop_timer(lsn_loop, MONITOR_WAIT_MS, query_timeout, NULL);
}

void lsn_status_reply(lsn_worker_t *w, wasp_dec_t *d)
{
    while (d->p + sizeof(uint32_t) <= d->end) {
        uint32_t stream = wasp_dec_u32(d);
        char stage[32], module[32];
        lsn_request_t *r;

        wasp_dec_cstr(d, stage, sizeof(stage));
        wasp_dec_cstr(d, module, sizeof(module));
        if (d->error) {
            break;
        }
        for (r = w->streams; r != NULL && r->stream != stream; r = r->wnext) {
        }
        if (r != NULL) {
            snprintf(r->stage, sizeof(r->stage), "%s", stage);
            snprintf(r->module, sizeof(r->module), "%s", module);
        }
    }
    if (query.active && query.waiting > 0 && --query.waiting == 0) {
        query_finish();
    }
}
