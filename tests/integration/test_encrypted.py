"""
Encrypted attributes (WaspAesProvider) with the real binaries:

  - waspctl set apppool writes processModel.password encrypted (the
    plain text is nowhere in the file), making the key file with mode 0600;
    waspd, given that key, loads the file, serves, and applies a later
    waspctl change of the password; the pool's worker gets the value still
    encrypted in its copy of the file;
  - a value of a Windows provider: waspd and waspctl list refuse the file
    with the attribute, the file and the line;
  - another key: waspd refuses to start, and a running waspd refuses the
    edit and keeps serving with the last good configuration;
  - waspctl encrypt prints a value waspd reads; a key file others may read is
    refused.
"""
import os
import re
import stat
import subprocess

import harness
from harness import get, scaled

SECRET = "Tr0ub4dor&3"


def waspctl(*args, key=None, stdin=None, env=None):
    cmd = [os.path.join(harness.build_dir(), "waspctl")]
    if key is not None:
        cmd += ["--config-key", key]
    e = {k: v for k, v in os.environ.items()
         if k not in ("WASP_CONFIG", "WASP_RUNTIME_DIR", "WASP_CONFIG_KEY")}
    e.update(env or {})
    return subprocess.run(cmd + [str(a) for a in args], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=e, timeout=scaled(30))


def run_waspd(s, key):
    """waspd on s's file, expected to refuse it at start."""
    return subprocess.run([os.path.join(s.build, "waspd"), "--config", s.config_path,
                           "--runtime-dir", s.rundir, "--config-key", key],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=scaled(10))


def specific_user_server(make_server, name):
    """A server whose pool runs as SpecificUser 'nobody', its file written
    (not started) so that waspctl can edit it first."""
    s = make_server(name)
    port = s.port("main")
    s.pool("SecretPool", process_model={"identityType": "SpecificUser", "userName": "nobody"})
    s.site("Secret Site", ["127.0.0.1:%d:" % port], [("/", "SecretPool", "www")])
    s.file("www/hello.txt", "hello\n")
    with open(s.config_path, "w") as f:
        f.write(s.config_xml())
    os.chmod(s.config_path, 0o644)
    return s, port


def start_with_file(s, key):
    """Start waspd on the file as it is on disk (with the key)."""
    with open(s.config_path) as f:
        s.config_text = f.read()
    s.extra_args = ["--config-key", key]
    s.start()


