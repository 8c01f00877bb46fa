"""The asyncio implementation (``websockets.asyncio`` layout)."""
