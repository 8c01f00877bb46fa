# cython: language_level=3
"""A Cython echo client for picows_like: no Python object per message.

EchoClient is a `cdef class` WSListener whose cpdef callbacks are called
through the vtable.  It keeps one message in a C buffer with
WS_SEND_HEADROOM free bytes in front of it, sends it with
send_reuse_external_buffer (the frame header is written into those bytes),
reads the echo straight from frame.payload_ptr, checks it with memcmp and
stores each round-trip time in a C array.

Build:  python setup.py build_ext --inplace
Run:    python run_echo_client.py
"""
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memcmp, memset
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from picows_like cimport (WSFrame, WSTransport, WSListener, WSMsgType, WSCloseCode,
                          WS_SEND_HEADROOM)

import asyncio

import picows_like


cdef inline long long _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000LL + ts.tv_nsec


cdef class EchoClient(WSListener):
    cdef:
        char* _message          # the payload to send (kept pristine)
        char* _send_buf         # WS_SEND_HEADROOM bytes + a copy of the payload
        size_t _size
        Py_ssize_t _rounds
        readonly Py_ssize_t completed
        readonly Py_ssize_t mismatches
        long long _sent_at
        long long* _rtt_ns
        object _done            # future: set when every round trip is done

    def __cinit__(self, Py_ssize_t rounds, Py_ssize_t size, done=None):
        if rounds <= 0 or size < 0:
            raise ValueError("rounds must be > 0 and size >= 0")
        self._rounds = rounds
        self._size = <size_t>size
        self._message = <char*>malloc(self._size + 1)
        self._send_buf = <char*>malloc(WS_SEND_HEADROOM + self._size + 1)
        self._rtt_ns = <long long*>malloc(rounds * sizeof(long long))
        if self._message == NULL or self._send_buf == NULL or self._rtt_ns == NULL:
            raise MemoryError()
        cdef size_t i
        for i in range(self._size):
            self._message[i] = <char>(32 + (i * 7) % 95)      # printable bytes
        self._done = done

    def __dealloc__(self):
        free(self._message)
        free(self._send_buf)
        free(self._rtt_ns)

    cdef int _send_next(self, WSTransport transport) except -1:
        # On the client side send_reuse_external_buffer masks the payload in
        # place, so every round sends from a fresh copy of the message.
        cdef char* msg = self._send_buf + WS_SEND_HEADROOM
        memcpy(msg, self._message, self._size)
        self._sent_at = _now_ns()
        transport.send_reuse_external_buffer(WSMsgType.BINARY, msg, self._size)
        return 0

    cpdef on_ws_connected(self, WSTransport transport):
        self._send_next(transport)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef long long now = _now_ns()
        if frame.msg_type != WSMsgType.BINARY:
            return          # CLOSE from the server, PONG...: nothing to do here
        if <size_t>frame.payload_size != self._size or \
                memcmp(frame.payload_ptr, self._message, self._size) != 0:
            self.mismatches += 1
        self._rtt_ns[self.completed] = now - self._sent_at
        self.completed += 1
        if self.completed < self._rounds:
            self._send_next(transport)
        else:
            transport.send_close(WSCloseCode.OK)
            if self._done is not None and not self._done.done():
                self._done.set_result(None)

    cpdef on_ws_disconnected(self, WSTransport transport):
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError(
                f"disconnected after {self.completed} of {self._rounds} round trips"))

    def round_trip_times(self):
        """The measured round-trip times in seconds."""
        return [self._rtt_ns[i] * 1e-9 for i in range(self.completed)]


async def run(str url, Py_ssize_t rounds=1000, Py_ssize_t size=256):
    """Connect to the echo server at `url`, do `rounds` round trips of `size`
    bytes and return their times in seconds."""
    done = asyncio.get_running_loop().create_future()
    transport, client = await picows_like.ws_connect(
        lambda: EchoClient(rounds, size, done), url)
    try:
        await asyncio.wait_for(done, 60)
        # We sent CLOSE after the last echo; the server answers and closes.
        await asyncio.wait_for(transport.wait_disconnected(), 5)
    finally:
        transport.disconnect(False)
    if (<EchoClient>client).mismatches:
        raise AssertionError(f"{(<EchoClient>client).mismatches} echoes differed")
    return client.round_trip_times()
