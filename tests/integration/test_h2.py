"""
HTTP/2 in the listener, with real clients: curl and nghttp over TLS (ALPN
h2), h2c by prior knowledge and by Upgrade, h2load with many concurrent
streams, a 20 MiB response and a 20 MiB upload (digests compared), flow
control with a slow reader (listener memory stays bounded), and the hostile
shapes with python3-h2 and raw frames: streams over the concurrency limit
(REFUSED_STREAM), a rapid-reset flood (GOAWAY ENHANCE_YOUR_CALM, HTTPERR
line, other clients unaffected), oversized header lists and an HPACK bomb
(HTTP.sys' 400, bounded memory), a CONTINUATION flood, garbage after the
preface (GOAWAY PROTOCOL_ERROR).  A binding with sslFlags 4 negotiates
http/1.1 only; access log lines say HTTP/2.
"""
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from hyperframe.frame import ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, SettingsFrame

import harness
from harness import get, scaled
from test_request_body import SHA_PL  # prints len=, got=, extra=, sha=
from test_tls import make_ca, make_cert

POOL = "H2Pool"
SITE = "H2 Site"
BIG = 20 * 1024 * 1024
PERL = "/usr/bin/perl"

ENHANCE_YOUR_CALM = 11
PROTOCOL_ERROR = 1
REFUSED_STREAM = 7


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("h2")
    store = s.path("certs")
    os.makedirs(os.path.join(store, "My"))
    ca = make_ca(store)
    thumb = make_cert(os.path.join(store, "My", "localhost.pem"), "localhost", ca)
    tls_port, noh2_port, port = s.port("tls"), s.port("noh2"), s.port("main")
    s.pool(POOL)
    s.site(SITE, [("https", "127.0.0.1:%d:" % tls_port), ("https", "127.0.0.1:%d:" % noh2_port, 4),
                  "127.0.0.1:%d:" % port], [("/", POOL, "www")],
           extra_xml='<logFile logExtFileFlags="Date, Time, UriStem, UriQuery, HttpStatus, '
                     'ProtocolVersion, BytesSent" />')
    s.file("www/hello.txt", "hello over h2\n")
    s.big = os.urandom(BIG)
    s.file("www/big.bin", s.big)
    s.file("www/x.wtest", "")
    s.file("www/sha.pl", SHA_PL)
    s.file("www/proto.pl", 'print "Content-Type: text/plain\\r\\n\\r\\n$ENV{SERVER_PROTOCOL}\\n";\n')
    s.extra_modules = ["CgiModule"]
    s.handlers_xml = ['<add name="CGI-pl" path="*.pl" verb="*" modules="CgiModule" '
                      'scriptProcessor="%s" resourceType="File" requireAccess="Script" />' % PERL]
    s.webserver_xml.append('<security><isapiCgiRestriction notListedCgisAllowed="false">'
                           '<add path="%s" allowed="true" /></isapiCgiRestriction>'
                           '<requestFiltering><requestLimits maxAllowedContentLength="60000000" />'
                           '</requestFiltering></security>' % PERL)
    s.extra_args += ["--cert-store", store]
    for p in (tls_port, noh2_port):
        r = subprocess.run([os.path.join(s.build, "waspctl"), "--cert-store", store,
                            "--runtime-dir", "/nonexistent", "add", "sslcert",
                            "ipport=0.0.0.0:%d" % p, "certhash=" + thumb, "certstorename=My"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert r.returncode == 0, r.stdout
    s.start(wait_ports=[port])
    yield s
    s.stop()


def run(*args, timeout=60, inp=None):
    r = subprocess.run(list(args), input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=scaled(timeout))
    return r


def curl(*args, timeout=60, inp=None):
    """curl's body and its %{http_version} / %{http_code} (last line)."""
    r = run("curl", "-sS", "-k", "-w", "\n%{http_version} %{http_code}", *args,
            timeout=timeout, inp=inp)
    assert r.returncode == 0, r.stderr.decode()
    body, _, tail = r.stdout.rpartition(b"\n")
    version, code = tail.decode().split()
    return body, version, int(code), r.stderr.decode()


def listener_rss(server):
    with open("/proc/%d/status" % server.listener_pid()) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# ---- raw HTTP/2 with python3-h2 ---------------------------------------------------

class H2Client:
    """A python3-h2 connection on a plain socket (h2c, prior knowledge)."""

    def __init__(self, port, settings=None, validate=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path, headers=(), end=True):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                     (":authority", "localhost")] + list(headers),
                               end_stream=end)
        return sid

    def events(self, timeout=None):
        """Events until the socket has nothing more for now (or is closed)."""
        self.sock.settimeout(timeout or scaled(10))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return None
        if not data:
            return None
        ev = self.conn.receive_data(data)
        self.flush()
        return ev

    def close(self):
        self.sock.close()


