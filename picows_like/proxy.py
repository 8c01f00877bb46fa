"""Connecting through a proxy, for ws_connect(proxy=...).

The tunnel is opened on a plain non-blocking socket: connect to the proxy,
ask it for a tunnel to the target, and return the socket.  ws_connect then
hands that socket to create_connection(sock=..., ssl=...), so TLS to the
target (wss://) and the WebSocket upgrade run through the tunnel unchanged.

* ``http://[user:pass@]host[:port]``: HTTP CONNECT (RFC 9110 9.3.6), with
  Basic ``Proxy-Authorization`` when the URL has credentials.  Built in.
* ``socks4://[user@]host[:port]`` and ``socks5://[user:pass@]host[:port]``:
  through the python-socks package, an optional extra
  (``pip install picows_like[socks]``).  SOCKS ports default to 1080.
* ``https://`` proxies (TLS to the proxy itself) are not supported, as in
  picows' documented API: NotImplementedError.
"""
import asyncio
import base64
import dataclasses
import socket
import urllib.parse
from typing import Optional, Tuple

from .exceptions import WSHandshakeError, WSInvalidURL
from .handshake import MAX_HEADER_BYTES, content_length, parse_response
from .url import WSParsedURL, WSPort, parse_url, redact_url

_DEFAULT_PORTS = {"http": 80, "socks4": 1080, "socks5": 1080}
# Bound on how much of a refusal body we keep for WSProxyError.raw_body.
_MAX_ERROR_BODY = 64 * 1024


class WSProxyError(WSHandshakeError):
    """The proxy did not open the tunnel to the target.

    For an HTTP proxy, `response` / `raw_header` / `raw_body` hold the
    proxy's answer (e.g. 407 Proxy Authentication Required or 403) and
    `status` its status code.  For SOCKS, `status` is None and the
    python-socks error (reply code in `error_code`) is the __cause__.
    Not raised for a proxy that cannot be reached: that is the OSError of
    the connect (ConnectionRefusedError, socket.gaierror, ...).
    """

    def __init__(self, description: str, raw_header: Optional[bytes] = None,
                 raw_body: Optional[bytes] = None, response=None,
                 error_code: Optional[int] = None):
        super().__init__(description, raw_header, raw_body, response)
        self.status = None if response is None else int(response.status)
        self.error_code = error_code


def parse_proxy_url(proxy: str) -> WSParsedURL:
    """Validate a proxy URL; the port defaults to 80 (http) or 1080 (socks)."""
    scheme = proxy.partition(":")[0].lower()
    if scheme == "https":
        raise NotImplementedError(
            "https:// proxies (TLS to the proxy) are not supported; "
            "use http://, socks4:// or socks5://")
    if scheme not in _DEFAULT_PORTS:
        raise WSInvalidURL(redact_url(proxy), "proxy scheme must be http, socks4 or socks5")
    parsed = parse_url(proxy, check_scheme=False)
    if urllib.parse.urlsplit(proxy).port is None:
        parsed = dataclasses.replace(parsed, port=WSPort(_DEFAULT_PORTS[scheme]))
    if scheme != "http":
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
    """Turn `sock`, connected to the proxy, into a tunnel to host:port.

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


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _http_connect(sock: socket.socket, proxy: WSParsedURL, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    target = _authority(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.username is not None:
        user = urllib.parse.unquote(proxy.username)
        password = urllib.parse.unquote(proxy.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        lines.append(f"Proxy-Authorization: Basic {token}")
    await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))

    where = _authority(proxy.host, proxy.port)
    head, rest = await _read_head(loop, sock, where)
    response = parse_response(head)
    status = response.status
    if 200 <= status < 300:
        if rest:
            # The target only speaks after us (TLS ClientHello / upgrade request).
            raise WSProxyError(f"HTTP proxy {where} sent unexpected data after its "
                               f"{int(status)} response", head, rest, response)
        return
    body = await _read_body(loop, sock, rest, min(content_length(response.headers),
                                                  _MAX_ERROR_BODY))
    response.body = body
    raise WSProxyError(f"HTTP proxy {where} refused CONNECT {target}: "
                       f"{int(status)} {status.phrase}", head, body, response)


async def _read_head(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                     where: str) -> Tuple[bytes, bytes]:
    """Read a response head; returns (head without the final CRLFCRLF, rest)."""
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return data[:end], data[end + 4:]
        if len(data) > MAX_HEADER_BYTES:
            raise WSProxyError(f"HTTP proxy {where} response headers exceed "
                               f"{MAX_HEADER_BYTES} bytes", data[:1024])
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            raise WSProxyError(f"HTTP proxy {where} closed the connection before "
                               f"answering CONNECT", data or None)
        data += chunk


async def _read_body(loop: asyncio.AbstractEventLoop, sock: socket.socket, body: bytes,
                     length: int) -> bytes:
    """Best effort: up to `length` body bytes of a refusal, then give up."""
    while len(body) < length:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, length - len(body)), 1.0)
        except (OSError, asyncio.TimeoutError):
            break
        if not chunk:
            break
        body += chunk
    return body[:length]


def _import_python_socks(scheme: str):
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

    async def connect(self, dest_host: str, dest_port: int, timeout=None, **kwargs):
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
