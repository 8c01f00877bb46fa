# The sans-I/O connection engine: one WebSocket connection's rules, no I/O.
#
# Bytes in (receive_data / receive_eof, or feed() on a driver's own writable
# buffer), bytes out (an output buffer, or WSEngineSink.on_output when the
# sink takes them), frames and state changes out through C calls on a
# WSEngineSink.  No Python object per frame: the sink gets the engine's
# reused WSFrame view.
cimport cython
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

from ._buffer cimport MemoryBuffer
from ._deflate cimport Deflater, Inflater
from ._frame cimport WSFrame
from ._parser cimport FrameParser


cdef extern from "ws_utf8.h":
    ctypedef struct ws_utf8_state:
        uint8_t need
        uint8_t lo
        uint8_t hi


# Connection state (RFC 6455 4.1, 4.2, 7.1.3, 7.1.4); the values are
# websockets' State values.
cdef enum EngineState:
    ENGINE_CONNECTING = 0
    ENGINE_OPEN = 1
    ENGINE_CLOSING = 2
    ENGINE_CLOSED = 3

# Role; the values are websockets' Side values.
cdef enum EngineRole:
    ROLE_SERVER = 0
    ROLE_CLIENT = 1

# Why the engine failed a connection (engine.error_kind), so that callers
# tell errors apart by kind, never by message text.
cdef enum EngineError:
    ERR_NONE = 0
    ERR_BAD_OPCODE = 1
    ERR_BAD_MASK = 2           # unmasked frame from a client / masked from a server
    ERR_RSV = 3                # reserved bits without a negotiated extension
    ERR_CONTROL_TOO_LONG = 4
    ERR_CONTROL_FRAGMENTED = 5
    ERR_UNEXPECTED_CONT = 6    # continuation frame without a message in progress
    ERR_EXPECTED_CONT = 7      # new data frame inside a fragmented message
    ERR_TOO_BIG = 8            # over max_size (message size, as websockets counts it)
    ERR_CLOSE_TOO_SHORT = 9    # 1-byte CLOSE payload
    ERR_CLOSE_CODE = 10        # close code not allowed on the wire
    ERR_CLOSE_UTF8 = 11        # close reason not UTF-8
    ERR_TEXT_UTF8 = 12         # TEXT message not UTF-8
    ERR_CLOSE_IN_MESSAGE = 13  # CLOSE inside a fragmented message (close_in_message_fails)
    ERR_BAD_LENGTH = 14        # non-minimal or 63-bit payload length encoding
    ERR_INFLATE = 15           # corrupt permessage-deflate data
    ERR_EOF = 16               # the peer's EOF before the closing handshake
    ERR_HANDSHAKE = 17         # opening handshake failed (handshake_exc says why)
    ERR_USER = 18              # fail() called from outside
    # Causes a driver reports through fail_with (the engine never detects them).
    ERR_CALLBACK = 19          # the application's callback raised
    ERR_HANDSHAKE_TIMEOUT = 20 # no complete opening handshake in time
    ERR_PING_TIMEOUT = 21      # no answer to a liveness PING in time
    ERR_CLOSE_DRAIN = 22       # the peer kept sending while the connection was closing
    ERR_NO_MEMORY = 23         # no memory for a frame the limits allow


# What a liveness PING waits for (engine.pong_wait).
cdef enum PongWait:
    PONG_NONE = 0
    PONG_AUTO = 1        # a liveness PING: the reply deadline runs
    PONG_USER = 2        # a round of measure_roundtrip_time: no deadline

# What a driver does when a deadline it armed comes (engine.on_deadline()).
cdef enum DeadlineAction:
    DL_NONE = 0          # nothing due yet: arm next_deadline() again
    DL_PING = 1          # send a liveness PING now (the reply deadline runs)
    DL_FAILED = 2        # a timeout failed the connection (fail_with ran)
    DL_CLOSE_TIMEOUT = 3 # the close deadline passed: the driver drops the socket


cdef extern from "ws_random.h":
    int ws_next_mask_key(uint8_t* key) nogil