def collect(client, until, timeout=30):
    """Events until until(events) is true."""
    got = []
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        ev = client.events()
        if ev is None:
            break
        got.extend(ev)
        if until(got):
            break
    return got


def raw_frames(sock, timeout=10):
    """Every frame the server sends until it closes (or goes quiet)."""
    buf = b""
    sock.settimeout(scaled(timeout))
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            buf += d
    except (socket.timeout, ConnectionResetError):
        pass
    frames = []
    while len(buf) >= 9:
        f, length = Frame.parse_frame_header(memoryview(buf[:9]))
        if len(buf) < 9 + length:
            break
        f.parse_body(memoryview(buf[9:9 + length]))
        frames.append(f)
        buf = buf[9 + length:]
    return frames


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


# ---- clients ----------------------------------------------------------------------

def test_h2_over_tls_by_alpn_with_curl_and_nghttp(server):
    body, version, code, _ = curl("--http2", "https://127.0.0.1:%d/hello.txt" % server.ports["tls"])
    assert (version, code, body) == ("2", 200, b"hello over h2\n")
    r = run("nghttp", "-v", "https://127.0.0.1:%d/hello.txt" % server.ports["tls"])
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert "The negotiated protocol: h2" in out
    assert ":status: 200" in out and "hello over h2" in out


def test_alpn_prefers_h2_and_sslflags_4_disables_it(server):
    for key, want in (("tls", "h2"), ("noh2", "http/1.1")):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.ports[key])),
                             server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == want, key
    # The sslFlags-4 binding still serves HTTP/1.1 to an h2-capable client.
    body, version, code, _ = curl("--http2", "https://127.0.0.1:%d/hello.txt" % server.ports["noh2"])
    assert (version, code, body) == ("1.1", 200, b"hello over h2\n")


def test_h2c_prior_knowledge_and_upgrade(server):
    url = "http://127.0.0.1:%d/hello.txt" % server.ports["main"]
    body, version, code, _ = curl("--http2-prior-knowledge", url)
    assert (version, code, body) == ("2", 200, b"hello over h2\n")
    body, version, code, err = curl("-v", "--http2", url)
    assert (version, code, body) == ("2", 200, b"hello over h2\n")
    assert "101 Switching Protocols" in err
    # Plain HTTP/1.1 is untouched beside it.
    assert get(server.ports["main"], "/hello.txt").body == b"hello over h2\n"


def test_h2load_many_concurrent_streams_through_the_worker(server):
    for url in ("https://127.0.0.1:%d/x.wtest?op=echo" % server.ports["tls"],
                "http://127.0.0.1:%d/x.wtest?op=echo" % server.ports["main"]):
        r = run("h2load", "-n", "2000", "-c", "4", "-m", "50", url, timeout=120)
        out = r.stdout.decode()
        assert r.returncode == 0, out + r.stderr.decode()
        assert re.search(r"requests: 2000 total, 2000 started, 2000 done, 2000 succeeded", out), out
        assert re.search(r"status codes: 2000 2xx", out), out


def test_large_response_and_upload(server):
    body, version, code, _ = curl("--http2", "https://127.0.0.1:%d/big.bin" % server.ports["tls"],
                                  timeout=120)
    assert (version, code) == ("2", 200)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(server.big).hexdigest()
    up = os.urandom(BIG)
    body, version, code, _ = curl("--http2", "--data-binary", "@-", "-H",
                                  "Content-Type: application/octet-stream",
                                  "https://127.0.0.1:%d/sha.pl" % server.ports["tls"],
                                  inp=up, timeout=120)
    assert (version, code) == ("2", 200), body
    assert body.decode().strip() == "len=%d got=%d extra=0 sha=%s" % (
        BIG, BIG, hashlib.sha256(up).hexdigest())


