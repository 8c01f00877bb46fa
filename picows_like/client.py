"""ws_connect: open a client connection (TCP or TLS; directly, on a socket
from socket_factory or through a proxy), run the upgrade, follow redirects,
return (transport, listener)."""
import asyncio
import functools
import inspect
import socket
import ssl
import urllib.parse
from typing import Any, Awaitable, Callable, Optional, Tuple, Sequence, TypeVar, Union

from ._enums import WSAutoPingStrategy
from ._listener import WSListener
from ._transport import WSTransport
from ._options import CLIENT_DEFAULTS as _D, WSLoggerLike, options_from, resolve_logger
from ._protocol import WSProtocol
from .exceptions import WSHandshakeError, WSInvalidStatusError, WSRedirectError
from .extensions.permessage_deflate import WSPerMessageDeflate
from .handshake import WSHeadersLike, WSUpgradeRequest, WSUpgradeResponse, build_request, make_key
from .proxy import connect_tcp, open_tls_tunnel, open_tunnel, parse_proxy_url
from .url import WSParsedURL, parse_url, redact_url

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Headers that carry credentials: not sent on after a redirect to another
# origin (as websockets and browsers do).
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def header_pairs(extra_headers: Optional[WSHeadersLike]) -> Optional[list]:
    """`extra_headers` (a mapping, a multidict or an iterable of pairs) as a
    list of (name, value) pairs, read once so that every attempt sends the
    same headers; None stays None."""
    if extra_headers is None:
        return None
    items = extra_headers.items() if hasattr(extra_headers, "items") else extra_headers
    return [tuple(item) for item in items]


def strip_credentials(headers: Optional[list]) -> Optional[list]:
    """`headers` (pairs) without Authorization, Cookie and
    Proxy-Authorization, whatever their case."""
    if not headers:
        return headers
    return [(name, value) for name, value in headers
            if not (isinstance(name, str) and name.lower() in CREDENTIAL_HEADERS)]

ListenerT = TypeVar("ListenerT", bound=WSListener)
# What ws_connect accepts as its listener factory: called with no argument or with the
# upgrade request and the server's 101 response (a WSListener subclass itself fits).
WSListenerFactory = Union[Callable[[], ListenerT],
                          Callable[[WSUpgradeRequest, WSUpgradeResponse], ListenerT]]
# The `compression` keyword: None (off), "deflate" (defaults) or a WSPerMessageDeflate.
WSCompressionLike = Union[None, str, WSPerMessageDeflate]
# socket_factory(parsed_url): a socket (connected or not), None for the default path, or
# an awaitable of either.
WSSocketFactory = Callable[[WSParsedURL],
                           Union[Optional[socket.socket], Awaitable[Optional[socket.socket]]]]


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
    """The user's socket for `parsed_url` (connected here if it is not yet),
    or None to take the default path."""
    sock = socket_factory(parsed_url)
    if inspect.isawaitable(sock):
        sock = await sock
    if sock is None:
        return None
    if not isinstance(sock, socket.socket):
        raise TypeError(f"socket_factory must return a socket.socket or None, "
                        f"got {type(sock).__name__}")
    sock.setblocking(False)
    try:
        sock.getpeername()
    except OSError:                 # not connected yet: connect it ourselves
        try:
            await asyncio.get_running_loop().sock_connect(sock, (parsed_url.host,
                                                                 parsed_url.port))
        except BaseException:
            sock.close()
            raise
    return sock


def resolve_aiofastnet(use_aiofastnet: Optional[bool], secure: bool) -> Any:
    """The aiofastnet module to create a connection with, or None for the
    loop's own transports.

    None (the default) means aiofastnet for TLS when it is installed and the
    loop's own transports for plain TCP.  picows uses aiofastnet for both
    whenever it is installed; measured on loopback echo (2 cores, noisy), its
    TLS is ~1.1x faster than the loops' for small messages (on par at 1 MiB
    since large frames reach the loop's TLS in 64 KiB pieces from a reused
    buffer), while plain TCP is no faster and up to ~15-25% slower for large
    messages on asyncio (it also bypasses our direct-send path).  True forces
    it (ImportError if it is not installed), False never uses it.
    """
    wanted = secure if use_aiofastnet is None else bool(use_aiofastnet)
    if not wanted:
        return None
    try:
        import aiofastnet
    except ImportError:
        if use_aiofastnet is None:
            return None
        raise ImportError("use_aiofastnet=True but the aiofastnet package is not installed: "
                          "pip install 'picows_like[aiofastnet]'") from None
    return aiofastnet


