/*
 * The listener's log files (see accesslog.h for the design).
 *
 * Two sides, two shared things.  The loop side owns the sinks (one per log:
 * a site's, the central W3C one, HTTPERR), formats lines into each sink's
 * current job and hands full jobs to the queue.  The writer thread owns the
 * files: it pops jobs, opens (and creates) files by name, writes the header
 * block on every open, rolls MaxSize files by their size on disk, and
 * closes.  Shared: the queue (a mutex held only for list operations), and
 * each sink's log_files_t, whose settings are written once by the loop
 * before the writer sees it and whose file state only the writer touches.
 * When a sink goes (a configuration change), its CLOSE job hands its
 * log_files_t to the writer, which frees it: the loop never touches it
 * again, and no job can follow the CLOSE of its files.
 */
#include "listener/accesslog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/counters.h"
#include "listener/listener.h"

#define LOG_DROP_REPORT_MS 10000u
#define LOG_WRITER_ERROR_MS 60000u
#define LOG_SHUTDOWN_WAIT_S 5

typedef enum log_kind {
    LOG_KIND_SITE = WASP_CFG_LOG_SITE,
    LOG_KIND_CENTRAL = WASP_CFG_LOG_CENTRAL,
    LOG_KIND_HTTPERR = WASP_CFG_LOG_HTTPERR
} log_kind_t;

/* A set of files (one log).  Settings: written by the loop before the
 * first job, read-only afterwards.  File state: the writer's alone. */
typedef struct log_files {
    char dir[PATH_MAX];
    bool size_based;          /* MaxSize (and HTTPERR): the writer picks the name */
    wasp_log_format_t format; /* for MaxSize names */
    bool utf8, custom;
    bool httperr;             /* httperr<N>.log */
    uint64_t truncate;
    const char *software;     /* NULL: no header block (IIS, NCSA) */
    char *fields;             /* "#Fields: ...\r\n" */
    /* writer only */
    struct log_files *wnext;  /* files the writer has had jobs for */
    bool touched;
    int fd;
    char open_name[64];
    uint64_t size;
    bool fresh;               /* the open file holds no line yet */
    unsigned seq;
    uint64_t last_error_ms;
} log_files_t;

typedef enum log_op { LOG_OP_WRITE, LOG_OP_CLOSE, LOG_OP_REOPEN, LOG_OP_STOP } log_op_t;

typedef struct log_job {
    struct log_job *next;
    log_op_t op;
    log_files_t *files;
    char name[64];       /* time-based logs: the file these lines belong to */
    time_t first_when;   /* the time of its first line (#Date of a header it opens) */
    size_t len, cap;
    uint64_t lines;
    char data[];
} log_job_t;

typedef struct log_custom {
    const char *name, *source;
    size_t source_len;
    wasp_log_source_t type;
} log_custom_t;

typedef struct log_sink {
    struct log_sink *next;
    log_kind_t kind;
    uint32_t site_id;
    char *payload;            /* the CFG_LOG frame it was made from (compared on reload) */
    size_t payload_len;
    char site_name[256];
    bool log_site_id, local;
    wasp_log_format_t format;
    wasp_log_period_t period;
    uint32_t flags, max_line, max_custom, flush_count;
    log_custom_t *custom;
    size_t custom_count;
    bool resp_headers;        /* some custom field is a response header */
    log_files_t *files;
    log_job_t *job;           /* lines not yet handed to the writer */
    time_t name_when;         /* cur_name is the file of this second */
    char cur_name[64];
} log_sink_t;

/* ---- the queue between loop and writer ------------------------------------ */

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;    /* jobs for the writer */
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER; /* the writer stopped */
static log_job_t *q_head, *q_tail;
static size_t q_bytes;        /* data bytes queued or being written */
static bool writer_running, writer_done;
static pthread_t writer_thread;

/* loop side */
static log_sink_t *sinks, *next_sinks;
static log_sink_t *httperr_sink;
static wasp_ltimer_t *flush_timer;
static uint64_t dropped_lines, dropped_reported, last_drop_report_ms;
static char computer_name[256];
static char line_buf[65536 + 4096];

void lsn_log_init(void)
{
    /* The time zone is read now, not on the loop's first local time. */
    tzset();
    if (gethostname(computer_name, sizeof(computer_name) - 1) != 0) {
        snprintf(computer_name, sizeof(computer_name), "localhost");
    }
}

/* Queue a job for the writer.  Data beyond LSN_LOG_QUEUE_MAX is refused
 * (the caller counts the lines) unless force (shutdown). */
static bool log_submit(log_job_t *job, bool force)
{
    pthread_mutex_lock(&q_lock);
    if (job->op == LOG_OP_WRITE && !force && q_bytes + job->len > LSN_LOG_QUEUE_MAX) {
        pthread_mutex_unlock(&q_lock);
        return false;
    }
    job->next = NULL;
    if (q_tail != NULL) {
        q_tail->next = job;
    } else {
        q_head = job;
    }
    q_tail = job;
    if (job->op == LOG_OP_WRITE) {
        q_bytes += job->len;
    }
    pthread_cond_signal(&q_cond);
    pthread_mutex_unlock(&q_lock);
    return true;
}

