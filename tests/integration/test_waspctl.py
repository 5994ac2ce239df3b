"""
waspctl, wasp's appcmd: the real build/waspctl binary against real files.

Three groups:
  - offline: list / add / set / delete on temporary applicationHost.config
    files, with no waspd (state shows "Unknown", edits keep every other
    byte, refused edits leave the file alone);
  - FakeWaspd: a control socket written from src/common/ctl_proto.h that
    misbehaves on purpose (hangs up mid-command, refuses a reload, does not
    know a pool), for the failure paths a healthy waspd never takes; every
    normal path is tested against the real waspd below;
  - live: a real waspd started by the harness.  The parts that need its
    control socket included.
"""
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import harness
from harness import get, scaled




def waspctl_path():
    return os.path.join(harness.build_dir(), "waspctl")


def waspctl(*args, config=None, rundir=None, env=None, timeout=30):
    """Run build/waspctl; returns CompletedProcess (text)."""
    e = {k: v for k, v in os.environ.items() if k not in ("WASP_CONFIG", "WASP_RUNTIME_DIR")}
    e.update(env or {})
    cmd = [waspctl_path()]
    if config is not None:
        cmd += ["--config", str(config)]
    if rundir is not None:
        cmd += ["--runtime-dir", str(rundir)]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=e, timeout=scaled(timeout))


def lines(text):
    return [l for l in text.splitlines() if l]


CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<!-- wasp test configuration: this comment must survive every edit -->
<configuration>
    <system.applicationHost>
        <applicationPools>
            <add name="DefaultAppPool" managedRuntimeVersion="v4.0" />
            <!-- the classic one -->
            <add name="Classic Pool" managedPipelineMode="Classic" autoStart="false">
                <processModel idleTimeout="00:10:00" />
            </add>
            <applicationPoolDefaults>
                <processModel identityType="ApplicationPoolIdentity" />
            </applicationPoolDefaults>
        </applicationPools>
        <sites>
            <site name="Default Web Site" id="1">
                <application path="/" applicationPool="DefaultAppPool">
                    <virtualDirectory path="/" physicalPath="{www}" />
                    <virtualDirectory path="/img" physicalPath="{www}/img" />
                </application>
                <application path="/old" applicationPool="Classic Pool">
                    <virtualDirectory path="/" physicalPath="{www}/old" />
                </application>
                <bindings>
                    <binding protocol="http" bindingInformation="*:8080:" />
                </bindings>
            </site>
            <site name="Second" id="2" serverAutoStart="false">
                <application path="/" applicationPool="DefaultAppPool">
                    <virtualDirectory path="/" physicalPath="{www}" />
                </application>
                <bindings>
                    <binding protocol="http" bindingInformation="127.0.0.1:8081:second.example" />
                </bindings>
            </site>
        </sites>
    </system.applicationHost>
