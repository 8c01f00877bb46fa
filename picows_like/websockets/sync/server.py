"""Blocking WebSocket server: ``serve`` / ``unix_serve`` as in
``websockets.sync.server``, on picows_like's sans-I/O ``ServerProtocol``.
One thread per connection runs the opening handshake, then the handler."""
import http
import logging
import selectors
import socket
import threading
import time
from typing import Any, Callable, Optional, Sequence

from ..asyncio.client import check_unsupported, core_compression, extensions_deflate
from ..basic_auth import (build_www_authenticate_basic, credentials_checker,
                          parse_authorization_basic)
from ..exceptions import InvalidHeader
from ..frames import CloseCode
from ..http11 import SERVER, Request, Response
from ..protocol import OPEN
from ..server import ServerProtocol
from .connection import Connection, broadcast

__all__ = ["serve", "unix_serve", "ServerConnection", "Server", "basic_auth", "broadcast"]


class ServerConnection(Connection):
    """A server-side WebSocket connection (see ``Connection``)."""

    protocol: ServerProtocol

    def __init__(self, socket: Any, protocol: ServerProtocol, **kwargs: Any) -> None:
        super().__init__(socket, protocol, **kwargs)
        self.username: Optional[str] = None

    def respond(self, status: Any, text: str) -> Response:
        """An HTTP response for ``process_request`` to return."""
        return self.protocol.reject(status, text)

    def _handshake(self, process_request: Any, process_response: Any,
                   server_header: Optional[str], deadline: float,
                   server: "Server") -> bool:
        """Read the request and answer it; True when the connection is OPEN."""
        sock, protocol = self.socket, self.protocol
        request = None
        while request is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except (socket.timeout, OSError):
                return False
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            for event in protocol.events_received():
                if isinstance(event, Request):
                    request = event
            if protocol.handshake_exc is not None and request is None:
                for out in protocol.data_to_send():
                    if out:
                        sock.sendall(out)
                return False
            if not data and request is None:
                return False
        self.request = request
        response = None
        if server.closing:
            response = protocol.reject(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                       "Server is shutting down.\n")
        elif process_request is not None:
            try:
                response = process_request(self, request)
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("opening handshake failed", exc_info=True)
                response = protocol.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR,
                                           "Failed to open a WebSocket connection.\n"
                                           "See server log for more information.\n")
        if response is None:
            response = protocol.accept(request)
        if server_header is not None:
            response.headers.setdefault("Server", server_header)
        if process_response is not None:
            try:
                replaced = process_response(self, request, response)
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("opening handshake failed", exc_info=True)
                replaced = protocol.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR,
                                           "Failed to open a WebSocket connection.\n"
                                           "See server log for more information.\n")
            if replaced is not None:
                response = replaced
        self.response = response
        if response.status_code == 101 and protocol.handshake_exc is not None:
            response = protocol.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR,
                                       "Failed to open a WebSocket connection.\n")
            self.response = response
        protocol.send_response(response)
        events = protocol.events_received()
        for out in protocol.data_to_send():
            if out:
                sock.sendall(out)
            else:
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        if protocol.state is not OPEN:
            return False
        sock.settimeout(None)
        self._start(events)
        return True


