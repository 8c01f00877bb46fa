"""Connecting through a proxy, for ws_connect(proxy=...).

* ``http://[user:pass@]host[:port]``: HTTP CONNECT (RFC 9110 9.3.6), with
  Basic ``Proxy-Authorization`` when the URL has credentials.  The tunnel
  is opened on a plain non-blocking socket (open_tunnel) that ws_connect
  hands to create_connection(sock=..., ssl=...), so TLS to a wss:// target
  and the WebSocket upgrade run through the tunnel unchanged.
* ``https://[user:pass@]host[:port]``: the same CONNECT, sent over TLS to
  the proxy itself (open_tls_tunnel).  The tunnel is then a TLS transport,
  not a socket: a ws:// target speaks inside it, a wss:// target gets a
  second TLS session inside the first (start_tls over the proxy's TLS
  transport; asyncio's loop needs Python 3.11+ for that, uvloop and
  aiofastnet do it on every version).  The proxy's certificate is verified
  with `proxy_ssl_context` (default: ssl.create_default_context(), checked
  against the proxy's host name).
* ``socks4://[user@]host[:port]`` and ``socks5://[user:pass@]host[:port]``:
  through the python-socks package, an optional extra
  (``pip install picows_like[socks]``).  SOCKS ports default to 1080.

A refusal is a WSProxyError; when python-socks is installed it is also a
python_socks.ProxyError, the type picows raises, so ``except`` clauses
written for picows keep working.
"""
import asyncio
import base64
import dataclasses
import functools
import socket
import ssl
import sys
import urllib.parse
from typing import Any, Callable, Dict, Optional, Tuple

from .exceptions import WSHandshakeError, WSInvalidURL
from .handshake import content_length, parse_response
from .url import WSParsedURL, WSPort, parse_url, redact_url

try:
    from python_socks import ProxyError as _SocksProxyError
except ImportError:             # the optional extra is not installed
    class _SocksProxyError(Exception):  # type: ignore[no-redef]
        """Stands in for python_socks.ProxyError."""

_DEFAULT_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks5": 1080}
# Bound on the head of the proxy's answer to CONNECT (as in picows).
_MAX_PROXY_RESPONSE_SIZE = 64 * 1024
# Bound on how much of a refusal body we keep for WSProxyError.raw_body,
# and how long we wait for it.
_MAX_ERROR_BODY = 64 * 1024
_ERROR_BODY_WAIT = 1.0


class WSProxyError(WSHandshakeError, _SocksProxyError):
    """The proxy did not open the tunnel to the target.

    For an HTTP(S) proxy, `status` is its status code and `response` /
    `raw_header` / `raw_body` hold its answer (e.g. 407 Proxy Authentication
    Required or 403) when it could be parsed.  For SOCKS, `status` is None
    and the python-socks error (reply code in `error_code`) is the
    __cause__.  Not raised for a proxy that cannot be reached (that is the
    OSError of the connect: ConnectionRefusedError, socket.gaierror, ...)
    nor for a TLS failure with an https:// proxy (ssl.SSLError).

    With python-socks installed this is also a python_socks.ProxyError.
    """

    def __init__(self, description: str, raw_header: Optional[bytes] = None,
                 raw_body: Optional[bytes] = None, response: Any = None,
                 error_code: Optional[int] = None, status: Optional[int] = None):
        super().__init__(description, raw_header, raw_body, response)
        if status is None and response is not None:
            status = int(response.status)
        self.status = status
        self.error_code = error_code


def parse_proxy_url(proxy: str) -> WSParsedURL:
    """Validate a proxy URL; the port defaults to 80 (http), 443 (https) or
    1080 (socks)."""
    scheme = proxy.partition(":")[0].lower()
    if scheme not in _DEFAULT_PORTS:
        raise WSInvalidURL(redact_url(proxy), "proxy scheme must be http, https, socks4 or socks5")
    parsed = parse_url(proxy, check_scheme=False)
    if urllib.parse.urlsplit(proxy).port is None:
        parsed = dataclasses.replace(parsed, port=WSPort(_DEFAULT_PORTS[scheme]))
    if scheme.startswith("socks"):
        _import_python_socks(scheme)          # fail before connecting anywhere
    return parsed


