/*
 * The channel between processes (src/common/channel.c), over a real
 * SOCK_SEQPACKET socketpair and the real event loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/channel.h"
#include "common/loop.h"

typedef struct seen {
    wasp_loop_t *loop;
    int frames;
    uint32_t streams[8];
    bool closed;
} seen_t;

static void on_msg(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr, const char *payload, int fd,
                   void *data)
{
    seen_t *s = data;

    if (fd >= 0) {
        close(fd);
    }
    if (s->frames < 8) {
        s->streams[s->frames] = hdr->stream;
    }
    s->frames++;
}

static void on_close(wasp_channel_t *ch, void *data)
{
    seen_t *s = data;

    s->closed = true;
    wasp_loop_stop(s->loop);
}

static void send_raw(int fd, uint16_t type, uint32_t stream)
{
    wasp_frame_hdr_t hdr = {.type = type, .flags = 0, .stream = stream, .length = 3};
    char buf[sizeof(hdr) + 3];

    memcpy(buf, &hdr, sizeof(hdr));
    memcpy(buf + sizeof(hdr), "abc", 3);
    assert_int_equal(send(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
}

static void give_up(wasp_loop_t *loop, void *data)
{
    wasp_loop_stop(loop);
}

/* A peer that sends its last frames and exits with frames of ours unread
 * (a stopping worker): the kernel reports ECONNRESET first, but the frames
 * the peer sent are still there and must all be delivered before the
 * close.  (Losing them turned finished responses into 502s.) */
static void test_peer_closing_with_unread_input_keeps_its_frames(void **state)
{
    int sv[2];
    seen_t s = {0};
    wasp_channel_t *ch;

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    s.loop = wasp_loop_new();
    assert_non_null(s.loop);
    ch = wasp_channel_new(s.loop, sv[0], on_msg, on_close, &s);
    assert_non_null(ch);
    /* ours, never read by the peer */
    assert_int_equal(wasp_channel_send(ch, WASP_MSG_REQ_HEAD, 0, 7, "xyz", 3, -1), 0);
    /* the peer's last words, then it is gone */
    send_raw(sv[1], WASP_MSG_RESP_END, 1);
    send_raw(sv[1], WASP_MSG_RESP_END, 2);
    send_raw(sv[1], WASP_MSG_DRAIN, 0);
    close(sv[1]);
    wasp_loop_timer(s.loop, 2000, give_up, NULL);
    wasp_loop_run(s.loop);
    assert_int_equal(s.frames, 3);
    assert_int_equal(s.streams[0], 1);
    assert_int_equal(s.streams[1], 2);
    assert_true(s.closed);
    wasp_channel_free(ch);
    wasp_loop_free(s.loop);
}

static void stop_soon(wasp_loop_t *loop, void *data)
{
    wasp_loop_stop(loop);
}

/* Frames sent in one loop iteration leave as ONE record, in order; a frame
 * with a descriptor is a record of its own, after what came before it. */
static void test_frames_of_one_iteration_share_a_record(void **state)
{
    int sv[2], pipefd[2];
    seen_t s = {0};
    wasp_channel_t *ch;
    char buf[WASP_CH_MAX_FRAME];
    wasp_frame_hdr_t hdr;
    ssize_t n;

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(pipe(pipefd), 0);
    s.loop = wasp_loop_new();
    ch = wasp_channel_new(s.loop, sv[0], on_msg, on_close, &s);
    assert_non_null(ch);
    for (uint32_t i = 1; i <= 3; i++) {
        assert_int_equal(wasp_channel_send(ch, WASP_MSG_RESP_END, 0, i, "ab", 2, -1), 0);
    }
    assert_int_equal(wasp_channel_send(ch, WASP_MSG_RESP_FILE, 0, 4, "f", 1, pipefd[0]), 0);
    assert_int_equal(wasp_channel_send(ch, WASP_MSG_RESP_END, 0, 5, NULL, 0, -1), 0);
    /* Nothing gathered has left yet except what the fd frame forced out. */
    wasp_loop_timer(s.loop, 0, stop_soon, NULL);
    wasp_loop_run(s.loop);

    n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    assert_int_equal(n, 3 * (ssize_t)(sizeof(hdr) + 2));
    for (int i = 0; i < 3; i++) {
        memcpy(&hdr, buf + i * (sizeof(hdr) + 2), sizeof(hdr));
        assert_int_equal(hdr.stream, (uint32_t)i + 1);
        assert_int_equal(hdr.length, 2);
    }
    n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    assert_int_equal(n, (ssize_t)sizeof(hdr) + 1);
    memcpy(&hdr, buf, sizeof(hdr));
    assert_int_equal(hdr.stream, 4);
    n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    assert_int_equal(n, (ssize_t)sizeof(hdr));
    memcpy(&hdr, buf, sizeof(hdr));
    assert_int_equal(hdr.stream, 5);
    assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);

    wasp_channel_free(ch);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);
    wasp_loop_free(s.loop);
}

/* The receiving side walks every frame of a record; a record whose frames
 * do not add up is refused and the channel closed. */
static void test_record_of_several_frames_is_delivered_in_order(void **state)
{
    int sv[2];
    seen_t s = {0};
    wasp_channel_t *ch;
    char rec[3 * (sizeof(wasp_frame_hdr_t) + 1)];
    wasp_frame_hdr_t hdr = {.type = WASP_MSG_RESP_END, .length = 1};

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    s.loop = wasp_loop_new();
    ch = wasp_channel_new(s.loop, sv[0], on_msg, on_close, &s);
    for (uint32_t i = 0; i < 3; i++) {
        hdr.stream = 10 + i;
        memcpy(rec + i * (sizeof(hdr) + 1), &hdr, sizeof(hdr));
        rec[i * (sizeof(hdr) + 1) + sizeof(hdr)] = 'x';
    }
    assert_int_equal(send(sv[1], rec, sizeof(rec), 0), (ssize_t)sizeof(rec));
    /* then a record whose last frame claims more bytes than it has */
    hdr.length = 50;
    memcpy(rec + sizeof(hdr) + 1, &hdr, sizeof(hdr));
    assert_int_equal(send(sv[1], rec, 2 * (sizeof(hdr) + 1), 0), 2 * (ssize_t)(sizeof(hdr) + 1));
    wasp_loop_timer(s.loop, 2000, give_up, NULL);
    wasp_loop_run(s.loop);
    assert_int_equal(s.frames, 4); /* 3, then the good first frame of the bad record */
    assert_int_equal(s.streams[0], 10);
    assert_int_equal(s.streams[1], 11);
    assert_int_equal(s.streams[2], 12);
    assert_true(s.closed);
    wasp_channel_free(ch);
    close(sv[1]);
    wasp_loop_free(s.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_closing_with_unread_input_keeps_its_frames),
        cmocka_unit_test(test_frames_of_one_iteration_share_a_record),
        cmocka_unit_test(test_record_of_several_frames_is_delivered_in_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
