"""ws_create_server: an asyncio server whose connections speak WebSocket."""
import asyncio
from typing import Any, Awaitable, Callable, Optional, Sequence, Union

from ._enums import WSAutoPingStrategy
from ._listener import WSListener
from ._options import SERVER_DEFAULTS as _D, WSLoggerLike, options_from, resolve_logger
from ._protocol import WSProtocol
from .client import WSCompressionLike, resolve_aiofastnet
from .handshake import WSUpgradeRequest, WSUpgradeResponseWithListener

# What the server's listener factory may return for a request: a listener (101), a
# custom response with its listener (or None after a non-101 response), None (404), or
# an awaitable of one of these (an async factory).
WSServerListenerResult = Union[WSListener, WSUpgradeResponseWithListener, None]
WSServerListenerFactory = Callable[[WSUpgradeRequest],
                                   Union[WSServerListenerResult, Awaitable[WSServerListenerResult]]]


async def ws_create_server(ws_listener_factory: WSServerListenerFactory,
                           host: Union[str, Sequence[str], None] = None,
                           port: Optional[int] = None, *,
                           disconnect_on_exception: bool = _D.disconnect_on_exception,
                           websocket_handshake_timeout: Optional[float] =
                               _D.websocket_handshake_timeout,
                           logger_name: WSLoggerLike = None,
                           enable_auto_ping: bool = _D.enable_auto_ping,
                           auto_ping_idle_timeout: float = _D.auto_ping_idle_timeout,
                           auto_ping_reply_timeout: float = _D.auto_ping_reply_timeout,
                           auto_ping_strategy: WSAutoPingStrategy = _D.auto_ping_strategy,
                           enable_auto_pong: bool = _D.enable_auto_pong,
                           max_frame_size: int = _D.max_frame_size,
                           read_buffer_init_size: int = _D.read_buffer_init_size,
                           use_aiofastnet: Optional[bool] = None,
                           close_timeout: Optional[float] = _D.close_timeout,
                           accept_rsv_bits: bool = _D.accept_rsv_bits,
                           validate_utf8: bool = _D.validate_utf8,
                           compression: WSCompressionLike = _D.compression,
                           subprotocols: Optional[Sequence[str]] = _D.subprotocols,
                           **kwargs: Any) -> asyncio.Server:
    """Serve WebSocket on host:port; remaining kwargs go to loop.create_server.

    `ws_listener_factory(request)` routes each upgrade request: it returns a
    WSListener (101), a WSUpgradeResponseWithListener (custom response; a
    non-101 one is sent as plain HTTP and the connection closed) or None
    (404).  A non-101 response such as a health check
    (``WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"ok"),
    None)``) is how plain HTTP is served on the same port.

    Beyond picows, the factory may be a coroutine function (or return any
    awaitable): the core waits for it, frames the client sent behind its
    request wait in the read buffer (reading pauses past 16 KiB), the
    handshake timeout still applies and a client that leaves cancels it.
    ``request.peername`` / ``request.sockname`` carry the connection's
    addresses for decisions by client address.

    kwargs reach create_server as they are: `ssl=` (an SSLContext) serves
    wss://, `reuse_port=True` lets several servers share a port, `backlog`,
    `sock`, `start_serving`, ...  `use_aiofastnet`: None (default) serves
    TLS with aiofastnet's create_server when it is installed and plain TCP
    with the loop's own; True always aiofastnet (ImportError if it is not
    installed), False never.  picows uses it for both: see ws_connect for
    the measurements behind the difference.

    With `ssl=`, the TLS handshake is bounded by
    `websocket_handshake_timeout` too (passed as ``ssl_handshake_timeout``
    unless given): a client that connects and never completes TLS is
    dropped within it, then the upgrade request gets the same time again.
    """
    options = options_from(locals())
    loop = asyncio.get_running_loop()
    logger = resolve_logger(logger_name, "server")

    def protocol_factory() -> WSProtocol:
        return WSProtocol(False, ws_listener_factory, loop, logger, **options)

    if (kwargs.get("ssl") is not None and websocket_handshake_timeout is not None
            and kwargs.get("ssl_handshake_timeout") is None):
        # The TLS handshake runs before the WebSocket one: bound it by the
        # same timeout instead of asyncio's 60 s default.
        kwargs["ssl_handshake_timeout"] = websocket_handshake_timeout
    fastnet = resolve_aiofastnet(use_aiofastnet, kwargs.get("ssl") is not None)
    if fastnet is not None:
        return await fastnet.create_server(loop, protocol_factory, host, port, **kwargs)
    return await loop.create_server(protocol_factory, host, port, **kwargs)
