from ._buffer cimport MemoryBuffer
from ._frame cimport WSFrame
from ._engine cimport WSEngine, WSEngineSink
from ._transport cimport WSTransport
from ._listener cimport WSListener


# The asyncio driver: moves bytes between the event loop and the engine,
# arms timers, calls the listener.  It is the engine's sink (C calls).
cdef class WSProtocolCore(WSEngineSink):
    cdef:
        readonly WSTransport transport
        readonly WSListener listener
        object _py_on_frame            # cached bound method of a Python override
        WSEngine _engine               # the connection's rules and state
        MemoryBuffer _rbuf
        Py_ssize_t _rpos               # unread data is _rbuf.data[_rpos:_wpos]
        Py_ssize_t _wpos
        Py_ssize_t _init_size
        int _calm_reads                # reads since the buffer last needed to be big
        bint _large_used               # a buffer > 256 KiB was used this timer period
        object _release_timer          # gives large buffers back when idle

        bint _is_client
        Py_ssize_t _drained            # bytes discarded since _stop_reading
        object _loop
        object _logger
        object _handshake_timeout      # seconds or None
        double _close_timeout
        object _listener_factory
        bint _disconnect_on_exception
        bint _enable_auto_pong
        object _compression            # client: our offer; server: what we accept
        object _subprotocols

        # handshake
        object _upgrade_future         # client: resolves to (request, response)
        object _request
        object _pending_factory        # server: an async listener factory, running
        bint _factory_paused           # reading paused while it runs (too much input)

        # liveness: the engine keeps the deadlines, this one timer waits for the next
        bint _auto_ping
        object _timer
        double _timer_due
        object _rtt_future

    cdef int _feed(self) except -1
    cdef int _on_close_frame(self, WSFrame frame) except -1
    cdef int _callback_failed(self, exc, str where) except -1
    cdef int _compact(self, bint filled) except -1
    cdef int _large_buffer_used(self) except -1
    cdef int _handshake_data(self) except -1
    cdef int _arm_timer(self) except -1
    cdef int _upgraded_to(self, listener, request, response, subprotocol) except -1
