"""Frames, opcodes, close codes and the Close record (as in ``websockets.frames``).

Pure Python records for the sans-I/O facade: the receive path of the core
never builds them; the facade does, once per event it hands out.
"""
import dataclasses
import enum
import os
import re
import struct
from typing import Any, Callable, Dict, Generator, Optional, Sequence, Tuple, Union

from .exceptions import PayloadTooBig, ProtocolError

__all__ = [
    "Opcode", "CloseCode", "Frame", "Close",
    "DATA_OPCODES", "CTRL_OPCODES", "OK_CLOSE_CODES", "EXTERNAL_CLOSE_CODES",
    "CLOSE_CODE_EXPLANATIONS",
]


class Opcode(enum.IntEnum):
    """Opcode values for WebSocket frames."""
    CONT, TEXT, BINARY = 0x00, 0x01, 0x02
    CLOSE, PING, PONG = 0x08, 0x09, 0x0A


CONT = Opcode.CONT
TEXT = Opcode.TEXT
BINARY = Opcode.BINARY
CLOSE = Opcode.CLOSE
PING = Opcode.PING
PONG = Opcode.PONG

DATA_OPCODES = CONT, TEXT, BINARY
CTRL_OPCODES = CLOSE, PING, PONG


class CloseCode(enum.IntEnum):
    """Close code values for WebSocket close frames."""
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved by RFC 6455
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


# Wording of the IANA registry, as websockets prints it.
CLOSE_CODE_EXPLANATIONS: Dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

# Codes a peer may put on the wire (1005, 1006 and 1015 are local-only;
# 3000-4999 are accepted separately).
EXTERNAL_CLOSE_CODES = frozenset(code for code in CloseCode
                                 if code not in (CloseCode.NO_STATUS_RCVD,
                                                 CloseCode.ABNORMAL_CLOSURE,
                                                 CloseCode.TLS_HANDSHAKE))

# Closes that count as "OK" (ConnectionClosedOK) when both sides used one.
OK_CLOSE_CODES = frozenset({CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY,
                            CloseCode.NO_STATUS_RCVD})

_CODES = {int(c): c for c in CloseCode}


def close_code(code: int) -> Union[CloseCode, int]:
    """A CloseCode member for the codes it names, the int otherwise."""
    return _CODES.get(code, code)


# --- helpers for Frame.__str__ -------------------------------------------------

_printable_ascii = re.compile(rb"[\x09-\x0D\x20-\x7E]*").fullmatch


def _hex(data: Any) -> str:
    return " ".join(format(byte, "02x") for byte in bytes(data))


def _utf8_len(lead: int) -> int:
    """Length of the UTF-8 sequence a leading byte announces (0: not a lead)."""
    if lead < 0x80:
        return 1
    if lead >> 5 == 0b110:
        return 2
    if lead >> 4 == 0b1110:
        return 3
    if lead >> 3 == 0b11110:
        return 4
    return 0


def _looks_like_text(data: bytes, clean_start: bool, clean_end: bool) -> bool:
    """Whether `data` may be a piece of printable UTF-8 text.

    Unless `clean_start`, up to three continuation bytes at the front belong
    to a character cut by the previous fragment; unless `clean_end`, a
    sequence left incomplete at the back continues in the next fragment.
    """
    size = len(data)
    lo, hi = 0, size
    if not clean_start:
        while lo < min(3, size) and data[lo] & 0xC0 == 0x80:
            lo += 1
    if not clean_end:
        pos = size - 1
        floor = max(size - 4, lo)
        while pos >= floor and data[pos] & 0xC0 == 0x80:
            pos -= 1
        if pos >= floor and _utf8_len(data[pos]) <= size - pos:
            hi = size           # the last sequence is complete (or not UTF-8 at all)
        else:
            hi = pos            # drop the incomplete tail
    try:
        text = data[lo:hi].decode()
    except UnicodeDecodeError:
        return False
    # Characters Python escapes as \xNN (controls, C1, ...) mean binary.
    return "\\x" not in repr(text)


