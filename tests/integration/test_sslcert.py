"""
waspctl add | show | delete sslcert: HTTP.sys' SSL configuration with netsh's
words, output and error messages, against real certificate files made by the
openssl command.

  - offline: build/waspctl on a temporary certificate store, no waspd;
  - online: a real waspd (started by the harness with --cert-store) that
    waspctl tells about each change; waspd reloads the file, logs it, and
    holds the entries (control command "sslcert");
  - restart: the entries outlive waspd.

The expected netsh texts are written out here from captures of Windows'
netsh (see docs/operations.md, "TLS certificates"), not taken from the code.
"""
import os
import subprocess

import harness
from harness import scaled

IIS_APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
HEADER = "\nSSL Certificate bindings:\n-------------------------\n\n"
POOL = "TestPool"


def waspctl(*args, store=None, rundir=None, env=None):
    e = {k: v for k, v in os.environ.items()
         if k not in ("WASP_CONFIG", "WASP_RUNTIME_DIR", "WASP_CERT_STORE")}
    e.update(env or {})
    cmd = [os.path.join(harness.build_dir(), "waspctl")]
    if store is not None:
        cmd += ["--cert-store", str(store)]
    # Without a waspd of its own, a test's waspctl must not find one.
    cmd += ["--runtime-dir", str(rundir) if rundir is not None else "/nonexistent/wasp-run"]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=e, timeout=scaled(30))


def make_cert(path, cn, key_path=None):
    """A self-signed certificate (and key) at path; returns its thumbprint as
    openssl prints it (upper case, colons removed)."""
    key = key_path or str(path) + ".tmpkey"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + cn, "-days",
                    "30", "-keyout", key, "-out", str(path)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if key_path is None:
        with open(key) as k, open(path, "a") as f:
            f.write(k.read())
        os.unlink(key)
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in",
                          str(path)], check=True, stdout=subprocess.PIPE, text=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "")


def block(key_label, key, thumb, appid=IIS_APPID, store="(null)", **opts):
    """netsh show sslcert's block for one entry, with defaults unless given."""
    values = [
        ("Verify Client Certificate Revocation", "Enabled"),
        ("Verify Revocation Using Cached Client Certificate Only", "Disabled"),
        ("Usage Check", "Enabled"),
        ("Revocation Freshness Time", "0"),
        ("URL Retrieval Timeout", "0"),
        ("Ctl Identifier", "(null)"),
        ("Ctl Store Name", "(null)"),
        ("DS Mapper Usage", "Disabled"),
        ("Negotiate Client Certificate", "Disabled"),
        ("Reject Connections", "Disabled"),
        ("Disable HTTP2", "Not Set"),
        ("Disable QUIC", "Not Set"),
        ("Disable TLS1.2", "Not Set"),
        ("Disable TLS1.3", "Not Set"),
        ("Disable OCSP Stapling", "Not Set"),
        ("Enable Token Binding", "Not Set"),
        ("Log Extended Events", "Not Set"),
        ("Disable Legacy TLS Versions", "Not Set"),
        ("Enable Session Ticket", "Not Set"),
    ]
    values = [(label, opts.get(label, v)) for label, v in values]
    lines = [(key_label, key), ("Certificate Hash", thumb.lower() if thumb else "(null)"),
             ("Application ID", appid), ("Certificate Store Name", store)] + values
    return "".join("    %-28s : %s\n" % lv for lv in lines) + "\n"


def new_store(tmp_path, name="certs"):
    store = tmp_path / name
    (store / "My").mkdir(parents=True)
    return store


def bindings_file(store):
    return store / "sslbindings.conf"


# ---------------------------------------------------------------------------
# offline


def test_help_lists_sslcert_commands():
    r = waspctl("/?")
    assert r.returncode == 0, r.stderr
    for cmd in ("add sslcert ipport=", "add sslcert hostnameport=", "add sslcert ccs=",
                "show sslcert", "delete sslcert", "--cert-store"):
        assert cmd in r.stdout, cmd
    # appcmd's commands still take one identifier; only sslcert takes many words
    r = waspctl("list", "apppool", "a", "b")
    assert r.returncode == 2
    assert 'unexpected argument "b": one identifier at most' in r.stderr


