# Cython declarations for _fastpath.py ("pure Python mode"): with this file,
# cythonize compiles _fastpath.py into cdef classes whose hot attributes are
# C fields, and the core calls ConnectionBase.on_ws_frame through the
# WSListener vtable, which hands data frames to Assembler.put_frame with a
# C call.  Without compilation _fastpath.py runs as plain Python.
cimport cython

from picows_like._listener cimport WSListener
from picows_like._frame cimport WSFrame
from picows_like._transport cimport WSTransport


cdef class Fragments:
    cdef public bint text
    cdef public list parts
    cdef public Py_ssize_t size
    cdef public bint done


@cython.final
cdef class Assembler:
    cdef public object _queue
    cdef public object _waiter
    cdef public bint _busy
    cdef public object _frag
    cdef public bint closed
    cdef public bint paused
    cdef public Py_ssize_t high
    cdef public Py_ssize_t low
    cdef public Py_ssize_t max_message
    cdef public object _new_future
    cdef public object _pause
    cdef public object _resume
    cdef public object _closed_error

    @cython.locals(op=int)
    cpdef Py_ssize_t put_frame(self, WSFrame frame) except -1
    @cython.locals(frag=Fragments)
    cdef Py_ssize_t _put_fragment(self, WSFrame frame, int op) except -1
    cdef int _wake(self) except -1
    cdef int _popped(self) except -1


cdef class ConnectionBase(WSListener):
    cdef public object loop
    cdef public Assembler _assembler
    cdef public bint _closed
    cdef public bint _send_ok
    cdef public bint _paused
    cdef public WSTransport ws_transport

    @cython.locals(op=int, size=Py_ssize_t)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)


cdef class Done:
    pass


cdef class Receive:
    cdef Assembler _asm
    cdef bint _stop_on_ok
    cdef int _decode
    cdef object _waiter

    cdef object _step(self, int* done)
    cdef _stop_waiting(self)


cdef extern from "_am_send.h":
    ctypedef object (*ws_step_fn)(object, int*)
    int ws_install_am_send(object type, ws_step_fn step) except -1


cdef object _convert(object msg, int decode)
cdef object _receive_step(object self, int* done)
@cython.locals(r=Receive)
cdef Receive _receive(Assembler asm, bint stop_on_ok, int decode)


cdef class MessageIterator:
    cdef Assembler _asm
