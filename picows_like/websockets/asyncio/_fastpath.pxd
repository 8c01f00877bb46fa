# Cython declarations for _fastpath.py ("pure Python mode"): with this file,
# cythonize compiles _fastpath.py into cdef classes whose hot attributes are
# C fields, and the core calls ConnectionBase.on_ws_frame through the
# WSListener vtable.  Without compilation _fastpath.py runs as plain Python.
cimport cython

from picows_like._listener cimport WSListener
from picows_like._frame cimport WSFrame
from picows_like._transport cimport WSTransport


cdef class Fragments:
    cdef public bint text
    cdef public list parts
    cdef public Py_ssize_t size
    cdef public bint done


cdef class ConnectionBase(WSListener):
    cdef public object loop
    cdef public object _new_future
    cdef public object _queue
    cdef public object _waiter
    cdef public bint _recv_busy
    cdef public object _frag
    cdef public bint _closed
    cdef public Py_ssize_t _qhigh
    cdef public bint _read_paused
    cdef public bint _send_ok
    cdef public bint _paused
    cdef public WSTransport ws_transport

    @cython.locals(op=int)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)


cdef class Done:
    pass


cdef class Receive:
    cdef ConnectionBase _conn
    cdef bint _stop_on_ok
    cdef object _waiter

    cdef object _step(self, int* done)
    cdef _stop_waiting(self)


cdef extern from "_am_send.h":
    ctypedef object (*ws_step_fn)(object, int*)
    int ws_install_am_send(object type, ws_step_fn step) except -1


cdef object _receive_step(object self, int* done)
@cython.locals(r=Receive)
cdef Receive _receive(ConnectionBase conn, bint stop_on_ok)


cdef class MessageIterator:
    cdef ConnectionBase _conn
