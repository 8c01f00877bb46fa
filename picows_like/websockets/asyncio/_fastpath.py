# mypy: disable-error-code="attr-defined"
# (the slow-path methods called here are defined by the subclass, connection.Connection)
"""The per-message hot path of Connection: on_ws_frame(), recv(), send() and
``async for``.

Plain Python that is also valid Cython "pure Python mode": together with
_fastpath.pxd, Cython compiles this file into a cdef class (a WSListener
subclass) that the core calls through its vtable, with the hot attributes
as C fields.  Uncompiled, it is an ordinary Python class with __slots__.
Everything that is not per-message lives in connection.Connection, which
subclasses ConnectionBase; the methods called here on the slow paths
(_on_fragment, _on_control, _convert, _send_slow, _drain, close_exc,
_maybe_resume_reading, _pause_reading) are defined there.

Message queue items: str (TEXT), bytes (BINARY), or a _Fragments for a
fragmented message (queued at its first frame, ``done`` at its last).
"""
import asyncio
import collections
import collections.abc
from typing import Any, Optional, Union

try:
    import cython  # type: ignore[import-untyped]
except ImportError:             # Cython is not installed: plain Python
    from . import _cython_shim as cython

from ... import WSMsgType
from ..exceptions import ConcurrencyError, ConnectionClosedOK

if not cython.compiled:
    # Compiled, WSListener is the cimported type (see _fastpath.pxd).
    from ... import WSListener

__all__ = ["ConnectionBase", "MessageIterator", "Fragments", "Done", "Receive"]

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_TEXT_OP = 1             # opcodes for WSTransport.send
_BINARY_OP = 2
_TEXT_C = cython.declare(cython.int, 1)      # the same as C constants, to compare with
_BINARY_C = cython.declare(cython.int, 2)
_InvalidStateError = asyncio.InvalidStateError


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


class ConnectionBase(WSListener):
    """Hot attributes and methods of a websockets-style connection."""

    __slots__ = ("loop", "_new_future", "_queue", "_waiter", "_recv_busy", "_frag", "_closed",
                 "_qhigh",
                 "_read_paused", "_send_ok", "_paused", "ws_transport")
    loop: asyncio.AbstractEventLoop
    _new_future: Any            # loop.create_future, looked up once
    _queue: "collections.deque[Any]"
    _waiter: "Optional[asyncio.Future[None]]"
    _recv_busy: bool
    _frag: Optional[Fragments]
    _closed: bool
    _qhigh: int
    _read_paused: bool
    _send_ok: bool
    _paused: bool
    ws_transport: Any

    # -- receiving -------------------------------------------------------------

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.fin and self._frag is None:
            # Compiled, `op` is a C int (see the .pxd): comparing opcodes
            # costs nothing, where the WSMsgType object would cost a lookup.
            op = frame.msg_type
            if op == _BINARY_C:
                msg = frame.get_payload_as_bytes()
            elif op == _TEXT_C:
                msg = frame.get_payload_as_utf8_text()
            else:
                self._on_control(frame, frame.msg_type)
                return
            q = self._queue
            q.append(msg)
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                try:
                    waiter.set_result(None)
                except _InvalidStateError:      # recv() was just cancelled
                    pass
            if len(q) > self._qhigh:
                self._pause_reading()
            return
        self._on_fragment(frame, frame.msg_type)

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
            return _receive(self, False)
        return self._recv_decode(decode)

    async def _recv_decode(self, decode: Optional[bool]) -> Union[str, bytes]:
        if self._recv_busy:
            raise ConcurrencyError("cannot call recv while another coroutine "
                                   "is already running recv or recv_streaming")
        q = self._queue
        while True:
            if q:
                msg = q[0]
                if type(msg) is not Fragments or msg.done:
                    break
            if self._closed:
                raise self.close_exc
            waiter = self.loop.create_future()
            self._waiter = waiter
            self._recv_busy = True
            try:
                await waiter
            finally:
                self._waiter = None
                self._recv_busy = False
        q.popleft()
        if self._read_paused:
            self._maybe_resume_reading()
        if decode is None:
            if type(msg) is Fragments:
                data = b"".join(msg.parts)
                return data.decode() if msg.text else data
            return msg
        return await self._convert(msg, decode)

    def __aiter__(self) -> "MessageIterator":
        """Iterate over messages; ends after a normal close (1000/1001/1005),
        raises ConnectionClosedError after an abnormal one."""
        return MessageIterator(self)

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
    """``async for message in connection`` (recv() inlined: one coroutine
    per message instead of two)."""
    __slots__ = ("_conn",)
    _conn: ConnectionBase

    def __init__(self, conn: ConnectionBase) -> None:
        self._conn = conn

    def __aiter__(self) -> "MessageIterator":
        return self

    def __anext__(self) -> "Receive":
        return _receive(self._conn, True)


def _receive(conn: ConnectionBase, stop_on_ok: bool) -> "Receive":
    # Compiled: tp_new and two stores, without a call of Receive(...).
    r = Receive.__new__(Receive)
    r._conn = conn
    r._stop_on_ok = stop_on_ok
    r._waiter = None
    return r


class Receive:
    """The awaitable of one recv() (or one step of ``async for``).

    A hand-written coroutine: awaiting it calls send(None), which returns
    the next complete message (as StopIteration's value) when one is
    queued, else parks a future in the connection for on_ws_frame to
    resolve and yields it to the Task, exactly as ``await future`` would.
    A message leaves the queue only when it is returned, so cancelling
    (throw) loses nothing.  ``stop_on_ok``: end ``async for`` with
    StopAsyncIteration after a normal close instead of raising."""
    __slots__ = ("_conn", "_stop_on_ok", "_waiter")
    _conn: ConnectionBase
    _stop_on_ok: bool
    _waiter: "Optional[asyncio.Future[None]]"

    def __init__(self, conn: ConnectionBase, stop_on_ok: bool) -> None:
        self._conn = conn
        self._stop_on_ok = stop_on_ok
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
        conn = self._conn
        if self._waiter is not None:
            self._stop_waiting()
        elif conn._recv_busy:
            raise ConcurrencyError("cannot call recv while another coroutine "
                                   "is already running recv or recv_streaming")
        q = conn._queue
        if q:
            msg = q[0]
            if type(msg) is not Fragments or msg.done:
                q.popleft()
                if conn._read_paused:
                    conn._maybe_resume_reading()
                if type(msg) is Fragments:
                    data = b"".join(msg.parts)
                    msg = data.decode() if msg.text else data
                done[0] = 1
                return msg
        if conn._closed:
            exc = conn.close_exc
            if self._stop_on_ok and isinstance(exc, ConnectionClosedOK):
                raise StopAsyncIteration
            raise exc
        waiter = conn._new_future()
        waiter._asyncio_future_blocking = True      # what Future.__await__ sets
        conn._waiter = waiter
        conn._recv_busy = True
        self._waiter = waiter
        return waiter

    def _stop_waiting(self) -> None:
        self._waiter = None
        conn = self._conn
        conn._waiter = None
        conn._recv_busy = False

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
    ws_install_am_send(Receive, _receive_step)