class Server:
    """A threaded WebSocket server (``serve_forever`` / ``shutdown``)."""

    def __init__(self, socket: Any, handler: Callable[[Any], Any],
                 logger: Any = None) -> None:
        self.socket = socket
        self.handler = handler
        if logger is None:
            logger = logging.getLogger("picows_like.websockets.server")
        self.logger = logger
        self.closing = False
        self._lock = threading.Lock()
        self._threads: set = set()
        self._connections: set = set()
        self._wake_r, self._wake_w = _socketpair()
        self._stopped = threading.Event()
        self._serving = False

    @property
    def connections(self) -> set:
        """The connections that completed the opening handshake and did not
        start the closing handshake (for ``broadcast``)."""
        with self._lock:
            return {c for c in self._connections if c.protocol.state is OPEN}

    def serve_forever(self) -> None:
        """Accept connections until ``shutdown()``; one thread each."""
        sel = selectors.DefaultSelector()
        sel.register(self.socket, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        self._serving = True
        try:
            while not self.closing:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        sock, _ = self.socket.accept()
                    except OSError:
                        if self.closing:
                            return
                        continue
                    thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
                    with self._lock:
                        if self.closing:
                            sock.close()
                            return
                        self._threads.add(thread)
                    thread.start()
        finally:
            sel.close()
            self._stopped.set()

    def _run(self, sock: Any) -> None:
        try:
            self._conn_handler(sock)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def shutdown(self, close_connections: bool = True, code: int = CloseCode.GOING_AWAY,
                 reason: str = "") -> None:
        """Stop accepting; close open connections with `code` (1001); wait
        for the handlers to return.  Idempotent."""
        with self._lock:
            already = self.closing
            self.closing = True
        if not already:
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass
            if self._serving:
                self._stopped.wait()
            self.socket.close()
        if close_connections:
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                if connection.protocol.state is OPEN:
                    connection.close(code, reason)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()

    def fileno(self) -> int:
        return self.socket.fileno()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self._wake_r.close()
        self._wake_w.close()

    _conn_handler: Callable[[Any], None]


def _socketpair() -> Any:
    return socket.socketpair()


def serve(handler: Callable[[Any], Any], host: Optional[str] = None,
          port: Optional[int] = None, *, sock: Any = None, ssl: Any = None,
          origins: Optional[Sequence[Any]] = None,
          extensions: Optional[Sequence[Any]] = None,
          subprotocols: Optional[Sequence[str]] = None,
          select_subprotocol: Optional[Callable[..., Any]] = None,
          compression: Optional[str] = "deflate",
          process_request: Optional[Callable[..., Any]] = None,
          process_response: Optional[Callable[..., Any]] = None,
          server_header: Optional[str] = SERVER,
          open_timeout: Optional[float] = 10, ping_interval: Optional[float] = 20,
          ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = 10,
          max_size: Any = 2 ** 20, max_queue: Any = 16, logger: Any = None,
          create_connection: Optional[type] = None, **kwargs: Any) -> Server:
    """Create a threaded WebSocket server listening on `host`:`port` (or on
    `sock`); call ``serve_forever()`` on the result.  `handler(connection)`
    runs in a thread per connection; the connection closes (1000, or 1011
    if it raised) when it returns."""
    check_unsupported(extensions)
    deflate = core_compression(compression, server=True)
    if extensions:
        deflate = extensions_deflate(extensions)
    if create_connection is None:
        create_connection = ServerConnection
    unix = kwargs.pop("unix", False)
    path = kwargs.pop("path", None)
    if sock is None:
        if unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            sock.listen(kwargs.pop("backlog", 2048))
        else:
            sock = socket.create_server((host or "", port or 0), **kwargs)
    if ssl is not None:
        sock = ssl.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    server = Server(sock, handler, logger=logger)

    def conn_handler(client: Any) -> None:
        deadline = time.monotonic() + (open_timeout if open_timeout is not None else 1e9)
        try:
            if not unix:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if ssl is not None:
                client.settimeout(open_timeout)
                client.do_handshake()
            protocol = ServerProtocol(origins=origins,
                                      extensions=[deflate] if deflate is not None else None,
                                      subprotocols=subprotocols,
                                      select_subprotocol=select_subprotocol,
                                      max_size=max_size, logger=logger)
            connection = create_connection(client, protocol, ping_interval=ping_interval,
                                           ping_timeout=ping_timeout,
                                           close_timeout=close_timeout, max_queue=max_queue)
        except Exception:
            client.close()
            return
        try:
            with server._lock:
                server._connections.add(connection)
            try:
                opened = connection._handshake(process_request, process_response,
                                               server_header, deadline, server)
            except Exception:
                server.logger.error("opening handshake failed", exc_info=True)
                opened = False
            if not opened:
                client.close()
                return
            try:
                handler(connection)
            except Exception:
                server.logger.error("connection handler failed", exc_info=True)
                connection.close(CloseCode.INTERNAL_ERROR)
            else:
                connection.close()
        finally:
            with server._lock:
                server._connections.discard(connection)

    server._conn_handler = conn_handler
    return server


def unix_serve(handler: Callable[[Any], Any], path: Optional[str] = None,
               **kwargs: Any) -> Server:
    """Create a threaded WebSocket server listening on a Unix socket."""
    return serve(handler, unix=True, path=path, **kwargs)


def basic_auth(realm: str = "", credentials: Any = None,
               check_credentials: Optional[Callable[[str, str], bool]] = None
               ) -> Callable[[ServerConnection, Request], Optional[Response]]:
    """A ``process_request`` enforcing HTTP Basic Authentication, as
    ``websockets.sync.server.basic_auth``: 401 with WWW-Authenticate unless
    the credentials check out, in which case the connection's ``username``
    is set.  Give either ``credentials`` (a (username, password) pair or a
    list of them, compared in constant time) or ``check_credentials``."""
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is not None:
        check: Callable[[str, str], bool] = credentials_checker(credentials)
    else:
        assert check_credentials is not None
        check = check_credentials

    def unauthorized(connection: ServerConnection, text: str) -> Response:
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)
        return response

    def process_request(connection: ServerConnection,
                        request: Request) -> Optional[Response]:
        try:
            authorization = request.headers["Authorization"]
        except KeyError:
            return unauthorized(connection, "Missing credentials\n")
        try:
            username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            return unauthorized(connection, "Unsupported credentials\n")
        if not check(username, password):
            return unauthorized(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
