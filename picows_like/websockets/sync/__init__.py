"""picows_like.websockets.sync: websockets' threaded (blocking) API on
picows_like's sans-I/O engine.

``from picows_like.websockets.sync.client import connect`` (``reconnect``),
``from picows_like.websockets.sync.server import serve`` (``basic_auth``,
``broadcast``) and ``from picows_like.websockets.sync.router import route``
replace the ``websockets.sync`` imports; connections offer ``recv`` /
``recv_streaming`` / ``send`` / ``ping`` / ``pong`` / ``close`` and
iteration, with frames parsed, unmasked and validated in C.  Proxies,
redirects and the reconnection policy are those of picows_like's asyncio
clients.  Not supported yet: custom ``extensions=``.
"""
