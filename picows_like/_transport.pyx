"""WSTransport: every send path, the close state and wait_disconnected().

Sending writes the frame header in place (at most 14 bytes) and, on the
client, masks the payload while copying it.  While the asyncio transport's
own buffer is empty the frame goes straight to the socket with one
sendmsg() (header and payload as two iovecs on the server, so a large
payload is never copied); anything the socket does not take, and everything
on TLS or unknown transports, goes through transport.write().

Transports may keep references to what they are given (uvloop, TLS while
renegotiating, Python 3.12+), and the caller may reuse its buffer as soon as
send() returns, so nothing the caller can change is handed over: a large
`bytes` payload is queued by reference (the server does not mask, no copy);
a client's large frame that goes through transport.write() (TLS, or data
already queued) is masked straight into a lent bytearray, reused only while
no transport holds a reference to it (see _lend); what a direct send leaves
is copied into that lent buffer when large, into a new bytes object when
small.
"""
import asyncio
import os

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport (PyByteArray_AS_STRING, PyByteArray_GET_SIZE,
                                 PyByteArray_FromStringAndSize)
from cpython.memoryview cimport PyMemoryView_FromObject
from cpython.ref cimport Py_REFCNT
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t
from cpython.pythread cimport PyThread_get_thread_ident
from libc.string cimport memcpy

from ._enums cimport WSMsgType, WSCloseCode
from ._buffer cimport MemoryBuffer
from ._deflate cimport Deflater
from ._frame cimport close_code_to_py
# The header and masking-key rules live in the engine (inline: no call).
from ._engine cimport WSEngine, frame_header_size, next_mask_key, write_frame_header

from .exceptions import WSProtocolError


cdef extern from "ws_mask.h":
    void ws_mask_copy(char* dst, const char* src, size_t size, const uint8_t* key) nogil

cdef extern from "ws_net.h":
    long ws_send2(int fd, const char* p1, size_t n1, const char* p2, size_t n2) nogil
    int WS_HAVE_DIRECT_SEND

cdef extern from "ws_random.h":
    int ws_key_pool_init()

ws_key_pool_init()

# Transports whose socket we may write to directly while their buffer is empty.
# Frames at least this large are queued without an extra copy (see above);
# below it one small copy beats a second transport.write() call.
cdef Py_ssize_t ZERO_COPY_MIN = 16 * 1024

# Large writes reach the loop's TLS transport in pieces this large (see
# _write_view): below glibc's default mmap threshold (128 KiB), so the
# ciphertext buffers come from the heap, not from fresh pages.
cdef Py_ssize_t TLS_WRITE_CHUNK = 64 * 1024

# Send buffers larger than this (the client's masking buffer, the lent buffer,
# the deflater's output) are kept while they are in use and given back when
# the connection has been idle (the protocol's release timer, _release_idle).
cdef Py_ssize_t KEEP_WHEN_IDLE = 256 * 1024

# How long a graceful close waits for the peer's EOF when close_timeout is None.
cdef double LINGER_TIMEOUT = 5.0

cdef frozenset _DIRECT_TRANSPORTS = frozenset({
    "_SelectorSocketTransport",     # asyncio, plain TCP
    "TCPTransport",                 # uvloop
    "UnixTransport",                # uvloop
})


cdef int _wrong_thread(WSTransport self, str meth) except -1:
    raise RuntimeError(f"WSTransport.{meth} called from a wrong thread: transport thread "
                       f"id={self._thread_id}, current thread id={PyThread_get_thread_ident()}")


cdef class WSCloseInfo:
    """One side's CLOSE: `code` and `reason` (str, may be empty)."""
    def __init__(self, code, reason):
        self.code = code
        self.reason = reason

    def __repr__(self):
        return f"WSCloseInfo(code={self.code!r}, reason={self.reason!r})"


cdef class WSCloseHandshake:
    """What each side sent in the closing handshake (None: nothing yet)."""
    def __repr__(self):
        return (f"WSCloseHandshake(recv={self.recv!r}, sent={self.sent!r}, "
                f"recv_then_sent={self.recv_then_sent})")


