"""
redirection.config (IIS' shared configuration): waspd is given
local/applicationHost.config, and the redirection.config beside it sends it
to shared/applicationHost.config (path written the Windows way, with
backslashes).  The shared file is served, a live edit there applies, and
waspd --check and waspctl (offline) follow the redirection; a bad
redirection.config is an error naming its file and line.
"""
import os
import subprocess

import pytest

import harness
from conftest import stop_module_server
from harness import get, scaled, wait_until
from test_waspctl import waspctl

SITE, POOL = "Shared Site", "SharedPool"

PLACEHOLDER = "<configuration>\n  <!-- the shared file is used instead -->\n</configuration>\n"


def redirection(enabled="true", path=r"..\shared"):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n'
            '  <configSections>\n'
            '    <section name="configurationRedirection" />\n'
            '  </configSections>\n'
            '  <configurationRedirection enabled="%s" path="%s" userName="" password="" />\n'
            '</configuration>\n' % (enabled, path))


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("redirection")
    port = s.port("main")
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/index.html", "index\n")
    s.file("www/home.htm", "home\n")
    s.mkdir("shared")
    s.file("local/applicationHost.config", PLACEHOLDER)
    s.file("local/redirection.config", redirection())
    s.launch_config = s.path("local/applicationHost.config")
    s.config_path = s.path("shared/applicationHost.config")
    s.start()
    yield s
    stop_module_server(s)


def check(config):
    return subprocess.run([os.path.join(harness.build_dir(), "waspd"), "--check", "--config",
                           config], capture_output=True, text=True, timeout=scaled(60))


def test_shared_file_is_served_and_edited_live(server):
    port = server.ports["main"]
    assert get(port, "/").body == b"index\n"
    server.wait_log(r"redirected by redirection.config to .*/shared/applicationHost.config")
    server.default_documents = ["home.htm"]
    server.write_config()  # into shared/
    wait_until(lambda: get(port, "/").body == b"home\n", scaled(10),
               what="the edit of the shared file applied")


def test_check_and_waspctl_follow_the_redirection(server):
    local = server.launch_config
    r = check(local)
    assert r.returncode == 0, r.stdout
    assert ("ok  %s: redirected by redirection.config to %s"
            % (local, server.config_path)) in r.stdout.splitlines()
    assert "ok  %s" % server.config_path in r.stdout.splitlines()
    r = waspctl("list", "config", SITE, "-section:defaultDocument", "/text:enabled",
                config=local)
    assert (r.returncode, r.stdout) == (0, "true\n"), r.stderr
    r = waspctl("set", "config", "-section:directoryBrowse", "/enabled:true", config=local)
    assert r.returncode == 0, r.stderr
    with open(server.config_path) as f:
        assert '<directoryBrowse enabled="true"' in f.read()
    with open(local) as f:
        assert f.read() == PLACEHOLDER


@pytest.mark.parametrize("text,line,words", [
    (redirection(enabled="yes"), 6, 'enabled="yes" of configurationRedirection is not valid'),
    (redirection(path=""), 6, "has no path"),
    (redirection(path=r"\\fileserver\config"), 6, "UNC path"),
    (redirection(path="nowhere"), 6, "nowhere/applicationHost.config cannot be read"),
])
def test_bad_redirection_names_file_and_line(tmp_path, text, line, words):
    (tmp_path / "applicationHost.config").write_text(PLACEHOLDER)
    (tmp_path / "redirection.config").write_text(text)
    r = check(str(tmp_path / "applicationHost.config"))
    assert r.returncode == 1
    assert r.stdout.startswith("%s:%d: " % (tmp_path / "redirection.config", line)), r.stdout
    assert words in r.stdout


def test_disabled_redirection_reads_the_local_file(tmp_path):
    (tmp_path / "applicationHost.config").write_text(PLACEHOLDER)
    (tmp_path / "redirection.config").write_text(redirection(enabled="false"))
    r = check(str(tmp_path / "applicationHost.config"))
    assert r.returncode == 0, r.stdout
    assert "redirected" not in r.stdout
