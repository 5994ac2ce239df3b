"""
Integration test harness for wasp: real processes, real sockets.

WaspServer builds an applicationHost.config (sites, bindings, applications,
pools, extra system.webServer XML), writes a wwwroot into a world-readable
temporary directory, starts `$WASP_BUILD/waspd --config FILE --runtime-dir DIR`
with its stderr captured to a file, waits until the listener answers, and on
stop sends SIGTERM, waits (bounded), checks the exit status and scans the log
for "[alert]" lines and sanitizer reports.

RawConn is a byte-exact HTTP/1.x client on a plain socket (Content-Length,
chunked and close-delimited bodies, interim 1xx responses), so tests can send
exactly the bytes they mean, including malformed ones.

Process helpers read /proc: children of a pid (ppid from /proc/PID/stat),
comm, uids (/proc/PID/status), state, and the TCP socket inodes a process
holds (/proc/PID/fd against /proc/net/tcp and tcp6).

Only the standard library is used here (requests is used by some tests).
"""

import errno
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from xml.sax.saxutils import quoteattr

# ---------------------------------------------------------------------------
# Environment

SANITIZED = os.environ.get("WASP_SANITIZED", "") not in ("", "0")
SCALE = 3.0 if SANITIZED else 1.0
IS_ROOT = os.geteuid() == 0
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    """$WASP_BUILD (absolute); tests fail (not skip) when it is missing."""
    b = os.environ.get("WASP_BUILD")
    if not b:
        raise RuntimeError("WASP_BUILD is not set: run as "
                           "WASP_BUILD=/abs/path/to/build python3 -m pytest tests/integration")
    b = os.path.abspath(b)
    for exe in ("waspd", "wasp-http", "wasp-worker"):
        if not os.access(os.path.join(b, exe), os.X_OK):
            raise RuntimeError("%s/%s is missing or not executable (build first)" % (b, exe))
    return b


def scaled(seconds):
    """A time bound, multiplied by 3 for sanitizer builds."""
    return seconds * SCALE


def worker_credit():
    """WORKER_CREDIT from src/worker/worker.h (requests a worker executes at once)."""
    try:
        with open(os.path.join(REPO, "src", "worker", "worker.h")) as f:
            m = re.search(r"#define\s+WORKER_CREDIT\s+(\d+)", f.read())
            if m:
                return int(m.group(1))
    except OSError:
        pass
    return 64


class RemoteNetns:
    """A network namespace joined to this one by a veth pair, so that a
    client inside it is remote: it reaches host_ip from peer_ip, neither a
    loopback address nor the server's own.  Needs root (the suite runs as
    root); close() removes the namespace and, with it, both veth ends."""

    _count = 0

    def __init__(self):
        RemoteNetns._count += 1
        n = (os.getpid() * 7 + RemoteNetns._count) % 250 + 1
        tag = "%x%d" % (os.getpid() % 0xfffff, RemoteNetns._count)
        self.name = "wasp-%s" % tag
        self.host_if, self.peer_if = "wh%s" % tag, "wp%s" % tag
        self.host_ip, self.peer_ip = "10.213.%d.1" % n, "10.213.%d.2" % n
        steps = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if],
            ["ip", "link", "set", self.peer_if, "netns", self.name],
            ["ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            ["ip", "netns", "exec", self.name, "ip", "addr", "add", self.peer_ip + "/30", "dev",
             self.peer_if],
            ["ip", "netns", "exec", self.name, "ip", "link", "set", self.peer_if, "up"],
            ["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"],
        ]
        for cmd in steps:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                self.close()
                raise AssertionError("%s: %s" % (" ".join(cmd), r.stdout))

    def run(self, *cmd, timeout=30):
        """cmd inside the namespace; the CompletedProcess (bytes)."""
        return subprocess.run(["ip", "netns", "exec", self.name] + list(cmd),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def replace_once(text, old, new):
    """text with its one occurrence of old replaced: a shipped file being
    adapted for a test must still have the line the test expects."""
    assert text.count(old) == 1, "%r occurs %d times, not once" % (old, text.count(old))
    return text.replace(old, new)


def listener_prefetch():
    """LSN_PREFETCH from src/listener/listener.h (requests a worker may hold
    that it has not started)."""
    with open(os.path.join(REPO, "src", "listener", "listener.h")) as f:
        return int(re.search(r"#define\s+LSN_PREFETCH\s+(\d+)", f.read()).group(1))


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port):
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        except OSError as e:
            if fam == socket.AF_INET6 and e.errno == errno.EAFNOSUPPORT:
                continue
            return False
        finally:
            s.close()
    return True


