"""serve() / unix_serve() / Server / ServerConnection / basic_auth / broadcast,
as in websockets.asyncio.server.

How a connection starts.  The server is the core's (``ws_create_server``)
and the ServerConnection is its WSListener.  The listener factory, which
the core calls with the parsed upgrade request, makes the handshake
decision synchronously: 503 while closing, the Origin check, the
subprotocol (``select_subprotocol``) and permessage-deflate answers, 101.
The request is validated and negotiated here, once: the results stay on
the core's request object (handshake.validate_request and
accept_extensions), where the core finds them when it sends the 101.
After that there is no Python between the socket and the core's frame
parser.

process_request / process_response may be coroutines: with either hook
the listener factory is a coroutine function (the core pauses reading
until it returns) that runs the hooks and then makes the same decision.
"""
import asyncio
import email.utils
import http
import logging
import os
import re
import socket
import stat
import sys
from typing import Any, Awaitable, Callable, Optional, Sequence

from ...handshake import (HandshakeRejected, WSUpgradeResponseWithListener, accept_extensions,
                          validate_request)
from ...server import ws_create_server
from ..basic_auth import (build_www_authenticate_basic, credentials_checker,
                          parse_authorization_basic)
from ..datastructures import Headers
from ..exceptions import InvalidHeader, InvalidOrigin, NegotiationError
from ..http11 import SERVER, Request, Response
from ..protocol import OPEN
from .client import check_subprotocols, check_unsupported, core_compression, extensions_deflate
from .connection import Connection, broadcast, core_limits

__all__ = ["serve", "unix_serve", "ServerConnection", "Server", "basic_auth", "broadcast",
           "route", "unix_route"]


class ServerConnection(Connection):
    """A server-side WebSocket connection, handed to the connection handler."""
    __slots__ = ("__dict__", "server", "username")

    def __init__(self, server: "Server", **options: Any) -> None:
        super().__init__(**options)
        self.server = server
        self.username: Optional[str] = None

    def respond(self, status: Any, text: str) -> Response:
        """A plain-text HTTP response, for process_request / process_response
        to return instead of accepting the WebSocket upgrade."""
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ])
        return Response(status.value, status.phrase, headers, body)

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        server = self.server
        server.all_connections.add(self)
        task = self.loop.create_task(server._run_handler(self))
        server.handler_tasks.add(task)


class Server:
    """The WebSocket server returned by serve(): await it or use it as an
    async context manager; close() closes the connections with 1001."""

    def __init__(self, handler: Callable[[ServerConnection], Awaitable[None]],
                 create_server: Callable[["Server"], Awaitable[asyncio.AbstractServer]],
                 logger: Any = None) -> None:
        self.handler = handler
        self._create_server = create_server
        self.logger = logger if logger is not None else \
            logging.getLogger("picows_like.websockets.server")
        self.all_connections: set = set()
        self.handler_tasks: set = set()
        self.close_task: Optional[asyncio.Task] = None
        self.closing = False
        self.server: Any = None
        self.handlers_waiter = asyncio.get_running_loop().create_future()

    @property
    def connections(self) -> set:
        """The connections that are OPEN."""
        return {c for c in self.all_connections if c.state is OPEN}

    async def _run_handler(self, connection: ServerConnection) -> None:
        try:
            try:
                await self.handler(connection)
            except Exception:
                connection.logger.error("connection handler failed", exc_info=True)
                await connection.close(1011)
            except BaseException:
                await asyncio.shield(connection.close(1011))
                raise
            else:
                await connection.close()
        except Exception:
            if connection.ws_transport is not None:
                connection.ws_transport.disconnect(False)
        finally:
            self.all_connections.discard(connection)
            self.handler_tasks.discard(asyncio.current_task())

    def close(self, close_connections: bool = True, code: int = 1001,
              reason: str = "") -> None:
        """Stop accepting connections; answer pending handshakes with 503;
        close OPEN connections with `code` (1001) unless close_connections
        is False; then wait_closed() returns once every handler returned."""
        if self.close_task is None:
            self.close_task = asyncio.get_running_loop().create_task(
                self._close(close_connections, code, reason))

    async def _close(self, close_connections: bool, code: int, reason: str) -> None:
        self.logger.info("server closing")
        self.closing = True
        if self.server is not None:
            self.server.close()
        if close_connections:
            tasks = [asyncio.ensure_future(c.close(code, reason))
                     for c in self.all_connections if c.state is OPEN]
            if tasks:
                await asyncio.wait(tasks)
        if self.server is not None:
            await self.server.wait_closed()
        if self.handler_tasks:
            await asyncio.wait(self.handler_tasks)
        if not self.handlers_waiter.done():
            self.handlers_waiter.set_result(None)
        self.logger.info("server closed")

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has returned."""
        await asyncio.shield(self.handlers_waiter)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self.server.get_loop()

    def is_serving(self) -> bool:
        return self.server is not None and self.server.is_serving()

    async def start_serving(self) -> None:
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Serve until close() is called or this coroutine is cancelled."""
        try:
            if not self.is_serving():
                await self.start_serving()
            await self.wait_closed()
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise

    @property
    def sockets(self) -> Any:
        return self.server.sockets

    async def _start(self) -> "Server":
        if self.server is None:
            self.server = await self._create_server(self)
        return self

    def __await__(self) -> Any:
        return self._start().__await__()

    async def __aenter__(self) -> "Server":
        return await self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


