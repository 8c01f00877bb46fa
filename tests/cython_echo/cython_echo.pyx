# cython: language_level=3
"""A user's Cython module written against picows_like's cimport API.

tests/test_cython_api.py compiles this file in a temporary directory (with
tests/cython_echo/setup.py, exactly as a user would: no include_dirs, the
.pxd files are found on sys.path) and drives it with raw-socket peers.

EchoListener echoes every data frame through the zero-copy C path:
on_ws_frame is a cpdef override (called through the vtable), it reads
frame.payload_ptr / payload_size, copies the payload into its own C buffer
behind HEADROOM bytes and sends it with transport.send_reuse_external_buffer.
TEXT frames starting with b"!cmd:" instead exercise the rest of the Cython
surface (each command's reply is checked on the wire by the test).
"""
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp

from picows_like cimport (WSFrame, WSTransport, WSListener, WSMsgType, WSCloseCode,
                          WSAutoPingStrategy, WS_PAYLOAD_SLACK, WS_SEND_HEADROOM)
# Only so the test can check that the documented constant matches the read
# buffer's real slack; a user's module has no reason to cimport this.
from picows_like._buffer cimport BUFFER_SLACK

cdef enum:
    HEADROOM = WS_SEND_HEADROOM     # bytes send_reuse_external_buffer may write in front

# The constants as this module was compiled against them (checked by the test).
PAYLOAD_SLACK = WS_PAYLOAD_SLACK
READ_BUFFER_SLACK = BUFFER_SLACK
SEND_HEADROOM = WS_SEND_HEADROOM


cdef bytes _cmd(WSFrame frame):
    """The command of a b"!cmd:<name>" TEXT frame, else None."""
    if frame.payload_size < 5 or memcmp(frame.payload_ptr, b"!cmd:", 5) != 0:
        return None
    return frame.payload_ptr[5:frame.payload_size]


