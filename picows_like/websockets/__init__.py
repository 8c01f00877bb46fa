"""picows_like.websockets: the ``websockets.asyncio`` API on picows_like's core.

Replace ``import websockets`` with ``import picows_like.websockets as
websockets`` (or ``from picows_like.websockets import connect, serve``) and
the usual code keeps working -- ``async with connect(uri) as ws``,
``await ws.recv()``, ``async for msg in ws``, ``serve(handler, host,
port)``, ... -- with frames parsed, unmasked and UTF-8-validated in C.

permessage-deflate (``compression="deflate"``, the default, as in websockets),
``subprotocols`` / ``select_subprotocol``, ``process_request`` /
``process_response``, origins, reconnecting with ``async for ws in connect(uri)``
and ``broadcast`` work as in websockets.  Not supported yet (NotImplementedError
naming the feature): ``extensions=`` other than the permessage-deflate
factories of ``.extensions.permessage_deflate``, ``route()`` / ``unix_route()``.
``connect`` goes through HTTP, HTTPS and SOCKS proxies as websockets does
(``.proxy``; ``proxy_server_hostname`` only as the proxy URL's host).
Submodules mirror websockets: ``.asyncio.client``, ``.asyncio.server``,
``.asyncio.connection``, ``.exceptions``, ``.frames``, ``.protocol``,
``.datastructures``, ``.http11``, ``.typing``, ``.client``, ``.server``,
``.extensions``, and ``.legacy`` (websockets' legacy API: docs/legacy.rst).
"""
from .asyncio.client import ClientConnection, connect, unix_connect
from .asyncio.connection import Connection
from .asyncio.server import (Server, ServerConnection, basic_auth, broadcast, route, serve,
                             unix_route, unix_serve)
from .client import backoff, process_exception
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import (ConcurrencyError, ConnectionClosed, ConnectionClosedError,
                         ConnectionClosedOK, DuplicateParameter, InvalidHandshake,
                         InvalidHeader, InvalidHeaderFormat, InvalidHeaderValue, InvalidMessage,
                         InvalidMethod, InvalidOrigin, InvalidParameterName,
                         InvalidParameterValue, InvalidProtocol, InvalidProxy,
                         InvalidProxyMessage, InvalidProxyStatus, InvalidState, InvalidStatus,
                         InvalidUpgrade, InvalidURI, NegotiationError, PayloadTooBig,
                         ProtocolError, ProxyError, SecurityError, TooManyFragments,
                         WebSocketException)
from .frames import Close, CloseCode, Opcode
from .http11 import Request, Response
from .protocol import Side, State
from .typing import (BytesLike, Data, DataLike, ExtensionName, ExtensionParameter, LoggerLike,
                     Origin, StatusLike, Subprotocol)

__all__ = [
    "connect", "unix_connect", "ClientConnection", "Connection",
    "basic_auth", "broadcast", "serve", "unix_serve", "ServerConnection", "Server",
    "route", "unix_route",
    "process_exception", "backoff",
    "Headers", "HeadersLike", "MultipleValuesError",
    "ConcurrencyError", "ConnectionClosed", "ConnectionClosedError", "ConnectionClosedOK",
    "DuplicateParameter", "InvalidHandshake", "InvalidHeader", "InvalidHeaderFormat",
    "InvalidHeaderValue", "InvalidMessage", "InvalidMethod", "InvalidOrigin",
    "InvalidParameterName", "InvalidParameterValue", "InvalidProtocol", "InvalidProxy",
    "InvalidProxyMessage", "InvalidProxyStatus", "InvalidState", "InvalidStatus",
    "InvalidUpgrade", "InvalidURI", "NegotiationError", "PayloadTooBig", "ProtocolError",
    "ProxyError", "SecurityError", "TooManyFragments", "WebSocketException",
    "Close", "CloseCode", "Opcode", "Request", "Response", "Side", "State",
    "BytesLike", "Data", "DataLike", "ExtensionName", "ExtensionParameter", "LoggerLike",
    "Origin", "StatusLike", "Subprotocol",
]

# websockets' deprecated aliases to its legacy API (picows_like.websockets.legacy).
_LEGACY_ALIASES = {
    "BasicAuthWebSocketServerProtocol": "auth", "basic_auth_protocol_factory": "auth",
    "WebSocketClientProtocol": "client",
    "AbortHandshake": "exceptions", "InvalidStatusCode": "exceptions",
    "RedirectHandshake": "exceptions", "WebSocketProtocolError": "exceptions",
    "WebSocketCommonProtocol": "protocol",
    "WebSocketServer": "server", "WebSocketServerProtocol": "server",
}


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    module = _LEGACY_ALIASES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import warnings
    warnings.warn(f"picows_like.websockets.{name} is deprecated (as websockets.{name}): "
                  f"import it from picows_like.websockets.legacy.{module}",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(f".legacy.{module}", __name__), name)
