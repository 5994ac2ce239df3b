"""docs/module-guide.md stays true: its example module is extracted from the
page, compiled against include/ only, installed through <globalModules> with
its own declared section, and answers, both directly and through the
PENDING + timer path."""
import os
import re
import subprocess
import time

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guide_source():
    with open(os.path.join(ROOT, "docs", "module-guide.md")) as f:
        text = f.read()
    blocks = re.findall(r"```c\n(.*?)```", text, re.S)
    assert blocks, "docs/module-guide.md has no C example"
    return blocks[0]


def build_guide_module(tmp):
    src = os.path.join(tmp, "hello.c")
    so = os.path.join(tmp, "hello.so")
    with open(src, "w") as f:
        f.write(guide_source())
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                    "-fvisibility=hidden", "-I" + os.path.join(ROOT, "include"), src, "-o", so],
                   check=True)
    os.chmod(so, 0o755)
    return so


SECTIONS = """  <configSections>
    <sectionGroup name="system.applicationHost">
      <section name="applicationPools" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
      <section name="sites" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
    </sectionGroup>
    <sectionGroup name="system.webServer">
      <section name="globalModules" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
      <section name="modules" allowDefinition="MachineToApplication" overrideModeDefault="Deny" />
      <section name="handlers" overrideModeDefault="Deny" />
      <section name="hello" overrideModeDefault="Allow" />
    </sectionGroup>
  </configSections>"""


def webserver(so, delay_ms):
    return """    <globalModules><add name="HelloModule" image="%s" /></globalModules>
    <modules><add name="HelloModule" /></modules>
    <handlers accessPolicy="Read, Script">
      <add name="Hello" path="*.hi" verb="GET" modules="HelloModule" resourceType="Unspecified" requireAccess="Script" />
    </handlers>
    <hello delayMs="%d" />""" % (so, delay_ms)


def run_guide(make_server, delay_ms):
    s = make_server("guide-%d" % delay_ms)
    so = build_guide_module(s.tmp)
    port = s.use_own_webserver("GuidePool", "Guide", 1, webserver(so, delay_ms), SECTIONS)
    s.start()
    t0 = time.monotonic()
    r = harness.get(port, "/hello.hi?you")
    elapsed = time.monotonic() - t0
    assert r.status == 200, r
    assert r.body == b"Hello, you!\n", r.body
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    post = harness.request(port, "POST", "/hello.hi?you", body=b"x")
    assert post.status == 405, post
    return elapsed


def test_guide_example_answers(make_server):
    run_guide(make_server, 0)


def test_guide_example_pending_path(make_server):
    # delayMs from the module's own section: answered through PENDING and a
    # loop timer, so it cannot come back sooner than the delay.
    assert run_guide(make_server, 300) >= 0.3


def test_worker_exports_exactly_the_module_api():
    """Every function include/wasp/module.h declares is exported by
    wasp-worker (a module author never meets an undefined symbol), and the
    worker exports nothing but wasp_* names."""
    with open(os.path.join(ROOT, "include", "wasp", "module.h")) as f:
        declared = set(re.findall(r"\b(wasp_[a-z_]+)\(", f.read())) - {"wasp_module_register"}
    out = subprocess.run(["nm", "-D", "--defined-only",
                          os.path.join(harness.build_dir(), "wasp-worker")],
                         capture_output=True, text=True, check=True).stdout
    exported = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    assert declared <= exported, sorted(declared - exported)
    # The version node, a copy-relocated libc object, and the sanitizer
    # runtime's own symbols in a sanitized build are not ours.
    others = {n for n in exported if not n.startswith(("wasp_", "__asan_", "__ubsan_"))} \
        - {"WASP_1", "stderr"}
    assert not others, sorted(others)
