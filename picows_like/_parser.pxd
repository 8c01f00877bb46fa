from ._frame cimport WSFrame


cdef extern from "ws_utf8.h":
    ctypedef struct ws_utf8_state:
        unsigned char need
        unsigned char lo
        unsigned char hi


# Close codes the parser fails with (RFC 6455 7.4.1).
cdef enum:
    CLOSE_PROTOCOL_ERROR = 1002
    CLOSE_INVALID_DATA = 1007
    CLOSE_MESSAGE_TOO_BIG = 1009


cdef inline bint close_code_allowed(int code) noexcept nogil:
    """Codes a peer may put in a CLOSE frame (RFC 6455 7.4, IANA registry
    and private use): the one copy of the rule, for the parser and the engine."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999

# Which rule a refused frame broke (FrameParser.error_kind); the values are
# the engine's EngineError values, so the engine uses the kind as it is.
cdef enum ParseError:
    PE_NONE = 0
    PE_BAD_OPCODE = 1
    PE_BAD_MASK = 2
    PE_RSV = 3
    PE_CONTROL_TOO_LONG = 4
    PE_CONTROL_FRAGMENTED = 5
    PE_UNEXPECTED_CONT = 6
    PE_EXPECTED_CONT = 7
    PE_TOO_BIG = 8
    PE_CLOSE_TOO_SHORT = 9
    PE_CLOSE_CODE = 10
    PE_CLOSE_UTF8 = 11
    PE_TEXT_UTF8 = 12
    PE_BAD_LENGTH = 14


cdef class FrameParser:
    """Sans-I/O RFC 6455 frame parser: bytes in, one frame (or error) out.

    parse() either fills `frame` with the next complete frame (unmasking it in
    place) and returns how many bytes it used, returns 0 when the frame is not
    complete yet (`need` then holds its total size, so the reader can make
    room), or returns -1 on a protocol violation (`error_code`,
    `error_message`).  A frame's header is checked as soon as it is complete,
    before its payload arrives, so an oversized or illegal frame is refused
    without buffering it.  No length on the wire makes it overflow: a payload
    over max_frame_size, or over sys.maxsize // 2 whatever max_frame_size
    says, is refused (1009) before any arithmetic with it.

    With validate_utf8, uncompressed TEXT messages are checked as their bytes
    arrive: parse() validates (and unmasks, in place) the new payload bytes
    of an incomplete frame, so invalid UTF-8 fails (1007) without waiting for
    the rest.  This relies on parse() being called again on the same frame
    start after it returned 0 (the bytes may move, not change).  Compressed
    messages are left to the caller (after inflating).
    """
    cdef:
        readonly bint expect_masked        # True on the server side
        readonly Py_ssize_t max_frame_size
        Py_ssize_t _max_payload            # min(max_frame_size, sys.maxsize // 2)
        readonly bint validate_utf8
        bint _text_msg                     # the open message is uncompressed TEXT
        Py_ssize_t _checked                # payload bytes of the pending frame validated
        ws_utf8_state _utf8
        public int rsv_allowed             # RSV bits (0x70 mask) a peer may set
        public bint rsv1_first_only        # permessage-deflate: RSV1 only on TEXT/BINARY
        readonly int fragmented_opcode     # TEXT/BINARY while a message is open
        readonly Py_ssize_t need
        readonly int error_code
        readonly int error_kind            # a ParseError value
        readonly str error_message
        bytearray _feed_buf                # only for the Python-level feed()

    cdef Py_ssize_t parse(self, char* data, Py_ssize_t size, WSFrame frame) except -2
    cdef int set_max_frame_size(self, Py_ssize_t size) noexcept
    cdef int _fail(self, int kind, int code, str message) except -1


cdef Py_ssize_t complete_frame_size(const char* data, Py_ssize_t size) noexcept nogil
