"""
HTTPS end to end: https bindings served by the listener with the
certificates of wasp's sslcert store, chosen as HTTP.sys chooses them
(hostnameport by SNI, then the Central Certificate Store's exact and
wildcard files, then ipport for the address, then 0.0.0.0), a certificate
file replaced on disk answering the next handshakes without a restart,
TLS 1.2/1.3 only, ALPN h2 then http/1.1, session resumption, keep-alive and a large
file through TLS, the HTTPS / CERT_* server variables a module sees, and
client certificates (trusted or not).  Real OpenSSL on both sides: the
`openssl` command makes the certificates, Python's ssl module is the client.
"""
import hashlib
import os
import socket
import ssl
import subprocess
import time

import pytest

import harness
from harness import get, scaled

POOL = "TlsPool"


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(d):
    key, crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-subj", "/CN=wasp test CA", "-days", "30", "-keyout", key, "-out", crt)
    return key, crt


def make_cert(path, cn, ca=None, sans=None):
    """A certificate with its key in one PEM file at path (signed by ca, else
    self-signed); returns its SHA-1 thumbprint, upper-case hex."""
    key, csr = path + ".key.tmp", path + ".csr.tmp"
    sans = sans or [cn]
    ext = path + ".ext.tmp"
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + s for s in sans) + "\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/O=wasp tests/CN=" + cn, "-keyout", key, "-out", csr)
    if ca:
        openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
                "-days", "30", "-extfile", ext, "-out", path + ".crt.tmp")
    else:
        openssl("x509", "-req", "-in", csr, "-signkey", key, "-days", "30", "-extfile", ext,
                "-out", path + ".crt.tmp")
    with open(path + ".new", "w") as out:
        for part in (path + ".crt.tmp", key):
            with open(part) as f:
                out.write(f.read())
    os.rename(path + ".new", path)  # a replacement is atomic, as a deploy hook does it
    for tmp in (key, csr, ext, path + ".crt.tmp"):
        os.unlink(tmp)
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read().split("-----END CERTIFICATE-----")[0]
                                        + "-----END CERTIFICATE-----\n")
    return hashlib.sha1(der).hexdigest().upper()


