/* Event loop: epoll + timer heap + signalfd (see loop.h). */
#include "common/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

typedef struct loop_fd {
    wasp_io_cb cb;
    void *data;
    bool used;
} loop_fd_t;

struct wasp_ltimer {
    uint64_t due;
    uint64_t seq; /* FIFO among equal deadlines */
    size_t index; /* position in the heap */
    wasp_timer_cb cb;
    void *data;
};

struct wasp_loop {
    int epfd;
    bool stop;
    loop_fd_t *fds;
    int fd_cap;
    wasp_ltimer_t **heap;
    size_t heap_len, heap_cap;
    uint64_t seq;
    int sigfd;
    wasp_signal_cb sig_cb;
    void *sig_data;
    wasp_defer_t *deferred, **deferred_tail; /* FIFO */
};

uint64_t wasp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

wasp_loop_t *wasp_loop_new(void)
{
    wasp_loop_t *loop = calloc(1, sizeof(*loop));

    if (loop == NULL) {
        return NULL;
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->sigfd = -1;
    if (loop->epfd < 0) {
        free(loop);
        return NULL;
    }
    return loop;
}

void wasp_loop_free(wasp_loop_t *loop)
{
    if (loop == NULL) {
        return;
    }
    for (size_t i = 0; i < loop->heap_len; i++) {
        free(loop->heap[i]);
    }
    free(loop->heap);
    free(loop->fds);
    if (loop->sigfd >= 0) {
        close(loop->sigfd);
    }
    close(loop->epfd);
    free(loop);
}

int wasp_loop_add(wasp_loop_t *loop, int fd, uint32_t events, wasp_io_cb cb, void *data)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};

    if (fd >= loop->fd_cap) {
        int cap = loop->fd_cap ? loop->fd_cap : 64;
        loop_fd_t *p;

        while (cap <= fd) {
            cap *= 2;
        }
        p = realloc(loop->fds, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        memset(p + loop->fd_cap, 0, (size_t)(cap - loop->fd_cap) * sizeof(*p));
        loop->fds = p;
        loop->fd_cap = cap;
    }
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return -1;
    }
    loop->fds[fd] = (loop_fd_t){.cb = cb, .data = data, .used = true};
    return 0;
}

int wasp_loop_mod(wasp_loop_t *loop, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};

    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void wasp_loop_del(wasp_loop_t *loop, int fd)
{
    if (fd < 0 || fd >= loop->fd_cap || !loop->fds[fd].used) {
        return;
    }
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->fds[fd].used = false;
}

/* ---- timer heap ---------------------------------------------------------- */

static bool timer_less(const wasp_ltimer_t *a, const wasp_ltimer_t *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void timer_swap(wasp_loop_t *loop, size_t i, size_t j)
{
    wasp_ltimer_t *t = loop->heap[i];

    loop->heap[i] = loop->heap[j];
    loop->heap[j] = t;
    loop->heap[i]->index = i;
    loop->heap[j]->index = j;
}

static void timer_up(wasp_loop_t *loop, size_t i)
{
    while (i > 0 && timer_less(loop->heap[i], loop->heap[(i - 1) / 2])) {
        timer_swap(loop, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void timer_down(wasp_loop_t *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < loop->heap_len && timer_less(loop->heap[l], loop->heap[m])) {
            m = l;
        }
        if (r < loop->heap_len && timer_less(loop->heap[r], loop->heap[m])) {
            m = r;
        }
        if (m == i) {
            return;
        }
        timer_swap(loop, i, m);
        i = m;
    }
}

wasp_ltimer_t *wasp_loop_timer(wasp_loop_t *loop, uint64_t ms, wasp_timer_cb cb, void *data)
{
    wasp_ltimer_t *t;

    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        wasp_ltimer_t **p = realloc(loop->heap, cap * sizeof(*p));

        if (p == NULL) {
            return NULL;
        }
        loop->heap = p;
        loop->heap_cap = cap;
    }
    t = malloc(sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    *t = (wasp_ltimer_t){.due = wasp_now_ms() + ms, .seq = loop->seq++, .cb = cb, .data = data};
    t->index = loop->heap_len;
    loop->heap[loop->heap_len++] = t;
    timer_up(loop, t->index);
    return t;
}

static void timer_remove(wasp_loop_t *loop, wasp_ltimer_t *t)
{
    size_t i = t->index;

    loop->heap_len--;
    if (i != loop->heap_len) {
        loop->heap[i] = loop->heap[loop->heap_len];
        loop->heap[i]->index = i;
        timer_down(loop, i);
        timer_up(loop, i);
    }
}

void wasp_loop_timer_cancel(wasp_loop_t *loop, wasp_ltimer_t *t)
{
    if (t == NULL) {
        return;
    }
    timer_remove(loop, t);
    free(t);
}

/* ---- signals ------------------------------------------------------------- */

static void loop_on_signal(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        loop->sig_cb(loop, (int)si.ssi_signo, loop->sig_data);
    }
}

int wasp_loop_signals(wasp_loop_t *loop, const int *signals, int count, wasp_signal_cb cb,
                      void *data)
{
    sigset_t set;

    sigemptyset(&set);
    for (int i = 0; i < count; i++) {
        sigaddset(&set, signals[i]);
    }
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        return -1;
    }
    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd < 0) {
        return -1;
    }
    loop->sig_cb = cb;
    loop->sig_data = data;
    return wasp_loop_add(loop, loop->sigfd, EPOLLIN, loop_on_signal, NULL);
}

