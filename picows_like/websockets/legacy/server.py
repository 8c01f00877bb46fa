"""websockets' legacy server API (``websockets.legacy.server``) on
picows_like's core: serve(), unix_serve(), WebSocketServer,
WebSocketServerProtocol.

How a connection starts: the core parses the upgrade request and calls a
listener factory (a coroutine: the core pauses reading until it returns).
The factory builds the protocol with ``create_protocol`` and awaits its
``handshake()``, which runs ``process_request(path, request_headers)``, the
Origin check, ``select_subprotocol(client_subprotocols,
server_subprotocols)`` and ``extra_headers``, as in websockets; a subclass may
override any of them.  The factory then hands the core the 101 (or the error
response) and the protocol; from there on frames go from the core's parser
straight into the connection, and the handler task runs.
"""
import asyncio
import email.utils
import http
import inspect
import logging
import warnings
from typing import Any, Awaitable, Callable, Optional, Sequence

from ...handshake import (HandshakeRejected, WSUpgradeResponseWithListener, accept_extensions,
                          validate_request)
from ...server import ws_create_server
from ..asyncio.server import _bind_unix
from ..datastructures import Headers, MultipleValuesError
from ..exceptions import (InvalidHandshake, InvalidHeader, InvalidOrigin, InvalidUpgrade,
                          NegotiationError)
from ..extensions.permessage_deflate import (PerMessageDeflate, core_deflate,
                                             enable_server_permessage_deflate)
from ..http11 import SERVER, Response
from ..protocol import CLOSED, OPEN
from .exceptions import AbortHandshake
from .protocol import WebSocketCommonProtocol, broadcast, pop_deprecated_options

__all__ = ["serve", "unix_serve", "WebSocketServerProtocol", "WebSocketServer", "broadcast"]

HTTPResponse = tuple


class _Rejected(InvalidHandshake):
    """The core's answer to an invalid upgrade request."""

    def __init__(self, response: Any) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"invalid upgrade request (HTTP {self.response.status_code})"


def remove_path_argument(ws_handler: Callable) -> Callable:
    """A handler taking (websocket, path) becomes one taking (websocket),
    as websockets does (with its DeprecationWarning)."""
    try:
        inspect.signature(ws_handler).bind(None)
    except TypeError:
        try:
            inspect.signature(ws_handler).bind(None, "")
        except TypeError:
            pass
        else:
            warnings.warn("remove second argument of ws_handler", DeprecationWarning)

            async def _ws_handler(websocket: Any) -> Any:
                return await ws_handler(websocket, websocket.path)
            return _ws_handler
    return ws_handler


def _subprotocol_tokens(headers: Headers) -> list:
    return [t.strip() for v in headers.get_all("Sec-WebSocket-Protocol")
            for t in v.split(",") if t.strip()]


