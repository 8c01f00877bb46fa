"""Credentials and redirects: what a client sends where, and what it writes
into logs, error messages and reprs.

A redirect to another origin (scheme, host or port differ) must not carry
the caller's Authorization / Cookie / Proxy-Authorization headers nor the
credentials of the URL's userinfo; a same-origin one keeps them (as
websockets).  A redirect that cannot be followed on what the caller fixed
(sock=, a Unix socket, a host/port override) is refused with a clear error.
URLs with userinfo appear as ``ws://alice:***@host/`` wherever they are
logged, raised or repr'd.
"""

import asyncio
import base64
import contextlib
import logging
import os
import socket
import tempfile

import pytest
from multidict import CIMultiDict

import picows_like as picows
from picows_like import reconnect
from picows_like import url as url_module
from picows_like.url import parse_url
from picows_like.websockets.asyncio.client import connect as pws_connect
from picows_like.websockets.asyncio.client import unix_connect as pws_unix_connect
from picows_like.websockets.exceptions import SecurityError
from helpers import RecordingListener, compute_accept, wf
from proxy_servers import HttpConnectProxy

SECRET = "s3cr3t-pw"
TOKEN = "Bearer tok-XYZZY"
COOKIE = "session=c00kie-42"
PROXY_AUTH = "Basic cHJveHk6c2VjcmV0"
CREDENTIAL_NAMES = {"authorization", "cookie", "proxy-authorization"}
EVERY_SECRET = (SECRET, TOKEN, "tok-XYZZY", "c00kie-42", "cHJveHk6c2VjcmV0",
                base64.b64encode(f"alice:{SECRET}".encode()).decode())


class Site:
    """A raw HTTP/WebSocket server that records each request's path and
    headers.  ``routes[path]`` is ``(status, location)`` for a redirect;
    any other path gets a valid 101.  After the 101 it answers the client's
    CLOSE (or anything) with a CLOSE and hangs up."""

    def __init__(self, routes=None, unix_path=None):
        self.routes = dict(routes or {})
        self.unix_path = unix_path
        self.requests = []            # (path, [(name, value), ...])
        self.port = None
        self._server = None
        self._writers = []
        self.got_request = asyncio.Event()

    async def __aenter__(self):
        if self.unix_path is not None:
            self._server = await asyncio.start_unix_server(self._serve, self.unix_path)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for w in self._writers:
            w.transport.abort()
        self._server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def url(self, path="/", userinfo=""):
        return f"ws://{userinfo}127.0.0.1:{self.port}{path}"

    def headers_of(self, index):
        """The request's headers as {lower-case name: [values]}."""
        out = {}
        for name, value in self.requests[index][1]:
            out.setdefault(name.lower(), []).append(value)
        return out

    async def _serve(self, reader, writer):
        self._writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = [tuple(part.strip() for part in line.split(":", 1))
                   for line in lines[1:] if line]
        self.requests.append((path, headers))
        self.got_request.set()
        if path in self.routes:
            status, location = self.routes[path]
            writer.write(f"HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\n"
                         f"Content-Length: 0\r\n\r\n".encode())
            await writer.drain()
            writer.close()
            return
        key = next(v for n, v in headers if n.lower() == "sec-websocket-key")
        writer.write(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Accept: {compute_accept(key)}"
                     f"\r\n\r\n".encode())
        with contextlib.suppress(Exception):
            if await reader.read(65536):
                writer.write(b"\x88\x02\x03\xe8")         # CLOSE 1000
                await writer.drain()
        writer.close()


async def _core_connect(url, **kwargs):
    transport, listener = await wf(picows.ws_connect(RecordingListener, url, **kwargs))
    return transport


async def _core_close(transport):
    transport.disconnect(False)
    with contextlib.suppress(Exception):
        await wf(transport.wait_disconnected())


def _credential_headers():
    return [("Authorization", TOKEN), ("cookie", COOKIE), ("PROXY-AUTHORIZATION", PROXY_AUTH),
            ("X-Keep", "kept")]


