"""websockets' sans-I/O ``Protocol`` on picows_like's engine.

Same API as ``websockets.protocol`` (``Protocol``, ``Side``, ``State``,
``SEND_EOF``): bytes in with ``receive_data`` / ``receive_eof``, events out
with ``events_received``, bytes out with ``data_to_send``.  The rules run in
C (``picows_like._engine.WSEngine``); this module only turns the engine's
frames into ``Frame`` objects and its errors into websockets' exceptions.

Deliberate differences from websockets (RFC 6455 says so, or a limit does):

* a TEXT message that is not UTF-8 fails the connection with 1007 here
  (RFC 6455 8.1); websockets' sans-I/O layer hands the bytes on and leaves
  decoding to its connection layer;
* a frame header is judged as soon as it arrives: an illegal frame fails
  before its payload is received (websockets reads the payload first), and a
  non-minimal length encoding is a protocol error (websockets accepts it);
* server: frames pipelined behind the upgrade request wait until
  send_response() accepts it (websockets parses them while CONNECTING), and
  are dropped on a rejection;
* server: a request head is parsed by ``picows_like.handshake.parse_request``
  (exactly one Host, no body, printable target, 16 KiB in all): a request it
  refuses ends with ``InvalidMessage`` and no answer, where websockets
  answers some (too long a line: 414, too many headers: 431).
"""
import base64
import binascii
import enum
import logging
import uuid
from typing import Any, List, Optional, Union

from .. import _engine
from .datastructures import MultipleValuesError
from .exceptions import (InvalidHeader, InvalidHeaderValue, InvalidUpgrade, ConnectionClosed, ConnectionClosedError, ConnectionClosedOK,
                         InvalidState, PayloadTooBig, ProtocolError)
from .frames import OK_CLOSE_CODES, Close, CloseCode, Frame, Opcode
from .headers import parse_connection, parse_upgrade

__all__ = ["Protocol", "Side", "State", "SEND_EOF", "CONNECTING", "OPEN", "CLOSING", "CLOSED",
           "SERVER", "CLIENT", "Event"]


class Side(enum.IntEnum):
    """A WebSocket connection is either a server or a client."""
    SERVER, CLIENT = range(2)


class State(enum.IntEnum):
    """A WebSocket connection is in one of these four states."""
    CONNECTING, OPEN, CLOSING, CLOSED = range(4)


SERVER, CLIENT = Side.SERVER, Side.CLIENT
CONNECTING, OPEN, CLOSING, CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED

SEND_EOF = b""
"""Sentinel signaling that the TCP connection must be half-closed."""

Event = Any     # Request | Response | Frame

_STATES = (CONNECTING, OPEN, CLOSING, CLOSED)
_OPCODES = tuple(Opcode(i) if i in Opcode._value2member_map_ else i for i in range(16))
_E = _engine.ERRORS
_MAX_CONTROL = 125