# Frame headers and masking keys (RFC 6455 5.2, 5.3): the one copy of these
# rules, for the engine's output and for drivers that send without copying
# (WSTransport writes the header in the headroom in front of the payload).
# Inline: each module that cimports them compiles them in, no call per frame.
cdef inline Py_ssize_t frame_header_size(Py_ssize_t size, bint masked) noexcept nogil:
    """Bytes of the header of a frame with a `size`-byte payload (2..14)."""
    return (10 if size > 0xFFFF else 4 if size >= 126 else 2) + (4 if masked else 0)


cdef inline Py_ssize_t write_frame_header(uint8_t* p, uint8_t b0, Py_ssize_t size,
                                          const uint8_t* key) noexcept nogil:
    """Write a frame header at p: first byte b0 (FIN, RSV bits, opcode),
    the minimal length encoding, the mask key last when `key` is not NULL;
    return its size (frame_header_size())."""
    cdef Py_ssize_t hlen
    cdef uint8_t mask_bit = 0x80 if key != NULL else 0
    cdef int i
    p[0] = b0
    if size < 126:
        p[1] = mask_bit | <uint8_t>size
        hlen = 2
    elif size <= 0xFFFF:
        p[1] = mask_bit | 126
        p[2] = <uint8_t>(size >> 8)
        p[3] = <uint8_t>size
        hlen = 4
    else:
        p[1] = mask_bit | 127
        for i in range(8):
            p[2 + i] = <uint8_t>((<uint64_t>size) >> (56 - 8 * i))
        hlen = 10
    if key != NULL:
        memcpy(p + hlen, key, 4)
        hlen += 4
    return hlen


cdef int mask_key_fallback(uint8_t* key) except -1


cdef inline int next_mask_key(uint8_t* key) except -1:
    """A fresh random masking key (from this module's pool of OS random
    bytes; os.urandom when the OS call fails)."""
    if ws_next_mask_key(key) != 0:
        return mask_key_fallback(key)
    return 0


cdef class WSEngineSink:
    """What a driver or facade implements to hear from the engine.

    Every method is a C call through the vtable.  The defaults do nothing
    (on_output: returns 0 so the bytes stay in engine.out)."""
    # A frame that passed every rule; `frame` is the engine's reused view,
    # valid only during the call (payload inflated when compressed).
    cdef int on_frame(self, WSEngine engine, WSFrame frame) except -1
    # The state moved (EngineState value).
    cdef int on_state(self, WSEngine engine, int state) except -1
    # The opening handshake's head (and, for a client's non-101 answer, its
    # body) is complete: decide with engine.handshake_open() /
    # engine.handshake_failed() / engine.send_handshake_response(), or
    # picows' steps (client_response, server_request/accept/reject).  head
    # None: the input is no head (too long; a server: not HTTP), see
    # engine.handshake_exc.
    cdef int on_handshake(self, WSEngine engine, bytes head, bytes body) except -1
    # Bytes to send: return 1 when taken (a driver writes them at once, e.g.
    # sendmsg), 0 to leave them in engine.out for data_to_send().
    cdef int on_output(self, WSEngine engine, const char* data, Py_ssize_t size) except -1
    # The connection failed (fail_with, whatever the cause): return 1 when
    # the driver ends it itself (sends its CLOSE, closes the socket); 0 lets
    # the engine queue the CLOSE and the half-close.  Input is dropped
    # from now on either way.
    cdef int on_fail(self, WSEngine engine, int kind, int code, bytes reason) except -1


