"""
Limits and timers of the listener, as HTTP.sys applies IIS' settings
(shared/reference/iis-hosting.md 2.3, 3.1, 4.2, 4.6): IdleConnection (the
server-wide connectionTimeout for a connection's first request, the site's
afterwards), HeaderWait, EntityBody and MinSendRate close silently and write
their Timer_* HTTPERR line; a site's maxConnections answers 503 ConnLimit;
maxBandwidth shapes a response (a lower bound on its transfer time); and
under slowhttptest's slow headers, slow body and slow read (1000
connections each) a normal client still gets its answers within 2 s.
"""
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import test_tls
from harness import RawConn, build_request, get, scaled

POOL = "LimitsPool"
BIG = 30 * 1024 * 1024


def limits_server(make_server, name, site_limits="", web_limits="", http_sys="", files=()):
    s = make_server(name)
    s.pool(POOL)
    port = s.port("main")
    s.site("Limits Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")], site_id=1,
           extra_xml="        <limits %s />" % site_limits if site_limits else "")
    if web_limits:
        s.apphost_xml.append("<webLimits %s />" % web_limits)
    if http_sys:
        s.extra_sections.append("<wasp><httpSys %s /></wasp>" % http_sys)
    s.file("www/hello.txt", "hello\n")
    for rel, content in files:
        s.file(rel, content)
    s.start()
    return s


def silent_close(conn, timeout):
    """The server closed within timeout without sending a byte."""
    return conn.wait_closed(timeout) and conn.buf == b""


