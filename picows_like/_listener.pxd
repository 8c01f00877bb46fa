from ._frame cimport WSFrame
from ._transport cimport WSTransport


cdef class WSListener:
    """Base class for user handlers; Cython subclasses override the cpdef
    methods and are called through the vtable, Python subclasses through one
    bound method cached per connection."""
    cdef object __weakref__

    cpdef on_ws_connected(self, WSTransport transport)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
    cpdef on_ws_disconnected(self, WSTransport transport)
    cpdef send_user_specific_ping(self, WSTransport transport)
    cpdef is_user_specific_pong(self, WSFrame frame)
    cpdef pause_writing(self)
    cpdef resume_writing(self)