HEADER_FORMS = {
    "dict": lambda: dict(_credential_headers()),
    "multidict": lambda: CIMultiDict(_credential_headers()),
    "pairs": _credential_headers,
    "generator": lambda: (pair for pair in _credential_headers()),
}


# -----------------------------------------------------------------------------
# ws_connect (the picows API)
# -----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [301, 302, 307])
@pytest.mark.parametrize("form", sorted(HEADER_FORMS))
async def test_cross_origin_redirect_drops_credential_headers(status, form):
    async with Site() as target:
        async with Site({"/": (status, target.url("/there"))}) as origin:
            transport = await _core_connect(origin.url(), extra_headers=HEADER_FORMS[form]())
            try:
                first, second = origin.headers_of(0), target.headers_of(0)
                # The origin got everything, the other origin only the harmless header.
                assert first["authorization"] == [TOKEN] and first["cookie"] == [COOKIE]
                assert first["proxy-authorization"] == [PROXY_AUTH]
                assert not CREDENTIAL_NAMES & set(second), second
                assert second["x-keep"] == ["kept"]
                assert target.requests[0][0] == "/there"
            finally:
                await _core_close(transport)


async def test_same_origin_redirect_keeps_credential_headers():
    async with Site() as site:
        site.routes["/old"] = (302, "/new")                # relative: same origin
        transport = await _core_connect(site.url("/old"), extra_headers=_credential_headers())
        try:
            assert [path for path, _ in site.requests] == ["/old", "/new"]
            second = site.headers_of(1)
            assert second["authorization"] == [TOKEN] and second["cookie"] == [COOKIE]
            assert second["proxy-authorization"] == [PROXY_AUTH]
        finally:
            await _core_close(transport)


async def test_credentials_stay_dropped_after_a_cross_origin_hop():
    # A -> B -> A: once the credentials were held back from B, the chain
    # does not pick them up again (websockets' rule).
    async with Site() as a, Site() as b:
        a.routes["/start"] = (307, b.url("/hop"))
        b.routes["/hop"] = (307, a.url("/end"))
        transport = await _core_connect(a.url("/start"), extra_headers=_credential_headers())
        try:
            assert not CREDENTIAL_NAMES & set(b.headers_of(0))
            assert [path for path, _ in a.requests] == ["/start", "/end"]
            assert not CREDENTIAL_NAMES & set(a.headers_of(1))
        finally:
            await _core_close(transport)


async def test_socket_factory_is_asked_again_for_the_new_origin():
    asked = []

    def socket_factory(parsed_url):
        asked.append((parsed_url.host, parsed_url.port))
        return None                     # the default path: connect host:port

    async with Site() as target:
        async with Site({"/": (302, target.url())}) as origin:
            transport = await _core_connect(origin.url(), extra_headers=_credential_headers(),
                                            socket_factory=socket_factory)
            try:
                assert asked == [("127.0.0.1", origin.port), ("127.0.0.1", target.port)]
                assert not CREDENTIAL_NAMES & set(target.headers_of(0))
            finally:
                await _core_close(transport)


def test_origin_compares_scheme_host_and_port():
    base = parse_url("ws://Example.com/a")
    assert base.origin == parse_url("ws://example.com:80/b?x=1").origin
    assert base.origin != parse_url("wss://example.com/a").origin
    assert base.origin != parse_url("ws://example.com:8080/a").origin
    assert base.origin != parse_url("ws://example.org/a").origin


# -----------------------------------------------------------------------------
# No credentials in logs, messages, reprs
# -----------------------------------------------------------------------------

def _assert_no_secret(text):
    for secret in EVERY_SECRET:
        assert secret not in text, f"{secret!r} leaked into {text!r}"


def _assert_clean_records(caplog):
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for record in caplog.records:
        _assert_no_secret(record.getMessage())
        if record.exc_info:
            _assert_no_secret(logging.Formatter().formatException(record.exc_info))


