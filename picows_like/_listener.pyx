"""WSListener: the callbacks a connection makes into user code."""
from ._enums cimport WSMsgType
from ._frame cimport WSFrame
from ._transport cimport WSTransport


cdef class WSListener:
    cpdef on_ws_connected(self, WSTransport transport):
        """The handshake is done; the transport can send."""

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        """A frame arrived.  `frame` is valid only during this call."""

    cpdef on_ws_disconnected(self, WSTransport transport):
        """The connection is closed."""

    cpdef send_user_specific_ping(self, WSTransport transport):
        """Auto-ping wants to ping: override to send an application ping."""
        transport.send_ping()

    cpdef is_user_specific_pong(self, WSFrame frame):
        """While a pong is expected: is `frame` the answer?  True consumes
        it (on_ws_frame is not called)."""
        return frame.msg_type == WSMsgType.PONG

    cpdef pause_writing(self):
        """The transport's write buffer went over its high-water mark."""

    cpdef resume_writing(self):
        """The transport's write buffer drained below its low-water mark."""