@dataclasses.dataclass
class Frame:
    """WebSocket frame: opcode, payload and the FIN / RSV bits.

    The MASK bit, payload length and masking key are handled when parsing
    and serializing.  Keep it a plain dataclass (no __slots__) with these
    fields in this order: the engine's sink fills instances from C.
    """
    opcode: Opcode
    data: Any  # bytes-like
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    # How much of a payload __str__ shows (a multiple of 3).
    MAX_LOG_SIZE = int(os.environ.get("WEBSOCKETS_MAX_LOG_SIZE", "75"))

    DEFAULT_IS_TEXT = {TEXT: True, BINARY: False, CLOSE: True}

    def __str__(self) -> str:
        """Readable summary for logs: payload shown as text or hex, middle elided."""
        expected = self.DEFAULT_IS_TEXT.get(self.opcode)
        shown, is_text = self._data_repr()
        notes = []
        if expected != is_text:
            notes.append("text" if is_text else "binary")
        size = len(self.data)
        notes.append(f"{size} byte" if size == 1 else f"{size} bytes")
        if not self.fin:
            notes.append("continued")
        return f"{self.opcode.name} {shown} [{', '.join(notes)}]"

    def _data_repr(self) -> Tuple[str, Optional[bool]]:
        limit = self.MAX_LOG_SIZE
        if not self.data:
            return "''", self.DEFAULT_IS_TEXT.get(self.opcode)

        is_text: Optional[bool]
        if self.opcode is CLOSE:
            try:
                shown = str(Close.parse(self.data))
                is_text = True
            except (ProtocolError, UnicodeDecodeError):
                shown, is_text = _hex(self.data), False
        elif self.opcode in CTRL_OPCODES:
            if _printable_ascii(self.data):
                shown, is_text = repr(bytes(self.data).decode("ascii")), True
            else:
                shown, is_text = _hex(self.data), False
        else:
            shown = ""
            first = self.opcode != CONT
            if len(self.data) > 4 * limit:
                # Only the ends are shown: look at those only.
                head = bytes(self.data[: 8 * limit // 3])
                tail = bytes(self.data[-4 * limit // 3:])
                is_text = (_looks_like_text(head, first, False)
                           and _looks_like_text(tail, False, self.fin))
                if is_text:
                    shown = repr((head + tail).decode(errors="replace"))
            else:
                whole = bytes(self.data)
                is_text = _looks_like_text(whole, first, self.fin)
                if is_text:
                    shown = repr(whole.decode(errors="replace"))
            if not is_text:
                raw = self.data
                if len(raw) > limit // 3:
                    keep = (limit // 3 - 1) // 3
                    # Two filler bytes make the hex long enough to be elided below.
                    raw = bytes(raw[: 2 * keep]) + b"\x00\x00" + bytes(raw[-keep:])
                shown = _hex(raw)

        if len(shown) > limit:
            keep = limit // 3 - 1
            shown = shown[: 2 * keep] + "..." + shown[-keep:]
        return shown, is_text

    @classmethod
    def parse(cls, read_exact: Callable[[int], Generator[None, None, bytes]], *,
              mask: bool, max_size: Optional[int] = None,
              extensions: Optional[Sequence[Any]] = None) -> Generator[None, None, "Frame"]:
        """Generator-based coroutine reading one frame through `read_exact`.

        Raises EOFError (from `read_exact`), PayloadTooBig, ProtocolError.
        """
        head = yield from read_exact(2)
        b0, b1 = head[0], head[1]
        try:
            opcode = Opcode(b0 & 0x0F)
        except ValueError as exc:
            raise ProtocolError("invalid opcode") from exc
        if bool(b1 & 0x80) != mask:
            raise ProtocolError("incorrect masking")
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", (yield from read_exact(2)))[0]
        elif length == 127:
            length = struct.unpack("!Q", (yield from read_exact(8)))[0]
        if max_size is not None and length > max_size:
            raise PayloadTooBig(length, max_size)
        key = (yield from read_exact(4)) if mask else b""
        payload = yield from read_exact(length)
        if mask:
            payload = _apply_mask(payload, key)
        frame = cls(opcode, payload, bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20),
                    bool(b0 & 0x10))
        for extension in reversed(list(extensions or ())):
            frame = extension.decode(frame, max_size=max_size)
        frame.check()
        return frame

    def serialize(self, *, mask: bool, extensions: Optional[Sequence[Any]] = None) -> bytes:
        """Wire bytes of this frame (masked with a random key when `mask`)."""
        self.check()
        frame = self
        for extension in extensions or ():
            frame = extension.encode(frame)
        b0 = ((0x80 if frame.fin else 0) | (0x40 if frame.rsv1 else 0)
              | (0x20 if frame.rsv2 else 0) | (0x10 if frame.rsv3 else 0) | frame.opcode)
        b1 = 0x80 if mask else 0
        length = len(frame.data)
        if length < 126:
            head = struct.pack("!BB", b0, b1 | length)
        elif length < 0x10000:
            head = struct.pack("!BBH", b0, b1 | 126, length)
        else:
            head = struct.pack("!BBQ", b0, b1 | 127, length)
        if mask:
            key = os.urandom(4)
            return head + key + _apply_mask(frame.data, key)
        return head + bytes(frame.data)

    def check(self) -> None:
        """Raise ProtocolError for set reserved bits or a bad control frame."""
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode in CTRL_OPCODES:
            if len(self.data) > 125:
                raise ProtocolError("control frame too long")
            if not self.fin:
                raise ProtocolError("fragmented control frame")


def _apply_mask(data: Any, key: bytes) -> bytes:
    """XOR `data` with the 4-byte `key` repeated."""
    if len(key) != 4:
        raise ValueError("mask must contain 4 bytes")
    data = bytes(data)
    n = len(data)
    stream = (bytes(key) * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little")


@dataclasses.dataclass
class Close:
    """Code and reason of a CLOSE frame."""
    code: Union[CloseCode, int]
    reason: str

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        text = f"{self.code} ({explanation})"
        return f"{text} {self.reason}" if self.reason else text

    @classmethod
    def parse(cls, data: Any) -> "Close":
        """Close from a CLOSE payload.

        Raises ProtocolError for a one-byte payload or a code a peer may not
        send, UnicodeDecodeError for a reason that isn't UTF-8.
        """
        if isinstance(data, memoryview):
            raise AssertionError("only compressed outgoing frames use memoryview")
        if len(data) == 0:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        if len(data) == 1:
            raise ProtocolError("close frame too short")
        close = cls(struct.unpack("!H", data[:2])[0], data[2:].decode())
        close.check()
        return close

    def serialize(self) -> bytes:
        """CLOSE payload: the code on two bytes, then the UTF-8 reason."""
        self.check()
        return struct.pack("!H", self.code) + self.reason.encode()

    def check(self) -> None:
        """Raise ProtocolError unless the code may appear in a CLOSE frame."""
        if self.code not in EXTERNAL_CLOSE_CODES and not 3000 <= self.code < 5000:
            raise ProtocolError("invalid status code")
