# The cimport surface: `from picows_like cimport WSFrame, WSTransport, ...`.
from picows_like._enums cimport WSMsgType, WSCloseCode, WSAutoPingStrategy
from picows_like._frame cimport WSFrame
from picows_like._transport cimport WSTransport
from picows_like._listener cimport WSListener