@pytest.mark.parametrize("url, shown", [
    ("ws://alice:pw@host/", "ws://alice:***@host/"),
    ("wss://alice:pw@host:8443/p?q=1", "wss://alice:***@host:8443/p?q=1"),
    ("ws://tokenonly@host/", "ws://***@host/"),
    ("ws://a:b:c@d@host/x@y", "ws://a:***@host/x@y"),
    ("http://bob:pw@proxy:3128", "http://bob:***@proxy:3128"),
    ("bob:pw@proxy:3128", "bob:***@proxy:3128"),
    ("ws://host/path", "ws://host/path"),
])
def test_redact_url(url, shown):
    assert url_module.redact_url(url) == shown


def test_parsed_url_repr_and_invalid_url_errors_are_redacted():
    parsed = parse_url(f"ws://alice:{SECRET}@host/")
    assert SECRET not in repr(parsed) and "alice:***@host" in repr(parsed)
    assert parsed.password == SECRET           # still usable by the code that needs it
    for bad in (f"ws://alice:{SECRET}@host:notaport/", f"http://alice:{SECRET}@host/",
                f"ws://alice:{SECRET}@host/#frag"):
        with pytest.raises(picows.WSInvalidURL) as info:
            parse_url(bad)
        _assert_no_secret(str(info.value) + repr(info.value) + info.value.url)
        assert "alice:***@" in str(info.value)


async def test_bad_proxy_url_error_is_redacted():
    with pytest.raises(picows.WSInvalidURL) as info:
        await picows.ws_connect(RecordingListener, "ws://127.0.0.1:1/",
                                proxy=f"ftp://bob:{SECRET}@127.0.0.1:3128")
    _assert_no_secret(str(info.value) + repr(info.value))


async def test_redirect_logs_and_errors_carry_no_credentials(caplog):
    caplog.set_level(logging.DEBUG)
    async with Site() as target:
        async with Site({"/": (302, target.url("/x"))}) as origin:
            transport = await _core_connect(origin.url(userinfo=f"alice:{SECRET}@"),
                                            extra_headers=_credential_headers())
            await _core_close(transport)
        assert any("redirected" in r.getMessage() and "alice:***@" in r.getMessage()
                   for r in caplog.records)
        # A redirect loop and an exhausted max_redirects raise with the URL in the text.
        async with Site({"/loop": (302, "/loop")}) as looping:
            for kwargs in ({}, {"max_redirects": 1}):
                looping.routes["/loop"] = (302, "/loop" if not kwargs else "/other")
                looping.routes["/other"] = (302, "/loop")
                with pytest.raises(picows.WSHandshakeError) as info:
                    await _core_connect(looping.url("/loop", userinfo=f"alice:{SECRET}@"),
                                        extra_headers=_credential_headers(), **kwargs)
                text = str(info.value) + repr(info.value)
                _assert_no_secret(text)
                assert "alice:***@" in text
    _assert_clean_records(caplog)


async def test_proxy_credentials_stay_with_the_proxy_and_out_of_errors(caplog):
    caplog.set_level(logging.DEBUG)
    async with Site() as target:
        async with Site({"/": (302, target.url())}) as origin, \
                HttpConnectProxy(auth=("bob", SECRET)) as proxy:
            # Both hops go through the proxy, each CONNECT authenticated; the
            # proxy's credentials never reach either server.
            transport = await _core_connect(origin.url(), proxy=proxy.url(f"bob:{SECRET}"))
            await _core_close(transport)
            assert [line.split()[1] for line, _ in proxy.requests] == [
                f"127.0.0.1:{origin.port}", f"127.0.0.1:{target.port}"]
            for site in (origin, target):
                assert not CREDENTIAL_NAMES & set(site.headers_of(0))
            # A wrong password: the 407 error names the proxy, not its credentials.
            with pytest.raises(picows.WSHandshakeError) as info:
                await _core_connect(origin.url(), proxy=proxy.url("bob:wrong-" + SECRET))
            assert "407" in str(info.value)
            _assert_no_secret(str(info.value) + repr(info.value))
    for record in caplog.records:
        _assert_no_secret(record.getMessage())