class WebSocketServerProtocol(WebSocketCommonProtocol):
    """A server-side connection, handed to the handler.

    Subclass it (``create_protocol=``) to override ``process_request``,
    ``select_subprotocol`` or ``handshake``, as in websockets.  The
    handshake runs before the 101 is sent: an override must not send or
    receive messages before ``super().handshake()`` returned.
    """
    is_client = False
    side = "server"

    def __init__(self, ws_handler: Callable, ws_server: "WebSocketServer", *,
                 logger: Any = None, origins: Optional[Sequence[Any]] = None,
                 extensions: Optional[Sequence[Any]] = None,
                 subprotocols: Optional[Sequence[str]] = None,
                 extra_headers: Any = None, server_header: Optional[str] = SERVER,
                 process_request: Optional[Callable] = None,
                 select_subprotocol: Optional[Callable] = None,
                 open_timeout: Optional[float] = 10, **kwargs: Any) -> None:
        if logger is None:
            logger = logging.getLogger("websockets.server")
        super().__init__(logger=logger, **kwargs)
        if origins is not None and "" in origins:
            warnings.warn("use None instead of '' in origins", DeprecationWarning)
            origins = [None if origin == "" else origin for origin in origins]
        self.ws_handler = remove_path_argument(ws_handler)
        self.ws_server = ws_server
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.extra_headers = extra_headers
        self.server_header = server_header
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol
        self.open_timeout = open_timeout
        self._core_request: Any = None
        self._core_compression: Any = None
        self._handshake_response: Optional[Response] = None

    # -- the opening handshake (overridable) -----------------------------------

    async def process_request(self, path: str, request_headers: Headers) -> Any:
        """None to go on with the handshake, or (status, headers, body) to
        answer with that HTTP response instead."""
        if self._process_request is not None:
            response = self._process_request(path, request_headers)
            if isinstance(response, Awaitable):
                return await response
            warnings.warn("declare process_request as a coroutine", DeprecationWarning)
            return response
        return None

    @staticmethod
    def process_origin(headers: Headers, origins: Optional[Sequence[Any]] = None) -> Any:
        """The request's Origin; InvalidOrigin unless it is in ``origins``."""
        try:
            origin = headers.get("Origin")
        except MultipleValuesError as exc:
            raise InvalidHeader("Origin", "multiple values") from exc
        if origins is not None and origin not in origins:
            raise InvalidOrigin(origin)
        return origin

    def process_subprotocol(self, headers: Headers,
                            available_subprotocols: Optional[Sequence[str]]) -> Optional[str]:
        """The subprotocol to answer with (select_subprotocol's choice)."""
        offered = _subprotocol_tokens(headers)
        if offered and available_subprotocols:
            return self.select_subprotocol(offered, available_subprotocols)
        return None

    def select_subprotocol(self, client_subprotocols: Sequence[str],
                           server_subprotocols: Sequence[str]) -> Optional[str]:
        """The subprotocol both sides support with the best combined rank
        (the ``select_subprotocol`` argument replaces this rule)."""
        if self._select_subprotocol is not None:
            return self._select_subprotocol(client_subprotocols, server_subprotocols)
        common = set(client_subprotocols) & set(server_subprotocols)
        if not common:
            return None
        return sorted(common, key=lambda p: client_subprotocols.index(p)
                      + server_subprotocols.index(p))[0]

    def _process_extensions(self, available_extensions: Optional[Sequence[Any]]
                            ) -> Optional[str]:
        if not available_extensions or self._core_compression is None:
            return None
        if not self.request_headers.get_all("Sec-WebSocket-Extensions"):
            return None
        try:
            # Kept on the core's request: the core does not negotiate again.
            accepted = accept_extensions(self._core_request, self._core_compression)
        except HandshakeRejected as exc:
            raise NegotiationError(str(exc)) from None
        if accepted is None:
            return None
        self.extensions = [PerMessageDeflate.from_core(accepted[0], is_client=False)]
        return accepted[1]

    async def handshake(self, origins: Optional[Sequence[Any]] = None,
                        available_extensions: Optional[Sequence[Any]] = None,
                        available_subprotocols: Optional[Sequence[str]] = None,
                        extra_headers: Any = None) -> str:
        """Check the request and prepare the 101; return the request path.
        InvalidHandshake (AbortHandshake for process_request's answer) when
        the handshake fails."""
        path, request_headers = self.path, self.request_headers
        early_response = await self.process_request(path, request_headers)
        if self._state is CLOSED:
            raise BrokenPipeError("connection closed during opening handshake")
        if not self.ws_server.is_serving():
            early_response = (http.HTTPStatus.SERVICE_UNAVAILABLE, [],
                              b"Server is shutting down.\n")
        if early_response is not None:
            raise AbortHandshake(*early_response)
        try:
            accept = validate_request(self._core_request)
        except HandshakeRejected as rejected:
            raise _Rejected(Response.from_core(rejected.response)) from None
        self.origin = self.process_origin(request_headers, origins)
        extensions_header = self._process_extensions(available_extensions)
        protocol_header = self.process_subprotocol(request_headers, available_subprotocols)
        self._subprotocol = protocol_header
        headers = Headers([("Upgrade", "websocket"), ("Connection", "Upgrade"),
                           ("Sec-WebSocket-Accept", accept.decode())])
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = protocol_header
        if callable(extra_headers):
            extra_headers = extra_headers(path, self.request_headers)
        if extra_headers is not None:
            headers.update(extra_headers)
        headers.setdefault("Date", email.utils.formatdate(usegmt=True))
        if self.server_header is not None:
            headers.setdefault("Server", self.server_header)
        self.response_headers = headers
        self._handshake_response = Response(101, "Switching Protocols", headers)
        return path

    # -- the connection's life ---------------------------------------------------

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        self.logger.info("connection open")
        task = self.loop.create_task(self._run_handler())
        self.ws_server._handler_tasks.add(task)

    async def _run_handler(self) -> None:
        try:
            try:
                await self.ws_handler(self)
            except Exception:
                self.logger.error("connection handler failed", exc_info=True)
                if not self.closed:
                    await self.close(1011)
            except BaseException:
                await asyncio.shield(self.close(1011))
                raise
            else:
                await self.close()
        except Exception:
            if self.ws_transport is not None:
                self.ws_transport.disconnect(False)
        finally:
            self.ws_server.unregister(self)
            self.ws_server._handler_tasks.discard(asyncio.current_task())
            self.logger.info("connection closed")


