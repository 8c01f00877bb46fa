"""The sans-I/O WebSocket engine: one connection's rules (RFC 6455, 7692),
with no socket, no event loop and no timer inside.

Data flows one way:

    receive_data(bytes) / feed(char*, n) -> [opening handshake head]
        -> FrameParser (framing, masking, size) -> rules (fragmentation,
        close handshake, UTF-8, inflate) -> sink.on_frame(WSFrame view)
    send_* -> header + [deflate] + mask -> out buffer or sink.on_output()

One way to end a connection: fail_with(kind, code, reason).  The engine
never decides when to drop the socket: a driver reads `state`,
`eof_sent` (half-close) and close_expected(); or its sink's on_fail()
takes the closing over (the asyncio driver sends its CLOSE through
WSTransport and closes the socket itself).

Liveness is deadlines, not timers: the engine says when something is due
(next_deadline(): the opening handshake's end, the next liveness PING, a
PING's reply) and what to do when the driver's one timer fires
(on_deadline(now): send a PING, or fail with HANDSHAKE_TIMEOUT /
PING_TIMEOUT).  The driver supplies the clock.

Two drivers, two sets of rules: the websockets facade keeps websockets'
(a limit per message, its error wording, CLOSE and PING answered here);
the asyncio driver sets parser_reasons (the parser's codes and picows'
wording), auto_close and auto_pong off (it answers CLOSE and PING itself)
and a limit per frame (max_fragment_size).
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.list cimport PyList_Append
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy, memmove

import os

from .exceptions import WSInvalidMessageError

from ._buffer cimport MemoryBuffer
from ._deflate cimport Deflater, Inflater
from ._enums cimport WSMsgType
from ._frame cimport WSFrame
from ._parser cimport (FrameParser, close_code_allowed, complete_frame_size,
                       CLOSE_PROTOCOL_ERROR, CLOSE_INVALID_DATA, CLOSE_MESSAGE_TOO_BIG)


cdef extern from "ws_utf8.h":
    void ws_utf8_reset(ws_utf8_state* st) nogil
    int ws_utf8_feed(ws_utf8_state* st, const char* data, size_t size) nogil

cdef extern from "ws_mask.h":
    void ws_mask_copy(char* dst, const char* src, size_t size, const uint8_t* key) nogil

cdef extern from "ws_random.h":
    int ws_key_pool_init()

cdef extern from "string.h":
    void* memmem(const void* haystack, size_t hlen, const void* needle, size_t nlen) nogil

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    ctypedef struct PyTypeObject:
        object (*tp_new)(PyTypeObject*, object, object)
    int PyObject_GenericSetAttr(object obj, object name, object value) except -1
    void PyObject_GC_UnTrack(object obj)

ws_key_pool_init()

# RFC 6455 opcodes and limits, named.
cdef enum:
    OP_CONT = 0x0
    OP_TEXT = 0x1
    OP_BINARY = 0x2
    OP_CLOSE = 0x8
    OP_PING = 0x9
    OP_PONG = 0xA
    MAX_CONTROL_PAYLOAD = 125
    MAX_HEADER_SIZE = 14          # 2 + 8 (64-bit length) + 4 (mask key)
    CLOSE_GOING_AWAY = 1001
    CLOSE_NO_STATUS = 1005
    CLOSE_ABNORMAL = 1006
    RSV1 = 0x40
    RSV_BITS = 0x70
    IN_INIT = 64 * 1024
    OUT_INIT = 4 * 1024
    OUT_KEEP = 256 * 1024        # larger output buffers are given back when little is sent

# Bounds of the opening handshake (as handshake.py): the head, and the body
# of a non-101 answer that a client reads.
from .handshake import (MAX_BODY_BYTES, MAX_HEADER_BYTES, HandshakeRejected, WSUpgradeResponse,
                        build_request, content_length, make_key, negotiate, parse_request,
                        parse_response, validate_request, validate_response)

# Python names for the C enums (tests, the facade, drivers written in Python).
CONNECTING, OPEN, CLOSING, CLOSED = (ENGINE_CONNECTING, ENGINE_OPEN, ENGINE_CLOSING,
                                     ENGINE_CLOSED)
SERVER, CLIENT = ROLE_SERVER, ROLE_CLIENT
ERRORS = {
    "BAD_OPCODE": ERR_BAD_OPCODE, "BAD_MASK": ERR_BAD_MASK, "RSV": ERR_RSV,
    "CONTROL_TOO_LONG": ERR_CONTROL_TOO_LONG, "CONTROL_FRAGMENTED": ERR_CONTROL_FRAGMENTED,
    "UNEXPECTED_CONT": ERR_UNEXPECTED_CONT, "EXPECTED_CONT": ERR_EXPECTED_CONT,
    "TOO_BIG": ERR_TOO_BIG, "CLOSE_TOO_SHORT": ERR_CLOSE_TOO_SHORT,
    "CLOSE_CODE": ERR_CLOSE_CODE, "CLOSE_UTF8": ERR_CLOSE_UTF8, "TEXT_UTF8": ERR_TEXT_UTF8,
    "CLOSE_IN_MESSAGE": ERR_CLOSE_IN_MESSAGE, "BAD_LENGTH": ERR_BAD_LENGTH,
    "INFLATE": ERR_INFLATE, "EOF": ERR_EOF, "HANDSHAKE": ERR_HANDSHAKE, "USER": ERR_USER,
    "CALLBACK": ERR_CALLBACK, "HANDSHAKE_TIMEOUT": ERR_HANDSHAKE_TIMEOUT,
    "PING_TIMEOUT": ERR_PING_TIMEOUT, "CLOSE_DRAIN": ERR_CLOSE_DRAIN, "NO_MEMORY": ERR_NO_MEMORY,
}


cdef int mask_key_fallback(uint8_t* key) except -1:
    """No OS random source for the key pool: a key straight from os.urandom."""
    cdef bytes data = os.urandom(4)
    memcpy(key, <const char*>data, 4)
    return 0


def is_close_code_allowed(int code) -> bool:
    return close_code_allowed(code)


cdef class WSEngineSink:
    cdef int on_frame(self, WSEngine engine, WSFrame frame) except -1:
        return 0

    cdef int on_state(self, WSEngine engine, int state) except -1:
        return 0

    cdef int on_handshake(self, WSEngine engine, bytes head, bytes body) except -1:
        return 0

    cdef int on_output(self, WSEngine engine, const char* data, Py_ssize_t size) except -1:
        return 0

    cdef int on_fail(self, WSEngine engine, int kind, int code, bytes reason) except -1:
        return 0


cdef class EventListSink(WSEngineSink):
    """The sink of the sans-I/O facade: frames become Python objects here
    (and only here), appended to `events`.

    `frame_type` is the Frame class (a dataclass with opcode, data, fin,
    rsv1..3); `opcodes` maps an opcode to its Opcode member.  The object is
    made in C without running the dataclass __init__.  `write`, when set,
    takes every output at once (a Python driver's socket.sendall); else the
    bytes wait in the engine for data_to_send()."""
    cdef public list events
    cdef public object frame_type
    cdef public object handshake_callback   # f(head, body) for on_handshake
    cdef public object state_callback       # f(state) or None
    cdef public object write                # f(bytes): takes the output (a driver)
    cdef tuple _opcodes

    def __init__(self, frame_type, opcodes, handshake_callback=None, state_callback=None,
                 write=None):
        if not isinstance(frame_type, type):
            raise TypeError("frame_type must be a class")
        self.events = []
        self.write = write
        self.frame_type = frame_type
        self._opcodes = tuple(opcodes)
        self.handshake_callback = handshake_callback
        self.state_callback = state_callback

    cdef int on_frame(self, WSEngine engine, WSFrame frame) except -1:
        # Attributes set in the dataclass' field order keep the instance on
        # CPython's shared-key (inline values) layout, as __init__ would.
        cdef PyTypeObject* tp = <PyTypeObject*>self.frame_type
        obj = tp.tp_new(tp, (), None)
        PyObject_GenericSetAttr(obj, "opcode", self._opcodes[frame.msg_type & 0xF])
        PyObject_GenericSetAttr(obj, "data", PyBytes_FromStringAndSize(frame.payload_ptr,
                                                                       frame.payload_size))
        PyObject_GenericSetAttr(obj, "fin", True if frame.fin else False)
        PyObject_GenericSetAttr(obj, "rsv1", False)
        PyObject_GenericSetAttr(obj, "rsv2", False)
        PyObject_GenericSetAttr(obj, "rsv3", False)
        # Holding only bytes, an Opcode and bools, a fresh Frame cannot be
        # part of a reference cycle: untracked, it costs the cyclic GC
        # nothing (CPython does the same for tuples and dicts of atoms).  A
        # cycle made later by storing a container in it would not be
        # collected, as for any untracked object.
        PyObject_GC_UnTrack(obj)
        PyList_Append(self.events, obj)
        return 0

    cdef int on_state(self, WSEngine engine, int state) except -1:
        if self.state_callback is not None:
            self.state_callback(state)
        return 0

    cdef int on_handshake(self, WSEngine engine, bytes head, bytes body) except -1:
        if self.handshake_callback is not None:
            self.handshake_callback(head, body)
        return 0

    cdef int on_output(self, WSEngine engine, const char* data, Py_ssize_t size) except -1:
        if self.write is None:
            return 0
        self.write(PyBytes_FromStringAndSize(data, size))
        return 1

    def take_events(self):
        events = self.events
        self.events = []
        return events


cdef class WSEngine:
    """One WebSocket connection, sans-I/O.

    role: SERVER (0) or CLIENT (1).  state: CONNECTING (0) runs the opening
    handshake first; OPEN (1) starts with frames.  max_size: the largest
    incoming message (compressed frames count once inflated), None for no
    limit.  validate_utf8: fail TEXT messages that are not UTF-8 (1007).
    """

    def __init__(self, int role, int state=ENGINE_OPEN, max_size=2 ** 20,
                 WSEngineSink sink=None, bint validate_utf8=True, max_fragment_size=None):
        if role != ROLE_SERVER and role != ROLE_CLIENT:
            raise ValueError("role must be SERVER (0) or CLIENT (1)")
        if state != ENGINE_CONNECTING and state != ENGINE_OPEN:
            raise ValueError("an engine starts CONNECTING or OPEN")
        if max_size is None:
            self.max_size = -1
        else:
            if max_size < 0:
                raise ValueError("max_size must be >= 0 or None")
            self.max_size = max_size
        if max_fragment_size is None:
            self.max_fragment_size = -1
        else:
            if max_fragment_size < 0:
                raise ValueError("max_fragment_size must be >= 0 or None")
            self.max_fragment_size = max_fragment_size
        self.role = role
        self.state = state
        self.sink = WSEngineSink() if sink is None else sink
        self.parser = FrameParser(role == ROLE_SERVER, PY_SSIZE_T_MAX)
        self.frame = WSFrame.__new__(WSFrame)
        self.inbuf = MemoryBuffer(IN_INIT)
        self.out = MemoryBuffer(OUT_INIT)
        self.validate_utf8 = validate_utf8
        self.auto_pong = True
        self.close_rcvd_code = -1
        self.close_sent_code = -1
        self.close_rcvd_then_sent = -1
        self.error_current = -1
        self.deflate_min_size = 0
        self.auto_close = True
        self.body_until_eof = True
        # Without max_size the limit per frame never changes: set it once
        # (feed() then skips it per frame).
        self.parser.set_max_frame_size(self._limit())

    # -- state -------------------------------------------------------------

    cdef int _set_state(self, int state) except -1:
        if state != self.state:
            self.state = state
            self.sink.on_state(self, state)
        return 0

    def close_expected(self):
        """True when the TCP connection should close soon (a CLOSE was sent,
        or the opening handshake failed): arm a close timeout."""
        if self.state == ENGINE_OPEN:
            return False
        if self.state == ENGINE_CLOSING:
            return True
        if self.state == ENGINE_CLOSED:
            return False
        return self.eof_sent

    @property
    def close_rcvd(self):
        """(code, reason bytes) of the CLOSE received, None if none."""
        if self.close_rcvd_code < 0:
            return None
        return self.close_rcvd_code, self.close_rcvd_reason

    @property
    def close_sent(self):
        """(code, reason bytes) of the CLOSE sent, None if none."""
        if self.close_sent_code < 0:
            return None
        return self.close_sent_code, self.close_sent_reason

    @property
    def sink_takes_output(self):
        return self._sink_takes_output

    @sink_takes_output.setter
    def sink_takes_output(self, bint value):
        self._sink_takes_output = value

    # -- output ------------------------------------------------------------

    cdef int _write(self, const char* data, Py_ssize_t size) except -1:
        self.out.reserve(self.out_size + size, self.out_size)
        memcpy(self.out.data + self.out_size, data, size)
        self.out_size += size
        return 0

    cdef int _flush(self) except -1:
        if self._sink_takes_output and self.out_size:
            if self.sink.on_output(self, self.out.data, self.out_size):
                self.out_size = 0
        return 0

    cdef int send_frame(self, int opcode, const char* data, Py_ssize_t size, bint fin,
                        bint rsv1=False) except -1:
        """Frame data[0:size] into the output: header in place, then the
        payload (deflated when the message is compressed, masked on a client)."""
        cdef uint8_t key[4]
        cdef uint8_t b0
        cdef Py_ssize_t hlen
        cdef uint8_t* p
        cdef bint masked = self.role == ROLE_CLIENT
        cdef bint compress = False
        if self.deflater is not None and opcode < OP_CLOSE:
            if opcode != OP_CONT:
                self.send_compressed = size >= self.deflate_min_size or not fin
            compress = self.send_compressed
        if compress:
            self.deflater.deflate(data, size, fin)
            data = self.deflater.out.data
            size = self.deflater.out_size
            if opcode != OP_CONT:
                rsv1 = True
        hlen = frame_header_size(size, masked)
        self.out.reserve(self.out_size + hlen + size, self.out_size)
        p = <uint8_t*>self.out.data + self.out_size
        b0 = (0x80 if fin else 0) | (RSV1 if rsv1 else 0) | opcode
        if masked:
            next_mask_key(key)
            write_frame_header(p, b0, size, key)
            ws_mask_copy(<char*>p + hlen, data, <size_t>size, key)
        else:
            write_frame_header(p, b0, size, NULL)
            if size:
                memcpy(p + hlen, data, size)
        self.out_size += hlen + size
        self._flush()
        return 0

    cdef int send_eof(self) except -1:
        self.eof_sent = True
        return 0

    def send_raw(self, data):
        """Queue bytes as they are (the opening handshake's request/response)."""
        cdef const unsigned char[::1] view = memoryview(data).cast("B")
        if view.shape[0]:
            if self._sink_takes_output and not self.out_size and self.sink.on_output(
                    self, <const char*>&view[0], view.shape[0]):
                return          # taken as it is: no copy into out
            self._write(<const char*>&view[0], view.shape[0])
            self._flush()

    @property
    def _out_capacity(self):
        """Test hook: bytes allocated for the output buffer."""
        return self.out.capacity

    def data_to_send(self):
        """The bytes to write, as a list: [bytes] or [], then b"" once when
        the TCP connection must be half-closed (websockets' SEND_EOF)."""
        cdef list result = []
        if self.out_size:
            result.append(PyBytes_FromStringAndSize(self.out.data, self.out_size))
            # A large buffer is kept while large messages keep coming (freeing
            # and re-growing it per message costs fresh pages every time) and
            # given back once a call needs far less of it.
            if self.out.capacity > OUT_KEEP and self.out_size < self.out.capacity // 8:
                self.out.shrink(OUT_INIT)
            self.out_size = 0
        if self.eof_sent and not self._eof_reported:
            self._eof_reported = True
            result.append(b"")
        return result


    # -- sending (checks are the caller's: the facade raises websockets'
    #    exceptions, the picows driver its own) ----------------------------

    def send_data(self, int opcode, data, bint fin=True):
        """Send a TEXT, BINARY or CONTINUATION frame; enforces the
        fragmentation rules (ValueError)."""
        if opcode == OP_CONT:
            if not self.send_fragmented:
                raise ValueError("no fragmented message in progress")
        elif opcode == OP_TEXT or opcode == OP_BINARY:
            if self.send_fragmented:
                raise ValueError("a fragmented message is in progress")
        else:
            raise ValueError(f"not a data opcode: {opcode}")
        cdef const unsigned char[::1] view = memoryview(data).cast("B")
        self.send_fragmented = not fin
        self.send_frame(opcode, <const char*>&view[0] if view.shape[0] else NULL,
                        view.shape[0], fin)

    def send_control(self, int opcode, data):
        """Send a PING or PONG (payload <= 125 bytes, ValueError otherwise)."""
        if opcode != OP_PING and opcode != OP_PONG:
            raise ValueError(f"not PING or PONG: {opcode}")
        cdef const unsigned char[::1] view = memoryview(data).cast("B")
        if view.shape[0] > MAX_CONTROL_PAYLOAD:
            raise ValueError("control frame payload longer than 125 bytes")
        self.send_frame(opcode, <const char*>&view[0] if view.shape[0] else NULL,
                        view.shape[0], True)

    def send_close(self, int code=-1, bytes reason=b""):
        """Start the closing handshake (OPEN -> CLOSING).  code -1: an empty
        CLOSE (the peer sees 1005)."""
        if self.state != ENGINE_OPEN:
            raise ValueError("the connection is not open")
        cdef bytes payload
        if code < 0:
            if reason:
                raise ValueError("a reason needs a code")
            payload = b""
            self.close_sent_code = CLOSE_NO_STATUS
        else:
            if not close_code_allowed(code):
                raise ValueError(f"close code {code} is not allowed on the wire")
            if len(reason) > MAX_CONTROL_PAYLOAD - 2:
                raise ValueError("close reason longer than 123 bytes")
            payload = bytes((code >> 8, code & 0xFF)) + reason
            self.close_sent_code = code
        self.close_sent_reason = reason
        self.send_frame(OP_CLOSE, payload, len(payload), True)
        self._set_state(ENGINE_CLOSING)

    # -- failing -----------------------------------------------------------

    cdef int fail_with(self, int kind, int code, bytes reason) except -1:
        """The one way a connection fails (RFC 6455 7.1.7): send a CLOSE
        when OPEN (not for 1006), half-close on a server, drop all further
        input.  The first failure's kind and reason are kept."""
        cdef bytes payload
        if self.error_kind == ERR_NONE:
            self.error_kind = kind
            self.error_reason = reason.decode("utf-8", "replace")
        self.discarding = True
        self.in_start = self.in_end = 0
        if self.sink.on_fail(self, kind, code, reason):
            return 0            # the driver sends its CLOSE and closes the socket
        if self.state == ENGINE_OPEN and code != CLOSE_ABNORMAL:
            payload = bytes((code >> 8, code & 0xFF)) + reason
            self.send_frame(OP_CLOSE, payload, len(payload), True)
            self.close_sent_code = code
            self.close_sent_reason = reason
            if self.close_rcvd_code >= 0:
                self.close_rcvd_then_sent = 1
            self._set_state(ENGINE_CLOSING)
        if self.role == ROLE_SERVER and not self.eof_sent:
            self.send_eof()
        if self.eof_received:
            self._discard_eof()
        return 0

    def fail(self, int code, reason=b"", int kind=ERR_USER):
        """Fail the connection with `code` (1006: no CLOSE frame)."""
        if isinstance(reason, str):
            reason = reason.encode()
        if self.state == ENGINE_OPEN and code != CLOSE_ABNORMAL and not close_code_allowed(code):
            raise ValueError(f"close code {code} is not allowed on the wire")
        self.fail_with(kind, code, bytes(reason))

    cdef int _discard_eof(self) except -1:
        # The peer closed TCP while we discard: the connection is over.  A
        # client half-closes now (a server did when it failed or echoed CLOSE).
        if self.role == ROLE_CLIENT and self.state != ENGINE_CONNECTING and not self.eof_sent:
            self.send_eof()
        self._set_state(ENGINE_CLOSED)
        return 0

    # -- input -------------------------------------------------------------

    def receive_data(self, data):
        """Bytes from the network.  EOFError after receive_eof()."""
        if self.eof_received:
            raise EOFError("stream ended")
        if self.discarding:
            return
        cdef const unsigned char[::1] view = memoryview(data).cast("B")
        cdef Py_ssize_t n = view.shape[0]
        cdef Py_ssize_t keep = self.in_end - self.in_start
        cdef Py_ssize_t used
        if n == 0:
            return
        if keep == 0 and self.role == ROLE_CLIENT and self.state != ENGINE_CONNECTING:
            # Frames from a server are not masked, so the parser never writes
            # to them (a masked one is refused before any unmasking): parse
            # the caller's bytes where they are, keep only an incomplete tail.
            used = self.feed(<char*>&view[0], n)
            if used >= n or self.discarding:
                return
            self.inbuf.reserve(n - used, 0)
            memcpy(self.inbuf.data, &view[used], n - used)
            self.in_start = 0
            self.in_end = n - used
            return
        if self.in_start:
            if keep:
                memmove(self.inbuf.data, self.inbuf.data + self.in_start, keep)
            self.in_start = 0
            self.in_end = keep
        self.inbuf.reserve(keep + n, keep)
        memcpy(self.inbuf.data + keep, &view[0], n)
        self.in_end = keep + n
        self._process()

    cdef int _process(self) except -1:
        cdef Py_ssize_t used
        if self.state == ENGINE_CONNECTING and not self.discarding:
            self._handshake_input()
            if self.handshake_waiting and self.in_end - self.in_start > MAX_BODY_BYTES:
                # Bytes pipelined behind a head still waiting for its answer
                # are kept, but not without bound.
                self.error_kind = ERR_HANDSHAKE
                self.error_reason = "too much data before the handshake's answer"
                self.handshake_failed()
            if self.state == ENGINE_CONNECTING or self.discarding:
                return 0
        if self.discarding:
            self.in_start = self.in_end = 0
            return 0
        used = self.feed(self.inbuf.data + self.in_start, self.in_end - self.in_start)
        self.in_start += used
        if self.in_start >= self.in_end:
            self.in_start = self.in_end = 0
            if self.inbuf.capacity > 4 * 1024 * 1024:
                self.inbuf.shrink(IN_INIT)
        return 0

    def receive_eof(self):
        """The peer closed its side of the TCP connection.  Idempotent."""
        cdef Py_ssize_t start
        if self.eof_received:
            return
        self.eof_received = True
        if self.state == ENGINE_CONNECTING and not self.discarding:
            if self.body_need == -1 and self.head_end and not self.handshake_waiting:
                start = self.in_start           # a client's body read to EOF
                self.in_start = self.in_end
                self._deliver_head(self.inbuf.data + start, self.in_end - start)
                if self.discarding and self.state != ENGINE_CLOSED:
                    self._discard_eof()
                return
            if self.handshake_waiting and self.role == ROLE_SERVER:
                self.fail_with(ERR_EOF, CLOSE_ABNORMAL, b"unexpected end of stream")
                return
            if self.error_kind == ERR_NONE:
                self.error_kind = ERR_HANDSHAKE
                self.error_reason = "connection closed during the opening handshake"
            self.handshake_failed()
            return
        if self.discarding:
            self._discard_eof()
            return
        self.fail_with(ERR_EOF, CLOSE_ABNORMAL, b"unexpected end of stream")

    cdef Py_ssize_t feed(self, char* data, Py_ssize_t size) except -1:
        """Process the complete frames in data[0:size], unmasking them in
        place; return how many bytes were used (all of them once the
        connection discards input).  A driver calls this on its own read
        buffer; receive_data() calls it on the engine's."""
        cdef Py_ssize_t pos = 0, r
        cdef FrameParser parser = self.parser
        cdef WSFrame frame = self.frame
        cdef WSEngineSink sink = self.sink
        cdef int opcode
        cdef bint limit_per_message = self.max_size >= 0
        while pos < size:
            if limit_per_message:
                parser.set_max_frame_size(self._limit())
            r = parser.parse(data + pos, size - pos, frame)
            if r == 0:
                break
            if r < 0:
                if self.parser_reasons:
                    self.fail_with(parser.error_kind, parser.error_code,
                                   parser.error_message.encode())
                else:
                    self._frame_rules(data + pos, size - pos)
                return size
            pos += r
            frame.tail_size = size - pos
            frame.last_in_buffer = complete_frame_size(data + pos, size - pos) == 0
            opcode = frame.msg_type
            if opcode <= OP_BINARY:
                # Data frames here, the hot path: no call unless the message
                # is compressed or its UTF-8 is checked here.
                if opcode != OP_CONT:
                    self.msg_compressed = frame.rsv1 and self.inflater is not None
                    # A parser that validates checks uncompressed TEXT itself.
                    self.msg_check_utf8 = self.validate_utf8 and opcode == OP_TEXT and (
                        self.msg_compressed or not self.parser.validate_utf8)
                    if self.msg_check_utf8:
                        ws_utf8_reset(&self.utf8)
                if self.msg_compressed or self.msg_check_utf8:
                    self._data_checks(frame)
                    if self.discarding:
                        return size
                if frame.fin:
                    self.in_message = False
                    self.msg_size = 0
                else:
                    self.msg_size = (self.msg_size if self.in_message else 0) + frame.payload_size
                    self.in_message = True
                sink.on_frame(self, frame)
            else:
                self._on_frame()
            if self.discarding:
                return size
        return pos

    cdef int _frame_rules(self, char* data, Py_ssize_t size) except -1:
        """The parser refused the frame at `data`: name the rule it broke, in
        the order websockets checks them, and fail.  Runs only on errors."""
        cdef const uint8_t* p = <const uint8_t*>data
        cdef int opcode = p[0] & 0x0F
        cdef bint fin = (p[0] & 0x80) != 0
        cdef bint masked = (p[1] & 0x80) != 0
        cdef uint64_t plen = p[1] & 0x7F
        cdef Py_ssize_t hlen = 2
        cdef Py_ssize_t limit = self.parser.max_frame_size
        cdef int code
        if plen == 126:
            plen = (p[2] << 8) | p[3]
            hlen = 4
        elif plen == 127:
            plen = 0
            for i in range(8):
                plen = (plen << 8) | p[2 + i]
            hlen = 10
        if masked:
            hlen += 4
        if not (opcode <= OP_BINARY or OP_CLOSE <= opcode <= OP_PONG):
            return self.fail_with(ERR_BAD_OPCODE, CLOSE_PROTOCOL_ERROR, b"invalid opcode")
        if masked != self.parser.expect_masked:
            return self.fail_with(ERR_BAD_MASK, CLOSE_PROTOCOL_ERROR, b"incorrect masking")
        if limit != PY_SSIZE_T_MAX and plen > <uint64_t>limit:
            self.error_size = <Py_ssize_t>plen if plen <= <uint64_t>PY_SSIZE_T_MAX \
                else PY_SSIZE_T_MAX
            self.error_current = self.msg_size if self.in_message else -1
            return self.fail_with(ERR_TOO_BIG, CLOSE_MESSAGE_TOO_BIG,
                                  _too_big_text(self.error_size, self._limit_total(limit),
                                                self.error_current).encode())
        if (p[0] & RSV_BITS) & ~self.parser.rsv_allowed or (
                (p[0] & RSV1) and self.parser.rsv1_first_only
                and (opcode == OP_CONT or opcode >= OP_CLOSE)):
            return self.fail_with(ERR_RSV, CLOSE_PROTOCOL_ERROR, b"reserved bits must be 0")
        if opcode >= OP_CLOSE:
            if plen > MAX_CONTROL_PAYLOAD:
                return self.fail_with(ERR_CONTROL_TOO_LONG, CLOSE_PROTOCOL_ERROR,
                                      b"control frame too long")
            if not fin:
                return self.fail_with(ERR_CONTROL_FRAGMENTED, CLOSE_PROTOCOL_ERROR,
                                      b"fragmented control frame")
        elif opcode == OP_CONT:
            if not self.in_message:
                return self.fail_with(ERR_UNEXPECTED_CONT, CLOSE_PROTOCOL_ERROR,
                                      b"unexpected continuation frame")
        elif self.in_message:
            return self.fail_with(ERR_EXPECTED_CONT, CLOSE_PROTOCOL_ERROR,
                                  b"expected a continuation frame")
        if opcode == OP_CLOSE and size >= hlen + <Py_ssize_t>plen:
            # The parser has unmasked the payload before refusing it.
            payload = PyBytes_FromStringAndSize(data + hlen, <Py_ssize_t>plen)
            if plen == 1:
                return self.fail_with(ERR_CLOSE_TOO_SHORT, CLOSE_PROTOCOL_ERROR,
                                      b"close frame too short")
            try:
                payload[2:].decode()
            except UnicodeDecodeError as exc:
                self.error_position = exc.start
                return self.fail_with(ERR_CLOSE_UTF8, CLOSE_INVALID_DATA,
                                      f"{exc.reason} at position {exc.start}".encode())
            code = (p[hlen] << 8) | p[hlen + 1]
            if not close_code_allowed(code):
                return self.fail_with(ERR_CLOSE_CODE, CLOSE_PROTOCOL_ERROR,
                                      b"invalid status code")
        # Nothing websockets checks: the length encoding (RFC 6455 5.2: minimal).
        return self.fail_with(ERR_BAD_LENGTH, CLOSE_PROTOCOL_ERROR,
                              b"invalid payload length encoding")

    cdef inline Py_ssize_t _limit(self) noexcept:
        """The largest payload the next frame may carry (websockets' rule:
        what is left of max_size in this message, capped by
        max_fragment_size); PY_SSIZE_T_MAX without limits."""
        cdef Py_ssize_t limit = PY_SSIZE_T_MAX
        if self.max_size >= 0:
            limit = self.max_size - self.msg_size if self.in_message else self.max_size
        if 0 <= self.max_fragment_size < limit:
            limit = self.max_fragment_size
        return limit

    cdef Py_ssize_t _limit_total(self, Py_ssize_t limit) noexcept:
        # The limit as websockets reports it: counted from the message start.
        self.error_limit = limit + (self.msg_size if self.in_message else 0)
        return self.error_limit

    cdef int _data_checks(self, WSFrame frame) except -1:
        """A frame of a compressed message, or of a TEXT message this engine
        validates: inflate it (frame then points at the plain bytes) and
        check its UTF-8.  Fails the connection (discarding) when either fails."""
        cdef int r
        cdef Py_ssize_t limit
        if self.msg_compressed:
            limit = self._limit()
            r = self.inflater.inflate(frame.payload_ptr, frame.payload_size, frame.fin,
                                      PY_SSIZE_T_MAX - 1 if limit == PY_SSIZE_T_MAX
                                      else limit)
            if r != 0 and self.parser_reasons:
                if r == 1:
                    return self.fail_with(ERR_TOO_BIG, CLOSE_MESSAGE_TOO_BIG,
                                          f"decompressed frame exceeds max_frame_size "
                                          f"{limit}".encode())
                return self.fail_with(ERR_INFLATE, CLOSE_INVALID_DATA,
                                      f"invalid compressed data: "
                                      f"{self.inflater.error}".encode())
            if r == 1:
                self.error_size = -1
                self.error_current = self.msg_size if self.in_message else -1
                return self.fail_with(ERR_TOO_BIG, CLOSE_MESSAGE_TOO_BIG,
                                      _too_big_text(-1, self._limit_total(limit),
                                                    self.error_current).encode())
            if r < 0:
                return self.fail_with(ERR_INFLATE, CLOSE_PROTOCOL_ERROR,
                                      b"decompression failed")
            frame.payload_ptr = self.inflater.out.data
            frame.payload_size = self.inflater.out_size
            frame.rsv1 = 0
        if self.msg_check_utf8:
            if not ws_utf8_feed(&self.utf8, frame.payload_ptr, frame.payload_size) or (
                    frame.fin and self.utf8.need):
                return self.fail_with(ERR_TEXT_UTF8, CLOSE_INVALID_DATA,
                                      b"invalid UTF-8 in a TEXT message"
                                      if self.parser_reasons
                                      else b"invalid UTF-8 in a text message")
        return 0

    cdef int _on_frame(self) except -1:
        """A control frame (data frames are handled in feed())."""
        cdef WSFrame frame = self.frame
        cdef int opcode = frame.msg_type
        cdef const uint8_t* p
        if opcode == OP_PING:
            # RFC 6455 5.5.2: answer with a PONG carrying the same data
            # (unless the driver leaves that to its user, as picows can).
            if self.auto_pong:
                self.send_frame(OP_PONG, frame.payload_ptr, frame.payload_size, True)
            return self.sink.on_frame(self, frame)
        if opcode == OP_PONG:
            return self.sink.on_frame(self, frame)
        # CLOSE: the parser has checked the code and the reason's UTF-8.
        p = <const uint8_t*>frame.payload_ptr
        if frame.payload_size >= 2:
            self.close_rcvd_code = (p[0] << 8) | p[1]
            self.close_rcvd_reason = PyBytes_FromStringAndSize(frame.payload_ptr + 2,
                                                               frame.payload_size - 2)
        else:
            self.close_rcvd_code = CLOSE_NO_STATUS
            self.close_rcvd_reason = b""
        if self.state == ENGINE_CLOSING:
            self.close_rcvd_then_sent = 0
        if self.in_message and self.close_in_message_fails:
            return self.fail_with(ERR_CLOSE_IN_MESSAGE, CLOSE_PROTOCOL_ERROR,
                                  b"incomplete fragmented message")
        if not self.auto_close:
            # The driver answers (picows lets the listener choose the code).
            self.discarding = True
            return self.sink.on_frame(self, frame)
        if self.state == ENGINE_OPEN:
            # RFC 6455 5.5.1: echo the CLOSE (its payload as it came).
            self.send_frame(OP_CLOSE, frame.payload_ptr, frame.payload_size, True)
            self.close_sent_code = self.close_rcvd_code
            self.close_sent_reason = self.close_rcvd_reason
            self.close_rcvd_then_sent = 1
            self._set_state(ENGINE_CLOSING)
        # A server closes TCP at once; a client waits for the server's EOF.
        if self.role == ROLE_SERVER and not self.eof_sent:
            self.send_eof()
        self.discarding = True
        self.sink.on_frame(self, frame)
        return 0

    # -- opening handshake -------------------------------------------------
    #
    # One head scanner for every driver: receive_data() runs it on the
    # engine's input buffer, handshake_feed() on a driver's own read buffer.
    # The head (with the body a client reads after a non-101 answer) goes to
    # sink.on_handshake(head, body), which decides with the steps below:
    # handshake_open() / handshake_failed() / send_handshake_response() (the
    # websockets facade runs websockets' checks), or picows' steps
    # client_response() / server_request(), server_accept(), server_reject().

    cdef Py_ssize_t _scan_head(self, const char* data, Py_ssize_t size) except -2:
        """CONNECTING: look for the head in data[0:size], the input not used
        yet (the same bytes and maybe more on the next call).  Return the
        bytes of the head and its body once complete, 0 while incomplete,
        -1 when the input cannot be a head (handshake_exc says why)."""
        cdef const char* end
        cdef Py_ssize_t start, length
        if not self.head_end:
            if self.role == ROLE_SERVER and size and not (b'A' <= data[0] <= b'Z'):
                # Not an HTTP method (a TLS ClientHello, say): no need to wait.
                self.handshake_exc = HandshakeRejected(400, "expected an HTTP upgrade request")
                return -1
            # Search only what is new (and the 3 bytes before it, where a
            # CRLFCRLF may start): a head that trickles in costs linear time.
            start = self.head_scanned - 3 if self.head_scanned > 3 else 0
            self.head_scan_bytes += size - start
            end = <const char*>memmem(data + start, size - start, b"\r\n\r\n", 4)
            length = end - data if end != NULL else size - 3    # the head is at least this long
            if length > MAX_HEADER_BYTES:
                self.handshake_exc = WSInvalidMessageError(
                    f"upgrade {'response' if self.role == ROLE_CLIENT else 'request'} headers "
                    f"exceed max_size threshold: {MAX_HEADER_BYTES}")
                return -1
            if end == NULL:
                self.head_scanned = size
                return 0
            self.head_end = length + 4
            if self.role == ROLE_CLIENT:
                self.body_need = _body_length(PyBytes_FromStringAndSize(data, length),
                                              self.body_until_eof)
        if self.body_need < 0:              # read to EOF, bounded
            return self.head_end + MAX_BODY_BYTES \
                if size - self.head_end > MAX_BODY_BYTES else 0
        if size - self.head_end < self.body_need:
            return 0
        return self.head_end + self.body_need

    cdef int _deliver_head(self, const char* data, Py_ssize_t used) except -1:
        """Hand the head in data[0:used] (with a client's body) to the sink;
        used -1: the input is no head (sink.on_handshake(None, None))."""
        cdef bytes head = None
        cdef bytes body = None
        if used >= 0:
            head = PyBytes_FromStringAndSize(data, self.head_end - 4)
            if self.role == ROLE_CLIENT:
                body = PyBytes_FromStringAndSize(data + self.head_end, used - self.head_end)
        elif self.error_kind == ERR_NONE:
            self.error_kind = ERR_HANDSHAKE
            self.error_reason = str(self.handshake_exc)
        self.handshake_waiting = True
        self.sink.on_handshake(self, head, body)
        return 0

    cdef int _handshake_input(self) except -1:
        """CONNECTING, on the engine's input buffer."""
        cdef Py_ssize_t start = self.in_start
        cdef Py_ssize_t used
        if self.handshake_waiting:
            return 0
        used = self._scan_head(self.inbuf.data + start, self.in_end - start)
        if used:
            if used > 0:
                self.in_start += used       # what the sink's decision parses next
            self._deliver_head(self.inbuf.data + start, used)
        return 0

    cdef Py_ssize_t handshake_feed(self, char* data, Py_ssize_t size) except -1:
        """CONNECTING, on a driver's own read buffer: data[0:size] is its
        input not used yet.  Once the head is complete the sink decides (it
        may take a while: input is kept by the driver meanwhile); frames
        right behind the head are parsed as soon as the connection is OPEN.
        Return the bytes used (all of them once the handshake failed)."""
        cdef Py_ssize_t used
        if self.handshake_waiting or self.discarding or self.state != ENGINE_CONNECTING:
            return size if self.discarding else 0
        used = self._scan_head(data, size)
        if used == 0:
            return 0
        self._deliver_head(data, used)
        if self.discarding or used < 0:
            return size
        if self.state != ENGINE_CONNECTING and used < size:
            # OPEN, or CLOSING when the application closed at once (its
            # CLOSE does not stop the frames that came before the peer's).
            used += self.feed(data + used, size - used)
        return used

    def handshake_open(self, compression=None):
        """The opening handshake succeeded: OPEN, with permessage-deflate as
        negotiated (a WSPerMessageDeflate, or None).  Bytes already received
        after the head are parsed as frames now."""
        if self.state != ENGINE_CONNECTING:
            raise ValueError("the opening handshake is over")
        self.handshake_waiting = False
        self.compression = compression
        if compression is not None:
            client = self.role == ROLE_CLIENT
            # We read with the window the peer agreed to write with.
            self.inflater = Inflater(compression.send_window_bits(not client),
                                     compression.recv_resets(client))
            if not self.driver_deflates:
                self.deflater = Deflater(compression.send_window_bits(client),
                                         compression.send_resets(client), compression.level,
                                         compression.mem_level)
                self.deflate_min_size = compression.min_size
            self.parser.rsv_allowed |= RSV1
            self.parser.rsv1_first_only = True
        self._set_state(ENGINE_OPEN)
        if self.in_end > self.in_start and not self.discarding:
            self._process()

    cdef int set_closing(self, int code, bytes reason) except -1:
        """A driver sent its CLOSE itself (code 1005: an empty one; -1: a
        frame it did not parse): record it, OPEN -> CLOSING."""
        if self.close_sent_code < 0 and code >= 0:
            self.close_sent_code = code
            self.close_sent_reason = reason
            if self.close_rcvd_code >= 0:
                self.close_rcvd_then_sent = 1
        if self.state == ENGINE_OPEN:
            self._set_state(ENGINE_CLOSING)
        return 0

    def handshake_failed(self, reason=b"opening handshake failed"):
        """The opening handshake failed: half-close, drop further input
        (through fail_with: the sink's on_fail hears of it); CLOSED once the
        peer's EOF arrives."""
        self.handshake_waiting = False
        if not self.eof_sent:
            self.send_eof()
        self.fail_with(ERR_HANDSHAKE, CLOSE_ABNORMAL, reason)

    def send_handshake_response(self, response_bytes, bint upgrade, compression=None):
        """Server: send the response head; OPEN when `upgrade` (a 101), else
        the handshake failed (half-close).  Ignored once the connection
        has failed."""
        if self.discarding:
            return
        self.send_raw(response_bytes)
        if upgrade:
            self.handshake_open(compression)
        else:
            self.handshake_failed(b"upgrade refused")

    # -- liveness: deadlines ------------------------------------------------

    cdef double next_deadline(self) noexcept:
        """When the driver must call on_deadline() next (its clock), 0 for
        never: the close deadline once a driver set one (closing, nothing
        else is due then); the opening handshake's limit while CONNECTING; while OPEN,
        a liveness PING's reply deadline, else when the next PING is due
        (ping_interval after the last input, or after the last PING when
        periodic)."""
        if self.close_deadline > 0:
            return self.close_deadline
        if self.state == ENGINE_CONNECTING:
            return 0 if self.discarding else self.handshake_deadline
        if self.state != ENGINE_OPEN or self.discarding:
            return 0
        if self.pong_wait == PONG_AUTO:
            return self.ping_sent_at + self.ping_timeout if self.ping_timeout > 0 else 0
        if self.pong_wait != PONG_NONE or self.ping_interval <= 0 or self.pings_held:
            return 0
        return (self.ping_sent_at if self.ping_periodically
                else self.last_read) + self.ping_interval

    cdef int on_deadline(self, double now) except -1:
        """The driver's timer fired at `now`: return DL_PING when a
        liveness PING is due (the driver sends it; its reply deadline runs
        from now), DL_FAILED when a deadline passed (the connection failed
        through fail_with), DL_CLOSE_TIMEOUT when the close deadline passed
        (the driver drops the connection), DL_NONE when nothing is due yet
        (input came since the timer was armed)."""
        cdef double due = self.next_deadline()
        if due == 0 or not now >= due:      # (NaN is never due)
            return DL_NONE
        if self.close_deadline > 0:
            self.close_deadline = 0
            return DL_CLOSE_TIMEOUT
        if self.state == ENGINE_CONNECTING:
            self.fail_with(ERR_HANDSHAKE_TIMEOUT, CLOSE_ABNORMAL, b"no opening handshake in time")
            return DL_FAILED
        if self.pong_wait == PONG_AUTO:
            self.fail_with(ERR_PING_TIMEOUT, CLOSE_GOING_AWAY, b"no PONG in time")
            return DL_FAILED
        self.pong_wait = PONG_AUTO
        self.ping_sent_at = now
        return DL_PING

    cdef bint pong_received(self) noexcept:
        """The PONG a liveness PING (or an RTT round) waited for came:
        return whether one was awaited."""
        if self.pong_wait == PONG_NONE:
            return False
        self.pong_wait = PONG_NONE
        return True

    def deadline(self):
        """next_deadline() for Python drivers and tests: None for never."""
        cdef double due = self.next_deadline()
        return None if due == 0 else due

    def check_deadline(self, double now):
        """on_deadline() for Python drivers and tests: "ping", "failed",
        "close_timeout" or None."""
        if now != now:
            raise ValueError("now must be a time, not NaN")
        cdef int action = self.on_deadline(now)
        return ("ping" if action == DL_PING else "failed" if action == DL_FAILED
                else "close_timeout" if action == DL_CLOSE_TIMEOUT else None)

    def notify_pong(self):
        """pong_received() for Python drivers and tests."""
        return self.pong_received()

    # -- picows' opening handshake as steps (the asyncio driver calls them
    #    from its sink; the websockets facade runs websockets' own checks).
    #    A step that fails has answered (or not, as picows), failed the
    #    handshake and keeps its exception in handshake_exc; it raises it.

    def client_request(self, parsed_url, extra_headers=None, compression=None,
                       subprotocols=None):
        """Client: build the upgrade request (handshake.build_request) with
        a fresh key and queue its bytes; return the WSUpgradeRequest."""
        key = make_key()
        request, wire = build_request(parsed_url, key, extra_headers, compression, subprotocols)
        self.client_send_request(wire, key, compression, subprotocols)
        return request

    def client_send_request(self, bytes wire, bytes key, compression=None, subprotocols=None):
        """Client: send an upgrade request built with `key`, our
        permessage-deflate offer and subprotocols (client_response checks
        the answer against them)."""
        self._client_handshake = (key, compression, subprotocols)
        self.send_raw(wire)

    def client_response(self, bytes head, bytes body=None):
        """Client, from sink.on_handshake: parse and validate the answer
        (handshake.parse_response / validate_response).  OPEN with what was
        negotiated and return (response, subprotocol); or fail the handshake
        and raise its WSHandshakeError (also kept in handshake_exc)."""
        key, compression, subprotocols = self._client_handshake
        try:
            if head is None:
                raise self.handshake_exc
            response = parse_response(head)
            if response.status != 101:
                content_length(response.headers)        # a malformed one is refused
                response.body = body or b""
            agreed, subprotocol = validate_response(response, key, head, compression,
                                                    subprotocols)
        except Exception as exc:
            self.handshake_exc = exc
            self.handshake_failed(str(exc).encode())
            raise
        self.handshake_open(agreed)
        return response, subprotocol

    def server_request(self, bytes head):
        """Server, from sink.on_handshake: the request (handshake.parse_request).
        A malformed one is answered (400) and the handshake fails; a head
        too long fails without an answer (as picows)."""
        exc = self.handshake_exc
        if head is not None:
            try:
                return parse_request(head)
            except HandshakeRejected as rejected:
                self.handshake_exc = exc = rejected
        if isinstance(exc, HandshakeRejected):
            self.server_reject(exc.response)
        else:
            self.handshake_failed(b"request head too long")
        raise exc

    def server_accept(self, request, response=None, compression=None, subprotocols=None):
        """Server: check `request` (handshake.validate_request), negotiate
        into `response` (a 101; None: a plain one), send it and OPEN; return
        the subprotocol chosen.  A request that cannot be upgraded is
        answered with its error (HandshakeRejected raised), a response that
        cannot be written with a 500 (ValueError raised)."""
        try:
            accept = validate_request(request)
            if response is None:
                response = WSUpgradeResponse.create_101_response()
            agreed, subprotocol = negotiate(request, response, compression, subprotocols)
            response.headers["Sec-WebSocket-Accept"] = accept.decode()
            wire = bytes(response.to_bytes())
        except HandshakeRejected as exc:
            self.handshake_exc = exc
            self.server_reject(exc.response)
            raise
        except ValueError as exc:       # a header set after the response was built
            self.handshake_exc = exc
            self.server_reject(WSUpgradeResponse.create_error_response(500, b"internal error\n"))
            raise
        self.send_handshake_response(wire, True, agreed)
        return subprotocol

    def server_reject(self, response):
        """Server: answer `response` (an error or a redirect; with
        Connection: close) and fail the handshake.  A response that cannot
        be written is answered with a 500 (ValueError raised)."""
        response.headers["Connection"] = "close"
        try:
            wire = bytes(response.to_bytes())
        except ValueError as exc:       # a header set after the response was built
            self.handshake_exc = exc
            self.send_handshake_response(bytes(WSUpgradeResponse.create_error_response(
                500, b"internal error\n", {"Connection": "close"}).to_bytes()), False)
            raise
        self.send_handshake_response(wire, False)

    # -- views for tests and Python drivers --------------------------------

    @property
    def parser_fragmented_opcode(self):
        return self.parser.fragmented_opcode

    @property
    def buffered(self):
        """Received bytes not processed yet."""
        return self.in_end - self.in_start


cdef Py_ssize_t _body_length(bytes head, bint to_eof) except -2:
    """A client's view of a response head: 0 for a 101 (or no body), the
    Content-Length (bounded), or without one -1 to read the body until EOF
    (`to_eof`, as HTTP and websockets; picows reads none)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit() or \
            parts[1][:1] == b"1" or parts[1] in (b"204", b"304"):
        return 0                # no body (or a status line that parsing refuses)
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            value = value.strip()
            if value.isdigit():
                # No int() of thousands of digits (Python refuses > 4300).
                return MAX_BODY_BYTES if len(value) > 9 else min(int(value), MAX_BODY_BYTES)
            return 0
    return -1 if to_eof else 0


def _too_big_text(Py_ssize_t size, Py_ssize_t max_size, Py_ssize_t current):
    # websockets' PayloadTooBig wording.
    text = "frame "
    if size >= 0:
        text += f"with {size} bytes "
    if current >= 0:
        text += f"after reading {current} bytes "
    return text + f"exceeds limit of {max_size} bytes"