def free_port():
    """A port free on every address, chosen below the ephemeral range so that
    the many client connections of the tests (and of anything else running)
    cannot take it between this check and waspd's bind()."""
    import random
    lo, _ = _ephemeral_range()
    top = lo - 1 if lo > 12000 else 65535
    bottom = 10000 if lo > 12000 else _ephemeral_range()[1] + 1
    for _ in range(200):
        port = random.randint(bottom, top)
        if _bindable(port):
            return port
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


# ---------------------------------------------------------------------------
# HTTP.sys error pages (shared/reference/iis-hosting.md 4.5), written out
# independently of the server code: the test oracle.

HTTPSYS_TEMPLATE = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
    "<HTML><HEAD><TITLE>{title}</TITLE>\r\n"
    '<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n'
    "<BODY><h2>{heading}</h2>\r\n"
    "<hr><p>HTTP Error {code}. {sentence}</p>\r\n"
    "</BODY></HTML>\r\n")

# kind -> (status, reason phrase / title, heading, sentence or None if unconfirmed)
HTTPSYS = {
    "BadRequest": (400, "Bad Request", "Bad Request", "The request is badly formed."),
    "Hostname": (400, "Bad Request", "Bad Request - Invalid Hostname",
                 "The request hostname is invalid."),
    "URL": (400, "Bad Request", "Bad Request - Invalid URL", "The request URL is invalid."),
    "Header": (400, "Bad Request", "Bad Request - Invalid Header",
               "The request has an invalid header name."),
    "Verb": (400, "Bad Request", "Bad Request - Invalid Verb", "The request verb is invalid."),
    "RequestLength": (400, "Bad Request", "Bad Request - Request Too Long",
                      "The size of the request headers is too long."),
    "FieldLength": (400, "Bad Request", "Bad Request - Header Field Too Long",
                    "A request header field is too long."),
    "LengthRequired": (411, "Length Required", "Length Required",
                       "The request must be chunked or have a content length."),
    "URL_Length": (414, "Request URL Too Long", "Request URL Too Long",
                   "The request URL is too long."),
    "NotFound": (404, "Not Found", "Not Found", "The requested resource is not found."),
    "ServiceUnavailable": (503, "Service Unavailable", "Service Unavailable",
                           "The service is unavailable."),
    # Sentences not confirmed by any capture: only the frame is checked.
    "NotImplemented": (501, "Not Implemented", "Not Implemented", None),
    "VersionNotSupported": (505, "HTTP Version Not Supported", "HTTP Version Not Supported",
                            None),
    "EntityTooLarge": (413, "Request Entity Too Large", "Request Entity Too Large", None),
}

# Content-Length values seen in captures of real HTTP.sys (iis-hosting.md 4.5).
HTTPSYS_KNOWN_LENGTHS = {"BadRequest": 311, "Hostname": 334, "Verb": 326, "Header": 339,
                         "RequestLength": 346, "LengthRequired": 344, "NotFound": 315,
                         "ServiceUnavailable": 326}


def httpsys_body(kind):
    status, title, heading, sentence = HTTPSYS[kind]
    assert sentence is not None, kind
    return HTTPSYS_TEMPLATE.format(title=title, heading=heading, code=status,
                                   sentence=sentence).encode("ascii")


def httpsys_body_regex(kind):
    status, title, heading, sentence = HTTPSYS[kind]
    pat = re.escape(HTTPSYS_TEMPLATE.format(title=title, heading=heading, code=status,
                                            sentence="\x00"))
    pat = pat.replace(re.escape("\x00"), r"[^<>\r\n]+")
    return re.compile(pat.encode("ascii") + b"\\Z")


def httpsys_match(resp, kind):
    """True when resp is exactly HTTP.sys' answer of this kind."""
    return not httpsys_problems(resp, kind)


