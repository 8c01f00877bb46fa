# picows_like's Cython API.
#
#     from picows_like cimport WSFrame, WSTransport, WSListener, WSMsgType, WSCloseCode
#
# The .pxd files ship in the wheel and the sdist; Cython finds them on
# sys.path, and a user's module needs no include_dirs (no picows_like header
# is included by the generated C).  See examples/cython_echo_client.
#
# Stable surface (what a user's compiled module may use):
#
# WSMsgType, WSCloseCode, WSAutoPingStrategy
#     cpdef enums: C constants in Cython, IntEnum classes in Python.
#
# WSFrame (valid only during WSListener.on_ws_frame)
#     char* payload_ptr           the payload, unmasked, inside the read buffer
#     Py_ssize_t payload_size
#     Py_ssize_t tail_size        bytes in the read buffer after this frame
#     bint fin, rsv1, rsv2, rsv3, last_in_buffer
#     WSMsgType msg_type          (pending: until _frame.pxd declares the field
#                                 under this name, Cython reads the Python property)
#     cpdef get_payload_as_bytes / _utf8_text / _ascii_text / _memoryview,
#           get_close_code / get_close_message / get_close_reason
#     payload_ptr is always followed by at least WS_PAYLOAD_SLACK readable
#     bytes (also when the frame ends exactly at the end of the read buffer),
#     so SIMD parsers such as simdjson (which needs 64) may over-read the
#     payload.  Their content is unspecified; never write to them.
#
# WSTransport
#     readonly: underlying_transport, request, response, close_handshake,
#               is_client_side, is_secure, is_close_frame_sent, is_disconnected
#     cdef int send_reuse_external_buffer(WSMsgType msg_type, char* msg_ptr,
#             size_t msg_size, bint fin=True, bint rsv1=False, bint rsv2=False,
#             bint rsv3=False) except -1
#         Sends msg_ptr[0:msg_size] without copying it: the frame header is
#         written into the WS_SEND_HEADROOM bytes in front of msg_ptr, which
#         the caller must own.  On the client side the payload is masked in
#         place (the buffer's content is changed).  The buffer may be reused
#         as soon as the call returns.
#     cpdef send, send_reuse_external_bytearray, send_ping, send_pong,
#           send_close, disconnect, notify_user_specific_pong_received
#
# WSListener
#     cpdef on_ws_connected, on_ws_frame, on_ws_disconnected,
#           send_user_specific_ping, is_user_specific_pong,
#           pause_writing, resume_writing
#     A `cdef class` subclass overriding them as `cpdef` is called through
#     the vtable (no Python call per frame).
#
# Everything else declared in the underlying units (fields and methods
# starting with "_", FrameParser, MemoryBuffer, the protocol) is internal and
# may change in any release.
#
# Binary compatibility rules for us (a user's compiled module embeds the
# struct and vtable layouts it was compiled against):
#   * WSFrame, WSTransport: public fields and public methods come first and
#     keep their order; new fields/cdef methods are only appended after the
#     private ones (old modules then import with a "size changed" warning
#     instead of failing).
#   * WSListener: users subclass it, so its C layout is frozen: no C fields
#     besides __weakref__ and no new cdef/cpdef methods, ever.
#   * The cpdef enums' values never change.
from picows_like._enums cimport WSMsgType, WSCloseCode, WSAutoPingStrategy
from picows_like._frame cimport WSFrame
from picows_like._transport cimport WSTransport
from picows_like._listener cimport WSListener

cdef enum:
    # Readable bytes guaranteed after frame.payload_ptr + frame.payload_size.
    WS_PAYLOAD_SLACK = 64
    # Writable bytes send_reuse_external_buffer needs in front of msg_ptr
    # (2 + 8 bytes of length + 4 bytes of mask, the largest frame header).
    WS_SEND_HEADROOM = 14
