"""Blocking WebSocket client: ``connect`` / ``unix_connect`` / ``reconnect``
as in ``websockets.sync.client``, on picows_like's sans-I/O ``ClientProtocol``.

Proxies (``proxy=``, default from the environment as websockets reads it),
redirects and the reconnection policy are the ones of picows_like's asyncio
clients: the CONNECT request and the reading of the proxy's answer are
picows_like.proxy's, the redirect policy is
``picows_like.websockets.asyncio.client.process_redirect``, the retry policy
(``process_exception``, ``backoff``, ``RECONNECT_CLOSE_CODES``) is
picows_like.reconnect's."""
import os
import socket
import ssl as ssl_module
import threading
import time
import urllib.parse
from typing import Any, Callable, Iterator, Optional, Sequence

from ... import proxy as _proxy
from ...url import WSParsedURL
from ..asyncio.client import (MAX_REDIRECTS, ReconnectPacer, backoff, check_unsupported,
                              core_compression, extensions_deflate, process_exception,
                              process_redirect)
from ..client import ClientProtocol
from ..exceptions import (InvalidMessage, InvalidProxyMessage,
                          InvalidProxyStatus, InvalidStatus, ProxyError, SecurityError)
from ..http11 import USER_AGENT, Response
from ..proxy import get_proxy
from ..proxy import parse_proxy as _parse_proxy
from ..uri import parse_uri
from .connection import Connection

__all__ = ["connect", "unix_connect", "reconnect", "unix_reconnect", "ClientConnection",
           "process_exception", "backoff"]


class ClientConnection(Connection):
    """A client-side WebSocket connection (see ``Connection``)."""

    protocol: ClientProtocol

    def __init__(self, socket: Any, protocol: ClientProtocol, **kwargs: Any) -> None:
        super().__init__(socket, protocol, **kwargs)


class _Deadline:
    """What is left of open_timeout (None: no limit)."""

    def __init__(self, timeout: Optional[float]) -> None:
        self.end = None if timeout is None else time.monotonic() + timeout

    def timeout(self) -> Optional[float]:
        if self.end is None:
            return None
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out during opening handshake")
        return left


def _handshake(sock: Any, protocol: ClientProtocol, request: Any, deadline: _Deadline) -> list:
    """Send the request, read until the response; the events after it."""
    protocol.send_request(request)
    for data in protocol.data_to_send():
        sock.sendall(data)
    while True:
        sock.settimeout(deadline.timeout())
        try:
            data = sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("timed out during opening handshake") from None
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events = protocol.events_received()
        for i, event in enumerate(events):
            if isinstance(event, Response):
                if protocol.handshake_exc is not None:
                    raise protocol.handshake_exc
                # Frames that came with the 101 may need an answer already
                # (the CLOSE of a server that closes at once, a PONG).
                for out in protocol.data_to_send():
                    if out:
                        sock.sendall(out)
                    else:
                        sock.shutdown(socket.SHUT_WR)
                return [event] + events[i + 1:]
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        if not data:
            raise InvalidMessage("did not receive a valid HTTP response")


# -- proxies ---------------------------------------------------------------------

def _connect_http_proxy(proxy: WSParsedURL, host: str, port: int, deadline: _Deadline, *,
                        ssl: Optional[ssl_module.SSLContext],
                        server_hostname: Optional[str], kwargs: dict) -> Any:
    """A socket (an SSLSocket for an https:// proxy) tunnelled to host:port
    by an HTTP CONNECT: the request and the reading of the answer are
    picows_like.proxy's; refusals become websockets' exceptions."""
    kwargs = dict(kwargs)
    kwargs.pop("address", None)
    kwargs.setdefault("timeout", deadline.timeout())
    sock = socket.create_connection((proxy.host, proxy.port), **kwargs)
    try:
        if proxy.scheme == "https":
            if ssl is None:
                ssl = ssl_module.create_default_context()
            sock.settimeout(deadline.timeout())
            sock = ssl.wrap_socket(sock, server_hostname=server_hostname or proxy.host)
        sock.sendall(_proxy._connect_request(host, port, proxy.username, proxy.password))
        reply = _proxy._ConnectReply(_proxy._authority(host, port),
                                     f"{proxy.scheme}://{_proxy._authority(proxy.host, proxy.port)}")
        body_deadline = None
        try:
            while True:
                timeout = deadline.timeout()
                if body_deadline is not None:
                    timeout = max(0.0, min(timeout or 1e9, body_deadline - time.monotonic()))
                sock.settimeout(timeout)
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    if body_deadline is not None:   # the refusal's body never came
                        raise reply.refusal() from None
                    raise TimeoutError("timed out while connecting to HTTP proxy") from None
                if not chunk:
                    raise reply.closed()
                state = reply.feed(chunk)
                if state == _proxy._OPEN:
                    break
                if state == _proxy._REFUSED:
                    raise reply.refusal()
                if reply.head is not None and body_deadline is None:
                    body_deadline = time.monotonic() + _proxy._ERROR_BODY_WAIT
        except _proxy.WSProxyError as exc:
            if exc.status is not None and exc.response is not None:
                raise InvalidProxyStatus(Response.from_core(exc.response)) from exc
            if exc.status is not None:
                raise InvalidProxyStatus(Response(exc.status, "", _empty_headers())) from exc
            raise InvalidProxyMessage(str(exc)) from exc
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


