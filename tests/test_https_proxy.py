"""https:// proxies: HTTP CONNECT over TLS to the proxy itself.

An in-process HTTPS CONNECT proxy (asyncio server, certificate from a
throwaway trustme CA) forwards bytes to a picows_like server.  ws:// targets
speak inside the proxy's TLS; wss:// targets get a second TLS session inside
it.  Every test runs on asyncio and uvloop (conftest); the data-path tests
also with and without aiofastnet.
"""

import asyncio
import base64
import importlib.util
import os
import socket
import ssl
import sys
import time
from typing import Tuple
from unittest.mock import Mock

import pytest

trustme = pytest.importorskip("trustme")

import picows_like as picows
from helpers import RecordingListener, close_client, connect, make_payload, wf, ws_server
from picows_like.proxy import HTTPProxyConnectProtocol, WSProxyError
from proxy_servers import AFN_PARAMS, HttpsConnectProxy, free_port

WSMsgType = picows.WSMsgType


class Pki:
    """A CA and the contexts made from it: `server` presents a certificate
    for `names`, `client` trusts the CA."""

    def __init__(self, *names: str):
        self.ca = trustme.CA()
        cert = self.ca.issue_cert(*(names or ("127.0.0.1", "localhost")))
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.server)
        self.client = ssl.create_default_context()
        self.ca.configure_trust(self.client)


@pytest.fixture(scope="module")
def proxy_pki():
    return Pki()


@pytest.fixture(scope="module")
def target_pki():
    return Pki()        # another CA: each context must go to its own hop


async def echo_ok(transport, listener, payload=b"hello"):
    transport.send(WSMsgType.BINARY, payload)
    assert await listener.next_message() == (WSMsgType.BINARY, payload)


def target_server(secure: bool, target_pki: Pki, **kwargs):
    return ws_server(ssl=target_pki.server if secure else None, **kwargs)


def target_url(secure: bool, srv, path: str = "/") -> str:
    return f"{'wss' if secure else 'ws'}://127.0.0.1:{srv.port}{path}"


# =============================================================================
# The data path
# =============================================================================

@pytest.mark.parametrize("use_aiofastnet", AFN_PARAMS)
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_echo_through_https_proxy(proxy_pki, target_pki, secure, use_aiofastnet):
    async with target_server(secure, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server) as proxy:
        client, cl = await connect(target_url(secure, srv, "/secret-path"),
                                   proxy=proxy.url(), proxy_ssl_context=proxy_pki.client,
                                   ssl_context=target_pki.client,
                                   use_aiofastnet=use_aiofastnet)
        await echo_ok(client, cl, b"private payload")
        big = make_payload(1024 * 1024 + 7)
        await echo_ok(client, cl, big)          # flow control through both layers
        assert proxy.requests == [(f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1",
                                   {"host": f"127.0.0.1:{srv.port}"})]
        assert [r.path for r in srv.requests] == [b"/secret-path"]
        tls = client.underlying_transport
        assert tls.get_extra_info("sslcontext") is not None
        if secure:
            # TLS inside TLS: the proxy relays the target's TLS records only,
            # and the session we hold is the target's, verified by ssl_context.
            assert b"secret-path" not in proxy.forwarded
            assert b"private payload" not in proxy.forwarded
            assert tls.get_extra_info("sslcontext") is target_pki.client
        else:
            # TLS to the proxy only: the proxy reads the upgrade request.
            assert b"GET /secret-path HTTP/1.1" in proxy.forwarded
            assert tls.get_extra_info("sslcontext") is proxy_pki.client
        # Underneath it all is our one socket to the proxy.
        peer = tls.get_extra_info("socket").getpeername()
        assert peer == ("127.0.0.1", proxy.port)
        await close_client(client)
        await proxy.wait_ended()


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize(("userinfo", "user", "password"), [
    ("user:secret", "user", "secret"),
    ("us%40er:p%3Ass%20w", "us@er", "p:ss w"),      # percent-encoded in the URL
])
async def test_proxy_authorization_goes_to_the_proxy_only(proxy_pki, target_pki, secure,
                                                         userinfo, user, password):
    async with target_server(secure, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server, auth=(user, password)) as proxy:
        client, cl = await connect(target_url(secure, srv), proxy=proxy.url(userinfo),
                                   proxy_ssl_context=proxy_pki.client,
                                   ssl_context=target_pki.client)
        await echo_ok(client, cl)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert proxy.requests[0][1]["proxy-authorization"] == f"Basic {token}"
        headers = srv.requests[0].headers
        assert "Proxy-Authorization" not in headers and "Authorization" not in headers
        if not secure:
            assert token.encode() not in proxy.forwarded
        await close_client(client)


