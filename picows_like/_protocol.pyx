"""The asyncio driver: a BufferedProtocol that feeds its read buffer to the
sans-I/O engine (_engine.WSEngine), which runs the opening handshake's steps
(this protocol, its sink, applies picows' policy: the listener factory,
404/500 answers) and then the connection's rules, handing each frame back
to the sink through a C call; the protocol calls the listener.

The event loop reads straight into our buffer (get_buffer returns this
object, which exports the free tail of the buffer), so a read costs no
allocation; the engine parses the frames where they are (unmasking in
place) and every complete frame is delivered through one reused WSFrame
before the buffer is compacted.  One way to end a connection early,
whatever the cause: engine.fail_with(kind, code, reason), which calls
on_fail() here, where the CLOSE is sent and the socket closed.
"""
import asyncio
import inspect
import types

from cpython.buffer cimport PyBuffer_FillInfo
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.string cimport memmove
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from ._enums cimport WSMsgType, WSCloseCode, WSAutoPingStrategy
from ._buffer cimport BUFFER_SLACK, MemoryBuffer
from ._frame cimport WSFrame, close_code_to_py
from ._deflate cimport Deflater
from ._engine cimport (WSEngine, WSEngineSink, ENGINE_CONNECTING, ENGINE_OPEN, ENGINE_CLOSED,
                       ROLE_CLIENT, ROLE_SERVER, ERR_INFLATE, ERR_HANDSHAKE, ERR_CALLBACK,
                       ERR_HANDSHAKE_TIMEOUT, ERR_PING_TIMEOUT, ERR_CLOSE_DRAIN, ERR_NO_MEMORY,
                       ERR_TOO_BIG, PONG_NONE, PONG_AUTO, PONG_USER, DL_PING, DL_FAILED,
                       DL_CLOSE_TIMEOUT)
from ._transport cimport WSTransport
from ._listener cimport WSListener

from ._options import MIN_READ_BUFFER_INIT_SIZE as _MIN_READ_BUFFER_INIT_SIZE
from .exceptions import WSConnectionClosedBeforeHandshake, WSProtocolError
from .handshake import (MAX_HEADER_BYTES, HandshakeRejected, WSUpgradeResponse,
                        WSUpgradeResponseWithListener)


# What a WSFrame points at once on_ws_frame has returned: a frame kept past
# the callback reads as empty, never as freed memory (zeroed, with the slack
# a payload always has after it).
cdef char _NO_PAYLOAD[BUFFER_SLACK]


# The read buffer grows for two reasons and gives the memory back for each:
# * Throughput: a read that fills all the space we offered means more is
#   waiting in the socket, so the next offer doubles, up to READ_GROW_LIMIT
#   (a busy stream costs fewer reads).  After SHRINK_AFTER_CALM_READS
#   consecutive reads that end with an empty buffer and no large frame it is
#   back at its initial size; an idle connection holds at most the limit.
# * A frame larger than that: the buffer grows to hold it whole.  So do the
#   inflater's output buffer and the transport's send buffers.  Once
#   no buffer above READ_GROW_LIMIT has been used for IDLE_RELEASE_SECONDS
#   (one to two periods of the timer armed by _large_buffer_used) they are
#   released, the read buffer to its initial size (keeping a partial small
#   frame), the others to theirs: a peer cannot pin max_frame_size per
#   connection by sending one large frame and going quiet.  Not at once:
#   glibc serves each re-grown block with fresh mmapped pages, and freeing
#   after every frame made a 1 MiB echo 2.7x slower (485 page faults per
#   round trip); a busy stream of large frames keeps its buffers.
cdef enum:
    SHRINK_AFTER_CALM_READS = 64
    READ_GROW_LIMIT = 256 * 1024
IDLE_RELEASE_SECONDS = 1.0