def test_dynamic_response_and_access_log_says_http2(server):
    body, version, code, _ = curl("--http2-prior-knowledge",
                                  "http://127.0.0.1:%d/x.wtest?op=stream&n=3" % server.ports["main"])
    assert (version, code) == ("2", 200)
    assert body == b"chunk 0\nchunk 1\nchunk 2\n"
    d = server.log_dir("LogFiles", "W3SVC1")

    def line():
        for name in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), errors="replace") as f:
                for ln in f:
                    if "op=stream" in ln and " HTTP/2 " in ln and " 200 " in ln:
                        return ln
        return None
    assert harness.wait_until(line, scaled(10), what="an access log line with HTTP/2")


def test_modules_and_cgi_see_server_protocol_http2(server):
    """A stream reaches the worker as HTTP/2, as IIS reports it: the module
    API's server variable and a CGI script's SERVER_PROTOCOL say so, while
    HTTP/1.1 on the same site still says HTTP/1.1."""
    port = server.ports["main"]
    url = "http://127.0.0.1:%d/x.wtest?op=var&name=SERVER_PROTOCOL" % port
    body, version, code, _ = curl("--http2-prior-knowledge", url)
    assert (version, code, body) == ("2", 200, b"HTTP/2\n")
    body, version, code, _ = curl("--http1.1", url)
    assert (version, code, body) == ("1.1", 200, b"HTTP/1.1\n")
    body, version, code, _ = curl("--http1.0", url)  # answered with HTTP/1.1, as RFC 9110 2.5 says
    assert (code, body) == (200, b"HTTP/1.0\n")
    tls = "https://localhost:%d/proto.pl" % server.ports["tls"]
    body, version, code, _ = curl("--http2", tls)
    assert (version, code, body) == ("2", 200, b"HTTP/2\n"), body


