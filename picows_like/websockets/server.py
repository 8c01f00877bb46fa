"""websockets' sans-I/O ``ServerProtocol`` on picows_like's engine.

As in websockets, ``serve``, ``unix_serve``, ``broadcast``, ``WebSocketServer``
and ``WebSocketServerProtocol`` imported from here are the legacy API's
(``picows_like.websockets.legacy.server``), with a DeprecationWarning."""
import email.utils
import http
import re
from typing import Any, Callable, List, Optional, Sequence, Tuple

from ..handshake import HandshakeRejected, accept_value, parse_request
from .datastructures import Headers, MultipleValuesError
from .exceptions import (InvalidHandshake, InvalidHeader, InvalidMessage,
                         InvalidMethod, InvalidOrigin, InvalidProtocol, InvalidUpgrade,
                         NegotiationError)
from .headers import check_extension_list, parse_subprotocol_list
from .http11 import Request, Response
from .protocol import (CONNECTING, SERVER, Protocol, State, check_key_and_version, check_upgrade)

__all__ = ["ServerProtocol"]



class ServerProtocol(Protocol):
    """Sans-I/O implementation of a WebSocket server connection.

    extensions: permessage-deflate settings to accept
    (``picows_like.extensions.permessage_deflate.WSPerMessageDeflate``) or None.
    """

    def __init__(self, *, origins: Optional[Sequence[Any]] = None,
                 extensions: Optional[Sequence[Any]] = None,
                 subprotocols: Optional[Sequence[str]] = None,
                 select_subprotocol: Optional[Callable[..., Optional[str]]] = None,
                 state: State = CONNECTING, max_size: Optional[int] = 2 ** 20,
                 logger: Any = None) -> None:
        super().__init__(SERVER, state=state, max_size=max_size, logger=logger)
        self.origins = origins
        self.available_extensions = extensions
        self.available_subprotocols = subprotocols
        if select_subprotocol is not None:
            setattr(self, "select_subprotocol", select_subprotocol.__get__(self, type(self)))
        self.accept_called = False
        self._head_seen = False
        self._compression: Any = None

    # -- handshake ----------------------------------------------------------

    def accept(self, request: Request) -> Response:
        """The response to a handshake request: 101, or an HTTP error
        telling why (``handshake_exc`` is set then)."""
        self.accept_called = True
        try:
            accept_header, extensions_header, protocol_header = self.process_request(request)
        except InvalidOrigin as exc:
            return self._refuse(request, exc, http.HTTPStatus.FORBIDDEN,
                                f"Failed to open a WebSocket connection: {exc}.\n")
        except InvalidMethod as exc:
            response = self._refuse(request, exc, http.HTTPStatus.METHOD_NOT_ALLOWED,
                                    f"Failed to open a WebSocket connection: {exc}.\n")
            response.headers["Allow"] = "GET"
            return response
        except InvalidProtocol as exc:
            return self._refuse(request, exc, http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                                f"Failed to open a WebSocket connection: {exc}.\n")
        except InvalidUpgrade as exc:
            response = self._refuse(
                request, exc, http.HTTPStatus.UPGRADE_REQUIRED,
                f"Failed to open a WebSocket connection: {exc}.\n\nYou cannot access a "
                f"WebSocket server directly with a browser. You need a WebSocket client.\n")
            response.headers["Upgrade"] = "websocket"
            return response
        except InvalidHandshake as exc:
            chain: BaseException = exc
            text = f"{chain}"
            while chain.__cause__ is not None:
                chain = chain.__cause__
                text += f"; {chain}"
            return self._refuse(request, exc, http.HTTPStatus.BAD_REQUEST,
                                f"Failed to open a WebSocket connection: {text}.\n")
        except Exception as exc:
            self.logger.error("opening handshake failed", exc_info=True)
            return self._refuse(request, exc, http.HTTPStatus.INTERNAL_SERVER_ERROR,
                                "Failed to open a WebSocket connection.\n"
                                "See server log for more information.\n")
        headers = Headers()
        headers["Date"] = email.utils.formatdate(usegmt=True)
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Accept"] = accept_header
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = protocol_header
        return Response(101, "Switching Protocols", headers)

    def _refuse(self, request: Request, exc: Exception, status: http.HTTPStatus,
                text: str) -> Response:
        request._exception = exc
        self.handshake_exc = exc
        return self.reject(status, text)

    def process_request(self, request: Request) -> Tuple[str, Optional[str], Optional[str]]:
        """Check a handshake request; return the Sec-WebSocket-Accept,
        -Extensions and -Protocol values of the response."""
        if request.method != "GET":
            raise InvalidMethod(request.method)
        if request.protocol != "HTTP/1.1":
            raise InvalidProtocol(request.protocol)
        headers = request.headers
        check_upgrade(headers)
        accept_header = accept_value(check_key_and_version(headers).encode()).decode()
        self.origin = self.process_origin(headers)
        extensions_header, self.extensions = self.process_extensions(headers)
        protocol_header = self.subprotocol = self.process_subprotocol(headers)
        return accept_header, extensions_header, protocol_header

    def process_origin(self, headers: Headers) -> Optional[str]:
        try:
            origin = headers.get("Origin")
        except MultipleValuesError:
            raise InvalidHeader("Origin", "multiple values") from None
        if len(headers.get_all("Origin")) > 1:
            raise InvalidHeader("Origin", "multiple values")
        if self.origins is not None:
            for allowed in self.origins:
                if allowed == origin or (isinstance(allowed, re.Pattern) and origin is not None
                                         and allowed.fullmatch(origin) is not None):
                    break
            else:
                raise InvalidOrigin(origin)
        return origin

    def process_extensions(self, headers: Headers) -> Tuple[Optional[str], List[Any]]:
        values = headers.get_all("Sec-WebSocket-Extensions")
        if not values or not self.available_extensions:
            return None, []
        check_extension_list(headers)
        from ..extensions.permessage_deflate import WSNegotiationError
        for ext in self.available_extensions:
            try:
                accepted = ext.accept_offers(values)
            except WSNegotiationError:
                continue
            if accepted is not None:
                agreed, value = accepted
                return value, [agreed]
        return None, []

    def process_subprotocol(self, headers: Headers) -> Optional[str]:
        return self.select_subprotocol(parse_subprotocol_list(headers))

    def select_subprotocol(self, subprotocols: Sequence[str]) -> Optional[str]:
        """The first of our subprotocols that the client offers; None when
        we have none; NegotiationError when the client offers none of ours."""
        if not self.available_subprotocols:
            return None
        if not subprotocols:
            raise NegotiationError("missing subprotocol")
        offered = set(subprotocols)
        for subprotocol in self.available_subprotocols:
            if subprotocol in offered:
                return subprotocol
        raise NegotiationError("invalid subprotocol; expected one of "
                               + ", ".join(self.available_subprotocols))

    def reject(self, status: Any, text: str) -> Response:
        """An HTTP error response with `text` as its body."""
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ])
        return Response(status.value, status.phrase, headers, body)

    def send_response(self, response: Response) -> None:
        """Send the handshake response: OPEN after a 101, else the
        connection ends (half-close)."""
        if self.debug:
            self.logger.debug("> HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
        upgrade = response.status_code == 101
        if upgrade:
            assert self.state is CONNECTING
        self._engine.send_handshake_response(
            response.serialize(), upgrade,
            self.extensions[0] if upgrade and self.extensions else None)
        if upgrade:
            self.logger.info("connection open")
        else:
            self.logger.info("connection rejected (%d %s)" if self.accept_called
                             else "HTTP response sent (%d %s)",
                             response.status_code, response.reason_phrase)

    def receive_eof(self) -> None:
        head_missing = self._engine.state == 0 and not self._head_seen
        super().receive_eof()
        if head_missing and self.handshake_exc is None:
            exc = InvalidMessage("did not receive a valid HTTP request")
            exc.__cause__ = EOFError("connection closed while reading HTTP request line")
            self.handshake_exc = exc

    def _on_handshake(self, head: Optional[bytes], body: Optional[bytes]) -> None:
        self._head_seen = True
        try:
            if head is None:            # too long, or not HTTP (engine.error_reason)
                raise ValueError(self._engine.error_reason)
            line, sep, rest = head.partition(b"\r\n")
            version = b"HTTP/1.1"
            if line.endswith(b" HTTP/1.0"):
                # As websockets: parsed, then refused by accept() with a 505.
                version = b"HTTP/1.0"
                head = line[:-3] + b"1.1" + sep + rest
            core = parse_request(head)
            request = Request(core.path.decode("ascii"), Headers(core.headers.items()),
                              core.method.decode("ascii"), version.decode("ascii"))
        except (HandshakeRejected, ValueError, UnicodeDecodeError) as exc:
            self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
            self.handshake_exc.__cause__ = exc
            self._engine.handshake_failed()
            return
        self._sink.events.append(request)


_LEGACY_ALIASES = {"WebSocketServer", "WebSocketServerProtocol", "broadcast", "serve",
                   "unix_serve"}


def __getattr__(name: str) -> Any:
    """websockets' deprecated aliases to the legacy server API."""
    if name in _LEGACY_ALIASES:
        import warnings
        warnings.warn(f"picows_like.websockets.server.{name} is deprecated "
                      f"(as websockets.server.{name}): import it from "
                      f"picows_like.websockets.legacy.server", DeprecationWarning, stacklevel=2)
        from .legacy import server as legacy_server
        return getattr(legacy_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
