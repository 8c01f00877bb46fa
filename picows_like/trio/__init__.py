"""trio-websocket's API on picows_like's sans-I/O engine.

``from picows_like import trio as trio_websocket`` gives a trio program the
names of trio-websocket 0.12 (``open_websocket``, ``serve_websocket``,
``WebSocketConnection`` ...).  The frames are parsed, checked and built in C
by the engine behind ``picows_like.websockets.ClientProtocol`` /
``ServerProtocol``; this package is the trio I/O around it: one reader task
per connection feeds the protocol and hands messages to get_message()
through a bounded queue; writes go out in order (on a plain TCP stream
straight to the socket when nobody else is writing).

Modules: ``_connection`` (WebSocketConnection, WebSocketRequest, Endpoint,
the defaults), ``_queue`` (the reader-to-get_message queue), ``_client``
(open_websocket and the other client functions), ``_server``
(serve_websocket, WebSocketServer, wrap_server_stream), ``_errors`` (the
exceptions and CloseReason).

Differences from trio-websocket kept on purpose:

* ``max_message_size`` counts bytes on the wire (trio-websocket counts
  ``len()`` of the decoded message, characters for text);
* a TEXT message that is not UTF-8 closes the connection with 1007;
* a protocol error from the peer closes with the code the engine sent
  (1002, 1007, 1009) as ``closed``; trio-websocket reports 1006 then.
"""
from ._client import (connect_websocket, connect_websocket_url, open_websocket,
                      open_websocket_url, wrap_client_stream)
from ._connection import (CONN_TIMEOUT, MAX_MESSAGE_SIZE, MESSAGE_QUEUE_SIZE, RECEIVE_BYTES,
                          Endpoint, WebSocketConnection, WebSocketRequest)
from ._errors import (CloseReason, ConnectionClosed, ConnectionRejected, ConnectionTimeout,
                      DisconnectionTimeout, HandshakeError)
from ._server import WebSocketServer, serve_websocket, wrap_server_stream

__all__ = [
    "open_websocket", "open_websocket_url", "connect_websocket", "connect_websocket_url",
    "wrap_client_stream", "wrap_server_stream", "serve_websocket", "WebSocketServer",
    "WebSocketRequest", "WebSocketConnection", "CloseReason", "Endpoint", "ConnectionClosed",
    "ConnectionRejected", "ConnectionTimeout", "DisconnectionTimeout", "HandshakeError",
    "CONN_TIMEOUT", "MESSAGE_QUEUE_SIZE", "MAX_MESSAGE_SIZE", "RECEIVE_BYTES",
]