/* A job without lines: CLOSE, REOPEN, STOP.  Never refused. */
static void log_control(log_op_t op, log_files_t *files)
{
    log_job_t *job = calloc(1, sizeof(*job));

    if (job == NULL) {
        wasp_error("log writer: out of memory");
        return;
    }
    job->op = op;
    job->files = files;
    log_submit(job, true);
}

/* ---- the writer thread ------------------------------------------------------ */

static void writer_error(log_files_t *f, const char *what, int err)
{
    uint64_t now = wasp_now_ms();

    if (f->last_error_ms == 0 || now - f->last_error_ms >= LOG_WRITER_ERROR_MS) {
        f->last_error_ms = now;
        wasp_error("log file %s/%s: %s: %s; its lines are lost until this is fixed (the "
                   "directory must be writable by the listener's user)",
                   f->dir, f->open_name[0] ? f->open_name : "", what, strerror(err));
    }
}

static void size_name(const log_files_t *f, unsigned seq, char *out, size_t size)
{
    if (f->httperr) {
        snprintf(out, size, "httperr%u.log", seq);
    } else {
        wasp_logfmt_file_name(f->format, WASP_LOG_MAXSIZE, f->utf8, f->custom, NULL, seq, out,
                              size);
    }
}

/* The highest sequence number in the directory (0 if none): a restarted
 * listener continues the newest file. */
static unsigned size_highest(const log_files_t *f)
{
    char first[64], prefix[64], suffix[16];
    const char *one;
    unsigned best = 0;
    DIR *d = opendir(f->dir);
    struct dirent *de;

    if (d == NULL) {
        return 0;
    }
    /* The name of file 1 is prefix "1" suffix. */
    size_name(f, 1, first, sizeof(first));
    one = strstr(first, "1");
    snprintf(prefix, sizeof(prefix), "%.*s", (int)(one - first), first);
    snprintf(suffix, sizeof(suffix), "%s", one + 1);
    while ((de = readdir(d)) != NULL) {
        size_t pl = strlen(prefix), nl = strlen(de->d_name), sl = strlen(suffix);
        char *end;
        unsigned long n;

        if (nl <= pl + sl || strncmp(de->d_name, prefix, pl) != 0 ||
            strcmp(de->d_name + nl - sl, suffix) != 0) {
            continue;
        }
        n = strtoul(de->d_name + pl, &end, 10);
        if (end == de->d_name + nl - sl && n > best && n < UINT_MAX) {
            best = (unsigned)n;
        }
    }
    closedir(d);
    return best;
}

static int writer_write_all(log_files_t *f, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(f->fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            writer_error(f, "write", n < 0 ? errno : EIO);
            close(f->fd);
            f->fd = -1;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        f->size += (uint64_t)n;
    }
    return 0;
}

/* Open (create) dir/name for appending; f->size is its size, f->fresh
 * says it holds nothing yet. */
static int writer_open(log_files_t *f, const char *name)
{
    char path[PATH_MAX + 64];
    struct stat st;

    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    snprintf(f->open_name, sizeof(f->open_name), "%s", name);
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (f->fd < 0 && errno == ENOENT && wasp_mkdir_p(f->dir, 0750) == 0) {
        f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    }
    if (f->fd < 0) {
        writer_error(f, "open", errno);
        return -1;
    }
    f->size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    f->fresh = f->size == 0;
    return 0;
}

/* The header block (W3C and HTTPERR), written on every open as HTTP.sys
 * does whenever it opens a log again (readers key on the newest #Fields):
 * the directives before #Fields into out; returns their length, 0 for
 * formats without a header. */