async def ws_connect(ws_listener_factory: "WSListenerFactory[ListenerT]", url: str, *,
                     ssl_context: Optional[ssl.SSLContext] = None,
                     disconnect_on_exception: bool = _D.disconnect_on_exception,
                     websocket_handshake_timeout: Optional[float] = _D.websocket_handshake_timeout,
                     logger_name: WSLoggerLike = None,
                     enable_auto_ping: bool = _D.enable_auto_ping,
                     auto_ping_idle_timeout: float = _D.auto_ping_idle_timeout,
                     auto_ping_reply_timeout: float = _D.auto_ping_reply_timeout,
                     auto_ping_strategy: WSAutoPingStrategy = _D.auto_ping_strategy,
                     enable_auto_pong: bool = _D.enable_auto_pong,
                     max_frame_size: int = _D.max_frame_size,
                     extra_headers: Optional[WSHeadersLike] = None,
                     max_redirects: int = 5,
                     proxy: Optional[str] = None,
                     proxy_ssl_context: Optional[ssl.SSLContext] = None,
                     read_buffer_init_size: int = _D.read_buffer_init_size,
                     socket_factory: Optional[WSSocketFactory] = None,
                     use_aiofastnet: Optional[bool] = None,
                     close_timeout: Optional[float] = _D.close_timeout,
                     accept_rsv_bits: bool = _D.accept_rsv_bits,
                     validate_utf8: bool = _D.validate_utf8,
                     compression: WSCompressionLike = _D.compression,
                     subprotocols: Optional[Sequence[str]] = _D.subprotocols,
                     **kwargs: Any) -> Tuple[WSTransport, ListenerT]:
    """Open a WebSocket connection to `url` (ws:// or wss://).

    Same keywords and behaviour as picows.ws_connect; remaining kwargs go to
    loop.create_connection.  Additive keywords: `close_timeout` (seconds to
    wait for the peer's CLOSE after ours, None = forever), `accept_rsv_bits`
    (deliver frames with RSV bits set instead of failing with 1002, for a
    home-made extension; fragment order is then not checked either, as in
    picows), `validate_utf8` (1007 on invalid UTF-8 in TEXT),
    `compression` (None, "deflate" or a WSPerMessageDeflate: the
    permessage-deflate offer) and `subprotocols` (offered in order).
    `read_buffer_init_size`: the read buffer's first size in bytes; values
    below 256 are raised to 256 (picows raises them to 2048), above 1 GiB
    are a ValueError.  The defaults of all these options are
    ``picows_like._options.CLIENT_DEFAULTS`` (``SERVER_DEFAULTS`` for
    ws_create_server).

    Connection options:

    * wss:// verifies the server against the system CAs
      (ssl.create_default_context()); `ssl_context` replaces that context.
    * 301/302/303/307/308 responses are followed (relative `Location`
      resolved against the current URL) up to `max_redirects` times; 0
      disables it.  A wss:// -> ws:// redirect is refused.  After a
      redirect to another origin (scheme, host or port differ) the
      `Authorization`, `Cookie` and `Proxy-Authorization` headers of
      `extra_headers` are no longer sent (as in websockets); a
      `socket_factory` is called again for the new target.
    * `websocket_handshake_timeout` bounds the whole call: name
      resolution, TCP connect, proxy negotiation, TLS, the upgrade and
      every redirect; on expiry asyncio.TimeoutError (as in picows) and
      nothing stays open.
    * `proxy`: ``http://[user:pass@]host[:port]`` (HTTP CONNECT with Basic
      auth), ``https://...`` (the same over TLS to the proxy, verified with
      `proxy_ssl_context`, default ssl.create_default_context() against the
      proxy's host; ValueError with another proxy scheme),
      ``socks4://`` / ``socks5://[user:pass@]host[:port]`` (needs the
      python-socks extra: ``pip install picows_like[socks]``).  TLS for a
      wss:// target runs end to end through the tunnel (TLS inside TLS
      with an https:// proxy).  The proxy negotiation is bounded by
      `websocket_handshake_timeout`.
    * `socket_factory(parsed_url)`: sync or async; returns a connected or
      unconnected socket (connected here), or None for the default path.
      With `proxy` it gets the proxy's WSParsedURL.
    * `use_aiofastnet`: None (default) creates wss:// connections with
      aiofastnet when it is installed (faster TLS) and ws:// ones with
      loop.create_connection (aiofastnet is no faster there and up to ~25%
      slower for large messages); picows uses it for both.  True: always
      aiofastnet (ImportError if it is not installed); False: never.

    Errors a caller can act on:

    * WSInvalidURL: `url` (or `proxy`) is not a valid URL.
    * socket.gaierror (an OSError): the host or proxy host does not resolve.
    * ConnectionRefusedError / other OSError: the TCP connect to the server
      or proxy failed.
    * ssl.SSLCertVerificationError (an ssl.SSLError): the server's (or
      https:// proxy's) certificate is not trusted or does not match the
      host name (e.g. a self-signed certificate with the default context);
      other ssl.SSLError for other TLS failures.
    * picows_like.proxy.WSProxyError (a WSHandshakeError): the proxy refused
      the tunnel: HTTP 407/403/... (`status`, `response`, `raw_header`,
      `raw_body`), SOCKS authentication failure or target refused; also a
      python_socks.ProxyError when python-socks is installed, as in picows.
      ImportError for a SOCKS proxy without python-socks.
    * WSInvalidStatusError: the server answered with a status other than
      101 (`response`, `raw_header`, `raw_body`); also a 3xx when redirects
      are disabled or `max_redirects` is exhausted.
    * WSRedirectError (a WSHandshakeError): a 3xx without `Location`, a wss:// -> ws://
      redirect, or a redirect loop (with the 3xx response).
    * WSInvalidUpgradeError / WSInvalidHeaderError / WSInvalidMessageError:
      a malformed or invalid 101 response.
    * asyncio.TimeoutError: no WebSocket connection within
      `websocket_handshake_timeout` (whichever step was stalled).

    URLs in log records and error messages have their userinfo redacted
    (``ws://alice:***@host/``).
    """
    options = options_from(locals())
    if max_redirects < 0:
        raise ValueError("max_redirects must be >= 0")
    logger = resolve_logger(logger_name, "client")
    listener_factory = _two_argument_factory(ws_listener_factory)
    parsed = parse_url(url)
    proxy_url = parse_proxy_url(proxy) if proxy is not None else None
    if proxy_ssl_context is not None and proxy_url is not None and proxy_url.scheme != "https":
        raise ValueError("proxy_ssl_context is only supported for https:// proxies")
    resolve_aiofastnet(use_aiofastnet, True)       # ImportError now, not per attempt
    connect = functools.partial(_connect_once, listener_factory, proxy_url=proxy_url,
                                proxy_ssl_context=proxy_ssl_context, ssl_context=ssl_context,
                                socket_factory=socket_factory,
                                use_aiofastnet=use_aiofastnet, logger=logger,
                                options=options, kwargs=kwargs)
    following = _follow_redirects(connect, parsed, header_pairs(extra_headers),
                                  max_redirects, logger)
    timeout = options["websocket_handshake_timeout"]
    if timeout is None:
        return await following
    try:
        return await asyncio.wait_for(following, timeout)
    except asyncio.TimeoutError as exc:
        if exc.args:            # a more specific one from a step (e.g. the proxy)
            raise
        raise asyncio.TimeoutError(f"websocket handshake timeout: no connection to "
                                   f"{parsed.redacted_url} within {timeout} s") from exc


