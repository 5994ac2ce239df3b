"""The listener does not trust what a worker sends: workers run application
code.  A hand-written 'worker' speaks the channel protocol on a pool's socket
(as the pool's user, the only one let in) and misbehaves:
- a reason phrase and a header value with CR LF (response splitting) and a
  header name that is not a token never reach the client;
- a response ended without a head is answered 502 to its client;
- a frame of unknown type costs the rogue its channel, and the request it had
  not started goes to a real worker started on demand."""
import os
import pwd
import socket
import struct
import time

from harness import get, scaled

POOL = "RoguePool"


def frame(ftype, stream, payload=b"", flags=0):
    return struct.pack("<HHII", ftype, flags, stream, len(payload)) + payload


def s32(b):
    return struct.pack("<I", len(b)) + b


def rogue(sock_path, report_fd):
    """Runs in a forked child as the pool's user."""
    out = b"error"
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(scaled(10))
        s.connect(sock_path)
        s.send(frame(1, 0, struct.pack("<I", os.getpid()) + s32(POOL.encode())))  # HELLO
        s.send(frame(2, 0, struct.pack("<I", 4)))                                  # CREDIT
        os.write(report_fd, b"connected\n")
        # 1st request: answer with poisoned reason and headers.
        hdr = s.recv(70000)
        stream = struct.unpack("<HHII", hdr[:12])[2]
        s.send(frame(3, 0, struct.pack("<I", stream)))                             # STARTED
        body = b"rogue\n"
        head = (struct.pack("<H", 200) + s32(b"OK\r\nX-Injected: 1")
                + struct.pack("<HIB", 0, 0, 0)                    # substatus, win32, log flags
                + struct.pack("<BQ", 1, len(body))
                + struct.pack("<I", 3)
                + s32(b"X-Evil") + s32(b"a\r\nInjected: b")
                + s32(b"Bad Name") + s32(b"v")
                + s32(b"X-Good") + s32(b"fine"))
        s.send(frame(4, stream, head + body, flags=1))                             # RESP_HEAD|END
        # 2nd request: started, then ended without any head.
        hdr = s.recv(70000)
        stream = struct.unpack("<HHII", hdr[:12])[2]
        s.send(frame(3, 0, struct.pack("<I", stream)))                             # STARTED
        s.send(frame(7, stream))                                                   # RESP_END
        # 3rd request: never started, answered with garbage.
        hdr = s.recv(70000)
        s.send(frame(99, 0, b"junk"))
        time.sleep(0.5)
        out = b"done"
    except BaseException as e:  # noqa: B902
        out = ("error:%r" % e).encode()
    os.write(report_fd, out + b"\n")


def test_rogue_worker_cannot_split_responses(make_server):
    s = make_server("rogue")
    port = s.port("main")
    s.pool(POOL)
    s.site("Rogue Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/hello.txt", "hello\n")
    s.start()
    sock_path = os.path.join(s.rundir, "pools", POOL + ".sock")
    r_fd, w_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r_fd)
            if os.geteuid() == 0:
                pw = pwd.getpwnam("wasp-pool-" + POOL.lower())
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
            rogue(sock_path, w_fd)
        finally:
            os._exit(0)
    os.close(w_fd)
    reader = os.fdopen(r_fd, "rb")
    try:
        assert reader.readline().strip() == b"connected"
        time.sleep(0.2)
        r = get(port, "/hello.txt")
        assert r.status == 200, r
        assert r.status_line == "HTTP/1.1 200 ", r.status_line     # reason with CR LF dropped
        names = [n.lower() for n, _ in r.headers]
        assert "x-good" in names
        assert "x-evil" not in names and "injected" not in names and "x-injected" not in names
        assert "bad name" not in names
        assert r.body == b"rogue\n"
        # A response ended without a head: the client gets 502, not a hang.
        r_end = get(port, "/hello.txt", timeout=scaled(10))
        assert r_end.status == 502, r_end
        # The rogue breaks the protocol on the next request: it loses its
        # channel, and the request (never started) is served by a real worker.
        r2 = get(port, "/hello.txt", timeout=scaled(10))
        assert r2.status == 200 and r2.body == b"hello\n", r2
        assert reader.readline().strip() == b"done"
        s.wait_log(r"unknown frame type 99 from worker", timeout=scaled(5))
        s.wait_log(r"dropped a malformed response header", timeout=scaled(5))
    finally:
        reader.close()
        os.waitpid(pid, 0)
