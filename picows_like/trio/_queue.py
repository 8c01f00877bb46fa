"""The message queue between a connection's reader task and get_message()."""
from collections import deque
from typing import Any

import outcome
import trio

_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_cancel_shielded_checkpoint = trio.lowlevel.cancel_shielded_checkpoint
_current_task = trio.lowlevel.current_task
_wait_task_rescheduled = trio.lowlevel.wait_task_rescheduled
_ABORT_SUCCEEDED = trio.lowlevel.Abort.SUCCEEDED

_CLOSED = object()      # wakes a get_message() waiter: the queue was closed


class _MessageQueue:
    """The messages between the reader task and get_message(): a trio
    memory channel's semantics (bounded, closable from either end) without
    its schedule points on the hot path: a message for a waiting
    get_message() is handed to it directly, and one already queued is
    returned without a context switch."""

    __slots__ = ("items", "size", "getters", "putters", "send_closed", "recv_closed")

    def __init__(self, size: float) -> None:
        self.items: "deque[Any]" = deque()
        self.size = size
        self.getters: "deque[Any]" = deque()       # tasks parked in get()
        self.putters: "deque[list]" = deque()      # [task, message] parked in put()
        self.send_closed = False
        self.recv_closed = False

    def put_nowait(self, msg: Any) -> bool:
        """Deliver or queue `msg` (dropped once the receiver closed); False: full."""
        if self.recv_closed:
            return True
        if self.getters:
            trio.lowlevel.reschedule(self.getters.popleft(), outcome.Value(msg))
            return True
        if len(self.items) < self.size:
            self.items.append(msg)
            return True
        return False

    async def put(self, msg: Any) -> None:
        if self.put_nowait(msg):
            return
        entry = [trio.lowlevel.current_task(), msg]
        self.putters.append(entry)

        def abort(_: Any) -> Any:
            self.putters.remove(entry)
            return trio.lowlevel.Abort.SUCCEEDED
        await trio.lowlevel.wait_task_rescheduled(abort)

    async def get(self) -> Any:
        """The next message, or _CLOSED."""
        await trio.lowlevel.checkpoint_if_cancelled()
        items = self.items
        if self.recv_closed:
            return _CLOSED
        if items:
            msg = items.popleft()
            if self.putters:
                task, waiting = self.putters.popleft()
                items.append(waiting)
                trio.lowlevel.reschedule(task)
            return msg
        if self.putters:
            task, msg = self.putters.popleft()
            trio.lowlevel.reschedule(task)
            return msg
        if self.send_closed:
            return _CLOSED
        task = trio.lowlevel.current_task()
        self.getters.append(task)

        def abort(_: Any) -> Any:
            self.getters.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED
        return await trio.lowlevel.wait_task_rescheduled(abort)

    def _wake_getters(self) -> None:
        while self.getters:
            trio.lowlevel.reschedule(self.getters.popleft(), outcome.Value(_CLOSED))

    def close_send(self) -> None:
        """No more messages: get() returns what is queued, then _CLOSED."""
        self.send_closed = True
        self._wake_getters()

    def close_recv(self) -> None:
        """The receiver is gone: queued and future messages are dropped."""
        self.recv_closed = True
        self.items.clear()
        while self.putters:
            trio.lowlevel.reschedule(self.putters.popleft()[0])
        self._wake_getters()