def _failed(conn: ServerConnection) -> Response:
    return conn.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR,
                        "Failed to open a WebSocket connection.\n"
                        "See server log for more information.\n")


class _Config:
    """Everything a connection needs from serve()'s arguments."""

    def __init__(self, server: Server, *, origins: Optional[Sequence[Any]],
                 process_request: Optional[Callable], process_response: Optional[Callable],
                 server_header: Optional[str], open_timeout: Optional[float],
                 connection_class: type,
                 connection_options: dict, compression: Any = None,
                 subprotocols: Optional[list] = None,
                 select_subprotocol: Optional[Callable] = None) -> None:
        self.server = server
        self.origins = origins
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        self.open_timeout = open_timeout
        self.connection_class = connection_class
        self.connection_options = connection_options
        self.compression = compression
        self.subprotocols = subprotocols
        self.select_subprotocol = select_subprotocol

    def _new_connection(self, core_request: Any) -> ServerConnection:
        conn = self.connection_class(self.server, **self.connection_options)
        conn.request = Request.from_core(core_request)
        conn._handshake_peername = core_request.peername
        conn._handshake_sockname = core_request.sockname
        return conn

    @staticmethod
    def _decided(conn: ServerConnection, response: Response) -> WSUpgradeResponseWithListener:
        conn.response = response
        if response.status_code == 101:
            return WSUpgradeResponseWithListener(response.to_core(), conn)
        conn._abandon()                     # rejected: never became a WebSocket
        return WSUpgradeResponseWithListener(response.to_core(), None)

    def listener_factory(self, core_request: Any) -> WSUpgradeResponseWithListener:
        """The core's listener factory: the handshake decision for one
        request (no process_request / process_response hooks)."""
        conn = self._new_connection(core_request)
        try:
            response = self.accept(conn, core_request)
        except Exception:
            self.server.logger.error("opening handshake failed", exc_info=True)
            response = _failed(conn)
        return self._decided(conn, response)

    async def hooked_listener_factory(self, core_request: Any) -> WSUpgradeResponseWithListener:
        """The listener factory with process_request / process_response: a
        coroutine, which the core awaits with reading paused."""
        conn = self._new_connection(core_request)
        try:
            response = await self.run_hooks(conn, core_request)
        except BaseException:
            conn._abandon()                 # the client left (cancelled) or a bug
            raise
        return self._decided(conn, response)

    async def run_hooks(self, conn: ServerConnection, core_request: Any) -> Response:
        """The handshake decision with process_request / process_response
        (either may be a coroutine function), as websockets takes it."""
        request = conn.request
        response = None
        if self.process_request is not None and not self.server.closing:
            try:
                response = self.process_request(conn, request)
                if isinstance(response, Awaitable):
                    response = await response
            except Exception:
                self.server.logger.error("process_request failed", exc_info=True)
                response = _failed(conn)
        if response is None:
            try:
                response = self.accept(conn, core_request)
            except Exception:
                self.server.logger.error("opening handshake failed", exc_info=True)
                response = _failed(conn)
        if self.process_response is not None:
            try:
                new = self.process_response(conn, request, response)
                if isinstance(new, Awaitable):
                    new = await new
                if new is not None:
                    response = new
            except Exception:
                self.server.logger.error("process_response failed", exc_info=True)
                response = _failed(conn)
        return response

    def _subprotocol(self, conn: ServerConnection) -> Optional[str]:
        """websockets' rule: the first of the server's subprotocols that the
        client offers; 400 if the server has some and none matches (or the
        client offers none).  select_subprotocol(connection, offered)
        replaces the rule."""
        offered = [p.strip() for value in conn.request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in value.split(",") if p.strip()]
        if self.select_subprotocol is not None:
            return self.select_subprotocol(conn, offered)
        if not self.subprotocols:
            return None
        if not offered:
            raise NegotiationError("missing subprotocol")
        for subprotocol in self.subprotocols:
            if subprotocol in offered:
                return subprotocol
        raise NegotiationError("invalid subprotocol; expected one of "
                               + ", ".join(self.subprotocols))

    def _extensions(self, core_request: Any) -> Optional[str]:
        """The Sec-WebSocket-Extensions answer, here so that process_response
        and connection.response see it, as in websockets.  The answer stays
        on the request, where the core finds it instead of negotiating
        again (handshake.accept_extensions)."""
        if self.compression is None:
            return None
        try:
            accepted = accept_extensions(core_request, self.compression)
        except HandshakeRejected as exc:
            raise NegotiationError(str(exc)) from None
        return None if accepted is None else accepted[1]

    def accept(self, conn: ServerConnection, core_request: Any) -> Response:
        """The default decision: 503 while closing, 403 for a bad Origin,
        the core's error for an invalid upgrade request, else 101."""
        if self.server.closing:
            response = conn.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                    "Server is shutting down.\n")
        else:
            response = self._accept(conn, core_request)
        if self.server_header is not None:
            response.headers["Server"] = self.server_header
        return response

    def _accept(self, conn: ServerConnection, core_request: Any) -> Response:
        if self.origins is not None:
            try:
                origins = conn.request.headers.get_all("Origin")
                if len(origins) > 1:
                    raise InvalidHeader("Origin", "multiple values")
                origin = origins[0] if origins else None
                for allowed in self.origins:
                    if allowed == origin or (isinstance(allowed, re.Pattern)
                                             and origin is not None and allowed.fullmatch(origin)):
                        break
                else:
                    raise InvalidOrigin(origin)
            except InvalidHeader as exc:
                return conn.respond(http.HTTPStatus.FORBIDDEN,
                                    f"Failed to open a WebSocket connection: {exc}.\n")
        try:
            # The core's own check of this request then finds the result.
            accept = validate_request(core_request)
        except HandshakeRejected as rejected:
            return Response.from_core(rejected.response)
        try:
            extensions = self._extensions(core_request)
            subprotocol = self._subprotocol(conn)
        except NegotiationError as exc:
            return conn.respond(http.HTTPStatus.BAD_REQUEST,
                                f"Failed to open a WebSocket connection: {exc}.\n")
        headers = Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept.decode()),
        ])
        if extensions is not None:
            headers["Sec-WebSocket-Extensions"] = extensions
        if subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = subprotocol
        conn._subprotocol = subprotocol
        return Response(101, "Switching Protocols", headers)