def test_add_show_delete_offline(tmp_path):
    store = new_store(tmp_path)
    thumb = make_cert(store / "My" / "site.pem", "www.example.com")
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb.lower(),
                "certstorename=My", store=store)
    assert (r.returncode, r.stdout, r.stderr) == (0, "SSL Certificate successfully added\n", "")

    want = HEADER + block("IP:port", "0.0.0.0:443", thumb, store="My")
    r = waspctl("show", "sslcert", store=store)
    assert (r.returncode, r.stdout) == (0, want)
    r = waspctl("show", "sslcert", "ipport=0.0.0.0:443", store=store)
    assert (r.returncode, r.stdout) == (0, want)
    # netsh's bare form: the ipport without its name
    r = waspctl("show", "sslcert", "0.0.0.0:443", store=store)
    assert (r.returncode, r.stdout) == (0, want)

    # the file reads like the command that made it (hash as IIS shows it)
    with open(bindings_file(store)) as f:
        entries = [l for l in f.read().splitlines() if l and not l.startswith("#")]
    assert entries == ["ipport=0.0.0.0:443 certhash=%s appid=%s certstorename=My"
                       % (thumb, IIS_APPID)]

    r = waspctl("delete", "sslcert", "ipport=0.0.0.0:443", store=store)
    assert (r.returncode, r.stdout, r.stderr) == (0, "SSL Certificate successfully deleted\n", "")
    r = waspctl("show", "sslcert", store=store)
    assert (r.returncode, r.stdout) == (0, HEADER)


def test_netsh_errors(tmp_path):
    store = new_store(tmp_path)
    thumb = make_cert(store / "My" / "site.pem", "www.example.com")
    args = ("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb)
    assert waspctl(*args, store=store).returncode == 0
    with open(bindings_file(store)) as f:
        before = f.read()

    r = waspctl(*args, store=store)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("SSL Certificate add failed, Error: 183\n"
                               "Cannot create a file when that file already exists.\n"
                               "wasp: ipport=0.0.0.0:443 already has an entry in ")
    with open(bindings_file(store)) as f:
        assert f.read() == before

    r = waspctl("delete", "sslcert", "ipport=10.1.2.3:443", store=store)
    assert r.returncode == 3
    assert r.stderr.startswith("SSL Certificate deletion failed, Error: 2\n"
                               "The system cannot find the file specified.\n")

    r = waspctl("show", "sslcert", "hostnameport=nobody.example.com:443", store=store)
    assert r.returncode == 3
    assert r.stdout == HEADER
    assert r.stderr == "The system cannot find the file specified.\n"


def test_bad_parameters(tmp_path):
    store = new_store(tmp_path)
    for args, why in [
            (("ipport=0.0.0.0:443", "certhash=5D62"), 'certhash "5D62" is not a thumbprint'),
            (("ipport=0.0.0.0:443", "certhash=" + "A" * 40, "color=red"),
             'unknown parameter "color"'),
            (("ipport=0.0.0.0", "certhash=" + "A" * 40), "is not IP:port"),
            (("hostnameport=www.example.com:443", "certhash=" + "A" * 40),
             "needs certstorename="),
            (("ccs=443", "certhash=" + "A" * 40), "takes no certhash"),
            (("ipport=0.0.0.0:443", "certhash=" + "A" * 40, "/commit:apphost"),
             "not /commit"),
    ]:
        r = waspctl("add", "sslcert", *args, store=store)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("The parameter is incorrect.\nwasp: "), (args, r.stderr)
        assert why in r.stderr, (args, r.stderr)
    assert not bindings_file(store).exists()


def test_certificate_must_be_in_its_store(tmp_path):
    store = new_store(tmp_path)
    mine = make_cert(store / "My" / "site.pem", "www.example.com")
    netsh_1312 = ("SSL Certificate add failed, Error: 1312\n"
                  "A specified logon session does not exist. It may already have been "
                  "terminated.\n")

    # a thumbprint no file has
    other = "0123456789ABCDEF0123456789ABCDEF01234567"
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + other, store=store)
    assert r.returncode == 1
    assert r.stderr.startswith(netsh_1312)
    assert ("wasp: no certificate with thumbprint %s among the 1 PEM files of %s/My"
            % (other, store)) in r.stderr

    # a store that does not exist
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + mine,
                "certstorename=WebHosting", store=store)
    assert r.returncode == 1
    assert r.stderr.startswith(netsh_1312)
    assert 'no certificate store "WebHosting": %s/WebHosting is not a directory' % store \
        in r.stderr

    # a key that is not the certificate's
    (store / "Mixed").mkdir()
    cert = make_cert(store / "Mixed" / "a.pem", "a.example.com", key_path=str(tmp_path / "a.key"))
    make_cert(tmp_path / "b.pem", "b.example.com", key_path=str(store / "Mixed" / "a.key"))
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + cert,
                "certstorename=Mixed", store=store)
    assert r.returncode == 1
    assert r.stderr.startswith(netsh_1312)
    assert "a.key does not belong to the certificate %s" % cert in r.stderr

    # a certificate without any key
    (store / "Mixed" / "a.key").unlink()
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + cert,
                "certstorename=Mixed", store=store)
    assert r.returncode == 1
    assert "has the certificate %s (a.example.com) but no private key" % cert in r.stderr

    assert not bindings_file(store).exists()


