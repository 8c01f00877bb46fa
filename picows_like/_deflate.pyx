"""zlib's C API for permessage-deflate: raw deflate streams with a sync
flush per message, the 0x00 0x00 0xff 0xff tail stripped on send and
re-added on receive (RFC 7692 7.2).  No Python objects per frame: output
goes to a reusable per-connection buffer."""
from libc.string cimport memset
from cpython.pyport cimport PY_SSIZE_T_MAX

from ._buffer cimport MemoryBuffer


cdef extern from "zlib.h":
    int Z_OK, Z_STREAM_END, Z_BUF_ERROR, Z_NO_FLUSH, Z_SYNC_FLUSH, Z_DEFLATED, Z_DEFAULT_STRATEGY
    int inflateInit2(z_stream* strm, int window_bits)
    int inflate(z_stream* strm, int flush) nogil
    int inflateReset(z_stream* strm) nogil
    int inflateEnd(z_stream* strm)
    int deflateInit2(z_stream* strm, int level, int method, int window_bits, int mem_level,
                     int strategy)
    int deflate(z_stream* strm, int flush) nogil
    int deflateReset(z_stream* strm) nogil
    int deflateEnd(z_stream* strm)


cdef const char* _TAIL = b"\x00\x00\xff\xff"

# Output buffers start at OUT_INIT bytes and grow (x2) to the largest frame
# (de)compressed; past OUT_KEEP, release_output() gives them back to
# OUT_INIT (the protocol calls it when the connection has been idle), so a
# connection that saw one large message does not keep its size.
cdef enum:
    OUT_INIT = 16 * 1024
    OUT_KEEP = 256 * 1024

# zlib counts input and output space in 32-bit unsigned ints (avail_in,
# avail_out): payloads and output buffers are handed to it in pieces of at
# most this many bytes, so a frame over 4 GiB is neither truncated nor left
# partly unwritten.  Tests lower it with _set_zlib_chunk() to exercise the loops.
ZLIB_CHUNK = 1 << 30
cdef Py_ssize_t _zlib_chunk = ZLIB_CHUNK

# Decompressed frames are refused (as over max_size) beyond this, whatever
# max_size says, so the output size arithmetic cannot overflow.
cdef Py_ssize_t _MAX_OUTPUT = PY_SSIZE_T_MAX // 2


def _set_zlib_chunk(Py_ssize_t size):
    """Test hook: set the piece size handed to zlib (8..ZLIB_CHUNK); returns
    the previous one.  At least 8: a sync flush needs more than 6 bytes of
    output space per call, or zlib repeats its flush marker (zlib.h)."""
    global _zlib_chunk
    if not 8 <= size <= ZLIB_CHUNK:
        raise ValueError(f"chunk size must be in 8..{ZLIB_CHUNK}")
    old = _zlib_chunk
    _zlib_chunk = size
    return old


cdef class Inflater:
    def __cinit__(self, int window_bits=15, bint reset_after_message=False):
        memset(&self._strm, 0, sizeof(z_stream))
        if not 8 <= window_bits <= 15:
            raise ValueError("window_bits must be in 8..15")
        # zlib cannot inflate a raw stream with an 8-bit window; 9 reads it.
        if inflateInit2(&self._strm, -max(window_bits, 9)) != Z_OK:
            raise MemoryError("inflateInit2 failed")
        self._ready = True
        self._reset_after_message = reset_after_message
        self.out = MemoryBuffer(OUT_INIT)

    def __dealloc__(self):
        if self._ready:
            inflateEnd(&self._strm)

    cdef int _run(self, const char* data, Py_ssize_t size, Py_ssize_t max_size) except -2:
        """Inflate `data` into out[out_size:]; 0 ok, 1 too big, -1 corrupt."""
        cdef int ret
        cdef Py_ssize_t room
        cdef Py_ssize_t step = _zlib_chunk
        cdef Py_ssize_t rest = size              # input not yet handed to zlib
        if max_size > _MAX_OUTPUT:
            max_size = _MAX_OUTPUT               # so max_size + 1 cannot overflow
        self._strm.next_in = <const unsigned char*>data
        self._strm.avail_in = 0
        while True:
            if self._strm.avail_in == 0 and rest > 0:
                self._strm.avail_in = <unsigned int>min(rest, step)
                rest -= self._strm.avail_in
            if self.out_size == self.out.capacity:
                if self.out.capacity > max_size:
                    return 1
                self.out.reserve(min(self.out.capacity * 2, max_size + 1), self.out_size)
            room = min(self.out.capacity - self.out_size, step)
            self._strm.next_out = <unsigned char*>self.out.data + self.out_size
            self._strm.avail_out = <unsigned int>room
            with nogil:
                ret = inflate(&self._strm, Z_SYNC_FLUSH)
            self.out_size += room - self._strm.avail_out
            if self.out_size > max_size:
                return 1
            if ret == Z_STREAM_END:
                inflateReset(&self._strm)        # a final block: start afresh
                if self._strm.avail_in == 0 and rest == 0:
                    return 0
                continue
            if ret == Z_BUF_ERROR:
                if self._strm.avail_in == 0:
                    if rest == 0:
                        return 0                 # all input consumed
                    continue
                if self._strm.avail_out != 0:
                    return 0
                continue
            if ret != Z_OK:
                self.error = (<bytes>self._strm.msg).decode() if self._strm.msg != NULL \
                    else f"zlib error {ret}"
                return -1
            if self._strm.avail_in == 0 and rest == 0 and self._strm.avail_out != 0:
                return 0

    cdef int release_output(self) except -1:
        """Between frames: shrink `out` if it grew past OUT_KEEP."""
        if self.out.capacity > OUT_KEEP:
            self.out.shrink(OUT_INIT)
            self.out_size = 0
        return 0

    cdef int inflate(self, const char* data, Py_ssize_t size, bint fin,
                     Py_ssize_t max_size) except -2:
        """0 ok (out[:out_size] holds this frame's data), 1 over max_size,
        -1 corrupt stream (`error` says why)."""
        cdef int r
        self.out_size = 0
        r = self._run(data, size, max_size)
        if r == 0 and fin:
            r = self._run(_TAIL, 4, max_size)
            if self._reset_after_message:
                inflateReset(&self._strm)
        return r

    def decompress(self, data, bint fin=True, Py_ssize_t max_size=64 * 1024 * 1024):
        """Python-level entry for tests: one frame's payload in, bytes out."""
        cdef bytes b = bytes(data)
        cdef int r = self.inflate(b, len(b), fin, max_size)
        if r == 1:
            raise ValueError(f"inflated size exceeds {max_size}")
        if r < 0:
            raise ValueError(self.error)
        return self.out.data[:self.out_size]


