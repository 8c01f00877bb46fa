"""Connection: the websockets.asyncio connection API on a picows_like WSListener.

The connection object *is* the core listener: the core calls on_ws_frame()
for every frame, straight from its read loop.  The per-message work lives
in _fastpath (see there): ConnectionBase hands every data frame to the
connection's Assembler, the one place that queues and reassembles messages
and hands them to readers; per frame it is:

* a single-frame TEXT/BINARY message (the common case): one copy of the
  payload out of the read buffer -- ``frame.get_payload_as_utf8_text()``
  (C decoder; the core already validated the UTF-8 with ``validate_utf8``)
  or ``frame.get_payload_as_bytes()`` -- appended to a deque, and the
  waiting recv() woken;
* a fragmented message: each fragment is copied as bytes into one list that
  is queued on its first frame; recv() joins the list once, after the last
  fragment, and decodes once;
* control frames: PONGs resolve ping() waiters, CLOSE moves to CLOSING.

recv() takes a message off the queue only after it has it in hand, so
cancelling recv() (e.g. with asyncio.timeout) never loses a message.
max_queue is the Assembler's flow control: it pauses reading the socket
above the high water mark and resumes at the low one.
"""
import asyncio
import builtins
import sys
import collections
import logging
import random
import struct
import time
import uuid
from typing import Any, AsyncIterator, Awaitable, Iterable, Mapping, Optional, Union

from ... import WSMsgType
from ._fastpath import NO_LIMIT, Assembler, ConnectionBase
from ..exceptions import (ConcurrencyError, ConnectionClosed, ConnectionClosedError,
                          ConnectionClosedOK)
from ..frames import OK_CLOSE_CODES, Close, CloseCode, close_code
from ..protocol import CLOSED, CLOSING, CONNECTING, OPEN, State

__all__ = ["Connection", "broadcast"]

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONT = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
_PONG = WSMsgType.PONG
_BYTES_LIKE = (bytes, bytearray, memoryview)


def split_limit(value: Any, name: str) -> tuple:
    """(high, low) from an int, None or a (high, low) tuple."""
    if value is None or isinstance(value, int):
        return value, None
    try:
        high, low = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int, None or a (high, low) tuple") from None
    return high, low


def core_limits(max_size: Any) -> tuple:
    """(max message size or None, the core's max_frame_size) from max_size."""
    if max_size is None or isinstance(max_size, int):
        max_message, max_fragment = max_size, None
    else:
        max_message, max_fragment = max_size
    limits = [x for x in (max_message, max_fragment) if x is not None]
    if any(x <= 0 for x in limits):
        raise ValueError("max_size must be > 0 or None")
    return max_message, (min(limits) if limits else NO_LIMIT)


