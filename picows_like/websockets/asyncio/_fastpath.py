# mypy: disable-error-code="attr-defined"
# (the slow-path methods called here are defined by the subclass, connection.Connection)
"""The per-message hot path of Connection, and the one message assembler.

Plain Python that is also valid Cython "pure Python mode": together with
_fastpath.pxd, Cython compiles this file into cdef classes with the hot
attributes as C fields.  Uncompiled, they are ordinary Python classes with
__slots__.

* Assembler: everything about received messages -- the queue, the
  fragmented message being received, the one waiting reader, max_queue flow
  control (pause / resume reading at the high / low water marks), and the
  readers: get() (recv), get_iter() (recv_streaming), MessageIterator
  (``async for``).  It is the only code that touches the queue.
* ConnectionBase: the WSListener the core calls for every frame; data
  frames go to its Assembler with a C call, control frames to
  connection.Connection (_on_control); plus recv() and the fast send().
  Everything that is not per-message lives in connection.Connection, which
  subclasses ConnectionBase (_on_control, _too_big, _send_slow, _drain,
  _recv_decode are defined there).

Queue items: str (TEXT), bytes (BINARY), or a Fragments for a fragmented
message (queued at its first frame, ``done`` at its last).
"""
import asyncio
import codecs
import collections
import collections.abc
from typing import Any, AsyncGenerator, Callable, Optional, Union

try:
    import cython  # type: ignore[import-untyped]
except ImportError:             # Cython is not installed: plain Python
    from . import _cython_shim as cython

from ..exceptions import ConcurrencyError, ConnectionClosedOK

if not cython.compiled:
    # Compiled, WSListener is the cimported type (see _fastpath.pxd).
    from ... import WSListener

__all__ = ["Assembler", "ConnectionBase", "MessageIterator", "Fragments", "Done", "Receive"]

_TEXT_OP = 1             # opcodes for WSTransport.send
_BINARY_OP = 2
_CONT_C = cython.declare(cython.int, 0)      # the same as C constants, to compare with
_TEXT_C = cython.declare(cython.int, 1)
_BINARY_C = cython.declare(cython.int, 2)
# How a reader converts messages (Receive._decode): as they came (str for
# TEXT, bytes for BINARY), or decode=True / decode=False.
_AS_IS = cython.declare(cython.int, 2)
_DECODE = cython.declare(cython.int, 1)
_NO_DECODE = cython.declare(cython.int, 0)
NO_LIMIT = 1 << 62       # "no limit" for the queue and message sizes
_InvalidStateError = asyncio.InvalidStateError
_UTF8Decoder = codecs.getincrementaldecoder("utf-8")


class Fragments:
    """A fragmented message: its parts (bytes) as they arrive."""
    __slots__ = ("text", "parts", "size", "done")
    text: bool
    parts: "list[bytes]"
    size: int
    done: bool

    def __init__(self, text: bool, first: bytes) -> None:
        self.text = text
        self.parts = [first]
        self.size = len(first)
        self.done = False


# Put in place of the message being received once the connection fails:
# every later data frame is dropped.
_FAILED = Fragments(False, b"")


def _nothing() -> None:
    pass


def _eof_error() -> BaseException:
    return EOFError("stream of frames ended")


