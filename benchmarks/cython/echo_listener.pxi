# The Cython echo-client listener of benchmarks/echo.py, shared word for word by
# picows_cy.pyx and picows_like_cy.pyx: each of them cimports WSFrame,
# WSTransport, WSListener and WSMsgType from its library, then includes this.
#
# Same request/response and checks as the Python listener client
# (_bench_common.RoundTrips): one BINARY message out, wait for its full echo,
# check type/fin/size every time and the content every CHECK_EVERY-th echo,
# record the round-trip time if it was sent inside the measuring window, send
# the next.  The difference is that all of it runs in C: on_ws_frame is a cpdef
# override called through the vtable, the echo is read at frame.payload_ptr and
# the message goes out through the cdef send_reuse_external_buffer.
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memcmp
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

cdef enum:
    HEADROOM = 14       # largest client frame header: send_reuse_external_buffer writes it in front
    CHECK_EVERY = 64    # as _bench_common.CHECK_EVERY


cdef inline int64_t _now_ns() noexcept nogil:
    # CLOCK_MONOTONIC: the clock time.perf_counter_ns() reads on Linux.
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000LL + ts.tv_nsec


class EchoMismatch(Exception):
    """The echo did not match what was sent."""


cdef class EchoClient(WSListener):
    cdef:
        char* _message              # the payload, never modified
        char* _send_buf             # HEADROOM bytes + the message being sent
        Py_ssize_t _size
        WSTransport _transport
        object _done                # future of the current window, None between windows
        int64_t _sent_at
        int64_t _measure_from
        int64_t _stop_at
        int64_t* _lat               # round-trip times (ns) of the whole cell
        Py_ssize_t _lat_cap
        readonly Py_ssize_t latency_count
        readonly int64_t first_sent         # of the current window's measured part
        readonly int64_t last_received
        readonly Py_ssize_t echoes
        readonly Py_ssize_t content_checks

    def __cinit__(self, bytes payload):
        self._size = len(payload)
        self._message = <char*>malloc(self._size + 1)
        self._send_buf = <char*>malloc(HEADROOM + self._size + 1)
        self._lat_cap = 4096
        self._lat = <int64_t*>malloc(self._lat_cap * sizeof(int64_t))
        if self._message == NULL or self._send_buf == NULL or self._lat == NULL:
            raise MemoryError()
        memcpy(self._message, <char*>payload, self._size)

    def __dealloc__(self):
        free(self._message)
        free(self._send_buf)
        free(self._lat)

    def begin(self, double settle, double duration, done):
        """Start a window: round trips for settle + duration seconds, only
        those sent after `settle` are measured; `done` gets the outcome."""
        if self._transport is None:
            raise ConnectionError("not connected")
        self._done = done
        self.first_sent = self.last_received = 0
        self._measure_from = _now_ns() + <int64_t>(settle * 1e9)
        self._stop_at = self._measure_from + <int64_t>(duration * 1e9)
        self._send()

    def latencies_bytes(self, Py_ssize_t start):
        """Round-trip times recorded since index `start`, as int64 bytes."""
        return (<char*>(self._lat + start))[:(self.latency_count - start) * sizeof(int64_t)]

    cdef int _send(self) except -1:
        # Copying the message in stands for producing it; it is needed anyway
        # because a client-side send_reuse_external_buffer may mask in place.
        cdef char* msg = self._send_buf + HEADROOM
        memcpy(msg, self._message, self._size)
        self._sent_at = _now_ns()
        self._transport.send_reuse_external_buffer(WSMsgType.BINARY, msg, self._size)
        return 0

    cdef int _record(self, int64_t now) except -1:
        cdef int64_t* grown
        if self.latency_count == self._lat_cap:
            grown = <int64_t*>realloc(self._lat, 2 * self._lat_cap * sizeof(int64_t))
            if grown == NULL:
                raise MemoryError()
            self._lat = grown
            self._lat_cap *= 2
        if self.first_sent == 0:
            self.first_sent = self._sent_at
        self._lat[self.latency_count] = now - self._sent_at
        self.latency_count += 1
        self.last_received = now
        return 0

    cdef _fail(self, exc):
        done, self._done = self._done, None
        if done is not None and not done.done():
            done.set_exception(exc)

    cpdef on_ws_connected(self, WSTransport transport):
        self._transport = transport

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef int64_t now = _now_ns()
        if self._done is None:
            return
        if frame.msg_type != WSMsgType.BINARY or not frame.fin or frame.payload_size != self._size:
            self._fail(EchoMismatch(
                f"echo #{self.echoes + 1}: expected a final binary frame of {self._size} "
                f"bytes, got type={int(frame.msg_type)} fin={frame.fin} size={frame.payload_size}"))
            return
        if self._sent_at >= self._measure_from:
            self._record(now)
        self.echoes += 1
        if self.echoes % CHECK_EVERY == 1:
            self.content_checks += 1
            if memcmp(frame.payload_ptr, self._message, self._size) != 0:
                self._fail(EchoMismatch(f"echo #{self.echoes}: payload content differs"))
                return
        if now < self._stop_at:
            self._send()
        else:
            done, self._done = self._done, None
            if not done.done():
                done.set_result(None)

    cpdef on_ws_disconnected(self, WSTransport transport):
        self._transport = None
        self._fail(ConnectionError("disconnected during a measuring window"))
