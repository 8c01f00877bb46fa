"""WSFrame: the zero-copy view handed to WSListener.on_ws_frame."""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_DecodeASCII
from libc.stdint cimport uint8_t

from ._enums import WSMsgType as PyWSMsgType, WSCloseCode as PyWSCloseCode

# Python enum members indexed by opcode / looked up by close code, built once
# so that reading frame.msg_type costs a tuple index, not an enum call.
cdef tuple _MSG_TYPES = tuple(
    PyWSMsgType(i) if i in PyWSMsgType._value2member_map_ else i for i in range(16))
cdef dict _CLOSE_CODES = {int(m): m for m in PyWSCloseCode}


cdef object msg_type_to_py(int opcode):
    return _MSG_TYPES[opcode & 0xF]


cdef object close_code_to_py(int code):
    """Known codes as WSCloseCode members, others (3000-4999...) as int."""
    member = _CLOSE_CODES.get(code)
    return code if member is None else member


cdef class WSFrame:
    @property
    def msg_type(self):
        return <object>(<tuple>_MSG_TYPES)[self.msg_type & 0xF]

    cpdef bytes get_payload_as_bytes(self):
        """A new bytes object with a copy of the payload."""
        return PyBytes_FromStringAndSize(self.payload_ptr, self.payload_size)

    cpdef str get_payload_as_utf8_text(self):
        """A new str decoded from the payload; raises UnicodeDecodeError."""
        return PyUnicode_DecodeUTF8(self.payload_ptr, self.payload_size, NULL)

    cpdef str get_payload_as_ascii_text(self):
        """A new str decoded from the payload; raises if it is not 7-bit ASCII."""
        return PyUnicode_DecodeASCII(self.payload_ptr, self.payload_size, NULL)

    cpdef object get_payload_as_memoryview(self):
        """A read-only memoryview of the read buffer: valid only during the callback."""
        return PyMemoryView_FromMemory(self.payload_ptr, self.payload_size, PyBUF_READ)

    cpdef object get_close_code(self):
        """CLOSE frames: the code (WSCloseCode, or int for codes it does not
        name), NO_INFO when the payload carries none."""
        if self.payload_size < 2:
            return PyWSCloseCode.NO_INFO
        cdef const uint8_t* p = <const uint8_t*>self.payload_ptr
        return close_code_to_py((p[0] << 8) | p[1])

    cpdef bytes get_close_message(self):
        """CLOSE frames: the reason as bytes, None when empty."""
        if self.payload_size <= 2:
            return None
        return PyBytes_FromStringAndSize(self.payload_ptr + 2, self.payload_size - 2)

    cpdef str get_close_reason(self):
        """CLOSE frames: the reason as str, None when empty."""
        if self.payload_size <= 2:
            return None
        return PyUnicode_DecodeUTF8(self.payload_ptr + 2, self.payload_size - 2, "replace")

    def __str__(self):
        # picows' format, field for field.
        mt = msg_type_to_py(self.msg_type)
        return (f"WSFrame({getattr(mt, 'name', mt)}, fin={self.fin != 0}, "
                f"rsv1={self.rsv1 != 0}, rsv2={self.rsv2 != 0}, rsv3={self.rsv3 != 0}, "
                f"last_in_buffer={self.last_in_buffer != 0}, "
                f"payload_sz={self.payload_size}, tail_sz={self.tail_size})")

    def __repr__(self):
        return self.__str__()


def make_test_frame(msg_type, payload, bint fin=True, bint rsv1=False):
    """A standalone frame owning a copy of `payload`, for unit-testing listeners."""
    cdef bytes data = bytes(payload)
    cdef WSFrame frame = WSFrame.__new__(WSFrame)
    frame._owner = data
    frame.payload_ptr = <char*>data
    frame.payload_size = len(data)
    frame.msg_type = <WSMsgType><int>msg_type
    frame.fin = fin
    frame.rsv1 = rsv1
    frame.last_in_buffer = True
    return frame