class Assembler:
    """The received messages of one connection, handed to one reader at a time.

    put_frame() takes every data frame (TEXT, BINARY, CONTINUATION) from the
    connection's on_ws_frame; readers take complete messages with get()
    (recv), get_iter() (recv_streaming, fragment by fragment, as they
    arrive) or ``async for`` (MessageIterator).  Two readers at once raise
    ConcurrencyError.  A message leaves the queue only when a reader has it
    in hand, so cancelling get() never loses one.

    Flow control: once more than `high` messages wait, ``pause()`` is
    called (the connection pauses reading its socket); once a reader brings
    them down to `low`, ``resume()``.  `high` alone means low = high // 4,
    `low` alone high = 4 * low, neither no limit (websockets' rules).

    A fragmented message growing past `max_message` bytes is dropped:
    put_frame() returns its size, so that the connection can fail with 1009.
    After close() (the connection is closed) readers get the messages still
    queued, then ``closed_error()`` (EOFError by default) is raised.
    """
    __slots__ = ("_queue", "_waiter", "_busy", "_frag", "closed", "paused", "high", "low",
                 "max_message", "_new_future", "_pause", "_resume", "_closed_error")
    _queue: "collections.deque[Any]"
    _waiter: "Optional[asyncio.Future[None]]"
    _busy: bool             # a reader is waiting (get) or streaming (get_iter)
    _frag: Optional[Fragments]
    closed: bool
    paused: bool
    high: int
    low: int
    max_message: int
    _new_future: Any
    _pause: Any
    _resume: Any
    _closed_error: Any

    def __init__(self, new_future: Callable[[], "asyncio.Future[None]"],
                 high: Optional[int] = None, low: Optional[int] = None,
                 max_message: Optional[int] = None,
                 pause: Callable[[], Any] = _nothing, resume: Callable[[], Any] = _nothing,
                 closed_error: Callable[[], BaseException] = _eof_error) -> None:
        if high is not None and low is None:
            low = high // 4
        if high is None and low is not None:
            high = low * 4
        if high is not None and low is not None:
            if low < 0:
                raise ValueError("low must be positive or equal to zero")
            if high < low:
                raise ValueError("high must be greater than or equal to low")
        if max_message is not None and max_message <= 0:
            raise ValueError("max_message must be > 0 or None")
        self._queue = collections.deque()
        self._waiter = None
        self._busy = False
        self._frag = None
        self.closed = False
        self.paused = False
        self.high = NO_LIMIT if high is None else high
        self.low = NO_LIMIT if low is None else low
        self.max_message = NO_LIMIT if max_message is None else max_message
        self._new_future = new_future
        self._pause = pause
        self._resume = resume
        self._closed_error = closed_error

    def __len__(self) -> int:
        """How many messages are queued (the last one may be incomplete)."""
        return len(self._queue)

    # -- writer side: the connection's on_ws_frame -------------------------------

    def put_frame(self, frame):  # type: ignore[no-untyped-def]
        """Take one data frame; return 0, or the size so far of a
        fragmented message that went over max_message (it is dropped, and
        so is every later frame)."""
        if frame.fin and self._frag is None:
            # Compiled, `op` is a C int (see the .pxd): comparing opcodes
            # costs nothing, where the WSMsgType object would cost a lookup.
            op = frame.msg_type
            if op == _BINARY_C:
                msg = frame.get_payload_as_bytes()
            elif op == _TEXT_C:
                msg = frame.get_payload_as_utf8_text()
            else:                   # a lone CONTINUATION: the core rejects it
                return 0
            q = self._queue
            q.append(msg)
            if self._waiter is not None:
                self._wake()
            if len(q) > self.high and not self.paused:
                self.paused = True
                self._pause()
            return 0
        return self._put_fragment(frame, frame.msg_type)

    def _put_fragment(self, frame, op):  # type: ignore[no-untyped-def]
        frag = self._frag
        if frag is _FAILED:
            return 0
        if op == _CONT_C:
            if frag is None:        # the core rejects this; be safe anyway
                return 0
            frag.size += frame.payload_size
            if frag.size > self.max_message:
                size = frag.size
                self.discard()
                return size
            frag.parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                frag.done = True
                self._frag = None
        elif op == _TEXT_C or op == _BINARY_C:
            frag = Fragments(op == _TEXT_C, frame.get_payload_as_bytes())
            self._frag = frag
            q = self._queue
            q.append(frag)
            if len(q) > self.high and not self.paused:
                self.paused = True
                self._pause()
        else:
            return 0
        self._wake()
        return 0

    def _wake(self):  # type: ignore[no-untyped-def]
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            try:
                waiter.set_result(None)
            except _InvalidStateError:      # the reader was just cancelled
                pass
        return 0

    def _popped(self):  # type: ignore[no-untyped-def]
        """A reader took a message while reading is paused: resume at `low`."""
        if self.paused and (self.closed or len(self._queue) <= self.low):
            self.paused = False
            self._resume()
        return 0

    def discard(self) -> None:
        """The connection is failing: drop the fragmented message being
        received (unless a get_iter() reader has it already) and every data
        frame still to come."""
        frag = self._frag
        if frag is not None and frag is not _FAILED:
            try:
                self._queue.remove(frag)
            except ValueError:          # get_iter() took it
                pass
        self._frag = _FAILED
        self._wake()

    def lift_limit(self) -> None:
        """Flow control ends (the connection is closing: the peer's CLOSE
        must get through): resume reading if paused, never pause again."""
        self.high = NO_LIMIT
        if self.paused:
            self.paused = False
            self._resume()

    def close(self) -> None:
        """No more frames (the connection is closed): readers get what is
        queued, then closed_error()."""
        self.closed = True
        self._wake()

    # -- reader side -------------------------------------------------------------

    def get(self, decode: Optional[bool] = None) -> Any:  # a Receive
        """The next complete message, as an awaitable: str for TEXT, bytes
        for BINARY; decode=False gives TEXT as bytes, decode=True decodes
        BINARY as UTF-8 (UnicodeDecodeError if it is not)."""
        return _receive(self, False, _AS_IS if decode is None else
                        (_DECODE if decode else _NO_DECODE))

    def get_iter(self, decode: Optional[bool] = None) -> AsyncGenerator[Union[str, bytes], None]:
        """The next message fragment by fragment, as they arrive (an async
        iterator to consume to the end).  Cancelling it before the first
        fragment is safe; after that the rest of that message is lost."""
        return _get_iter(self, decode)

    def __aiter__(self) -> "MessageIterator":
        """Every message until closed_error() (ConnectionClosedOK ends it)."""
        return MessageIterator(self)