def serve(handler: Callable[[ServerConnection], Awaitable[None]], host: Any = None,
          port: Any = None, *, origins: Optional[Sequence[Any]] = None, extensions: Any = None,
          subprotocols: Any = None, select_subprotocol: Any = None,
          compression: Optional[str] = "deflate",
          process_request: Optional[Callable] = None, process_response: Optional[Callable] = None,
          server_header: Optional[str] = SERVER, open_timeout: Optional[float] = 10,
          ping_interval: Optional[float] = 20, ping_timeout: Optional[float] = 20,
          close_timeout: Optional[float] = 10, max_size: Any = 2 ** 20, max_queue: Any = 16,
          write_limit: Any = 2 ** 15, logger: Any = None, create_connection: Optional[type] = None,
          **kwargs: Any) -> Server:
    """Create a WebSocket server on host:port running `handler(connection)`
    for every connection.  Same keywords as websockets.asyncio.server.serve;
    other keyword arguments go to ``loop.create_server`` (``ssl``, ``sock``,
    ``reuse_port``, ``start_serving``, ...).

    ``compression="deflate"`` (the default) accepts permessage-deflate
    offers (windows limited to 12 bits, as websockets does), None declines
    them.  ``subprotocols`` / ``select_subprotocol(connection, offered)``
    pick the subprotocol, as in websockets.

    Differences: ``extensions`` raises NotImplementedError;
    ``create_connection`` must be a ServerConnection subclass (called as
    ``cls(server, **options)``).
    """
    check_unsupported(extensions)
    core_deflate = core_compression(compression, server=True)
    if extensions:
        core_deflate = extensions_deflate(extensions)
    subprotocols = check_subprotocols(subprotocols)
    if origins is not None:
        if isinstance(origins, str):
            raise TypeError("origins must be a sequence, not a str")
    _, max_frame_size = core_limits(max_size)
    if logger is None:
        logger = logging.getLogger("picows_like.websockets.server")
    if kwargs.get("ssl") is not None:
        kwargs.setdefault("ssl_handshake_timeout", open_timeout)
        if close_timeout is not None and sys.version_info >= (3, 11):
            # asyncio's create_server takes it from Python 3.11 on.
            kwargs.setdefault("ssl_shutdown_timeout", close_timeout)
    hooks = process_request is not None or process_response is not None

    async def create_server(server: Server) -> Any:
        config = _Config(
            server, origins=origins, process_request=process_request,
            process_response=process_response, server_header=server_header,
            open_timeout=open_timeout,
            connection_class=create_connection or ServerConnection,
            connection_options=dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                                    close_timeout=close_timeout, max_size=max_size,
                                    max_queue=max_queue, write_limit=write_limit,
                                    logger=logger),
            compression=core_deflate, subprotocols=subprotocols,
            select_subprotocol=select_subprotocol)
        options = dict(kwargs)
        if options.pop("unix", False):
            sock = options.pop("sock", None) or _bind_unix(options.pop("path", None))
            options["sock"] = sock
        factory = config.hooked_listener_factory if hooks else config.listener_factory
        return await ws_create_server(
            factory, host, port, websocket_handshake_timeout=open_timeout,
            logger_name=logger, max_frame_size=max_frame_size, close_timeout=close_timeout,
            validate_utf8=True, compression=core_deflate, **options)

    return Server(handler, create_server, logger)