async def connect_tcp(host: str, port: int) -> socket.socket:
    """A non-blocking socket connected to host:port (each resolved address
    in turn); raises the OSError of the last attempt."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: Optional[OSError] = None
    for family, type_, proto, _, address in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
        except BaseException:
            sock.close()
            raise
    raise error or OSError(f"cannot resolve {host}:{port}")


async def open_tunnel(sock: socket.socket, proxy: WSParsedURL, host: str, port: int,
                      timeout: Optional[float]) -> socket.socket:
    """Turn `sock`, connected to an http:// or SOCKS proxy, into a tunnel to
    host:port.

    Closes the socket on any failure.  `timeout` bounds the negotiation.
    """
    try:
        if proxy.scheme == "http":
            await asyncio.wait_for(_http_connect(sock, proxy, host, port), timeout)
        else:
            await _socks_connect(sock, proxy, host, port, timeout)
    except BaseException:
        sock.close()
        raise
    return sock


# ----------------------------------------------------------------- HTTP CONNECT

def _authority(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _connect_request(host: str, port: int, username: Optional[str],
                     password: Optional[str]) -> bytes:
    """The CONNECT request for host:port; Basic credentials when `username`
    is given (both percent-decoded, as they come from a URL)."""
    target = _authority(host, port)
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if username is not None:
        user = urllib.parse.unquote(username)
        secret = urllib.parse.unquote(password or "")
        token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        request += f"Proxy-Authorization: Basic {token}\r\n"
    return (request + "\r\n").encode("ascii")


_NEED_MORE, _OPEN, _REFUSED = 0, 1, 2


class _ConnectReply:
    """Reads a proxy's answer to CONNECT from the bytes fed to it.

    feed() returns _OPEN (2xx: the tunnel is up), _REFUSED (any other
    status, with as much of its body as it declared) or _NEED_MORE, and
    raises WSProxyError for an answer that is not HTTP, too large, or
    followed by bytes the target cannot have sent yet.  The messages keep
    picows' wording.
    """

    def __init__(self, target: str, where: Optional[str]):
        self.target = target
        self.suffix = f" (proxy {where})" if where else ""
        self.data = bytearray()
        self.head: Optional[bytes] = None
        self.status = 0
        self.response: Any = None
        self.body = b""
        self.body_length = 0

    def feed(self, data: bytes) -> int:
        if self.head is not None:           # reading a refusal's body
            self.body = (self.body + data)[:self.body_length]
            return _REFUSED if len(self.body) >= self.body_length else _NEED_MORE
        self.data += data
        end = self.data.find(b"\r\n\r\n")
        if end < 0:
            if len(self.data) > _MAX_PROXY_RESPONSE_SIZE:
                raise self._too_large()
            return _NEED_MORE
        if end + 4 > _MAX_PROXY_RESPONSE_SIZE:
            raise self._too_large()
        self.head, rest = bytes(self.data[:end]), bytes(self.data[end + 4:])
        self.data = bytearray()
        parts = self.head.split(b"\r\n", 1)[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or \
                not (parts[1].isdigit() and len(parts[1]) == 3):
            raise WSProxyError(f"HTTP proxy returned an invalid response{self.suffix}: "
                               f"{self.head[:64]!r}", self.head)
        self.status = int(parts[1])
        if 200 <= self.status < 300:
            if rest:
                # The target only speaks after us (TLS ClientHello / upgrade request).
                raise WSProxyError(f"HTTP proxy sent unexpected data after its "
                                   f"{self.status} response{self.suffix}", self.head, rest)
            return _OPEN
        try:
            self.response = parse_response(self.head)
            self.body_length = min(content_length(self.response.headers), _MAX_ERROR_BODY)
        except WSHandshakeError:            # unknown status, odd headers: keep the status
            self.response = None
        return self.feed(rest)

    def refusal(self) -> "WSProxyError":
        phrase = ""
        if self.response is not None:
            self.response.body = self.body
            phrase = f" {self.response.status.phrase}"
        return WSProxyError(f"HTTP proxy rejected connection with status {self.status}"
                            f"{phrase}: CONNECT {self.target}{self.suffix}",
                            self.head, self.body, self.response, status=self.status)

    def _too_large(self) -> "WSProxyError":
        return WSProxyError(f"HTTP proxy response headers are too large (over "
                            f"{_MAX_PROXY_RESPONSE_SIZE} bytes){self.suffix}",
                            bytes(self.data[:1024]))

    def closed(self) -> "WSProxyError":
        if self.head is not None:
            return self.refusal()
        return WSProxyError(f"HTTP proxy closed the connection before replying{self.suffix}",
                            bytes(self.data) or None)


async def _http_connect(sock: socket.socket, proxy: WSParsedURL, host: str, port: int) -> None:
    """CONNECT on a plain socket (http:// proxies)."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, _connect_request(host, port, proxy.username, proxy.password))
    reply = _ConnectReply(_authority(host, port), _authority(proxy.host, proxy.port))
    deadline = None         # for a refusal's body: best effort, then give up
    while True:
        if deadline is None:
            chunk = await loop.sock_recv(sock, 65536)
        else:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536),
                                               max(0.0, deadline - loop.time()))
            except (OSError, asyncio.TimeoutError):
                raise reply.refusal() from None
        if not chunk:
            raise reply.closed()
        state = reply.feed(chunk)
        if state == _OPEN:
            return
        if state == _REFUSED:
            raise reply.refusal()
        if reply.head is not None and deadline is None:
            deadline = loop.time() + _ERROR_BODY_WAIT


