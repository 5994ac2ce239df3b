"""
RewriteModule (IIS URL Rewrite, inbound rules) with a real waspd: rewrites
that the client does not see, redirects with back-references and
appendQueryString, conditions (IsFile / IsDirectory, MatchAll / MatchAny,
negate, trackAllCaptures), stopProcessing and rule order, rewrite maps,
functions, CustomResponse, rules in a <location> seeing the URL relative to
it, globalRules before rules, server variables after a rewrite, and the
errors: an invalid pattern (500.50 / 500.51 and a log line naming the file
and line), a rewritten URL with "..", a rewrite into another pool's
application (403.18).

The module is installed the IIS way, by name with IIS' own image path, which
selects the built-in module.
"""
import re
from urllib.parse import parse_qs, urlsplit

import pytest

import harness
from conftest import stop_module_server
from harness import get

POOL = "RwPool"
SITE = "Rewrite Site"
IIS_IMAGE = r"%SystemRoot%\system32\inetsrv\rewrite.dll"

RULES = r"""
<rewrite>
  <globalRules>
    <rule name="GlobalG" stopProcessing="true">
      <match url="^g/(.*)$" />
      <action type="Rewrite" url="/gd/{R:1}" />
    </rule>
  </globalRules>
  <rules>
    <rule name="WwwToBare" stopProcessing="true">
      <match url=".*" />
      <conditions><add input="{HTTP_HOST}" pattern="^www\.(.+)$" /></conditions>
      <action type="Redirect" url="http://{C:1}/{R:0}" />
    </rule>
    <rule name="DistributedSeesOriginal" stopProcessing="true">
      <match url="^g/" />
      <action type="CustomResponse" statusCode="410" statusReason="Seen original" />
    </rule>
    <rule name="DistributedGd" stopProcessing="true">
      <match url="^gd/(.*)$" />
      <action type="Rewrite" url="/static/{R:1}.txt" />
    </rule>
    <rule name="Pretty" stopProcessing="true">
      <match url="^pretty/([a-z]+)$" />
      <action type="Rewrite" url="/static/{R:1}.html" />
    </rule>
    <rule name="Old" stopProcessing="true">
      <match url="^old/(\w+)/(\d+)$" />
      <action type="Redirect" url="/new/{R:2}/{R:1}" redirectType="Permanent" />
    </rule>
    <rule name="OldNoQuery" stopProcessing="true">
      <match url="^old2/(.*)$" />
      <action type="Redirect" url="/n2/{R:1}?fixed=1" appendQueryString="false"
              redirectType="Found" />
    </rule>
    <rule name="Temp" stopProcessing="true">
      <match url="^temp$" />
      <action type="Redirect" url="elsewhere" redirectType="Temporary" />
    </rule>
    <rule name="SeeOther" stopProcessing="true">
      <match url="^seeother$" />
      <action type="Redirect" url="/so?a=b" redirectType="SeeOther" />
    </rule>
    <rule name="Any" stopProcessing="true">
      <match url="^any/" />
      <conditions logicalGrouping="MatchAny">
        <add input="{HTTP_X_A}" pattern="^yes$" />
        <add input="{QUERY_STRING}" pattern="(^|&amp;)b=yes(&amp;|$)" />
      </conditions>
      <action type="Rewrite" url="/static/matched.txt" />
    </rule>
    <rule name="All" stopProcessing="true">
      <match url="^all/" />
      <conditions logicalGrouping="MatchAll">
        <add input="{HTTP_X_A}" pattern="^yes$" />
        <add input="{QUERY_STRING}" pattern="(^|&amp;)b=yes(&amp;|$)" />
      </conditions>
      <action type="Rewrite" url="/static/matched.txt" />
    </rule>
    <rule name="Stop1" stopProcessing="true">
      <match url="^stop/" />
      <action type="Rewrite" url="/static/first.txt" />
    </rule>
    <rule name="Chain1">
      <match url="^chain/(.*)$" />
      <action type="Rewrite" url="/chainb/{R:1}" />
    </rule>
    <rule name="Chain2">
      <match url="^chainb/(.*)$" />
      <action type="Rewrite" url="/static/{R:1}.txt" />
    </rule>
    <rule name="AfterStop">
      <match url="^static/first\.txt$" />
      <conditions><add input="{UNENCODED_URL}" pattern="^/stop/" /></conditions>
      <action type="Rewrite" url="/static/second.txt" />
    </rule>
    <rule name="NoneAction">
      <match url="^none/" />
      <action type="None" />
    </rule>
    <rule name="NoneNext" stopProcessing="true">
      <match url="^none/(.*)$" />
      <action type="Rewrite" url="/static/{R:1}.txt" />
    </rule>
    <rule name="NoneStop" stopProcessing="true">
      <match url="^nonestop/" />
      <action type="None" />
    </rule>
    <rule name="NoneStopNext" stopProcessing="true">
      <match url="^nonestop/(.*)$" />
      <action type="Rewrite" url="/static/{R:1}.txt" />
    </rule>
    <rule name="Lower" stopProcessing="true">
      <match url="^lc/(.*)$" />
      <action type="Rewrite" url="/static/{ToLower:{R:1}}" />
    </rule>
    <rule name="Upper" stopProcessing="true">
      <match url="^uc/(.*)$" />
      <action type="Redirect" url="/U/{ToUpper:{R:1}}" redirectType="Found" />
    </rule>
    <rule name="Enc" stopProcessing="true">
      <match url="^enc/(.*)$" />
      <action type="Redirect" url="/e?v={UrlEncode:{R:1}}&amp;d={UrlDecode:%7Bx%7D}"
              appendQueryString="false" redirectType="Found" />
    </rule>
    <rule name="Forbidden" stopProcessing="true">
      <match url="^forbidden/" />
      <action type="CustomResponse" statusCode="403" subStatusCode="7"
              statusReason="Forbidden by rule"
              statusDescription="Blocked by URL Rewrite for {REQUEST_URI}" />
    </rule>
    <rule name="Abort" stopProcessing="true">
      <match url="^abort$" />
      <action type="AbortRequest" />
    </rule>
    <rule name="Dots" stopProcessing="true">
      <match url="^dots/(.*)$" />
      <action type="Rewrite" url="/static/{R:1}" />
    </rule>
    <rule name="DotLiteral" stopProcessing="true">
      <match url="^dotlit$" />
      <action type="Rewrite" url="/static/../real.txt" />
    </rule>
    <rule name="Cross" stopProcessing="true">
      <match url="^cross$" />
      <action type="Rewrite" url="/otherapp/x.txt" />
    </rule>
    <rule name="Api" stopProcessing="true">
      <match url="^api/(\w+)$" />
      <action type="Rewrite" url="/handler.wtest?op=echo&amp;name={R:1}" />
    </rule>
    <rule name="Vars1">
      <match url="^vars/(.*)$" />
      <action type="Rewrite" url="/varsb/{R:1}?q=2" appendQueryString="false" />
    </rule>
    <rule name="Vars2" stopProcessing="true">
      <match url="^varsb/" />
      <action type="Redirect" redirectType="Found" appendQueryString="false"
              url="/show?url={UrlEncode:{URL}}&amp;qs={UrlEncode:{QUERY_STRING}}&amp;uri={UrlEncode:{REQUEST_URI}}&amp;orig={UrlEncode:{HTTP_X_ORIGINAL_URL}}&amp;unenc={UrlEncode:{UNENCODED_URL}}&amp;file={UrlEncode:{REQUEST_FILENAME}}&amp;httpurl={UrlEncode:{HTTP_URL}}" />
    </rule>
    <rule name="Wild" patternSyntax="Wildcard" stopProcessing="true">
      <match url="wild/*.htm" />
      <action type="Rewrite" url="/static/{R:1}.html" />
    </rule>
    <rule name="Exact" patternSyntax="ExactMatch" stopProcessing="true">
      <match url="exact" />
      <action type="Rewrite" url="/static/first.txt" />
    </rule>
    <rule name="Track" stopProcessing="true">
      <match url="^track$" />
      <conditions trackAllCaptures="true">
        <add input="{HTTP_X_ONE}" pattern="^(a)(b)$" />
        <add input="{HTTP_X_TWO}" pattern="^(c)$" />
      </conditions>
      <action type="Redirect" redirectType="Found" url="/t/{C:0}-{C:1}-{C:2}-{C:3}" />
    </rule>
    <rule name="Disabled" enabled="false" stopProcessing="true">
      <match url="^disabled$" />
      <action type="CustomResponse" statusCode="410" />
    </rule>
    <rule name="RootFirst" stopProcessing="true">
      <match url="^sub/order\.txt$" />
      <action type="Rewrite" url="/static/root-order.txt" />
    </rule>
    <rule name="Legacy" stopProcessing="true">
      <match url=".*" />
      <conditions><add input="{Legacy:{REQUEST_URI}}" pattern="(.+)" /></conditions>
      <action type="Rewrite" url="{C:1}" appendQueryString="false" />
    </rule>
    <rule name="MapDefault" stopProcessing="true">
      <match url="^dflt/.*$" />
      <action type="Rewrite" url="{Fallback:{R:0}}" />
    </rule>
  </rules>
  <rewriteMaps>
    <rewriteMap name="Legacy">
      <add key="/old-page" value="/static/page.html" />
      <add key="/old-first?x=1" value="/static/first.txt" />
    </rewriteMap>
    <rewriteMap name="Fallback" defaultValue="/static/second.txt">
      <add key="dflt/known" value="/static/first.txt" />
    </rewriteMap>
  </rewriteMaps>
  <outboundRules>
    <rule name="Out">
      <match serverVariable="RESPONSE_Server" pattern=".*" />
      <action type="Rewrite" value="hidden" />
    </rule>
  </outboundRules>
</rewrite>
"""