class Protocol:
    """Sans-I/O implementation of a WebSocket connection.

    side: ``Side.CLIENT`` or ``Side.SERVER``; state: the initial state;
    max_size: largest incoming message in bytes, None for no limit, or a
    ``(max_message_size, max_fragment_size)`` tuple; logger:
    defaults to ``logging.getLogger("picows_like.websockets.client")`` (or
    ``.server``).
    """

    def __init__(self, side: Side, *, state: State = OPEN,
                 max_size: Optional[int] = 2 ** 20, logger: Any = None) -> None:
        if isinstance(max_size, int) or max_size is None:
            self.max_message_size, self.max_fragment_size = max_size, None
        elif isinstance(max_size, tuple) and len(max_size) == 2:
            self.max_message_size, self.max_fragment_size = max_size
        else:
            raise TypeError("max_size must be an int, None or a (message, fragment) tuple")
        self.id: uuid.UUID = uuid.uuid4()
        if logger is None:
            logger = logging.getLogger(f"picows_like.websockets.{Side(side).name.lower()}")
        self.logger = logger
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.side = Side(side)
        self.max_size = max_size
        self.origin: Optional[str] = None
        self.extensions: List[Any] = []
        self.subprotocol: Optional[str] = None
        self.handshake_exc: Optional[Exception] = None
        self._sink = _engine.EventListSink(Frame, _OPCODES, self._on_handshake)
        self._engine = _engine.WSEngine(int(side), int(state), self.max_message_size, self._sink,
                                        max_fragment_size=self.max_fragment_size)
        # websockets treats a CLOSE inside a fragmented message as an error.
        self._engine.close_in_message_fails = True
        self._send_fragmented = False

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> State:
        """State of the WebSocket connection (RFC 6455 4.1, 4.2, 7.1.3, 7.1.4)."""
        return _STATES[self._engine.state]

    @state.setter
    def state(self, state: State) -> None:
        # websockets lets its subclasses and tests set the state; the engine
        # allows what it can honour (OPEN from CONNECTING).
        if State(state) == self.state:
            return
        if State(state) is OPEN and self.state is CONNECTING:
            self._engine.handshake_open()
            return
        raise ValueError(f"cannot move from {self.state.name} to {State(state).name}")

    @property
    def eof_sent(self) -> bool:
        return self._engine.eof_sent

    @property
    def close_rcvd(self) -> Optional[Close]:
        c = self._engine.close_rcvd
        return None if c is None else Close(_close_code(c[0]), c[1].decode())

    @property
    def close_sent(self) -> Optional[Close]:
        c = self._engine.close_sent
        return None if c is None else Close(_close_code(c[0]), c[1].decode())

    @property
    def close_rcvd_then_sent(self) -> Optional[bool]:
        v = self._engine.close_rcvd_then_sent
        return None if v < 0 else bool(v)

    @property
    def close_code(self) -> Optional[int]:
        """Close code received from the peer; None until CLOSED (1006 when
        no CLOSE frame came)."""
        if self._engine.state != 3:
            return None
        c = self._engine.close_rcvd
        return CloseCode.ABNORMAL_CLOSURE if c is None else _close_code(c[0])

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason received from the peer; None until CLOSED."""
        if self._engine.state != 3:
            return None
        c = self._engine.close_rcvd
        return "" if c is None else c[1].decode()

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception to raise on a closed connection (CLOSED only)."""
        assert self.state is CLOSED, "connection isn't closed yet"
        rcvd, sent = self.close_rcvd, self.close_sent
        if rcvd is not None and sent is not None and rcvd.code in OK_CLOSE_CODES \
                and sent.code in OK_CLOSE_CODES:
            exc_type: type = ConnectionClosedOK
        else:
            exc_type = ConnectionClosedError
        exc = exc_type(rcvd, sent, self.close_rcvd_then_sent)
        exc.__cause__ = self.parser_exc
        return exc

    @property
    def parser_exc(self) -> Optional[BaseException]:
        """What made the engine fail the connection, as websockets' parser
        would have raised it (None for a clean close or fail())."""
        e = self._engine
        kind = e.error_kind
        if kind == 0 or kind == _E["USER"] or kind == _E["HANDSHAKE"]:
            return None
        if kind == _E["EOF"]:
            return EOFError(e.error_reason)
        if kind == _E["TOO_BIG"]:
            size = e.error_size if e.error_size >= 0 else None
            current = e.error_current if e.error_current >= 0 else None
            exc = PayloadTooBig(size, e.error_limit - (current or 0))
            if current is not None:
                exc.max_size += current
                exc.current_size = current
            return exc
        if kind == _E["CLOSE_UTF8"] or kind == _E["TEXT_UTF8"]:
            pos = e.error_position
            return UnicodeDecodeError("utf-8", b"", pos, pos + 1, e.error_reason or "")
        return ProtocolError(e.error_reason)

    # -- receiving -----------------------------------------------------------

    def receive_data(self, data: Union[bytes, bytearray]) -> None:
        """Receive data from the network (EOFError after receive_eof())."""
        self._engine.receive_data(data)

    def receive_eof(self) -> None:
        """Receive the end of the data stream from the network (idempotent)."""
        self._engine.receive_eof()

    def events_received(self) -> List[Event]:
        """Events generated from data received from the network."""
        return self._sink.take_events()

    def data_to_send(self) -> List[bytes]:
        """Data to write to the network; ``SEND_EOF`` (b"") means half-close."""
        return self._engine.data_to_send()

    def close_expected(self) -> bool:
        """Whether the TCP connection is expected to close soon."""
        return self._engine.close_expected()

    # -- sending -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._engine.state != 1:
            raise InvalidState(f"connection is {self.state.name.lower()}")

    def send_continuation(self, data: Any, fin: bool) -> None:
        """Send a Continuation frame (ProtocolError without a fragmented message)."""
        if not self._send_fragmented:
            raise ProtocolError("unexpected continuation frame")
        self._check_open()
        self._send_fragmented = not fin
        self._engine.send_data(0, data, fin)

    def send_text(self, data: Any, fin: bool = True) -> None:
        """Send a Text frame (ProtocolError inside a fragmented message)."""
        if self._send_fragmented:
            raise ProtocolError("expected a continuation frame")
        self._check_open()
        self._send_fragmented = not fin
        self._engine.send_data(1, data, fin)

    def send_binary(self, data: Any, fin: bool = True) -> None:
        """Send a Binary frame (ProtocolError inside a fragmented message)."""
        if self._send_fragmented:
            raise ProtocolError("expected a continuation frame")
        self._check_open()
        self._send_fragmented = not fin
        self._engine.send_data(2, data, fin)

    def send_close(self, code: Optional[int] = None, reason: str = "") -> None:
        """Send a Close frame (ProtocolError for an invalid code, or a reason
        without a code)."""
        self._check_open()
        if code is None:
            if reason != "":
                raise ProtocolError("cannot send a reason without a code")
            self._engine.send_close(-1, b"")
            return
        raw = _close_payload(code, reason)
        self._engine.send_close(int(code), raw[2:])

    def send_ping(self, data: Any) -> None:
        """Send a Ping frame (also allowed while CLOSING)."""
        self._check_control(data)
        self._engine.send_control(9, data)

    def send_pong(self, data: Any) -> None:
        """Send a Pong frame (also allowed while CLOSING)."""
        self._check_control(data)
        self._engine.send_control(10, data)

    def _check_control(self, data: Any) -> None:
        if self._engine.state not in (1, 2):
            raise InvalidState(f"connection is {self.state.name.lower()}")
        if len(memoryview(data).cast("B")) > _MAX_CONTROL:
            raise ProtocolError("control frame too long")

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the WebSocket connection (RFC 6455 7.1.7); ProtocolError for
        an invalid code (checked only when a CLOSE frame is sent)."""
        if self._engine.state == 1 and code != CloseCode.ABNORMAL_CLOSURE:
            raw = _close_payload(code, reason)
            self._engine.fail(int(code), raw[2:])
        else:
            self._engine.fail(int(code), b"")

    # -- opening handshake (the subclasses') ----------------------------------

    def _on_handshake(self, head: Optional[bytes], body: Optional[bytes]) -> None:
        raise AssertionError("no opening handshake on a bare Protocol")


def _close_code(code: int) -> Union[CloseCode, int]:
    try:
        return CloseCode(code)
    except ValueError:
        return code


def _close_payload(code: int, reason: str) -> bytes:
    """Close(code, reason).serialize() with websockets' checks."""
    if not _engine.is_close_code_allowed(int(code)):
        raise ProtocolError("invalid status code")
    raw = int(code).to_bytes(2, "big") + reason.encode()
    if len(raw) > _MAX_CONTROL:
        raise ProtocolError("control frame too long")
    return raw


