"""websockets' legacy asyncio API (``websockets.legacy``) on picows_like's core.

Old code keeps working with only its imports changed::

    from picows_like.websockets.legacy.server import serve
    from picows_like.websockets.legacy.client import connect

The connection objects (``WebSocketServerProtocol`` /
``WebSocketClientProtocol``) are picows_like.websockets' asyncio connections
with the legacy attributes and hooks added, so frames are parsed, unmasked
and validated in C.  websockets' legacy helper modules are here too:
``handshake`` (build/check the handshake headers), ``http`` (read_request /
read_response on a StreamReader) and ``framing`` (Frame, prepare_data,
prepare_ctrl, parse_close, serialize_close).  The deviations are listed in
docs/legacy.rst.
"""
