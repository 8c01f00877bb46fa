# A growable byte buffer with a fixed readable slack after its capacity.

# Bytes that are always allocated (and readable) after `capacity`, so that a
# payload ending exactly at the end of the buffer can still be over-read by
# SIMD parsers (simdjson needs 64).
cdef enum:
    BUFFER_SLACK = 64


cdef class MemoryBuffer:
    cdef:
        char* data
        Py_ssize_t capacity

    cdef int reserve(self, Py_ssize_t min_capacity, Py_ssize_t keep, Py_ssize_t limit=*) except -1
    cdef int shrink(self, Py_ssize_t new_capacity) except -1