def _empty_headers() -> Any:
    from ..datastructures import Headers
    return Headers()


class _ConnectedSocket:
    """python-socks' `forward` hook: hands it the socket we connected."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def connect(self, dest_host: str, dest_port: int, timeout: Optional[float] = None,
                **kwargs: Any) -> socket.socket:
        return self._sock


def _connect_socks_proxy(proxy: WSParsedURL, rdns: Optional[bool], host: str, port: int,
                         deadline: _Deadline, kwargs: dict) -> socket.socket:
    python_socks, _ = _proxy._import_python_socks(proxy.scheme)
    from python_socks.sync import Proxy
    kind = python_socks.ProxyType.SOCKS4 if proxy.scheme == "socks4" \
        else python_socks.ProxyType.SOCKS5
    unquote = urllib.parse.unquote
    kwargs = dict(kwargs)
    kwargs.pop("address", None)
    kwargs.setdefault("timeout", deadline.timeout())
    sock = socket.create_connection((proxy.host, proxy.port), **kwargs)
    client = Proxy(kind, proxy.host, proxy.port,
                   None if proxy.username is None else unquote(proxy.username),
                   None if proxy.password is None else unquote(proxy.password),
                   rdns, forward=_ConnectedSocket(sock))  # type: ignore[arg-type]
    try:
        client.connect(host, port, timeout=deadline.timeout())
    except python_socks.ProxyTimeoutError:
        sock.close()
        raise TimeoutError("timed out while connecting to SOCKS proxy") from None
    except (OSError, TimeoutError):
        sock.close()
        raise
    except Exception as exc:
        sock.close()
        raise ProxyError("failed to connect to SOCKS proxy") from exc
    sock.settimeout(None)
    return sock


class _TLSInTLS:
    """TLS to the target inside the TLS connection to an https:// proxy: an
    SSLObject over memory BIOs, sending and receiving on the proxy's
    SSLSocket.  Offers what Connection uses of a socket (recv, recv_into,
    sendall, settimeout, shutdown, close, ...)."""

    recv_size = 65536

    def __init__(self, sock: Any, context: ssl_module.SSLContext,
                 server_hostname: Optional[str]) -> None:
        self._sock = sock
        self._incoming = ssl_module.MemoryBIO()
        self._outgoing = ssl_module.MemoryBIO()
        self._object = context.wrap_bio(self._incoming, self._outgoing,
                                        server_hostname=server_hostname)
        # The SSLObject is used by the reader thread and by senders.
        self._lock = threading.RLock()
        self._run(self._object.do_handshake)

    def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        while True:
            with self._lock:
                try:
                    result = func(*args)
                    want_read = False
                except ssl_module.SSLWantReadError:
                    want_read = True
                out = self._outgoing.read()
                if out:
                    self._sock.sendall(out)
            if not want_read:
                return result
            data = self._sock.recv(self.recv_size)
            with self._lock:
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()

    def recv(self, size: int) -> bytes:
        try:
            return self._run(self._object.read, size)  # type: ignore[no-any-return]
        except (ssl_module.SSLEOFError, ssl_module.SSLZeroReturnError):
            return b""

    def recv_into(self, buffer: Any) -> int:
        data = self.recv(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def sendall(self, data: Any) -> None:
        with memoryview(data) as view, view.cast("B") as chunk:
            sent = 0
            while sent < len(chunk):
                sent += self._run(self._object.write, chunk[sent:])

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


# -- connecting ------------------------------------------------------------------

class reconnect:
    """Like ``connect``, and an endless iterator of connections that
    reconnects after failures, as ``websockets.sync.client.reconnect``::

        for websocket in reconnect(uri):
            try:
                ...
            except ConnectionClosed:
                continue

    A failed attempt is retried after the delays of `reconnect_delays`
    (exponential backoff with jitter) when `process_exception` says it is
    transient (network errors, timeouts, HTTP 500/502/503/504); otherwise
    it is raised.  A connection that ended with 1001, 1011-1014 or without
    a CLOSE (1006) also backs off before the next one (RECONNECT_CLOSE_CODES,
    as picows_like's other reconnecting clients).  Each connection is closed
    when its loop iteration ends.

    Keywords as ``connect`` plus `process_exception` and `reconnect_delays`.
    """

    def __init__(self, uri: str, *, sock: Any = None, ssl: Any = None,
                 server_hostname: Optional[str] = None, origin: Optional[str] = None,
                 extensions: Optional[Sequence[Any]] = None,
                 subprotocols: Optional[Sequence[str]] = None,
                 compression: Optional[str] = "deflate",
                 additional_headers: Any = None,
                 user_agent_header: Optional[str] = USER_AGENT,
                 proxy: Any = True, proxy_ssl: Optional[ssl_module.SSLContext] = None,
                 proxy_server_hostname: Optional[str] = None,
                 process_exception: Callable[[Exception], Optional[Exception]]
                 = process_exception,
                 open_timeout: Optional[float] = 10, ping_interval: Optional[float] = 20,
                 ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = 10,
                 reconnect_delays: Callable[[], Iterator[float]] = backoff,
                 max_size: Any = 2 ** 20, max_queue: Any = 16, logger: Any = None,
                 create_connection: Optional[type] = None, **kwargs: Any) -> None:
        check_unsupported(extensions)
        self.uri = uri
        self.ws_uri = parse_uri(uri)
        if not self.ws_uri.secure and ssl is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        self.deflate = core_compression(compression, server=False)
        if extensions:
            self.deflate = extensions_deflate(extensions)
        self.sock = sock
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.origin = origin
        self.subprotocols = subprotocols
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        if proxy is not None and proxy is not True:
            _parse_proxy(proxy)             # InvalidProxy now, not per attempt
        self.proxy = proxy
        self.proxy_ssl = proxy_ssl
        self.proxy_server_hostname = proxy_server_hostname
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.reconnect_delays = reconnect_delays
        self.max_size = max_size
        self.logger = logger
        self.create_connection = create_connection or ClientConnection
        self.connection_kwargs = dict(ping_interval=ping_interval, ping_timeout=ping_timeout,
                                      close_timeout=close_timeout, max_queue=max_queue)
        self.open_socket_kwargs = kwargs

    def open_socket(self, deadline: _Deadline) -> Any:
        """A TCP or Unix connection to the server, possibly through a proxy."""
        kwargs = dict(self.open_socket_kwargs)
        unix = kwargs.pop("unix", False)
        path = kwargs.pop("path", None)
        if unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(deadline.timeout())
                sock.connect(os.fspath(path))   # type: ignore[arg-type]
            except BaseException:
                sock.close()
                raise
            return sock
        proxy = self.proxy
        if proxy is True:
            proxy = get_proxy(self.ws_uri)
        if proxy is None:
            kwargs.setdefault("address", (self.ws_uri.host, self.ws_uri.port))
            kwargs.setdefault("timeout", deadline.timeout())
            return socket.create_connection(**kwargs)
        parsed, rdns = _parse_proxy(proxy)
        if parsed.scheme.startswith("socks"):
            return _connect_socks_proxy(parsed, rdns, self.ws_uri.host, self.ws_uri.port,
                                        deadline, kwargs)
        if parsed.scheme != "https" and self.proxy_ssl is not None:
            raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
        return _connect_http_proxy(parsed, self.ws_uri.host, self.ws_uri.port, deadline,
                                   ssl=self.proxy_ssl,
                                   server_hostname=self.proxy_server_hostname, kwargs=kwargs)

    def enable_tls(self, sock: Any, deadline: _Deadline) -> Any:
        """TLS to the server (inside the proxy's TLS when there is one)."""
        context = self.ssl if self.ssl is not None else ssl_module.create_default_context()
        hostname = self.server_hostname if self.server_hostname is not None \
            else self.ws_uri.host
        sock.settimeout(deadline.timeout())
        if isinstance(sock, ssl_module.SSLSocket):
            sock = _TLSInTLS(sock, context, hostname)
        else:
            sock = context.wrap_socket(sock, server_hostname=hostname)
        sock.settimeout(None)
        return sock

    def open_connection(self, deadline: _Deadline) -> ClientConnection:
        """One attempt: socket, TLS, opening handshake."""
        sock = self.sock if self.sock is not None else self.open_socket(deadline)
        try:
            if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if self.ws_uri.secure:
                sock = self.enable_tls(sock, deadline)
            protocol = ClientProtocol(self.ws_uri, origin=self.origin,
                                      extensions=[self.deflate] if self.deflate else None,
                                      subprotocols=self.subprotocols, max_size=self.max_size,
                                      logger=self.logger)
            connection = self.create_connection(sock, protocol, **self.connection_kwargs)
            request = protocol.connect()
            if self.additional_headers is not None:
                request.headers.update(self.additional_headers)
            if self.user_agent_header is not None:
                request.headers.setdefault("User-Agent", self.user_agent_header)
            connection.request = request
            events = _handshake(sock, protocol, request, deadline)
            connection.response = events[0]
            sock.settimeout(None)
            connection._start(events[1:])
        except BaseException:
            try:
                sock.close()
            except OSError:
                pass
            raise
        return connection  # type: ignore[no-any-return]

    def process_redirect(self, exc: Exception) -> Any:
        """The URI to follow for a redirect, else the exception to raise
        (the policy of picows_like's asyncio client)."""
        if not isinstance(exc, InvalidStatus):
            return exc
        kwargs = self.open_socket_kwargs
        result, self.additional_headers = process_redirect(
            self.uri, exc, self.additional_headers, sock=self.sock is not None,
            unix=kwargs.get("unix", False), address=kwargs.get("address") is not None)
        return result

    def connect(self) -> ClientConnection:
        """Connect, following redirects; open_timeout bounds all of it."""
        deadline = _Deadline(self.open_timeout)
        for _ in range(MAX_REDIRECTS):
            try:
                return self.open_connection(deadline)
            except Exception as exc:
                new = self.process_redirect(exc)
                if isinstance(new, Exception):
                    if new is exc:
                        raise
                    raise new from exc
                self.uri = new
                self.ws_uri = parse_uri(new)
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    # with connect(...) as websocket: ...

    def __enter__(self) -> ClientConnection:
        if getattr(self, "connection", None) is not None:
            raise RuntimeError("connect() isn't reentrant")
        self.connection: Optional[ClientConnection] = self.connect()
        return self.connection.__enter__()     # type: ignore[return-value]

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        try:
            assert self.connection is not None
            self.connection.__exit__(exc_type, exc_value, tb)
        finally:
            self.connection = None

    # for websocket in reconnect(...): ...

    def __iter__(self) -> Iterator[ClientConnection]:
        pacer = ReconnectPacer(self.process_exception, self.reconnect_delays, self.logger)
        while True:
            try:
                with self as connection:
                    yield connection
            except Exception as exc:
                time.sleep(pacer.after_error(exc))
            else:
                delay = pacer.after_close(connection.close_code)
                if delay is not None:
                    time.sleep(delay)


def connect(uri: str, *, legacy: Optional[bool] = None, **kwargs: Any) -> Any:
    """Connect to the WebSocket server at `uri` and return a
    ClientConnection (use it as a context manager to close it); with
    ``legacy=False`` return the ``reconnect`` object instead, whose
    iteration reconnects.  Keywords as ``websockets.sync.client.connect``:
    `sock`, `ssl`, `server_hostname`, `origin`, `subprotocols`,
    `compression`, `additional_headers`, `user_agent_header`, `proxy` (True:
    from the environment; an ``http://``, ``https://``, ``socks5[h]://`` or
    ``socks4[a]://`` URL; None: direct), `proxy_ssl`,
    `proxy_server_hostname`, `open_timeout`, `ping_interval`,
    `ping_timeout`, `close_timeout`, `max_size`, `max_queue`, `logger`,
    `create_connection`; other keywords go to ``socket.create_connection``
    (``address=(host, port)`` connects elsewhere than the URI says).

    Redirects (300-308 with Location) are followed up to
    WEBSOCKETS_MAX_REDIRECTS (10), with the policy of the asyncio client:
    never from wss:// to ws://; across origins without Authorization,
    Cookie, Proxy-Authorization nor the old URI's userinfo; not at all with
    `sock`, nor across origins on a Unix socket or with `address`."""
    connecter = reconnect(uri, **kwargs)
    if legacy is False:
        return connecter
    return connecter.connect()


def unix_reconnect(path: Any = None, uri: Optional[str] = None, **kwargs: Any) -> reconnect:
    """``reconnect`` to a WebSocket server listening on a Unix socket."""
    if path is None and kwargs.get("sock") is None:
        raise ValueError("missing path argument")
    if path is not None and kwargs.get("sock") is not None:
        raise ValueError("path is incompatible with sock")
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    return reconnect(uri, unix=True, path=path, **kwargs)


def unix_connect(path: Any = None, uri: Optional[str] = None, *,
                 legacy: Optional[bool] = None, **kwargs: Any) -> Any:
    """Connect to a WebSocket server listening on a Unix socket."""
    connecter = unix_reconnect(path, uri, **kwargs)
    if legacy is False:
        return connecter
    return connecter.connect()