def httpsys_problems(resp, kind):
    """List of ways resp differs from HTTP.sys' answer of this kind."""
    status, title, heading, sentence = HTTPSYS[kind]
    problems = []
    want_line = "HTTP/1.1 %d %s" % (status, title)
    if resp.status_line != want_line:
        problems.append("status line %r, expected %r" % (resp.status_line, want_line))
    ct = resp.header("Content-Type")
    if ct is None or ct.lower().replace(" ", "") != "text/html;charset=us-ascii":
        problems.append("Content-Type %r, expected 'text/html; charset=us-ascii'" % ct)
    cl = resp.header("Content-Length")
    if sentence is not None:
        want = httpsys_body(kind)
        if resp.body != want:
            problems.append("body %r, expected %r" % (resp.body, want))
        if cl != str(len(want)):
            problems.append("Content-Length %r, expected %d" % (cl, len(want)))
    else:
        if not httpsys_body_regex(kind).match(resp.body):
            problems.append("body %r does not follow the HTTP.sys template for %s"
                            % (resp.body, kind))
        if cl != str(len(resp.body)):
            problems.append("Content-Length %r but body has %d bytes" % (cl, len(resp.body)))
    conn = (resp.header("Connection") or "").lower()
    if "close" not in conn:
        problems.append("no 'Connection: close' (got %r)" % resp.header("Connection"))
    return problems


# ---------------------------------------------------------------------------
# Raw HTTP client

class ResponseError(Exception):
    pass


class Response:
    def __init__(self, status_line, headers, body, raw_head):
        self.status_line = status_line
        parts = status_line.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers = headers  # list of (name, value) in order
        self.body = body
        self.raw_head = raw_head
        self.chunked = False
        self.close_delimited = False

    def header(self, name):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return None

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %r headers=%r body[%d]=%r>" % (
            self.status_line, self.headers, len(self.body), self.body[:300])


