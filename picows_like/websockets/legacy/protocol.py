"""WebSocketCommonProtocol: websockets' legacy connection API on
picows_like.websockets' asyncio connection (and so on picows_like's core).

recv(), send() (str, bytes, iterables and async iterables of fragments),
ping() (returns the pong waiter), pong(), close(), wait_closed() and
``async for`` are the asyncio connection's, which behave as the legacy
ones; this class adds the legacy constructor and attributes.
"""
import logging
import warnings
from typing import Any, Iterable, Optional

from ..asyncio.connection import Connection
from ..asyncio.connection import broadcast as _broadcast
from ..extensions.permessage_deflate import PerMessageDeflate
from ..protocol import CLOSED, OPEN

__all__ = ["WebSocketCommonProtocol", "broadcast"]


def resolve_close_timeout(close_timeout: Optional[float], timeout: Optional[float]
                          ) -> Optional[float]:
    """close_timeout, or the deprecated ``timeout`` (default 10) it replaced."""
    if timeout is None:
        timeout = 10
    else:
        warnings.warn("rename timeout to close_timeout", DeprecationWarning)
    return timeout if close_timeout is None else close_timeout


def pop_deprecated_options(kwargs: dict, close_timeout: Optional[float],
                           create_protocol: Any, default_class: type) -> tuple:
    """(close_timeout, create_protocol, legacy_recv) for connect() / serve(),
    taking the deprecated ``timeout``, ``klass``, ``legacy_recv`` and ``loop``
    keywords out of `kwargs` with the warnings websockets gives."""
    close_timeout = resolve_close_timeout(close_timeout, kwargs.pop("timeout", None))
    klass = kwargs.pop("klass", None)
    if klass is None:
        klass = default_class
    else:
        warnings.warn("rename klass to create_protocol", DeprecationWarning)
    legacy_recv = kwargs.pop("legacy_recv", False)
    if kwargs.pop("loop", None) is not None:
        warnings.warn("remove loop argument", DeprecationWarning)
    return close_timeout, create_protocol or klass, legacy_recv


class WebSocketCommonProtocol(Connection):
    """The part of WebSocketClientProtocol and WebSocketServerProtocol they
    share.  Built by serve() / connect() (or by a ``create_protocol``
    factory they call) with the legacy keywords.

    ``read_limit`` is accepted and kept as an attribute: picows_like's
    core reads into its own buffer, so it has no effect.  ``legacy_recv``
    (recv() returning None when closed) raises NotImplementedError.
    """
    __slots__ = ("__dict__",)
    is_client = False
    side = "server"

    def __init__(self, *, logger: Any = None, ping_interval: Optional[float] = 20,
                 ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = None,
                 max_size: Optional[int] = 2 ** 20, max_queue: Optional[int] = 2 ** 5,
                 read_limit: int = 2 ** 16, write_limit: int = 2 ** 16,
                 host: Optional[str] = None, port: Optional[int] = None,
                 secure: Optional[bool] = None, legacy_recv: bool = False,
                 loop: Any = None, timeout: Optional[float] = None) -> None:
        if legacy_recv:
            raise NotImplementedError("picows_like.websockets.legacy does not support "
                                      "legacy_recv=True (recv() returning None when closed)")
        close_timeout = resolve_close_timeout(close_timeout, timeout)
        if loop is not None:
            warnings.warn("remove loop argument", DeprecationWarning)
        if logger is None:
            logger = logging.getLogger("websockets.protocol")
        super().__init__(ping_interval=ping_interval, ping_timeout=ping_timeout,
                         close_timeout=close_timeout, max_size=max_size, max_queue=max_queue,
                         write_limit=write_limit, logger=logger)
        self.max_queue = max_queue
        self.read_limit = read_limit
        self.write_limit = write_limit
        self.legacy_recv = legacy_recv
        self._host = host
        self._port = port
        self._secure = secure
        self.path: str = ""
        self.request_headers: Any = None
        self.response_headers: Any = None
        self.origin: Optional[str] = None
        self.extensions: list = []

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        agreed = transport.compression
        self.extensions = [] if agreed is None else [
            PerMessageDeflate.from_core(agreed, self.is_client)]

    # -- the legacy attributes ------------------------------------------------

    @property
    def host(self) -> Optional[str]:
        return self._host

    @property
    def port(self) -> Optional[int]:
        return self._port

    @property
    def secure(self) -> Optional[bool]:
        return self._secure

    @property
    def open(self) -> bool:
        """True while the connection is OPEN (messages can be sent)."""
        return self._state is OPEN

    @property
    def closed(self) -> bool:
        """True once the connection is CLOSED."""
        return self._state is CLOSED

    # -- the legacy helpers -------------------------------------------------------

    def connection_closed_exc(self) -> Any:
        """The ConnectionClosed exception for how the connection ended."""
        return self.close_exc

    async def ensure_open(self) -> None:
        """Raise ConnectionClosed unless the connection is OPEN."""
        if self._state is not OPEN:
            await self._raise_closed()

    def fail_connection(self, code: int = 1006, reason: str = "") -> None:
        """Close at once (send a CLOSE with ``code`` unless 1006, then drop
        the TCP connection)."""
        if self._state is CLOSED:
            return
        if code == 1006:
            if self.ws_transport is not None:
                self.ws_transport.disconnect(False)
            return
        self._fail(code, reason)


def broadcast(websockets: Iterable[Any], message: Any,
              raise_exceptions: bool = False) -> None:
    """Send ``message`` (str or bytes) to every open connection without
    waiting for the network; connections in the middle of a fragmented
    send are skipped, as in websockets."""
    _broadcast(websockets, message, raise_exceptions=raise_exceptions)
