"""connect() / unix_connect() / ClientConnection, as in websockets.asyncio.client."""
import asyncio
import base64
import logging
import os
import socket
import ssl as ssl_module
import traceback
import urllib.parse
from typing import Any, AsyncIterator, Callable, Generator, Iterator, Optional, Tuple

from ... import reconnect as _reconnect
from ...client import header_pairs, strip_credentials, ws_connect
from ...extensions.permessage_deflate import WSPerMessageDeflate
from ...exceptions import (WSConnectionClosedBeforeHandshake, WSError, WSHandshakeError,
                           WSInvalidHeaderError, WSInvalidMessageError, WSInvalidStatusError,
                           WSInvalidUpgradeError, WSInvalidURL, WSRedirectError)
from ...proxy import WSProxyError, connect_tcp
from ...url import parse_url, redact_url
from ..exceptions import (InvalidHandshake, InvalidHeader, InvalidMessage, InvalidStatus,
                          InvalidUpgrade, InvalidURI, SecurityError)
from ..http11 import USER_AGENT, Request, Response
from ..proxy import connect_socks_proxy, get_proxy, parse_proxy, proxy_exception
from ..uri import parse_uri
from .connection import Connection, core_limits

__all__ = ["connect", "unix_connect", "ClientConnection", "process_exception", "backoff"]

# Closes of a connection obtained from `async for ws in connect(...)` after
# which the next connection attempt backs off instead of starting at once:
# the same set as ws_connect_forever (defined and explained there).  The
# loop asks the shared policy, picows_like.reconnect.DEFAULT_RETRY_POLICY.
RECONNECT_CLOSE_CODES = _reconnect.RECONNECT_CLOSE_CODES

# Redirects followed by one connect (WEBSOCKETS_MAX_REDIRECTS overrides, as
# in websockets) and the statuses that are redirects.
MAX_REDIRECTS = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))
_REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})


class RedirectRefused(SecurityError, ValueError):
    """A redirect that cannot be followed on the socket or address the
    caller fixed.  A ValueError, as websockets raises, and a SecurityError,
    as the other refused redirects here."""


class ClientConnection(Connection):
    """A client WebSocket connection: recv(), send(), ping(), close(), ..."""
    __slots__ = ("__dict__",)


def process_exception(exc: Exception) -> Optional[Exception]:
    """Reconnect policy of ``async for ws in connect(...)``: None (retry) for
    network errors (OSError, TimeoutError), a connection closed during the
    handshake and HTTP 500/502/503/504; the exception itself (fatal) else.
    The answers are picows_like.reconnect.DEFAULT_RETRY_POLICY's, asked of
    this layer's exception types (by type, as websockets does)."""
    policy = _reconnect.DEFAULT_RETRY_POLICY
    if isinstance(exc, policy.network_errors):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None             # closed during the handshake (see _handshake_error)
    if isinstance(exc, InvalidStatus) and policy.retries_status(exc.response.status_code):
        return None
    return exc


def backoff(initial_delay: Optional[float] = None, min_delay: Optional[float] = None,
            max_delay: Optional[float] = None,
            factor: Optional[float] = None) -> Generator[float, None, None]:
    """Delays between reconnection attempts: DEFAULT_RETRY_POLICY's (random
    jitter in [0, 5 s), then 3.1 s growing x1.618 up to 90 s), with the
    WEBSOCKETS_BACKOFF_* env vars or these arguments overriding, as in
    websockets."""
    env = os.environ.get
    policy = _reconnect.DEFAULT_RETRY_POLICY

    def pick(value: Optional[float], name: str, default: float) -> float:
        if value is not None:
            return value
        return float(env(f"WEBSOCKETS_BACKOFF_{name}", default))

    return _reconnect.RetryPolicy(
        pick(initial_delay, "INITIAL_DELAY", policy.initial_delay),
        pick(min_delay, "MIN_DELAY", policy.min_delay),
        pick(max_delay, "MAX_DELAY", policy.max_delay),
        pick(factor, "FACTOR", policy.factor), policy.jitter).delays()


