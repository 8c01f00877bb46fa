"""WebSocket extensions negotiated in the handshake (RFC 6455 9)."""
from .permessage_deflate import WSPerMessageDeflate

__all__ = ["WSPerMessageDeflate"]
