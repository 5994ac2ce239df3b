"""No descriptor leaks: after a mixed burst of traffic (files sent by
descriptor, refusals, errors, aborted clients, streamed and large bodies),
the listener and the worker hold exactly the descriptors they held before."""
import os
import socket
import time

import harness
from harness import RawConn, build_request, get, scaled


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_no_descriptor_growth(make_server):
    s = make_server("fds")
    port = s.port("main")
    s.pool("FdPool")
    s.site("Fd Site", ["127.0.0.1:%d:" % port], [("/", "FdPool", "www")])
    s.file("www/small.txt", "small\n")
    s.file("www/big.bin", os.urandom(300 * 1024))
    s.start()
    assert get(port, "/small.txt").status == 200
    harness.send_raw(port, b"GET / HTTP/1.1\r\n\r\n")  # an HTTPERR line too
    listener = s.listener_pid()
    worker = s.worker_pids()[0]
    # The log writer opens the access and HTTPERR files at its first flush
    # (within a second): those two descriptors belong to the baseline.
    log = s.log_dir("LogFiles", "W3SVC1")
    harness.wait_until(lambda: os.path.isdir(log) and os.listdir(log) and s.httperr_text(),
                       scaled(5), what="the access and HTTPERR log files")
    time.sleep(scaled(0.3))
    before = (fd_count(listener), fd_count(worker))
    for i in range(20):
        assert get(port, "/small.txt").status == 200
        assert get(port, "/big.bin").status == 200
        assert get(port, "/missing.txt").status == 404
        assert get(port, "/big.bin", headers={"Range": "bytes=0-9,100-199"}).status == 206
        assert get(port, "/x.wtest?op=stream&n=3").status == 200
        assert get(port, "/x.wtest?op=big&kb=2000").status == 200
        harness.send_raw(port, b"GET / HTTP/1.1\r\n\r\n")          # refused: no Host
        # A client that leaves in the middle of a file and of a slow answer.
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(build_request("GET", "/big.bin"))
        c.recv(100)
        c.close()
        with RawConn(port) as c2:
            c2.send(build_request("GET", "/x.wtest?op=sleep&ms=50"))
    time.sleep(scaled(0.5))
    after = None
    deadline = time.monotonic() + scaled(5)
    while time.monotonic() < deadline:
        after = (fd_count(listener), fd_count(worker))
        if after == before:
            break
        time.sleep(0.1)
    assert after == before, "descriptors (listener, worker) before %r, after %r" % (before, after)