async def _follow_redirects(connect: Callable, parsed: WSParsedURL, headers: Optional[list],
                            max_redirects: int, logger: Any) -> Tuple[Any, Any]:
    visited = {parsed.url}
    followed = 0
    while True:
        try:
            return await connect(parsed, extra_headers=headers)
        except WSInvalidStatusError as exc:
            new = _redirect_target(exc, parsed, followed, max_redirects, visited)
            if new.origin != parsed.origin:
                headers = strip_credentials(headers)
            logger.info("%s redirected to %s", parsed.redacted_url, new.redacted_url)
            parsed = new
            followed += 1


def _redirect_target(exc: WSInvalidStatusError, current: WSParsedURL, followed: int,
                     max_redirects: int, visited: set) -> WSParsedURL:
    """Where a 3xx answer sends us; re-raises / raises when we must not go."""
    response = exc.response
    if response is None or response.status not in _REDIRECTS or max_redirects == 0:
        raise exc
    args = (exc.raw_header, exc.raw_body, response)
    status = int(response.status)
    if followed >= max_redirects:
        raise WSInvalidStatusError(f"{exc}; redirect from {current.redacted_url} not followed: "
                                   f"max_redirects={max_redirects} reached", *args) from exc
    location = response.headers.get("Location")
    if location is None:
        raise WSRedirectError(f"{status} redirect from {current.redacted_url} without a Location "
                              f"header", *args) from exc
    target = urllib.parse.urljoin(current.url, location)
    new = parse_url(target)
    if current.is_secure and not new.is_secure:
        raise WSRedirectError(f"refusing {status} redirect from {current.redacted_url} to "
                              f"insecure {redact_url(target)}", *args) from exc
    if new.url in visited:
        raise WSRedirectError(f"redirect loop: {current.redacted_url} redirects ({status}) "
                              f"to {redact_url(target)}, which was already visited",
                              *args) from exc
    visited.add(new.url)
    return new