class HTTPProxyConnectProtocol(asyncio.Protocol):
    """asyncio protocol that asks an HTTP(S) proxy, on a fresh connection,
    for a CONNECT tunnel to host:port (what ws_connect runs on the TLS
    connection to an https:// proxy).

    `username` / `password` are percent-encoded, as in a URL; `proxy_name`
    (optional) is named in error messages.  Await wait_tunnel_established():
    it returns once the proxy answered 2xx (reading is then paused until the
    caller hands the transport to the next protocol) and raises WSProxyError
    for a refusal or a bad answer, the transport's error if the connection
    is lost first.  Same constructor and behaviour as picows'.
    """

    def __init__(self, host: str, port: int, username: Optional[str],
                 password: Optional[str], *, proxy_name: Optional[str] = None) -> None:
        self._request = _connect_request(host, port, username, password)
        self._reply = _ConnectReply(_authority(host, port), proxy_name)
        self._transport: Optional[asyncio.Transport] = None
        self._loop = asyncio.get_running_loop()
        self._tunnel_established: "asyncio.Future[None]" = self._loop.create_future()
        self._body_timer: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._tunnel_established.done():
            return
        try:
            state = self._reply.feed(data)
        except WSProxyError as exc:
            self._fail(exc)
            return
        if state == _OPEN:
            if self._transport is not None:
                # Nothing more is ours to read: leave it to the next protocol.
                self._transport.pause_reading()
            self._tunnel_established.set_result(None)
        elif state == _REFUSED:
            self._fail(self._reply.refusal())
        elif self._reply.head is not None and self._body_timer is None:
            self._body_timer = self._loop.call_later(
                _ERROR_BODY_WAIT, lambda: self._fail(self._reply.refusal()))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        if self._tunnel_established.done():
            return
        self._tunnel_established.set_exception(
            exc if exc is not None else self._reply.closed())

    def _fail(self, exc: Exception) -> None:
        if self._tunnel_established.done():
            return
        if self._body_timer is not None:
            self._body_timer.cancel()
        if self._transport is not None:
            self._transport.abort()
        self._tunnel_established.set_exception(exc)

    async def wait_tunnel_established(self) -> None:
        await self._tunnel_established


