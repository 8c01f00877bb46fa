"""Proxies for picows_like.websockets' clients, as ``websockets.proxy``:
which proxy the environment names for a URI (get_proxy), the proxy URLs
accepted (parse_proxy) and the SOCKS schemes.

Shared by the asyncio and the threaded ``connect``.  The CONNECT request
and the reading of an HTTP proxy's answer are picows_like.proxy's; SOCKS
goes through the python-socks package (an optional extra), with the name
resolution the scheme asks for (see SOCKS_SCHEMES)."""
import socket
import urllib.parse
import urllib.request
from typing import Any, Optional, Tuple

from .. import proxy as _core_proxy
from ..exceptions import WSInvalidURL
from ..url import WSParsedURL
from .exceptions import InvalidProxy, InvalidProxyMessage, InvalidProxyStatus, ProxyError
from .uri import WebSocketURI

__all__ = ["get_proxy", "parse_proxy", "SOCKS_SCHEMES"]

# websockets' SOCKS schemes -> (picows_like.proxy's scheme, rdns: resolve the
# target's name at the proxy (True) or here (False)).
SOCKS_SCHEMES = {"socks5h": ("socks5", True), "socks5": ("socks5", False),
                 "socks4a": ("socks4", True), "socks4": ("socks4", False)}


def get_proxy(uri: WebSocketURI) -> Optional[str]:
    """The proxy the environment (or the system configuration) names for
    `uri`, as websockets chooses it: none when the host is bypassed
    (``no_proxy``), else ``wss_proxy`` / ``ws_proxy``, then a SOCKS proxy,
    then the HTTPS proxy, then (ws:// only) the HTTP proxy."""
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    proxies = urllib.request.getproxies()
    schemes = ["wss", "socks", "https"] if uri.secure else ["ws", "socks", "https", "http"]
    for scheme in schemes:
        proxy = proxies.get(scheme)
        if proxy is not None:
            # The system configuration names SOCKS proxies as http://host:port.
            if scheme == "socks" and proxy.startswith("http://"):
                proxy = "socks5h://" + proxy[7:]
            return proxy
    return None


def parse_proxy(proxy: str) -> Tuple[WSParsedURL, Optional[bool]]:
    """(WSParsedURL with picows_like.proxy's scheme, rdns) for a proxy URL:
    rdns is None for http(s):// proxies, else SOCKS_SCHEMES' flag.
    InvalidProxy when `proxy` is not a proxy URL (ImportError for a SOCKS
    proxy without python-socks)."""
    scheme, sep, rest = proxy.partition(":")
    rdns = None
    if scheme.lower() in SOCKS_SCHEMES:
        core_scheme, rdns = SOCKS_SCHEMES[scheme.lower()]
        proxy = core_scheme + sep + rest
    try:
        parsed = _core_proxy.parse_proxy_url(proxy)
    except WSInvalidURL as exc:
        raise InvalidProxy(exc.url, str(exc).split(": ", 1)[-1]) from None
    if parsed.path not in ("", "/") or parsed.query:
        raise InvalidProxy(parsed.redacted_url, "path or query isn't meaningful for a proxy")
    return parsed, rdns


def proxy_exception(exc: "_core_proxy.WSProxyError") -> Exception:
    """websockets' exception for an HTTP(S) proxy's refusal or bad answer
    (picows_like.proxy.WSProxyError): InvalidProxyStatus with the proxy's
    response, or InvalidProxyMessage."""
    from .http11 import Response
    if exc.status is not None and exc.response is not None:
        err: Exception = InvalidProxyStatus(Response.from_core(exc.response))
    elif exc.status is not None:
        from .datastructures import Headers
        err = InvalidProxyStatus(Response(exc.status, "", Headers()))
    else:
        err = InvalidProxyMessage(str(exc))
    err.__cause__ = exc
    return err


async def connect_socks_proxy(proxy: WSParsedURL, rdns: Optional[bool], host: str,
                              port: int, **kwargs: Any) -> socket.socket:
    """A socket tunnelled to host:port through the SOCKS proxy `proxy`
    (from parse_proxy), the name resolved at the proxy when `rdns`.  As
    websockets: an OSError (unreachable proxy, TimeoutError) propagates,
    any other failure (refusal, bad credentials) is a ProxyError.
    `kwargs` (``local_addr``) go to python-socks' connect."""
    python_socks, Proxy = _core_proxy._import_python_socks(proxy.scheme)
    kind = python_socks.ProxyType.SOCKS4 if proxy.scheme == "socks4" \
        else python_socks.ProxyType.SOCKS5
    unquote = urllib.parse.unquote
    client = Proxy(kind, proxy.host, proxy.port,
                   None if proxy.username is None else unquote(proxy.username),
                   None if proxy.password is None else unquote(proxy.password),
                   rdns)
    try:
        return await client.connect(host, port, **kwargs)
    except OSError:
        raise
    except Exception as exc:
        raise ProxyError("failed to connect to SOCKS proxy") from exc
