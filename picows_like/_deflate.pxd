from ._buffer cimport MemoryBuffer


cdef extern from "zlib.h":
    ctypedef struct z_stream:
        const unsigned char* next_in
        unsigned int avail_in
        unsigned long total_in
        unsigned char* next_out
        unsigned int avail_out
        unsigned long total_out
        const char* msg
        void* zalloc
        void* zfree
        void* opaque


cdef class Inflater:
    """Per-connection permessage-deflate decompressor (RFC 7692 7.2.2).

    inflate() appends the decompressed bytes of one frame to `out`
    (reset per frame), refusing output beyond `max_size` while inflating.
    Memory: zlib's state (~7 KiB) and a 2**window_bits-byte window (9..15
    bits: 512 B..32 KiB; allocated on first use, kept by a reset), plus
    `out` (16 KiB; past 256 KiB given back by release_output() when idle)."""
    cdef:
        z_stream _strm
        bint _ready
        bint _reset_after_message       # peer uses no_context_takeover
        readonly MemoryBuffer out
        readonly Py_ssize_t out_size
        readonly str error

    cdef int _run(self, const char* data, Py_ssize_t size, Py_ssize_t max_size) except -2
    cdef int release_output(self) except -1
    cdef int inflate(self, const char* data, Py_ssize_t size, bint fin,
                     Py_ssize_t max_size) except -2


cdef class Deflater:
    """Per-connection permessage-deflate compressor (RFC 7692 7.2.1).

    Memory: zlib's 4 * 2**window_bits + 2**(mem_level + 9) bytes (256 KiB
    at 15 and 8, 32 KiB at 12 and 5) plus ~6 KiB, kept by a reset; and
    `out` (16 KiB; past 256 KiB given back by release_output() when idle)."""
    cdef:
        z_stream _strm
        bint _ready
        bint _reset_after_message       # we use no_context_takeover
        readonly MemoryBuffer out
        readonly Py_ssize_t out_size

    cdef int deflate(self, const char* data, Py_ssize_t size, bint fin) except -1
    cdef int release_output(self) except -1
