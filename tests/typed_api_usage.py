"""A typed user of picows_like: every public name, checked by `mypy --strict`
(tests/test_cython_api.py::test_mypy_strict) and run for real
(tests/test_cython_api.py::test_typed_api_usage_runs).

Annotations are deliberately explicit so that a wrong stub makes mypy fail, and
`wrong_calls()` (never run) holds calls the types must reject: each carries a
`# type: ignore[...]`, which --strict (warn_unused_ignores) reports as unused the day a
keyword's type is loosened to Any.
Run it alone with `python tests/typed_api_usage.py`.
"""
import asyncio
import logging
import socket
from http import HTTPStatus
from typing import Dict, List, Optional, Union

import picows_like
from picows_like import (PICOWS_DEBUG_LL, WSAutoPingStrategy, WSBuffer, WSCloseCode,
                         WSCloseHandshake, WSCloseInfo, WSConnectionClosedBeforeHandshake,
                         WSError, WSFrame, WSHandshakeError,
                         WSHeadersLike, WSHost, WSInvalidHeaderError, WSInvalidMessageError,
                         WSInvalidStatusError, WSInvalidUpgradeError, WSInvalidURL, WSListener,
                         WSMsgType, WSParsedURL, WSPerMessageDeflate, WSPort,
                         WSProtocolError, WSProxyError, WSRedirectError, WSTransport,
                         WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener,
                         is_valid_utf8, ws_connect, ws_create_server)

EXTRA_HEADERS: WSHeadersLike = {"X-Typed": "yes"}
EXTRA_HEADER_PAIRS: WSHeadersLike = [("X-Client", "typed")]
DEBUG_LEVEL: int = PICOWS_DEBUG_LL
HEADROOM = 14