def _error_response(protocol: WebSocketServerProtocol, exc: BaseException) -> Response:
    """The HTTP answer to a failed handshake, as websockets builds it."""
    if isinstance(exc, _Rejected):
        return exc.response
    if isinstance(exc, AbortHandshake):
        status, headers, body = exc.status, exc.headers, exc.body
    elif isinstance(exc, InvalidOrigin):
        status, headers, body = (http.HTTPStatus.FORBIDDEN, Headers(),
                                 f"Failed to open a WebSocket connection: {exc}.\n".encode())
    elif isinstance(exc, InvalidUpgrade):
        status, headers, body = (
            http.HTTPStatus.UPGRADE_REQUIRED, Headers([("Upgrade", "websocket")]),
            (f"Failed to open a WebSocket connection: {exc}.\n\nYou cannot access a "
             f"WebSocket server directly with a browser. You need a WebSocket "
             f"client.\n").encode())
    elif isinstance(exc, InvalidHandshake):
        chain: BaseException = exc
        text = f"{chain}"
        while chain.__cause__ is not None:
            chain = chain.__cause__
            text += f"; {chain}"
        status, headers, body = (http.HTTPStatus.BAD_REQUEST, Headers(),
                                 f"Failed to open a WebSocket connection: {text}.\n".encode())
    else:
        protocol.logger.error("opening handshake failed", exc_info=exc)
        status, headers, body = (http.HTTPStatus.INTERNAL_SERVER_ERROR, Headers(),
                                 b"Failed to open a WebSocket connection.\n"
                                 b"See server log for more information.\n")
    headers.setdefault("Date", email.utils.formatdate(usegmt=True))
    if protocol.server_header:
        headers.setdefault("Server", protocol.server_header)
    headers.setdefault("Content-Length", str(len(body)))
    headers.setdefault("Content-Type", "text/plain")
    headers.setdefault("Connection", "close")
    status = http.HTTPStatus(status)
    protocol.logger.info("connection rejected (%d %s)", status.value, status.phrase)
    return Response(status.value, status.phrase, headers, body)


class WebSocketServer:
    """The server returned by serve(): close() / wait_closed(), as
    asyncio.Server.  Closing answers pending handshakes with 503 and closes
    open connections with 1001."""

    def __init__(self, logger: Any = None) -> None:
        if logger is None:
            logger = logging.getLogger("websockets.server")
        self.logger = logger
        self.websockets: set = set()
        self._handler_tasks: set = set()
        self.close_task: Optional[asyncio.Task] = None
        self.closing = False
        self.server: Any = None
        self._closed_waiter: Optional[asyncio.Future] = None

    def wrap(self, server: Any) -> None:
        self.server = server
        for sock in server.sockets:
            try:
                name = sock.getsockname()
            except OSError:
                continue
            self.logger.info("server listening on %s", name)
        self._closed_waiter = asyncio.get_running_loop().create_future()

    def register(self, protocol: WebSocketServerProtocol) -> None:
        self.websockets.add(protocol)

    def unregister(self, protocol: WebSocketServerProtocol) -> None:
        self.websockets.discard(protocol)

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting connections, close the open ones with 1001
        (unless close_connections is False), then wait for the handlers."""
        if self.close_task is None:
            # May be called outside the running loop (run_until_complete era).
            loop = self.server.get_loop() if self.server is not None else \
                asyncio.get_running_loop()
            self.close_task = loop.create_task(self._close(close_connections))

    async def _close(self, close_connections: bool) -> None:
        self.logger.info("server closing")
        self.closing = True
        if self.server is not None:
            self.server.close()
        await asyncio.sleep(0)
        if close_connections:
            tasks = [asyncio.ensure_future(ws.close(1001))
                     for ws in list(self.websockets) if ws._state is OPEN]
            if tasks:
                await asyncio.wait(tasks)
        if self.server is not None:
            await self.server.wait_closed()
        if self._handler_tasks:
            await asyncio.wait(list(self._handler_tasks))
        if self._closed_waiter is not None and not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        self.logger.info("server closed")

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler returned."""
        if self._closed_waiter is None:
            return
        await asyncio.shield(self._closed_waiter)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self.server.get_loop()

    def is_serving(self) -> bool:
        return self.server is not None and not self.closing and self.server.is_serving()

    async def start_serving(self) -> None:
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        await self.server.serve_forever()

    @property
    def sockets(self) -> Any:
        return self.server.sockets

    async def __aenter__(self) -> "WebSocketServer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


