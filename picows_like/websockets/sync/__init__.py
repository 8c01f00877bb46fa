"""picows_like.websockets.sync: websockets' threaded (blocking) API on
picows_like's sans-I/O engine.

``from picows_like.websockets.sync.client import connect`` and
``from picows_like.websockets.sync.server import serve`` replace the
``websockets.sync`` imports; connections offer ``recv`` / ``recv_streaming`` /
``send`` / ``ping`` / ``pong`` / ``close`` and iteration, with frames parsed,
unmasked and validated in C.  Not supported yet: ``proxy=``, custom
``extensions=``, ``route`` and ``basic_auth``.
"""