def test_hostnameport_ccs_and_show_order(tmp_path):
    store = new_store(tmp_path)
    (store / "WebHosting").mkdir()
    shop = make_cert(store / "WebHosting" / "shop.pem", "shop.example.com")
    default = make_cert(store / "My" / "default.pem", "default.example.com")

    r = waspctl("add", "sslcert", "ccs=443", "appid={00112233-4455-6677-8899-AABBCCDDEEFF}",
                store=store)
    assert r.returncode == 0, r.stderr
    assert "warning: the Central Certificate Store %s/ccs does not exist yet" % store in r.stderr
    # netsh's store names are case-insensitive: WEBHOSTING is WebHosting/
    r = waspctl("add", "sslcert", "hostnameport=Shop.Example.com:443", "certhash=" + shop,
                "certstorename=WEBHOSTING", "clientcertnegotiation=enable",
                "disablelegacytls=enable", store=store)
    assert r.returncode == 0, r.stderr
    r = waspctl("add", "sslcert", "ipport=[::]:443", "certhash=" + default, store=store)
    assert r.returncode == 0, r.stderr

    # IP entries first, then host names, then the Central Certificate Store
    r = waspctl("show", "sslcert", store=store)
    assert r.returncode == 0
    assert r.stdout == (
        HEADER
        + block("IP:port", "[::]:443", default)
        + block("Hostname:port", "shop.example.com:443", shop, store="WEBHOSTING",
                **{"Negotiate Client Certificate": "Enabled",
                   "Disable Legacy TLS Versions": "Set"})
        + block("Central Certificate Store", "443", None,
                appid="{00112233-4455-6677-8899-aabbccddeeff}"))


def test_store_root_from_environment(tmp_path):
    env_store = new_store(tmp_path, "from-env")
    opt_store = new_store(tmp_path, "from-option")
    thumb = make_cert(env_store / "My" / "site.pem", "www.example.com")
    env = {"WASP_CERT_STORE": str(env_store)}

    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb, env=env)
    assert r.returncode == 0, r.stderr
    assert bindings_file(env_store).exists()
    # --cert-store wins over the environment: that store has no such certificate
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:8443", "certhash=" + thumb,
                store=opt_store, env=env)
    assert r.returncode == 1
    assert "%s/My" % opt_store in r.stderr


def test_hand_comments_survive_edits(tmp_path):
    store = new_store(tmp_path)
    thumb = make_cert(store / "My" / "site.pem", "www.example.com")
    text = ("# ours: do not remove\n\n"
            "# the old default\n"
            "ipport=0.0.0.0:8443 certhash=%s appid=%s\n" % (thumb, IIS_APPID))
    with open(bindings_file(store), "w") as f:
        f.write(text)
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb, store=store)
    assert r.returncode == 0, r.stderr
    with open(bindings_file(store)) as f:
        assert f.read() == text + "ipport=0.0.0.0:443 certhash=%s appid=%s\n" % (thumb, IIS_APPID)
    r = waspctl("delete", "sslcert", "ipport=0.0.0.0:8443", store=store)
    assert r.returncode == 0, r.stderr
    with open(bindings_file(store)) as f:
        assert f.read() == ("# ours: do not remove\n\n"
                            "ipport=0.0.0.0:443 certhash=%s appid=%s\n" % (thumb, IIS_APPID))

    # a broken line stops every command with the file, the line and the fix
    with open(bindings_file(store), "a") as f:
        f.write("ipport=0.0.0.0:9443 certhash=nope\n")
    r = waspctl("show", "sslcert", store=store)
    assert r.returncode == 1
    assert ("%s:4: certhash \"nope\" is not a thumbprint" % bindings_file(store)) in r.stderr