static size_t writer_directives(const log_files_t *f, time_t when, char *out, size_t size)
{
    struct tm tm;
    int n;

    if (f->software == NULL) {
        return 0;
    }
    gmtime_r(&when, &tm);
    n = snprintf(out, size,
                 "#Software: %s\r\n#Version: 1.0\r\n#Date: %04d-%02d-%02d %02d:%02d:%02d\r\n",
                 f->software, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static int writer_header(log_files_t *f, const char *dir, size_t dl)
{
    if (dl == 0) {
        return 0;
    }
    if (writer_write_all(f, dir, dl) != 0) {
        return -1;
    }
    return writer_write_all(f, f->fields, strlen(f->fields));
}

/* Make the open file one that takes the header (if it is opened now) and
 * len more bytes: for time-based logs the job's file, for MaxSize the
 * current sequence number, or the next one when the current file would go
 * past truncateSize (a fresh file takes any line). */
static int writer_target(log_files_t *f, const char *name, time_t when, size_t len)
{
    char dir[256], sname[64];
    size_t dl, hl;

    if (!f->size_based) {
        if (f->fd >= 0 && strcmp(f->open_name, name) == 0) {
            return 0;
        }
        if (writer_open(f, name) != 0) {
            return -1;
        }
        dl = writer_directives(f, when, dir, sizeof(dir));
        return writer_header(f, dir, dl);
    }
    if (f->fd >= 0) {
        if (f->fresh || f->size + len <= f->truncate) {
            return 0;
        }
        f->seq++;
    } else if (f->seq == 0) {
        f->seq = size_highest(f);
        f->seq = f->seq == 0 ? 1 : f->seq;
    }
    dl = writer_directives(f, when, dir, sizeof(dir));
    hl = dl > 0 ? dl + strlen(f->fields) : 0;
    for (;;) {
        size_name(f, f->seq, sname, sizeof(sname));
        if (writer_open(f, sname) != 0) {
            return -1;
        }
        if (f->fresh || f->size + hl + len <= f->truncate) {
            return writer_header(f, dir, dl);
        }
        f->seq++;
    }
}

static void writer_write(log_job_t *job)
{
    log_files_t *f = job->files;
    const char *p = job->data, *end = job->data + job->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *q = nl != NULL ? nl + 1 : end; /* at least one line */

        if (writer_target(f, job->name, job->first_when,
                          f->size_based ? (size_t)(q - p) : job->len) != 0) {
            return;
        }
        if (!f->size_based) {
            q = end;
        } else {
            /* Whole lines, as many as the current file takes. */
            uint64_t room = f->truncate > f->size ? f->truncate - f->size : 0;

            while (q < end && (nl = memchr(q, '\n', (size_t)(end - q))) != NULL &&
                   (uint64_t)(nl + 1 - p) <= room) {
                q = nl + 1;
            }
        }
        if (writer_write_all(f, p, (size_t)(q - p)) != 0) {
            return;
        }
        f->fresh = false;
        p = q;
    }
}

static void *writer_main(void *arg)
{
    log_files_t *touched = NULL; /* every files object with a job so far */

    (void)arg;
    for (;;) {
        log_job_t *job;
        log_op_t op;

        pthread_mutex_lock(&q_lock);
        while (q_head == NULL) {
            pthread_cond_wait(&q_cond, &q_lock);
        }
        job = q_head;
        q_head = job->next;
        if (q_head == NULL) {
            q_tail = NULL;
        }
        pthread_mutex_unlock(&q_lock);

        op = job->op;
        if (job->files != NULL && !job->files->touched) {
            job->files->touched = true;
            job->files->wnext = touched;
            touched = job->files;
        }
        switch (op) {
        case LOG_OP_WRITE:
            writer_write(job);
            break;
        case LOG_OP_CLOSE:
            for (log_files_t **pp = &touched; *pp != NULL; pp = &(*pp)->wnext) {
                if (*pp == job->files) {
                    *pp = job->files->wnext;
                    break;
                }
            }
            if (job->files->fd >= 0) {
                close(job->files->fd);
            }
            free(job->files->fields);
            free(job->files);
            break;
        case LOG_OP_REOPEN:
            for (log_files_t *f = touched; f != NULL; f = f->wnext) {
                if (f->fd >= 0) {
                    close(f->fd);
                    f->fd = -1;
                }
            }
            break;
        case LOG_OP_STOP:
            break;
        }
        pthread_mutex_lock(&q_lock);
        if (op == LOG_OP_WRITE) {
            q_bytes -= job->len;
        }
        if (op == LOG_OP_STOP) {
            writer_done = true;
            pthread_cond_broadcast(&done_cond);
        }
        pthread_mutex_unlock(&q_lock);
        free(job);
        if (op == LOG_OP_STOP) {
            return NULL;
        }
    }
}

static void writer_start(void)
{
    sigset_t all, old;
    int rc;

    if (writer_running) {
        return;
    }
    /* Signals belong to the loop's signalfd: the writer takes none. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&writer_thread, NULL, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        wasp_error("cannot start the log writer thread: %s; log lines wait in memory (at most "
                   "%u bytes) and are then dropped",
                   strerror(rc), LSN_LOG_QUEUE_MAX);
        return;
    }
    writer_running = true;
}

/* ---- sinks (loop side) ------------------------------------------------------ */

static void log_report_drops(bool force)
{
    uint64_t now = wasp_now_ms();
    size_t waiting;

    if (dropped_lines == dropped_reported ||
        (!force && last_drop_report_ms != 0 && now - last_drop_report_ms < LOG_DROP_REPORT_MS)) {
        return;
    }
    pthread_mutex_lock(&q_lock);
    waiting = q_bytes;
    pthread_mutex_unlock(&q_lock);
    wasp_warn("log files: %llu line(s) dropped: the disk does not keep up with the requests "
              "(%zu bytes wait to be written, at most %u may)",
              (unsigned long long)(dropped_lines - dropped_reported), waiting, LSN_LOG_QUEUE_MAX);
    dropped_reported = dropped_lines;
    last_drop_report_ms = now;
}

/* Hand the sink's lines to the writer (or count them lost). */
static void sink_flush(log_sink_t *k, bool force)
{
    log_job_t *job = k->job;

    if (job == NULL) {
        return;
    }
    k->job = NULL;
    if (!log_submit(job, force)) {
        dropped_lines += job->lines;
        free(job);
    }
}

static void flush_all(bool force)
{
    for (log_sink_t *k = sinks; k != NULL; k = k->next) {
        sink_flush(k, force);
    }
}

static void flush_tick(wasp_loop_t *loop, void *data)
{
    (void)loop;
    (void)data;
    flush_timer = NULL;
    flush_all(false);
    log_report_drops(false);
    if (dropped_lines != dropped_reported) {
        flush_timer = wasp_loop_timer(lsn_loop, LSN_LOG_FLUSH_MS, flush_tick, NULL);
    }
}

static void sink_append(log_sink_t *k, const char *line, size_t len, time_t when)
{
    log_job_t *job;

    if (!k->files->size_based && k->name_when != when) {
        struct tm tm;

        if (k->local) {
            localtime_r(&when, &tm);
        } else {
            gmtime_r(&when, &tm);
        }
        wasp_logfmt_file_name(k->format, k->period, k->files->utf8, k->files->custom, &tm, 0,
                              k->cur_name, sizeof(k->cur_name));
        k->name_when = when;
    }
    if (k->job != NULL &&
        (k->job->len + len > LSN_LOG_FLUSH_BYTES || strcmp(k->job->name, k->cur_name) != 0)) {
        sink_flush(k, false); /* full, or the next line opens a new file */
    }
    job = k->job;
    if (job == NULL || job->len + len > job->cap) {
        /* Buffers grow to 64 KiB as lines come: a quiet site costs little. */
        size_t cap = job != NULL ? job->cap * 2 : 4096;
        log_job_t *grown;

        while (cap < (job != NULL ? job->len : 0) + len) {
            cap *= 2;
        }
        grown = realloc(job, sizeof(*job) + cap);
        if (grown == NULL) {
            dropped_lines++;
            return;
        }
        if (job == NULL) {
            memset(grown, 0, sizeof(*grown));
            grown->op = LOG_OP_WRITE;
            grown->files = k->files;
            snprintf(grown->name, sizeof(grown->name), "%s", k->cur_name);
            grown->first_when = when;
        }
        grown->cap = cap;
        k->job = job = grown;
    }
    memcpy(job->data + job->len, line, len);
    job->len += len;
    job->lines++;
    if (job->len >= LSN_LOG_FLUSH_BYTES || (k->flush_count != 0 && job->lines >= k->flush_count)) {
        sink_flush(k, false);
    } else if (flush_timer == NULL) {
        flush_timer = wasp_loop_timer(lsn_loop, LSN_LOG_FLUSH_MS, flush_tick, NULL);
    }
}

static void sink_free(log_sink_t *k)
{
    for (size_t i = 0; i < k->custom_count; i++) {
        free((char *)k->custom[i].name);
        free((char *)k->custom[i].source);
    }
    free(k->custom);
    free(k->payload);
    free(k);
}

/* Retire a sink: its lines go out, then its files close (the writer frees
 * them). */
static void sink_retire(log_sink_t *k)
{
    sink_flush(k, true);
    if (k->files != NULL) {
        log_control(LOG_OP_CLOSE, k->files);
    }
    sink_free(k);
}

/* ---- configuration ------------------------------------------------------------ */

static log_sink_t *central_sink;
static log_sink_t **site_index; /* site sinks sorted by id */
static size_t site_index_count;
static wasp_logstr_t *custom_vals; /* a line's custom values ... */
static char (*custom_bufs)[24];    /* ... and room for the numeric ones */
static size_t custom_cap;

void lsn_log_cfg_begin(void)
{
    while (next_sinks != NULL) {
        log_sink_t *k = next_sinks;

        next_sinks = k->next;
        sink_free(k);
    }
}

static char *dup_str(const char *p, size_t len)
{
    char *s = malloc(len + 1);

    if (s != NULL) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

int lsn_log_cfg_add(const char *payload, size_t len)
{
    log_sink_t *k = calloc(1, sizeof(*k));
    wasp_dec_t d;
    uint32_t count;

    if (k == NULL) {
        return -1;
    }
    wasp_dec_init(&d, payload, len);
    k->kind = (log_kind_t)wasp_dec_u8(&d);
    k->site_id = wasp_dec_u32(&d);
    wasp_dec_cstr(&d, k->site_name, sizeof(k->site_name));
    wasp_dec_str(&d, &(size_t){0}); /* the directory: read again when files are made */
    k->format = (wasp_log_format_t)wasp_dec_u8(&d);
    k->period = (wasp_log_period_t)wasp_dec_u8(&d);
    wasp_dec_u8(&d); /* logInUTF8 */
    k->local = wasp_dec_u8(&d) != 0;
    k->log_site_id = wasp_dec_u8(&d) != 0;
    wasp_dec_u64(&d); /* truncateSize */
    k->flags = wasp_dec_u32(&d);
    k->max_line = wasp_dec_u32(&d);
    k->flush_count = wasp_dec_u32(&d);
    k->max_custom = wasp_dec_u32(&d);
    count = wasp_dec_u32(&d);
    if (d.error || count > 1024 || k->kind < LOG_KIND_SITE || k->kind > LOG_KIND_HTTPERR ||
        k->format > WASP_LOG_W3C || k->period > WASP_LOG_HOURLY) {
        free(k);
        return -1;
    }
    k->custom = count > 0 ? calloc(count, sizeof(*k->custom)) : NULL;
    for (uint32_t i = 0; i < count && k->custom != NULL; i++) {
        size_t nl, sl;
        const char *n = wasp_dec_str(&d, &nl);
        const char *s = wasp_dec_str(&d, &sl);
        uint8_t type = wasp_dec_u8(&d);

        if (d.error || type > WASP_LOG_SERVER_VARIABLE) {
            break;
        }
        k->custom[i].name = dup_str(n, nl);
        k->custom[i].source = dup_str(s, sl);
        k->custom[i].source_len = sl;
        k->custom[i].type = (wasp_log_source_t)type;
        k->custom_count++;
        k->resp_headers = k->resp_headers || type == WASP_LOG_RESPONSE_HEADER;
    }
    k->payload = dup_str(payload, len);
    k->payload_len = len;
    if (k->custom_count != count || k->payload == NULL) {
        sink_free(k);
        return -1;
    }
    if (k->max_line < 2 || k->max_line > 65536) {
        k->max_line = 65536;
    }
    k->next = next_sinks;
    next_sinks = k;
    return 0;
}

/* The files of a new sink, from its CFG_LOG payload. */
static log_files_t *files_new(const log_sink_t *k)
{
    log_files_t *f = calloc(1, sizeof(*f));
    wasp_dec_t d;
    size_t dl;
    const char *dir;
    const char **names;

    if (f == NULL) {
        return NULL;
    }
    wasp_dec_init(&d, k->payload, k->payload_len);
    wasp_dec_u8(&d);
    wasp_dec_u32(&d);
    wasp_dec_str(&d, &dl);
    dir = wasp_dec_str(&d, &dl);
    wasp_dec_u8(&d);
    wasp_dec_u8(&d);
    f->utf8 = wasp_dec_u8(&d) != 0;
    wasp_dec_u8(&d);
    wasp_dec_u8(&d);
    f->truncate = wasp_dec_u64(&d);
    snprintf(f->dir, sizeof(f->dir), "%.*s", (int)dl, dir);
    f->fd = -1;
    f->format = k->format;
    f->custom = k->custom_count > 0;
    f->httperr = k->kind == LOG_KIND_HTTPERR;
    f->size_based = f->httperr || k->period == WASP_LOG_MAXSIZE;
    if (f->httperr) {
        f->software = "wasp-http";
        f->fields = dup_str(WASP_HTTPERR_FIELDS, strlen(WASP_HTTPERR_FIELDS));
    } else if (k->format == WASP_LOG_W3C) {
        char fields[16384];
        size_t n;

        names = calloc(k->custom_count + 1, sizeof(*names));
        for (size_t i = 0; names != NULL && i < k->custom_count; i++) {
            names[i] = k->custom[i].name;
        }
        n = names != NULL ? wasp_logfmt_w3c_fields(k->flags, names, k->custom_count, fields,
                                                   sizeof(fields))
                          : 0;
        free(names);
        f->software = "wasp";
        f->fields = n > 0 ? dup_str(fields, n) : NULL;
        if (f->fields == NULL) {
            free(f);
            return NULL;
        }
    }
    return f;
}

static int site_cmp(const void *a, const void *b)
{
    uint32_t x = (*(log_sink_t *const *)a)->site_id, y = (*(log_sink_t *const *)b)->site_id;

    return x < y ? -1 : x > y;
}

void lsn_log_cfg_commit(void)
{
    log_sink_t *old = sinks, *kept = NULL, *k;
    size_t sites = 0, max_custom = 0;

    /* A log whose frame is the same as before stays as it is (buffer and
     * open file); the others are replaced. */
    while (next_sinks != NULL) {
        log_sink_t **pp = &old;

        k = next_sinks;
        next_sinks = k->next;
        while (*pp != NULL && !((*pp)->payload_len == k->payload_len &&
                                memcmp((*pp)->payload, k->payload, k->payload_len) == 0)) {
            pp = &(*pp)->next;
        }
        if (*pp != NULL) {
            log_sink_t *same = *pp;

            *pp = same->next;
            sink_free(k);
            k = same;
        } else {
            k->files = files_new(k);
            if (k->files == NULL) {
                wasp_error("log files: out of memory; the log of site %u is not written",
                           k->site_id);
                sink_free(k);
                continue;
            }
        }
        k->next = kept;
        kept = k;
    }
    while (old != NULL) {
        k = old;
        old = k->next;
        sink_retire(k);
    }
    sinks = kept;
    central_sink = httperr_sink = NULL;
    for (k = sinks; k != NULL; k = k->next) {
        sites += k->kind == LOG_KIND_SITE;
        central_sink = k->kind == LOG_KIND_CENTRAL ? k : central_sink;
        httperr_sink = k->kind == LOG_KIND_HTTPERR ? k : httperr_sink;
        max_custom = k->custom_count > max_custom ? k->custom_count : max_custom;
    }
    free(site_index);
    site_index = sites > 0 ? calloc(sites, sizeof(*site_index)) : NULL;
    site_index_count = 0;
    for (k = sinks; k != NULL && site_index != NULL; k = k->next) {
        if (k->kind == LOG_KIND_SITE) {
            site_index[site_index_count++] = k;
        }
    }
    if (site_index_count > 1) {
        qsort(site_index, site_index_count, sizeof(*site_index), site_cmp);
    }
    if (max_custom > custom_cap) {
        wasp_logstr_t *v = realloc(custom_vals, max_custom * sizeof(*v));
        char(*b)[24] = v != NULL ? realloc(custom_bufs, max_custom * sizeof(*b)) : NULL;

        custom_vals = v != NULL ? v : custom_vals;
        custom_bufs = b != NULL ? b : custom_bufs;
        custom_cap = v != NULL && b != NULL ? max_custom : custom_cap;
    }
    if (sinks != NULL) {
        writer_start();
    }
}

void lsn_log_reopen(void)
{
    flush_all(true);
    if (writer_running) {
        log_control(LOG_OP_REOPEN, NULL);
    }
    wasp_info("SIGUSR1: log files are opened again");
}

void lsn_log_shutdown(void)
{
    struct timespec ts;
    bool done;

    flush_all(true);
    log_report_drops(true);
    if (!writer_running) {
        return;
    }
    log_control(LOG_OP_STOP, NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += LOG_SHUTDOWN_WAIT_S;
    pthread_mutex_lock(&q_lock);
    while (!writer_done && pthread_cond_timedwait(&done_cond, &q_lock, &ts) == 0) {
    }
    done = writer_done;
    pthread_mutex_unlock(&q_lock);
    if (done) {
        pthread_join(writer_thread, NULL);
        writer_running = false;
    } else {
        wasp_warn("log files: the writer did not finish within %d s; the last lines may be "
                  "lost", LOG_SHUTDOWN_WAIT_S);
    }
}

/* ---- requests ----------------------------------------------------------------- */

/* The request as the listener sent it to the worker (REQ_HEAD, conn_request.c). */
typedef struct log_view {
    uint32_t site_id;
    wasp_logstr_t method, raw, path, query;
    bool has_query;
    int version; /* major * 10 + minor: 10, 11, 20 (conn_request.c) */
    char c_ip[64], s_ip[64];
    uint16_t c_port, s_port;
    wasp_dec_t headers; /* at the header count */
} log_view_t;

static bool log_view(const lsn_request_t *req, log_view_t *v)
{
    wasp_dec_t d;

    wasp_dec_init(&d, wasp_buf_ptr(&req->head.buf), wasp_buf_size(&req->head.buf));
    v->site_id = wasp_dec_u32(&d);
    v->method.p = wasp_dec_str(&d, &v->method.len);
    v->raw.p = wasp_dec_str(&d, &v->raw.len);
    v->path.p = wasp_dec_str(&d, &v->path.len);
    v->has_query = wasp_dec_u8(&d) != 0;
    v->query.p = wasp_dec_str(&d, &v->query.len);
    v->version = wasp_dec_u8(&d);
    wasp_dec_u8(&d); /* is_local */
    wasp_dec_cstr(&d, v->c_ip, sizeof(v->c_ip));
    v->c_port = wasp_dec_u16(&d);
    wasp_dec_cstr(&d, v->s_ip, sizeof(v->s_ip));
    v->s_port = wasp_dec_u16(&d);
    /* TLS details follow; the headers start where conn.c noted. */
    wasp_dec_init(&v->headers, wasp_buf_ptr(&req->head.buf) + req->head_headers_at,
                  wasp_buf_size(&req->head.buf) - req->head_headers_at);
    if (!v->has_query) {
        v->query = (wasp_logstr_t){NULL, 0};
    }
    return !d.error;
}

/* Header names compare case-insensitively; for server variables (HTTP_X_Y)
 * '_' stands for '-'. */
static bool name_eq(const char *a, size_t al, const char *b, size_t bl, bool var)
{
    if (al != bl) {
        return false;
    }
    for (size_t i = 0; i < al; i++) {
        char x = a[i], y = b[i];

        if (var) {
            x = x == '_' ? '-' : x;
            y = y == '_' ? '-' : y;
        }
        if (x != y && ((x | 0x20) != (y | 0x20) || !((x | 0x20) >= 'a' && (x | 0x20) <= 'z'))) {
            return false;
        }
    }
    return true;
}

static wasp_logstr_t log_header(const log_view_t *v, const char *name, size_t len, bool var)
{
    wasp_dec_t d = v->headers;
    uint32_t count = wasp_dec_u32(&d);

    for (uint32_t i = 0; i < count && !d.error; i++) {
        size_t nl, vl;
        const char *n = wasp_dec_str(&d, &nl);
        const char *val = wasp_dec_str(&d, &vl);

        if (!d.error && name_eq(n, nl, name, len, var)) {
            return (wasp_logstr_t){val, vl};
        }
    }
    return (wasp_logstr_t){NULL, 0};
}

static wasp_logstr_t lstr(const char *s)
{
    return (wasp_logstr_t){s, strlen(s)};
}

/* A server variable the listener knows (docs/operations.md lists them);
 * the worker's own (AUTH_USER, APPL_PHYSICAL_PATH, ...) are "-".  Numbers
 * are written into buf. */
static wasp_logstr_t log_server_var(const log_view_t *v, const char *name, char *buf,
                                    size_t size)
{
    if (strncmp(name, "HTTP_", 5) == 0 && strcmp(name, "HTTP_URL") != 0 &&
        strcmp(name, "HTTP_VERSION") != 0) {
        return log_header(v, name + 5, strlen(name + 5), true);
    }
    if (strcmp(name, "REMOTE_ADDR") == 0 || strcmp(name, "REMOTE_HOST") == 0) {
        return lstr(v->c_ip);
    }
    if (strcmp(name, "LOCAL_ADDR") == 0) {
        return lstr(v->s_ip);
    }
    if (strcmp(name, "REMOTE_PORT") == 0 || strcmp(name, "SERVER_PORT") == 0 ||
        strcmp(name, "INSTANCE_ID") == 0) {
        snprintf(buf, size, "%u",
                 name[0] == 'R' ? v->c_port : name[0] == 'S' ? v->s_port : v->site_id);
        return lstr(buf);
    }
    if (strcmp(name, "SERVER_PROTOCOL") == 0 || strcmp(name, "HTTP_VERSION") == 0) {
        if (v->version >= 20) {
            snprintf(buf, size, "HTTP/%d", v->version / 10); /* as IIS reports HTTP/2 */
        } else {
            snprintf(buf, size, "HTTP/%d.%d", v->version / 10, v->version % 10);
        }
        return lstr(buf);
    }
    if (strcmp(name, "SERVER_NAME") == 0) {
        wasp_logstr_t h = log_header(v, "Host", 4, false);
        const char *colon = h.p != NULL ? memchr(h.p, ':', h.len) : NULL;

        if (h.p != NULL && h.len > 0 && h.p[0] == '[') {
            colon = memchr(h.p, ']', h.len);
            colon = colon != NULL && colon + 1 < h.p + h.len ? colon + 1 : NULL;
        }
        return h.p != NULL && h.len > 0
                   ? (wasp_logstr_t){h.p, colon != NULL ? (size_t)(colon - h.p) : h.len}
                   : lstr(v->s_ip);
    }
    if (strcmp(name, "REQUEST_METHOD") == 0) {
        return v->method;
    }
    if (strcmp(name, "URL") == 0 || strcmp(name, "SCRIPT_NAME") == 0) {
        return v->path;
    }
    if (strcmp(name, "QUERY_STRING") == 0) {
        return v->query;
    }
    if (strcmp(name, "HTTP_URL") == 0 || strcmp(name, "UNENCODED_URL") == 0) {
        return v->raw;
    }
    if (strcmp(name, "CONTENT_LENGTH") == 0 || strcmp(name, "CONTENT_TYPE") == 0) {
        return log_header(v, name, strlen(name), true);
    }
    if (strcmp(name, "HTTPS") == 0) {
        return lstr("off");
    }
    if (strcmp(name, "SERVER_PORT_SECURE") == 0) {
        return lstr("0");
    }
    return (wasp_logstr_t){NULL, 0};
}

static const log_sink_t *sink_for(uint32_t site_id)
{
    size_t lo = 0, hi = site_index_count;

    if (central_sink != NULL) {
        return central_sink;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (site_index[mid]->site_id == site_id) {
            return site_index[mid];
        }
        if (site_index[mid]->site_id < site_id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* A response header kept for the log ("name\0value\0" pairs). */
static wasp_logstr_t log_resp_header(const lsn_request_t *req, const char *name)
{
    const char *p = wasp_buf_ptr(&req->log.resp_hdrs);
    const char *end = p + wasp_buf_size(&req->log.resp_hdrs);

    while (p < end) {
        const char *val = p + strlen(p) + 1;

        if (strcasecmp(p, name) == 0) {
            return lstr(val);
        }
        p = val + strlen(val) + 1;
    }
    return (wasp_logstr_t){NULL, 0};
}

void lsn_log_access(const lsn_request_t *req)
{
    const log_sink_t *k = sink_for(req->log.site_id);
    log_view_t v;
    wasp_log_rec_t r;
    char site[32], version[16];
    size_t n = 0;
    struct tm local;

    /* Every finished worker response passes here, logged or not: the one
     * place that knows its verb, bytes and status. */
    lsn_counters_request(req);
    if (k == NULL || req->log.no_log || !log_view(req, &v)) {
        return;
    }
    memset(&r, 0, sizeof(r));
    r.when = time(NULL);
    if (k->kind == LOG_KIND_CENTRAL || k->log_site_id) {
        snprintf(site, sizeof(site), "W3SVC%u", v.site_id);
        r.site_name = lstr(site);
    } else {
        r.site_name = lstr(k->site_name);
    }
    if (req->log.h2_stream != 0) {
        snprintf(version, sizeof(version), "HTTP/2"); /* as IIS writes it */
    } else {
        snprintf(version, sizeof(version), "HTTP/%d.%d", v.version / 10, v.version % 10);
    }
    r.computer = lstr(computer_name);
    r.s_ip = lstr(v.s_ip);
    r.c_ip = lstr(v.c_ip);
    r.s_port = v.s_port;
    r.c_port = v.c_port;
    r.method = v.method;
    r.stem = v.path;
    r.query = v.query;
    r.version = lstr(version);
    /* Headers are looked up only for the columns that show them. */
    if (k->format == WASP_LOG_W3C) {
        r.user_agent = k->flags & WASP_LOGF_USER_AGENT ? log_header(&v, "User-Agent", 10, false)
                                                       : r.user_agent;
        r.cookie = k->flags & WASP_LOGF_COOKIE ? log_header(&v, "Cookie", 6, false) : r.cookie;
        r.referer = k->flags & WASP_LOGF_REFERER ? log_header(&v, "Referer", 7, false)
                                                 : r.referer;
        r.host = k->flags & WASP_LOGF_HOST ? log_header(&v, "Host", 4, false) : r.host;
    }
    r.status = req->log.status;
    r.substatus = req->log.substatus;
    r.win32 = req->log.win32;
    r.sc_bytes = req->log.sc_bytes;
    r.cs_bytes = req->log.cs_bytes;
    r.time_taken_ms = wasp_now_ms() - req->log.start_ms;
    for (size_t i = 0; i < k->custom_count && i < custom_cap; i++) {
        const log_custom_t *c = &k->custom[i];

        switch (c->type) {
        case WASP_LOG_REQUEST_HEADER:
            custom_vals[i] = log_header(&v, c->source, c->source_len, false);
            break;
        case WASP_LOG_RESPONSE_HEADER:
            custom_vals[i] = log_resp_header(req, c->source);
            break;
        case WASP_LOG_SERVER_VARIABLE:
            custom_vals[i] = log_server_var(&v, c->source, custom_bufs[i], sizeof(custom_bufs[i]));
            break;
        }
        r.custom_count = i + 1;
    }
    r.custom = custom_vals;
    switch (k->format) {
    case WASP_LOG_IIS:
        localtime_r(&r.when, &local);
        n = wasp_logfmt_iis(&r, &local, line_buf, sizeof(line_buf));
        break;
    case WASP_LOG_NCSA:
        localtime_r(&r.when, &local);
        n = wasp_logfmt_ncsa(&r, &local, line_buf, sizeof(line_buf));
        break;
    default:
        n = wasp_logfmt_w3c(&r, k->flags, k->max_line, k->max_custom, line_buf,
                            sizeof(line_buf));
        break;
    }
    sink_append((log_sink_t *)k, line_buf, n, r.when);
}

bool lsn_log_wants_response_headers(const lsn_request_t *req)
{
    const log_sink_t *k = sink_for(req->log.site_id);

    return k != NULL && k->resp_headers;
}

void lsn_log_response_header(lsn_request_t *req, const char *name, size_t name_len,
                             const char *value, size_t value_len)
{
    const log_sink_t *k = sink_for(req->log.site_id);

    for (size_t i = 0; k != NULL && i < k->custom_count; i++) {
        const log_custom_t *c = &k->custom[i];

        if (c->type == WASP_LOG_RESPONSE_HEADER &&
            name_eq(c->source, c->source_len, name, name_len, false) &&
            memchr(value, '\0', value_len) == NULL) {
            wasp_buf_append(&req->log.resp_hdrs, c->source, c->source_len + 1);
            wasp_buf_append(&req->log.resp_hdrs, value, value_len);
            wasp_buf_append(&req->log.resp_hdrs, "", 1);
            return;
        }
    }
}

void lsn_log_httperr(const wasp_httperr_rec_t *e)
{
    size_t n = wasp_logfmt_httperr(e, line_buf, sizeof(line_buf));

    wasp_debug("httperr: %.*s", (int)(n > 2 ? n - 2 : 0), line_buf);
    if (httperr_sink != NULL) {
        sink_append(httperr_sink, line_buf, n, e->when);
    }
}

void lsn_log_httperr_request(const lsn_request_t *req, int status, const char *reason)
{
    static char uri[8192];
    wasp_httperr_rec_t e;
    log_view_t v;
    int n;

    if (!log_view(req, &v)) {
        return;
    }
    /* The cooked URL: the decoded path, '?', the query. */
    n = snprintf(uri, sizeof(uri), "%.*s%s%.*s", (int)v.path.len, v.path.p,
                 v.has_query ? "?" : "", (int)v.query.len, v.query.p ? v.query.p : "");
    memset(&e, 0, sizeof(e));
    e.when = time(NULL);
    e.c_ip = v.c_ip;
    e.c_port = v.c_port;
    e.s_ip = v.s_ip;
    e.s_port = v.s_port;
    e.version_major = v.version / 10;
    e.version_minor = v.version % 10;
    e.stream_id = req->log.h2_stream;
    e.method = v.method;
    e.uri = (wasp_logstr_t){uri, n > 0 ? (size_t)n : 0};
    e.status = status;
    e.site_id = v.site_id;
    e.reason = reason;
    e.queue = req->pool != NULL ? req->pool->name : NULL;
    lsn_log_httperr(&e);
}
