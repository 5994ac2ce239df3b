"""The integrated pipeline's IIS semantics, observed through three probe
modules (tests/modules/probe_module.c): ProbeB at HIGH priority, ProbeC and
ProbeA at LOW, listed in <modules> as ProbeC, ProbeA, ProbeB.

- every event runs its handlers, then its post-event handlers, in IIS' order;
- within an event: priority first (HIGH before LOW), ties in <modules> order;
- ExecuteRequestHandler goes only to the mapped handler's module (ProbeA);
- SendResponse runs in the inverted order;
- FINISH skips to SendResponse; a failure sets status.substatus and does too;
- PENDING stops the walk and a later resume continues exactly where it was;
- LogRequest and EndRequest run after the response is sent.
"""
import os
import time

import harness

ORDERED = ["BeginRequest", "AuthenticateRequest", "AuthorizeRequest", "ResolveRequestCache",
           "MapRequestHandler", "AcquireRequestState", "PreExecuteRequestHandler",
           "ExecuteRequestHandler", "ReleaseRequestState", "UpdateRequestCache"]
NORMAL = ["ProbeB", "ProbeC", "ProbeA"]      # HIGH, then LOW in <modules> order
SEND = ["ProbeA", "ProbeC", "ProbeB"]        # inverted


def expected_trace(stop_after=None, stop_module=None):
    """The X-Trace a request produces; with stop_after, the walk ends (FINISH)
    at that event's stop_module, then SendResponse."""
    out = []
    for ev in ORDERED:
        mods = ["ProbeA"] if ev == "ExecuteRequestHandler" else NORMAL
        for m in mods:
            out.append("%s:%s" % (m, ev))
            if ev == stop_after and m == stop_module:
                return out + ["%s:SendResponse" % m for m in SEND]
        out.extend("%s:Post%s" % (m, ev) for m in NORMAL)
    return out + ["%s:SendResponse" % m for m in SEND]


def webserver(s):
    probes = "".join('<add name="%s" image="%s" />' % (n, s.module_image(
        os.path.join(s.build, "tests", "wasp_probe_%s.so" % n))) for n in ("ProbeA", "ProbeB",
                                                                          "ProbeC"))
    return """    <globalModules>%s</globalModules>
    <modules><add name="ProbeC" /><add name="ProbeA" /><add name="ProbeB" /></modules>
    <handlers accessPolicy="Read, Script">
      <add name="Probe" path="*.probe" verb="*" modules="ProbeA" resourceType="Unspecified" requireAccess="Script" />
    </handlers>""" % probes


def start(make_server):
    s = make_server("pipeline")
    port = s.use_own_webserver("ProbePool", "Probe", 7, webserver(s))
    s.start()
    return s, port


def probe_lines(s, since):
    return [l.split("probe ", 1)[1].strip() for l in s.log_text(since).splitlines()
            if "probe Probe" in l]


def trace_of(r):
    return (r.header("X-Trace") or "").split(",")


def test_event_order_priorities_and_send_response_inversion(make_server):
    s, port = start(make_server)
    since = s.log_size()
    r = harness.get(port, "/x.probe")
    assert r.status == 200 and r.body == b"probed\n", r
    assert trace_of(r) == expected_trace()
    # LogRequest and EndRequest come after the response left, in order.
    want = ["%s:%s" % (m, ev) for ev in ("LogRequest", "PostLogRequest", "EndRequest",
                                         "PostEndRequest") for m in NORMAL]
    harness.wait_until(lambda: len(probe_lines(s, since)) >= len(want),
                       harness.scaled(5), what="LogRequest/EndRequest probes in the log")
    assert probe_lines(s, since) == want


def test_finish_skips_to_send_response(make_server):
    s, port = start(make_server)
    r = harness.get(port, "/x.probe?finish=AuthorizeRequest&who=ProbeC")
    assert r.status == 200 and r.body == b"", r
    assert trace_of(r) == expected_trace("AuthorizeRequest", "ProbeC")


def test_fail_sets_status_and_skips(make_server):
    s, port = start(make_server)
    r = harness.get(port, "/x.probe?fail=MapRequestHandler&who=ProbeB")
    assert r.status == 404, r
    assert trace_of(r) == expected_trace("MapRequestHandler", "ProbeB")


def test_pending_resumes_where_it_stopped(make_server):
    s, port = start(make_server)
    t0 = time.monotonic()
    r = harness.get(port, "/x.probe?pending=ResolveRequestCache&who=ProbeA")
    assert time.monotonic() - t0 >= 0.05
    assert r.status == 200 and r.body == b"probed\n", r
    assert trace_of(r) == expected_trace()


def test_pending_in_post_event(make_server):
    s, port = start(make_server)
    r = harness.get(port, "/x.probe?pending=PostExecuteRequestHandler&who=ProbeC")
    assert r.status == 200 and r.body == b"probed\n", r
    assert trace_of(r) == expected_trace()
