"""Threaded WebSocket connection on picows_like's sans-I/O protocol.

Same API as ``websockets.sync.connection.Connection``.  One background
thread per connection reads the socket and feeds the protocol (frames are
parsed, unmasked and validated in C by the engine); complete frames wait in
a queue for ``recv``.  Sends take a lock, so any thread may send; only one
thread may read at a time (``ConcurrencyError`` otherwise).

Like websockets, the lock is held while a send writes to the socket: two
peers that both block writing very large messages at each other, while
neither reads, stall until their buffers drain.
"""
import codecs
import queue
import random
import socket
import struct
import threading
import time
import uuid
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple

from ..exceptions import (ConcurrencyError, ConnectionClosed, ConnectionClosedError,
                          ConnectionClosedOK)
from ..frames import CloseCode, Opcode
from ..protocol import CLOSED, OPEN, Protocol, State

__all__ = ["Connection", "broadcast"]


class _NotOpen(Exception):
    """Raised under the mutex when a send finds the connection not OPEN."""

_TEXT, _BINARY, _CONT, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG
_RECV_SIZE = 262144


class Connection:
    """A WebSocket connection driven by blocking socket I/O in threads."""

    recv_bufsize = _RECV_SIZE

    def __init__(self, socket: Any, protocol: Protocol, *,
                 ping_interval: Optional[float] = 20, ping_timeout: Optional[float] = 20,
                 close_timeout: Optional[float] = 10, max_queue: Any = 16) -> None:
        self.socket = socket
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        if isinstance(max_queue, tuple):
            high, low = max_queue
        else:
            high, low = max_queue, None
        if high is not None and low is None:
            low = high // 4
        self._high, self._low = high, low
        self.id: uuid.UUID = protocol.id
        self.logger = protocol.logger
        self.debug = protocol.debug
        self.request: Any = None
        self.response: Any = None
        self.latency: float = 0.0
        # One lock for the protocol and the socket's writing side.
        self._mutex = threading.Lock()
        # Incoming frames (opcode, data, fin), then None once the reader ends.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._partial: list = []        # frames of a message a timed-out recv began
        self._eof = False               # recv took the None
        self._paused = False            # flow control stopped the reader
        self._resume = threading.Event()
        self._recv_lock = threading.Lock()
        self._send_fragmented = False
        self._pending_pings: Dict[bytes, Tuple[threading.Event, float, bool]] = {}
        self._closed = threading.Event()
        self._draining = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name=f"picows_like-ws-{self.id}")
        self._keepalive: Optional[threading.Thread] = None

    # -- starting ------------------------------------------------------------

    def _start(self, events: Iterable[Any] = ()) -> None:
        """Start the reader thread (after the opening handshake); `events`
        are frames that came with the handshake."""
        for event in events:
            self._process_event(event)
        self._reader.start()
        if self.ping_interval is not None:
            self._keepalive = threading.Thread(target=self._keepalive_loop, daemon=True)
            self._keepalive.start()

    # -- attributes ----------------------------------------------------------

    @property
    def local_address(self) -> Any:
        return self.socket.getsockname()

    @property
    def remote_address(self) -> Any:
        return self.socket.getpeername()

    @property
    def state(self) -> State:
        return self.protocol.state

    @property
    def subprotocol(self) -> Optional[str]:
        return self.protocol.subprotocol

    @property
    def close_code(self) -> Optional[int]:
        return self.protocol.close_code

    @property
    def close_reason(self) -> Optional[str]:
        return self.protocol.close_reason

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close(CloseCode.INTERNAL_ERROR)

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # -- receiving -----------------------------------------------------------

    def recv(self, timeout: Optional[float] = None, decode: Optional[bool] = None) -> Any:
        """The next message: str for TEXT, bytes for BINARY (``decode``
        overrides); TimeoutError after `timeout` seconds; ConnectionClosed
        once the connection is closed and every message was read."""
        lock = self._recv_lock
        if not lock.acquire(False):
            raise ConcurrencyError("cannot call recv while another thread "
                                   "is already running recv or recv_streaming")
        try:
            item = self._get(timeout, None)
            if not self._partial:
                if item[2]:
                    opcode, data = item[0], item[1]
                else:
                    opcode, data = self._rest(item, timeout)
            else:
                opcode, data = self._rest(item, timeout)
            if self._paused and self._queue.qsize() <= self._low:
                self._resume.set()
        finally:
            lock.release()
        if opcode == _TEXT:
            if decode is False:
                return bytes(data)
            return str(data, "utf-8")
        if decode:
            return str(data, "utf-8")
        return data if type(data) is bytes else bytes(data)

    def _get(self, timeout: Optional[float], deadline: Optional[float]) -> Any:
        """The next frame; TimeoutError; ConnectionClosed at the end."""
        if self._eof:
            raise self._close_exc()
        try:
            if deadline is not None:
                timeout = max(deadline - time.monotonic(), 0.0)
            if timeout is None:
                item = self._queue.get()
            elif timeout <= 0:
                item = self._queue.get(False)
            else:
                item = self._queue.get(True, timeout)
        except queue.Empty:
            raise TimeoutError("timed out while waiting for a message") from None
        if item is None:
            self._eof = True
            raise self._close_exc()
        return item

    def _rest(self, item: Any, timeout: Optional[float]) -> Tuple[int, Any]:
        """Complete a fragmented message (kept in _partial across timeouts)."""
        partial = self._partial
        partial.append(item)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not item[2]:
            item = self._get(None, deadline)
            partial.append(item)
        self._partial = []
        return partial[0][0], b"".join([f[1] for f in partial])

    def recv_streaming(self, decode: Optional[bool] = None) -> Iterator[Any]:
        """The next message, frame by frame."""
        if not self._recv_lock.acquire(False):
            raise ConcurrencyError("cannot call recv_streaming while another thread "
                                   "is already running recv or recv_streaming")
        try:
            decoder = None
            pending = self._partial
            self._partial = []
            first = True
            while True:
                item = pending.pop(0) if pending else self._get(None, None)
                opcode, data, fin = item
                if first:
                    first = False
                    if (opcode == _TEXT) if decode is None else decode:
                        decoder = codecs.getincrementaldecoder("utf-8")()
                if self._paused and self._queue.qsize() <= self._low:
                    self._resume.set()
                if decoder is not None:
                    yield decoder.decode(data, fin)
                else:
                    yield bytes(data)
                if fin:
                    return
        finally:
            self._recv_lock.release()

    # -- sending -------------------------------------------------------------

    def send(self, message: Any, text: Optional[bool] = None) -> None:
        """Send a message: str as TEXT, bytes-like as BINARY (``text``
        overrides), an iterable of str or bytes-like as a fragmented message."""
        try:
            self._send(message, text)
        except _NotOpen:
            raise self._closed_exc_after_wait() from None

    def _send(self, message: Any, text: Optional[bool]) -> None:
        if isinstance(message, str):
            data = message.encode()
            with self._mutex:
                self._check_not_fragmented()
                if text is False:
                    self.protocol.send_binary(data)
                else:
                    self.protocol.send_text(data)
                self._flush()
            return
        if isinstance(message, (bytes, bytearray, memoryview)):
            with self._mutex:
                self._check_not_fragmented()
                if text:
                    self.protocol.send_text(message)
                else:
                    self.protocol.send_binary(message)
                self._flush()
            return
        if isinstance(message, dict) or hasattr(message, "keys"):
            raise TypeError("data is a dict-like object")
        if not hasattr(message, "__iter__"):
            raise TypeError("data must be str, bytes, or iterable")
        self._send_fragments(iter(message), text)

    def _check_not_fragmented(self) -> None:
        if self.protocol.state is not OPEN:
            raise self._send_closed()
        if self._send_fragmented:
            raise ConcurrencyError("cannot call send while another thread is already "
                                   "running send")

    def _send_fragments(self, chunks: Iterator[Any], text: Optional[bool]) -> None:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        kind: type
        if isinstance(chunk, str):
            kind = str
            is_text = text is not False
        elif isinstance(chunk, (bytes, bytearray, memoryview)):
            kind = bytes
            is_text = bool(text)
        else:
            raise TypeError("iterable must contain bytes or str")
        encode = (lambda c: c.encode()) if kind is str else (lambda c: c)
        with self._mutex:
            self._check_not_fragmented()
            self._send_fragmented = True
            if is_text:
                self.protocol.send_text(encode(chunk), fin=False)
            else:
                self.protocol.send_binary(encode(chunk), fin=False)
            self._flush()
        try:
            for chunk in chunks:
                if kind is str and not isinstance(chunk, str) or kind is bytes and \
                        not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise TypeError("iterable must contain uniform types")
                with self._mutex:
                    if self.protocol.state is not OPEN:
                        raise self._send_closed()
                    self.protocol.send_continuation(encode(chunk), fin=False)
                    self._flush()
            with self._mutex:
                if self.protocol.state is not OPEN:
                    raise self._send_closed()
                self.protocol.send_continuation(b"", fin=True)
                self._send_fragmented = False
                self._flush()
        except Exception:
            with self._mutex:
                self._send_fragmented = False
                if self.protocol.state is OPEN:
                    self.protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                    self._flush()
            raise

    def _send_closed(self) -> "_NotOpen":
        return _NotOpen()

    def _closed_exc_after_wait(self) -> ConnectionClosed:
        """The exception for a send on a connection that is not OPEN: waits
        for the closing handshake so that the close codes are known."""
        self._wait_reader(self.close_timeout)
        if self.protocol.state is CLOSED:
            return self.protocol.close_exc
        return ConnectionClosedError(self.protocol.close_rcvd, self.protocol.close_sent,
                                     self.protocol.close_rcvd_then_sent)

    def _flush(self) -> None:
        """Write what the protocol has to send (the mutex is held)."""
        for data in self.protocol.data_to_send():
            if data:
                try:
                    self.socket.sendall(data)
                except OSError:
                    self._abort()
                    return
            else:
                try:
                    self.socket.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait for the TCP connection to
        end (at most close_timeout, then the socket is closed). Idempotent."""
        with self._mutex:
            if self.protocol.state is OPEN:
                if self._send_fragmented:
                    self.protocol.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")
                else:
                    self.protocol.send_close(code, reason)
                self._flush()
        # Not socket.settimeout() here: only the reader thread changes its
        # socket's timeout (an SSLSocket whose timeout changes while another
        # thread is blocked reading it fails that read with SSLWantReadError,
        # which looked like a lost connection: 1006).  _wait_reader bounds the
        # wait and aborts the socket after close_timeout.
        self._wait_reader(self.close_timeout)

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Wait until the connection is closed; False after `timeout`."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def ping(self, data: Any = None, *, ack_on_close: bool = False) -> threading.Event:
        """Send a ping; the event is set when the matching pong arrives."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        elif data is not None:
            raise TypeError("data must be str or bytes-like")
        with self._mutex:
            if self.protocol.state is not OPEN:
                not_open = True
            elif data in self._pending_pings:
                raise ConcurrencyError("already waiting for a pong with the same data")
            else:
                not_open = False
                while data is None or data in self._pending_pings:
                    data = struct.pack("!I", random.getrandbits(32))
                event = threading.Event()
                self._pending_pings[data] = (event, time.monotonic(), ack_on_close)
                self.protocol.send_ping(data)
                self._flush()
        if not_open:
            raise self._closed_exc_after_wait()
        return event

    def pong(self, data: Any = b"") -> None:
        """Send an unsolicited pong."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        elif isinstance(data, str):
            data = data.encode()
        else:
            raise TypeError("data must be str or bytes-like")
        with self._mutex:
            not_open = self.protocol.state is not OPEN
            if not not_open:
                self.protocol.send_pong(data)
                self._flush()
        if not_open:
            raise self._closed_exc_after_wait()

    # -- the reader thread ---------------------------------------------------

    def _process_event(self, event: Any) -> None:
        opcode = event.opcode
        if opcode == _TEXT or opcode == _BINARY or opcode == _CONT:
            q = self._queue
            q.put((opcode, event.data, event.fin))
            high = self._high
            if high is not None and q.qsize() > high:
                # Flow control: stop reading until recv() drains the queue.
                self._resume.clear()
                self._paused = True
                while q.qsize() > self._low and not self._draining:
                    self._resume.wait(0.5)
                self._paused = False
        elif opcode == _PONG:
            self._acknowledge_pings(bytes(event.data))

    def _acknowledge_pings(self, data: bytes) -> None:
        with self._mutex:
            pings = self._pending_pings
            if data not in pings:
                return
            now = time.monotonic()
            for key in list(pings):
                event, sent_at, _ = pings.pop(key)
                event.set()
                if key == data:
                    self.latency = now - sent_at
                    break

    def _read_loop(self) -> None:
        sock = self.socket
        protocol = self.protocol
        mutex = self._mutex
        # One buffer for the connection's life: the engine parses in place
        # and copies only an incomplete tail and the payloads it hands out.
        buf = bytearray(self.recv_bufsize)
        view = memoryview(buf)
        try:
            while True:
                try:
                    n = sock.recv_into(buf)
                except (OSError, ValueError):
                    n = 0
                data = n > 0
                with mutex:
                    if data:
                        protocol.receive_data(view[:n])  # type: ignore[arg-type]
                    else:
                        protocol.receive_eof()
                    events = protocol.events_received()
                    self._flush()
                    if protocol.close_expected():
                        self._arm_close_timeout()
                for event in events:
                    self._process_event(event)
                if not data or protocol.state is CLOSED:
                    break
        finally:
            self._abort()
            with self._mutex:
                if protocol.state is not CLOSED:
                    protocol.receive_eof()
                    protocol.data_to_send()
                for event, _, ack_on_close in self._pending_pings.values():
                    if ack_on_close:
                        event.set()
                self._pending_pings.clear()
            self._queue.put(None)
            self._closed.set()

    def _arm_close_timeout(self) -> None:
        try:
            self.socket.settimeout(self.close_timeout)
        except OSError:
            pass

    def _abort(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.socket.close()

    def _wait_reader(self, timeout: Optional[float]) -> None:
        if not self._reader.is_alive() or self._reader is threading.current_thread():
            return
        self._reader.join(timeout)
        if self._reader.is_alive():
            self._abort()
            self._reader.join()

    def _close_exc(self) -> ConnectionClosed:
        self._reader.join()
        return self.protocol.close_exc

    def _keepalive_loop(self) -> None:
        interval, limit = self.ping_interval, self.ping_timeout
        while not self._closed.wait(interval):
            try:
                pong = self.ping(ack_on_close=True)
            except (ConnectionClosed, ConcurrencyError, OSError):
                return
            if limit is not None and not pong.wait(limit) and not self._closed.is_set():
                with self._mutex:
                    if self.protocol.state is OPEN:
                        self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                        self._flush()
                self._abort()
                return


def broadcast(connections: Iterable[Connection], message: Any, *,
              raise_exceptions: bool = False, text: Optional[bool] = None,
              **kwargs: Any) -> None:
    """Send `message` to every open connection of `connections`, as
    ``websockets.sync.server.broadcast``: str as TEXT, bytes-like as BINARY
    (`text` overrides), the frame built once per connection by the engine;
    the writes run in a ``concurrent.futures.ThreadPoolExecutor`` (`kwargs`,
    e.g. ``max_workers``, configure it).  Connections that are not open are
    skipped, and so are those sending a fragmented message; failures are
    logged, or raised together in an ExceptionGroup with
    ``raise_exceptions=True``."""
    import concurrent.futures
    import traceback
    if isinstance(message, str):
        as_text = text is not False
        message = message.encode()
    elif isinstance(message, (bytes, bytearray, memoryview)):
        as_text = bool(text)
    else:
        raise TypeError("data must be str or bytes")
    exceptions: list = []

    def send_message(connection: Connection) -> None:
        with connection._mutex:
            protocol = connection.protocol
            if protocol.state is not OPEN:
                return
            if connection._send_fragmented:
                if raise_exceptions:
                    exceptions.append(ConcurrencyError("sending a fragmented message"))
                else:
                    connection.logger.warning("skipped broadcast: sending a fragmented message")
                return
            try:
                if as_text:
                    protocol.send_text(message)
                else:
                    protocol.send_binary(message)
                connection._flush()
            except Exception as write_exception:
                if raise_exceptions:
                    exception = RuntimeError("failed to write message")
                    exception.__cause__ = write_exception
                    exceptions.append(exception)
                else:
                    connection.logger.warning(
                        "skipped broadcast: failed to write message: %s",
                        traceback.format_exception_only(
                            type(write_exception), write_exception)[0].strip())

    with concurrent.futures.ThreadPoolExecutor(**kwargs) as executor:
        executor.map(send_message, connections)
    if raise_exceptions and exceptions:
        import builtins
        group = getattr(builtins, "ExceptionGroup", None)
        if group is None:           # Python < 3.11
            raise exceptions[0]
        raise group("skipped broadcast", exceptions)