SUB_RULES = r"""<rewrite><rules>
  <rule name="SubRel" stopProcessing="true">
    <match url="^(here)\.txt$" />
    <action type="Rewrite" url="/static/sub-saw-{R:1}.txt" />
  </rule>
  <rule name="SubOrder" stopProcessing="true">
    <match url="^order\.txt$" />
    <action type="Rewrite" url="/static/sub-order.txt" />
  </rule>
  <rule name="SubRelTarget" stopProcessing="true">
    <match url="^reltarget$" />
    <action type="Rewrite" url="target.txt" />
  </rule>
</rules></rewrite>"""

SPA_RULES = r"""<rewrite><rules>
  <rule name="FrontController" stopProcessing="true">
    <match url=".*" />
    <conditions logicalGrouping="MatchAll">
      <add input="{REQUEST_FILENAME}" matchType="IsFile" negate="true" />
      <add input="{REQUEST_FILENAME}" matchType="IsDirectory" negate="true" />
    </conditions>
    <action type="Rewrite" url="index.html" />
  </rule>
</rules></rewrite>"""

NEG_RULES = r"""<rewrite><rules>
  <rule name="NotTxt" stopProcessing="true">
    <match url="\.txt$" negate="true" />
    <action type="Rewrite" url="/static/negated.txt" />
  </rule>
</rules></rewrite>"""

