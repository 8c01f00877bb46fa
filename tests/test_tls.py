"""wss:// on asyncio and uvloop, with the loop's own transports and with
aiofastnet's.  Certificates come from a throwaway CA made at run time
(trustme), never committed ones."""

import asyncio
import ssl
import sys

import pytest

import picows_like as picows
from helpers import close_client, connect, make_payload, wf, ws_server
from proxy_servers import AFN_PARAMS, HAVE_AIOFASTNET, tls_pair

pytestmark = pytest.mark.asyncio
trustme = pytest.importorskip("trustme")

WSMsgType = picows.WSMsgType


@pytest.fixture(params=AFN_PARAMS)
def afn(request):
    """use_aiofastnet for both ends."""
    return request.param


@pytest.fixture(scope="module")
def tls():
    return tls_pair()


def wss_url(srv, path="/", host="127.0.0.1"):
    return f"wss://{host}:{srv.port}{path}"


@pytest.mark.parametrize("size", [0, 125, 126, 65536, 1024 * 1024])
async def test_wss_echo(tls, afn, size):
    server_ctx, client_ctx = tls
    payload = make_payload(size)
    async with ws_server(ssl=server_ctx, use_aiofastnet=afn) as srv:
        client, cl = await connect(wss_url(srv), ssl_context=client_ctx, use_aiofastnet=afn)
        sl = await srv.next_listener()
        assert client.is_secure and sl.transport.is_secure
        client.send(WSMsgType.BINARY, payload)
        assert await cl.next_message() == (WSMsgType.BINARY, payload)
        await close_client(client)


async def test_wss_many_messages_both_directions(tls, afn):
    server_ctx, client_ctx = tls
    async with ws_server(ssl=server_ctx, use_aiofastnet=afn) as srv:
        client, cl = await connect(wss_url(srv), ssl_context=client_ctx, use_aiofastnet=afn)
        sent = [make_payload(n) for n in (1, 300, 70000, 16384, 16385, 5)] * 3
        for p in sent:
            client.send(WSMsgType.BINARY, p)
        got = [(await cl.next_message())[1] for _ in sent]
        assert got == sent
        await close_client(client)


@pytest.mark.parametrize("default", [{}, {"use_aiofastnet": None}], ids=["omitted", "None"])
async def test_tls_uses_aiofastnet_by_default_when_installed(tls, default):
    server_ctx, client_ctx = tls
    async with ws_server(ssl=server_ctx, **default) as srv:
        client, cl = await connect(wss_url(srv), ssl_context=client_ctx, **default)
        sl = await srv.next_listener()
        for tr in (client, sl.transport):
            module = type(tr.underlying_transport).__module__
            assert module.startswith("aiofastnet") == HAVE_AIOFASTNET, module
            assert tr.underlying_transport.get_extra_info("ssl_object") is not None
        payload = make_payload(300000)
        client.send(WSMsgType.BINARY, payload)
        assert await cl.next_message() == (WSMsgType.BINARY, payload)
        await close_client(client)


async def test_tls_without_aiofastnet_installed_uses_the_loop(tls, monkeypatch):
    monkeypatch.setitem(sys.modules, "aiofastnet", None)       # import fails
    server_ctx, client_ctx = tls
    async with ws_server(ssl=server_ctx) as srv:
        client, cl = await connect(wss_url(srv), ssl_context=client_ctx)
        sl = await srv.next_listener()
        for tr in (client, sl.transport):
            assert not type(tr.underlying_transport).__module__.startswith("aiofastnet")
        client.send(WSMsgType.BINARY, b"hello")
        assert await cl.next_message() == (WSMsgType.BINARY, b"hello")
        await close_client(client)


async def test_plain_server_reports_not_secure():
    async with ws_server() as srv:
        client, cl = await connect(srv.url())
        sl = await srv.next_listener()
        assert not client.is_secure and not sl.transport.is_secure
        await close_client(client)


async def test_default_context_rejects_self_signed_certificate(tls):
    server_ctx, _ = tls
    async with ws_server(ssl=server_ctx) as srv:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await connect(wss_url(srv))
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value).upper().replace(" ", "_")
        assert srv.listeners == []


async def test_certificate_for_another_host_is_rejected():
    server_ctx, client_ctx = tls_pair("other.example")
    async with ws_server(ssl=server_ctx) as srv:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await connect(wss_url(srv), ssl_context=client_ctx)
        assert "127.0.0.1" in str(info.value) or "match" in str(info.value)


async def test_server_hostname_kwarg_reaches_create_connection():
    # The certificate names "localhost" only; we dial 127.0.0.1 and check
    # the certificate against the server_hostname we pass through kwargs.
    server_ctx, client_ctx = tls_pair("localhost")
    async with ws_server(ssl=server_ctx) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(wss_url(srv), ssl_context=client_ctx)
        client, cl = await connect(wss_url(srv), ssl_context=client_ctx,
                                   server_hostname="localhost")
        assert client.is_secure
        await close_client(client)


async def test_unverified_context_is_the_callers_choice(tls, afn):
    server_ctx, _ = tls
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    async with ws_server(ssl=server_ctx, use_aiofastnet=afn) as srv:
        client, cl = await connect(wss_url(srv), ssl_context=insecure, use_aiofastnet=afn)
        client.send(WSMsgType.TEXT, b"hi")
        assert await cl.next_message() == (WSMsgType.TEXT, b"hi")
        await close_client(client)


async def test_wss_client_against_plain_server_fails_with_ssl_error(tls):
    # The plain server waits for an HTTP head that never comes until its
    # handshake timeout, answers 400 in clear text: a TLS error for us.
    _, client_ctx = tls
    async with ws_server(websocket_handshake_timeout=0.3) as srv:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await connect(wss_url(srv), ssl_context=client_ctx)


async def test_ws_client_against_tls_server_fails_cleanly(tls):
    server_ctx, _ = tls
    async with ws_server(ssl=server_ctx, websocket_handshake_timeout=1) as srv:
        with pytest.raises((picows.WSHandshakeError, ConnectionError, asyncio.TimeoutError)):
            await connect(srv.url(), websocket_handshake_timeout=1)
        assert srv.listeners == []


async def test_wss_upgrade_request_and_close_handshake(tls):
    server_ctx, client_ctx = tls
    async with ws_server(ssl=server_ctx) as srv:
        client, cl = await connect(wss_url(srv, "/feed?x=1"), ssl_context=client_ctx)
        sl = await srv.next_listener()
        assert srv.requests[0].path == b"/feed?x=1"
        assert srv.requests[0].headers["Host"] == f"127.0.0.1:{srv.port}"
        client.send_close(picows.WSCloseCode.GOING_AWAY, b"bye")
        await wf(client.wait_disconnected())
        close = await sl.wait_frame(WSMsgType.CLOSE)
        assert close.close_code == picows.WSCloseCode.GOING_AWAY
