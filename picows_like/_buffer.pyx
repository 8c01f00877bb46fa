"""MemoryBuffer: malloc'ed storage for the read and write paths.

Not a Python buffer by itself: the owner decides which region it exposes.
"""
from cpython.mem cimport PyMem_RawMalloc, PyMem_RawRealloc, PyMem_RawFree
from libc.string cimport memset


cdef class MemoryBuffer:
    def __cinit__(self, Py_ssize_t capacity=0):
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = 0
        self.data = <char*>PyMem_RawMalloc(capacity + BUFFER_SLACK)
        if self.data == NULL:
            raise MemoryError()
        memset(self.data + capacity, 0, BUFFER_SLACK)
        self.capacity = capacity

    def __dealloc__(self):
        PyMem_RawFree(self.data)
        self.data = NULL

    cdef int reserve(self, Py_ssize_t min_capacity, Py_ssize_t keep,
                     Py_ssize_t limit=0) except -1:
        """Grow to at least min_capacity, geometrically but not past `limit`
        (if non-zero) unless min_capacity is; the first `keep` bytes survive
        (realloc copies them), the rest is undefined."""
        if min_capacity <= self.capacity:
            return 0
        cdef Py_ssize_t new_capacity = self.capacity * 2
        if limit > 0 and new_capacity > limit:
            new_capacity = limit
        if new_capacity < min_capacity:
            new_capacity = min_capacity
        cdef char* p = <char*>PyMem_RawRealloc(self.data, new_capacity + BUFFER_SLACK)
        if p == NULL:
            raise MemoryError()
        memset(p + new_capacity, 0, BUFFER_SLACK)
        self.data = p
        self.capacity = new_capacity
        return 0

    cdef int shrink(self, Py_ssize_t new_capacity) except -1:
        """Give memory back; contents up to new_capacity are kept."""
        if new_capacity >= self.capacity:
            return 0
        cdef char* p = <char*>PyMem_RawRealloc(self.data, new_capacity + BUFFER_SLACK)
        if p == NULL:
            return 0        # keeping the bigger block is harmless
        memset(p + new_capacity, 0, BUFFER_SLACK)
        self.data = p
        self.capacity = new_capacity
        return 0
