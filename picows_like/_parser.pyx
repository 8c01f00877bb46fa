"""The frame state machine and the RFC 6455 rules a receiver must enforce."""
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy
from cpython.pyport cimport PY_SSIZE_T_MAX

from ._enums cimport WSMsgType
from ._frame cimport WSFrame, msg_type_to_py


cdef extern from "ws_mask.h":
    void ws_mask_inplace(char* data, size_t size, const uint8_t* key) nogil

cdef extern from "ws_utf8.h":
    int ws_utf8_valid(const char* data, size_t size) nogil
    void ws_utf8_reset(ws_utf8_state* st) nogil
    int ws_utf8_feed(ws_utf8_state* st, const char* data, size_t size) nogil

# Whatever max_frame_size says (it may be sys.maxsize, "no limit"), a payload
# length above this is refused with 1009: no buffer can be that large, and the
# headroom keeps header + payload (+ buffer slack, + geometric growth) far
# from overflowing a Py_ssize_t.  2**62 - 1 on 64-bit builds.
cdef Py_ssize_t MAX_PAYLOAD = PY_SSIZE_T_MAX // 2


def is_valid_utf8(data) -> bool:
    """True if the bytes-like `data` is strict UTF-8 (the check the
    `validate_utf8` option applies to TEXT messages), in C."""
    cdef const unsigned char[::1] view = memoryview(data).cast("B")
    if view.shape[0] == 0:
        return True
    return ws_utf8_valid(<const char*>&view[0], view.shape[0]) != 0