def _bind_unix(path: Any) -> socket.socket:
    """A Unix stream socket bound to `path` (a stale socket file there is
    removed first, as loop.create_unix_server does)."""
    if path is None:
        raise ValueError("unix_serve() needs a path or a sock")
    path = os.fspath(path)
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except BaseException:
        sock.close()
        raise
    return sock


def unix_serve(handler: Callable[[ServerConnection], Awaitable[None]], path: Any = None,
               **kwargs: Any) -> Server:
    """serve() on the Unix socket `path` instead of host:port."""
    return serve(handler, unix=True, path=path, **kwargs)


# -- HTTP Basic Authentication ----------------------------------------------------

def basic_auth(realm: str = "", credentials: Any = None,
               check_credentials: Optional[Callable[[str, str], Any]] = None) -> Callable:
    """A process_request enforcing HTTP Basic Authentication: 401 with
    WWW-Authenticate unless the credentials check out, in which case the
    connection's ``username`` is set.  Give either ``credentials`` (a
    (username, password) pair or a list of them) or ``check_credentials``
    (a function or coroutine function)."""
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is not None:
        check: Callable[[str, str], Any] = credentials_checker(credentials)
    else:
        assert check_credentials is not None
        check = check_credentials

    def unauthorized(conn: ServerConnection, text: str) -> Response:
        response = conn.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)
        return response

    async def process_request(connection: ServerConnection, request: Request) -> Optional[Response]:
        try:
            authorization = request.headers["Authorization"]
        except KeyError:
            return unauthorized(connection, "Missing credentials\n")
        try:
            username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            return unauthorized(connection, "Unsupported credentials\n")
        valid = check(username, password)
        if isinstance(valid, Awaitable):
            valid = await valid
        if not valid:
            return unauthorized(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request



def route(*args: Any, **kwargs: Any) -> Server:
    """Not supported: websockets' werkzeug-based URL routing."""
    raise NotImplementedError("picows_like.websockets does not support route() (werkzeug URL "
                              "routing) yet; dispatch on connection.request.path in the handler")


def unix_route(*args: Any, **kwargs: Any) -> Server:
    """Not supported: websockets' werkzeug-based URL routing on a Unix socket."""
    raise NotImplementedError("picows_like.websockets does not support unix_route() (werkzeug "
                              "URL routing) yet; dispatch on connection.request.path in the "
                              "handler")