class Connection(ConnectionBase):
    """The part of ClientConnection and ServerConnection they share."""

    # Slots make attribute accesses specialised loads; ClientConnection and
    # ServerConnection add a __dict__ for users' own attributes.
    __slots__ = (
        "id", "logger", "debug", "ping_interval", "ping_timeout", "close_timeout",
        "max_size", "write_limit_high", "write_limit_low",
        "request", "response", "latency", "transport", "_max_message", "_state",
        "_closed_fut", "_pending_pings", "_drain_waiters", "_send_in_progress",
        "_keepalive_handle", "_keepalive_timeout", "_connection_exc", "_subprotocol")

    def __init__(self, *, ping_interval: Optional[float] = 20,
                 ping_timeout: Optional[float] = 20, close_timeout: Optional[float] = 10,
                 max_size: Any = 2 ** 20, max_queue: Any = 16,
                 write_limit: Any = 2 ** 15, logger: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.id = uuid.uuid4()
        self.logger = logger if logger is not None else logging.getLogger("picows_like.websockets")
        self.debug = False
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self._max_message, _ = core_limits(max_size)
        high, low = split_limit(max_queue, "max_queue")
        try:
            self._assembler = Assembler(
                self.loop.create_future, high, low, self._max_message,
                pause=self._pause_transport, resume=self._resume_transport,
                closed_error=self._closed_error)
        except ValueError as exc:
            raise ValueError(f"max_queue: {exc}") from None
        self.write_limit_high, self.write_limit_low = split_limit(write_limit, "write_limit")
        self.request: Any = None
        self.response: Any = None
        self.latency: float = 0.0
        self.transport: Any = None          # the asyncio transport
        # Addresses known before the transport is ours (server handshake hooks).
        self._handshake_peername: Any = None
        self._handshake_sockname: Any = None
        self.ws_transport: Any = None       # the picows_like WSTransport
        self._state = CONNECTING
        self._closed = False
        self._closed_fut = self.loop.create_future()
        self._pending_pings: dict = {}
        self._paused = False
        self._drain_waiters: collections.deque = collections.deque()
        self._send_in_progress: Optional[asyncio.Future] = None
        self._send_ok = False           # OPEN and no fragmented send in progress
        self._keepalive_handle: Any = None
        self._keepalive_timeout: Any = None
        self._connection_exc: Optional[BaseException] = None
        self._subprotocol: Optional[str] = None    # the server's choice, before the core has it

    # -- public attributes -----------------------------------------------------

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        return self._state

    @property
    def max_queue_high(self) -> Optional[int]:
        """The high water mark of the receive queue (messages), or None."""
        high = self._assembler.high
        return None if high >= NO_LIMIT else high

    @property
    def max_queue_low(self) -> Optional[int]:
        """The low water mark of the receive queue (messages), or None."""
        low = self._assembler.low
        return None if low >= NO_LIMIT else low

    @property
    def subprotocol(self) -> Optional[str]:
        """The negotiated subprotocol (Sec-WebSocket-Protocol), or None."""
        ws = self.ws_transport
        return ws.subprotocol if ws is not None else self._subprotocol

    @property
    def local_address(self) -> Any:
        if self.transport is not None:
            return self.transport.get_extra_info("sockname")
        return self._handshake_sockname

    @property
    def remote_address(self) -> Any:
        if self.transport is not None:
            return self.transport.get_extra_info("peername")
        # Still in the opening handshake (process_request, select_subprotocol).
        return self._handshake_peername

    @property
    def close_code(self) -> Optional[int]:
        """The code of the CLOSE received (1006 if none); None until CLOSED."""
        if self._state is not CLOSED:
            return None
        rcvd = self._close_info()[0]
        return CloseCode.ABNORMAL_CLOSURE if rcvd is None else rcvd.code

    @property
    def close_reason(self) -> Optional[str]:
        """The reason of the CLOSE received ("" if none); None until CLOSED."""
        if self._state is not CLOSED:
            return None
        rcvd = self._close_info()[0]
        return "" if rcvd is None else rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """The ConnectionClosed exception describing how the connection ended."""
        rcvd, sent, rcvd_then_sent = self._close_info()
        if (rcvd is not None and sent is not None and rcvd.code in OK_CLOSE_CODES
                and sent.code in OK_CLOSE_CODES):
            exc: ConnectionClosed = ConnectionClosedOK(rcvd, sent, rcvd_then_sent)
        else:
            exc = ConnectionClosedError(rcvd, sent, rcvd_then_sent)
        if self._connection_exc is not None:
            exc.__cause__ = self._connection_exc
        return exc

    def _close_info(self) -> tuple:
        ws = self.ws_transport
        handshake = ws.close_handshake if ws is not None else None
        if handshake is None:
            return None, None, None
        rcvd = _close(handshake.recv)
        sent = _close(handshake.sent)
        both = rcvd is not None and sent is not None
        return rcvd, sent, (bool(handshake.recv_then_sent) if both else None)

    # -- receiving (the Assembler does the work) --------------------------------

    def _closed_error(self) -> ConnectionClosed:
        """What the assembler raises once the queue is drained after close."""
        return self.close_exc

    async def _recv_decode(self, decode: bool) -> Union[str, bytes]:  # type: ignore[return]
        try:
            return await self._assembler.get(decode)
        except UnicodeDecodeError as exc:
            await self._invalid_utf8(exc)

    async def _invalid_utf8(self, exc: UnicodeDecodeError) -> None:
        self._set_connection_exc(exc)
        self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        await self._raise_closed()

    async def recv_streaming(self, decode: Optional[bool] = None) -> AsyncIterator[Union[str, bytes]]:
        """Receive the next message fragment by fragment, as they arrive.

        The iterator must be consumed to the end.  Cancelling it before the
        first fragment is safe; after that the rest of that message is lost.
        """
        fragments = self._assembler.get_iter(decode)
        try:
            async for fragment in fragments:
                yield fragment
        except UnicodeDecodeError as exc:
            await self._invalid_utf8(exc)
        finally:
            await fragments.aclose()         # ends the assembler's reader now

    # -- the listener: called by the core for every frame ---------------------

    def on_ws_connected(self, transport: Any) -> None:
        self.ws_transport = transport
        tr = self.transport = transport.underlying_transport
        if self.write_limit_high is not None:
            try:
                tr.set_write_buffer_limits(self.write_limit_high, self.write_limit_low)
            except Exception:       # some transports do not support it
                pass
        self._state = OPEN
        self._send_ok = True
        if self.ping_interval is not None:
            self._keepalive_handle = self.loop.call_later(self.ping_interval,
                                                          self._keepalive_ping)

    def _too_big(self, size: int) -> None:
        """A fragmented message went over max_size (the assembler dropped
        it): close with 1009."""
        self._fail(CloseCode.MESSAGE_TOO_BIG,
                   f"message of at least {size} bytes exceeds limit of "
                   f"{self._max_message} bytes")

    def _on_control(self, frame: Any, mt: Any) -> None:
        if mt is _PONG:
            if self._pending_pings:
                self._acknowledge_pings(frame.get_payload_as_bytes())
        elif mt is _CLOSE:
            self._send_ok = False
            if self._state is OPEN:
                self._state = CLOSING
            self._stop_keepalive()
            ws = self.ws_transport
            if not ws.is_close_frame_sent:
                # Echo code *and* reason, as websockets does (the core would
                # echo the code only).
                ws.send_close(frame.get_close_code(), frame.get_close_message())

    def on_ws_disconnected(self, transport: Any) -> None:
        self._state = CLOSED
        self._closed = True
        self._send_ok = False
        self._stop_keepalive()
        self._assembler.close()
        if self._pending_pings:
            exc = self.close_exc
            for fut, _ in self._pending_pings.values():
                if not fut.done():
                    fut.set_exception(exc)
                fut.cancel()        # nobody may retrieve it: do not log it
            self._pending_pings.clear()
        self._paused = False
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        for w in self._drain_waiters:
            if not w.done():
                w.set_result(None)

    # -- flow control on the read side: the assembler's max_queue calls these --

    def _pause_transport(self) -> None:
        try:
            self.transport.pause_reading()
        except Exception:
            pass

    def _resume_transport(self) -> None:
        try:
            self.transport.resume_reading()
        except Exception:
            pass

    # -- sending ---------------------------------------------------------------

    async def _send_slow(self, message: Any, text: Optional[bool]) -> None:
        while self._send_in_progress is not None:
            await asyncio.shield(self._send_in_progress)
        if isinstance(message, str):
            await self._send_frame(_BINARY if text is False else _TEXT, message, True)
        elif isinstance(message, _BYTES_LIKE):
            await self._send_frame(_TEXT if text is True else _BINARY, message, True)
        elif isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            await self._send_fragments(iter(message), text, False)
        elif hasattr(message, "__aiter__"):
            await self._send_fragments(message.__aiter__(), text, True)
        else:
            raise TypeError("data must be str, bytes, iterable, or async iterable")

    async def _send_frame(self, mt: Any, data: Any, fin: bool) -> None:
        if self._state is not OPEN:
            await self._raise_closed()
        self.ws_transport.send(mt, data, fin)
        if self._paused:
            await self._drain()

    async def _send_fragments(self, chunks: Any, text: Optional[bool], is_async: bool) -> None:
        try:
            chunk = await chunks.__anext__() if is_async else next(chunks)
        except (StopIteration, StopAsyncIteration):
            return
        if self._state is not OPEN:
            await self._raise_closed()
        what = "async iterable" if is_async else "iterable"
        self._send_in_progress = self.loop.create_future()
        self._send_ok = False
        try:
            if isinstance(chunk, str):
                encode = True
                mt = _BINARY if text is False else _TEXT
            elif isinstance(chunk, _BYTES_LIKE):
                encode = False
                mt = _TEXT if text is True else _BINARY
            else:
                raise TypeError(f"{what} must contain bytes or str")
            await self._send_frame(mt, chunk, False)
            while True:
                try:
                    chunk = await chunks.__anext__() if is_async else next(chunks)
                except (StopIteration, StopAsyncIteration):
                    break
                if isinstance(chunk, str) if encode else isinstance(chunk, _BYTES_LIKE):
                    await self._send_frame(_CONT, chunk, False)
                else:
                    raise TypeError(f"{what} must contain uniform types")
            await self._send_frame(_CONT, b"", True)
        except ConnectionClosed:
            raise
        except Exception:
            # Half-way through a fragmented message: the connection is unusable.
            self._fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
            raise
        finally:
            self._send_in_progress.set_result(None)
            self._send_in_progress = None
            self._send_ok = self._state is OPEN

    async def _drain(self) -> None:
        while self._paused and not self._closed:
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            try:
                await waiter
            finally:
                self._drain_waiters.remove(waiter)

    # -- ping / pong -----------------------------------------------------------

    async def ping(self, data: Any = None) -> Awaitable[float]:
        """Send a PING; return a future that resolves with the latency (s)
        when the matching PONG arrives.  ``data`` defaults to 4 random bytes."""
        data = _ping_payload(data)
        if self._state is not OPEN:
            await self._raise_closed()
        return self._send_ping(data)

    def _send_ping(self, data: Optional[bytes]) -> asyncio.Future:
        pending = self._pending_pings
        if data is not None and data in pending:
            raise ConcurrencyError("already waiting for a pong with the same data")
        while data is None or data in pending:
            data = struct.pack("!I", random.getrandbits(32))
        fut = self.loop.create_future()
        pending[data] = (fut, time.monotonic())     # finer than uvloop's loop.time()
        self.ws_transport.send_ping(data)
        return fut

    def _acknowledge_pings(self, data: bytes) -> None:
        pending = self._pending_pings
        if data not in pending:
            return
        now = time.monotonic()
        acked = []
        for ping_id, (fut, sent_at) in pending.items():
            acked.append(ping_id)
            latency = now - sent_at
            if not fut.done():
                fut.set_result(latency)
            if ping_id == data:
                self.latency = latency
                break
        for ping_id in acked:
            del pending[ping_id]

    async def pong(self, data: Any = b"") -> None:
        """Send an unsolicited PONG."""
        if isinstance(data, _BYTES_LIKE):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        else:
            raise TypeError("data must be str or bytes-like")
        if self._state is not OPEN:
            await self._raise_closed()
        self.ws_transport.send_pong(data)

    # -- keepalive (ping_interval / ping_timeout) ------------------------------

    def _keepalive_ping(self) -> None:
        self._keepalive_handle = None
        if self._state is not OPEN:
            return
        fut = self._send_ping(None)
        fut.add_done_callback(self._keepalive_pong)
        if self.ping_timeout is not None:
            self._keepalive_timeout = self.loop.call_later(self.ping_timeout,
                                                           self._keepalive_expired, fut)

    def _keepalive_pong(self, fut: asyncio.Future) -> None:
        if self._keepalive_timeout is not None:
            self._keepalive_timeout.cancel()
            self._keepalive_timeout = None
        if fut.cancelled() or fut.exception() is not None or self._state is not OPEN:
            return
        delay = max(0.0, self.ping_interval - fut.result())
        self._keepalive_handle = self.loop.call_later(delay, self._keepalive_ping)

    def _keepalive_expired(self, fut: asyncio.Future) -> None:
        self._keepalive_timeout = None
        if not fut.done() and self._state is OPEN:
            self.logger.info("keepalive ping timeout, closing the connection")
            self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    def _stop_keepalive(self) -> None:
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        if self._keepalive_timeout is not None:
            self._keepalive_timeout.cancel()
            self._keepalive_timeout = None

    # -- closing ---------------------------------------------------------------

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Run the closing handshake and wait for the TCP connection to end
        (aborting it after close_timeout).  Idempotent."""
        if self._state is OPEN:
            self._state = CLOSING
            self._send_ok = False
            self._stop_keepalive()
            self._assembler.lift_limit()        # the peer's CLOSE must get through
            if self._send_in_progress is not None:
                code, reason = CloseCode.INTERNAL_ERROR, "close during fragmented message"
            self.ws_transport.send_close(code, reason.encode() if reason else None)
        elif self._state is CONNECTING:
            if self.ws_transport is not None:
                self.ws_transport.disconnect(False)
        await self._wait_closed_bounded()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await asyncio.shield(self._closed_fut)

    async def _wait_closed_bounded(self) -> None:
        if self._closed:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._closed_fut), self.close_timeout)
        except asyncio.TimeoutError:
            self._set_connection_exc(TimeoutError("timed out while closing connection"))
            if self.ws_transport is not None:
                self.ws_transport.disconnect(False)
            await asyncio.shield(self._closed_fut)

    async def _raise_closed(self) -> None:
        """Wait for the closing connection to be closed, raise ConnectionClosed."""
        await self._wait_closed_bounded()
        raise self.close_exc

    def _fail(self, code: int, reason: str) -> None:
        """Close with `code` now, without waiting for the peer (protocol
        failure, keepalive timeout, message too big)."""
        self._assembler.discard()
        self._send_ok = False
        self._stop_keepalive()
        if self._state is not CLOSED:
            self._state = CLOSING
        ws = self.ws_transport
        if ws is not None:
            ws.send_close(code, reason.encode()[:123])
            ws.disconnect()
        self._assembler.lift_limit()

    def _abandon(self) -> None:
        """The opening handshake did not complete (rejected, or the client
        left): mark the connection CLOSED so that wait_closed() returns."""
        if self._state is CONNECTING:
            self._state = CLOSED
            self._closed = True
            self._assembler.close()
            if not self._closed_fut.done():
                self._closed_fut.set_result(None)

    def _set_connection_exc(self, exc: Optional[BaseException]) -> None:
        if self._connection_exc is None:
            self._connection_exc = exc

    # -- async context manager -------------------------------------------------

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.close(CloseCode.INTERNAL_ERROR)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self._state.name}>"


def _close(info: Any) -> Optional[Close]:
    if info is None:
        return None
    code = int(info.code)
    return Close(close_code(1005 if code == 0 else code), info.reason or "")


def _ping_payload(data: Any) -> Optional[bytes]:
    if isinstance(data, _BYTES_LIKE):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    if data is not None:
        raise TypeError("data must be str or bytes-like")
    return None


def broadcast(connections: Iterable[Connection], message: Any, *, text: Optional[bool] = None,
              raise_exceptions: bool = False) -> None:
    """Send `message` to every OPEN connection without waiting (no
    backpressure); skip connections busy with a fragmented message."""
    if isinstance(message, str):
        mt = _BINARY if text is False else _TEXT
    elif isinstance(message, _BYTES_LIKE):
        mt = _TEXT if text is True else _BINARY
    else:
        raise TypeError("data must be str or bytes")
    if raise_exceptions and sys.version_info < (3, 11):
        # As websockets: the errors come out as an ExceptionGroup.
        raise ValueError("raise_exceptions requires at least Python 3.11")
    errors: list = []
    for conn in connections:
        if conn._state is not OPEN:
            continue
        if conn._send_in_progress is not None:
            if raise_exceptions:
                errors.append(ConcurrencyError("sending a fragmented message"))
            else:
                conn.logger.warning("skipped broadcast: sending a fragmented message")
            continue
        try:
            conn.ws_transport.send(mt, message)
        except Exception as exc:
            if raise_exceptions:
                err = RuntimeError("failed to write message")
                err.__cause__ = exc
                errors.append(err)
            else:
                conn.logger.warning("skipped broadcast: failed to write message: %r", exc)
    if raise_exceptions and errors:
        raise builtins.ExceptionGroup("skipped broadcast", errors)  # type: ignore[attr-defined]