cdef inline uint64_t _be64(const uint8_t* p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(8):
        v = (v << 8) | p[i]
    return v


cdef Py_ssize_t complete_frame_size(const char* data, Py_ssize_t size) noexcept nogil:
    """Total size of the frame starting at data if it is all there, else 0."""
    if size < 2:
        return 0
    cdef const uint8_t* p = <const uint8_t*>data
    cdef Py_ssize_t hlen = 2 + (4 if p[1] & 0x80 else 0)
    cdef uint64_t plen = p[1] & 0x7F
    if plen == 126:
        hlen += 2
    elif plen == 127:
        hlen += 8
    if size < hlen:
        return 0
    if plen == 126:
        plen = (p[2] << 8) | p[3]
    elif plen == 127:
        plen = _be64(p + 2)
    # Compared with the room left, never added first (plen may be ~2^64).
    if plen > <uint64_t>(size - hlen):
        return 0
    return hlen + <Py_ssize_t>plen


cdef inline void _unmask_from(char* payload, Py_ssize_t start, Py_ssize_t end,
                              const uint8_t* key) noexcept nogil:
    """Unmask payload[start:end] in place (the key phase follows start)."""
    cdef uint8_t rot[4]
    cdef int i
    for i in range(4):
        rot[i] = key[(start + i) & 3]
    ws_mask_inplace(payload + start, <size_t>(end - start), rot)


cdef class FrameParser:
    def __init__(self, bint expect_masked, Py_ssize_t max_frame_size=10 * 1024 * 1024,
                 int rsv_allowed=0, bint validate_utf8=False):
        # rsv_allowed: bits a peer may set (0x40 when permessage-deflate is on).
        if max_frame_size <= 0:
            raise ValueError("max_frame_size must be > 0")
        self.expect_masked = expect_masked
        self.max_frame_size = max_frame_size
        self._max_payload = min(max_frame_size, MAX_PAYLOAD)
        self.validate_utf8 = validate_utf8
        self._text_msg = False
        self._checked = 0
        ws_utf8_reset(&self._utf8)
        self.rsv_allowed = rsv_allowed & 0x70
        self.rsv1_first_only = False
        self.fragmented_opcode = 0
        self.need = 0
        self.error_code = 0
        self.error_kind = PE_NONE
        self.error_message = None

    cdef int _fail(self, int kind, int code, str message) except -1:
        self.error_kind = kind
        self.error_code = code
        self.error_message = message
        return 0

    cdef Py_ssize_t parse(self, char* data, Py_ssize_t size, WSFrame frame) except -2:
        if size < 2:
            self.need = 2
            return 0
        cdef const uint8_t* p = <const uint8_t*>data
        cdef uint8_t b0 = p[0]
        cdef uint8_t b1 = p[1]
        cdef int opcode = b0 & 0x0F
        cdef bint fin = (b0 & 0x80) != 0
        cdef bint masked = (b1 & 0x80) != 0
        cdef Py_ssize_t hlen = 2
        cdef uint64_t plen = b1 & 0x7F

        if plen == 126:
            hlen = 4
        elif plen == 127:
            hlen = 10
        if masked:
            hlen += 4
        if size < hlen:
            self.need = hlen
            return 0

        if plen == 126:
            plen = (p[2] << 8) | p[3]
            if plen < 126:
                self._fail(PE_BAD_LENGTH, CLOSE_PROTOCOL_ERROR,
                           "Received frame with invalid 16-bit payload len "
                           "(non-minimal 16-bit payload length)")
                return -1
        elif plen == 127:
            plen = _be64(p + 2)
            if plen >> 63:
                self._fail(PE_BAD_LENGTH, CLOSE_PROTOCOL_ERROR,
                           "Received frame with invalid 64-bit payload length "
                           "(64-bit payload length has its most significant bit set)")
                return -1
            if plen <= 0xFFFF:
                self._fail(PE_BAD_LENGTH, CLOSE_PROTOCOL_ERROR,
                           "Received frame with invalid 64-bit payload length "
                           "(non-minimal 64-bit payload length)")
                return -1

        # Header checks, in the order a peer most likely violates them.
        if masked != self.expect_masked:
            self._fail(PE_BAD_MASK, CLOSE_PROTOCOL_ERROR,
                       "Received un-masked frame from client, RFC 6455 section 5.1 forbids "
                       "this (client sent an unmasked frame)" if self.expect_masked
                       else "Received masked frame from server, RFC 6455 section 5.1 forbids "
                       "this (server sent a masked frame)")
            return -1
        if (b0 & 0x70) & ~self.rsv_allowed:
            self._fail(PE_RSV, CLOSE_PROTOCOL_ERROR,
                       "reserved bits set without a negotiated extension")
            return -1
        if (b0 & 0x40) and self.rsv1_first_only and (opcode == 0 or opcode >= 8):
            self._fail(PE_RSV, CLOSE_PROTOCOL_ERROR, "RSV1 set on a control or continuation frame")
            return -1
        if opcode >= 8:
            if opcode > 0xA:
                self._fail(PE_BAD_OPCODE, CLOSE_PROTOCOL_ERROR,
                           f"Received frame with invalid opcode={opcode:#x} "
                           f"(unknown control opcode 0x{opcode:X})")
                return -1
            if not fin:
                self._fail(PE_CONTROL_FRAGMENTED, CLOSE_PROTOCOL_ERROR,
                           "Received fragmented control frame")
                return -1
            if plen > 125:
                self._fail(PE_CONTROL_TOO_LONG, CLOSE_PROTOCOL_ERROR,
                           f"Received control frame with payload size > 125 bytes, "
                           f"opcode={opcode:#x} (control frame payload longer than 125 bytes)")
                return -1
        elif opcode == 0:
            # RSV2/RSV3 allowed (accept_rsv_bits): an extension of the application's is in
            # effect, which RFC 6455 5.4 lets interleave fragments; picows never checks.
            if self.fragmented_opcode == 0 and not (self.rsv_allowed & 0x30):
                self._fail(PE_UNEXPECTED_CONT, CLOSE_PROTOCOL_ERROR,
                           "CONTINUATION frame without a message in progress")
                return -1
        elif opcode <= 2:
            if self.fragmented_opcode != 0 and not (self.rsv_allowed & 0x30):
                self._fail(PE_EXPECTED_CONT, CLOSE_PROTOCOL_ERROR,
                           "new data frame while a fragmented message is in progress")
                return -1
        else:
            self._fail(PE_BAD_OPCODE, CLOSE_PROTOCOL_ERROR,
                       f"Received frame with invalid opcode={opcode:#x} "
                       f"(unknown data opcode 0x{opcode:X})")
            return -1
        if plen > <uint64_t>self._max_payload:
            # picows' wording first (its tests and users' logs match it).
            if plen > <uint64_t>self.max_frame_size:
                self._fail(PE_TOO_BIG, CLOSE_MESSAGE_TOO_BIG,
                           f"Received frame with payload size exceeding max allowed size, "
                           f"{plen} > {self.max_frame_size} (frame of {plen} bytes exceeds "
                           f"max_frame_size)")
            else:
                self._fail(PE_TOO_BIG, CLOSE_MESSAGE_TOO_BIG,
                           f"Received frame with payload size exceeding max allowed size, "
                           f"{plen} > {MAX_PAYLOAD} (the largest supported frame size)")
            return -1

        # Uncompressed TEXT payloads are checked as they arrive (validate_utf8).
        cdef bint check_utf8 = False
        if self.validate_utf8 and opcode <= 2:
            if opcode == 0:
                check_utf8 = self._text_msg
            else:
                check_utf8 = opcode == 1 and not ((b0 & 0x40) and self.rsv1_first_only)
                self._text_msg = check_utf8
                if check_utf8 and self._checked == 0:
                    ws_utf8_reset(&self._utf8)

        cdef char* payload = data + hlen
        cdef Py_ssize_t have = size - hlen
        # plen <= MAX_PAYLOAD (checked above): hlen + plen cannot overflow.
        if <uint64_t>have < plen:
            self.need = hlen + <Py_ssize_t>plen
            if check_utf8 and have > self._checked:
                # Fail on invalid UTF-8 before the rest of the frame arrives.
                if masked:
                    _unmask_from(payload, self._checked, have, p + hlen - 4)
                if not ws_utf8_feed(&self._utf8, payload + self._checked,
                                    <size_t>(have - self._checked)):
                    self._fail(PE_TEXT_UTF8, CLOSE_INVALID_DATA, "invalid UTF-8 in a TEXT message")
                    return -1
                self._checked = have
            return 0
        cdef Py_ssize_t total = hlen + <Py_ssize_t>plen

        if check_utf8:
            if masked:
                _unmask_from(payload, self._checked, <Py_ssize_t>plen, p + hlen - 4)
            if not ws_utf8_feed(&self._utf8, payload + self._checked,
                                <size_t>(<Py_ssize_t>plen - self._checked)) \
                    or (fin and self._utf8.need != 0):
                self._fail(PE_TEXT_UTF8, CLOSE_INVALID_DATA, "invalid UTF-8 in a TEXT message")
                return -1
            self._checked = 0
        elif masked:
            ws_mask_inplace(payload, <size_t>plen, p + hlen - 4)

        if opcode == 8:
            if plen == 1:
                self._fail(PE_CLOSE_TOO_SHORT, CLOSE_PROTOCOL_ERROR,
                           "Received CLOSE with invalid close code size "
                           "(CLOSE frame with a 1-byte payload)")
                return -1
            if plen >= 2:
                if not close_code_allowed((<uint8_t>payload[0] << 8) | <uint8_t>payload[1]):
                    self._fail(PE_CLOSE_CODE, CLOSE_PROTOCOL_ERROR,
                               f"Received CLOSE with invalid close code: "
                               f"{(<uint8_t>payload[0] << 8) | <uint8_t>payload[1]}")
                    return -1
                if not ws_utf8_valid(payload + 2, plen - 2):
                    self._fail(PE_CLOSE_UTF8, CLOSE_INVALID_DATA,
                               "Received CLOSE with invalid UTF-8 reason")
                    return -1
        elif opcode == 0:
            if fin:
                self.fragmented_opcode = 0
        elif opcode <= 2 and not fin:
            self.fragmented_opcode = opcode

        frame.payload_ptr = payload
        frame.payload_size = <Py_ssize_t>plen
        frame.msg_type = <WSMsgType>opcode
        frame.fin = fin
        frame.rsv1 = (b0 & 0x40) != 0
        frame.rsv2 = (b0 & 0x20) != 0
        frame.rsv3 = (b0 & 0x10) != 0
        self.need = 0
        return total

    cdef int set_max_frame_size(self, Py_ssize_t size) noexcept:
        """Change the limit between frames (a driver that budgets a whole
        message does); keeps the overflow cap with it."""
        self.max_frame_size = size
        self._max_payload = size if size < MAX_PAYLOAD else MAX_PAYLOAD
        return 0

    def feed(self, data):
        """Python-level sans-I/O entry for tests and tools: append bytes,
        return the complete frames as (msg_type, fin, rsv1, rsv2, rsv3,
        payload) tuples; raise WSProtocolError on a violation, with the
        frames of this call that came before it in its `frames_before`."""
        from .exceptions import WSProtocolError
        if self._feed_buf is None:
            self._feed_buf = bytearray()
        self._feed_buf += data
        cdef WSFrame frame = WSFrame.__new__(WSFrame)
        cdef list out = []
        cdef Py_ssize_t pos = 0, r
        cdef bytearray buf = self._feed_buf
        cdef char* base = buf
        while True:
            r = self.parse(base + pos, len(buf) - pos, frame)
            if r < 0:
                del buf[:pos]
                error = WSProtocolError(self.error_code, self.error_message)
                error.frames_before = out     # what a connection delivers before failing
                raise error
            if r == 0:
                break
            out.append((msg_type_to_py(frame.msg_type), frame.fin, frame.rsv1, frame.rsv2,
                        frame.rsv3, frame.get_payload_as_bytes()))
            pos += r
        del buf[:pos]
        return out