</configuration>
"""


@pytest.fixture
def cfg(tmp_path):
    """A configuration file in a private directory; returns its path."""
    www = tmp_path / "www"
    www.mkdir()
    p = tmp_path / "applicationHost.config"
    p.write_text(CONFIG.format(www=www))
    return p


@pytest.fixture
def rundir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    return d


NOT_RUNNING = ("ERROR ( message:waspd is not running (no control socket at %s/control.sock). "
               "Start it with waspd --config %s. )\n")


# ---------------------------------------------------------------------------
# A fake waspd control socket (src/common/ctl_proto.h)

def O(text):
    return b"O" + text.encode()


def P(text):
    return b"P" + text.encode()


def D(status, message=""):
    return ("D%d %s" % (status, message)).encode()


def state_reply(pools=(), wps=(), sites=()):
    out = "".join("pool\t%s\t%s\t%s\n" % p for p in pools)
    out += "".join("wp\t%s\t%s\t%s\t%s\t%s\n" % w for w in wps)
    out += "".join("site\t%s\t%s\t%s\n" % s for s in sites)
    return [O(out), D(0)]


class FakeWaspd:
    """Serves <rundir>/control.sock as waspd would: one datagram of
    '\\0'-separated words in, the datagrams handler(words) returns out, then
    close.  Records every command it received."""

    def __init__(self, rundir, handler):
        self.path = os.path.join(str(rundir), "control.sock")
        self.handler = handler
        self.requests = []
        self.raw = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = conn.recv(65536)
                self.raw.append(data)
                words = data.split(b"\0")
                if words and words[-1] == b"":
                    words.pop()
                words = [w.decode() for w in words]
                self.requests.append(words)
                for dg in self.handler(words):
                    conn.send(dg)

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


@pytest.fixture
def fake(rundir):
    """fake(handler) starts a FakeWaspd in rundir; stopped at teardown."""
    made = []

    def start(handler):
        f = FakeWaspd(rundir, handler)
        made.append(f)
        return f

    yield start
    for f in made:
        f.close()


def answering(table):
    """A handler from {first word: datagrams or callable(words)}; anything
    else gets status 2, as waspd answers an unknown command."""
    def handler(words):
        r = table.get(words[0] if words else "")
        if r is None:
            return [D(2, "unknown command")]
        return r(words) if callable(r) else r
    return handler


# ---------------------------------------------------------------------------
# Command line, help, errors

def test_help_lists_every_command(tmp_path):
    for args in (["/?"], ["-?"], ["help"], ["list", "apppool", "/?"]):
        r = waspctl(*args)
        assert r.returncode == 0, (args, r.stderr)
        for cmd in ("list apppool", "list site", "list app", "list vdir", "list wp",
                    "list requests", "list events", "add apppool", "set apppool",
                    "delete apppool", "start apppool", "stop apppool", "recycle apppool",
                    "start site", "stop site", "--config", "--runtime-dir"):
            assert cmd in r.stdout, (args, cmd)


def test_no_command_is_a_usage_error():
    r = waspctl()
    assert r.returncode == 2
    assert "usage: waspctl" in r.stderr
    assert r.stderr.rstrip().endswith(" )")


def test_unknown_command_and_object(cfg):
    r = waspctl("list", "gizmo", config=cfg)
    assert r.returncode == 2
    assert r.stderr == 'ERROR ( message:Unknown object type "gizmo". )\n'
    r = waspctl("frobnicate", "apppool", config=cfg)
    assert r.returncode == 2
    assert r.stderr.startswith('ERROR ( message:Unknown command "frobnicate".')
    # an appcmd command waspctl does not have yet says so
    r = waspctl("restore", "backup", "x", config=cfg)
    assert r.returncode == 2
    assert 'The command "restore" is not supported on object type "backup"' in r.stderr


def test_config_and_runtime_dir_from_environment(cfg, rundir):
    r = waspctl("list", "apppool", "/text:name", env={"WASP_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) == ["DefaultAppPool", "Classic Pool"]
    # --config wins over WASP_CONFIG
    r = waspctl("list", "apppool", config=cfg, env={"WASP_CONFIG": "/nonexistent.config"})
    assert r.returncode == 0, r.stderr
    r = waspctl("recycle", "apppool", "DefaultAppPool",
                env={"WASP_CONFIG": str(cfg), "WASP_RUNTIME_DIR": str(rundir)})
    assert r.returncode == 1
    assert r.stderr == NOT_RUNNING % (rundir, cfg)


def test_missing_config_names_the_file(tmp_path):
    missing = tmp_path / "nope.config"
    r = waspctl("list", "apppool", config=missing)
    assert r.returncode == 1
    assert str(missing) in r.stderr and r.stderr.startswith("ERROR ( message:")
    r = waspctl("add", "apppool", "/name:X", config=missing)
    assert r.returncode == 1
    assert str(missing) in r.stderr and "--config" in r.stderr


# ---------------------------------------------------------------------------
# Lists, offline (state "Unknown": no waspd)

def test_list_apppool_offline(cfg, rundir):
    r = waspctl("list", "apppool", config=cfg, rundir=rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ('APPPOOL "DefaultAppPool" (MgdVersion:v4.0,MgdMode:Integrated,'
                        'state:Unknown)\n'
                        'APPPOOL "Classic Pool" (MgdVersion:,MgdMode:Classic,state:Unknown)\n')
    # plural, case-insensitive, identifier
    r = waspctl("LIST", "AppPools", "classic pool", config=cfg, rundir=rundir)
    assert r.stdout == 'APPPOOL "Classic Pool" (MgdVersion:,MgdMode:Classic,state:Unknown)\n'
    r = waspctl("list", "apppool", "/apppool.name:DefaultAppPool", "/text:name", config=cfg,
                rundir=rundir)
    assert r.stdout == "DefaultAppPool\n"


def test_list_apppool_filters(cfg, rundir):
    def names(*filters):
        r = waspctl("list", "apppool", "/text:name", *filters, config=cfg, rundir=rundir)
        assert r.returncode == 0, r.stderr
        return lines(r.stdout)

    assert names("/managedPipelineMode:Integrated") == ["DefaultAppPool"]
    assert names("-managedPipelineMode:classic") == ["Classic Pool"]
    assert names("/autoStart:false") == ["Classic Pool"]
    # nested attributes resolve own value, then applicationPoolDefaults, then the default
    assert names("/processModel.idleTimeout:00:10:00") == ["Classic Pool"]
    assert names("/processModel.idleTimeout:00:20:00") == ["DefaultAppPool"]
    assert names("/processModel.identityType:ApplicationPoolIdentity") == [
        "DefaultAppPool", "Classic Pool"]
    assert names("/state:Unknown", "/MgdVersion:v4.0") == ["DefaultAppPool"]
    assert names("/state:Started") == []
    r = waspctl("list", "apppool", "/bogus:1", config=cfg, rundir=rundir)
    assert r.returncode == 2
    assert r.stderr == 'ERROR ( message:Unknown attribute "bogus".  Replace with -? for help. )\n'


def test_list_apppool_text_attribute_and_xml(cfg, rundir):
    r = waspctl("list", "apppool", "/text:processModel.idleTimeout", config=cfg, rundir=rundir)
    assert lines(r.stdout) == ["00:20:00", "00:10:00"]
    r = waspctl("list", "apppool", "/xml", config=cfg, rundir=rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<appcmd>\n'
        '    <APPPOOL APPPOOL.NAME="DefaultAppPool" PipelineMode="Integrated" '
        'RuntimeVersion="v4.0" state="Unknown" />\n'
        '    <APPPOOL APPPOOL.NAME="Classic Pool" PipelineMode="Classic" RuntimeVersion="" '
        'state="Unknown" />\n'
        '</appcmd>\n')
    r = waspctl("list", "apppool", "/xml", "/state:Started", config=cfg, rundir=rundir)
    assert r.stdout == '<?xml version="1.0" encoding="UTF-8"?>\n<appcmd>\n</appcmd>\n'


def test_list_apppool_detail(cfg, rundir):
    r = waspctl("list", "apppool", "Classic Pool", "/text:*", config=cfg, rundir=rundir)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:5] == ["APPPOOL", '  APPPOOL.NAME:"Classic Pool"', '  PipelineMode:"Classic"',
                       '  RuntimeVersion:""', '  state:"Unknown"']
    assert out[5] == "  [add]"
    for want in ('    name:"Classic Pool"', '    queueLength:"1000"', '    autoStart:"false"',
                 "    [processModel]", '      idleTimeout:"00:10:00"',
                 '      identityType:"ApplicationPoolIdentity"', "    [recycling]",
                 "      [periodicRestart]", '        time:"1.05:00:00"', "    [failure]",
                 "    [cpu]"):
        assert want in out, want


def test_list_missing_apppool(cfg, rundir):
    r = waspctl("list", "apppool", "Nope", config=cfg, rundir=rundir)
    assert r.returncode == 3
    assert r.stdout == ""
    assert r.stderr == 'ERROR ( message:Cannot find APPPOOL object with identifier "Nope". )\n'


def test_list_site_app_vdir_offline(cfg, rundir, tmp_path):
    www = tmp_path / "www"
    r = waspctl("list", "sites", config=cfg, rundir=rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ('SITE "Default Web Site" (id:1,bindings:http/*:8080:,state:Unknown)\n'
                        'SITE "Second" (id:2,bindings:http/127.0.0.1:8081:second.example,'
                        'state:Unknown)\n')
    r = waspctl("list", "site", "/serverAutoStart:false", "/text:name", config=cfg,
                rundir=rundir)
    assert r.stdout == "Second\n"
    r = waspctl("list", "site", "/xml", "/id:1", config=cfg, rundir=rundir)
    assert ('    <SITE SITE.NAME="Default Web Site" SITE.ID="1" bindings="http/*:8080:" '
            'state="Unknown" />\n') in r.stdout
    r = waspctl("list", "app", config=cfg, rundir=rundir)
    assert r.stdout == ('APP "Default Web Site/" (applicationPool:DefaultAppPool)\n'
                        'APP "Default Web Site/old" (applicationPool:Classic Pool)\n'
                        'APP "Second/" (applicationPool:DefaultAppPool)\n')
    r = waspctl("list", "apps", "/apppool.name:Classic Pool", config=cfg, rundir=rundir)
    assert r.stdout == 'APP "Default Web Site/old" (applicationPool:Classic Pool)\n'
    r = waspctl("list", "app", "/site.name:Second", "/xml", config=cfg, rundir=rundir)
    assert ('    <APP APP.NAME="Second/" APPPOOL.NAME="DefaultAppPool" SITE.NAME="Second" />\n'
            in r.stdout)
    r = waspctl("list", "vdir", config=cfg, rundir=rundir)
    assert r.stdout == ('VDIR "Default Web Site/" (physicalPath:%s)\n'
                        'VDIR "Default Web Site/img" (physicalPath:%s/img)\n'
                        'VDIR "Default Web Site/old/" (physicalPath:%s/old)\n'
                        'VDIR "Second/" (physicalPath:%s)\n' % (www, www, www, www))
    r = waspctl("list", "vdirs", "/app.name:Default Web Site/", "/text:physicalPath",
                config=cfg, rundir=rundir)
    assert lines(r.stdout) == [str(www), "%s/img" % www]
    r = waspctl("list", "site", "Third", config=cfg, rundir=rundir)
    assert r.returncode == 3
    assert r.stderr == 'ERROR ( message:Cannot find SITE object with identifier "Third". )\n'


def test_online_lists_need_waspd(cfg, rundir):
    for obj in ("wp", "requests", "events"):
        r = waspctl("list", obj, config=cfg, rundir=rundir)
        assert r.returncode == 1, obj
        assert r.stderr == NOT_RUNNING % (rundir, cfg), obj


def test_actions_need_waspd(cfg, rundir):
    before = cfg.read_bytes()
    for args in (["start", "apppool", "DefaultAppPool"], ["stop", "apppool", "DefaultAppPool"],
                 ["recycle", "apppool", "/apppool.name:DefaultAppPool"],
                 ["start", "site", "Second"], ["stop", "site", "/site.name:Second"]):
        r = waspctl(*args, config=cfg, rundir=rundir)
        assert r.returncode == 1, args
        assert r.stdout == ""
        assert r.stderr == NOT_RUNNING % (rundir, cfg), args
    assert cfg.read_bytes() == before  # nothing persisted for a command not done


def test_action_without_identifier(cfg, rundir):
    r = waspctl("recycle", "apppool", config=cfg, rundir=rundir)
    assert r.returncode == 2
    assert r.stderr == ('ERROR ( message:Must specify the APPPOOL object with identifier or '
                        '"APPPOOL.NAME" parameter. )\n')


# ---------------------------------------------------------------------------
# add / set / delete apppool, offline

def test_add_set_delete_apppool_keeps_the_rest_of_the_file(cfg, rundir):
    original = cfg.read_text()
    r = waspctl("add", "apppool", "/name:Shop", "/queueLength:2000",
                "/processModel.idleTimeout:00:05:00", config=cfg, rundir=rundir)
    assert (r.returncode, r.stdout, r.stderr) == (0, 'APPPOOL object "Shop" added\n', "")
    added = cfg.read_text()
    # the new pool goes after the last pool, before applicationPoolDefaults
    assert added == original.replace(
        "            <applicationPoolDefaults>",
        '            <add name="Shop" queueLength="2000">\n'
        '                <processModel idleTimeout="00:05:00" />\n'
        "            </add>\n"
        "            <applicationPoolDefaults>")
    r = waspctl("list", "apppool", "Shop", "/text:queueLength", config=cfg, rundir=rundir)
    assert r.stdout == "2000\n"

    r = waspctl("set", "apppool", "Shop", "/processModel.idleTimeout:00:00:00",
                "/recycling.periodicRestart.time:00:00:00", "-managedPipelineMode:Classic",
                config=cfg, rundir=rundir)
    assert (r.returncode, r.stdout, r.stderr) == (0, 'APPPOOL object "Shop" changed\n', "")
    assert ('            <add name="Shop" queueLength="2000" managedPipelineMode="Classic">\n'
            '                <processModel idleTimeout="00:00:00" />\n'
            '                <recycling>\n'
            '                    <periodicRestart time="00:00:00" />\n'
            '                </recycling>\n'
            '            </add>\n') in cfg.read_text()
    r = waspctl("set", "apppool", "/apppool.name:Shop", "/queueLength:3000", config=cfg,
                rundir=rundir)
    assert r.returncode == 0 and r.stdout == 'APPPOOL object "Shop" changed\n'

    r = waspctl("delete", "apppool", "Shop", config=cfg, rundir=rundir)
    assert (r.returncode, r.stdout, r.stderr) == (0, 'APPPOOL object "Shop" deleted\n', "")
    assert cfg.read_text() == original


def test_add_duplicate_apppool(cfg, rundir):
    before = cfg.read_bytes()
    r = waspctl("add", "apppool", "/name:defaultapppool", config=cfg, rundir=rundir)
    assert r.returncode == 1
    assert r.stderr == ('ERROR ( message:Failed to add duplicate collection element '
                        '"defaultapppool". )\n')
    assert cfg.read_bytes() == before


def test_set_missing_apppool(cfg, rundir):
    before = cfg.read_bytes()
    for args in (["set", "apppool", "Nope", "/queueLength:100"], ["delete", "apppool", "Nope"]):
        r = waspctl(*args, config=cfg, rundir=rundir)
        assert r.returncode == 3, args
        assert r.stderr == 'ERROR ( message:Cannot find APPPOOL object with identifier "Nope". )\n'
    assert cfg.read_bytes() == before


def test_set_refused_by_the_loader_leaves_the_file(cfg, rundir):
    before = cfg.read_bytes()
    inode = os.stat(cfg).st_ino
    r = waspctl("set", "apppool", "DefaultAppPool", "/queueLength:5", config=cfg, rundir=rundir)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("ERROR ( message:the change was refused")
    assert "%s:6: Invalid value: <add name=\"DefaultAppPool\" queueLength=\"5\">" % cfg in r.stderr, r.stderr
    assert "between 10 and 65535" in r.stderr
    assert "%s is unchanged" % cfg in r.stderr
    assert cfg.read_bytes() == before and os.stat(cfg).st_ino == inode
    assert sorted(os.listdir(cfg.parent)) == ["applicationHost.config", "run", "www"]


def test_set_unknown_attribute_and_bad_usage(cfg, rundir):
    r = waspctl("set", "apppool", "DefaultAppPool", "/processModel.idelTimeout:00:05:00",
                config=cfg, rundir=rundir)
    assert r.returncode == 2
    assert r.stderr.startswith('ERROR ( message:Unknown attribute "processModel.idelTimeout".')
    r = waspctl("set", "apppool", "DefaultAppPool", config=cfg, rundir=rundir)
    assert r.returncode == 2 and "nothing to set" in r.stderr
    r = waspctl("set", "apppool", "/queueLength:100", config=cfg, rundir=rundir)
    assert r.returncode == 2 and "Must specify the APPPOOL object" in r.stderr
    r = waspctl("add", "apppool", config=cfg, rundir=rundir)
    assert r.returncode == 2 and '"name" parameter' in r.stderr


def test_delete_apppool_in_use_warns(cfg, rundir):
    r = waspctl("delete", "apppool", "Classic Pool", config=cfg, rundir=rundir)
    assert r.returncode == 0
    assert r.stdout == 'APPPOOL object "Classic Pool" deleted\n'
    assert r.stderr.startswith('WARNING ( message:application pool "Classic Pool" is deleted, '
                               'but application "Default Web Site/old" still uses it')
    assert str(cfg) in r.stderr
    assert "Classic Pool" not in cfg.read_text().replace('applicationPool="Classic Pool"', "")
    assert "<!-- the classic one -->" in cfg.read_text()
    # as on IIS the application is then out of service: not listed
    r = waspctl("list", "app", "/text:name", config=cfg, rundir=rundir)
    assert lines(r.stdout) == ["Default Web Site/", "Second/"]


def test_edit_keeps_mode(cfg, rundir):
    os.chmod(cfg, 0o640)
    r = waspctl("add", "apppool", "/name:M", config=cfg, rundir=rundir)
    assert r.returncode == 0, r.stderr
    assert os.stat(cfg).st_mode & 0o7777 == 0o640


# ---------------------------------------------------------------------------
# The client side of the control protocol, against a fake waspd

def test_pool_unknown_to_waspd_is_unknown(cfg, rundir, fake):
    fake(answering({"state": state_reply(pools=[("DefaultAppPool", "Started", "")])}))
    r = waspctl("list", "apppool", "/text:state", config=cfg, rundir=rundir)
    assert lines(r.stdout) == ["Started", "Unknown"]


def test_action_refused_by_waspd(cfg, rundir, fake):
    fake(answering({"start-apppool": [D(3, "no application pool 'Nope'")],
                    "stop-apppool": [P("stopping"), D(1, "pool 'DefaultAppPool' is stopping")],
                    "recycle-apppool": [D(1, "")]}))
    before = cfg.read_bytes()
    r = waspctl("start", "apppool", "Nope", config=cfg, rundir=rundir)
    assert r.returncode == 3
    assert r.stderr == 'ERROR ( message:Cannot find APPPOOL object with identifier "Nope". )\n'
    r = waspctl("stop", "apppool", "DefaultAppPool", config=cfg, rundir=rundir)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "stopping\nERROR ( message:pool 'DefaultAppPool' is stopping )\n"
    r = waspctl("recycle", "apppool", "DefaultAppPool", config=cfg, rundir=rundir)
    assert r.returncode == 1 and r.stderr.startswith("ERROR ( message:")
    assert cfg.read_bytes() == before


def test_waspd_hanging_up_is_an_error(cfg, rundir, fake):
    fake(answering({"recycle-apppool": [P("half way")]}))
    r = waspctl("recycle", "apppool", "DefaultAppPool", config=cfg, rundir=rundir)
    assert r.returncode == 1
    assert "closed the control connection" in r.stderr


def test_stale_socket_is_not_running(cfg, rundir):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(os.path.join(str(rundir), "control.sock"))
    s.close()  # the file stays, nobody listens: a waspd that died
    r = waspctl("recycle", "apppool", "DefaultAppPool", config=cfg, rundir=rundir)
    assert r.returncode == 1
    assert r.stderr == NOT_RUNNING % (rundir, cfg)
    r = waspctl("list", "apppool", "/text:state", config=cfg, rundir=rundir)
    assert lines(r.stdout) == ["Unknown", "Unknown"]


def test_reload_refused_is_reported(cfg, rundir, fake):
    fake(answering({"reload": [D(1, "the file changed again while it was read")]}))
    r = waspctl("add", "apppool", "/name:Shop", config=cfg, rundir=rundir)
    assert r.returncode == 1
    assert r.stdout == 'APPPOOL object "Shop" added\n'
    assert r.stderr == ("ERROR ( message:the change is saved in %s, but waspd did not apply it: "
                        "the file changed again while it was read )\n" % cfg)


# ---------------------------------------------------------------------------
# A real waspd

POOL = "TestPool"


def live_server(make_server, name):
    """One site on the "main" port, root application in POOL (not started)."""
    s = make_server(name)
    port = s.port("main")
    s.pool(POOL)
    s.site("Default Web Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/hello.txt", "hello\n")
    return s


def test_edited_config_is_loaded_by_waspd(make_server):
    """Edits made with waspd stopped give a file waspd serves from."""
    s = make_server("waspctl-edit")
    port = s.port("main")
    s.pool(POOL)
    s.site("Default Web Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/hello.txt", "hello\n")
    with open(s.config_path, "w") as f:
        f.write(s.config_xml())
    for args in (["add", "apppool", "/name:Extra", "/queueLength:50",
                  "/processModel.idleTimeout:00:05:00", "/processModel.shutdownTimeLimit:00:00:20"],
                 ["set", "apppool", POOL, "/processModel.maxProcesses:1", "/queueLength:500"],
                 ["add", "apppool", "/name:Gone"], ["delete", "apppool", "Gone"]):
        r = waspctl(*args, config=s.config_path, rundir=s.rundir)
        assert r.returncode == 0, (args, r.stderr)
    with open(s.config_path) as f:
        edited = f.read()
    s.config_xml = lambda: edited
    s.start()
    assert get(port, "/hello.txt").body == b"hello\n"
    r = waspctl("list", "apppool", "/text:name", config=s.config_path, rundir=s.rundir)
    assert lines(r.stdout) == [POOL, "Extra"]


def test_lists_against_running_waspd(make_server):
    s = live_server(make_server, "waspctl-list")
    s.start()
    www = s.path("www")
    r = waspctl("list", "app", config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == 'APP "Default Web Site/" (applicationPool:%s)\n' % POOL
    r = waspctl("list", "vdir", config=s.config_path, rundir=s.rundir)
    assert r.stdout == 'VDIR "Default Web Site/" (physicalPath:%s)\n' % www
    r = waspctl("list", "site", "/text:bindings", config=s.config_path, rundir=s.rundir)
    assert r.stdout == "http/127.0.0.1:%d:\n" % s.port("main")


def test_live_list_apppool_and_site_state(make_server):
    s = live_server(make_server, "waspctl-state")
    s.start()
    r = waspctl("list", "apppool", config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == 'APPPOOL "%s" (MgdVersion:,MgdMode:Integrated,state:Started)\n' % POOL
    r = waspctl("list", "site", "/text:state", config=s.config_path, rundir=s.rundir)
    assert r.stdout == "Started\n"


def test_live_list_wp(make_server):
    s = live_server(make_server, "waspctl-wp")
    s.start()
    assert get(s.port("main"), "/hello.txt").status == 200
    pid = s.wait_worker(POOL)
    r = waspctl("list", "wp", "/apppool.name:%s" % POOL, config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == 'WP "%d" (applicationPool:%s)\n' % (pid, POOL)


def test_live_recycle_apppool(make_server):
    s = live_server(make_server, "waspctl-recycle")
    s.start()
    port = s.port("main")
    assert get(port, "/hello.txt").status == 200
    old = s.wait_worker(POOL)
    r = waspctl("recycle", "apppool", POOL, config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == '"%s" successfully recycled\n' % POOL
    # the command returns once every old worker has exited
    assert not harness.proc_alive(old)
    assert get(port, "/hello.txt").status == 200
    new = s.wait_worker(POOL, exclude=[old])
    assert new != old
    # Progress on stderr as it happens (overlapped: the replacement runs
    # before the old worker is told to stop), then waspd's final word.
    assert r.stderr.splitlines() == [
        'worker %d of pool "%s": running' % (new, POOL),
        'worker %d of pool "%s": stopping' % (old, POOL),
        'worker %d of pool "%s": exited' % (old, POOL),
        "recycled"], r.stderr


def test_live_stop_and_start_apppool(make_server):
    s = live_server(make_server, "waspctl-stoppool")
    s.start()
    port = s.port("main")
    assert get(port, "/hello.txt").status == 200
    old = s.wait_worker(POOL)
    r = waspctl("stop", "apppool", POOL, config=s.config_path, rundir=s.rundir)
    assert (r.returncode, r.stdout) == (0, '"%s" successfully stopped\n' % POOL), r.stderr
    assert r.stderr.splitlines() == [
        'worker %d of pool "%s": stopping' % (old, POOL),
        'worker %d of pool "%s": exited' % (old, POOL),
        "stopped"], r.stderr
    assert not harness.proc_alive(old)
    assert 'autoStart="false"' in open(s.config_path).read()
    assert get(port, "/hello.txt").status == 503
    r = waspctl("list", "apppool", "/text:state", config=s.config_path, rundir=s.rundir)
    assert r.stdout == "Stopped\n"
    r = waspctl("start", "apppool", POOL, config=s.config_path, rundir=s.rundir)
    assert (r.returncode, r.stdout) == (0, '"%s" successfully started\n' % POOL), r.stderr
    assert r.stderr == "started\n", "no worker to report on: on-demand start"
    assert 'autoStart="true"' in open(s.config_path).read()
    assert get(port, "/hello.txt").status == 200


def test_live_stop_and_start_site(make_server):
    s = live_server(make_server, "waspctl-stopsite")
    s.start()
    port = s.port("main")
    r = waspctl("stop", "site", "Default Web Site", config=s.config_path, rundir=s.rundir)
    assert (r.returncode, r.stdout) == (0, '"Default Web Site" successfully stopped\n'), \
        r.stderr
    assert 'serverAutoStart="false"' in open(s.config_path).read()
    harness.wait_until(lambda: harness.connect_refused(port), scaled(5),
                       what="the stopped site's port to close")
    r = waspctl("start", "site", "Default Web Site", config=s.config_path, rundir=s.rundir)
    assert (r.returncode, r.stdout) == (0, '"Default Web Site" successfully started\n'), \
        r.stderr
    assert get(port, "/hello.txt").status == 200


def test_live_unknown_apppool(make_server):
    s = live_server(make_server, "waspctl-nopool")
    s.start()
    r = waspctl("recycle", "apppool", "Nope", config=s.config_path, rundir=s.rundir)
    assert r.returncode == 3
    assert r.stderr.endswith('ERROR ( message:Cannot find APPPOOL object with identifier '
                             '"Nope". )\n')


def test_live_add_apppool_is_in_force_on_return(make_server):
    s = live_server(make_server, "waspctl-reload")
    s.start()
    r = waspctl("add", "apppool", "/name:Added", "/processModel.shutdownTimeLimit:00:00:20",
                config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    # waspd reloaded before waspctl returned: it knows the pool's state
    r = waspctl("list", "apppool", "Added", "/text:state", config=s.config_path,
                rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert r.stdout in ("Started\n", "Stopped\n")


def test_live_list_requests(make_server):
    s = live_server(make_server, "waspctl-requests")
    s.start()
    port = s.port("main")
    result = {}

    def slow():
        result["r"] = get(port, "/x.wtest?op=sleep&ms=%d" % int(scaled(3000)))

    t = threading.Thread(target=slow)
    t.start()
    try:
        time.sleep(scaled(1.0))
        r = waspctl("list", "requests", "/elapsed:500", config=s.config_path, rundir=s.rundir)
        assert r.returncode == 0, r.stderr
        assert re.fullmatch(r'REQUEST "[0-9a-f]+" \(url:GET /x\.wtest\?op=sleep&ms=\d+, '
                            r'time:\d+ msec, client:127\.0\.0\.1, stage:ExecuteRequestHandler, '
                            r'module:TestModule\)\n',
                            r.stdout), r.stdout
        r = waspctl("list", "requests", "/elapsed:600000", config=s.config_path,
                    rundir=s.rundir)
        assert r.returncode == 0 and r.stdout == ""
    finally:
        t.join(scaled(10))
    assert result["r"].status == 200


def test_live_list_events(make_server):
    s = live_server(make_server, "waspctl-events")
    s.start()
    assert get(s.port("main"), "/hello.txt").status == 200
    r = waspctl("recycle", "apppool", POOL, config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    r = waspctl("list", "events", "/apppool.name:%s" % POOL, config=s.config_path,
                rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout) and all(POOL in l for l in lines(r.stdout))
    r = waspctl("list", "events", "/count:1", config=s.config_path, rundir=s.rundir)
    assert len(lines(r.stdout)) == 1
