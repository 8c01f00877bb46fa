"""Blocking WebSocket client: ``connect`` / ``unix_connect`` as in
``websockets.sync.client``, on picows_like's sans-I/O ``ClientProtocol``."""
import socket
import ssl as ssl_module
import time
from typing import Any, Optional, Sequence

from ..asyncio.client import check_unsupported, core_compression
from ..client import ClientProtocol
from ..exceptions import InvalidMessage
from ..http11 import USER_AGENT, Response
from ..uri import parse_uri
from .connection import Connection

__all__ = ["connect", "unix_connect", "ClientConnection"]


class ClientConnection(Connection):
    """A client-side WebSocket connection (see ``Connection``)."""

    protocol: ClientProtocol

    def __init__(self, socket: Any, protocol: ClientProtocol, **kwargs: Any) -> None:
        super().__init__(socket, protocol, **kwargs)


def _handshake(sock: Any, protocol: ClientProtocol, request: Any, deadline: float) -> list:
    """Send the request, read until the response; the events after it."""
    protocol.send_request(request)
    for data in protocol.data_to_send():
        sock.sendall(data)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out during opening handshake")
        sock.settimeout(left)
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
                protocol.data_to_send()
                if protocol.handshake_exc is not None:
                    raise protocol.handshake_exc
                return [event] + events[i + 1:]
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        if not data:
            raise InvalidMessage("did not receive a valid HTTP response")


def connect(uri: str, *, sock: Any = None, ssl: Any = None,
            server_hostname: Optional[str] = None, origin: Optional[str] = None,
            extensions: Optional[Sequence[Any]] = None,
            subprotocols: Optional[Sequence[str]] = None,
            compression: Optional[str] = "deflate",
            additional_headers: Any = None,
            user_agent_header: Optional[str] = USER_AGENT,
            proxy: Any = None, proxy_ssl: Any = None, proxy_server_hostname: Any = None,
            open_timeout: Optional[float] = 10, ping_interval: Optional[float] = 20,
            ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = 10,
            max_size: Any = 2 ** 20, max_queue: Any = 16, logger: Any = None,
            create_connection: Optional[type] = None, legacy: Optional[bool] = None,
            **kwargs: Any) -> ClientConnection:
    """Connect to the WebSocket server at `uri` and return a ClientConnection
    (use it as a context manager to close it).  `sock`, `ssl`, `server_hostname`
    and `kwargs` (passed to ``socket.create_connection``) as in websockets.
    Not supported yet (NotImplementedError): ``proxy``, ``legacy=False``
    (websockets 17's reconnecting iterator); redirects are not followed."""
    check_unsupported(extensions)
    if legacy is False:
        raise NotImplementedError("picows_like.websockets.sync does not support "
                                  "legacy=False (reconnecting) yet")
    if proxy is not None and proxy is not True:
        raise NotImplementedError("picows_like.websockets.sync does not support proxy= yet")
    ws_uri = parse_uri(uri)
    if not ws_uri.secure and ssl is not None:
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    unix = kwargs.pop("unix", False)
    path = kwargs.pop("path", None)
    deflate = core_compression(compression, server=False)
    if create_connection is None:
        create_connection = ClientConnection
    deadline = time.monotonic() + (open_timeout if open_timeout is not None else 1e9)
    if sock is None:
        if unix:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(deadline - time.monotonic())
            sock.connect(path)
        else:
            kwargs.setdefault("timeout", deadline - time.monotonic())
            sock = socket.create_connection((ws_uri.host, ws_uri.port), **kwargs)
    try:
        if not unix:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        if ws_uri.secure:
            if ssl is None:
                ssl = ssl_module.create_default_context()
            if server_hostname is None:
                server_hostname = ws_uri.host
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock = ssl.wrap_socket(sock, server_hostname=server_hostname)
        protocol = ClientProtocol(ws_uri, origin=origin,
                                  extensions=[deflate] if deflate is not None else None,
                                  subprotocols=subprotocols, max_size=max_size, logger=logger)
        connection = create_connection(sock, protocol, ping_interval=ping_interval,
                                       ping_timeout=ping_timeout, close_timeout=close_timeout,
                                       max_queue=max_queue)
        request = protocol.connect()
        if additional_headers is not None:
            request.headers.update(additional_headers)
        if user_agent_header is not None:
            request.headers.setdefault("User-Agent", user_agent_header)
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
    return connection


def unix_connect(path: Optional[str] = None, uri: Optional[str] = None,
                 **kwargs: Any) -> ClientConnection:
    """Connect to a WebSocket server listening on a Unix socket."""
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)