async def test_redirect_through_https_proxy_opens_a_second_tunnel(proxy_pki):
    def factory(request):
        if request.path == b"/old":
            return picows.WSUpgradeResponseWithListener(
                picows.WSUpgradeResponse.create_redirect_response(301, "/new"), None)
        return RecordingListener(echo=True)

    async with ws_server(factory) as srv, HttpsConnectProxy(proxy_pki.server) as proxy:
        client, cl = await connect(f"ws://127.0.0.1:{srv.port}/old", proxy=proxy.url(),
                                   proxy_ssl_context=proxy_pki.client)
        await echo_ok(client, cl)
        assert [r[0] for r in proxy.requests] == [f"CONNECT 127.0.0.1:{srv.port} HTTP/1.1"] * 2
        assert [r.path for r in srv.requests] == [b"/old", b"/new"]
        await close_client(client)


@pytest.mark.parametrize("kind", ["unconnected", "connected"])
async def test_socket_factory_gets_the_https_proxy(proxy_pki, target_pki, kind):
    seen, made = [], []

    def factory(parsed_url):
        seen.append((parsed_url.scheme, parsed_url.host, parsed_url.port))
        sock = socket.socket(socket.AF_INET)
        if kind == "connected":
            sock.connect((parsed_url.host, parsed_url.port))
        made.append(sock)
        return sock

    async with target_server(True, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server) as proxy:
        client, cl = await connect(target_url(True, srv), proxy=proxy.url(),
                                   proxy_ssl_context=proxy_pki.client,
                                   ssl_context=target_pki.client, socket_factory=factory)
        await echo_ok(client, cl)
        assert seen == [("https", "127.0.0.1", proxy.port)]
        sock = client.underlying_transport.get_extra_info("socket")
        assert sock.getsockname() == made[0].getsockname()
        await close_client(client)


async def test_default_proxy_ssl_context_verifies_the_proxy(proxy_pki, monkeypatch, tmp_path):
    """proxy_ssl_context=None: ssl.create_default_context(), i.e. the system
    CAs (here SSL_CERT_FILE) and the proxy's host name are checked."""
    async with ws_server() as srv, HttpsConnectProxy(proxy_pki.server) as proxy:
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(f"ws://127.0.0.1:{srv.port}/", proxy=proxy.url())
        assert proxy.requests == []             # nothing was sent to an untrusted proxy

        ca_file = tmp_path / "ca.pem"
        proxy_pki.ca.cert_pem.write_to_path(str(ca_file))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        client, cl = await connect(f"ws://127.0.0.1:{srv.port}/", proxy=proxy.url())
        await echo_ok(client, cl)
        await close_client(client)


async def test_proxy_certificate_for_another_name_is_refused(target_pki):
    other = Pki("proxy.example")        # trusted CA, but not issued for 127.0.0.1
    async with ws_server() as srv, HttpsConnectProxy(other.server) as proxy:
        with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
            await connect(f"ws://127.0.0.1:{srv.port}/", proxy=proxy.url(),
                          proxy_ssl_context=other.client)
        assert proxy.requests == []


async def test_target_certificate_is_verified_inside_the_tunnel(proxy_pki, target_pki):
    async with target_server(True, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server) as proxy:
        # The proxy's context does not trust the target's CA.
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(target_url(True, srv), proxy=proxy.url(),
                          proxy_ssl_context=proxy_pki.client,
                          ssl_context=proxy_pki.client)
        assert len(proxy.requests) == 1 and srv.requests == []
        await proxy.wait_ended()


# =============================================================================
# Errors
# =============================================================================

