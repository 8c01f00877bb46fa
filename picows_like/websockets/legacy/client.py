"""websockets' legacy client API (``websockets.legacy.client``) on
picows_like's core: connect(), unix_connect(), WebSocketClientProtocol.

The opening handshake (request, redirects, checks of the response) is
picows_like.websockets.asyncio's connect(); the connection object is built
by ``create_protocol`` with the legacy keywords.
"""
import asyncio
import logging
import random
from typing import Any, AsyncIterator, Callable, Generator, Optional, Sequence

from ..asyncio.client import connect as _asyncio_connect
from ..exceptions import InvalidStatus
from ..extensions.permessage_deflate import core_deflate, enable_client_permessage_deflate
from ..http11 import USER_AGENT
from ..uri import parse_uri
from .exceptions import InvalidStatusCode
from .protocol import WebSocketCommonProtocol, pop_deprecated_options

__all__ = ["connect", "unix_connect", "WebSocketClientProtocol"]


class WebSocketClientProtocol(WebSocketCommonProtocol):
    """A client-side connection, returned by connect().

    Overriding ``handshake`` is not supported (the core runs the client
    handshake): NotImplementedError when a subclass does.
    """
    is_client = True
    side = "client"

    def __init__(self, *, logger: Any = None, origin: Optional[str] = None,
                 extensions: Optional[Sequence[Any]] = None,
                 subprotocols: Optional[Sequence[str]] = None, extra_headers: Any = None,
                 user_agent_header: Optional[str] = USER_AGENT, **kwargs: Any) -> None:
        if logger is None:
            logger = logging.getLogger("websockets.client")
        super().__init__(logger=logger, **kwargs)
        if type(self).handshake is not WebSocketClientProtocol.handshake:
            raise NotImplementedError("picows_like.websockets.legacy does not support "
                                      "overriding WebSocketClientProtocol.handshake")
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.extra_headers = extra_headers
        self.user_agent_header = user_agent_header

    async def handshake(self, wsuri: Any, origin: Any = None, available_extensions: Any = None,
                        available_subprotocols: Any = None, extra_headers: Any = None) -> None:
        """Run by connect() in websockets; here the core runs the client
        handshake, so this is not called."""
        raise NotImplementedError("picows_like.websockets.legacy runs the client handshake "
                                  "in connect(); WebSocketClientProtocol.handshake cannot "
                                  "be called")


class Connect:
    """connect(uri, ...): await it, use it as an async context manager, or
    iterate over it to reconnect after errors (``async for websocket in
    connect(uri)``), as websockets' legacy connect().  Other keywords go to
    ``loop.create_connection`` (``ssl``, ``sock``, ``host`` / ``port``,
    ``server_hostname``, ...)."""

    MAX_REDIRECTS_ALLOWED = 10
    BACKOFF_INITIAL = 5.0
    BACKOFF_MIN = 3.1
    BACKOFF_MAX = 90.0
    BACKOFF_FACTOR = 1.618

    def __init__(self, uri: str, *,
                 create_protocol: Optional[Callable[..., WebSocketClientProtocol]] = None,
                 logger: Any = None, compression: Optional[str] = "deflate",
                 origin: Optional[str] = None, extensions: Optional[Sequence[Any]] = None,
                 subprotocols: Optional[Sequence[str]] = None, extra_headers: Any = None,
                 user_agent_header: Optional[str] = USER_AGENT,
                 open_timeout: Optional[float] = 10, ping_interval: Optional[float] = 20,
                 ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = None,
                 max_size: Optional[int] = 2 ** 20, max_queue: Optional[int] = 2 ** 5,
                 read_limit: int = 2 ** 16, write_limit: int = 2 ** 16, **kwargs: Any) -> None:
        close_timeout, create_protocol, legacy_recv = pop_deprecated_options(
            kwargs, close_timeout, create_protocol, WebSocketClientProtocol)
        wsuri = parse_uri(uri)
        if not wsuri.secure and kwargs.get("ssl") is not None:
            raise ValueError("connect() received a ssl argument for a ws:// URI, "
                             "use a wss:// URI to enable TLS")
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        core = core_deflate(extensions)
        if logger is None:
            logger = logging.getLogger("websockets.client")
        self.logger = logger
        self.open_timeout = open_timeout
        self._uri = uri
        self._wsuri = wsuri
        protocol_kwargs = dict(
            logger=logger, origin=origin, extensions=extensions, subprotocols=subprotocols,
            extra_headers=extra_headers, user_agent_header=user_agent_header,
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, max_size=max_size, max_queue=max_queue,
            read_limit=read_limit, write_limit=write_limit, host=wsuri.host, port=wsuri.port,
            secure=wsuri.secure, legacy_recv=legacy_recv)

        def build(**_options: Any) -> WebSocketClientProtocol:
            # The asyncio layer's options are the same settings, already
            # in protocol_kwargs in their legacy form.
            return create_protocol(**protocol_kwargs)  # type: ignore[misc]

        self._opener = _asyncio_connect(
            uri, origin=origin, subprotocols=subprotocols, compression=None,
            additional_headers=extra_headers, user_agent_header=user_agent_header,
            open_timeout=open_timeout, ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, max_size=max_size, max_queue=max_queue,
            write_limit=write_limit, logger=logger,
            create_connection=build, **kwargs)  # type: ignore[arg-type]
        self._opener.compression = core
        self.protocol: Optional[WebSocketClientProtocol] = None

    async def __await_impl__(self) -> WebSocketClientProtocol:
        try:
            protocol: Any = await self._opener
        except InvalidStatus as exc:
            response = exc.response
            raise InvalidStatusCode(response.status_code, response.headers) from exc
        protocol.path = protocol.request.path
        protocol.request_headers = protocol.request.headers
        protocol.response_headers = protocol.response.headers
        if protocol._host is None:
            protocol._host, protocol._port = self._wsuri.host, self._wsuri.port
            protocol._secure = self._wsuri.secure
        self.protocol = protocol
        return protocol

    def __await__(self) -> Generator[Any, None, WebSocketClientProtocol]:
        return self.__await_impl__().__await__()

    async def __aenter__(self) -> WebSocketClientProtocol:
        return await self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.protocol is not None
        await self.protocol.close()

    async def __aiter__(self) -> AsyncIterator[WebSocketClientProtocol]:
        backoff_delay = self.BACKOFF_MIN / self.BACKOFF_FACTOR
        while True:
            try:
                async with self as protocol:
                    yield protocol
            except Exception as exc:
                if backoff_delay == self.BACKOFF_MIN:
                    initial_delay = random.random() * self.BACKOFF_INITIAL
                    self.logger.info("connect failed; reconnecting in %.1f seconds: %r",
                                     initial_delay, exc)
                    await asyncio.sleep(initial_delay)
                else:
                    self.logger.info("connect failed again; retrying in %d seconds: %r",
                                     int(backoff_delay), exc)
                    await asyncio.sleep(int(backoff_delay))
                backoff_delay = min(backoff_delay * self.BACKOFF_FACTOR, self.BACKOFF_MAX)
                continue
            else:
                backoff_delay = self.BACKOFF_MIN


connect = Connect


def unix_connect(path: Optional[str] = None, uri: str = "ws://localhost/",
                 **kwargs: Any) -> Connect:
    """connect() over the Unix socket ``path``."""
    return connect(uri=uri, path=path, unix=True, **kwargs)