class Serve:
    """serve(ws_handler, host, port, ...): await it (or use it as an async
    context manager) to get a WebSocketServer.  Keywords as websockets'
    legacy serve(); other keywords go to ``loop.create_server`` (``ssl``,
    ``sock``, ``reuse_port``, ...).  It may be built outside a running
    loop and run with ``loop.run_until_complete(serve(...))``."""

    def __init__(self, ws_handler: Callable, host: Any = None, port: Optional[int] = None, *,
                 create_protocol: Optional[Callable[..., WebSocketServerProtocol]] = None,
                 logger: Any = None, compression: Optional[str] = "deflate",
                 origins: Optional[Sequence[Any]] = None,
                 extensions: Optional[Sequence[Any]] = None,
                 subprotocols: Optional[Sequence[str]] = None, extra_headers: Any = None,
                 server_header: Optional[str] = SERVER,
                 process_request: Optional[Callable] = None,
                 select_subprotocol: Optional[Callable] = None,
                 open_timeout: Optional[float] = 10, ping_interval: Optional[float] = 20,
                 ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = None,
                 max_size: Optional[int] = 2 ** 20, max_queue: Optional[int] = 2 ** 5,
                 read_limit: int = 2 ** 16, write_limit: int = 2 ** 16, **kwargs: Any) -> None:
        close_timeout, create_protocol, legacy_recv = pop_deprecated_options(
            kwargs, close_timeout, create_protocol, WebSocketServerProtocol)
        if legacy_recv:
            raise NotImplementedError("picows_like.websockets.legacy does not support "
                                      "legacy_recv=True (recv() returning None when closed)")
        self.ws_server = WebSocketServer(logger=logger)
        secure = kwargs.get("ssl") is not None
        if compression == "deflate":
            extensions = enable_server_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        self._core_compression = core_deflate(extensions)
        if subprotocols is not None:
            if isinstance(subprotocols, str):
                raise TypeError("subprotocols must be a list, not a str")
            subprotocols = list(subprotocols)
        self._ws_handler = remove_path_argument(ws_handler)
        self._create_protocol = create_protocol
        self._protocol_kwargs = dict(
            host=host, port=port, secure=secure, open_timeout=open_timeout,
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, max_size=max_size, max_queue=max_queue,
            read_limit=read_limit, write_limit=write_limit, legacy_recv=legacy_recv,
            origins=origins, extensions=extensions, subprotocols=subprotocols,
            extra_headers=extra_headers, server_header=server_header,
            process_request=process_request, select_subprotocol=select_subprotocol,
            logger=logger)
        if max_size is not None and max_size <= 0:
            raise ValueError("max_size must be > 0 or None")
        self._max_frame_size = (1 << 62) if max_size is None else max_size
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._host, self._port = host, port
        self._kwargs = kwargs
        self._server_logger = logger

    async def _listener_factory(self, core_request: Any) -> WSUpgradeResponseWithListener:
        protocol = self._create_protocol(self._ws_handler, self.ws_server,
                                         **self._protocol_kwargs)
        protocol._core_request = core_request
        protocol._core_compression = self._core_compression
        protocol._handshake_peername = core_request.peername
        protocol._handshake_sockname = core_request.sockname
        path = core_request.path
        protocol.path = path.decode("ascii", "surrogateescape") if isinstance(path, bytes) else path
        headers = Headers()
        for name, value in core_request.headers.items():
            headers.set_insecure(name, value)
        protocol.request_headers = headers
        self.ws_server.register(protocol)
        try:
            try:
                await protocol.handshake(
                    origins=protocol.origins,
                    available_extensions=protocol.available_extensions,
                    available_subprotocols=protocol.available_subprotocols,
                    extra_headers=protocol.extra_headers)
                response = protocol._handshake_response
                if response is None:
                    raise InvalidHandshake("handshake() returned without accepting")
            except Exception as exc:
                response = _error_response(protocol, exc)
        except BaseException:
            self.ws_server.unregister(protocol)
            protocol._abandon()
            raise
        if response.status_code == 101:
            return WSUpgradeResponseWithListener(response.to_core(), protocol)
        self.ws_server.unregister(protocol)
        protocol._abandon()
        return WSUpgradeResponseWithListener(response.to_core(), None)

    async def _create(self) -> WebSocketServer:
        options = dict(self._kwargs)
        if options.pop("unix", False):
            options["sock"] = options.pop("sock", None) or _bind_unix(options.pop("path", None))
        logger = self._server_logger or logging.getLogger("websockets.server")
        server = await ws_create_server(
            self._listener_factory, self._host, self._port,
            websocket_handshake_timeout=self._open_timeout, logger_name=logger,
            max_frame_size=self._max_frame_size, close_timeout=self._close_timeout,
            validate_utf8=True, compression=self._core_compression, **options)
        self.ws_server.wrap(server)
        return self.ws_server

    def __await__(self) -> Any:
        return self._create().__await__()

    async def __aenter__(self) -> WebSocketServer:
        return await self

    async def __aexit__(self, *exc: Any) -> None:
        self.ws_server.close()
        await self.ws_server.wait_closed()


serve = Serve


def unix_serve(ws_handler: Callable, path: Optional[str] = None, **kwargs: Any) -> Serve:
    """serve() on the Unix socket ``path``."""
    return serve(ws_handler, path=path, unix=True, **kwargs)