class ServerListener(WSListener):
    """Echoes data frames; raises WSProtocolError on b"forbidden"."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        request: WSUpgradeRequest = transport.request
        path: bytes = request.path
        method: bytes = request.method
        version: bytes = request.version
        client_header: Optional[str] = request.headers.get("X-Client")
        assert (path, method, version, client_header) == (b"/ws", b"GET", b"HTTP/1.1", "typed")
        assert not transport.is_client_side

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            return
        payload: bytes = frame.get_payload_as_bytes()
        if payload == b"forbidden":
            raise WSProtocolError(WSCloseCode.POLICY_VIOLATION, "forbidden message")
        message: WSBuffer = frame.get_payload_as_memoryview()
        transport.send(frame.msg_type, message, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        assert transport.is_disconnected


class ClientListener(WSListener):
    """Collects what it receives; every callback is overridden with its type."""

    def __init__(self) -> None:
        self.frames: "asyncio.Queue[tuple[WSMsgType, bytes, bool]]" = asyncio.Queue()
        self.connected = False
        self.disconnected = False
        self.paused = False
        self.user_pongs = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.connected = True

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type: WSMsgType = frame.msg_type
        size: int = frame.payload_size
        tail: int = frame.tail_size
        flags: List[bool] = [frame.fin, frame.rsv1, frame.rsv2, frame.rsv3, frame.last_in_buffer]
        assert size >= 0 and tail >= 0 and len(flags) == 5
        if msg_type == WSMsgType.TEXT:
            valid: bool = is_valid_utf8(frame.get_payload_as_memoryview())
            assert valid and not is_valid_utf8(b"\xc0\xaf")      # an overlong "/"
            text: str = frame.get_payload_as_utf8_text()
            ascii_text: str = frame.get_payload_as_ascii_text()
            assert text == ascii_text
        elif msg_type == WSMsgType.CLOSE:
            code: Union[WSCloseCode, int] = frame.get_close_code()
            message: Optional[bytes] = frame.get_close_message()
            reason: Optional[str] = frame.get_close_reason()
            assert isinstance(code, int) and (message is None) == (reason is None)
        elif msg_type == WSMsgType.PONG:
            transport.notify_user_specific_pong_received()
        self.frames.put_nowait((msg_type, frame.get_payload_as_bytes(), frame.fin))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected = True

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        transport.send_ping(b"user")

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        return frame.msg_type == WSMsgType.PONG

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False


def route(request: WSUpgradeRequest) -> Union[WSListener, WSUpgradeResponseWithListener, None]:
    """Server routing: /ws (custom 101), /old (redirect), /private (403), else 404."""
    if request.path == b"/ws":
        response = WSUpgradeResponse.create_101_response(extra_headers=EXTRA_HEADERS)
        return WSUpgradeResponseWithListener(response, ServerListener())
    if request.path == b"/old":
        redirect = WSUpgradeResponse.create_redirect_response(HTTPStatus.TEMPORARY_REDIRECT,
                                                              "/ws")
        return WSUpgradeResponseWithListener(redirect, None)
    if request.path == b"/private":
        error = WSUpgradeResponse.create_error_response(403, b"no entry")
        return WSUpgradeResponseWithListener(error, None)
    return None


def make_client(request: WSUpgradeRequest, response: WSUpgradeResponse) -> ClientListener:
    """The two-argument client factory form."""
    status: HTTPStatus = response.status
    version: bytes = response.version
    body: Optional[bytes] = response.body
    typed_header: Optional[str] = response.headers.get("X-Typed")
    assert (int(status), version, typed_header) == (101, b"HTTP/1.1", "yes")
    assert not body
    assert request.path == b"/ws"
    return ClientListener()


def check_exception_types() -> None:
    """Construct every exception type with its documented arguments."""
    response = WSUpgradeResponse.create_error_response(400)
    errors: List[WSError] = [
        WSHandshakeError("handshake failed", b"HTTP/1.1 400", b"", response),
        WSInvalidMessageError("malformed"),
        WSInvalidStatusError("bad status", response=response),
        WSInvalidHeaderError("bad header", "Upgrade", "h2c"),
        WSInvalidUpgradeError("bad upgrade", "Connection", None),
        WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "bad frame"),
        WSInvalidURL("http://x", "scheme isn't ws or wss"),
        WSProxyError("proxy refused the tunnel"),
        WSConnectionClosedBeforeHandshake("connection closed before the handshake completed"),
        WSRedirectError("302 redirect without a Location header", response=response),
    ]
    deflate = WSPerMessageDeflate(server_no_context_takeover=True, client_max_window_bits=12)
    assert deflate.offer().startswith("permessage-deflate")
    header_error = errors[3]
    assert isinstance(header_error, WSInvalidHeaderError) and header_error.name == "Upgrade"
    assert all(isinstance(e, WSError) for e in errors)
    assert isinstance(errors[4], WSInvalidHeaderError)
    handshake_error = errors[0]
    assert isinstance(handshake_error, WSHandshakeError)
    raw_header: Optional[bytes] = handshake_error.raw_header
    assert raw_header == b"HTTP/1.1 400"


async def main() -> Dict[str, object]:
    check_exception_types()
    seen_urls: List[WSParsedURL] = []

    def socket_factory(parsed: WSParsedURL) -> Optional[socket.socket]:
        host: WSHost = parsed.host
        port: WSPort = parsed.port
        assert isinstance(host, str) and isinstance(port, int) and not parsed.is_secure
        seen_urls.append(parsed)
        return None             # use the default connection path

    server: asyncio.Server = await ws_create_server(
        route, "127.0.0.1", 0, websocket_handshake_timeout=5,
        logger_name=logging.getLogger("typed_api_usage"), max_frame_size=1 << 20,
        read_buffer_init_size=4096)
    port: int = server.sockets[0].getsockname()[1]
    base = f"ws://127.0.0.1:{port}"
    result: Dict[str, object] = {}
    try:
        # ws_connect's listener has the factory's return type: no cast, no isinstance.
        transport: WSTransport
        listener: ClientListener
        transport, listener = await ws_connect(
            make_client, base + "/old", extra_headers=EXTRA_HEADER_PAIRS,
            enable_auto_ping=True, auto_ping_idle_timeout=30, auto_ping_reply_timeout=30,
            auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE, max_redirects=2,
            socket_factory=socket_factory, logger_name="typed")
        assert listener.connected
        base_listener: WSListener = listener
        assert isinstance(base_listener, WSListener)
        assert transport.is_client_side and not transport.is_secure
        assert seen_urls and seen_urls[-1].path == "/ws"          # after the redirect
        assert transport.underlying_transport.get_extra_info("peername") is not None
        assert transport.response.headers.get("X-Typed") == "yes"

        transport.send(WSMsgType.TEXT, "hello")
        buffer = bytearray(HEADROOM) + b"zero-copy"
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, buffer, HEADROOM)
        transport.send(WSMsgType.TEXT, b"frag-", fin=False)
        transport.send(WSMsgType.CONTINUATION, b"end", fin=True)
        transport.send_ping(b"are you there")
        transport.send_pong(b"unsolicited")
        received = [await asyncio.wait_for(listener.frames.get(), 5) for _ in range(5)]
        assert received == [(WSMsgType.TEXT, b"hello", True),
                            (WSMsgType.BINARY, b"zero-copy", True),
                            (WSMsgType.TEXT, b"frag-", False),
                            (WSMsgType.CONTINUATION, b"end", True),
                            (WSMsgType.PONG, b"are you there", True)], received
        rtts: List[float] = await transport.measure_roundtrip_time(3)
        assert len(rtts) == 3 and all(t >= 0 for t in rtts)

        # The server raises WSProtocolError: it closes with 1008.
        transport.send(WSMsgType.BINARY, b"forbidden")
        await asyncio.wait_for(transport.wait_disconnected(), 5)
        handshake: Optional[WSCloseHandshake] = transport.close_handshake
        assert handshake is not None
        recv: Optional[WSCloseInfo] = handshake.recv
        sent: Optional[WSCloseInfo] = handshake.sent
        assert recv is not None and recv.code == WSCloseCode.POLICY_VIOLATION
        reason: str = recv.reason
        assert reason == "forbidden message"
        assert transport.is_close_frame_sent and handshake.recv_then_sent
        assert listener.disconnected
        result["close_code"] = recv.code
        result["sent"] = sent

        # A clean close from our side; a listener class is its own factory.
        transport2, listener2 = await ws_connect(ClientListener, base + "/ws",
                                                 extra_headers=EXTRA_HEADER_PAIRS,
                                                 compression=WSPerMessageDeflate(),
                                                 subprotocols=["chat"])
        assert not listener2.disconnected and listener2.frames.empty()
        transport2.send_close(WSCloseCode.GOING_AWAY, b"bye")
        await asyncio.wait_for(transport2.wait_disconnected(), 5)
        transport2.disconnect(graceful=True)      # safe to repeat

        for path, status in (("/private", 403), ("/missing", 404)):
            try:
                await ws_connect(ClientListener, base + path)
            except WSInvalidStatusError as exc:
                assert exc.response is not None and exc.response.status == status
            else:
                raise AssertionError(f"{path} should have failed")
        try:
            await ws_connect(ClientListener, f"http://127.0.0.1:{port}/")
        except WSInvalidURL as exc:
            result["invalid_url"] = exc.url
        assert result.get("invalid_url") == f"http://127.0.0.1:{port}/"
    finally:
        server.close()
        await server.wait_closed()
    result["debug_level"] = DEBUG_LEVEL
    result["version"] = picows_like.__version__
    return result


async def wrong_calls() -> None:
    """Never run: each call is wrong, and mypy must say so (see the module docstring)."""
    def not_a_listener() -> int:
        return 1

    def bad_route(request: WSUpgradeRequest) -> str:
        return "no"

    def wrong_socket_factory(host: str, port: int) -> None:
        return None

    url = "ws://127.0.0.1:1/"
    await ws_connect(not_a_listener, url)  # type: ignore[type-var]
    await ws_connect(ClientListener, url, auto_ping_strategy=1)  # type: ignore[arg-type]
    await ws_connect(ClientListener, url, compression=6)  # type: ignore[arg-type]
    await ws_connect(ClientListener, url, subprotocols=[1])  # type: ignore[list-item]
    await ws_connect(ClientListener, url, socket_factory=wrong_socket_factory)  # type: ignore[arg-type]
    await ws_create_server(bad_route, "127.0.0.1", 0)  # type: ignore[arg-type]
    await ws_create_server(route, "127.0.0.1", 0, compression=6)  # type: ignore[arg-type]
    transport, listener = await ws_connect(ClientListener, url)
    listener.no_such_attribute  # type: ignore[attr-defined]


if __name__ == "__main__":
    print(asyncio.run(main()))
