from libc.stdint cimport uint8_t

from ._enums cimport WSMsgType
from ._buffer cimport MemoryBuffer


cdef enum:
    # The largest frame header: 2 bytes, 8 of 64-bit length, 4 of mask key.
    MAX_FRAME_HEADER_SIZE = 14
    # First header byte of a final CLOSE / PONG frame (FIN bit | opcode).
    FIN_CLOSE_BYTE = 0x88
    FIN_PONG_BYTE = 0x8A


cdef class WSCloseInfo:
    cdef:
        readonly object code        # WSCloseCode, or int for other codes
        readonly str reason


cdef class WSCloseHandshake:
    cdef:
        readonly WSCloseInfo recv
        readonly WSCloseInfo sent
        readonly bint recv_then_sent


cdef class WSTransport:
    cdef:
        object __weakref__
        readonly object underlying_transport
        readonly object request
        readonly object response
        readonly WSCloseHandshake close_handshake
        readonly bint is_client_side
        readonly bint is_secure
        readonly bint is_close_frame_sent
        readonly bint is_disconnected
        readonly object subprotocol          # negotiated Sec-WebSocket-Protocol or None
        readonly object compression          # negotiated WSPerMessageDeflate or None

        # Private from here on: users' compiled modules must not rely on it.
        object _loop
        unsigned long _thread_id    # the loop's thread: the public methods check it
        object _logger
        object _tr_write
        object _tr_get_write_buffer_size
        int _fd                     # socket for direct writes; -1 = never
        bint _maybe_queued          # the transport's buffer may hold data
        bint _closing               # a graceful close (linger) or an abort has started
        bint _write_shut            # write_eof() (or TLS close()) was called
        object _engine              # the connection's _engine.WSEngine (typed in the .pyx,
                                    # so this .pxd does not pull in zlib.h either)
        double _close_timeout
        MemoryBuffer _wbuf
        bytearray _lent             # reusable buffer for large transport.write()s
        bint _chunk_tls             # large writes go to the loop's TLS in pieces
        object _disconnected_future
        object _exception           # re-raised by wait_disconnected()
        object _protocol            # WSProtocol, for liveness hooks
        object _deflater            # a _deflate.Deflater (kept untyped here so this .pxd,
                                    # which users cimport, does not pull in zlib.h)
        Py_ssize_t _compress_min    # smaller messages go uncompressed
        bint _compressing           # the outgoing message in progress is compressed
        bint _write_paused          # between pause_writing() and resume_writing()
        Py_ssize_t _pong_pending    # size of the latest PING payload left to answer; -1: none
        char _pong_payload[125]

    cdef int send_reuse_external_buffer(self, WSMsgType msg_type, char* msg_ptr,
                                        size_t msg_size, bint fin=*, bint rsv1=*,
                                        bint rsv2=*, bint rsv3=*) except -1
    cpdef send(self, WSMsgType msg_type, message, bint fin=*, bint rsv1=*, bint rsv2=*,
               bint rsv3=*, compress=*)
    cpdef send_reuse_external_bytearray(self, WSMsgType msg_type, bytearray buffer,
                                        Py_ssize_t msg_offset, bint fin=*, bint rsv1=*,
                                        bint rsv2=*, bint rsv3=*)
    cpdef send_ping(self, message=*)
    cpdef send_pong(self, message=*)
    cpdef send_close(self, close_code=*, close_message=*)
    cpdef disconnect(self, bint graceful=*)
    cpdef notify_user_specific_pong_received(self)

    cdef int _send_frame(self, uint8_t b0, const char* payload, Py_ssize_t size,
                         bytes owner=*) except -1
    cdef int _send_data(self, uint8_t b0, const char* payload, Py_ssize_t size,
                        object compress, bytes owner=*) except -1
    cdef int _auto_pong(self, const char* payload, Py_ssize_t size) except -1
    cdef int _writing_resumed(self) except -1
    cdef int _release_idle(self) except -1
    cdef int _write(self, const char* p1, Py_ssize_t n1, const char* p2, Py_ssize_t n2) except -1
    cdef char* _lend(self, Py_ssize_t n) except NULL
    cdef int _write_lent(self, Py_ssize_t n) except -1
    cdef int _write_view(self, object view, Py_ssize_t n) except -1
    cdef int _write_by_ref(self, const char* hdr, Py_ssize_t hlen, bytes payload) except -1
    cdef bint _direct_ok(self) except -1
    cdef int _after_close_sent(self, int code, str reason) except -1
    cdef int _set_close_received(self, object code, str reason) except -1
    cdef int _connection_lost(self) except -1
    cdef int _linger(self, bint shut_write) except -1
    cdef int _set_close_deadline(self, double delay) except -1
    cdef int _shut_write(self) except -1
    cdef double _linger_timeout(self)