/* ---- run ----------------------------------------------------------------- */

static int loop_timeout(wasp_loop_t *loop)
{
    uint64_t now;

    if (loop->heap_len == 0) {
        return -1;
    }
    now = wasp_now_ms();
    if (loop->heap[0]->due <= now) {
        return 0;
    }
    return (int)(loop->heap[0]->due - now);
}

static void loop_run_timers(wasp_loop_t *loop)
{
    uint64_t now = wasp_now_ms();

    while (loop->heap_len > 0 && loop->heap[0]->due <= now && !loop->stop) {
        wasp_ltimer_t *t = loop->heap[0];

        timer_remove(loop, t);
        t->cb(loop, t->data);
        free(t);
    }
}

void wasp_loop_defer(wasp_loop_t *loop, wasp_defer_t *d, wasp_defer_cb cb, void *data)
{
    if (d->queued) {
        return;
    }
    d->cb = cb;
    d->data = data;
    d->next = NULL;
    d->queued = true;
    if (loop->deferred == NULL) {
        loop->deferred_tail = &loop->deferred;
    }
    *loop->deferred_tail = d;
    loop->deferred_tail = &d->next;
}

void wasp_loop_defer_cancel(wasp_loop_t *loop, wasp_defer_t *d)
{
    if (!d->queued) {
        return;
    }
    /* The list holds a handful of nodes (one per busy channel). */
    for (wasp_defer_t **pp = &loop->deferred; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            if (*pp == NULL) {
                loop->deferred_tail = pp;
            }
            break;
        }
    }
    d->queued = false;
}

/* Callbacks may defer more work (it runs in this same pass) or cancel
 * nodes still in the list. */
static void loop_run_deferred(wasp_loop_t *loop)
{
    while (loop->deferred != NULL) {
        wasp_defer_t *d = loop->deferred;

        loop->deferred = d->next;
        if (loop->deferred == NULL) {
            loop->deferred_tail = &loop->deferred;
        }
        d->queued = false;
        d->cb(loop, d->data);
    }
}

int wasp_loop_run(wasp_loop_t *loop)
{
    struct epoll_event evs[128];

    loop->stop = false;
    while (!loop->stop) {
        int n;

        loop_run_deferred(loop);
        if (loop->stop) {
            break;
        }
        n = epoll_wait(loop->epfd, evs, 128, loop_timeout(loop));

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            wasp_alert("epoll_wait: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n && !loop->stop; i++) {
            int fd = evs[i].data.fd;

            /* A callback earlier in this batch may have closed this fd. */
            if (fd < loop->fd_cap && loop->fds[fd].used) {
                loop->fds[fd].cb(loop, fd, evs[i].events, loop->fds[fd].data);
            }
        }
        loop_run_timers(loop);
    }
    return 0;
}

void wasp_loop_stop(wasp_loop_t *loop)
{
    loop->stop = true;
}
