"""``websockets.server`` names (re-exported from the asyncio implementation)."""
from .asyncio.server import basic_auth, broadcast, serve, unix_serve

__all__ = ["basic_auth", "broadcast", "serve", "unix_serve"]
