"""Task helpers shared by the simulated devices."""

from __future__ import annotations

import asyncio


def honour_cancellation() -> None:
    """Raise CancelledError if this task was asked to stop.

    Python 3.11's asyncio.wait_for (inside aiomqtt's publish and the ocpp
    library's calls) can swallow a cancellation that arrives as the awaited
    answer does; a device's loop then ran on, and a fleet that had finished
    waited for it forever. Called at the loops' turning points, it keeps a
    cancellation that was asked for.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