# -- opening-handshake checks shared by ClientProtocol and ServerProtocol -----

def check_upgrade(headers: Any) -> None:
    """Connection must include "upgrade" and Upgrade be "websocket"
    (InvalidUpgrade naming the header otherwise)."""
    connection = parse_connection(headers)
    if not any(value.lower() == "upgrade" for value in connection):
        raise InvalidUpgrade("Connection", ", ".join(connection) if connection else None)
    upgrade = parse_upgrade(headers)
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)


def single_header(headers: Any, name: str) -> str:
    """The one value of `name` (InvalidHeader when missing or repeated)."""
    try:
        return str(headers[name])
    except KeyError:
        raise InvalidHeader(name) from None
    except MultipleValuesError:
        raise InvalidHeader(name, "multiple values") from None


def check_key_and_version(headers: Any) -> str:
    """A client request's Sec-WebSocket-Key (16 bytes in base64) and
    Sec-WebSocket-Version (13), checked in websockets' order; return the key.
    InvalidHeader when one is missing or repeated, InvalidHeaderValue when
    its value is wrong."""
    key = single_header(headers, "Sec-WebSocket-Key")
    try:
        raw_key = base64.b64decode(key.encode(), validate=True)
    except binascii.Error as exc:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key) from exc
    if len(raw_key) != 16:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key)
    version = single_header(headers, "Sec-WebSocket-Version")
    if version != "13":
        raise InvalidHeaderValue("Sec-WebSocket-Version", version)
    return key
