"""The message assembler of the asyncio connections, as websockets'
``asyncio/messages.py``: the queue of received messages, the fragmented
message being received, the one waiting reader and ``max_queue`` flow
control.  It lives in the compiled _fastpath module, next to the listener
that feeds it frames, so that a message costs C calls only; see
_fastpath.Assembler."""
from ._fastpath import Assembler

__all__ = ["Assembler"]