def test_timers_close_silently_with_their_httperr_reason(make_server):
    s = limits_server(make_server, "timers", site_limits='connectionTimeout="00:00:01"',
                      web_limits='connectionTimeout="00:00:03" headerWaitTimeout="00:00:02"')
    port = s.port("main")

    # IdleConnection of a first request: the server-wide 3 s, not the site's
    # 1 s (the site is unknown before the headers).
    idle = RawConn(port)
    assert idle.is_open(wait=1.8), "closed before webLimits/@connectionTimeout"
    assert silent_close(idle, scaled(10))
    s.wait_httperr(r" - - - - - - Timer_ConnectionIdle -\r$")

    # Later requests on a keep-alive connection: the site's 1 s.
    ka = RawConn(port)
    assert ka.request("GET", "/hello.txt").status == 200
    assert silent_close(ka, scaled(10))

    # HeaderWait from the first byte: bytes that keep trickling in do not
    # extend it.
    slow = RawConn(port)
    started = time.monotonic()
    closed = False
    for part in [b"GET /hello.txt HTTP/1.1\r\n", b"Host: a\r\n"] + [b"X-A: b\r\n"] * 40:
        try:
            slow.send(part)
        except OSError:
            closed = True
            break
        if not slow.is_open(wait=0.25):
            closed = True
            break
    assert closed, "headers trickling for %.1f s were not cut" % (time.monotonic() - started)
    assert slow.buf == b"", "a timer answers nothing: %r" % slow.buf[:200]
    assert time.monotonic() - started >= 1.9, "HeaderWait fired before headerWaitTimeout"
    s.wait_httperr(r"Timer_HeaderWait")

    # EntityBody: the body stops arriving (site connectionTimeout).
    body = RawConn(port)
    body.send(b"POST /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
    assert silent_close(body, scaled(10))
    line = s.wait_httperr(r"^.* POST /hello\.txt - - 1 Timer_EntityBody LimitsPool\r$").group(0)
    assert " HTTP/1.1 " in line, line


def test_site_max_connections_answers_503_connlimit(make_server):
    s = limits_server(make_server, "connlimit", site_limits='maxConnections="2"')
    port = s.port("main")
    held = [RawConn(port), RawConn(port)]
    for c in held:
        assert c.request("GET", "/hello.txt").status == 200
    third = RawConn(port)
    r = third.request("GET", "/hello.txt")
    assert r.status == 503, r
    assert b"Service Unavailable" in r.body
    assert r.header("Connection") == "close"
    # As the KB's sample line: "... GET /qos/1kbfile.txt 503 - ConnLimit".
    s.wait_httperr(r" GET /hello\.txt - 503 - ConnLimit -\r$")
    # A connection that leaves frees its place.
    held[0].close()
    deadline = time.monotonic() + scaled(5)
    while True:
        r = get(port, "/hello.txt")
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status == 200, r
    assert held[1].request("GET", "/hello.txt").status == 200


def test_max_bandwidth_shapes_a_site_response(make_server):
    rate, size = 100000, 400000
    s = limits_server(make_server, "bandwidth", site_limits='maxBandwidth="%d"' % rate,
                      files=[("www/big.bin", "b" * size)])
    started = time.monotonic()
    r = get(s.port("main"), "/big.bin", timeout=scaled(30))
    elapsed = time.monotonic() - started
    assert r.status == 200 and len(r.body) == size
    # At most a quarter second of the rate can leave in a burst: the rest
    # takes at least (size - rate/4) / rate seconds.
    assert elapsed >= (size - rate / 4) / rate, "%d bytes in %.2f s at %d B/s" % (
        size, elapsed, rate)


def read_until_closed(sock):
    """What the server still sends until it closes (or resets); then closed."""
    sock.settimeout(scaled(10))
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            yield chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()


def test_min_bytes_per_second_drops_a_slow_reader(make_server):
    s = limits_server(make_server, "minrate", web_limits='minBytesPerSecond="10000000"',
                      files=[("www/big.bin", "m" * BIG)])
    port = s.port("main")
    # A reader that keeps up gets everything.
    r = get(port, "/big.bin", timeout=scaled(60))
    assert r.status == 200 and len(r.body) == BIG
    # One that reads nothing: HTTP.sys allows the time the response takes at
    # the minimum rate (3 s here), then the connection ends.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(build_request("GET", "/big.bin"))
    s.wait_httperr(r" GET /big\.bin - - 1 Timer_MinBytesPerSecond LimitsPool\r$", scaled(30))
    got = sum(len(chunk) for chunk in read_until_closed(sock))
    assert got < BIG, "the slow reader was not dropped"


def test_min_bytes_per_second_drops_a_slow_h2_reader(make_server):
    """On h2 the rate is the connection's: a client that keeps its
    flow-control window shut (or stops reading) is dropped as an HTTP/1.1
    one is, each open stream with a Timer_MinBytesPerSecond line."""
    import h2.config
    import h2.connection
    import h2.events

    s = limits_server(make_server, "minrate_h2", web_limits='minBytesPerSecond="10000000"',
                      files=[("www/big.bin", "m" * BIG)])
    port = s.port("main")

    def client():
        sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":path", "/big.bin"), (":scheme", "http"),
                                (":authority", "localhost")], end_stream=True)
        sock.sendall(conn.data_to_send())
        return sock, conn, sid

    # A reader that keeps up (acknowledging every DATA frame) gets it all.
    sock, conn, sid = client()
    got, ended = 0, False
    while not ended:
        data = sock.recv(1 << 20)
        assert data, "closed after %d bytes" % got
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                got += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            ended = ended or isinstance(ev, h2.events.StreamEnded)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    assert got == BIG
    sock.close()

    # One that reads but never opens its window again: 64 KiB arrive, then
    # the rest waits for a WINDOW_UPDATE that never comes.
    sock, conn, sid = client()
    s.wait_httperr(r" HTTP/2\.0 GET /big\.bin 1 - 1 Timer_MinBytesPerSecond LimitsPool\r$",
                   scaled(30))
    got = 0
    try:
        for data in read_until_closed(sock):
            got += sum(len(ev.data) for ev in conn.receive_data(data)
                       if isinstance(ev, h2.events.DataReceived))
    except h2.exceptions.ProtocolError:
        pass
    assert got <= 65535, "%d bytes past the initial window" % got

    # And the server still answers.
    assert get(port, "/hello.txt").status == 200