_DEFAULT: Any = object()      # proxy_ssl not given


def _unsupported(what: str) -> NotImplementedError:
    return NotImplementedError(f"picows_like.websockets does not support {what} yet")


def check_unsupported(extensions: Any) -> None:
    """NotImplementedError for the features the core does not offer."""
    if extensions:
        extensions_deflate(extensions)


def extensions_deflate(extensions: Any) -> Any:
    """The core's deflate settings for extensions= (permessage-deflate
    factories only; NotImplementedError naming any other extension)."""
    from ..extensions.permessage_deflate import core_deflate
    return core_deflate(extensions)


def core_compression(compression: Any, server: bool) -> Optional[WSPerMessageDeflate]:
    """The core's permessage-deflate settings for websockets' `compression`
    ("deflate", the default, or None).

    Parameters as websockets chooses them: memLevel 5 on both sides; a
    server also limits both windows to 12 bits (per connection, a 4 KiB
    decompression window instead of 32 KiB, and 32 KiB of compressor state
    instead of 144 KiB).  The compression level stays the core's (1, zlib's
    fastest), as fits a low-latency library."""
    if compression is None:
        return None
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression}")
    if server:
        return WSPerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12,
                                   mem_level=5)
    return WSPerMessageDeflate(mem_level=5)


def check_subprotocols(subprotocols: Any) -> Optional[list]:
    """A list of str from `subprotocols` (None stays None)."""
    if subprotocols is None:
        return None
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a list of str, not a str")
    subprotocols = list(subprotocols)
    for p in subprotocols:
        if not isinstance(p, str):
            raise TypeError(f"subprotocols must contain str, got {p!r}")
    return subprotocols


