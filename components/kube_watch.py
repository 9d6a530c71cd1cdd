"""List a Kubernetes collection once, then follow it with watches: no per-object reads, no polling.

Used for CSRs (approval) and Nodes (readiness). A watch resumes from the last resourceVersion
seen; when the API server has compacted past it (410 Gone), the collection is listed again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

# A watch is reopened at least this often, so the deadline is checked even when all is quiet.
WATCH_SLICE_SECONDS = 30


class ListWatch:
    """Hands every object of a collection to `handle`: first the listed ones, then changes."""

    def __init__(self, list_function: Callable[..., Any], handle: Callable[[Any], None]) -> None:
        self.list_function = list_function
        self.handle = handle
        self.resource_version = ""

    def sync(self) -> None:
        """List the collection once and handle each object."""
        listing = self.list_function()
        for item in listing.items:
            self.handle(item)
        self.resource_version = listing.metadata.resource_version

    def follow_until(self, done: Callable[[], bool], deadline: float) -> None:
        """Handle added and modified objects until `done()` or the monotonic `deadline`."""
        while not done() and (remaining := deadline - time.monotonic()) > 0:
            try:
                self._watch(done, remaining)
            except ApiException as error:
                if error.status != 410:
                    raise
                self.sync()  # the watch fell behind compaction

    def _watch(self, done: Callable[[], bool], remaining: float) -> None:
        watcher = watch.Watch()
        for event in watcher.stream(
            self.list_function,
            resource_version=self.resource_version,
            timeout_seconds=max(1, int(min(remaining, WATCH_SLICE_SECONDS))),
            allow_watch_bookmarks=True,
        ):
            # A BOOKMARK carries only a resourceVersion, and the client leaves it undecoded.
            self.resource_version = event["raw_object"]["metadata"]["resourceVersion"]
            if event["type"] in ("ADDED", "MODIFIED"):
                self.handle(event["object"])
            if done():
                watcher.stop()