def test_slow_reader_does_not_grow_listener_memory(server):
    """A 20 MiB response from the worker's memory to a client that grants
    only a small window and does not read: the worker window stops it."""
    c = H2Client(server.ports["main"], settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    before = listener_rss(server)
    sid = c.request("/x.wtest?op=big&kb=20480")
    got = collect(c, lambda ev: any(isinstance(e, h2.events.ResponseReceived) for e in ev))
    assert any(isinstance(e, h2.events.ResponseReceived) for e in got)
    time.sleep(scaled(2))  # the worker would have sent everything by now if unthrottled
    grown = listener_rss(server) - before
    assert grown < 8 * 1024 * 1024, "listener RSS grew by %d bytes" % grown
    c.conn.reset_stream(sid)
    c.flush()
    c.close()
    assert get(server.ports["main"], "/hello.txt").status == 200


def test_streams_over_the_limit_are_refused(server):
    """SETTINGS_MAX_CONCURRENT_STREAMS is 100: a client that opens 130
    before reading the server's SETTINGS gets REFUSED_STREAM for the rest."""
    c = H2Client(server.ports["main"])
    ids = [c.request("/x.wtest?op=sleep&ms=1500") for _ in range(130)]
    c.flush()
    got = collect(c, lambda ev: sum(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                                    for e in ev) >= len(ids))
    refused = [e for e in got if isinstance(e, h2.events.StreamReset)
               and e.error_code == REFUSED_STREAM]
    answered = [e for e in got if isinstance(e, h2.events.ResponseReceived)
                and dict(e.headers).get(b":status") == b"200"]
    assert len(refused) == 30, got[-5:]
    assert len(answered) == 100
    c.close()


def test_rapid_reset_flood_is_stopped(server):
    c = H2Client(server.ports["main"])
    for _ in range(400):
        sid = c.request("/x.wtest?op=sleep&ms=1000")
        c.conn.reset_stream(sid)
    try:
        c.flush()
    except OSError:
        pass
    got = collect(c, lambda ev: any(isinstance(e, h2.events.ConnectionTerminated) for e in ev))
    term = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    assert term and term[0].error_code == ENHANCE_YOUR_CALM, got[-3:]
    c.close()
    server.wait_httperr(r"HTTP/2\.0 - - - - - Http2_ResetFlood")
    assert get(server.ports["main"], "/hello.txt").status == 200
    body, version, code, _ = curl("--http2-prior-knowledge",
                                  "http://127.0.0.1:%d/hello.txt" % server.ports["main"])
    assert (version, code) == ("2", 200)


def test_oversized_header_list_and_hpack_bomb(server):
    before = listener_rss(server)
    c = H2Client(server.ports["main"])
    # Plain oversized list: 40 fields of 1000 bytes > MaxRequestBytes (16384).
    sid1 = c.request("/hello.txt", [("x-big-%d" % i, "v" * 1000) for i in range(40)])
    # A bomb: one 4000-byte field in the dynamic table, referenced 2000 times
    # (a few KiB on the wire, 8 MB decoded).
    sid2 = c.request("/hello.txt", [("x-bomb", "b" * 4000)] * 2000)
    # A field over MaxFieldLength (16384).
    sid3 = c.request("/hello.txt", [("x-long", "l" * 17000)])
    sid4 = c.request("/hello.txt")
    got = collect(c, lambda ev: sum(isinstance(e, h2.events.StreamEnded) for e in ev) >= 4)
    status = {e.stream_id: dict(e.headers)[b":status"] for e in got
              if isinstance(e, h2.events.ResponseReceived)}
    assert status == {sid1: b"400", sid2: b"400", sid3: b"400", sid4: b"200"}, got
    c.close()
    server.wait_httperr(r"HTTP/2\.0 GET /hello.txt %d 400 - RequestLength" % sid1)
    server.wait_httperr(r"HTTP/2\.0 GET /hello.txt %d 400 - FieldLength" % sid3)
    assert listener_rss(server) - before < 8 * 1024 * 1024


def test_continuation_flood_ends_the_connection(server):
    s = socket.create_connection(("127.0.0.1", server.ports["main"]), timeout=scaled(10))
    out = PREFACE + SettingsFrame(0).serialize()
    hf = HeadersFrame(1)
    hf.data = b"\x82"  # :method GET, then the block never ends
    out += hf.serialize()
    for _ in range(200):
        cf = ContinuationFrame(1)
        cf.data = b"\x84"
        out += cf.serialize()
    try:
        s.sendall(out)
    except OSError:
        pass
    frames = raw_frames(s)
    s.close()
    goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaway and goaway[-1].error_code == ENHANCE_YOUR_CALM, frames
    server.wait_httperr(r"Http2_ContinuationFlood")
    assert get(server.ports["main"], "/hello.txt").status == 200


def test_garbage_after_preface_is_a_protocol_error(server):
    s = socket.create_connection(("127.0.0.1", server.ports["main"]), timeout=scaled(10))
    s.sendall(PREFACE + b"\x00\x00\x05\x01\x04\x00\x00\x00\x01garbage and more garbage")
    frames = raw_frames(s)
    s.close()
    goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaway and goaway[-1].error_code == PROTOCOL_ERROR, frames
    assert get(server.ports["main"], "/hello.txt").status == 200


def test_http2_request_line_is_still_505_in_http1(server):
    r, _ = harness.send_raw(server.ports["main"], b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n")
    assert r.status == 505
    # The h2c preface counts only whole: anything else is HTTP/1.1's to
    # refuse (here "*" is no URL for PRI: 400 Invalid URL, as before h2).
    r, _ = harness.send_raw(server.ports["main"], b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    assert r.status == 400 and b"Invalid URL" in r.body


def test_connection_specific_request_header_is_a_stream_error(server):
    c = H2Client(server.ports["main"], validate=False)
    sid = c.request("/hello.txt", [("connection", "keep-alive")])
    got = collect(c, lambda ev: any(isinstance(e, (h2.events.StreamReset, h2.events.StreamEnded))
                                    for e in ev))
    resets = [e for e in got if isinstance(e, h2.events.StreamReset) and e.stream_id == sid]
    assert resets and resets[0].error_code == PROTOCOL_ERROR, got
    c.close()


def test_upload_without_content_length(server):
    """HTTP/2 needs no Content-Length: the body runs to END_STREAM and the
    worker learns its length from what arrived."""
    c = H2Client(server.ports["main"])
    data = os.urandom(300 * 1024)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, [(":method", "POST"), (":path", "/sha.pl"), (":scheme", "http"),
                              (":authority", "localhost")])
    c.flush()
    sent, body, status = 0, b"", None
    deadline = time.monotonic() + scaled(30)
    while time.monotonic() < deadline:
        while sent < len(data):
            n = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size,
                    len(data) - sent)
            if n <= 0:
                break
            c.conn.send_data(sid, data[sent:sent + n], end_stream=sent + n == len(data))
            sent += n
        c.flush()
        ev = c.events()
        if ev is None:
            break
        for e in ev:
            if isinstance(e, h2.events.ResponseReceived):
                status = dict(e.headers)[b":status"]
            elif isinstance(e, h2.events.DataReceived):
                body += e.data
                c.conn.acknowledge_received_data(e.flow_controlled_length, sid)
        if any(isinstance(e, h2.events.StreamEnded) for e in ev):
            break
    c.close()
    assert status == b"200", body
    assert body.decode().strip() == "len=%d got=%d extra=0 sha=%s" % (
        len(data), len(data), hashlib.sha256(data).hexdigest())


def test_sigterm_sends_goaway_and_lets_open_streams_finish(make_server):
    s = make_server("h2-stop")
    port = s.port("main")
    s.pool("StopPool")
    s.site("Stop Site", ["127.0.0.1:%d:" % port], [("/", "StopPool", "www")])
    s.file("www/x.wtest", "")
    s.start()
    assert get(port, "/x.wtest?op=echo").status == 200  # worker up
    c = H2Client(port)
    sid = c.request("/x.wtest?op=sleep&ms=1500")
    c.flush()
    time.sleep(scaled(0.3))
    s.signal(signal.SIGTERM)
    # Frames as they come (python3-h2 stops reading at GOAWAY): the server
    # closes the connection once the stream is done.
    frames = raw_frames(c.sock, timeout=15)
    c.close()
    goaway = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaway and goaway[0].error_code == 0 and goaway[0].last_stream_id >= sid, frames
    body = b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == sid)
    assert body == b"slept\n"
    assert frames.index(goaway[0]) < max(i for i, f in enumerate(frames)
                                        if isinstance(f, DataFrame)), "GOAWAY came first"
    assert s.wait_exit(scaled(15)) == 0