def _split_kwargs(conn_kwargs: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """create_connection keywords -> (for the connection to the proxy,
    for TLS to the target: the ssl_* ones)."""
    to_proxy = {k: v for k, v in conn_kwargs.items()
                if k not in ("ssl", "server_hostname") and not k.startswith("ssl_")}
    to_target = {k: v for k, v in conn_kwargs.items() if k.startswith("ssl_")}
    return to_proxy, to_target


async def open_tls_tunnel(proxy: WSParsedURL, target: WSParsedURL,
                          protocol_factory: Callable[[], asyncio.BaseProtocol], *,
                          sock: Optional[socket.socket],
                          proxy_ssl_context: Optional[ssl.SSLContext],
                          fastnet: Any, conn_kwargs: Dict[str, Any],
                          timeout: Optional[float]) -> Tuple[asyncio.Transport, Any]:
    """Connect to an https:// proxy (over `sock` when given), tunnel to
    `target`, and start protocol_factory()'s protocol on the tunnel: on the
    proxy's TLS transport for ws://, on a TLS transport inside it for wss://
    (conn_kwargs' "ssl" context, "server_hostname" and ssl_* keywords apply
    to that inner TLS; the other keywords to the connection to the proxy).

    `fastnet` is the aiofastnet module to use, or None for the loop's own
    transports.  `timeout` bounds the whole of it.  Returns (transport,
    protocol); on any failure (cancellation included) nothing stays open.
    """
    where = _authority(proxy.host, proxy.port)
    try:
        return await asyncio.wait_for(
            _open_tls_tunnel(proxy, target, protocol_factory, sock, proxy_ssl_context,
                             fastnet, conn_kwargs, where), timeout)
    except asyncio.TimeoutError as exc:
        if exc.args:
            raise
        raise asyncio.TimeoutError(
            f"no connection to {_authority(target.host, target.port)} through the "
            f"HTTPS proxy {where} within {timeout} s") from exc


async def _open_tls_tunnel(proxy: WSParsedURL, target: WSParsedURL,
                           protocol_factory: Callable[[], asyncio.BaseProtocol],
                           sock: Optional[socket.socket],
                           proxy_ssl_context: Optional[ssl.SSLContext], fastnet: Any,
                           conn_kwargs: Dict[str, Any],
                           where: str) -> Tuple[asyncio.Transport, Any]:
    loop = asyncio.get_running_loop()
    if fastnet is not None:
        create_connection: Callable[..., Any] = functools.partial(fastnet.create_connection,
                                                                  loop)
        start_tls: Callable[..., Any] = functools.partial(fastnet.start_tls, loop)
    else:
        create_connection, start_tls = loop.create_connection, loop.start_tls
    to_proxy, to_target = _split_kwargs(conn_kwargs)
    if proxy_ssl_context is None:
        proxy_ssl_context = ssl.create_default_context()
    if sock is not None:
        address: Dict[str, Any] = {"sock": sock}
    else:
        address = {"host": proxy.host, "port": proxy.port}

    def connect_protocol() -> HTTPProxyConnectProtocol:
        return HTTPProxyConnectProtocol(target.host, target.port, proxy.username,
                                        proxy.password, proxy_name=f"https://{where}")

    try:
        transport, connecting = await create_connection(
            connect_protocol, ssl=proxy_ssl_context, server_hostname=proxy.host,
            **address, **to_proxy)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    try:
        await connecting.wait_tunnel_established()
        target_ssl = conn_kwargs.get("ssl")
        if target_ssl:                      # a context or True (wss://)
            if not isinstance(target_ssl, ssl.SSLContext):    # ssl=True
                target_ssl = ssl.create_default_context()
            if _NEEDS_LEGACY_START_TLS and fastnet is None and _stock_start_tls(loop) and \
                    isinstance(transport, asyncio.sslproto._SSLProtocolTransport):
                start_tls = functools.partial(_legacy_start_tls, loop)
            inner = await start_tls(transport, connecting, target_ssl,
                                    server_hostname=conn_kwargs.get("server_hostname",
                                                                     target.host),
                                    **to_target)
            if inner is None:
                raise ConnectionError(f"the HTTPS proxy {where} closed the tunnel while "
                                      f"TLS to the target was starting")
            transport = inner
        elif transport.is_closing():
            raise ConnectionError(f"the HTTPS proxy {where} closed the tunnel")
        protocol = protocol_factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if not target_ssl:
            transport.resume_reading()      # paused by HTTPProxyConnectProtocol
        return transport, protocol
    except BaseException:
        transport.abort()
        raise


# asyncio before 3.11 refuses loop.start_tls() over its own TLS transport,
# although the SSLProtocol of those versions runs over any transport.
_NEEDS_LEGACY_START_TLS = sys.version_info < (3, 11)


def _stock_start_tls(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether loop.start_tls is asyncio's own (one a loop subclass or the
    application replaced is called as it is)."""
    return getattr(loop.start_tls, "__func__", None) is asyncio.BaseEventLoop.start_tls


class _LegacyOuterTransport:
    """The proxy's TLS transport as the SSLProtocol of Python 3.9/3.10 uses
    its transport: it also reads `_paused` and calls `_force_close(exc)`,
    which only socket transports have there."""

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self.error: Optional[BaseException] = None     # why _force_close() was called

    @property
    def _paused(self) -> bool:
        return not self._transport.is_reading()

    def _force_close(self, exc: Optional[BaseException]) -> None:
        self.error = exc
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def _legacy_start_tls(loop: asyncio.AbstractEventLoop, transport: asyncio.Transport,
                            protocol: asyncio.BaseProtocol, sslcontext: ssl.SSLContext, *,
                            server_hostname: Optional[str] = None,
                            ssl_handshake_timeout: Any = None,
                            **ignored: Any) -> asyncio.Transport:
    """What loop.start_tls() of Python 3.9/3.10 does, without its check
    that `transport` is a plain socket transport."""
    from asyncio import sslproto
    waiter = loop.create_future()
    ssl_protocol = sslproto.SSLProtocol(loop, protocol, sslcontext, waiter,
                                        server_side=False, server_hostname=server_hostname,
                                        ssl_handshake_timeout=ssl_handshake_timeout,
                                        call_connection_made=False)
    outer = _LegacyOuterTransport(transport)
    transport.pause_reading()
    transport.set_protocol(ssl_protocol)
    made = loop.call_soon(ssl_protocol.connection_made, outer)  # type: ignore[arg-type]
    resumed = loop.call_soon(transport.resume_reading)
    try:
        await waiter
    except BaseException:
        made.cancel()
        resumed.cancel()
        raise
    if outer.error is not None:     # e.g. the handshake failed: that error, not EOF
        raise outer.error
    return ssl_protocol._app_transport


# ----------------------------------------------------------------- SOCKS

def _import_python_socks(scheme: str) -> Tuple[Any, Any]:
    try:
        import python_socks
        from python_socks.async_.asyncio import Proxy
    except ImportError:
        raise ImportError(f"{scheme}:// proxies need the python-socks package: "
                          f"pip install 'picows_like[socks]'") from None
    return python_socks, Proxy


class _ConnectedSocket:
    """python-socks' `forward` hook: hands it the socket we already connected
    to the proxy (from socket_factory or connect_tcp) instead of letting it
    open its own connection."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    async def connect(self, dest_host: str, dest_port: int, timeout: Optional[float] = None,
                      **kwargs: Any) -> socket.socket:
        return self._sock


async def _socks_connect(sock: socket.socket, proxy: WSParsedURL, host: str, port: int,
                         timeout: Optional[float]) -> None:
    python_socks, Proxy = _import_python_socks(proxy.scheme)
    kind = python_socks.ProxyType.SOCKS4 if proxy.scheme == "socks4" \
        else python_socks.ProxyType.SOCKS5
    unquote = urllib.parse.unquote
    client = Proxy(kind, proxy.host, proxy.port,
                   username=None if proxy.username is None else unquote(proxy.username),
                   password=None if proxy.password is None else unquote(proxy.password),
                   forward=_ConnectedSocket(sock))
    where = _authority(proxy.host, proxy.port)
    try:
        await client.connect(host, port, timeout=timeout)
    except python_socks.ProxyTimeoutError as exc:
        raise asyncio.TimeoutError(f"{proxy.scheme.upper()} proxy {where} did not open "
                                   f"the tunnel within {timeout} s") from exc
    except python_socks.ProxyError as exc:
        raise WSProxyError(f"{proxy.scheme.upper()} proxy {where} refused to connect to "
                           f"{_authority(host, port)}: {exc}",
                           error_code=exc.error_code) from exc