BROKEN_RULES = r"""<rewrite><rules>
  <rule name="Bad">
    <match url="(unclosed" />
    <action type="Rewrite" url="/static/first.txt" />
  </rule>
</rules></rewrite>"""


def enable_rewrite(s):
    """Install and enable RewriteModule as IIS' applicationHost.config does:
    <globalModules><add name="RewriteModule" image="...\\rewrite.dll" />."""
    base = s.config_xml

    def xml():
        x = base()
        x = x.replace('<add name="CustomErrorModule" image="builtin" />',
                      '<add name="CustomErrorModule" image="builtin" />\n'
                      '      <add name="RewriteModule" image="%s" />' % IIS_IMAGE, 1)
        x = x.replace('<add name="CustomErrorModule" />',
                      '<add name="CustomErrorModule" />\n      <add name="RewriteModule" />', 1)
        assert x.count("RewriteModule") == 2, x
        return x
    s.config_xml = xml
    return s


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("rewrite")
    port = s.port("main")
    s.pool(POOL)
    s.pool("OtherPool")
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www"), ("/otherapp", "OtherPool", "other")])
    files = {
        "www/static/page.html": "<p>page</p>\n",
        "www/static/first.txt": "first\n",
        "www/static/second.txt": "second\n",
        "www/static/matched.txt": "matched\n",
        "www/static/mixed.txt": "mixed\n",
        "www/static/sub-saw-here.txt": "sub saw here\n",
        "www/static/root-order.txt": "root order\n",
        "www/static/sub-order.txt": "sub order\n",
        "www/static/negated.txt": "negated\n",
        "www/real.txt": "real\n",
        "www/sub/here.txt": "here itself\n",
        "www/sub/target.txt": "sub target\n",
        "www/spa/index.html": "<p>spa index</p>\n",
        "www/spa/asset.txt": "asset\n",
        "www/spa/dir/index.html": "<p>dir index</p>\n",
        "www/neg/real.txt": "neg real\n",
        "other/x.txt": "other pool\n",
    }
    for rel, content in files.items():
        s.file(rel, content)
    s.webserver_xml.append(RULES)
    s.location(SITE + "/sub", SUB_RULES)
    s.location(SITE + "/spa", SPA_RULES)
    s.location(SITE + "/neg", NEG_RULES)
    s.location(SITE + "/broken", BROKEN_RULES)
    enable_rewrite(s)
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.ports["main"]