class connect:
    """Connect to the WebSocket server at `uri`.

    Same keywords as ``websockets.asyncio.client.connect``.  Await it, use
    it as an async context manager, or iterate over it to reconnect
    forever (``async for ws in connect(uri): ...``), with exponential
    backoff and jitter after connection errors (see process_exception)
    and after connections that ended with 1001, 1011-1014 or no CLOSE
    (1006).  Other keyword arguments go to ``loop.create_connection``
    (``ssl``, ``server_hostname``, ``sock``, ``host``/``port`` to connect
    somewhere else than the URI says, ``local_addr``, ...).

    ``compression="deflate"`` (the default) offers permessage-deflate,
    None does not; ``subprotocols`` are offered in order and the server's
    choice is ``connection.subprotocol``.

    Redirects (300-308 with ``Location``) are followed as websockets
    does, up to WEBSOCKETS_MAX_REDIRECTS (10): never to ws:// from wss://
    (SecurityError); after a redirect to another origin (scheme, host or
    port differ) ``Authorization``, ``Cookie`` and ``Proxy-Authorization``
    are no longer sent, nor the credentials of the URI's userinfo, which
    only go to the origin they came with; RedirectRefused (a ValueError
    as in websockets, and a SecurityError) when a redirect cannot be
    followed on what the caller fixed (any redirect with
    ``sock=``, a cross-origin one with ``unix=`` or a ``host``/``port``
    override).  ``open_timeout`` bounds the whole opening, redirects
    included.  URIs in errors and logs have their userinfo redacted.

    Proxies as websockets: ``proxy=True`` (the default) uses the one the
    environment names for the URI (see ``picows_like.websockets.proxy.
    get_proxy``; ``no_proxy`` honoured), None connects directly, a URL
    names one: ``http://``, ``https://`` (TLS to the proxy verified with
    ``proxy_ssl``, a context or True), ``socks5h://`` / ``socks4a://``
    (the proxy resolves the target's name) and ``socks5://`` /
    ``socks4://`` (resolved here; python-socks needed).  Not used with
    ``sock=`` or ``unix=``; redirects keep going through it.  Errors:
    InvalidProxy (not a proxy URL), InvalidProxyStatus (the proxy refused,
    e.g. 407), InvalidProxyMessage (not an HTTP answer), ProxyError (SOCKS
    failure), OSError (proxy unreachable).

    Differences: ``extensions`` other than permessage-deflate,
    ``proxy_server_hostname`` other than the proxy URL's host and
    ``proxy_*`` keywords other than ``proxy_ssl`` /
    ``proxy_server_hostname`` raise NotImplementedError; ``host``/``port``
    with a proxy are a ValueError; ``create_connection`` must be a
    ClientConnection subclass (it receives keyword arguments only).
    """

    def __init__(self, uri: str, *, origin: Optional[str] = None, extensions: Any = None,
                 subprotocols: Any = None, compression: Optional[str] = "deflate",
                 additional_headers: Any = None, user_agent_header: Optional[str] = USER_AGENT,
                 proxy: Any = True, process_exception: Callable = process_exception,
                 open_timeout: Optional[float] = 10, ping_interval: Optional[float] = 20,
                 ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = 10,
                 reconnect_delays: Callable[[], Iterator[float]] = backoff,
                 max_size: Any = 2 ** 20, max_queue: Any = 16, write_limit: Any = 2 ** 15,
                 logger: Any = None, create_connection: Optional[type] = None,
                 **kwargs: Any) -> None:
        self.uri = uri
        try:
            self.ws_uri = parse_url(uri)
        except WSInvalidURL as exc:
            raise InvalidURI(redact_url(uri), str(exc).split(": ", 1)[-1]) from None
        if not self.ws_uri.is_secure and kwargs.get("ssl") is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        check_unsupported(extensions)
        self.compression = core_compression(compression, server=False)
        if extensions:
            self.compression = extensions_deflate(extensions)
        self.subprotocols = check_subprotocols(subprotocols)
        self.proxy = proxy
        self.proxy_ssl = kwargs.pop("proxy_ssl", _DEFAULT)
        self.proxy_server_hostname = kwargs.pop("proxy_server_hostname", None)
        for key in kwargs:
            if key.startswith("proxy_"):
                raise _unsupported(f"{key}= (only proxy_ssl and proxy_server_hostname "
                                   f"configure the connection to a proxy)")
        self.max_message, self.max_frame_size = core_limits(max_size)
        self.origin = origin
        if hasattr(additional_headers, "raw_items"):    # Headers: names as given, repeats kept
            additional_headers = list(additional_headers.raw_items())
        elif additional_headers is not None and not hasattr(additional_headers, "items"):
            additional_headers = list(additional_headers)   # sent again on each attempt
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.reconnect_delays = reconnect_delays
        self.logger = logger
        self.create_connection_kwargs = kwargs
        self._connection_class = create_connection or ClientConnection
        self._connection_options = dict(
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            close_timeout=close_timeout, max_size=max_size, max_queue=max_queue,
            write_limit=write_limit, logger=logger)
        self.connection: Optional[ClientConnection] = None

    # -- opening -------------------------------------------------------------

    def _headers(self) -> list:
        headers = []
        if self.origin is not None:
            headers.append(("Origin", self.origin))
        if self.user_agent_header is not None:
            headers.append(("User-Agent", self.user_agent_header))
        user_info = self.ws_uri.user_info
        if user_info is not None:
            token = base64.b64encode(f"{user_info[0]}:{user_info[1]}".encode()).decode()
            headers.append(("Authorization", f"Basic {token}"))
        extra = self.additional_headers
        if extra is not None:
            headers.extend((str(k), str(v)) for k, v in header_pairs(extra) or ())
        return headers

    def _socket_factory(self, kwargs: dict) -> Optional[Callable]:
        """Map websockets' sock= / unix= path= / host= port= to the core's
        socket_factory (the core connects to the URI's host and port)."""
        sock = kwargs.pop("sock", None)
        unix = kwargs.pop("unix", False)
        path = kwargs.pop("path", None)
        host = kwargs.pop("host", None)
        port = kwargs.pop("port", None)
        if sock is not None:
            return lambda parsed_url: sock
        loop = asyncio.get_running_loop()
        if unix:
            async def unix_socket(parsed_url: Any) -> socket.socket:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.setblocking(False)
                    await loop.sock_connect(s, os.fspath(path))
                except BaseException:
                    s.close()
                    raise
                return s
            return unix_socket
        if host is not None or port is not None:
            async def tcp_socket(parsed_url: Any) -> socket.socket:
                return await connect_tcp(host or parsed_url.host, port or parsed_url.port)
            return tcp_socket
        return None

    async def _open(self) -> ClientConnection:
        for _ in range(MAX_REDIRECTS):
            try:
                return await self._open_once()
            except InvalidStatus as exc:
                new_uri = self._process_redirect(exc)
                if isinstance(new_uri, Exception):
                    if new_uri is exc:
                        raise
                    raise new_uri from exc
                self._log_info("redirected to %s", redact_url(new_uri))
                self.uri = new_uri
                self.ws_uri = parse_url(new_uri)
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    def _process_redirect(self, exc: InvalidStatus) -> Any:
        """The URI a redirect sends us to, or the exception to raise (as
        websockets' process_redirect); see process_redirect."""
        kwargs = self.create_connection_kwargs
        result, self.additional_headers = process_redirect(
            self.uri, exc, self.additional_headers, sock=kwargs.get("sock") is not None,
            unix=kwargs.get("unix", False),
            address=kwargs.get("host") is not None or kwargs.get("port") is not None)
        return result

    def _proxy_arguments(self, kwargs: dict) -> dict:
        """ws_connect's proxy keywords for this attempt (the URI may have
        changed with a redirect): {} when connecting directly, else `proxy`
        and `proxy_ssl_context` for an HTTP(S) proxy, `socket_factory` for a
        SOCKS one.  As websockets: no proxy with ``sock=`` or ``unix=``;
        proxy=True takes the environment's for the current URI."""
        proxy = self.proxy
        if kwargs.get("sock") is not None or kwargs.get("unix", False):
            proxy = None
        if proxy is True:
            proxy = get_proxy(parse_uri(self.uri))
        if proxy is None:
            return {}
        parsed, rdns = parse_proxy(proxy)
        if kwargs.get("host") is not None or kwargs.get("port") is not None:
            raise ValueError("host and port arguments are incompatible with a proxy")
        proxy_ssl = self.proxy_ssl
        server_hostname = self.proxy_server_hostname
        if parsed.scheme != "https":
            if proxy_ssl is not _DEFAULT and proxy_ssl is not None:
                raise ValueError(f"proxy_ssl argument is incompatible with a "
                                 f"{proxy.partition(':')[0]}:// proxy")
            if server_hostname is not None:
                raise ValueError(f"proxy_server_hostname argument is incompatible with a "
                                 f"{proxy.partition(':')[0]}:// proxy")
        if rdns is not None:            # SOCKS: the socket comes through python-socks
            ws_uri = self.ws_uri
            socks_kwargs = {}
            if "local_addr" in kwargs:          # python-socks binds it, as in websockets
                socks_kwargs["local_addr"] = kwargs.pop("local_addr")

            async def socks_socket(parsed_url: Any) -> socket.socket:
                return await connect_socks_proxy(parsed, rdns, ws_uri.host, ws_uri.port,
                                                 **socks_kwargs)
            return {"socket_factory": socks_socket}
        if parsed.scheme == "https":
            if proxy_ssl is None:
                raise ValueError("proxy_ssl=None is incompatible with an https:// proxy")
            if server_hostname is not None and server_hostname != parsed.host:
                raise _unsupported("proxy_server_hostname= (TLS to an https:// proxy is "
                                   "verified against the proxy URL's host)")
            if proxy_ssl is not _DEFAULT and proxy_ssl is not True and \
                    not isinstance(proxy_ssl, ssl_module.SSLContext):
                raise TypeError("proxy_ssl must be True or an ssl.SSLContext")
        context = proxy_ssl if isinstance(proxy_ssl, ssl_module.SSLContext) else None
        return {"proxy": proxy, "proxy_ssl_context": context}

    async def _open_once(self) -> ClientConnection:
        kwargs = dict(self.create_connection_kwargs)
        proxy_arguments = self._proxy_arguments(kwargs)
        socket_factory = self._socket_factory(kwargs)
        if "socket_factory" in proxy_arguments:         # SOCKS
            socket_factory = proxy_arguments.pop("socket_factory")
        ssl = kwargs.pop("ssl", None)
        ssl_context = None
        if self.ws_uri.is_secure:
            if isinstance(ssl, ssl_module.SSLContext):
                ssl_context = ssl
            elif ssl is not None and ssl is not True:
                kwargs["ssl"] = ssl
        if "server_hostname" in kwargs and self.ws_uri.is_secure:
            pass        # forwarded to create_connection, overrides the core's default
        cls = self._connection_class
        options = self._connection_options

        def listener_factory(request: Any, response: Any) -> ClientConnection:
            conn = cls(**options)
            conn.request = Request.from_core(request)
            conn.response = Response.from_core(response)
            return conn

        try:
            _, conn = await ws_connect(
                listener_factory, self.uri, ssl_context=ssl_context,
                websocket_handshake_timeout=None, logger_name=self.logger,
                max_frame_size=self.max_frame_size, extra_headers=self._headers(),
                socket_factory=socket_factory, close_timeout=self.close_timeout,
                max_redirects=0,
                validate_utf8=True, compression=self.compression,
                subprotocols=self.subprotocols, **proxy_arguments, **kwargs)
        except WSProxyError as exc:
            raise proxy_exception(exc) from exc
        except WSError as exc:
            err = _handshake_error(exc)
            if err.__cause__ is None:
                err.__cause__ = exc
            raise err
        return conn

    async def _connect(self) -> ClientConnection:
        try:
            return await asyncio.wait_for(self._open(), self.open_timeout)
        except asyncio.TimeoutError as exc:
            raise TimeoutError("timed out during opening handshake") from exc

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientConnection:
        if self.connection is not None:
            raise RuntimeError("connect() isn't reentrant")
        self.connection = await self
        return self.connection

    async def __aexit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        try:
            if self.connection is not None:
                await self.connection.__aexit__(exc_type, exc_value, tb)
        finally:
            self.connection = None

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        pacer = ReconnectPacer(self.process_exception, self.reconnect_delays, self.logger)
        while True:
            try:
                async with self as connection:
                    yield connection
            except Exception as exc:
                await asyncio.sleep(pacer.after_error(exc))
            else:
                delay = pacer.after_close(connection.close_code)
                if delay is not None:
                    await asyncio.sleep(delay)

    def _log_info(self, msg: str, *args: Any) -> None:
        log_info(self.logger, msg, *args)


