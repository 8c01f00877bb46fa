"""Frame helpers of websockets' legacy API (``websockets.legacy.framing``).

``Frame`` is websockets' legacy named tuple ``(fin, opcode, data, rsv1, rsv2,
rsv3)``; ``new_frame`` converts it to :class:`picows_like.websockets.frames.Frame`,
whose parser and serializer ``Frame.read()`` / ``Frame.write()`` use.  The
connections of :mod:`picows_like.websockets.legacy` never build these
objects: their frames are parsed in C.

``prepare_data`` / ``prepare_ctrl`` (alias ``encode_data``) turn a message
into an opcode and bytes; ``parse_close`` / ``serialize_close`` read and
write CLOSE payloads with the close-code checks of
:class:`picows_like.websockets.frames.Close`.
"""
from typing import Any, Awaitable, Callable, NamedTuple, Optional, Sequence, Tuple

from .. import frames
from ..frames import Close
from ..typing import BytesLike, DataLike

__all__ = ["Frame", "prepare_data", "prepare_ctrl", "encode_data", "parse_close",
           "serialize_close", "Close"]


def _request(size: int) -> Any:
    """read_exact for frames.Frame.parse: yields the size wanted, gets the
    bytes back through send()."""
    data = yield size
    return data


class Frame(NamedTuple):
    """A WebSocket frame in websockets' legacy field order."""
    fin: bool
    opcode: frames.Opcode
    data: Any  # bytes-like
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    @property
    def new_frame(self) -> frames.Frame:
        """The same frame as a :class:`picows_like.websockets.frames.Frame`."""
        return frames.Frame(self.opcode, self.data, self.fin, self.rsv1, self.rsv2, self.rsv3)

    def __str__(self) -> str:
        return str(self.new_frame)

    def check(self) -> None:
        """ProtocolError for reserved bits or a bad control frame."""
        self.new_frame.check()

    @classmethod
    async def read(cls, reader: Callable[[int], Awaitable[bytes]], *, mask: bool,
                   max_size: Optional[int] = None,
                   extensions: Optional[Sequence[Any]] = None) -> "Frame":
        """Read one frame with ``await reader(n)`` (n bytes exactly, e.g.
        ``StreamReader.readexactly``); `mask`: the frame must be masked (the
        server side).  Extensions decode in reverse order.  Raises
        PayloadTooBig past `max_size`, ProtocolError for a bad frame."""
        parser: Any = frames.Frame.parse(_request, mask=mask, max_size=max_size,
                                         extensions=extensions)
        try:
            size = next(parser)
            while True:
                size = parser.send(await reader(size))
        except StopIteration as done:
            frame = done.value
        finally:
            parser.close()
        return cls(frame.fin, frame.opcode, frame.data, frame.rsv1, frame.rsv2, frame.rsv3)

    def write(self, write: Callable[[bytes], Any], *, mask: bool,
              extensions: Optional[Sequence[Any]] = None) -> None:
        """Serialize the frame (masked when `mask`, the client side;
        extensions encode in order) and hand it to `write` in one call."""
        write(self.new_frame.serialize(mask=mask, extensions=extensions))


def prepare_data(data: DataLike) -> Tuple[int, Any]:
    """``(Opcode.TEXT, UTF-8 bytes)`` for a str, ``(Opcode.BINARY, data)``
    for a bytes-like object (unchanged); TypeError otherwise."""
    if isinstance(data, str):
        return frames.Opcode.TEXT, data.encode()
    if isinstance(data, BytesLike):
        return frames.Opcode.BINARY, data
    raise TypeError("data must be str or bytes-like")


def prepare_ctrl(data: DataLike) -> bytes:
    """bytes for a ping / pong payload: UTF-8 for a str, a copy for a
    bytes-like object; TypeError otherwise."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, BytesLike):
        return bytes(data)
    raise TypeError("data must be str or bytes-like")


# websockets' earlier public name.
encode_data = prepare_ctrl


def parse_close(data: bytes) -> Tuple[int, str]:
    """``(code, reason)`` of a CLOSE payload (1005 and "" when empty).
    ProtocolError for a one-byte payload or a code a peer may not send,
    UnicodeDecodeError for a reason that isn't UTF-8."""
    close = Close.parse(data)
    return close.code, close.reason


def serialize_close(code: int, reason: str) -> bytes:
    """The CLOSE payload for `code` and `reason` (ProtocolError for a code
    that may not appear in a CLOSE frame)."""
    return Close(code, reason).serialize()