async def _connect_once(listener_factory: Callable, parsed: WSParsedURL, *,
                        proxy_url: Optional[WSParsedURL],
                        proxy_ssl_context: Optional[ssl.SSLContext],
                        ssl_context: Optional[ssl.SSLContext], extra_headers: Any,
                        socket_factory: Optional[Callable], use_aiofastnet: Optional[bool],
                        logger: Any, options: dict, kwargs: dict) -> Tuple[Any, Any]:
    loop = asyncio.get_running_loop()
    # Chosen per attempt: a redirect may change ws:// to wss://.
    fastnet = resolve_aiofastnet(use_aiofastnet, parsed.is_secure)
    create_connection = functools.partial(fastnet.create_connection, loop) \
        if fastnet is not None else loop.create_connection
    key = make_key()
    request, wire = build_request(parsed, key, extra_headers, options["compression"],
                                  options["subprotocols"])
    upgraded = loop.create_future()
    timeout = options["websocket_handshake_timeout"]

    def protocol_factory() -> WSProtocol:
        return WSProtocol(True, listener_factory, loop, logger, request=request,
                          request_bytes=wire, ws_key=key, upgrade_future=upgraded, **options)

    conn_kwargs = dict(kwargs)
    if parsed.is_secure:
        conn_kwargs.setdefault("ssl", ssl_context or ssl.create_default_context())
        conn_kwargs.setdefault("server_hostname", parsed.host)
    # The socket to hand to create_connection: the user's, or a proxy tunnel,
    # or None (create_connection resolves and connects host:port itself).
    sock = None
    if socket_factory is not None:
        sock = await _make_socket(socket_factory, proxy_url or parsed)
    if proxy_url is not None and proxy_url.scheme != "https":
        if sock is None:
            sock = await connect_tcp(proxy_url.host, proxy_url.port)
        sock = await open_tunnel(sock, proxy_url, parsed.host, parsed.port, timeout)
    if proxy_url is not None and proxy_url.scheme == "https":
        # TLS to the proxy: the tunnel is a transport, not a socket.
        transport, protocol = await open_tls_tunnel(
            proxy_url, parsed, protocol_factory, sock=sock,
            proxy_ssl_context=proxy_ssl_context,
            fastnet=resolve_aiofastnet(use_aiofastnet, True), conn_kwargs=conn_kwargs,
            timeout=timeout)
    elif sock is not None:
        try:
            transport, protocol = await create_connection(protocol_factory, sock=sock,
                                                          **conn_kwargs)
        except BaseException:
            sock.close()            # e.g. a TLS failure: the socket is ours to close
            raise
    else:
        transport, protocol = await create_connection(protocol_factory, parsed.host,
                                                      parsed.port, **conn_kwargs)
    try:
        listener = await asyncio.wait_for(asyncio.shield(upgraded), timeout)
    except BaseException:
        transport.abort()
        raise
    return protocol.transport, listener
