/*
 * The client side of waspd's control socket (src/common/ctl_proto.h): one
 * connection per command, the command's words in one datagram, then 'O'
 * (output), 'P' (progress) and finally 'D' (done) datagrams.
 */
#ifndef WASP_CTL_CLIENT_H
#define WASP_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* What ctl_call() returns. */
enum {
    CTL_CALL_OK = 0,           /* waspd answered with 'D' (see reply.status) */
    CTL_CALL_NOT_RUNNING = -1, /* no socket, or nobody listening on it */
    CTL_CALL_ERROR = -2        /* anything else: err says what */
};

/* Flags of ctl_call(). */
#define CTL_PROGRESS 0x1u /* print 'P' lines on stderr as they come */

typedef struct ctl_reply {
    int status;      /* D's exit status (0 done, 1 failed, 2 bad command, 3 no such object) */
    char *message;   /* D's text, "" when empty */
    char *out;       /* every 'O' text in order, NUL-terminated */
    size_t out_len;
} ctl_reply_t;

/* <rundir>/control.sock into buf. */
const char *ctl_socket_path(const char *rundir, char *buf, size_t size);

/* Send words[0..n) and read the answer.  timeout_ms bounds each wait for
 * a datagram (0 = no bound: a recycle waits for old workers to exit). */
int ctl_call(const char *rundir, const char *const *words, size_t n, unsigned flags,
             int timeout_ms, ctl_reply_t *reply, char *err, size_t errsz);

void ctl_reply_free(ctl_reply_t *reply);

/* Split line at sep, in place; returns the number of fields (at most max). */
size_t ctl_split(char *line, char sep, char **fields, size_t max);

/* ---- waspd's "state" -------------------------------------------------------- */

typedef struct ctl_pool_state {
    char *name, *state, *reason;
} ctl_pool_state_t;

typedef struct ctl_wp_state {
    char *pid, *pool, *state, *started_ms, *requests;
} ctl_wp_state_t;

typedef struct ctl_site_state {
    char *id, *name, *state;
} ctl_site_state_t;

typedef struct ctl_state {
    bool running; /* false: waspd is not running, every state is "Unknown" */
    ctl_pool_state_t *pools;
    size_t pool_count;
    ctl_wp_state_t *wps;
    size_t wp_count;
    ctl_site_state_t *sites;
    size_t site_count;
    ctl_reply_t reply; /* the strings above point into reply.out */
} ctl_state_t;

/* Ask waspd for its state.  Not running is not an error (running = false);
 * CTL_CALL_ERROR when it answered badly or could not be asked. */
int ctl_state_fetch(const char *rundir, ctl_state_t *st, char *err, size_t errsz);
void ctl_state_free(ctl_state_t *st);

/* "Started", "Stopped", ... or "Unknown" (not running, or waspd does not
 * know the object yet). */
const char *ctl_state_pool(const ctl_state_t *st, const char *name);
const char *ctl_state_site(const ctl_state_t *st, const char *name, unsigned id);

#endif /* WASP_CTL_CLIENT_H */
