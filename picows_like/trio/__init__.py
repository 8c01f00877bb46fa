"""trio-websocket's API on picows_like's sans-I/O engine.

``from picows_like import trio as trio_websocket`` gives a trio program the
names of trio-websocket 0.12 (``open_websocket``, ``serve_websocket``,
``WebSocketConnection`` ...).  The frames are parsed, checked and built in C
by the engine behind ``picows_like.websockets.ClientProtocol`` /
``ServerProtocol``; this module is the trio I/O around it: one reader task
per connection feeds the protocol, messages go to the user through a trio
memory channel, writes are serialized by a lock.

Differences from trio-websocket kept on purpose:

* ``max_message_size`` counts bytes on the wire (trio-websocket counts
  ``len()`` of the decoded message, characters for text);
* a TEXT message that is not UTF-8 closes the connection with 1007;
* a protocol error from the peer closes with the code the engine sent
  (1002, 1007, 1009) as ``closed``; trio-websocket reports 1006 then.
"""
from ._impl import (CONN_TIMEOUT, MAX_MESSAGE_SIZE, MESSAGE_QUEUE_SIZE, RECEIVE_BYTES,
                    CloseReason, ConnectionClosed, ConnectionRejected, ConnectionTimeout,
                    DisconnectionTimeout, Endpoint, HandshakeError, WebSocketConnection,
                    WebSocketRequest, WebSocketServer, connect_websocket,
                    connect_websocket_url, open_websocket, open_websocket_url,
                    serve_websocket, wrap_client_stream, wrap_server_stream)

__all__ = [
    "open_websocket", "open_websocket_url", "connect_websocket", "connect_websocket_url",
    "wrap_client_stream", "wrap_server_stream", "serve_websocket", "WebSocketServer",
    "WebSocketRequest", "WebSocketConnection", "CloseReason", "Endpoint", "ConnectionClosed",
    "ConnectionRejected", "ConnectionTimeout", "DisconnectionTimeout", "HandshakeError",
    "CONN_TIMEOUT", "MESSAGE_QUEUE_SIZE", "MAX_MESSAGE_SIZE", "RECEIVE_BYTES",
]