# While a closing connection waits for the peer's EOF it reads and discards
# input (so closing the socket sends FIN, not RST); a peer that sends more
# than this after we stopped reading frames is cut off (aborted).
CLOSE_DRAIN_MAX_BYTES = 16 * 1024 * 1024
cdef Py_ssize_t _drain_max = CLOSE_DRAIN_MAX_BYTES


cdef enum:
    CLOSE_ABNORMAL = 1006       # never on the wire: fail without a CLOSE frame
    RSV_BITS = 0x70
    MAX_CLOSE_REASON = 123      # 125 bytes of CLOSE payload minus the code

cdef WSEngineSink _NO_SINK = WSEngineSink()     # an engine's sink after connection_lost


cdef inline double _now() noexcept nogil:
    # Same clock as loop.time() (time.monotonic) without a Python call.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline int _call_on_frame(WSProtocolCore self, WSFrame frame) except -1:
    try:
        if self._py_on_frame is not None:
            self._py_on_frame(self.transport, frame)
        else:
            self.listener.on_ws_frame(self.transport, frame)
    except Exception as exc:
        self._callback_failed(exc, "on_ws_frame")
    return 0


cdef class WSProtocolCore(WSEngineSink):
    def __init__(self, bint is_client, listener_factory, loop, logger, *,
                 bint disconnect_on_exception=True, websocket_handshake_timeout=5,
                 bint enable_auto_ping=False, double auto_ping_idle_timeout=10,
                 double auto_ping_reply_timeout=10,
                 auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
                 bint enable_auto_pong=True, Py_ssize_t max_frame_size=10 * 1024 * 1024,
                 Py_ssize_t read_buffer_init_size=16 * 1024, double close_timeout=5.0,
                 bint accept_rsv_bits=False, bint validate_utf8=False, compression=None,
                 subprotocols=None, request=None, bytes request_bytes=None,
                 bytes ws_key=None, upgrade_future=None):
        if read_buffer_init_size < _MIN_READ_BUFFER_INIT_SIZE:     # as ws_connect does
            read_buffer_init_size = _MIN_READ_BUFFER_INIT_SIZE
        self._is_client = is_client
        self._listener_factory = listener_factory
        self._loop = loop
        self._logger = logger
        self._disconnect_on_exception = disconnect_on_exception
        self._handshake_timeout = websocket_handshake_timeout
        self._enable_auto_pong = enable_auto_pong
        self._compression = compression
        self._subprotocols = subprotocols
        self._close_timeout = close_timeout
        self._auto_ping = enable_auto_ping
        if max_frame_size <= 0:
            raise ValueError("max_frame_size must be > 0")
        # picows' rules on the engine: a per-frame limit, the parser's codes
        # and wording, the parser's incremental UTF-8 check (the engine
        # checks compressed messages), PING and CLOSE answered here.
        cdef WSEngine engine = WSEngine(ROLE_CLIENT if is_client else ROLE_SERVER,
                                        ENGINE_CONNECTING, None, self, validate_utf8,
                                        max_frame_size)
        engine.auto_pong = False
        engine.auto_close = False
        engine.parser_reasons = True
        engine.parser.validate_utf8 = validate_utf8
        engine.parser.rsv_allowed = RSV_BITS if accept_rsv_bits else 0
        engine.inbuf.shrink(0)          # the driver feeds its own read buffer
        engine.out.shrink(0)            # and sends frames through WSTransport
        engine.driver_deflates = True
        engine.body_until_eof = False   # as picows: a non-101 body needs its Content-Length
        if is_client:
            engine.client_send_request(request_bytes, ws_key, compression, subprotocols)
        if enable_auto_ping:            # liveness: deadlines the engine keeps
            engine.ping_interval = auto_ping_idle_timeout
            engine.ping_timeout = auto_ping_reply_timeout
            engine.ping_periodically = \
                auto_ping_strategy == WSAutoPingStrategy.PING_PERIODICALLY
        self._engine = engine
        self._init_size = read_buffer_init_size
        self._rbuf = MemoryBuffer(read_buffer_init_size)
        self._request = request
        self._upgrade_future = upgrade_future

    # -- asyncio.BufferedProtocol ------------------------------------------

    def connection_made(self, transport):
        self.transport = WSTransport(self._is_client, transport, self._logger, self._loop,
                                     self._close_timeout)
        self.transport._protocol = self
        self.transport._engine = self._engine
        self._engine.sink_takes_output = True   # handshake bytes: on_output
        if self._is_client:
            self._engine._flush()               # the upgrade request, queued at __init__
            self._engine.out.shrink(0)
        elif self._handshake_timeout is not None:
            self._engine.handshake_deadline = _now() + self._handshake_timeout
            self._arm_timer()

    def get_buffer(self, Py_ssize_t sizehint):
        return self

    def __len__(self):
        # asyncio checks len(get_buffer()) before reading into it.
        return self._rbuf.capacity - self._wpos

    def __getitem__(self, key):
        # asyncio's TLS layer (sslproto) reads into get_buffer()[offset:].
        return memoryview(self)[key]

    def __setitem__(self, key, value):
        # Python < 3.11's sslproto copies decrypted data with get_buffer()[:n] = data.
        memoryview(self)[key] = value

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, self._rbuf.data + self._wpos,
                          self._rbuf.capacity - self._wpos, 0, flags)

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef WSEngine engine = self._engine
        self._wpos += nbytes
        cdef bint filled = self._wpos == self._rbuf.capacity
        if engine.discarding:
            self._rpos = self._wpos = 0
            self._drained += nbytes
            if self._drained > _drain_max:
                self._drain_overflow()
            return
        if self._auto_ping:
            engine.last_read = _now()
        if engine.state != ENGINE_CONNECTING:
            self._rpos += engine.feed(self._rbuf.data + self._rpos, self._wpos - self._rpos)
            if engine.inflater is not None and engine.inflater.out.capacity > READ_GROW_LIMIT:
                self._large_buffer_used()
        else:
            self._handshake_data()
        if engine.discarding:
            self._rpos = self._wpos = 0     # closing: nothing left worth keeping
            return
        self._compact(filled)

    def eof_received(self):
        return False            # let the transport close (also ends a graceful close)

    def _halt_reading(self):
        """The transport started closing: discard all further input."""
        self._engine.discarding = True

    def _drain_overflow(self):
        cdef WSTransport transport = self.transport
        if transport is not None and transport._closing and not transport.is_disconnected:
            self._logger.info("the peer sent more than %d bytes while the connection was "
                              "closing, aborting", _drain_max)
            self._engine.fail_with(ERR_CLOSE_DRAIN, CLOSE_ABNORMAL, b"too much input while closing")

    def connection_lost(self, exc):
        cdef WSTransport transport = self.transport
        cdef WSEngine engine = self._engine
        cdef bint upgraded = engine.state != ENGINE_CONNECTING
        engine.discarding = True
        engine.close_deadline = 0
        engine._set_state(ENGINE_CLOSED)
        engine.sink = _NO_SINK            # no cycle left between engine and protocol
        self._cancel_timers()
        if self._pending_factory is not None:
            self._pending_factory.cancel()
            self._pending_factory = None
        if transport is None:
            return
        transport._connection_lost()
        if self._rtt_future is not None and not self._rtt_future.done():
            self._rtt_future.set_exception(ConnectionResetError("WebSocket disconnected"))
        if not upgraded:
            if self._upgrade_future is not None and not self._upgrade_future.done():
                self._upgrade_future.set_exception(WSConnectionClosedBeforeHandshake(
                    "connection closed before the handshake completed"
                    + (f": {exc}" if exc else "")))
        elif self.listener is not None:
            try:
                self.listener.on_ws_disconnected(transport)
            except Exception as cb_exc:
                # As picows: on a client, wait_disconnected() re-raises it
                # (unless an earlier failure is already recorded).
                if self._is_client and transport._exception is None:
                    transport._exception = cb_exc
                    self._logger.warning("exception in on_ws_disconnected: %r", cb_exc)
                else:
                    self._logger.exception("exception in on_ws_disconnected")
        if not transport._disconnected_future.done():
            transport._disconnected_future.set_result(None)
        transport._protocol = None

    def pause_writing(self):
        if self.transport is not None:
            self.transport._write_paused = True     # auto-pong answers only the latest PING
        if self.listener is not None:
            try:
                self.listener.pause_writing()
            except Exception:
                self._logger.exception("exception in pause_writing")

    def resume_writing(self):
        if self.transport is not None:
            self.transport._writing_resumed()
        if self.listener is not None:
            try:
                self.listener.resume_writing()
            except Exception:
                self._logger.exception("exception in resume_writing")

    @property
    def engine(self):
        """The connection's sans-I/O engine (state, error_kind, ...)."""
        return self._engine

    # -- the read path: the engine's sink -----------------------------------

    cdef int _feed(self) except -1:
        """Feed what the read buffer holds to the engine (after the handshake)."""
        self._rpos += self._engine.feed(self._rbuf.data + self._rpos, self._wpos - self._rpos)
        return 0

    cdef int on_frame(self, WSEngine engine, WSFrame frame) except -1:
        """A frame that passed the engine's rules (inflated when compressed):
        PONGs we wait for, PINGs we answer, CLOSE, or the listener."""
        cdef int op = frame.msg_type
        if op <= WSMsgType.BINARY and engine.pong_wait == PONG_NONE:
            # The hot path: the listener call inline.
            try:
                if self._py_on_frame is not None:
                    self._py_on_frame(self.transport, frame)
                else:
                    self.listener.on_ws_frame(self.transport, frame)
            except Exception as exc:
                self._callback_failed(exc, "on_ws_frame")
        elif engine.pong_wait != PONG_NONE and self._is_pong(frame):
            self._pong_received()
        elif op <= WSMsgType.BINARY:
            _call_on_frame(self, frame)
        elif op == WSMsgType.PING and self._enable_auto_pong:
            self.transport._auto_pong(frame.payload_ptr, frame.payload_size)
        elif op == WSMsgType.CLOSE:
            self._on_close_frame(frame)
        else:
            _call_on_frame(self, frame)
        frame.payload_ptr = _NO_PAYLOAD
        frame.payload_size = 0
        return 0

    cdef int on_fail(self, WSEngine engine, int kind, int code, bytes reason) except -1:
        """The one way this driver ends a connection early, whatever the
        cause (a protocol error found by the engine, a callback that raised,
        a failed or late handshake, a PING left unanswered, a peer that
        floods a closing connection): the engine has stopped reading; send
        our CLOSE when the connection is upgraded and `code` is not 1006,
        then close: abort after a timeout, a client's failed handshake and
        a flood, else the graceful close (the server shuts down its side
        first, a client waits for the server's EOF)."""
        cdef WSTransport transport = self.transport
        self._cancel_timers()
        if transport is None:
            return 1
        if kind == ERR_HANDSHAKE_TIMEOUT:
            self._logger.info("no complete upgrade request within %ss, disconnecting",
                              self._handshake_timeout)
        elif kind == ERR_PING_TIMEOUT:
            self._logger.info("no PONG within %.3gs of a PING, closing the connection as stale",
                              engine.ping_timeout)
        elif kind <= ERR_INFLATE or kind == ERR_NO_MEMORY:
            message = reason.decode("utf-8", "replace")
            self._logger.info("protocol error, closing with %d: %s", code, message)
            if transport._exception is None:
                transport._exception = WSProtocolError(code, message)
        if code != CLOSE_ABNORMAL and engine.state != ENGINE_CONNECTING:
            transport.send_close(code, reason[:MAX_CLOSE_REASON])
        if kind == ERR_HANDSHAKE_TIMEOUT or kind == ERR_PING_TIMEOUT or \
                kind == ERR_CLOSE_DRAIN or (kind == ERR_HANDSHAKE and self._is_client):
            transport.disconnect(False)
        else:
            transport._linger(not self._is_client)
        self._arm_timer()
        return 1

    def _is_pong(self, WSFrame frame):
        try:
            return self.listener.is_user_specific_pong(frame)
        except Exception as exc:
            self._callback_failed(exc, "is_user_specific_pong")
            return False

    cdef int _on_close_frame(self, WSFrame frame) except -1:
        cdef WSTransport transport = self.transport
        code = frame.get_close_code()
        reason = frame.get_close_reason()
        transport._set_close_received(code, reason or "")
        _call_on_frame(self, frame)
        if not transport.is_close_frame_sent:
            # Echo the peer's code (RFC 6455 5.5.1), or an empty CLOSE for an empty one.
            transport.send_close(code)
        transport._linger(not self._is_client)
        return 0

    cdef int _compact(self, bint filled) except -1:
        """Make room for the rest of a partial frame; grow after a read
        that filled the buffer; reset or shrink an empty buffer."""
        cdef MemoryBuffer buf = self._rbuf
        cdef Py_ssize_t unread = self._wpos - self._rpos
        cdef Py_ssize_t target
        cdef Py_ssize_t grow = 0
        if filled:
            self._calm_reads = 0
            if buf.capacity < READ_GROW_LIMIT:
                grow = min(buf.capacity * 2, <Py_ssize_t>READ_GROW_LIMIT)
        if buf.capacity > READ_GROW_LIMIT:
            self._large_buffer_used()
        if unread == 0:
            self._rpos = self._wpos = 0
            if filled:
                if grow:
                    buf.reserve(grow, 0, READ_GROW_LIMIT)
            elif buf.capacity > self._init_size:
                self._calm_reads += 1
                if self._calm_reads >= SHRINK_AFTER_CALM_READS:
                    buf.shrink(self._init_size)
                    self._calm_reads = 0
            return 0
        target = self._engine.parser.need if self._engine.state != ENGINE_CONNECTING else 0
        if target <= unread:
            target = unread + 1
        if target < grow:
            target = grow
        if target > self._init_size:
            self._calm_reads = 0
        if self._rpos + target <= buf.capacity and self._wpos < buf.capacity:
            return 0
        if self._rpos > 0:
            memmove(buf.data, buf.data + self._rpos, unread)
            self._rpos = 0
            self._wpos = unread
        if target > buf.capacity:
            try:
                buf.reserve(target, unread, READ_GROW_LIMIT)
            except MemoryError:
                # A length the parser accepts (max_frame_size allows it) but
                # this process cannot hold: the frame is too big after all.
                self._rpos = self._wpos = 0
                self._engine.fail_with(
                    ERR_NO_MEMORY, WSCloseCode.MESSAGE_TOO_BIG,
                    f"Received frame with payload size exceeding max allowed size "
                    f"(no memory for a frame of {target} bytes)".encode())
        return 0

    cdef int _large_buffer_used(self) except -1:
        self._large_used = True
        if self._release_timer is None and not self._engine.discarding:
            self._release_timer = self._loop.call_later(IDLE_RELEASE_SECONDS,
                                                        self._release_idle_buffers)
        return 0

    def _note_large_buffer(self):
        """The transport used a send buffer larger than 256 KiB."""
        self._large_buffer_used()

    def _release_idle_buffers(self):
        """Timer: give large buffers back once a whole period went by
        without one being used (see READ_GROW_LIMIT)."""
        cdef MemoryBuffer buf = self._rbuf
        cdef Py_ssize_t unread, keep
        self._release_timer = None
        if self._engine.discarding:
            return                  # closing: everything goes with the connection
        if self._large_used:
            self._large_used = False
            self._release_timer = self._loop.call_later(IDLE_RELEASE_SECONDS,
                                                        self._release_idle_buffers)
            return
        unread = self._wpos - self._rpos
        keep = self._engine.parser.need if self._engine.state != ENGINE_CONNECTING else 0
        if keep <= unread:
            keep = unread + 1
        if buf.capacity > READ_GROW_LIMIT and keep <= READ_GROW_LIMIT:
            # Only the start of a frame that fits the usual buffer is left.
            memmove(buf.data, buf.data + self._rpos, unread)
            self._rpos = 0
            self._wpos = unread
            buf.shrink(max(keep, self._init_size))
            self._calm_reads = 0
        if self._engine.inflater is not None:
            self._engine.inflater.release_output()
        if self.transport is not None:
            self.transport._release_idle()

    def _held_buffer_sizes(self):
        """Test hook: bytes allocated now for the read buffer, the inflater's
        and the deflater's output buffers (0 without them), the client's
        masking buffer and the lent buffer (0 without one)."""
        cdef WSTransport tr = self.transport
        if tr is None:
            return (self._rbuf.capacity, 0, 0, 0, 0)
        return (self._rbuf.capacity,
                self._engine.inflater.out.capacity if self._engine.inflater is not None else 0,
                (<Deflater>tr._deflater).out.capacity if tr._deflater is not None else 0,
                tr._wbuf.capacity, len(tr._lent) if tr._lent is not None else 0)

    # -- failures ------------------------------------------------------------

    cdef int _callback_failed(self, exc, str where) except -1:
        cdef WSTransport transport = self.transport
        if not self._disconnect_on_exception and where != "on_ws_connected":
            self._logger.exception("exception in %s (disconnect_on_exception is off)", where)
            return 0
        code = exc.code if isinstance(exc, WSProtocolError) else WSCloseCode.INTERNAL_ERROR
        if self._is_client:
            self._logger.warning("exception in %s, disconnecting: %r", where, exc)
            if transport._exception is None:
                transport._exception = exc
        else:
            self._logger.error("exception in %s, disconnecting", where, exc_info=exc)
        self._engine.fail_with(ERR_CALLBACK, code,
                               (str(exc) if isinstance(exc, WSProtocolError) else "").encode())
        return 0

    # -- handshake: the engine's steps, picows' policy ----------------------

    cdef int _handshake_data(self) except -1:
        """CONNECTING: the engine looks for the head in the read buffer (and
        parses the frames right behind it once OPEN)."""
        self._rpos += self._engine.handshake_feed(self._rbuf.data + self._rpos,
                                                 self._wpos - self._rpos)
        if self._wpos == self._rbuf.capacity and self._engine.state == ENGINE_CONNECTING \
                and not self._engine.discarding and self._pending_factory is None:
            # Still waiting (a client's error body, up to MAX_BODY_BYTES)
            # with the buffer full: double it.  _compact's growth stops at
            # READ_GROW_LIMIT and then offers one byte more per read.
            self._rbuf.reserve(2 * self._rbuf.capacity, self._wpos)
        if self._pending_factory is not None and not self._factory_paused and \
                self._wpos - self._rpos > MAX_HEADER_BYTES:
            # An async listener factory runs: keep reading (so a client that
            # leaves is noticed) but not without bound.
            self._factory_paused = True
            self.transport.underlying_transport.pause_reading()
        return 0

    @property
    def _head_scan_bytes(self):
        """Test hook: bytes searched for the end of the head (no rescans)."""
        return self._engine.head_scan_bytes

    cdef int on_output(self, WSEngine engine, const char* data, Py_ssize_t size) except -1:
        """The engine's handshake bytes: our request, or the server's answer."""
        self.transport.underlying_transport.write(PyBytes_FromStringAndSize(data, size))
        return 1

    cdef int on_handshake(self, WSEngine engine, bytes head, bytes body) except -1:
        """The head is complete (None: it cannot be one, see the engine)."""
        if not self._is_client:
            self._server_request(head)
            return 0
        try:
            response, subprotocol = engine.client_response(head, body)  # OPEN, or raises
            listener = self._listener_factory(self._request, response)
            self._upgraded_to(listener, self._request, response, subprotocol)
        except Exception as exc:
            if not self._upgrade_future.done():
                self._upgrade_future.set_exception(exc)
            if not engine.discarding:
                engine.fail_with(ERR_HANDSHAKE, CLOSE_ABNORMAL, str(exc).encode())
            return 0
        self._upgrade_future.set_result(listener)
        self._connected()
        return 0

    def _server_request(self, bytes head):
        try:
            request = self._engine.server_request(head)     # answered and failed, or raises
        except Exception as exc:
            self._logger.info("bad upgrade request: %s", exc)
            return
        underlying = self.transport.underlying_transport
        request.peername = underlying.get_extra_info("peername")
        request.sockname = underlying.get_extra_info("sockname")
        try:
            result = self._listener_factory(request)
        except Exception:
            self._logger.exception("exception in the listener factory")
            self._reject()
            return
        if inspect.isawaitable(result):
            # An async factory (an extension over picows: it may look up a
            # session, say).  Frames the peer sends meanwhile wait in the
            # buffer (bounded, see _handshake_data); the handshake deadline holds.
            self._pending_factory = asyncio.ensure_future(result, loop=self._loop)
            self._pending_factory.add_done_callback(
                lambda fut: self._factory_done(request, fut))
            return
        self._server_decided(request, result)

    def _factory_done(self, request, fut):
        self._pending_factory = None
        if self._engine.discarding or fut.cancelled():
            return
        try:
            result = fut.result()
        except Exception as exc:
            self._logger.error("exception in the listener factory", exc_info=exc)
            self._reject()
            return
        self._server_decided(request, result)
        if self._engine.state != ENGINE_CONNECTING and not self._engine.discarding and \
                self._rpos < self._wpos:
            self._feed()
        if self._engine.discarding:
            return
        self._compact(False)
        if self._factory_paused:
            self._factory_paused = False
            self.transport.underlying_transport.resume_reading()

    def _server_decided(self, request, result):
        if result is None:
            self._reject(WSUpgradeResponse.create_error_response(404, b"not found\n"))
            return
        if isinstance(result, WSUpgradeResponseWithListener):
            response, listener = result.response, result.listener
            if response.status != 101:
                self._reject(response)
                return
        else:
            response, listener = WSUpgradeResponse.create_101_response(), result
        if not isinstance(listener, WSListener):
            self._logger.error("the listener factory must return a WSListener, "
                               "WSUpgradeResponseWithListener or None, got %r", listener)
            self._reject()
            return
        try:
            subprotocol = self._engine.server_accept(request, response, self._compression,
                                                     self._subprotocols)   # 101 sent, OPEN
        except HandshakeRejected as rejected:
            self._logger.info("bad upgrade request: %s", rejected)
            return
        except ValueError as exc:       # a header set after the response was built
            self._logger.error("invalid upgrade response: %s", exc)
            return
        self._upgraded_to(listener, request, response, subprotocol)
        self._connected()

    def _reject(self, response=None):
        """Answer a request we will not upgrade (None: a 500), then close."""
        if response is None:
            response = WSUpgradeResponse.create_error_response(500, b"internal error\n")
        try:
            self._engine.server_reject(response)
        except ValueError as exc:       # a header set after the response was built
            self._logger.error("invalid error response: %s", exc)

    cdef int _upgraded_to(self, listener, request, response, subprotocol) except -1:
        """The engine is OPEN: the listener, the transport's view and its Deflater."""
        cdef WSTransport transport = self.transport
        compression = self._engine.compression
        if not isinstance(listener, WSListener):
            raise TypeError(f"the listener factory must return a WSListener, got {listener!r}")
        self.listener = <WSListener>listener
        # A Python override is called through one cached bound method; a
        # Cython (cpdef) listener through its vtable.
        on_frame = getattr(type(listener), "on_ws_frame")
        self._py_on_frame = listener.on_ws_frame \
            if isinstance(on_frame, types.FunctionType) else None
        transport.request = request
        transport.response = response
        transport.subprotocol = subprotocol
        transport.compression = compression
        if compression is not None:
            # We write with the window agreed for us (the engine reads with
            # the peer's).  zlib cannot write a raw 8-bit window (it would use
            # 9), so with an agreed 8 we send uncompressed, which RFC 7692
            # always allows.
            bits = compression.send_window_bits(self._is_client)
            if bits >= 9:
                transport._deflater = Deflater(bits, compression.send_resets(self._is_client),
                                               compression.level, compression.mem_level)
                transport._compress_min = compression.min_size
        return 0

    def _connected(self):
        try:
            self.listener.on_ws_connected(self.transport)
        except Exception as exc:
            self._callback_failed(exc, "on_ws_connected")
            return
        if self._auto_ping:
            self._engine.last_read = self._engine.ping_sent_at = _now()
        self._arm_timer()           # the handshake's deadline is over; PINGs start

    # -- liveness: one timer at the engine's next deadline ------------------

    def _cancel_timers(self):
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    cdef int _arm_timer(self) except -1:
        """(Re)arm the timer for engine.next_deadline() (none: cancel it)."""
        cdef double due = self._engine.next_deadline()
        if self._timer is not None:
            if due == self._timer_due:
                return 0
            self._timer.cancel()
            self._timer = None
        if due > 0:
            self._timer_due = due
            self._timer = self._loop.call_at(due, self._on_timer)
        return 0

    def _on_timer(self):
        cdef WSEngine engine = self._engine
        cdef double now = _now()
        cdef int action
        self._timer = None
        # An event loop may run a timer a clock tick early: it is due.
        if now < self._timer_due:
            now = self._timer_due
        action = engine.on_deadline(now)
        if action == DL_PING:
            try:
                self.listener.send_user_specific_ping(self.transport)
            except Exception as exc:
                self._callback_failed(exc, "send_user_specific_ping")
        elif action == DL_CLOSE_TIMEOUT:
            self.transport._on_close_timeout()
        if self.transport is not None and not self.transport.is_disconnected:
            self._arm_timer()

    def _set_close_deadline(self, double delay):
        """The transport: the peer must finish closing within `delay`
        seconds (< 0: no deadline)."""
        self._engine.close_deadline = _now() + delay if delay >= 0 else 0
        self._arm_timer()

    def _pong_received(self):
        if not self._engine.pong_received():
            return
        if self._rtt_future is not None and not self._rtt_future.done():
            self._rtt_future.set_result(_now())
        self._arm_timer()

    async def _measure_roundtrip_time(self, int rounds):
        cdef WSEngine engine = self._engine
        cdef list times = []
        cdef double t0
        engine.pings_held = True           # no liveness PING between the rounds
        try:
            if engine.pong_wait == PONG_AUTO:
                # A liveness PING is in flight: let its PONG (or its reply
                # deadline) come first, so no round takes the other's answer.
                self._rtt_future = self._loop.create_future()
                await self._rtt_future
            for _ in range(rounds):
                self._rtt_future = self._loop.create_future()
                engine.pong_wait = PONG_USER
                t0 = _now()
                self.listener.send_user_specific_ping(self.transport)
                times.append(await self._rtt_future - t0)
        finally:
            self._rtt_future = None
            engine.pings_held = False
            if engine.pong_wait == PONG_USER:
                engine.pong_wait = PONG_NONE
            if self._auto_ping and not engine.discarding:
                engine.last_read = engine.ping_sent_at = _now()
                self._arm_timer()
        return times


class WSProtocol(WSProtocolCore, asyncio.BufferedProtocol):
    """WSProtocolCore registered as an asyncio.BufferedProtocol, which is
    how asyncio and uvloop decide to call get_buffer/buffer_updated."""
    __slots__ = ()
