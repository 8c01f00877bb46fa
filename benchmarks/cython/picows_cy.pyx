# cython: language_level=3
"""Cython echo client for picows (see echo_listener.pxi), built against the
installed picows' shipped picows/picows.pxd."""
from picows.picows cimport WSFrame, WSTransport, WSListener, WSMsgType

include "echo_listener.pxi"