@pytest.mark.parametrize("userinfo", ["", "user:wrong"])
async def test_https_proxy_407(proxy_pki, userinfo):
    python_socks = pytest.importorskip("python_socks")
    async with ws_server() as srv, \
            HttpsConnectProxy(proxy_pki.server, auth=("user", "secret")) as proxy:
        with pytest.raises(WSProxyError, match="HTTP proxy rejected connection with status "
                                               "407 Proxy Authentication Required") as info:
            await connect(f"ws://127.0.0.1:{srv.port}/", proxy=proxy.url(userinfo),
                          proxy_ssl_context=proxy_pki.client)
        exc = info.value
        assert isinstance(exc, picows.WSHandshakeError)
        assert isinstance(exc, python_socks.ProxyError)         # what picows raises
        assert exc.status == 407 and exc.response.status == 407
        assert exc.response.headers["Proxy-Authenticate"] == 'Basic realm="test"'
        assert exc.raw_header.startswith(b"HTTP/1.1 407")
        assert exc.raw_body == b"proxy auth required\n"
        assert "wrong" not in str(exc) and "secret" not in str(exc)
        assert srv.requests == []
        await proxy.wait_ended()


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_https_proxy_403(proxy_pki, target_pki, secure):
    async with target_server(secure, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server, mode="refuse",
                              refusal=(403, "Forbidden", b"not you\n")) as proxy:
        with pytest.raises(WSProxyError, match="status 403 Forbidden") as info:
            await connect(target_url(secure, srv), proxy=proxy.url(),
                          proxy_ssl_context=proxy_pki.client, ssl_context=target_pki.client)
        assert info.value.status == 403 and info.value.raw_body == b"not you\n"
        assert srv.requests == []


async def test_https_proxy_closing_before_replying(proxy_pki):
    async with HttpsConnectProxy(proxy_pki.server, mode="close") as proxy:
        with pytest.raises(WSProxyError, match="HTTP proxy closed the connection before "
                                               "replying"):
            await connect(f"ws://127.0.0.1:{free_port()}/", proxy=proxy.url(),
                          proxy_ssl_context=proxy_pki.client)


async def test_https_proxy_unreachable_is_connection_refused(proxy_pki):
    with pytest.raises(ConnectionRefusedError):
        await connect("ws://127.0.0.1:1/", proxy=f"https://127.0.0.1:{free_port()}",
                      proxy_ssl_context=proxy_pki.client)


@pytest.mark.parametrize("mode", ["silent", "no-tls"])
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_silent_https_proxy_times_out(proxy_pki, target_pki, mode, secure):
    """A proxy that never answers CONNECT (or never starts TLS):
    websocket_handshake_timeout bounds the wait and the connection is closed."""
    async with target_server(secure, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server, mode=mode) as proxy:
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await connect(target_url(secure, srv), proxy=proxy.url(),
                          proxy_ssl_context=proxy_pki.client, ssl_context=target_pki.client,
                          websocket_handshake_timeout=0.3)
        assert time.monotonic() - started < 2.0
        await proxy.wait_ended()            # we hung up
        assert srv.requests == []


async def test_start_tls_failure_closes_the_proxy_connection(proxy_pki, target_pki,
                                                            monkeypatch):
    loop = asyncio.get_running_loop()
    if sys.version_info < (3, 11) and isinstance(loop, asyncio.BaseEventLoop):
        pytest.skip("asyncio before 3.11: TLS inside TLS does not use loop.start_tls")
    seen = []

    async def failing_start_tls(transport, protocol, sslcontext, **kwargs):
        seen.append((protocol, kwargs.get("server_hostname")))
        raise TypeError("nested TLS is not supported here")

    monkeypatch.setattr(loop, "start_tls", failing_start_tls)
    async with target_server(True, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server) as proxy:
        with pytest.raises(TypeError, match="nested TLS is not supported here"):
            await connect(f"wss://localhost:{srv.port}/", proxy=proxy.url(),
                          proxy_ssl_context=proxy_pki.client, ssl_context=target_pki.client,
                          use_aiofastnet=False)
        assert isinstance(seen[0][0], HTTPProxyConnectProtocol)
        assert seen[0][1] == "localhost"        # the target's name, not the proxy's
        await proxy.wait_ended()


async def test_proxy_ssl_context_is_for_https_proxies(proxy_pki):
    with pytest.raises(ValueError, match="only supported for https:// proxies"):
        await connect("ws://127.0.0.1:1/", proxy="http://127.0.0.1:3128",
                      proxy_ssl_context=proxy_pki.client)
    if importlib.util.find_spec("python_socks") is not None:
        # picows ignores it here; a SOCKS hop is never TLS, so say so.
        with pytest.raises(ValueError, match="only supported for https:// proxies"):
            await connect("ws://127.0.0.1:1/", proxy="socks5://127.0.0.1:1080",
                          proxy_ssl_context=proxy_pki.client)
    # Without a proxy it is ignored, as in picows (proxy=os.environ.get(...) code).
    async with ws_server() as srv:
        client, cl = await connect(f"ws://127.0.0.1:{srv.port}/",
                                   proxy_ssl_context=proxy_pki.client)
        await echo_ok(client, cl)
        await close_client(client)