def _convert(msg, decode):  # type: ignore[no-untyped-def]
    """A queued message as a reader asked for it."""
    if type(msg) is Fragments:
        data = b"".join(msg.parts)
        if decode == _DECODE or (decode == _AS_IS and msg.text):
            return data.decode()
        return data
    if decode == _AS_IS:
        return msg
    if type(msg) is str:
        return msg if decode == _DECODE else msg.encode()
    return msg.decode() if decode == _DECODE else msg


async def _wait(asm: Assembler) -> None:
    waiter = asm._new_future()
    asm._waiter = waiter
    try:
        await waiter
    finally:
        asm._waiter = None


async def _get_iter(asm: Assembler, decode: Optional[bool]) -> AsyncGenerator[Union[str, bytes], None]:
    if asm._busy:
        raise ConcurrencyError("cannot call recv_streaming while another coroutine "
                               "is already running recv or recv_streaming")
    asm._busy = True
    try:
        q = asm._queue
        while not q:
            if asm.closed:
                raise asm._closed_error()
            await _wait(asm)
        msg = q.popleft()
        if asm.paused:
            asm._popped()
        if type(msg) is not Fragments:
            yield msg if decode is None else _convert(msg, _DECODE if decode else _NO_DECODE)
            return
        text = msg.text if decode is None else decode
        decoder = _UTF8Decoder() if text else None
        parts = msg.parts
        i = 0
        while True:
            while i < len(parts):
                part = parts[i]
                parts[i] = b""          # streamed: do not keep it twice
                i += 1
                if decoder is not None:
                    yield decoder.decode(part, msg.done and i == len(parts))
                else:
                    yield part
            if msg.done and i == len(parts):
                return
            if asm.closed:
                raise asm._closed_error()
            await _wait(asm)
    finally:
        asm._busy = False


class ConnectionBase(WSListener):
    """Hot attributes and methods of a websockets-style connection."""

    __slots__ = ("loop", "_assembler", "_closed", "_send_ok", "_paused", "ws_transport")
    loop: asyncio.AbstractEventLoop
    _assembler: Assembler
    _closed: bool
    _send_ok: bool
    _paused: bool
    ws_transport: Any

    # -- receiving -------------------------------------------------------------

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        op = frame.msg_type
        if op <= _BINARY_C:         # CONTINUATION, TEXT, BINARY: the assembler's
            size = self._assembler.put_frame(frame)
            if size:
                self._too_big(size)
            return
        self._on_control(frame, frame.msg_type)

    def recv(self, decode: Optional[bool] = None) -> Any:
        """Receive the next message: str for TEXT, bytes for BINARY.

        ``decode=False`` returns TEXT as bytes, ``decode=True`` decodes
        BINARY as UTF-8.  Raises ConnectionClosedOK / ConnectionClosedError
        once the queued messages are consumed and the connection is closed.
        Cancelling recv() is safe: the message stays queued.

        Returns an awaitable (coroutine-like: create_task and wait_for take
        it), as ``async def recv`` would: a small Receive object rather than
        a coroutine, which costs less per message.
        """
        if decode is None:
            return _receive(self._assembler, False, _AS_IS)
        return self._recv_decode(decode)

    def __aiter__(self) -> "MessageIterator":
        """Iterate over messages; ends after a normal close (1000/1001/1005),
        raises ConnectionClosedError after an abnormal one."""
        return MessageIterator(self._assembler)

    # -- sending ---------------------------------------------------------------

    def send(self, message: Any, text: Optional[bool] = None) -> Any:
        """Send a message: str as TEXT, bytes-like as BINARY (``text``
        overrides), an iterable or async iterable of str/bytes as one
        fragmented message.  Waits while the write buffer is above
        write_limit.  Raises ConnectionClosed if the connection is closing
        or closed.

        Returns an awaitable, as ``async def send`` would.  A str or bytes
        message on an OPEN connection is written at once, when send() is
        called, and the awaitable returned is an already finished one
        (no coroutine object per message); every other case (closing,
        fragments, other types, a full write buffer) returns a coroutine
        that does the work when awaited, exactly as before."""
        if self._send_ok:
            t = type(message)
            if t is bytes:
                self.ws_transport.send(_TEXT_OP if text is True else _BINARY_OP, message)
            elif t is str:
                self.ws_transport.send(_BINARY_OP if text is False else _TEXT_OP, message)
            else:
                return self._send_slow(message, text)
            if self._paused:
                return self._drain()
            return _DONE
        return self._send_slow(message, text)