def test_request_limits_apply_to_streams(server):
    """maxAllowedContentLength (60,000,000 here): a declared length over it
    is 413.1 from the worker before any body byte is read; the rest of the
    body is not wanted (RST_STREAM NO_ERROR after the answer)."""
    c = H2Client(server.ports["main"])
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, [(":method", "POST"), (":path", "/sha.pl"), (":scheme", "http"),
                              (":authority", "localhost"), ("content-length", "70000000")])
    c.conn.send_data(sid, b"x" * 1000)
    c.flush()
    got = collect(c, lambda ev: any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                                    and e.stream_id == sid for e in ev))
    status = [dict(e.headers)[b":status"] for e in got if isinstance(e, h2.events.ResponseReceived)]
    assert status == [b"413"], got
    c.close()
    # The connection's other streams are unaffected: a new one on a new connection works too.
    body, version, code, _ = curl("--http2-prior-knowledge",
                                  "http://127.0.0.1:%d/hello.txt" % server.ports["main"])
    assert (version, code) == ("2", 200)


def test_http2_settings_of_wasp_httpsys():
    """wasp/httpSys' HTTP/2 settings: EnableHttp2Tls="0" leaves ALPN at
    http/1.1, EnableHttp2Cleartext="0" takes neither the h2c preface (it is
    then an HTTP/1.1 request line, 505) nor Upgrade (answered as HTTP/1.1),
    Http2MaxConcurrentStreams bounds the streams; on a second server with
    h2c on, 15 streams against a limit of 10 get 5 REFUSED_STREAM, and the
    sslcert entry's disablehttp2 keeps its endpoint at HTTP/1.1."""
    s = harness.WaspServer("h2-settings")
    t = harness.WaspServer("h2-streams")
    try:
        store = s.path("certs")
        os.makedirs(os.path.join(store, "My"))
        thumb = make_cert(os.path.join(store, "My", "localhost.pem"), "localhost", make_ca(store))
        tls_port, port = s.port("tls"), s.port("main")
        s.pool(POOL)
        s.site(SITE, [("https", "127.0.0.1:%d:" % tls_port), "127.0.0.1:%d:" % port],
               [("/", POOL, "www")])
        s.file("www/hello.txt", "hello\n")
        s.extra_sections.append('<wasp><httpSys EnableHttp2Tls="0" EnableHttp2Cleartext="0" />'
                                '</wasp>')
        s.extra_args += ["--cert-store", store]
        r = subprocess.run([os.path.join(s.build, "waspctl"), "--cert-store", store,
                            "--runtime-dir", "/nonexistent", "add", "sslcert",
                            "ipport=0.0.0.0:%d" % tls_port, "certhash=" + thumb,
                            "certstorename=My"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert r.returncode == 0, r.stdout
        s.start(wait_ports=[port])
        _, version, code, _ = curl("--http2", "https://127.0.0.1:%d/hello.txt" % tls_port)
        assert (version, code) == ("1.1", 200)
        _, version, code, err = curl("-v", "--http2", "http://127.0.0.1:%d/hello.txt" % port)
        assert (version, code) == ("1.1", 200) and "101 Switching" not in err
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as raw:
            raw.sendall(PREFACE)  # an HTTP/1.1 request line now, and a bad one
            answer = raw.recv(100)
            assert answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 505 ")), answer

        # netsh sslcert disablehttp2=enable on one of two https endpoints.
        tport, on_port, off_port = t.port("main"), t.port("h2on"), t.port("h2off")
        tstore = t.path("certs")
        os.makedirs(os.path.join(tstore, "My"))
        tthumb = make_cert(os.path.join(tstore, "My", "localhost.pem"), "localhost",
                           make_ca(tstore))
        t.pool(POOL)
        t.site(SITE, [("https", "127.0.0.1:%d:" % on_port), ("https", "127.0.0.1:%d:" % off_port),
                      "127.0.0.1:%d:" % tport], [("/", POOL, "www")])
        t.file("www/x.wtest", "")
        t.file("www/hello.txt", "hello\n")
        t.extra_sections.append('<wasp><httpSys Http2MaxConcurrentStreams="10" /></wasp>')
        t.extra_args += ["--cert-store", tstore]
        for p, extra in ((on_port, []), (off_port, ["disablehttp2=enable"])):
            r = subprocess.run([os.path.join(t.build, "waspctl"), "--cert-store", tstore,
                                "--runtime-dir", "/nonexistent", "add", "sslcert",
                                "ipport=0.0.0.0:%d" % p, "certhash=" + tthumb,
                                "certstorename=My"] + extra,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert r.returncode == 0, r.stdout
        t.start(wait_ports=[tport])
        assert curl("--http2", "https://127.0.0.1:%d/hello.txt" % on_port)[1:3] == ("2", 200)
        assert curl("--http2", "https://127.0.0.1:%d/hello.txt" % off_port)[1:3] == ("1.1", 200)
        c = H2Client(tport)
        ids = [c.request("/x.wtest?op=sleep&ms=500") for _ in range(15)]
        c.flush()
        got = collect(c, lambda ev: sum(isinstance(e, (h2.events.StreamEnded,
                                                        h2.events.StreamReset))
                                        for e in ev) >= len(ids))
        refused = [e for e in got if isinstance(e, h2.events.StreamReset)
                   and e.error_code == REFUSED_STREAM]
        assert len(refused) == 5, got[-5:]
        c.close()
    finally:
        for server in (s, t):
            if server.proc is not None:
                server.stop()


def post_head(c, path, length):
    """A POST's HEADERS with "expect: 100-continue", the body held back."""
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                              (":authority", "localhost"), ("content-length", str(length)),
                              ("expect", "100-continue")], end_stream=False)
    c.flush()
    return sid


def test_expect_100_continue_on_a_stream(server):
    """RFC 9113 8.1: a client that sends "expect: 100-continue" and waits gets
    a 100 HEADERS frame before its body is wanted (the first time, once the
    URL's requestLimits are known; then at once), and a request that is
    refused anyway gets its final 413.1 instead of a 100."""
    body = b"twelve bytes"
    for attempt in range(2):
        c = H2Client(server.ports["main"])
        sid = post_head(c, "/sha.pl?attempt=%d" % attempt, len(body))
        got = collect(c, lambda ev: any(isinstance(e, h2.events.InformationalResponseReceived)
                                        for e in ev), timeout=5)
        info = [dict(e.headers)[b":status"] for e in got
                if isinstance(e, h2.events.InformationalResponseReceived)]
        assert info == [b"100"], got
        c.conn.send_data(sid, body, end_stream=True)
        c.flush()
        got = collect(c, lambda ev: any(isinstance(e, h2.events.StreamEnded) for e in ev))
        final = [dict(e.headers)[b":status"] for e in got if isinstance(e, h2.events.ResponseReceived)]
        data = b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived))
        assert final == [b"200"], got
        assert hashlib.sha256(body).hexdigest().encode() in data, data
        c.close()
    c = H2Client(server.ports["main"])
    post_head(c, "/sha.pl", 70000000)
    got = collect(c, lambda ev: any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                                    for e in ev))
    assert not any(isinstance(e, h2.events.InformationalResponseReceived) for e in got), got
    final = [dict(e.headers)[b":status"] for e in got if isinstance(e, h2.events.ResponseReceived)]
    assert final == [b"413"], got
    c.close()