cdef class Deflater:
    def __cinit__(self, int window_bits=15, bint reset_after_message=False, int level=6,
                  int mem_level=8):
        memset(&self._strm, 0, sizeof(z_stream))
        if not 8 <= window_bits <= 15:
            raise ValueError("window_bits must be in 8..15")
        # zlib turns a raw 8-bit window into 9 itself; ask for 9 so the
        # stream we produce is what the peer agreed to read.
        if deflateInit2(&self._strm, level, Z_DEFLATED, -max(window_bits, 9), mem_level,
                        Z_DEFAULT_STRATEGY) != Z_OK:
            raise ValueError("deflateInit2 failed (check level and mem_level)")
        self._ready = True
        self._reset_after_message = reset_after_message
        self.out = MemoryBuffer(OUT_INIT)

    def __dealloc__(self):
        if self._ready:
            deflateEnd(&self._strm)

    cdef int release_output(self) except -1:
        """Between frames: shrink `out` if it grew past OUT_KEEP."""
        if self.out.capacity > OUT_KEEP:
            self.out.shrink(OUT_INIT)
            self.out_size = 0
        return 0

    cdef int deflate(self, const char* data, Py_ssize_t size, bint fin) except -1:
        """Compress one frame's payload into out[:out_size] (sync flush; the
        empty-block tail removed when the message ends here)."""
        cdef Py_ssize_t room
        cdef int ret, flush
        cdef Py_ssize_t step = _zlib_chunk
        cdef Py_ssize_t rest = size              # input not yet handed to zlib
        self.out_size = 0
        self._strm.next_in = <const unsigned char*>data
        self._strm.avail_in = 0
        while True:
            if self._strm.avail_in == 0 and rest > 0:
                self._strm.avail_in = <unsigned int>min(rest, step)
                rest -= self._strm.avail_in
            # One sync flush at the end of the frame, not one per piece.
            flush = Z_SYNC_FLUSH if rest == 0 else Z_NO_FLUSH
            # A sync flush of n bytes needs at most n + n/1000 + ~20 bytes.
            self.out.reserve(self.out_size + size // 1000 + size // 8 + 64, self.out_size)
            room = min(self.out.capacity - self.out_size, step)
            self._strm.next_out = <unsigned char*>self.out.data + self.out_size
            self._strm.avail_out = <unsigned int>room
            with nogil:
                ret = deflate(&self._strm, flush)
            self.out_size += room - self._strm.avail_out
            if ret != Z_OK and ret != Z_BUF_ERROR:
                raise RuntimeError(f"zlib deflate failed: {ret}")
            if rest == 0 and self._strm.avail_out != 0:
                break
        if fin:
            if self.out_size >= 4 and self.out.data[self.out_size - 4] == 0 and \
                    self.out.data[self.out_size - 3] == 0 and \
                    <unsigned char>self.out.data[self.out_size - 2] == 0xFF and \
                    <unsigned char>self.out.data[self.out_size - 1] == 0xFF:
                self.out_size -= 4
            elif self.out_size == 0:
                # Nothing was pending, so zlib flushed nothing: an empty stored
                # block's first byte makes the peer's appended tail valid.
                self.out.data[0] = 0
                self.out_size = 1
            if self._reset_after_message:
                deflateReset(&self._strm)
        return 0

    def compress(self, data, bint fin=True):
        """Python-level entry for tests: one frame's payload in, bytes out."""
        cdef bytes b = bytes(data)
        self.deflate(b, len(b), fin)
        return self.out.data[:self.out_size]