def location_of(r):
    loc = r.header("Location")
    assert loc is not None, r
    return loc


# ---------------------------------------------------------------------------
# Rewrite

def test_rewrite_to_static_file_url_unchanged(port):
    r = get(port, "/pretty/page")
    assert r.status == 200, r
    assert r.body == b"<p>page</p>\n"
    assert r.header("Content-Type") == "text/html"
    assert r.header("Location") is None


def test_rewrite_chains_and_none_continues(port):
    r = get(port, "/chain/second")
    assert r.status == 200, r
    assert r.body == b"second\n"
    r = get(port, "/none/first")
    assert r.status == 200, r
    assert r.body == b"first\n"


def test_stop_processing_ends_the_rule_list(port):
    r = get(port, "/stop/anything")
    assert r.status == 200, r
    assert r.body == b"first\n", "AfterStop ran although Stop1 has stopProcessing"
    r = get(port, "/nonestop/first")
    assert r.status == 404, "a None action with stopProcessing must end the list"


def test_disabled_rule_is_skipped(port):
    assert get(port, "/disabled").status == 404


def test_wildcard_and_exact_match(port):
    r = get(port, "/wild/page.htm")
    assert r.status == 200 and r.body == b"<p>page</p>\n", r
    r = get(port, "/EXACT")
    assert r.status == 200 and r.body == b"first\n", r
    assert get(port, "/exactly").status == 404


def test_to_lower_function(port):
    r = get(port, "/lc/MiXeD.TXT")
    assert r.status == 200, r
    assert r.body == b"mixed\n"


def test_rewrite_remaps_the_handler(port):
    """The rewritten *.wtest URL goes to TestModule's handler mapping; the
    handler sees the original request-target and X-Original-URL."""
    r = get(port, "/api/abc?x=1")
    assert r.status == 200, r
    text = r.text
    assert "url=/api/abc?x=1\n" in text, text
    assert "header=X-Original-URL: /api/abc?x=1\n" in text, text


def test_client_cannot_forge_x_original_url(port):
    r = get(port, "/api/abc", headers=[("X-Original-URL", "/forged")])
    assert r.status == 200, r
    assert "header=X-Original-URL: /api/abc\n" in r.text, r.text
    assert "/forged" not in r.text


def test_server_variables_after_rewrite(server, port):
    r = get(port, "/vars/a%20b?orig=1")
    assert r.status == 302, r
    q = parse_qs(urlsplit(location_of(r)).query, keep_blank_values=True)
    assert q["url"] == ["/varsb/a b"], q
    assert q["qs"] == ["q=2"], q
    assert q["uri"] == ["/vars/a%20b?orig=1"], q
    assert q["unenc"] == ["/vars/a%20b?orig=1"], q
    assert q["orig"] == ["/vars/a b?orig=1"], q
    assert q["httpurl"] == ["/varsb/a%20b?q=2"], q
    assert q["file"] == [server.path("www/varsb/a b")], q


