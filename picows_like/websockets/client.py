"""``websockets.client`` names: process_exception and backoff."""
from .asyncio.client import backoff, process_exception

__all__ = ["backoff", "process_exception"]
