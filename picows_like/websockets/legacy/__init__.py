"""websockets' legacy asyncio API (``websockets.legacy``) on picows_like's core.

Old code keeps working with only its imports changed::

    from picows_like.websockets.legacy.server import serve
    from picows_like.websockets.legacy.client import connect

The connection objects (``WebSocketServerProtocol`` /
``WebSocketClientProtocol``) are picows_like.websockets' asyncio connections
with the legacy attributes and hooks added, so frames are parsed, unmasked
and validated in C.  The deviations are listed in docs/legacy.rst.
"""