cdef class WSTransport:
    """Sends frames on one WebSocket connection.  Send methods never block:
    what the socket cannot take now is queued by the asyncio transport."""

    def __init__(self, bint is_client_side, underlying_transport, logger, loop,
                 double close_timeout=5.0):
        self.is_client_side = is_client_side
        self.underlying_transport = underlying_transport
        self._logger = logger
        self._loop = loop
        self._thread_id = PyThread_get_thread_ident()
        self._close_timeout = close_timeout
        self._tr_write = underlying_transport.write
        self._tr_get_write_buffer_size = underlying_transport.get_write_buffer_size
        self.is_secure = underlying_transport.get_extra_info("sslcontext") is not None
        self._fd = -1
        if WS_HAVE_DIRECT_SEND and not self.is_secure and \
                type(underlying_transport).__name__ in _DIRECT_TRANSPORTS:
            sock = underlying_transport.get_extra_info("socket")
            if sock is not None:
                self._fd = sock.fileno()
        self._maybe_queued = True
        # aiofastnet's TLS writes straight from what it is given: no chunks.
        self._chunk_tls = self.is_secure and \
            not type(underlying_transport).__module__.startswith("aiofastnet")
        self._wbuf = MemoryBuffer(1024)
        self._pong_pending = -1
        self._disconnected_future = loop.create_future()

    # -- sending -------------------------------------------------------------

    cdef int send_reuse_external_buffer(self, WSMsgType msg_type, char* msg_ptr,
                                        size_t msg_size, bint fin=True, bint rsv1=False,
                                        bint rsv2=False, bint rsv3=False) except -1:
        """Send msg_ptr[0:msg_size] without copying it: the header is written
        into the 14 bytes before msg_ptr, which the caller must own.  On the
        client the payload is masked in place."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "send_reuse_external_buffer")
        if self.is_close_frame_sent or self._closing:
            return 0
        cdef uint8_t b0 = <uint8_t>msg_type | (0x80 if fin else 0) | (0x40 if rsv1 else 0) \
            | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
        cdef uint8_t key[4]
        cdef Py_ssize_t size = <Py_ssize_t>msg_size
        cdef Py_ssize_t hlen = frame_header_size(size, self.is_client_side)
        cdef char* start = msg_ptr - hlen
        if self.is_client_side:
            next_mask_key(key)
            write_frame_header(<uint8_t*>start, b0, size, key)
            ws_mask_copy(msg_ptr, msg_ptr, msg_size, key)
        else:
            write_frame_header(<uint8_t*>start, b0, size, NULL)
        self._write(start, hlen + size, NULL, 0)
        if msg_type == WSMsgType.CLOSE:
            self._after_close_sent(-1, None)
        return 0

    cpdef send(self, WSMsgType msg_type, message, bint fin=True, bint rsv1=False,
               bint rsv2=False, bint rsv3=False, compress=None):
        """Send one frame; `message` is bytes-like, str (sent as UTF-8) or None.
        The payload is copied (and masked on the client side).  With
        permessage-deflate negotiated, data messages of at least `min_size`
        bytes are compressed unless `compress=False` (`True` forces it);
        the choice made on a message's first frame holds for its fragments."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "send")
        if self.is_close_frame_sent or self._closing:
            return
        cdef uint8_t b0 = <uint8_t>msg_type | (0x80 if fin else 0) | (0x40 if rsv1 else 0) \
            | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
        cdef Py_buffer view
        cdef Py_ssize_t size
        cdef const char* ptr
        if type(message) is bytes:
            self._send_data(b0, PyBytes_AS_STRING(message), PyBytes_GET_SIZE(message), compress,
                            message)
        elif type(message) is bytearray:
            self._send_data(b0, PyByteArray_AS_STRING(message), PyByteArray_GET_SIZE(message),
                            compress)
        elif isinstance(message, str):
            ptr = PyUnicode_AsUTF8AndSize(message, &size)
            self._send_data(b0, ptr, size, compress)
        elif message is None:
            self._send_data(b0, NULL, 0, compress)
        else:
            PyObject_GetBuffer(message, &view, PyBUF_SIMPLE)
            try:
                self._send_data(b0, <const char*>view.buf, view.len, compress)
            finally:
                PyBuffer_Release(&view)
        if msg_type == WSMsgType.CLOSE:
            self._after_close_sent(-1, None)

    cdef int _send_data(self, uint8_t b0, const char* payload, Py_ssize_t size,
                        object compress, bytes owner=None) except -1:
        """Compress data frames when permessage-deflate says so, then send.
        `owner`: the bytes object that is exactly payload[:size], if any."""
        cdef int opcode = b0 & 0x0F
        if self._deflater is None or opcode > WSMsgType.BINARY:
            return self._send_frame(b0, payload, size, owner)
        if opcode != WSMsgType.CONTINUATION:
            self._compressing = size >= self._compress_min if compress is None \
                else bool(compress)
        if not self._compressing:
            return self._send_frame(b0, payload, size, owner)
        cdef Deflater deflater = <Deflater>self._deflater
        deflater.deflate(payload, size, (b0 & 0x80) != 0)
        if opcode != WSMsgType.CONTINUATION:
            b0 |= 0x40                      # RSV1 on the first frame only (RFC 7692 6.1)
        self._send_frame(b0, deflater.out.data, deflater.out_size)
        if deflater.out.capacity > KEEP_WHEN_IDLE and self._protocol is not None:
            self._protocol._note_large_buffer()     # given back when idle
        return 0

    cpdef send_reuse_external_bytearray(self, WSMsgType msg_type, bytearray buffer,
                                        Py_ssize_t msg_offset, bint fin=True,
                                        bint rsv1=False, bint rsv2=False, bint rsv3=False):
        """Send buffer[msg_offset:] writing the header into the bytes before
        it (msg_offset >= 14).  Client side: the payload is masked in place."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "send_reuse_external_bytearray")
        if msg_offset < MAX_FRAME_HEADER_SIZE:
            raise ValueError(f"msg_offset must be >= {MAX_FRAME_HEADER_SIZE} to leave room for "
                             f"the frame header, got {msg_offset}")
        cdef Py_ssize_t total = PyByteArray_GET_SIZE(buffer)
        if msg_offset > total:
            raise ValueError(f"msg_offset {msg_offset} is beyond the end of the buffer ({total})")
        if msg_type == WSMsgType.CLOSE:
            raise ValueError("use send_close() to send CLOSE frames")
        self.send_reuse_external_buffer(msg_type, PyByteArray_AS_STRING(buffer) + msg_offset,
                                        <size_t>(total - msg_offset), fin, rsv1, rsv2, rsv3)

    cpdef send_ping(self, message=None):
        """Send a PING (payload <= 125 bytes)."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "send_ping")
        self.send(WSMsgType.PING, message)

    cpdef send_pong(self, message=None):
        """Send a PONG (payload <= 125 bytes)."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "send_pong")
        self.send(WSMsgType.PONG, message)

    # Auto-pong under a PING flood: a peer that sends PINGs and never reads
    # would make us queue one PONG per PING without bound.  While the
    # transport's buffer is above its high-water mark (between pause_writing
    # and resume_writing) only the latest PING is remembered, and answered
    # when the buffer drains (RFC 6455 5.5.3 allows answering only the most
    # recent one), or just before our CLOSE.  What auto-pong queues is thus
    # bounded by the high-water mark plus one PONG, whatever the peer sends.

    cdef int _auto_pong(self, const char* payload, Py_ssize_t size) except -1:
        if self.is_close_frame_sent or self._closing:
            return 0                        # nothing may follow our CLOSE
        if size > 125:
            raise ValueError("control frame payloads are limited to 125 bytes")
        if self._write_paused:
            memcpy(self._pong_payload, payload, size)
            self._pong_pending = size
            return 0
        return self._send_frame(FIN_PONG_BYTE, payload, size)

    cdef int _writing_resumed(self) except -1:
        cdef Py_ssize_t size = self._pong_pending
        self._write_paused = False
        if size >= 0:
            self._pong_pending = -1
            self._auto_pong(self._pong_payload, size)
        return 0

    cpdef send_close(self, close_code=WSCloseCode.NO_INFO, close_message=None):
        """Send a CLOSE with an optional code and message, once.  Does not
        disconnect: the connection closes when the peer answers (and then
        closes its side), or after the close timeout."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "send_close")
        if self.is_close_frame_sent or self._closing or self.is_disconnected:
            return
        cdef int code = int(close_code)
        cdef bytes payload = b""
        if isinstance(close_message, str):
            close_message = (<str>close_message).encode()
        if code != 0:
            payload = code.to_bytes(2, "big") + (bytes(close_message) if close_message else b"")
            if len(payload) > 125:
                raise ValueError("close_message must be at most 123 bytes")
        elif close_message:
            raise ValueError("close_message requires a close_code")
        cdef Py_ssize_t pong_size = self._pong_pending
        if pong_size >= 0:                  # the PING it answers came before this CLOSE
            self._pong_pending = -1
            self._send_frame(FIN_PONG_BYTE, self._pong_payload, pong_size)
        self._send_frame(FIN_CLOSE_BYTE, PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
        self._after_close_sent(code, payload[2:].decode("utf-8", "replace"))

    cdef int _send_frame(self, uint8_t b0, const char* payload, Py_ssize_t size,
                         bytes owner=None) except -1:
        """Send one frame.  `owner`: the immutable bytes object that is
        exactly payload[:size] (None if the payload lives in a reusable or
        mutable buffer)."""
        cdef uint8_t key[4]
        cdef Py_ssize_t hlen = frame_header_size(size, self.is_client_side)
        cdef char hdr[MAX_FRAME_HEADER_SIZE]
        cdef char* p
        if (b0 & 0x08) and size > 125:
            raise ValueError("control frame payloads are limited to 125 bytes")
        if self.is_client_side:
            next_mask_key(key)
            if size >= ZERO_COPY_MIN and not self._direct_ok():
                # It goes through transport.write(): mask straight into the
                # lent buffer (a direct send uses the reused buffer below).
                p = self._lend(hlen + size)
                write_frame_header(<uint8_t*>p, b0, size, key)
                ws_mask_copy(p + hlen, payload, <size_t>size, key)
                self._maybe_queued = True
                return self._write_lent(hlen + size)
            # Header and masked payload side by side in the reused write buffer.
            self._wbuf.reserve(hlen + size, 0)
            p = self._wbuf.data
            write_frame_header(<uint8_t*>p, b0, size, key)
            ws_mask_copy(p + hlen, payload, <size_t>size, key)
            self._write(p, hlen + size, NULL, 0)
            if self._wbuf.capacity > KEEP_WHEN_IDLE and self._protocol is not None:
                self._protocol._note_large_buffer()
        else:
            write_frame_header(<uint8_t*>hdr, b0, size, NULL)
            if owner is not None and size >= ZERO_COPY_MIN:
                self._write_by_ref(hdr, hlen, owner)
            else:
                self._write(hdr, hlen, payload, size)
        return 0

    cdef bint _direct_ok(self) except -1:
        if self._fd < 0:
            return False
        if self._maybe_queued:
            if self._tr_get_write_buffer_size() != 0:
                return False
            self._maybe_queued = False
        return True

    cdef int _write(self, const char* p1, Py_ssize_t n1, const char* p2, Py_ssize_t n2) except -1:
        """Write p1[:n1] + p2[:n2], directly when nothing is queued; what is
        left is queued as one bytes copy (the buffers may be reused)."""
        cdef long sent = 0
        cdef bytes rest
        cdef char* r
        if self._direct_ok():
            sent = ws_send2(self._fd, p1, <size_t>n1, p2, <size_t>n2)
            if sent == n1 + n2:
                return 0
            if sent < 0:
                sent = 0      # let the transport hit the error and report it
        cdef Py_ssize_t left = n1 + n2 - sent
        rest = None
        if left >= ZERO_COPY_MIN:
            r = self._lend(left)
        else:
            rest = PyBytes_FromStringAndSize(NULL, left)
            r = PyBytes_AS_STRING(rest)
        if sent < n1:
            memcpy(r, p1 + sent, n1 - sent)
            if n2:
                memcpy(r + n1 - sent, p2, n2)
        else:
            memcpy(r, p2 + (sent - n1), n1 + n2 - sent)
        self._maybe_queued = True
        if rest is None:
            return self._write_lent(left)
        self._tr_write(rest)
        return 0

    cdef char* _lend(self, Py_ssize_t n) except NULL:
        """A buffer of at least n bytes for _write_lent().

        Large frames that must go through transport.write() (TLS, aiofastnet,
        data already queued) used to be copied into a new bytes object each
        time; for sizes past malloc's mmap threshold every such buffer is
        fresh pages from the kernel (page faults, zeroing), which cost more
        than the copy itself.  So one bytearray is reused while no transport
        keeps a reference to it."""
        cdef bytearray buf = self._lent
        if buf is None or PyByteArray_GET_SIZE(buf) < n:
            buf = PyByteArray_FromStringAndSize(NULL, n)
            self._lent = buf
        if n > KEEP_WHEN_IDLE and self._protocol is not None:
            self._protocol._note_large_buffer()
        return PyByteArray_AS_STRING(buf)

    cdef int _release_idle(self) except -1:
        """The connection is idle: give large send buffers back."""
        if self._wbuf.capacity > KEEP_WHEN_IDLE:
            self._wbuf.shrink(1024)
        if self._lent is not None and PyByteArray_GET_SIZE(self._lent) > KEEP_WHEN_IDLE:
            self._lent = None
        if self._deflater is not None:
            (<Deflater>self._deflater).release_output()
        return 0

    cdef int _write_lent(self, Py_ssize_t n) except -1:
        """transport.write() the first n bytes of the lent buffer.  Most
        transports consume what they can and copy the rest (asyncio <= 3.11,
        asyncio's TLS while it is not renegotiating); a transport that keeps
        the view (uvloop, Python 3.12+ queues) keeps the bytearray alive, and
        then the buffer is given up, never written again."""
        cdef bytearray buf = self._lent
        view = PyMemoryView_FromObject(buf)
        if PyByteArray_GET_SIZE(buf) != n:
            view = view[:n]
        self._write_view(view, n)
        view = None
        if Py_REFCNT(buf) > 2:          # self._lent and `buf` are ours
            self._lent = None
        return 0

    cdef int _write_view(self, object view, Py_ssize_t n) except -1:
        """transport.write(view) (n bytes); to the loop's TLS transport in
        TLS_WRITE_CHUNK pieces: it encrypts each write() into a memory BIO
        and takes it out as one new bytes object, so a 1 MiB write means
        fresh 1 MiB buffers (page faults) on every send.  Measured on a
        1 MiB TLS echo: ~+15% round trips on asyncio and uvloop."""
        cdef Py_ssize_t pos = 0
        if not self._chunk_tls or n <= TLS_WRITE_CHUNK:
            self._tr_write(view)
            return 0
        if type(view) is not memoryview:
            view = memoryview(view)         # slices of it are views, not copies
        while pos < n:
            self._tr_write(view[pos:pos + TLS_WRITE_CHUNK])
            pos += TLS_WRITE_CHUNK
        return 0

    cdef int _write_by_ref(self, const char* hdr, Py_ssize_t hlen, bytes payload) except -1:
        """Write hdr[:hlen] + payload; the part of `payload` that must be
        queued is queued by reference (bytes are immutable), not copied."""
        cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
        cdef long sent = 0
        if self._direct_ok():
            sent = ws_send2(self._fd, hdr, <size_t>hlen, PyBytes_AS_STRING(payload), <size_t>n)
            if sent == hlen + n:
                return 0
            if sent < 0:
                sent = 0
        self._maybe_queued = True
        if sent < hlen:
            self._tr_write(PyBytes_FromStringAndSize(hdr + sent, hlen - sent))
            self._write_view(payload, n)
        else:
            self._write_view(memoryview(payload)[sent - hlen:], hlen + n - sent)
        return 0

    # -- closing ---------------------------------------------------------------
    #
    # Closing a socket that still has unread input makes the kernel send RST
    # instead of FIN, and a peer whose stack drops buffered data on RST can
    # then lose our CLOSE frame (and everything before it).  So a graceful
    # close "lingers": it shuts down our write side (FIN after all queued
    # data), keeps reading and discarding input until the peer's EOF, and
    # only then closes the socket.  RFC 6455 7.1.1: the server closes the
    # TCP connection first; a client waits for the server to do it.  The
    # linger is bounded by close_timeout (LINGER_TIMEOUT when that is None)
    # and by the protocol's CLOSE_DRAIN_MAX_BYTES; past either, we abort.

    cdef int _after_close_sent(self, int code, str reason) except -1:
        # is_close_frame_sent mirrors the engine's state for picows' API
        # (a C field users' compiled code reads).
        cdef WSEngine engine = self._engine
        cdef bint close_received = engine is not None and engine.close_rcvd_code >= 0
        self.is_close_frame_sent = True
        if engine is not None:                  # OPEN -> CLOSING, the CLOSE recorded
            engine.set_closing(code if code > 0 else 1005 if code == 0 else -1,
                               reason.encode() if reason else b"")
        if self.close_handshake is None:
            self.close_handshake = WSCloseHandshake()
        if code >= 0:
            self.close_handshake.sent = WSCloseInfo(close_code_to_py(code), reason)
        if close_received:
            self.close_handshake.recv_then_sent = True
        elif self._close_timeout >= 0 and not self.is_disconnected and not self._closing:
            self._set_close_deadline(self._close_timeout)
        return 0

    cdef int _set_close_deadline(self, double delay) except -1:
        # The connection's one timer (the protocol's, at the engine's
        # deadlines) ends a close that takes too long: _on_close_timeout.
        if self._protocol is not None:
            self._protocol._set_close_deadline(delay)
        return 0

    def _on_close_timeout(self):
        if self.is_disconnected:
            return
        if self._closing:
            self._logger.info("the peer did not close the connection within %.3gs "
                              "after the closing handshake, aborting", self._linger_timeout())
        else:
            self._logger.info("no CLOSE from the peer within %.3gs, disconnecting",
                              self._close_timeout)
        self.disconnect(False)

    cdef double _linger_timeout(self):
        return self._close_timeout if self._close_timeout >= 0 else LINGER_TIMEOUT

    cdef int _set_close_received(self, object code, str reason) except -1:
        if self.close_handshake is None:
            self.close_handshake = WSCloseHandshake()
            # As picows: received first (whether or not we answer).
            self.close_handshake.recv_then_sent = True
        self.close_handshake.recv = WSCloseInfo(code, reason)
        return 0

    cpdef disconnect(self, bint graceful=True):
        """Close the connection.  graceful=True: queued data is sent, then
        our side is shut down (FIN) and input is read and discarded until
        the peer closes its side, at most close_timeout seconds (so the
        peer reliably gets everything we sent, CLOSE included); then the
        socket is closed.  graceful=False aborts at once.  Safe to call
        more than once."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "disconnect")
        if self.is_disconnected:
            return
        if not graceful:
            self._closing = True
            self._set_close_deadline(-1)
            self.underlying_transport.abort()
            return
        self._linger(True)

    cdef int _linger(self, bint shut_write) except -1:
        """Start a graceful close (see above).  shut_write=False (a client
        ending the closing handshake): keep our side open and wait for the
        server to close first."""
        if self.is_disconnected:
            return 0
        if self._closing:
            if shut_write and not self._write_shut:
                self._shut_write()
            return 0
        self._closing = True
        if self._protocol is not None:
            self._protocol._halt_reading()
        if shut_write:
            self._shut_write()
        self._set_close_deadline(self._linger_timeout())
        return 0

    cdef int _shut_write(self) except -1:
        """FIN after the queued data where the transport can half-close.
        TLS cannot: there close() sends close_notify and asyncio/uvloop keep
        reading until the peer's close_notify (or ssl_shutdown_timeout)."""
        tr = self.underlying_transport
        self._write_shut = True
        try:
            if tr.can_write_eof():
                tr.write_eof()
                return 0
        except (AttributeError, NotImplementedError, RuntimeError, OSError):
            pass
        tr.close()
        return 0

    cdef int _connection_lost(self) except -1:
        self.is_disconnected = True
        self._closing = True
        return 0

    async def wait_disconnected(self):
        """Wait until the connection is closed and on_ws_disconnected has run.
        Re-raises a local failure that caused the disconnect (a callback's
        exception or a protocol violation); peer-initiated closes do not raise."""
        await asyncio.shield(self._disconnected_future)
        if self._exception is not None:
            raise self._exception

    # -- liveness (implemented by the protocol) -----------------------------

    cpdef notify_user_specific_pong_received(self):
        """Tell the auto-ping logic a user-specific pong arrived (no-op if
        none is expected)."""
        if PyThread_get_thread_ident() != self._thread_id:
            _wrong_thread(self, "notify_user_specific_pong_received")
        if self._protocol is not None:
            self._protocol._pong_received()

    async def measure_roundtrip_time(self, int rounds):
        """Ping the peer `rounds` times (through the listener's
        send_user_specific_ping / is_user_specific_pong hooks) and return
        the round-trip times in seconds."""
        if rounds <= 0:
            raise ValueError("rounds must be > 0")
        if self._protocol is None:
            raise RuntimeError("transport is not connected")
        return await self._protocol._measure_roundtrip_time(rounds)

    def __repr__(self):
        return (f"<WSTransport {'client' if self.is_client_side else 'server'}"
                f"{' disconnected' if self.is_disconnected else ''}>")