def log_info(logger: Any, msg: str, *args: Any) -> None:
    (logger or logging.getLogger("picows_like.websockets.client")).info(msg, *args)


class ReconnectPacer:
    """The waits of an ``async for`` / ``for`` reconnecting loop (asyncio
    and sync clients): after a failed attempt `process_exception` decides
    (raise, or retry after the next delay); after a connection that ended
    with a close code DEFAULT_RETRY_POLICY backs off after, wait too; a
    normal end resets the delays."""

    def __init__(self, process_exception: Callable[[Exception], Optional[Exception]],
                 reconnect_delays: Callable[[], Iterator[float]], logger: Any) -> None:
        self.process_exception = process_exception
        self.reconnect_delays = reconnect_delays
        self.logger = logger
        self.delays: Optional[Iterator[float]] = None

    def _next_delay(self) -> float:
        if self.delays is None:
            self.delays = self.reconnect_delays()
        return next(self.delays)

    def after_error(self, exc: Exception) -> float:
        """The delay before retrying; raises what process_exception says to."""
        try:
            new_exc = self.process_exception(exc)
        except Exception as raised:
            new_exc = raised
        if new_exc is exc:
            raise exc
        if new_exc is not None:
            raise new_exc from exc
        delay = self._next_delay()
        log_info(self.logger, "connect failed; reconnecting in %.1f seconds: %s", delay,
                 traceback.format_exception_only(type(exc), exc)[0].strip())
        return delay

    def after_close(self, code: Optional[int]) -> Optional[float]:
        """The delay before reconnecting after a connection that ended with
        `code`, or None (reconnect at once)."""
        if not _reconnect.DEFAULT_RETRY_POLICY.backs_off_after(code):
            self.delays = None
            return None
        # The server went away: back off before reconnecting.
        delay = self._next_delay()
        log_info(self.logger, "connection closed with %s; reconnecting in %.1f seconds",
                 code, delay)
        return delay