# =============================================================================
# HTTPProxyConnectProtocol on its own
# =============================================================================

def make_protocol(**kwargs):
    protocol = HTTPProxyConnectProtocol("example.com", 443, None, None, **kwargs)
    transport = Mock(spec=asyncio.Transport)
    protocol.connection_made(transport)
    return protocol, transport


async def test_protocol_pauses_reading_once_the_tunnel_is_open():
    protocol, transport = make_protocol()
    transport.write.assert_called_once_with(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    protocol.data_received(b"HTTP/1.1 200 Connection established\r\n")
    transport.pause_reading.assert_not_called()
    protocol.data_received(b"\r\n")
    await wf(protocol.wait_tunnel_established())
    transport.pause_reading.assert_called_once_with()   # the rest is the target's


async def test_protocol_refuses_bytes_after_the_200_in_the_same_read():
    protocol, transport = make_protocol(proxy_name="https://proxy:443")
    protocol.data_received(b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101 ...")
    with pytest.raises(WSProxyError, match=r"unexpected data .*\(proxy https://proxy:443\)"):
        await wf(protocol.wait_tunnel_established())
    transport.abort.assert_called_once_with()


async def test_protocol_keeps_a_refusal_body_that_arrives_in_pieces():
    protocol, transport = make_protocol()
    protocol.data_received(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 12\r\n\r\nnot ")
    await asyncio.sleep(0)
    assert not protocol._tunnel_established.done()     # waits for the declared body
    protocol.data_received(b"allowed\nEXTRA")
    with pytest.raises(WSProxyError, match="status 403 Forbidden") as info:
        await wf(protocol.wait_tunnel_established())
    assert info.value.raw_body == b"not allowed\n" and info.value.status == 403
    assert info.value.response.body == b"not allowed\n"


async def test_protocol_does_not_wait_forever_for_a_refusal_body():
    protocol, transport = make_protocol()
    protocol.data_received(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                           b"Content-Length: 1000\r\n\r\npartial")
    started = time.monotonic()
    with pytest.raises(WSProxyError, match="status 407") as info:
        await wf(protocol.wait_tunnel_established())
    assert time.monotonic() - started < 2.0
    assert info.value.raw_body == b"partial"
    transport.abort.assert_called_once_with()


async def test_protocol_unknown_status_keeps_the_code():
    protocol, _ = make_protocol()
    protocol.data_received(b"HTTP/1.1 499 Whatever\r\n\r\n")
    with pytest.raises(WSProxyError, match="rejected connection with status 499") as info:
        await wf(protocol.wait_tunnel_established())
    assert info.value.status == 499 and info.value.response is None


# =============================================================================
# examples/proxy_client.py with an https:// proxy
# =============================================================================

async def run_proxy_client_example(*args: str) -> Tuple[int, str, str]:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [repo] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    uvloop_flag = ["--uvloop"] if type(asyncio.get_running_loop()).__module__.startswith(
        "uvloop") else []
    proc = await asyncio.create_subprocess_exec(
        sys.executable, os.path.join(repo, "examples", "proxy_client.py"), *args, *uvloop_flag,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        out, err = await wf(proc.communicate(), 20)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


async def test_example_proxy_client_through_https_proxy(proxy_pki, target_pki, tmp_path):
    proxy_ca, target_ca = tmp_path / "proxy-ca.pem", tmp_path / "target-ca.pem"
    proxy_pki.ca.cert_pem.write_to_path(str(proxy_ca))
    target_pki.ca.cert_pem.write_to_path(str(target_ca))
    async with target_server(True, target_pki) as srv, \
            HttpsConnectProxy(proxy_pki.server, auth=("user", "pw")) as proxy:
        url = target_url(True, srv)
        code, out, err = await run_proxy_client_example(
            url, "--proxy", proxy.url("user:pw"), "--proxy-cafile", str(proxy_ca),
            "--cafile", str(target_ca), "--message", "hi")
        assert code == 0, err
        assert "reply: hi" in out and "is_secure=True" in out and "user:pw" not in out
        code, out, err = await run_proxy_client_example(
            url, "--proxy", proxy.url("user:pw"), "--cafile", str(target_ca))
        assert code == 1 and "TLS verification failed" in err and "Traceback" not in err
        code, out, err = await run_proxy_client_example(
            url, "--proxy", proxy.url("user:bad"), "--proxy-cafile", str(proxy_ca),
            "--cafile", str(target_ca))
        assert code == 1 and "proxy refused" in err and "407" in err
