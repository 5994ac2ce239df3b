"""Fixtures of the wasp integration suite (see harness.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: waits on real timers (sleeps of seconds); never skipped")


@pytest.fixture(autouse=True)
def _wasp_log_guard():
    """Every test fails if an [alert] line or a sanitizer report appears in the
    log of any running waspd while it runs (the final check at stop covers what
    comes after, such as leak reports at exit)."""
    start = {id(s): s.log_size() for s in harness.LIVE_SERVERS}
    yield
    problems = []
    for s in list(harness.LIVE_SERVERS):
        for line in s.log_problems(since=start.get(id(s), 0)):
            problems.append("%s: %s" % (s.name, line))
    if problems:
        for s in harness.LIVE_SERVERS:
            s.failed = True
        pytest.fail("alerts / sanitizer reports in the waspd log during this test:\n  "
                    + "\n  ".join(problems[:20]), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for s in harness.LIVE_SERVERS:
            s.failed = True  # keep its directory for a post-mortem
            rep.sections.append(("waspd log: %s (%s)" % (s.name, s.tmp), s.log_tail(60)))


@pytest.fixture
def make_server():
    """Factory of function-scoped servers: make_server(name) -> WaspServer (not
    started). Every started server is stopped and checked at teardown."""
    created = []

    def make(name="wasp"):
        s = harness.WaspServer(name)
        created.append(s)
        return s

    yield make
    errors = []
    for s in created:
        if s.proc is None:
            s._cleanup()
            continue
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


def stop_module_server(s):
    try:
        s.stop()
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)
