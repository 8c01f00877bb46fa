"""websockets' sans-I/O ``ClientProtocol`` on picows_like's engine, and the
``websockets.client`` helpers ``process_exception`` and ``backoff``."""
import base64
import ipaddress
import os
from typing import Any, List, Optional, Sequence

from ..handshake import MAX_BODY_BYTES, accept_value, parse_response
from ..exceptions import WSInvalidMessageError
from .asyncio.client import backoff, process_exception
from .datastructures import Headers
from .exceptions import (InvalidHandshake, InvalidHeader, InvalidHeaderValue, InvalidMessage,
                         InvalidStatus, NegotiationError, SecurityError)
from .headers import check_extension_list, parse_subprotocol_list
from .http11 import Request, Response
from .protocol import CLIENT, CONNECTING, Protocol, State, check_upgrade, single_header

__all__ = ["ClientProtocol", "backoff", "process_exception"]



def build_host(host: str, port: int, secure: bool) -> str:
    """The Host header: IPv6 in brackets, the port when not the default."""
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    if port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host


class ClientProtocol(Protocol):
    """Sans-I/O implementation of a WebSocket client connection.

    uri: the server's URI (websockets' ``WebSocketURI``, or anything with
    host, port, secure, resource_name and user_info; a str is parsed).
    extensions: permessage-deflate settings to offer
    (``picows_like.extensions.permessage_deflate.WSPerMessageDeflate``) or None.
    """

    def __init__(self, uri: Any, *, origin: Optional[str] = None,
                 extensions: Optional[Sequence[Any]] = None,
                 subprotocols: Optional[Sequence[str]] = None,
                 state: State = CONNECTING, max_size: Optional[int] = 2 ** 20,
                 logger: Any = None) -> None:
        super().__init__(CLIENT, state=state, max_size=max_size, logger=logger)
        if isinstance(uri, str):
            from .uri import parse_uri
            uri = parse_uri(uri)
        self.uri = uri
        self.origin = origin
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        self.key = base64.b64encode(os.urandom(16)).decode()
        self._head_seen = False

    def connect(self) -> Request:
        """The handshake request to send with send_request() (headers may be
        changed before)."""
        uri = self.uri
        secure = getattr(uri, "secure", None)
        if secure is None:
            secure = uri.is_secure
        headers = Headers()
        headers["Host"] = build_host(uri.host, uri.port, secure)
        if uri.user_info:
            user, password = uri.user_info
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode()
        if self.origin is not None:
            headers["Origin"] = self.origin
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions:
            headers["Sec-WebSocket-Extensions"] = ", ".join(
                ext.offer() for ext in self.available_extensions)
        if self.available_subprotocols is not None:
            headers["Sec-WebSocket-Protocol"] = ", ".join(self.available_subprotocols)
        return Request(uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Send the handshake request to the server."""
        if self.debug:
            self.logger.debug("> GET %s HTTP/1.1", request.path)
        self._engine.send_raw(request.serialize())

    def process_response(self, response: Response) -> None:
        """Check the handshake response (InvalidHandshake subclasses)."""
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        check_upgrade(headers)
        s_w_accept = single_header(headers, "Sec-WebSocket-Accept")
        if s_w_accept != accept_value(self.key.encode()).decode():
            raise InvalidHeaderValue("Sec-WebSocket-Accept", s_w_accept)
        self.extensions = self.process_extensions(headers)
        self.subprotocol = self.process_subprotocol(headers)

    def process_extensions(self, headers: Headers) -> List[Any]:
        values = headers.get_all("Sec-WebSocket-Extensions")
        if not values:
            return []
        if not self.available_extensions:
            raise NegotiationError("no extensions supported")
        check_extension_list(headers)
        from ..extensions.permessage_deflate import WSNegotiationError
        for ext in self.available_extensions:
            try:
                return [ext.accept_response(values)]
            except WSNegotiationError:
                continue
        raise NegotiationError(f"Unsupported extension: {', '.join(values)}")

    def process_subprotocol(self, headers: Headers) -> Optional[str]:
        values = headers.get_all("Sec-WebSocket-Protocol")
        if not values:
            return None
        if self.available_subprotocols is None:
            raise NegotiationError("no subprotocols supported")
        parsed = parse_subprotocol_list(headers)
        if len(parsed) > 1:
            raise InvalidHeader("Sec-WebSocket-Protocol", f"multiple values: {', '.join(parsed)}")
        if parsed[0] not in self.available_subprotocols:
            raise NegotiationError(f"unsupported subprotocol: {parsed[0]}")
        return parsed[0]

    def receive_eof(self) -> None:
        head_missing = self._engine.state == 0 and not self._head_seen
        super().receive_eof()
        if head_missing and self.handshake_exc is None:
            exc = InvalidMessage("did not receive a valid HTTP response")
            exc.__cause__ = EOFError("connection closed while reading HTTP status line")
            self.handshake_exc = exc

    def _on_handshake(self, head: Optional[bytes], body: Optional[bytes]) -> None:
        self._head_seen = True
        engine = self._engine
        try:
            if head is None:
                raise WSInvalidMessageError("HTTP response head too long")
            core = parse_response(head, body)
            status_line = head.split(b"\r\n", 1)[0].split(b" ", 2)
            if core.version != b"HTTP/1.1":
                raise WSInvalidMessageError("unsupported protocol; expected HTTP/1.1")
            phrase = status_line[2].decode("iso-8859-1") if len(status_line) > 2 else ""
            status = int(core.status)
            headers = Headers(core.headers.items())
            if not (100 <= status < 200 or status in (204, 304)):
                # As websockets' read_body: one Content-Length of ASCII
                # digits (several: MultipleValuesError; the engine read the
                # body by the first), a body of at most MAX_BODY_BYTES (the
                # engine stops reading there, with more input left over).
                length = headers.get("Content-Length")
                if length is not None and not (length.isascii() and length.isdigit()):
                    raise SecurityError(f"invalid content length: {length}")
                if length is not None and (len(length) > 9 or int(length) > MAX_BODY_BYTES):
                    raise SecurityError(f"body too large: {length[:32]} bytes")
                if length is None and engine.buffered:
                    raise SecurityError(f"body too large: over {MAX_BODY_BYTES} bytes")
            response = Response(status, phrase, headers, body or b"")
        except Exception as exc:
            self.handshake_exc = InvalidMessage("did not receive a valid HTTP response")
            self.handshake_exc.__cause__ = exc
            engine.handshake_failed()
            return
        try:
            self.process_response(response)
        except InvalidHandshake as exc:
            response._exception = exc
            self._sink.events.append(response)
            self.handshake_exc = exc
            engine.handshake_failed()
            return
        self._sink.events.append(response)
        engine.handshake_open(self.extensions[0] if self.extensions else None)


_LEGACY_ALIASES = {"WebSocketClientProtocol", "connect", "unix_connect"}


def __getattr__(name: str) -> Any:
    """websockets' deprecated aliases to the legacy client API."""
    if name in _LEGACY_ALIASES:
        import warnings
        warnings.warn(f"picows_like.websockets.client.{name} is deprecated "
                      f"(as websockets.client.{name}): import it from "
                      f"picows_like.websockets.legacy.client", DeprecationWarning, stacklevel=2)
        from .legacy import client as legacy_client
        return getattr(legacy_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