# ---------------------------------------------------------------------------
# Redirect

def test_redirect_301_back_references_and_query(port):
    r = get(port, "/old/abc/42?x=1&y=2")
    assert r.status == 301, r
    assert r.reason == "Moved Permanently"
    assert location_of(r) == "http://localhost/new/42/abc?x=1&y=2"
    assert b"Object Moved" in r.body


def test_redirect_without_append_query_string(port):
    r = get(port, "/old2/q?dropped=1")
    assert r.status == 302, r
    assert location_of(r) == "http://localhost/n2/q?fixed=1"


def test_redirect_query_joined_with_ampersand(port):
    r = get(port, "/seeother?c=d")
    assert r.status == 303, r
    assert location_of(r) == "http://localhost/so?a=b&c=d"


def test_redirect_relative_target_307(port):
    r = get(port, "/temp")
    assert r.status == 307, r
    assert location_of(r) == "http://localhost/elsewhere"


def test_canonical_host_redirect_with_condition_capture(port):
    r = get(port, "/some/page?k=v", host="www.example.test")
    assert r.status == 301, r
    assert location_of(r) == "http://example.test/some/page?k=v"


def test_to_upper_url_encode_url_decode(port):
    r = get(port, "/uc/abc")
    assert r.status == 302 and location_of(r) == "http://localhost/U/ABC", r
    r = get(port, "/enc/a%20b%2Fc")
    assert r.status == 302, r
    assert location_of(r) == "http://localhost/e?v=a%20b%2Fc&d={x}"


def test_track_all_captures(port):
    r = get(port, "/track", headers=[("X-One", "ab"), ("X-Two", "c")])
    assert r.status == 302, r
    assert location_of(r) == "http://localhost/t/ab-a-b-c"


# ---------------------------------------------------------------------------
# Conditions

def test_front_controller_is_file_is_directory(port):
    r = get(port, "/spa/some/client/route")
    assert r.status == 200, r
    assert r.body == b"<p>spa index</p>\n"
    r = get(port, "/spa/asset.txt")
    assert r.status == 200 and r.body == b"asset\n", r
    r = get(port, "/spa/dir/")
    assert r.status == 200 and r.body == b"<p>dir index</p>\n", r


@pytest.mark.parametrize("headers,query,expect", [
    ([("X-A", "yes")], "", 200),
    ([], "?b=yes", 200),
    ([("X-A", "yes")], "?b=yes", 200),
    ([("X-A", "no")], "?b=no", 404),
])
def test_match_any(port, headers, query, expect):
    r = get(port, "/any/x" + query, headers=headers)
    assert r.status == expect, r
    if expect == 200:
        assert r.body == b"matched\n"


@pytest.mark.parametrize("headers,query,expect", [
    ([("X-A", "yes")], "?b=yes", 200),
    ([("X-A", "yes")], "", 404),
    ([], "?b=yes", 404),
])
def test_match_all(port, headers, query, expect):
    assert get(port, "/all/x" + query, headers=headers).status == expect


def test_match_negate(port):
    r = get(port, "/neg/page.html")
    assert r.status == 200 and r.body == b"negated\n", r
    r = get(port, "/neg/real.txt")
    assert r.status == 200 and r.body == b"neg real\n", r


# ---------------------------------------------------------------------------
# Maps, levels, global rules

def test_rewrite_map(port):
    r = get(port, "/old-page")
    assert r.status == 200 and r.body == b"<p>page</p>\n", r
    r = get(port, "/OLD-PAGE")        # ignoreCase="true" is the map's default
    assert r.status == 200 and r.body == b"<p>page</p>\n", r
    r = get(port, "/old-first?x=1")   # the key is REQUEST_URI: query included
    assert r.status == 200 and r.body == b"first\n", r
    assert get(port, "/not-in-map").status == 404


def test_rewrite_map_default_value(port):
    r = get(port, "/dflt/known")
    assert r.status == 200 and r.body == b"first\n", r
    r = get(port, "/dflt/unknown")
    assert r.status == 200 and r.body == b"second\n", r