def password_line(path):
    """(line number, value) of the password attribute in the file."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = re.search(r'password="([^"]*)"', line)
            if m:
                return n, m.group(1)
    raise AssertionError("no password attribute in %s" % path)


def test_waspctl_encrypts_and_waspd_reads(make_server):
    s, port = specific_user_server(make_server, "enc-set")
    key = s.path("config.key")
    r = waspctl("--config", s.config_path, "set", "apppool", "SecretPool",
                "/processModel.password:" + SECRET, key=key)
    assert r.returncode == 0, r.stderr
    assert r.stdout == 'APPPOOL object "SecretPool" changed\n'
    text = open(s.config_path).read()
    assert SECRET not in text
    _, value = password_line(s.config_path)
    assert re.fullmatch(r"\[enc:WaspAesProvider:[A-Za-z0-9+/]+={0,2}:enc\]", value), value
    st = os.stat(key)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    assert st.st_uid == os.geteuid()

    start_with_file(s, key)
    assert get(port, "/hello.txt").body == b"hello\n"
    # The worker's copy keeps the value encrypted: the pool's user cannot
    # read the key, and needs no password.
    copy = os.path.join(s.rundir, "pools", "SecretPool.config")
    assert password_line(copy)[1] == value
    assert SECRET not in open(copy).read()

    # A new password while waspd runs: waspd decrypts it and applies it.
    r = waspctl("--config", s.config_path, "--runtime-dir", s.rundir, "set", "apppool",
                "SecretPool", "/processModel.password:new-" + SECRET, key=key)
    assert r.returncode == 0, r.stderr
    assert password_line(s.config_path)[1] != value
    assert get(port, "/hello.txt").body == b"hello\n"
    assert SECRET not in s.log_text()


def test_windows_provider_refused_with_line(make_server):
    s, _ = specific_user_server(make_server, "enc-windows")
    key = s.path("config.key")
    r = waspctl("--config", s.config_path, "set", "apppool", "SecretPool",
                "/processModel.password:x", key=key)
    assert r.returncode == 0, r.stderr
    line, value = password_line(s.config_path)
    text = open(s.config_path).read().replace(
        value, "[enc:IISWASOnlyAesProvider:9mM2ovvK6I1KeNdmNtr4fftObncukaJ9aSnxtLV4ZJs=:enc]")
    with open(s.config_path, "w") as f:
        f.write(text)
    want = ("%s:%d: Attribute 'password' (applicationHost.config line %d) is encrypted with the "
            "Windows provider 'IISWASOnlyAesProvider', which wasp cannot read: set it again with "
            "waspctl (it encrypts with WaspAesProvider) or write it in plain text"
            % (s.config_path, line, line))
    p = run_waspd(s, key)
    assert p.returncode == 1, p
    assert want in p.stderr, p.stderr
    r = waspctl("--config", s.config_path, "list", "apppool")
    assert r.returncode == 1
    assert r.stderr == "ERROR ( message:%s )\n" % want
    # An edit of something else is refused too: waspd would refuse the result.
    r = waspctl("--config", s.config_path, "set", "apppool", "SecretPool", "/queueLength:500",
                key=key)
    assert r.returncode == 1
    assert r.stderr == ("ERROR ( message:the change was refused because waspd could not load "
                        "the result: %s. %s is unchanged )\n" % (want, s.config_path))
    assert open(s.config_path).read() == text
    # The fix the message names: set it again with waspctl.
    r = waspctl("--config", s.config_path, "set", "apppool", "SecretPool",
                "/processModel.password:" + SECRET, key=key)
    assert r.returncode == 0, r.stderr
    assert "IISWASOnlyAesProvider" not in open(s.config_path).read()
    r = waspctl("--config", s.config_path, "list", "apppool")
    assert r.returncode == 0 and r.stdout.startswith('APPPOOL "SecretPool"'), r


def test_other_key_refused(make_server):
    s, port = specific_user_server(make_server, "enc-wrong-key")
    key, other = s.path("config.key"), s.path("other.key")
    r = waspctl("--config", s.config_path, "set", "apppool", "SecretPool",
                "/processModel.password:" + SECRET, key=key)
    assert r.returncode == 0, r.stderr
    line, value = password_line(s.config_path)
    assert waspctl("encrypt", "unused", key=other).returncode == 0  # makes other.key
    p = run_waspd(s, other)
    assert p.returncode == 1, p
    assert ("%s:%d: Attribute 'password' (applicationHost.config line %d) could not be "
            "decrypted with the key in %s: the value was changed, or it was encrypted with "
            "another key" % (s.config_path, line, line, other)) in p.stderr, p.stderr

    # Running with the right key, a hand edit with another key's value is
    # refused; the last good configuration keeps serving.
    start_with_file(s, key)
    assert get(port, "/hello.txt").body == b"hello\n"
    foreign = waspctl("encrypt", SECRET, key=other).stdout.strip()
    since = s.log_size()
    text = open(s.config_path).read().replace(value, foreign)
    with open(s.config_path + ".new", "w") as f:
        f.write(text)
    os.rename(s.config_path + ".new", s.config_path)
    s.wait_log(r"The configuration was not applied: .*applicationHost\.config:%d: Attribute "
               r"'password' .* could not be decrypted with the key in " % line, since=since)
    assert get(port, "/hello.txt").body == b"hello\n"


def test_encrypt_command(make_server):
    s, port = specific_user_server(make_server, "enc-paste")
    key = s.path("config.key")
    r = waspctl("encrypt", SECRET, key=key)
    assert r.returncode == 0, r.stderr
    value = r.stdout.strip()
    assert r.stdout == value + "\n"
    assert value.startswith("[enc:WaspAesProvider:") and SECRET not in value
    # from standard input (kept out of the process list), key from the environment
    r2 = waspctl("encrypt", stdin=SECRET + "\n", env={"WASP_CONFIG_KEY": key})
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.startswith("[enc:WaspAesProvider:") and r2.stdout != r.stdout
    # a text that looks like a parameter is still the text
    assert waspctl("encrypt", "/processModel.password:x", key=key).returncode == 0
    # pasted by hand, waspd reads it
    text = open(s.config_path).read().replace(
        'userName="nobody"', 'userName="nobody" password="%s"' % value)
    with open(s.config_path, "w") as f:
        f.write(text)
    start_with_file(s, key)
    assert get(port, "/hello.txt").body == b"hello\n"


def test_open_key_file_refused(make_server):
    s, _ = specific_user_server(make_server, "enc-open-key")
    key = s.path("config.key")
    assert waspctl("encrypt", "x", key=key).returncode == 0
    os.chmod(key, 0o644)
    before = open(s.config_path).read()
    r = waspctl("--config", s.config_path, "set", "apppool", "SecretPool",
                "/processModel.password:" + SECRET, key=key)
    assert r.returncode == 1
    assert ("the key file %s has mode 0644: group or others may read or change it"
            % key) in r.stderr
    assert "chmod 600 %s" % key in r.stderr
    assert open(s.config_path).read() == before
    # a value of another provider given by hand is refused before writing
    r = waspctl("--config", s.config_path, "set", "apppool", "SecretPool",
                "/processModel.password:[enc:AesProvider:AAAA:enc]", key=key)
    assert r.returncode == 2
    assert "Windows provider 'AesProvider'" in r.stderr
    assert open(s.config_path).read() == before
