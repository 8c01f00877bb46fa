# cython: language_level=3
"""Cython echo client for picows_like (see echo_listener.pxi), built against the
installed picows_like's shipped .pxd files (picows_like/__init__.pxd)."""
from picows_like cimport WSFrame, WSTransport, WSListener, WSMsgType

include "echo_listener.pxi"