def test_location_rules_see_url_relative_to_location(port):
    r = get(port, "/sub/here.txt")
    assert r.status == 200, r
    assert r.body == b"sub saw here\n"
    r = get(port, "/SUB/here.txt")    # URLs are case-insensitive, as on IIS
    assert r.status == 200 and r.body == b"sub saw here\n", r


def test_location_relative_target(port):
    r = get(port, "/sub/reltarget")
    assert r.status == 200 and r.body == b"sub target\n", r


def test_parent_rules_run_before_location_rules(port):
    r = get(port, "/sub/order.txt")
    assert r.status == 200 and r.body == b"root order\n", r


def test_global_rules_run_before_rules(port):
    r = get(port, "/g/first")
    assert r.status == 200, r
    assert r.body == b"first\n", "the distributed rules must see the globalRules' URL"


# ---------------------------------------------------------------------------
# CustomResponse, AbortRequest

def test_custom_response_403_with_substatus(port):
    r = get(port, "/forbidden/x")
    assert r.status == 403, r
    assert r.reason == "Forbidden by rule"
    assert "HTTP Error 403.7" in r.text, r.text
    assert "Blocked by URL Rewrite for /forbidden/x" in r.text
    assert "RewriteModule" in r.text and "BeginRequest" in r.text


def test_abort_request_answers_400(server, port):
    """AbortRequest: IIS drops the connection; a wasp module cannot yet, so
    the request gets 400 and the log says why."""
    since = server.log_size()
    r = get(port, "/abort")
    assert r.status == 400, r
    server.wait_log(r'rule "Abort" .* aborts the request', since=since)


# ---------------------------------------------------------------------------
# Errors

def test_rewritten_url_with_dot_dot_refused(server, port):
    # %252e%252e decodes once to "%2e%2e", which {R:1} carries into the
    # rewritten URL; decoded again it would be "..".
    r = get(port, "/dots/%252e%252e/real.txt")
    assert r.status == 400, r
    assert b"real\n" != r.body
    r = get(port, "/dotlit")
    assert r.status == 400, r
    r = get(port, "/dots/first.txt")
    assert r.status == 200 and r.body == b"first\n", r


def test_rewrite_into_another_pool_is_403_18(port):
    r = get(port, "/cross")
    assert r.status == 403, r
    assert "HTTP Error 403.18" in r.text, r.text
    assert "OtherPool" in r.text


def config_line(server, needle):
    with open(server.config_path) as f:
        for n, line in enumerate(f, 1):
            if needle in line:
                return n
    raise AssertionError("%r not in the config" % needle)


def test_invalid_pattern_is_500_50_with_file_and_line(server, port):
    r = get(port, "/broken/x")
    assert r.status == 500, r
    assert "HTTP Error 500.50" in r.text, r.text
    line = config_line(server, 'url="(unclosed"')
    pat = (r"\[error\].*%s:%d: rewrite rule \"Bad\": regular expression pattern "
           r"\"\(unclosed\" is not valid" % (re.escape(server.config_path), line))
    server.wait_log(pat)
    # the rest of the site is not affected
    assert get(port, "/pretty/page").status == 200


def test_outbound_rules_warned_not_applied(server, port):
    r = get(port, "/pretty/page")
    assert r.status == 200
    assert r.header("Server") != "hidden"
    server.wait_log(r"\[warn\].*outboundRules are not applied yet")


def test_invalid_global_rule_is_500_51(make_server):
    s = make_server("rewrite-global")
    port = s.port("main")
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/a.txt", "a\n")
    s.webserver_xml.append(r"""<rewrite><globalRules>
      <rule name="BadGlobal"><match url="a[" /><action type="None" /></rule>
    </globalRules></rewrite>""")
    enable_rewrite(s)
    s.start()
    r = get(port, "/a.txt")
    assert r.status == 500, r
    assert "HTTP Error 500.51" in r.text, r.text
    line = config_line(s, 'url="a["')
    s.wait_log(r"%s:%d: rewrite rule \"BadGlobal\"" % (re.escape(s.config_path), line))
