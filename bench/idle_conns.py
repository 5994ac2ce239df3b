#!/usr/bin/python3
"""Hold N idle keep-alive connections to a server, for bench/run.sh.

    idle_conns.py PORT N PATH

Opens N connections to 127.0.0.1:PORT, sends one GET PATH on each, reads
each answer to its end (Content-Length) and leaves the connection open:
exactly what a browser does with a keep-alive connection between pages.
Prints "ready N" once every connection has had its answer, then waits
until stdin closes (the caller measures the server's memory meanwhile),
and closes everything.  Exit 1 if a connection fails or an answer is not
200 (the caller reports it).  Bounded: 60 s to set everything up.
"""
import re
import resource
import selectors
import socket
import sys
import time

BATCH = 256  # connections in flight at once: stays within listen backlogs


def main():
    port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 64), hard))
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port)).encode()
    sel = selectors.DefaultSelector()
    done = []
    pending = {}
    opened = 0
    deadline = time.monotonic() + 60
    while len(done) < count:
        if time.monotonic() > deadline:
            sys.exit("idle_conns: only %d of %d connections ready after 60 s" % (len(done), count))
        while opened < count and len(pending) < BATCH:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            pending[s] = [b"", False]
            sel.register(s, selectors.EVENT_WRITE)
            opened += 1
        for key, events in sel.select(timeout=1):
            s = key.fileobj
            st = pending[s]
            if events & selectors.EVENT_WRITE and not st[1]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    sys.exit("idle_conns: connect failed: %s" % err)
                s.send(request)
                st[1] = True
                sel.modify(s, selectors.EVENT_READ)
                continue
            data = s.recv(65536)
            if not data:
                sys.exit("idle_conns: the server closed a connection before answering")
            st[0] += data
            head, sep, body = st[0].partition(b"\r\n\r\n")
            if not sep:
                continue
            if not head.startswith(b"HTTP/1.1 200"):
                sys.exit("idle_conns: answer %r" % head[:60])
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
            if m is None or len(body) < int(m.group(1)):
                continue
            sel.unregister(s)
            del pending[s]
            done.append(s)
    print("ready %d" % len(done), flush=True)
    sys.stdin.read()
    for s in done:
        s.close()


if __name__ == "__main__":
    main()