@cython.final
cdef class WSEngine:
    cdef:
        readonly int role
        readonly int state
        public WSEngineSink sink
        bint _sink_takes_output

        # receive side
        FrameParser parser
        WSFrame frame
        MemoryBuffer inbuf
        Py_ssize_t in_start, in_end
        readonly bint eof_received
        readonly bint eof_sent
        readonly bint discarding       # after a CLOSE or a failure: input is dropped
        Py_ssize_t max_size            # -1: no limit
        Py_ssize_t max_fragment_size   # -1: no limit
        bint in_message
        Py_ssize_t msg_size
        bint msg_text
        bint msg_compressed
        public bint validate_utf8
        public bint close_in_message_fails
        public bint auto_pong              # answer PING with PONG (default True)
        ws_utf8_state utf8
        Inflater inflater
        Deflater deflater
        readonly object compression    # negotiated WSPerMessageDeflate or None
        Py_ssize_t deflate_min_size

        # opening handshake (CONNECTING); offsets from the start of the
        # input not used yet (the engine's or a driver's buffer)
        Py_ssize_t head_end            # 0 until the head is complete (then its size + 4)
        Py_ssize_t head_scanned        # bytes of the head searched for its end
        readonly Py_ssize_t head_scan_bytes    # bytes searched in all (tests: no rescans)
        Py_ssize_t body_need           # client, non-101: -1 read to EOF
        bint handshake_waiting         # head delivered, waiting for a decision
        public object handshake_exc
        object _client_handshake       # (key, compression, subprotocols)
        public bint body_until_eof     # client: no Content-Length, body until EOF (else none)
        public bint driver_deflates    # the driver compresses what it sends (no Deflater here)

        # send side
        readonly MemoryBuffer out
        readonly Py_ssize_t out_size
        bint send_fragmented
        bint send_compressed
        bint _eof_reported

        # closing handshake
        readonly int close_rcvd_code       # -1: none received
        readonly bytes close_rcvd_reason
        readonly int close_sent_code       # -1: none sent
        readonly bytes close_sent_reason
        readonly int close_rcvd_then_sent  # -1 unknown, 0, 1

        # liveness, as deadlines a driver arms (no timer here): times are
        # the driver's monotonic clock in seconds, 0 for none.
        public double handshake_deadline   # CONNECTING: fail when it passes
        public double close_deadline       # closing: the peer must be done by then
        public double ping_interval        # OPEN: idle time (or period) before a PING
        public double ping_timeout         # a liveness PING's reply deadline
        public bint ping_periodically      # PING every interval, not only when idle
        public bint pings_held             # no liveness PING (a driver measures RTT)
        public double last_read            # when input last came (idle pings)
        public double ping_sent_at         # the last liveness PING (or the period's start)
        public int pong_wait               # PongWait

        # failure
        readonly int error_kind
        readonly str error_reason
        readonly Py_ssize_t error_size         # ERR_TOO_BIG: the frame's size
        readonly Py_ssize_t error_current      # ERR_TOO_BIG: message bytes before it (-1 none)
        readonly Py_ssize_t error_limit        # ERR_TOO_BIG: the limit, from the message start
        readonly Py_ssize_t error_position     # UTF-8 errors: offset in the payload

        # picows' rules for the asyncio driver (the facade keeps websockets')
        public bint auto_close         # answer a CLOSE (False: the driver answers)
        public bint parser_reasons     # fail with the parser's codes and wording
        bint msg_check_utf8            # the open message is checked here (not by the parser)

    cdef int _set_state(self, int state) except -1
    cdef int _write(self, const char* data, Py_ssize_t size) except -1
    cdef int _flush(self) except -1
    cdef int send_frame(self, int opcode, const char* data, Py_ssize_t size, bint fin,
                        bint rsv1=*) except -1
    cdef int send_eof(self) except -1
    cdef int fail_with(self, int kind, int code, bytes reason) except -1
    cdef Py_ssize_t feed(self, char* data, Py_ssize_t size) except -1
    cdef int _frame_rules(self, char* data, Py_ssize_t size) except -1
    cdef int _on_frame(self) except -1
    cdef int _data_checks(self, WSFrame frame) except -1
    cdef Py_ssize_t _limit(self) noexcept
    cdef Py_ssize_t _limit_total(self, Py_ssize_t limit) noexcept
    cdef int _handshake_input(self) except -1
    cdef Py_ssize_t _scan_head(self, const char* data, Py_ssize_t size) except -2
    cdef Py_ssize_t handshake_feed(self, char* data, Py_ssize_t size) except -1
    cdef int _process(self) except -1
    cdef int _discard_eof(self) except -1
    cdef int _deliver_head(self, const char* data, Py_ssize_t used) except -1
    cdef int set_closing(self, int code, bytes reason) except -1
    cdef double next_deadline(self) noexcept
    cdef int on_deadline(self, double now) except -1
    cdef bint pong_received(self) noexcept
