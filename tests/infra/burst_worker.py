"""The RQ worker tests run queued jobs with: rq's SimpleWorker (each job in this process, on this process's
pinned clock, against the real Redis queue), without the worker's command channel.

A worker subscribes to its own pub/sub channel (for commands such as "kill the running job") on a thread that
waits up to 60 seconds for a message. Closing that subscription when a burst ends could wait out the thread's
read: CI saw a minute pass between two bursts of one test, which aged its contacts into SLA warnings, and a
full run spent minutes so. A burst in a test takes no commands, so it does not subscribe.
"""

from rq import SimpleWorker


class BurstWorker(SimpleWorker):
    def subscribe(self) -> None:
        """No command channel: nothing sends this worker commands."""

    def unsubscribe(self) -> None:
        """Nothing was subscribed."""
