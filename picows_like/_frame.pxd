from libc.stdint cimport uint8_t

from ._enums cimport WSMsgType, WSCloseCode


cdef class WSFrame:
    """A received frame: a view into the connection's read buffer.

    One object per connection, refilled for every frame; valid only during
    WSListener.on_ws_frame.  `payload_ptr` is followed by at least
    BUFFER_SLACK (64) readable bytes.
    """
    cdef:
        char* payload_ptr
        readonly Py_ssize_t payload_size
        readonly Py_ssize_t tail_size
        WSMsgType msg_type
        readonly uint8_t fin            # 0/1, uint8_t as in picows (Python int)
        readonly uint8_t rsv1
        readonly uint8_t rsv2
        readonly uint8_t rsv3
        readonly uint8_t last_in_buffer
        object _owner           # keeps test payloads alive (see make_test_frame)

    cpdef bytes get_payload_as_bytes(self)
    cpdef str get_payload_as_utf8_text(self)
    cpdef str get_payload_as_ascii_text(self)
    cpdef object get_payload_as_memoryview(self)
    cpdef object get_close_code(self)
    cpdef bytes get_close_message(self)
    cpdef str get_close_reason(self)


cdef object msg_type_to_py(int opcode)
cdef object close_code_to_py(int code)