cdef class EchoListener(WSListener):
    cdef:
        char* _buf                  # HEADROOM bytes + the message
        size_t _cap
        readonly Py_ssize_t connected_calls
        readonly Py_ssize_t disconnected_calls
        readonly Py_ssize_t echoed_frames
        readonly Py_ssize_t echoed_bytes
        readonly list close_codes   # CLOSE frames seen by on_ws_frame
        public object disconnected  # a future set by on_ws_disconnected
        # The slack probe (see on_ws_frame).
        public bint probe_slack
        public int probe_extra      # read this many bytes beyond the slack (ASan check)
        readonly Py_ssize_t slack_probes
        readonly int slack_last_byte
        readonly int slack_or
        readonly Py_ssize_t slack_payload_size
        readonly Py_ssize_t slack_tail_size
        readonly bint slack_last_in_buffer
        readonly bint masked_in_place

    def __cinit__(self):
        self._buf = NULL
        self._cap = 0
        self.close_codes = []

    def __init__(self, bint probe_slack=False):
        self.probe_slack = probe_slack

    def __dealloc__(self):
        free(self._buf)

    cdef char* _reserve(self, size_t size) except NULL:
        cdef char* p
        if self._buf == NULL or self._cap < size:
            p = <char*>realloc(self._buf, HEADROOM + size + 1)
            if p == NULL:
                raise MemoryError()
            self._buf = p
            self._cap = size + 1
        return self._buf + HEADROOM

    # -- the WSListener callbacks, overridden as cpdef ------------------------

    cpdef on_ws_connected(self, WSTransport transport):
        self.connected_calls += 1

    cpdef on_ws_disconnected(self, WSTransport transport):
        self.disconnected_calls += 1
        if self.disconnected is not None and not self.disconnected.done():
            self.disconnected.set_result(transport.is_disconnected)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef WSMsgType msg_type = frame.msg_type
        cdef const unsigned char* p
        cdef unsigned int acc = 0
        cdef Py_ssize_t i
        cdef char* msg
        cdef bytes cmd

        if self.probe_slack:
            # payload_ptr is followed by at least WS_PAYLOAD_SLACK readable
            # bytes, even when the frame ends exactly at the end of the read
            # buffer: read every one of them (ASan would flag an over-read).
            p = <const unsigned char*>frame.payload_ptr
            for i in range(WS_PAYLOAD_SLACK + self.probe_extra):
                acc |= p[frame.payload_size + i]
            self.slack_last_byte = p[frame.payload_size + WS_PAYLOAD_SLACK - 1]
            self.slack_or = acc
            self.slack_payload_size = frame.payload_size
            self.slack_tail_size = frame.tail_size
            self.slack_last_in_buffer = frame.last_in_buffer
            self.slack_probes += 1
            return

        if msg_type == WSMsgType.CLOSE:
            self.close_codes.append(int(frame.get_close_code()))
            return
        if msg_type == WSMsgType.PING or msg_type == WSMsgType.PONG:
            return
        if msg_type == WSMsgType.TEXT:
            cmd = _cmd(frame)
            if cmd is not None:
                self._command(transport, frame, cmd)
                return

        # The zero-copy echo: payload -> our buffer (HEADROOM free bytes in
        # front of it) -> send_reuse_external_buffer writes the header there.
        msg = self._reserve(<size_t>frame.payload_size)
        if frame.payload_size:
            memcpy(msg, frame.payload_ptr, <size_t>frame.payload_size)
        transport.send_reuse_external_buffer(msg_type, msg, <size_t>frame.payload_size,
                                             frame.fin, frame.rsv1, frame.rsv2, frame.rsv3)
        if transport.is_client_side and frame.payload_size:
            # The client masks the payload in place (documented behaviour).
            self.masked_in_place = memcmp(msg, frame.payload_ptr,
                                          <size_t>frame.payload_size) != 0 \
                or self.masked_in_place
        self.echoed_frames += 1
        self.echoed_bytes += frame.payload_size

    cdef _command(self, WSTransport transport, WSFrame frame, bytes cmd):
        cdef bytearray ba
        if cmd == b"send":
            transport.send(WSMsgType.TEXT, b"via-send")
        elif cmd == b"bytearray":
            ba = bytearray(HEADROOM)
            ba += b"via-bytearray"
            transport.send_reuse_external_bytearray(WSMsgType.BINARY, ba, HEADROOM)
        elif cmd == b"fragments":
            # One message in three frames through the C path: fin and the
            # CONTINUATION opcode.
            for part, t, fin in ((b"ab", WSMsgType.TEXT, False),
                                 (b"cd", WSMsgType.CONTINUATION, False),
                                 (b"ef", WSMsgType.CONTINUATION, True)):
                memcpy(self._reserve(2), <char*>part, 2)
                transport.send_reuse_external_buffer(t, self._buf + HEADROOM, 2, fin)
        elif cmd == b"ping":
            transport.send_ping(b"p1")
        elif cmd == b"pong":
            transport.send_pong(b"q1")
        elif cmd == b"notify":
            transport.notify_user_specific_pong_received()   # no-op without auto-ping
            transport.send(WSMsgType.TEXT, b"notified")
        elif cmd == b"info":
            transport.send(WSMsgType.TEXT, self._info(transport, frame).encode())
        elif cmd == b"close":
            transport.send_close(WSCloseCode.GOING_AWAY, b"bye")
        elif cmd == b"disconnect":
            transport.disconnect(True)
        else:
            transport.send(WSMsgType.TEXT, b"unknown command " + cmd)

    cdef str _info(self, WSTransport transport, WSFrame frame):
        """Every public field of the cimport surface, read from C."""
        cdef int strategies = WSAutoPingStrategy.PING_WHEN_IDLE + \
            WSAutoPingStrategy.PING_PERIODICALLY
        return ",".join(str(x) for x in (
            int(transport.is_client_side), int(transport.is_secure),
            int(transport.is_close_frame_sent), int(transport.is_disconnected),
            transport.request is not None, transport.response is not None,
            transport.underlying_transport is not None, transport.close_handshake is None,
            frame.payload_size, frame.tail_size, int(frame.last_in_buffer), int(frame.fin),
            int(frame.rsv1), int(frame.rsv2), int(frame.rsv3), <int>frame.msg_type,
            frame.get_payload_as_bytes() == b"!cmd:info",
            frame.get_payload_as_utf8_text() == "!cmd:info",
            frame.get_payload_as_ascii_text() == "!cmd:info",
            bytes(frame.get_payload_as_memoryview()) == b"!cmd:info",
            strategies, <int>WSCloseCode.OK))

    # The remaining cpdef callbacks exist too (called through the vtable).
    cpdef send_user_specific_ping(self, WSTransport transport):
        transport.send_ping(b"user-ping")

    cpdef is_user_specific_pong(self, WSFrame frame):
        return frame.msg_type == WSMsgType.PONG

    cpdef pause_writing(self):
        pass

    cpdef resume_writing(self):
        pass