def waspctl(server, *args):
    r = subprocess.run([os.path.join(harness.build_dir(), "waspctl"), "--cert-store",
                        server.store, "--runtime-dir", server.rundir] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=scaled(30))
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def client_ctx(**kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def handshake(port, sni=None, ctx=None, session=None):
    """The server's certificate thumbprint and the TLS socket (open)."""
    ctx = ctx or client_ctx()
    raw = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    return hashlib.sha1(s.getpeercert(binary_form=True)).hexdigest().upper(), s


def https_get(port, path, sni="localhost", ctx=None, host=None):
    thumb, s = handshake(port, sni, ctx)
    with s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                  % (path.encode(), (host or sni or "localhost").encode()))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return thumb, int(head.split(b" ")[1]), body


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("tls")
    store = s.path("certs")
    s.store = store
    for d in ("My", "WebHosting", "ccs"):
        os.makedirs(os.path.join(store, d))
    s.ca = make_ca(store)
    s.thumb_any = make_cert(os.path.join(store, "My", "any.pem"), "localhost", s.ca)
    s.thumb_www = make_cert(os.path.join(store, "WebHosting", "www.pem"), "www.example.com", s.ca)
    make_cert(os.path.join(store, "ccs", "_.example.org.pem"), "*.example.org", s.ca,
              ["*.example.org"])
    make_cert(os.path.join(store, "ccs", "exact.example.org.pem"), "exact.example.org", s.ca)
    port, ccs_port, http_port = s.port("main"), s.port("ccs"), s.port("http")
    s.pool(POOL)
    s.site("TLS Site", [("https", "127.0.0.1:%d:" % port), ("https", "127.0.0.1:%d:" % ccs_port, 2),
                        "127.0.0.1:%d:" % http_port], [("/", POOL, "www")])
    s.file("www/hello.txt", "hello over tls\n")
    s.file("www/big.bin", os.urandom(3 * 1024 * 1024 + 17))
    s.file("www/x.wtest", "")
    s.file("www/secure/a.txt", "secret\n")
    s.file("www/certreq/a.txt", "for certificate holders\n")
    s.location("TLS Site/secure", '<security><access sslFlags="Ssl" /></security>')
    s.location("TLS Site/certreq",
               '<security><access sslFlags="Ssl, SslRequireCert" /></security>')
    s.extra_args += ["--cert-store", store]
    # The bindings are made offline, before waspd starts, as a deployment would.
    r = subprocess.run([os.path.join(s.build, "waspctl"), "--cert-store", store, "--runtime-dir",
                        "/nonexistent", "add", "sslcert", "ipport=0.0.0.0:%d" % port,
                        "certhash=" + s.thumb_any, "certstorename=My",
                        "clientcertnegotiation=enable"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0, r.stdout
    s.start(wait_ports=[http_port])  # the harness' readiness probe speaks plain HTTP
    # Online: applied to the running listener at once.
    waspctl(s, "add", "sslcert", "hostnameport=www.example.com:%d" % port,
            "certhash=" + s.thumb_www, "certstorename=WebHosting")
    waspctl(s, "add", "sslcert", "ccs=%d" % ccs_port)
    yield s
    s.stop()


def test_ipport_binding_answers(server):
    thumb, status, body = https_get(server.ports["main"], "/hello.txt")
    assert thumb == server.thumb_any
    assert status == 200 and body == b"hello over tls\n"
    # The same site over plain HTTP on its http binding.
    assert get(server.ports["http"], "/hello.txt").body == b"hello over tls\n"


def test_sni_chooses_the_hostnameport_certificate(server):
    port = server.ports["main"]
    assert handshake(port, "www.example.com")[0] == server.thumb_www
    assert handshake(port, "WWW.Example.COM")[0] == server.thumb_www  # names have no case
    assert handshake(port, "other.example.com")[0] == server.thumb_any  # falls back to ipport
    assert handshake(port, None)[0] == server.thumb_any  # no SNI at all


def ccs_thumb(server, name):
    path = os.path.join(server.store, "ccs", name)
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read().split("-----END CERTIFICATE-----")[0]
                                        + "-----END CERTIFICATE-----\n")
    return hashlib.sha1(der).hexdigest().upper()


def test_central_certificate_store_exact_then_wildcard(server):
    port = server.ports["ccs"]
    assert handshake(port, "exact.example.org")[0] == ccs_thumb(server, "exact.example.org.pem")
    assert handshake(port, "a.example.org")[0] == ccs_thumb(server, "_.example.org.pem")
    # One label only, as IIS: a.b.example.org has no certificate (and no
    # ipport binding on this port): the handshake fails.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(port, "a.b.example.org")


def test_replaced_certificate_file_is_used_without_restart(server):
    port = server.ports["ccs"]
    before = handshake(port, "exact.example.org")[0]
    listener = server.listener_pid()
    new = make_cert(os.path.join(server.store, "ccs", "exact.example.org.pem"),
                    "exact.example.org", server.ca)
    assert new != before
    got = harness.wait_until(lambda: handshake(port, "exact.example.org")[0] == new or None,
                             scaled(5), what="the replaced certificate in handshakes")
    assert got
    assert server.listener_pid() == listener  # no restart of anything


def test_protocols_alpn_and_old_versions(server):
    port = server.ports["main"]
    ctx = client_ctx()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    _, s = handshake(port, "localhost", ctx)
    with s:
        assert s.version() in ("TLSv1.3", "TLSv1.2")
        assert s.selected_alpn_protocol() == "h2"  # HTTP/2 first (test_h2.py)
    ctx = client_ctx()
    ctx.set_alpn_protocols(["http/1.1"])
    _, s = handshake(port, "localhost", ctx)
    with s:
        assert s.selected_alpn_protocol() == "http/1.1"
    ctx12 = client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
    _, s = handshake(port, "localhost", ctx12)
    with s:
        assert s.version() == "TLSv1.2"
        assert "GCM" in s.cipher()[0] or "CHACHA20" in s.cipher()[0], s.cipher()
    # TLS 1.1 and older are refused (OpenSSL's client may not even offer them
    # at its default security level: either way no session comes up).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        old.set_ciphers("ALL:@SECLEVEL=0")
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.fail("the test client cannot be made to speak TLS 1.1")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(port, "localhost", old)


def test_session_resumption(server):
    port = server.ports["main"]
    ctx = client_ctx(maximum_version=ssl.TLSVersion.TLSv1_2)
    _, s = handshake(port, "localhost", ctx)
    session = s.session
    s.close()
    _, s2 = handshake(port, "localhost", ctx, session=session)
    with s2:
        assert s2.session_reused


def test_keep_alive_and_a_large_file(server):
    port = server.ports["main"]
    with open(server.path("www/big.bin"), "rb") as f:
        big = f.read()
    _, s = handshake(port, "localhost")
    with s:
        for path, want in (("/hello.txt", b"hello over tls\n"), ("/big.bin", big),
                           ("/hello.txt", b"hello over tls\n")):
            s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, _, body = buf.partition(b"\r\n\r\n")
            length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")][0])
            while len(body) < length:
                body += s.recv(1 << 20)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert body == want


def test_server_variables(server):
    port = server.ports["main"]
    var = lambda name, **kw: https_get(port, "/x.wtest?op=var&name=" + name, **kw)[2]
    assert var("HTTPS") == b"on\n"
    assert var("SERVER_PORT_SECURE") == b"1\n"
    assert int(var("HTTPS_KEYSIZE")) >= 128
    assert var("CERT_FLAGS") == b"0\n"  # no client certificate
    assert get(server.ports["http"], "/x.wtest?op=var&name=HTTPS").body == b"off\n"


def test_client_certificates(server):
    port = server.ports["main"]
    d = server.path("client")
    os.makedirs(d, exist_ok=True)
    trusted = os.path.join(d, "alice.pem")
    make_cert(trusted, "alice", server.ca)
    ctx = client_ctx()
    ctx.load_cert_chain(trusted)
    var = lambda name, c: https_get(port, "/x.wtest?op=var&name=" + name, ctx=c)[2]
    assert b"CN=alice" in var("CERT_SUBJECT", ctx)
    assert b"CN=wasp test CA" in var("CERT_ISSUER", ctx)
    # Not trusted by the listener (the test CA is not a system CA): bit 1 set.
    assert var("CERT_FLAGS", ctx) == b"3\n"
    assert b"-" in var("CERT_SERIALNUMBER", ctx) or len(var("CERT_SERIALNUMBER", ctx)) > 2


def test_ssl_flags(server):
    port, http_port = server.ports["main"], server.ports["http"]
    # sslFlags="Ssl": 403.4 over plain HTTP, served over HTTPS.
    r = get(http_port, "/secure/a.txt")
    assert r.status == 403 and b"403.4" in r.body, r
    assert https_get(port, "/secure/a.txt")[1:] == (200, b"secret\n")
    # SslRequireCert: 403.7 without a client certificate ...
    _, status, body = https_get(port, "/certreq/a.txt")
    assert status == 403 and b"403.7" in body, body[:500]
    # ... 403.16 with one the server does not trust (the test CA is not a
    # system CA) ...
    d = server.path("client")
    os.makedirs(d, exist_ok=True)
    cert = os.path.join(d, "bob.pem")
    make_cert(cert, "bob", server.ca)
    ctx = client_ctx()
    ctx.load_cert_chain(cert)
    _, status, body = https_get(port, "/certreq/a.txt", ctx=ctx)
    assert status == 403 and b"403.16" in body, body[:500]
    # ... and a URL without sslFlags serves the same client.
    assert https_get(port, "/hello.txt", ctx=ctx)[1] == 200


def test_client_certificate_trust_store_and_trust_list():
    """Which issuers a client certificate may come from, as HTTP.sys decides
    it: the system's CAs plus wasp's store "Root" (Windows' Trusted Root
    Certification Authorities) by default, or only the CAs of a binding's
    certificate trust list (netsh sslctlstorename).  Checked through
    sslFlags="Ssl, SslRequireCert": 200 for a trusted issuer, 403.16 for
    any other.  A CA file dropped into Root is trusted from the next
    handshake, with no restart."""
    s = harness.WaspServer("tls-trust")
    try:
        store = s.path("certs")
        for d in ("My", "Root", "ClientCAs"):
            os.makedirs(os.path.join(store, d))
        server_ca = make_ca(store)
        thumb = make_cert(os.path.join(store, "My", "server.pem"), "localhost", server_ca)
        cas = {}
        for name in ("a", "b"):
            d = s.path("ca-" + name)
            os.makedirs(d)
            cas[name] = make_ca(d)
        # CA "a" is in Root; CA "b" is the only member of the trust list.
        with open(cas["a"][1]) as f, open(os.path.join(store, "Root", "a.pem"), "w") as out:
            out.write(f.read())
        with open(cas["b"][1]) as f, open(os.path.join(store, "ClientCAs", "b.pem"), "w") as out:
            out.write(f.read())
        clients = {}
        for name in ("a", "b"):
            path = s.path("client-%s.pem" % name)
            make_cert(path, "client-" + name, cas[name])
            ctx = client_ctx()
            ctx.load_cert_chain(path)
            clients[name] = ctx
        dflt, ctl, http_port = s.port("default"), s.port("ctl"), s.port("http")
        s.pool(POOL)
        s.site("Trust Site", [("https", "127.0.0.1:%d:" % dflt), ("https", "127.0.0.1:%d:" % ctl),
                              "127.0.0.1:%d:" % http_port], [("/", POOL, "www")])
        s.file("www/certreq/a.txt", "for certificate holders\n")
        s.location("Trust Site/certreq",
                   '<security><access sslFlags="Ssl, SslRequireCert" /></security>')
        s.extra_args += ["--cert-store", store]
        s.store = store
        s.start(wait_ports=[http_port])
        waspctl(s, "add", "sslcert", "ipport=127.0.0.1:%d" % dflt, "certhash=" + thumb,
                "certstorename=My", "clientcertnegotiation=enable")
        waspctl(s, "add", "sslcert", "ipport=127.0.0.1:%d" % ctl, "certhash=" + thumb,
                "certstorename=My", "clientcertnegotiation=enable", "sslctlstorename=ClientCAs")

        def status(port, who):
            return https_get(port, "/certreq/a.txt", ctx=clients[who])[1]

        harness.wait_until(lambda: status(dflt, "a") == 200, scaled(10),
                           what="a client certificate from a Root CA to be trusted")
        assert status(dflt, "b") == 403
        _, st, body = https_get(dflt, "/certreq/a.txt", ctx=clients["b"])
        assert st == 403 and b"403.16" in body, body[:300]
        # The trust list replaces the default: only CA "b".
        assert status(ctl, "b") == 200
        assert status(ctl, "a") == 403
        # CA "b" dropped into Root: trusted on the default binding too.
        with open(cas["b"][1]) as f, open(os.path.join(store, "Root", "b.pem"), "w") as out:
            out.write(f.read())
        harness.wait_until(lambda: status(dflt, "b") == 200, scaled(10),
                           what="a CA added to Root to be trusted without a restart")
        assert status(dflt, "a") == 200
    finally:
        s.stop()
