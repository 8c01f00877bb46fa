from ._buffer cimport MemoryBuffer
from ._frame cimport WSFrame
from ._parser cimport FrameParser
from ._deflate cimport Inflater
from ._transport cimport WSTransport
from ._listener cimport WSListener


cdef extern from "ws_utf8.h":
    ctypedef struct ws_utf8_state:
        unsigned char need
        unsigned char lo
        unsigned char hi


cdef class WSProtocolCore:
    cdef:
        readonly WSTransport transport
        readonly WSListener listener
        object _py_on_frame            # cached bound method of a Python override
        FrameParser _parser
        WSFrame _frame
        MemoryBuffer _rbuf
        Py_ssize_t _rpos               # unread data is _rbuf.data[_rpos:_wpos]
        Py_ssize_t _wpos
        Py_ssize_t _init_size
        int _calm_reads                # reads since the buffer last needed to be big
        bint _large_used               # a buffer > 256 KiB was used this timer period
        object _release_timer          # gives large buffers back when idle

        bint _is_client
        bint _upgraded
        bint _stop_reading             # CLOSE received, connection failed or closing
        Py_ssize_t _drained            # bytes discarded since _stop_reading
        object _loop
        object _logger
        object _handshake_timeout      # seconds or None
        double _close_timeout
        object _listener_factory
        bint _disconnect_on_exception
        bint _enable_auto_pong
        bint _validate_utf8            # check TEXT messages (1007 when invalid)
        bint _msg_is_text
        ws_utf8_state _utf8
        object _compression            # client: our offer; server: what we accept
        object _subprotocols
        Inflater _inflater             # permessage-deflate, None when not negotiated
        bint _msg_compressed

        # handshake
        object _handshake_timer
        object _upgrade_future         # client: resolves to (request, response)
        bytes _ws_key
        bytes _request_bytes
        object _request
        object _head                   # client: response head waiting for its body
        object _pending_factory        # server: an async listener factory, running
        bint _factory_paused           # reading paused while it runs (too much input)
        Py_ssize_t _body_needed
        Py_ssize_t _head_checked       # bytes after _rpos searched for CRLFCRLF so far
        readonly Py_ssize_t _head_scan_bytes   # total bytes searched (tests: no rescans)

        # liveness
        bint _auto_ping
        bint _ping_periodically
        double _idle_timeout
        double _reply_timeout
        double _last_read
        double _ping_sent_at
        bint _expect_pong
        object _ping_timer
        object _rtt_future

    cdef int _process_frames(self) except -1
    cdef int _dispatch(self, WSFrame frame) except -1
    cdef int _inflate(self, WSFrame frame) except -2
    cdef int _call_on_frame(self, WSFrame frame) except -1
    cdef int _on_close_frame(self, WSFrame frame) except -1
    cdef int _fail(self, int code, str message) except -1
    cdef int _callback_failed(self, exc, str where) except -1
    cdef int _compact(self, bint filled) except -1
    cdef int _large_buffer_used(self) except -1
    cdef int _handshake_data(self) except -1
    cdef int _upgraded_to(self, listener, request, response, compression, subprotocol) except -1