async def test_reconnecting_client_logs_no_credentials(caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:                  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"ws://alice:{SECRET}@127.0.0.1:{port}/"
    feed = reconnect.ws_connect_forever(RecordingListener, url,
                                        is_retryable=lambda exc: False,
                                        extra_headers=_credential_headers())
    _assert_no_secret(repr(feed))
    with pytest.raises(OSError):
        await wf(feed.wait_stopped())
    assert any("alice:***@" in r.getMessage() for r in caplog.records)
    _assert_clean_records(caplog)


# -----------------------------------------------------------------------------
# The websockets layer
# -----------------------------------------------------------------------------

def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_ws_layer_userinfo_goes_only_to_its_origin():
    async with Site() as target:
        async with Site({"/": (302, target.url("/there"))}) as origin:
            async with pws_connect(origin.url(userinfo=f"alice:{SECRET}@"),
                                   additional_headers={"Cookie": COOKIE, "X-Keep": "kept"},
                                   close_timeout=1) as ws:
                assert ws.request.path == "/there"
            assert origin.headers_of(0)["authorization"] == [_basic("alice", SECRET)]
            assert origin.headers_of(0)["cookie"] == [COOKIE]
            assert not CREDENTIAL_NAMES & set(target.headers_of(0))
            assert target.headers_of(0)["x-keep"] == ["kept"]


async def test_ws_layer_same_origin_redirect_keeps_userinfo_and_headers():
    async with Site({"/old": (301, "/new")}) as site:
        headers = (pair for pair in [("Authorization", TOKEN), ("Cookie", COOKIE)])
        async with pws_connect(site.url("/old", userinfo=f"alice:{SECRET}@"),
                               additional_headers=headers, close_timeout=1) as ws:
            assert ws.request.path == "/new"
        second = site.headers_of(1)
        assert _basic("alice", SECRET) in second["authorization"]
        assert TOKEN in second["authorization"]
        assert second["cookie"] == [COOKIE]


async def test_ws_layer_refuses_any_redirect_over_a_given_socket():
    async with Site({"/old": (302, "/new")}) as site:
        sock = socket.create_connection(("127.0.0.1", site.port))
        try:
            with pytest.raises(ValueError, match="preexisting socket") as info:
                await wf(pws_connect(site.url("/old"), sock=sock, close_timeout=1))
            assert isinstance(info.value, SecurityError)
        finally:
            sock.close()
        assert len(site.requests) == 1


async def test_ws_layer_host_port_override_refuses_cross_origin_redirect():
    async with Site() as other:
        async with Site({"/cross": (302, other.url()), "/same": (302, "/there")}) as site:
            # The URI names a host that does not resolve: host=/port= say where to go.
            uri = "ws://fixed.invalid/"
            with pytest.raises(ValueError, match="cross-origin.*explicit host or port") as info:
                await wf(pws_connect(uri + "cross", host="127.0.0.1", port=site.port))
            assert isinstance(info.value.__cause__, Exception)
            assert other.requests == []
            # Same origin: followed on the same fixed address.
            async with pws_connect(uri + "same", host="127.0.0.1", port=site.port,
                                   close_timeout=1) as ws:
                assert ws.request.path == "/there"


async def test_ws_layer_unix_socket_refuses_cross_origin_redirect():
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ws.sock")
        async with Site({"/cross": (307, "ws://elsewhere.invalid/"), "/same": (307, "/there")},
                        unix_path=path) as site:
            with pytest.raises(ValueError, match="cross-origin.*Unix socket"):
                await wf(pws_unix_connect(path, "ws://localhost/cross"))
            async with pws_unix_connect(path, "ws://localhost/same", close_timeout=1) as ws:
                assert ws.request.path == "/there"
            assert len(site.requests) == 3


async def test_ws_layer_errors_and_logs_carry_no_credentials(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as info:
        pws_connect(f"ws://alice:{SECRET}@host:badport/")
    _assert_no_secret(str(info.value) + repr(info.value))
    async with Site() as target:
        async with Site({"/": (302, target.url())}) as origin:
            async with pws_connect(origin.url(userinfo=f"alice:{SECRET}@"),
                                   close_timeout=1):
                pass
    assert any("alice:***@" in r.getMessage() or "redirected" in r.getMessage()
               for r in caplog.records)
    _assert_clean_records(caplog)