def _normal_client(port, stop, times, errors):
    while not stop.is_set():
        started = time.monotonic()
        try:
            r = get(port, "/hello.txt", timeout=10)
            if r.status != 200:
                errors.append("status %d" % r.status)
        except OSError as e:
            errors.append(repr(e))
        times.append(time.monotonic() - started)
        time.sleep(0.2)


def test_slowhttptest_does_not_starve_a_normal_client(make_server):
    s = limits_server(make_server, "slowhttp", files=[("www/page.html", "p" * 20000)])
    port = s.port("main")
    url = "http://127.0.0.1:%d/page.html" % port
    common = ["-c", "1000", "-r", "500", "-l", "15", "-p", "3", "-u", url]
    modes = {
        "slow headers": ["-H", "-i", "5", "-x", "24"],
        "slow body": ["-B", "-i", "5", "-s", "100000", "-x", "24"],
        "slow read": ["-X", "-w", "16", "-y", "32", "-n", "5", "-z", "16", "-k", "3"],
    }
    report = []
    for mode, args in modes.items():
        stop, times, errors = threading.Event(), [], []
        client = threading.Thread(target=_normal_client, args=(port, stop, times, errors))
        attack = subprocess.Popen(["slowhttptest"] + args + common, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        time.sleep(2)  # the connections are open
        client.start()
        try:
            out, _ = attack.communicate(timeout=60)
        finally:
            if attack.poll() is None:
                attack.kill()
                attack.wait()
            stop.set()
            client.join(15)
        text = re.sub(r"\x1b\[[0-9;]*m", "", out.decode("utf-8", "replace"))
        connected = max([int(n) for n in re.findall(r"connected:\s+(\d+)", text)] or [0])
        report.append("%s: %d requests, slowest %.3f s, at most %d attack connections open" % (
            mode, len(times), max(times) if times else -1, connected))
        # The load was real: (nearly) all 1000 connections were open at once.
        assert connected >= 900, (mode, text[-1500:])
        assert not errors, (mode, errors[:5])
        assert len(times) >= 20, (mode, len(times))
        assert max(times) < 2.0, report
        assert get(port, "/hello.txt").status == 200
    print("\n".join(report))


def test_httpsys_max_connections_closes_the_excess_at_accept(make_server):
    s = limits_server(make_server, "maxconns", http_sys='MaxConnections="1024"')
    port = s.port("main")
    held = []
    try:
        for _ in range(1024):
            held.append(RawConn(port))
        # Every held connection is with the listener (served, not refused).
        assert held[-1].request("GET", "/hello.txt").status == 200
        extra = RawConn(port)
        assert silent_close(extra, scaled(10)), "connection 1025 was served"
        held.pop(0).close()
        deadline = time.monotonic() + scaled(5)
        while True:
            c = RawConn(port)
            try:
                r = c.request("GET", "/hello.txt")
                break
            except OSError:
                assert time.monotonic() < deadline, "no place freed"
                time.sleep(0.1)
            finally:
                c.close()
        assert r.status == 200
    finally:
        for c in held:
            c.close()


def test_tls_handshake_that_never_finishes_is_bounded(make_server):
    s = make_server("tlsidle")
    store = s.path("certs")
    os.makedirs(os.path.join(store, "My"))
    thumb = test_tls.make_cert(os.path.join(store, "My", "a.pem"), "localhost",
                               test_tls.make_ca(store))
    port, http_port = s.port("main"), s.port("http")
    s.pool(POOL)
    s.site("TLS Idle", [("https", "127.0.0.1:%d:" % port), "127.0.0.1:%d:" % http_port],
           [("/", POOL, "www")])
    s.apphost_xml.append('<webLimits connectionTimeout="00:00:02" />')
    s.file("www/hello.txt", "hello\n")
    s.extra_args += ["--cert-store", store]
    r = subprocess.run([os.path.join(s.build, "waspctl"), "--cert-store", store, "--runtime-dir",
                        "/nonexistent", "add", "sslcert", "ipport=0.0.0.0:%d" % port,
                        "certhash=" + thumb, "certstorename=My"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0, r.stdout
    s.start(wait_ports=[http_port])
    # A client that connects and never sends its ClientHello, and one that
    # stops half-way (a ClientHello record header, no body).
    silent = RawConn(port)
    half = RawConn(port)
    half.send(b"\x16\x03\x01\x02\x00")
    assert silent.is_open(wait=1.5), "closed before webLimits/@connectionTimeout"
    assert silent_close(silent, scaled(10))
    assert silent_close(half, scaled(10))
    # The binding still serves a real handshake.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            t.sendall(build_request("GET", "/hello.txt"))
            assert t.recv(100).startswith(b"HTTP/1.1 200")
    s.wait_httperr(r" - - - - - - Timer_ConnectionIdle -\r$")


def test_non_utf8_urls_follow_enable_non_utf8_and_favor_utf8(make_server):
    """EnableNonUTF8 / FavorUTF8 (iis-hosting.md 4.1): a Latin-1 escape such
    as %E9 is read as Windows-1252 and finds the UTF-8 file name on disk;
    with EnableNonUTF8="0" the same URL is 400 Invalid URL (HTTPERR URL)."""
    files = (("www/caf\u00e9.txt", "latte\n"),)
    s = limits_server(make_server, "nonutf8", files=files)
    port = s.port("main")
    for url in ("/caf%C3%A9.txt", "/caf%E9.txt"):
        r = get(port, url)
        assert r.status == 200 and r.body == b"latte\n", (url, r)

    strict = limits_server(make_server, "utf8only", http_sys='EnableNonUTF8="0"', files=files)
    sport = strict.port("main")
    assert get(sport, "/caf%C3%A9.txt").status == 200
    r = get(sport, "/caf%E9.txt")
    assert r.status == 400 and b"Invalid URL" in r.body, r
    strict.wait_httperr(r"/caf%E9\.txt .*400 - URL")

    # FavorUTF8="0": the code page first, so the UTF-8 spelling means
    # "caf\u00c3\u00a9.txt", which does not exist.
    cp = limits_server(make_server, "cpfirst", http_sys='FavorUTF8="0"', files=files)
    cport = cp.port("main")
    assert get(cport, "/caf%E9.txt").status == 200
    assert get(cport, "/caf%C3%A9.txt").status == 404


def test_max_bandwidth_shapes_an_https_response(make_server):
    """maxBandwidth paces TLS connections too (plaintext bytes counted)."""
    rate, size = 100000, 400000
    s = make_server("bandwidth-tls")
    store = s.path("certs")
    os.makedirs(os.path.join(store, "My"))
    thumb = test_tls.make_cert(os.path.join(store, "My", "a.pem"), "localhost",
                               test_tls.make_ca(store))
    port, http_port = s.port("main"), s.port("http")
    s.pool(POOL)
    s.site("TLS Bandwidth", [("https", "127.0.0.1:%d:" % port), "127.0.0.1:%d:" % http_port],
           [("/", POOL, "www")], extra_xml='        <limits maxBandwidth="%d" />' % rate)
    body = os.urandom(size)
    s.file("www/big.bin", body)
    s.extra_args += ["--cert-store", store]
    r = subprocess.run([os.path.join(s.build, "waspctl"), "--cert-store", store, "--runtime-dir",
                        "/nonexistent", "add", "sslcert", "ipport=0.0.0.0:%d" % port,
                        "certhash=" + thumb, "certstorename=My"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0, r.stdout
    s.start(wait_ports=[http_port])
    ctx = test_tls.client_ctx()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(30)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            t.sendall(build_request("GET", "/big.bin", headers=[("Connection", "close")]))
            data = b""
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    break
                data += chunk
    elapsed = time.monotonic() - started
    head, _, got = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and got == body
    assert elapsed >= (size - rate / 4) / rate, "%d bytes in %.2f s at %d B/s over TLS" % (
        size, elapsed, rate)
