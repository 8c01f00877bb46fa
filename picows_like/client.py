"""ws_connect: open a client connection (TCP or TLS), run the upgrade,
follow redirects, return (transport, listener)."""
import asyncio
import inspect
import socket
import ssl
import urllib.parse
from typing import Any, Callable, Optional, Tuple

from ._enums import WSAutoPingStrategy
from ._options import WSLoggerLike, protocol_options, resolve_logger
from ._protocol import WSProtocol
from .exceptions import WSHandshakeError, WSInvalidStatusError
from .handshake import WSHeadersLike, build_request, make_key
from .url import WSParsedURL, parse_url

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _two_argument_factory(factory: Callable) -> Callable:
    """Adapt both accepted factory forms to factory(request, response)."""
    try:
        inspect.signature(factory).bind(None, None)
        return factory
    except TypeError:
        return lambda request, response: factory()
    except ValueError:              # no signature available (some builtins)
        return lambda request, response: factory()


async def _make_socket(socket_factory: Callable, parsed_url: WSParsedURL) -> Optional[socket.socket]:
    sock = socket_factory(parsed_url)
    if inspect.isawaitable(sock):
        sock = await sock
    if sock is None:
        return None
    try:
        sock.getpeername()
    except OSError:                 # not connected yet: connect it ourselves
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parsed_url.host, parsed_url.port))
    return sock


async def ws_connect(ws_listener_factory: Callable, url: str, *,
                     ssl_context: Optional[ssl.SSLContext] = None,
                     disconnect_on_exception: bool = True,
                     websocket_handshake_timeout: Optional[float] = 5,
                     logger_name: WSLoggerLike = None,
                     enable_auto_ping: bool = False,
                     auto_ping_idle_timeout: float = 10,
                     auto_ping_reply_timeout: float = 10,
                     auto_ping_strategy: Any = WSAutoPingStrategy.PING_WHEN_IDLE,
                     enable_auto_pong: bool = True,
                     max_frame_size: int = 10 * 1024 * 1024,
                     extra_headers: Optional[WSHeadersLike] = None,
                     max_redirects: int = 5,
                     proxy: Optional[str] = None,
                     proxy_ssl_context: Optional[ssl.SSLContext] = None,
                     read_buffer_init_size: int = 16 * 1024,
                     socket_factory: Optional[Callable] = None,
                     use_aiofastnet: Optional[bool] = None,
                     close_timeout: Optional[float] = 5.0,
                     accept_rsv_bits: bool = False,
                     validate_utf8: bool = False,
                     **kwargs: Any) -> Tuple[Any, Any]:
    """Open a WebSocket connection to `url` (ws:// or wss://).

    Same keywords and behaviour as picows.ws_connect; remaining kwargs go to
    loop.create_connection.  Additive keywords: `close_timeout` (seconds to
    wait for the peer's CLOSE after ours, None = forever) and
    `accept_rsv_bits` (deliver frames with RSV bits set instead of failing
    with 1002, for a home-made extension).  `use_aiofastnet` is accepted and
    ignored: picows_like always uses the loop's own transports.
    """
    if proxy is not None:
        raise NotImplementedError("ws_connect(proxy=...) is not supported yet")
    options = protocol_options(
        disconnect_on_exception=disconnect_on_exception,
        websocket_handshake_timeout=websocket_handshake_timeout,
        enable_auto_ping=enable_auto_ping, auto_ping_idle_timeout=auto_ping_idle_timeout,
        auto_ping_reply_timeout=auto_ping_reply_timeout, auto_ping_strategy=auto_ping_strategy,
        enable_auto_pong=enable_auto_pong, max_frame_size=max_frame_size,
        read_buffer_init_size=read_buffer_init_size, close_timeout=close_timeout,
        accept_rsv_bits=accept_rsv_bits, validate_utf8=validate_utf8)
    if max_redirects < 0:
        raise ValueError("max_redirects must be >= 0")
    logger = resolve_logger(logger_name, "client")
    listener_factory = _two_argument_factory(ws_listener_factory)
    parsed = parse_url(url)
    visited = {parsed.url}
    while True:
        try:
            return await _connect_once(listener_factory, parsed, ssl_context, extra_headers,
                                       socket_factory, logger, options, kwargs)
        except WSInvalidStatusError as exc:
            response = exc.response
            if response is None or response.status not in _REDIRECTS \
                    or "Location" not in response.headers or max_redirects == 0:
                raise
            target = urllib.parse.urljoin(parsed.url, response.headers["Location"])
            new = parse_url(target)
            if parsed.is_secure and not new.is_secure:
                raise WSHandshakeError(f"refusing redirect from {parsed.url} to insecure {target}",
                                       exc.raw_header, exc.raw_body, response) from exc
            if new.url in visited:
                raise WSHandshakeError(f"redirect loop at {target}", exc.raw_header,
                                       exc.raw_body, response) from exc
            logger.info("%s redirected (%d) to %s", parsed.url, response.status, target)
            visited.add(new.url)
            parsed = new
            max_redirects -= 1


async def _connect_once(listener_factory: Callable, parsed: WSParsedURL,
                        ssl_context: Optional[ssl.SSLContext], extra_headers: Any,
                        socket_factory: Optional[Callable], logger: Any, options: dict,
                        kwargs: dict) -> Tuple[Any, Any]:
    loop = asyncio.get_running_loop()
    key = make_key()
    request, wire = build_request(parsed, key, extra_headers)
    upgraded = loop.create_future()

    def protocol_factory() -> WSProtocol:
        return WSProtocol(True, listener_factory, loop, logger, request=request,
                          request_bytes=wire, ws_key=key, upgrade_future=upgraded, **options)

    conn_kwargs = dict(kwargs)
    if parsed.is_secure:
        conn_kwargs.setdefault("ssl", ssl_context or ssl.create_default_context())
        conn_kwargs.setdefault("server_hostname", parsed.host)
    sock = await _make_socket(socket_factory, parsed) if socket_factory else None
    if sock is not None:
        transport, protocol = await loop.create_connection(protocol_factory, sock=sock,
                                                           **conn_kwargs)
    else:
        transport, protocol = await loop.create_connection(protocol_factory, parsed.host,
                                                           parsed.port, **conn_kwargs)
    try:
        timeout = options["websocket_handshake_timeout"]
        listener = await asyncio.wait_for(asyncio.shield(upgraded), timeout)
    except BaseException:
        transport.abort()
        raise
    return protocol.transport, listener