def unix_connect(path: Any = None, uri: Optional[str] = None, **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on the Unix socket `path`."""
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)


def process_redirect(uri: str, exc: InvalidStatus, additional_headers: Any, *, sock: bool,
                     unix: bool, address: bool) -> Tuple[Any, Any]:
    """The redirect policy of connect() (asyncio and sync): for the
    InvalidStatus `exc` answered at `uri`, (the URI to follow or the
    exception to raise, the additional headers to send from now on).

    A 300-308 with ``Location`` is followed, except: on a given socket
    (`sock`), from wss:// to ws://, and across origins (scheme, host or
    port) on a Unix socket or an explicit address (`unix`, `address`).
    Across origins Authorization, Cookie and Proxy-Authorization are
    dropped from the headers (the URI's userinfo stays in the old URI)."""
    response = exc.response
    if (response.status_code not in _REDIRECT_STATUSES
            or "Location" not in response.headers):
        return exc, additional_headers
    old = parse_url(uri)
    new_uri = urllib.parse.urljoin(uri, response.headers["Location"])
    try:
        new = parse_url(new_uri)
    except WSInvalidURL as error:
        return InvalidURI(error.url, str(error).split(": ", 1)[-1]), additional_headers
    shown = redact_url(new_uri)
    if sock:
        # The socket is closed now: nothing to send a second request on.
        return (RedirectRefused(f"cannot follow redirect to {shown} with a preexisting socket"),
                additional_headers)
    if old.is_secure and not new.is_secure:
        return SecurityError(f"cannot follow redirect to non-secure URI {shown}"), \
            additional_headers
    if old.origin != new.origin:
        if unix:
            return RedirectRefused(f"cannot follow cross-origin redirect to {shown} "
                                   f"with a Unix socket"), additional_headers
        if address:
            return RedirectRefused(f"cannot follow cross-origin redirect to {shown} "
                                   f"with an explicit host or port"), additional_headers
        # Credentials stay with the origin they were given for.
        if additional_headers is not None:
            additional_headers = strip_credentials(header_pairs(additional_headers))
    return new_uri, additional_headers


def _handshake_error(exc: WSError) -> Exception:
    """Translate a picows_like handshake error into the websockets one."""
    if isinstance(exc, WSInvalidURL):
        return InvalidURI(exc.url, str(exc))
    if isinstance(exc, WSInvalidStatusError) and exc.response is not None:
        return InvalidStatus(Response.from_core(exc.response))
    if isinstance(exc, WSInvalidUpgradeError):
        return InvalidUpgrade(exc.name, exc.value)
    if isinstance(exc, WSInvalidHeaderError):
        return InvalidHeader(exc.name, exc.value)
    if isinstance(exc, WSConnectionClosedBeforeHandshake):
        err = InvalidMessage("did not receive a valid HTTP response")
        err.__cause__ = EOFError("connection closed while reading HTTP status line")
        return err
    if isinstance(exc, WSInvalidMessageError):
        return InvalidMessage(str(exc))
    if isinstance(exc, WSRedirectError):
        return SecurityError(str(exc))
    if isinstance(exc, WSHandshakeError):
        return InvalidHandshake(str(exc))
    return InvalidHandshake(str(exc))
