"""picows_like: an ultra-low-latency WebSocket transport for asyncio with the
picows API (`import picows_like as picows`)."""
from typing import Final, Union

from ._enums import WSAutoPingStrategy, WSCloseCode, WSMsgType
from ._frame import WSFrame
from ._listener import WSListener
from ._parser import is_valid_utf8
from ._transport import WSCloseHandshake, WSCloseInfo, WSTransport
from .client import ws_connect
from .exceptions import (WSConnectionClosedBeforeHandshake, WSError, WSHandshakeError,
                         WSInvalidHeaderError, WSInvalidMessageError, WSInvalidStatusError,
                         WSInvalidUpgradeError, WSInvalidURL, WSProtocolError, WSRedirectError)
from .handshake import (WSHeadersLike, WSUpgradeRequest, WSUpgradeResponse,
                        WSUpgradeResponseWithListener)
from .extensions.permessage_deflate import WSPerMessageDeflate
from .proxy import WSProxyError
from .server import ws_create_server
from .url import WSHost, WSParsedURL, WSPort

__version__ = "0.1.0"

PICOWS_DEBUG_LL: Final = 9
WSBuffer = Union[str, bytes, bytearray, memoryview]

__all__ = [
    "WSError", "WSHandshakeError", "WSInvalidMessageError", "WSInvalidStatusError",
    "WSInvalidHeaderError", "WSInvalidUpgradeError", "WSProtocolError",
    "WSConnectionClosedBeforeHandshake", "WSRedirectError",
    "WSUpgradeRequest", "WSUpgradeResponse", "WSUpgradeResponseWithListener",
    "PICOWS_DEBUG_LL", "WSInvalidURL", "WSParsedURL", "WSHost", "WSPort",
    "WSMsgType", "WSCloseCode", "WSAutoPingStrategy", "WSFrame", "WSTransport",
    "WSListener", "WSCloseInfo", "WSCloseHandshake", "WSBuffer", "WSHeadersLike",
    "ws_connect", "ws_create_server", "is_valid_utf8", "WSPerMessageDeflate", "WSProxyError",
]