class RawConn:
    """One client connection; bytes in, parsed responses out."""

    def __init__(self, port, host="127.0.0.1", timeout=None):
        self.timeout = timeout if timeout is not None else scaled(10)
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        self.buf = b""
        self.eof = False
        self.reset = False

    def send(self, data):
        """Send everything; True if it all went, False if the peer closed/reset."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline):
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, marker, deadline):
        while marker not in self.buf:
            if not self._fill(deadline):
                raise ResponseError("connection closed before %r; have %r" % (marker, self.buf[:500]))
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ResponseError("connection closed after %d of %d body bytes"
                                    % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method="GET", timeout=None):
        """Read one response (an interim 1xx is returned as it comes)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        head = self._read_until(b"\r\n\r\n", deadline)
        lines = head[:-4].split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        headers = []
        for line in lines[1:]:
            if b":" not in line:
                raise ResponseError("bad header line %r" % line)
            k, v = line.split(b":", 1)
            headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        resp = Response(status_line, headers, b"", head)
        if not status_line.startswith("HTTP/1."):
            raise ResponseError("bad status line %r" % status_line)
        st = resp.status
        if method == "HEAD" or 100 <= st < 200 or st in (204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header("Content-Length")
        if te is not None and te.lower().replace(" ", "").endswith("chunked"):
            resp.chunked = True
            body = b""
            while True:
                line = self._read_until(b"\r\n", deadline)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers, up to the empty line
                    while self._read_until(b"\r\n", deadline) != b"\r\n":
                        pass
                    break
                body += self._read_exact(size, deadline)
                if self._read_exact(2, deadline) != b"\r\n":
                    raise ResponseError("chunk not followed by CRLF")
            resp.body = body
        elif cl is not None:
            resp.body = self._read_exact(int(cl), deadline)
        else:
            resp.close_delimited = True
            while self._fill(deadline):
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def read_final(self, method="GET", timeout=None):
        """Read responses until a non-1xx one; returns (interims, final)."""
        interims = []
        while True:
            r = self.read_response(method, timeout)
            if r.status >= 200:
                return interims, r
            interims.append(r)

    def request(self, method, path, headers=None, body=None, host="localhost",
                version="HTTP/1.1", timeout=None):
        self.send(build_request(method, path, headers, body, host, version))
        return self.read_final(method, timeout)[1]

    def wait_closed(self, timeout=None):
        """True when the server closes (EOF or reset) within the timeout with no
        further bytes; extra bytes, if any, are left in self.buf."""
        deadline = time.monotonic() + (timeout if timeout is not None else scaled(5))
        try:
            while self._fill(deadline):
                pass
        except socket.timeout:
            return False
        return self.buf == b""

    def is_open(self, wait=0.2):
        """True when nothing arrives and no EOF within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except ConnectionResetError:
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def build_request(method, path, headers=None, body=None, host="localhost", version="HTTP/1.1"):
    lines = ["%s %s %s" % (method, path, version)]
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if host is not None and not any(k.lower() == "host" for k, _ in hdrs):
        lines.append("Host: %s" % host)
    if body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                    for k, _ in hdrs):
        hdrs.append(("Content-Length", str(len(body))))
    for k, v in hdrs:
        lines.append("%s: %s" % (k, v))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body if isinstance(body, bytes) else body.encode("latin-1")
    return data


def request(port, method, path, headers=None, body=None, host="localhost",
            version="HTTP/1.1", timeout=None):
    """One request on a fresh connection; returns the final Response."""
    with RawConn(port, timeout=timeout) as c:
        return c.request(method, path, headers, body, host, version, timeout)


def get(port, path, **kw):
    return request(port, "GET", path, **kw)


def send_raw(port, data, timeout=None):
    """Send raw bytes on a fresh connection; returns (response, closed_after)."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        resp = c.read_response(timeout=timeout)
        closed = c.wait_closed(scaled(5))
        return resp, closed


def parallel(fn, args_list, timeout=None):
    """Run fn(*args) for each args in threads; returns results (exceptions re-raised)."""
    results = [None] * len(args_list)
    errors = [None] * len(args_list)

    def run(i, args):
        try:
            results[i] = fn(*args)
        except BaseException as e:  # noqa: B902 - re-raised below
            errors[i] = e

    threads = [threading.Thread(target=run, args=(i, a), daemon=True)
               for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + (timeout if timeout is not None else scaled(30))
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            raise AssertionError("parallel requests did not finish within the bound")
    for e in errors:
        if e is not None:
            raise e
    return results


# ---------------------------------------------------------------------------
# /proc helpers

def proc_stat(pid):
    """(comm, state, ppid) from /proc/PID/stat, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    l, r = data.index("("), data.rindex(")")
    comm = data[l + 1:r]
    rest = data[r + 2:].split()
    return comm, rest[0], int(rest[1])


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def proc_uids(pid):
    """(real, effective, saved, fs) uids from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return tuple(int(x) for x in line.split()[1:5])
    raise AssertionError("no Uid line for pid %d" % pid)


def proc_alive(pid):
    """True if the process exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def proc_children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = proc_stat(int(d))
        if st is not None and st[2] == ppid and st[1] not in ("Z", "X"):
            out.append(int(d))
    return sorted(out)


def proc_socket_inodes(pid):
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def tcp_socket_inodes():
    """Inodes of every TCP socket (v4 and v6) in this network namespace."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if len(cols) > 9:
                        inodes.add(int(cols[9]))
        except OSError:
            pass
    inodes.discard(0)
    return inodes


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Configuration

DEFAULT_MIME = [
    (".txt", "text/plain"),
    (".html", "text/html"),
    (".htm", "text/html"),
    (".css", "text/css"),
    (".bin", "application/octet-stream"),
    (".json", "application/json"),
    (".wasptest", "application/x-wasp-test"),
]

BUILTIN_MODULES = ["DefaultDocumentModule", "DirectoryListingModule", "StaticFileModule",
                   "CustomErrorModule"]

SANITIZER_PATTERNS = [
    re.compile(r"ERROR: AddressSanitizer"),
    re.compile(r"runtime error:"),
    re.compile(r"LeakSanitizer"),
    re.compile(r"ERROR: ThreadSanitizer|ERROR: MemorySanitizer"),
]
ALERT_PATTERN = re.compile(r"\[alert\]")


def _attrs(d):
    return "".join(" %s=%s" % (k, quoteattr(str(v))) for k, v in d.items() if v is not None)


LIVE_SERVERS = []


class WaspServer:
    """A waspd instance with its own config, wwwroot and runtime dir.

    Build it, then start():
        s = WaspServer("name")
        port = s.port("main")
        s.pool("PoolA", queueLength=10)
        s.site("Site A", ["127.0.0.1:%d:" % port], [("/", "PoolA", "www")])
        s.file("www/hello.txt", b"hi")
        s.start()
    """

    def __init__(self, name="wasp"):
        self.name = name
        self.build = build_dir()
        self.tmp = tempfile.mkdtemp(prefix="wasp-it-%s-" % re.sub(r"[^\w-]", "_", name),
                                    dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.rundir = os.path.join(self.tmp, "run")
        self.config_path = os.path.join(self.tmp, "applicationHost.config")
        self.log_path = os.path.join(self.tmp, "waspd.log")
        self.ports = {}
        self.pools = []
        self.sites = []
        self.webserver_xml = []
        self.locations = []
        self.http_errors = '<httpErrors errorMode="DetailedLocalOnly" />'
        self.directory_browse = False
        self.default_documents = ["index.html", "Default.htm"]
        self.mime = list(DEFAULT_MIME)
        self.use_test_module = True
        self.proc = None
        self.logf = None
        self.expected_exit = 0      # None: any exit status accepted
        self.allow_deliberate_segv = False
        self.stopped = False
        self.failed = False
        self.known_children = set()
        self.site_count = 0
        self.extra_args = []        # more waspd options, e.g. --allow-localsystem
        self.run_as = None          # a user name: waspd starts as that user, not root
        self.extra_sections = []    # XML after </system.webServer> (e.g. <wasp>)
        self.apphost_xml = []       # more system.applicationHost sections (e.g. <log>)
        self.config_text = None     # a whole applicationHost.config instead of the model's
        self.launch_config = None   # the --config waspd gets, when not config_path
        self.extra_modules = []     # more built-in modules installed and enabled
        self.handlers_xml = []      # handler mappings placed before the harness' own

    # -- building -----------------------------------------------------------
    def port(self, key="main"):
        if key not in self.ports:
            p = free_port()
            while p in self.ports.values():
                p = free_port()
            self.ports[key] = p
        return self.ports[key]

    def path(self, rel):
        return os.path.join(self.tmp, rel)

    def pool(self, name, process_model=None, children="", **attrs):
        """children: XML of the pool's other elements (recycling, failure,
        cpu, environmentVariables)."""
        pm = {"shutdownTimeLimit": "00:00:20"}
        pm.update(process_model or {})
        self.pools.append((name, attrs, pm, children))
        return self

    def site(self, name, bindings, apps, site_id=None, extra_xml=""):
        """bindings: ["ip:port:host", ...] (http) or ("https", "ip:port:host"[, sslFlags]);
        apps: [(path, pool, physical dir rel to tmp), ...]."""
        self.site_count += 1
        sid = site_id if site_id is not None else self.site_count
        for _, _, phys in apps:
            os.makedirs(self.path(phys), mode=0o755, exist_ok=True)
            os.chmod(self.path(phys), 0o755)
        self.sites.append((name, sid, bindings, apps, extra_xml))
        return self

    def file(self, rel, content, mode=0o644):
        p = self.path(rel)
        d = os.path.dirname(p)
        os.makedirs(d, exist_ok=True)
        # every directory from tmp down must be readable by the worker user
        cur = d
        while cur.startswith(self.tmp) and cur != self.tmp:
            os.chmod(cur, 0o755)
            cur = os.path.dirname(cur)
        with open(p, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        os.chmod(p, mode)
        return p

    def mkdir(self, rel):
        p = self.path(rel)
        os.makedirs(p, exist_ok=True)
        cur = p
        while cur.startswith(self.tmp) and cur != self.tmp:
            os.chmod(cur, 0o755)
            cur = os.path.dirname(cur)
        return p

    def location(self, path, xml, **attrs):
        """<location path=...> around xml in system.webServer; attrs are more
        attributes of the tag (overrideMode="Deny", ...)."""
        self.locations.append((path, xml, attrs))
        return self

    def module_image(self, so):
        """A module .so the pool's user can load: copied next to the config
        when the build tree is private (a clone in a home directory)."""
        if not os.path.exists(so):
            raise RuntimeError("%s is missing (build the tests)" % so)
        if not _world_readable_path(so):
            dst = os.path.join(self.tmp, os.path.basename(so))
            shutil.copy(so, dst)
            os.chmod(dst, 0o755)
            so = dst
        return so

    def test_module_image(self):
        return self.module_image(os.path.join(self.build, "tests", "wasp_test_module.so"))

    def use_own_webserver(self, pool, site, site_id, webserver_xml, config_sections=""):
        """Replace the generated config with one site on the "main" port,
        one pool, and a system.webServer section written by the test (for
        tests that install their own modules).  config_sections, when given,
        is the whole <configSections> element."""
        port = self.port("main")

        def xml():
            return """<?xml version="1.0" encoding="UTF-8"?>
<configuration>
%s
  <system.applicationHost>
    <applicationPools><add name=%s><processModel shutdownTimeLimit="00:00:20" /></add></applicationPools>
    <sites>
      <site name=%s id="%d">
        <application path="/" applicationPool=%s>
          <virtualDirectory path="/" physicalPath=%s />
        </application>
        <bindings><binding protocol="http" bindingInformation="127.0.0.1:%d:" /></bindings>
      </site>
    </sites>
  </system.applicationHost>
  <system.webServer>
%s
  </system.webServer>
</configuration>
""" % (config_sections, quoteattr(pool), quoteattr(site), site_id, quoteattr(pool),
       quoteattr(self.tmp), port, webserver_xml)

        self.use_test_module = False
        self.config_xml = xml
        return port

    def config_xml(self):
        x = ['<?xml version="1.0" encoding="UTF-8"?>', "<configuration>",
             "  <system.applicationHost>", "    <applicationPools>"]
        for name, attrs, pm, children in self.pools:
            a = {"name": name}
            a.update(attrs)
            x.append("      <add%s>" % _attrs(a))
            x.append("        <processModel%s />" % _attrs(pm))
            if children:
                x.append("        " + children)
            x.append("      </add>")
        x.append("      <applicationPoolDefaults>")
        x.append('        <processModel identityType="ApplicationPoolIdentity" />')
        x.append("      </applicationPoolDefaults>")
        x.append("    </applicationPools>")
        x.append("    <sites>")
        for name, sid, bindings, apps, extra in self.sites:
            x.append("      <site%s>" % _attrs({"name": name, "id": sid}))
            for path, pool, phys in apps:
                x.append("        <application%s>" % _attrs({"path": path,
                                                             "applicationPool": pool}))
                x.append("          <virtualDirectory%s />" % _attrs(
                    {"path": "/", "physicalPath": self.path(phys)}))
                x.append("        </application>")
            x.append("        <bindings>")
            for b in bindings:
                # "ip:port:host", or ("https", "ip:port:host"[, sslFlags])
                proto, info, flags = (b + (None,))[:3] if isinstance(b, tuple) else ("http", b, None)
                x.append('          <binding protocol="%s" bindingInformation=%s%s />'
                         % (proto, quoteattr(info),
                            "" if flags is None else ' sslFlags="%d"' % flags))
            x.append("        </bindings>")
            if extra:
                x.append(extra)
            x.append("      </site>")
        x.append("    </sites>")
        x.extend("    " + e for e in self.apphost_xml)
        x.append("  </system.applicationHost>")
        x.append("  <system.webServer>")
        x.append("    <globalModules>")
        for m in BUILTIN_MODULES + self.extra_modules:
            x.append('      <add name="%s" image="builtin" />' % m)
        if self.use_test_module:
            x.append('      <add name="TestModule" image=%s />'
                     % quoteattr(self.test_module_image()))
        x.append("    </globalModules>")
        x.append("    <modules>")
        for m in (BUILTIN_MODULES + self.extra_modules +
                  (["TestModule"] if self.use_test_module else [])):
            x.append('      <add name="%s" />' % m)
        x.append("    </modules>")
        x.append('    <handlers accessPolicy="Read, Script">')
        x.extend("      " + h for h in self.handlers_xml)
        if self.use_test_module:
            x.append('      <add name="TestHandler" path="*.wtest" verb="*" modules="TestModule" '
                     'resourceType="Unspecified" requireAccess="None" />')
        x.append('      <add name="StaticFile" path="*" verb="*" '
                 'modules="StaticFileModule,DefaultDocumentModule,DirectoryListingModule" '
                 'resourceType="Either" requireAccess="Read" />')
        x.append("    </handlers>")
        x.append('    <defaultDocument enabled="true">')
        x.append("      <files>")
        for d in self.default_documents:
            x.append("        <add value=%s />" % quoteattr(d))
        x.append("      </files>")
        x.append("    </defaultDocument>")
        x.append('    <directoryBrowse enabled="%s" />'
                 % ("true" if self.directory_browse else "false"))
        x.append("    " + self.http_errors)
        x.append("    <staticContent>")
        for ext, mt in self.mime:
            x.append("      <mimeMap fileExtension=%s mimeType=%s />"
                     % (quoteattr(ext), quoteattr(mt)))
        x.append("    </staticContent>")
        x.extend("    " + s for s in self.webserver_xml)
        x.append("  </system.webServer>")
        x.extend("  " + e for e in self.extra_sections)
        for path, xml, attrs in self.locations:
            x.append("  <location%s>" % _attrs(dict(path=path, **attrs)))
            x.append("    <system.webServer>")
            x.append("      " + xml)
            x.append("    </system.webServer>")
            x.append("  </location>")
        x.append("</configuration>")
        return "\n".join(x) + "\n"

    def write_config(self):
        """Rewrite applicationHost.config from the current model (waspd
        notices and applies it: live configuration)."""
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(self.config_xml())
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.config_path)

    def ctl(self, *words, timeout=None):
        """One command on waspd's control socket (src/common/ctl_proto.h).
        Returns (status, message, output text, progress lines)."""
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sk.settimeout(timeout or scaled(30))
        sk.connect(os.path.join(self.rundir, "control.sock"))
        sk.send(b"\0".join(w.encode() for w in words))
        out, progress = [], []
        try:
            while True:
                d = sk.recv(70000)
                if not d:
                    raise AssertionError("control socket closed without a 'D' answer")
                kind, text = d[:1], d[1:].decode()
                if kind == b"O":
                    out.append(text)
                elif kind == b"P":
                    progress.append(text)
                elif kind == b"D":
                    code, _, msg = text.partition(" ")
                    return int(code), msg, "".join(out), progress
        finally:
            sk.close()

    def events(self):
        """The event log file, as (id, pool, pid, message) tuples."""
        path = os.path.join(self.rundir, "events.log")
        if not os.path.exists(path):
            return []
        rows = []
        with open(path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                rows.append((int(p[3]), p[4], int(p[5]), p[6]))
        return rows

    # -- running ------------------------------------------------------------
    def start(self, wait_ports=None):
        with open(self.config_path, "w") as f:
            f.write(self.config_text if self.config_text is not None else self.config_xml())
        os.chmod(self.config_path, 0o644)
        self.logf = open(self.log_path, "wb")
        env = dict(os.environ)
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        prefix = []
        if self.run_as is not None:
            # setpriv execs (the pid stays waspd's); the files are the user's.
            pw = pwd.getpwnam(self.run_as)
            for root, dirs, files in os.walk(self.tmp):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.lchown(name, pw.pw_uid, pw.pw_gid)
            prefix = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                      "--init-groups", "--"]
        self.proc = subprocess.Popen(
            prefix + [os.path.join(self.build, "waspd"), "--config",
                      self.launch_config or self.config_path,
                      "--runtime-dir", self.rundir] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
            cwd=self.tmp)
        LIVE_SERVERS.append(self)
        try:
            self._wait_ready(wait_ports if wait_ports is not None else list(self.ports.values()))
        except BaseException:
            self.failed = True
            self.stopped = True
            self._kill_everything()
            raise
        return self

    def _wait_ready(self, ports):
        deadline = time.monotonic() + scaled(10)
        for port in ports:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError("waspd exited with status %s during start-up\n%s"
                                         % (self.proc.returncode, self.log_tail()))
                if time.monotonic() > deadline:
                    raise AssertionError("port %d did not answer HTTP within %.0f s\n%s"
                                         % (port, scaled(10), self.log_tail()))
                try:
                    with RawConn(port, timeout=1.0) as c:
                        # Missing Host: the listener itself answers (400), no worker starts.
                        c.send(b"GET / HTTP/1.1\r\n\r\n")
                        r = c.read_response(timeout=max(0.5, deadline - time.monotonic()))
                        if r.status > 0:
                            break
                except (OSError, ResponseError):
                    time.sleep(0.05)
        self.remember_children()

    @property
    def pid(self):
        return self.proc.pid

    def children(self):
        return proc_children(self.proc.pid)

    def remember_children(self):
        for p in self.children():
            self.known_children.add(p)

    def listener_pids(self):
        return [p for p in self.children() if proc_comm(p) == "wasp-http"]

    def listener_pid(self):
        pids = wait_until(self.listener_pids, scaled(5), what="the wasp-http process")
        assert len(pids) == 1, "expected one wasp-http child of waspd, found %r" % pids
        return pids[0]

    def worker_pool_of(self, pid):
        try:
            with open(os.path.join(self.rundir, "wp", str(pid))) as f:
                return f.read().strip()
        except OSError:
            return None

    def worker_pids(self, pool=None):
        out = [p for p in self.children() if proc_comm(p) == "wasp-worker"]
        self.known_children.update(out)
        if pool is not None:
            out = [p for p in out if self.worker_pool_of(p) == pool]
        return out

    def wait_worker(self, pool=None, exclude=(), timeout=None):
        def find():
            pids = [p for p in self.worker_pids(pool) if p not in exclude]
            return pids[0] if pids else None
        return wait_until(find, timeout or scaled(10),
                          what="a worker of pool %r (excluding %r)" % (pool, list(exclude)))

    def log_text(self, since=0):
        """The log from byte offset `since` (see log_size)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_tail(self, n=80):
        lines = self.log_text().splitlines()
        return "---- %s (last %d lines) ----\n%s" % (self.log_path, min(n, len(lines)),
                                                     "\n".join(lines[-n:]))

    def wait_log(self, regex, timeout=None, since=0):
        pat = re.compile(regex)

        def find():
            return pat.search(self.log_text(since))
        try:
            return wait_until(find, timeout or scaled(10), what="log line /%s/" % regex)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.log_tail()))

    def log_dir(self, *parts):
        """wasp's log root for this server: IIS' default log directory
        (%SystemDrive%\\inetpub\\logs) and HTTPERR go under
        <runtime-dir>/logs when waspd has its own --runtime-dir."""
        return os.path.join(self.rundir, "logs", *parts)

    def httperr_text(self):
        """Every HTTPERR file (httperr1.log, httperr2.log, ...) in order."""
        d = self.log_dir("HTTPERR")
        try:
            names = [n for n in os.listdir(d) if re.match(r"httperr\d+\.log$", n)]
        except OSError:
            return ""
        text = ""
        for n in sorted(names, key=lambda n: int(n[7:-4])):
            with open(os.path.join(d, n), "rb") as f:
                text += f.read().decode("utf-8", "replace")
        return text

    def wait_httperr(self, regex, timeout=None):
        """The first HTTPERR line matching regex (lines reach the file within
        a second)."""
        pat = re.compile(regex, re.M)
        try:
            return wait_until(lambda: pat.search(self.httperr_text()), timeout or scaled(10),
                              what="HTTPERR line /%s/" % regex)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.httperr_text()[-3000:]))

    def log_problems(self, since=0):
        problems = []
        text = self.log_text(since)
        for line in text.splitlines():
            if ALERT_PATTERN.search(line):
                problems.append(line)
                continue
            for pat in SANITIZER_PATTERNS:
                if pat.search(line):
                    if self.allow_deliberate_segv and re.search(
                            r"AddressSanitizer: (SEGV|DEADLYSIGNAL)", line):
                        break
                    problems.append(line)
                    break
        return problems

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, check=True):
        """SIGTERM, bounded wait, exit status 0, children gone, clean log."""
        if self.stopped:
            return
        self.stopped = True
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        self.remember_children()
        errors = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(30))
            except subprocess.TimeoutExpired:
                errors.append("waspd did not exit within %.0f s of SIGTERM" % scaled(30))
        errors += self._finish_checks()
        if errors and check:
            self.failed = True
            raise AssertionError("\n".join(errors) + "\n" + self.log_tail())
        self._cleanup()

    def wait_exit(self, timeout):
        """Wait for waspd to exit on its own; returns the exit status or None."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _finish_checks(self):
        errors = []
        if self.proc.poll() is None:
            self._kill_everything()
            return errors + ["waspd had to be killed"]
        rc = self.proc.returncode
        if self.expected_exit is not None and rc != self.expected_exit:
            errors.append("waspd exited with status %r, expected %r" % (rc, self.expected_exit))
        # every child waspd started must be gone (bounded wait)
        deadline = time.monotonic() + scaled(5)
        left = [p for p in self.known_children if proc_alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if proc_alive(p)]
        if left:
            errors.append("processes left behind after waspd exited: %s"
                          % ", ".join("%d (%s)" % (p, proc_comm(p)) for p in left))
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        # sanitizer reports of children may arrive a moment after waspd's exit
        time.sleep(0.1)
        probs = self.log_problems()
        if probs:
            errors.append("alerts / sanitizer reports in the log:\n  " + "\n  ".join(probs[:20]))
        return errors

    def _kill_everything(self):
        self.remember_children()
        for p in list(self.known_children):
            if proc_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    def _cleanup(self):
        if self.logf is not None:
            self.logf.close()
            self.logf = None
        if not self.failed and not os.environ.get("WASP_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


def _world_readable_path(path):
    """True when every directory above path is searchable by others and the file readable."""
    st = os.stat(path)
    if not st.st_mode & stat.S_IROTH:
        return False
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(d)
        if parent == d:
            return True
        d = parent


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def connect_refused(port, timeout=1.0):
    """True if a TCP connect to 127.0.0.1:port is refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()


def simple_server(name, pool="TestPool", pool_attrs=None, process_model=None, files=None,
                  binding_ip="127.0.0.1"):
    """One site on one port ("main"), root application in `pool`, content in www/."""
    s = WaspServer(name)
    port = s.port("main")
    s.pool(pool, process_model=process_model, **(pool_attrs or {}))
    s.site("Default Web Site", ["%s:%d:" % (binding_ip, port)], [("/", pool, "www")])
    s.mkdir("www")
    for rel, content in (files or {}).items():
        s.file("www/" + rel, content)
    return s