class Done:
    """An awaitable (and coroutine-like, so that asyncio.create_task and
    ensure_future take it) that is already finished with the result None:
    what send() returns when it has sent the message already.  Stateless,
    so one instance serves every send()."""
    __slots__ = ()

    def __await__(self) -> "Done":
        return self

    def __iter__(self) -> "Done":
        return self

    def __next__(self) -> None:
        raise StopIteration

    def send(self, value: Any) -> None:
        raise StopIteration

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> None:
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    def close(self) -> None:
        pass


collections.abc.Coroutine.register(Done)
_DONE = Done()


class MessageIterator:
    """``async for message in connection``: one Receive per message, which
    ends the iteration after a normal close instead of raising."""
    __slots__ = ("_asm",)
    _asm: Assembler

    def __init__(self, asm: Assembler) -> None:
        self._asm = asm

    def __aiter__(self) -> "MessageIterator":
        return self

    def __anext__(self) -> "Receive":
        return _receive(self._asm, True, _AS_IS)


def _receive(asm, stop_on_ok, decode):  # type: ignore[no-untyped-def]
    # Compiled: tp_new and three stores, without a call of Receive(...).
    r = Receive.__new__(Receive)
    r._asm = asm
    r._stop_on_ok = stop_on_ok
    r._decode = decode
    r._waiter = None
    return r


class Receive:
    """The awaitable of one Assembler.get() (recv, or one step of ``async for``).

    A hand-written coroutine: awaiting it calls send(None), which returns
    the next complete message (as StopIteration's value) when one is
    queued, else parks a future in the assembler for put_frame to resolve
    and yields it to the Task, exactly as ``await future`` would.  A
    message leaves the queue only when it is returned, so cancelling
    (throw) loses nothing.  ``stop_on_ok``: end ``async for`` with
    StopAsyncIteration after a normal close instead of raising."""
    __slots__ = ("_asm", "_stop_on_ok", "_decode", "_waiter")
    _asm: Assembler
    _stop_on_ok: bool
    _decode: int
    _waiter: "Optional[asyncio.Future[None]]"

    def __init__(self, asm: Assembler, stop_on_ok: bool, decode: Any = 2) -> None:
        self._asm = asm
        self._stop_on_ok = stop_on_ok
        self._decode = decode
        self._waiter = None

    def __await__(self) -> "Receive":
        return self

    def __iter__(self) -> "Receive":
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        if cython.compiled:
            flag = cython.declare(cython.int, 0)
            result = self._step(cython.address(flag))
            finished = flag
        else:
            box = [0]
            result = self._step(box)
            finished = box[0]
        if finished:
            raise StopIteration(result)
        return result

    def _step(self, done: Any) -> Any:
        """The message (done[0] = 1), or a future to yield (done[0] stays
        0); raises ConnectionClosed / StopAsyncIteration at the end."""
        asm = self._asm
        if self._waiter is not None:
            self._stop_waiting()
        elif asm._busy:
            raise ConcurrencyError("cannot call recv while another coroutine "
                                   "is already running recv or recv_streaming")
        q = asm._queue
        if q:
            msg = q[0]
            if type(msg) is not Fragments or msg.done:
                q.popleft()
                if asm.paused:
                    asm._popped()
                if self._decode != _AS_IS or type(msg) is Fragments:
                    msg = _convert(msg, self._decode)
                done[0] = 1
                return msg
        if asm.closed:
            exc = asm._closed_error()
            if self._stop_on_ok and isinstance(exc, ConnectionClosedOK):
                raise StopAsyncIteration
            raise exc
        waiter = asm._new_future()
        waiter._asyncio_future_blocking = True      # what Future.__await__ sets
        asm._waiter = waiter
        asm._busy = True
        self._waiter = waiter
        return waiter

    def _stop_waiting(self) -> None:
        self._waiter = None
        asm = self._asm
        asm._waiter = None
        asm._busy = False

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if self._waiter is not None:
            self._stop_waiting()
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    def close(self) -> None:
        if self._waiter is not None:
            self._stop_waiting()


collections.abc.Coroutine.register(Receive)


def _receive_step(self: Any, done: Any) -> Any:
    return cython.cast(Receive, self)._step(done)


if cython.compiled:
    # await takes Receive's result through am_send, without StopIteration.
    ws_install_am_send(Receive, _receive_step)  # type: ignore[name-defined]  # from the .pxd