# ---------------------------------------------------------------------------
# with waspd


def tls_server(make_server, name, store):
    s = make_server(name)
    port = s.port("main")
    s.pool(POOL)
    s.site("Default Web Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/hello.txt", "hello\n")
    s.extra_args += ["--cert-store", str(store)]
    return s


def held(s):
    """The entries waspd holds in memory, as file lines."""
    status, msg, out, _ = s.ctl("sslcert")
    assert status == 0, msg
    return out.splitlines()


def test_online_changes_reach_waspd(make_server, tmp_path):
    store = new_store(tmp_path)
    thumb = make_cert(store / "My" / "site.pem", "www.example.com")
    s = tls_server(make_server, "sslcert-online", store)
    s.start()
    assert held(s) == []

    since = s.log_size()
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb,
                store=store, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "SSL Certificate successfully added\n"
    assert r.stderr == "SSL certificate bindings changed: 1 bindings\n"
    s.wait_log(r"SSL certificate bindings changed: 1 bindings", since=since)
    assert held(s) == ["ipport=0.0.0.0:443 certhash=%s appid=%s" % (thumb, IIS_APPID)]

    r = waspctl("delete", "sslcert", "ipport=0.0.0.0:443", store=store, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "SSL certificate bindings changed: 0 bindings\n"
    assert held(s) == []

    # the http site was never disturbed
    assert harness.get(s.port("main"), "/hello.txt").body == b"hello\n"


def test_online_other_store_is_refused(make_server, tmp_path):
    store = new_store(tmp_path)
    other = new_store(tmp_path, "other")
    thumb = make_cert(other / "My" / "site.pem", "www.example.com")
    s = tls_server(make_server, "sslcert-mismatch", store)
    s.start()
    r = waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb,
                store=other, rundir=s.rundir)
    assert r.returncode == 1
    assert r.stdout == "SSL Certificate successfully added\n"
    assert ("the change is saved in %s, but waspd did not take it: waspd reads its SSL "
            "certificate bindings from the certificate store %s, not %s"
            % (bindings_file(other), store, other)) in r.stderr
    assert held(s) == []


def test_broken_file_keeps_what_waspd_holds(make_server, tmp_path):
    store = new_store(tmp_path)
    thumb = make_cert(store / "My" / "site.pem", "www.example.com")
    s = tls_server(make_server, "sslcert-broken", store)
    s.start()
    assert waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb,
                   store=store, rundir=s.rundir).returncode == 0
    with open(bindings_file(store), "a") as f:
        f.write("ccs=https\n")
    status, msg, _, _ = s.ctl("sslcert-changed", str(store))
    assert status == 1
    # the header waspctl wrote is 5 lines, the entry the 6th
    assert '%s:7: ccs "https" is not a port' % bindings_file(store) in msg
    assert "waspd keeps the 1 entries it had" in msg
    assert len(held(s)) == 1


def test_entries_outlive_waspd(make_server, tmp_path):
    store = new_store(tmp_path)
    thumb = make_cert(store / "My" / "site.pem", "www.example.com")
    first = tls_server(make_server, "sslcert-first", store)
    first.start()
    assert waspctl("add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + thumb,
                   store=store, rundir=first.rundir).returncode == 0
    first.stop()

    # made while no waspd runs: read at the next start
    (store / "ccs").mkdir()
    assert waspctl("add", "sslcert", "ccs=443", store=store).returncode == 0

    second = tls_server(make_server, "sslcert-second", store)
    second.start()
    second.wait_log(r"SSL certificate bindings: 2 \(from %s\)" % bindings_file(store))
    assert held(second) == ["ipport=0.0.0.0:443 certhash=%s appid=%s" % (thumb, IIS_APPID),
                            "ccs=443 appid=%s" % IIS_APPID]


def test_broken_file_at_start_leaves_http_running(make_server, tmp_path):
    store = new_store(tmp_path)
    with open(bindings_file(store), "w") as f:
        f.write("ipport=0.0.0.0:443\n")
    s = tls_server(make_server, "sslcert-start", store)
    s.start()
    s.wait_log(r"%s:1: give the certificate: certhash=THUMBPRINT .*waspd runs with no SSL "
               r"certificate bindings until it is fixed" % bindings_file(store))
    assert held(s) == []
    assert harness.get(s.port("main"), "/hello.txt").body == b"hello\n"
