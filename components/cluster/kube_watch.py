"""List a Kubernetes collection once, then follow it with watches: no per-object reads, no polling.

Used for CSRs (approval) and Nodes (readiness). A watch resumes from the last resourceVersion
seen; when the API server has compacted past it (410 Gone), the collection is listed again.

Every request carries a client-side timeout bounded by the caller's deadline: a connection that
the network dropped without a word (a NAT or load balancer forgetting it) sends nothing, not
even the end of a watch at its `timeoutSeconds`, and would otherwise block for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ReadTimeoutError

# A watch is reopened at least this often, so the deadline is checked even when all is quiet.
WATCH_SLICE_SECONDS = 30
# How long the client waits past a watch's timeoutSeconds for the server to end it.
WATCH_GRACE_SECONDS = 5
# The client-side timeout of a request made without a deadline.
REQUEST_TIMEOUT_SECONDS = 60


def request_timeout(deadline: float | None) -> float:
    """Seconds a request may take: what is left until the monotonic `deadline`, if any.

    Raises TimeoutError when the deadline has passed.
    """
    if deadline is None:
        return REQUEST_TIMEOUT_SECONDS
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the deadline passed before the request")
    return remaining


class ListWatch:
    """Hands every object of a collection to `handle`: first the listed ones, then changes."""

    def __init__(self, list_function: Callable[..., Any], handle: Callable[[Any], None]) -> None:
        self.list_function = list_function
        self.handle = handle
        self.resource_version = ""

    def sync(self, deadline: float | None = None) -> None:
        """List the collection once and handle each object.

        Raises TimeoutError when the API server does not answer before the deadline.
        """
        try:
            listing = self.list_function(_request_timeout=request_timeout(deadline))
            for item in listing.items:
                self.handle(item)
        except ReadTimeoutError:
            raise TimeoutError("the API server did not answer in time") from None
        self.resource_version = listing.metadata.resource_version

    def follow_until(self, done: Callable[[], bool], deadline: float) -> None:
        """Handle added and modified objects until `done()` or the monotonic `deadline`.

        A watch that goes silent is given up after its own timeout and opened again.
        """
        while not done() and (remaining := deadline - time.monotonic()) > 0:
            try:
                self._watch(done, remaining)
            except ReadTimeoutError:
                continue  # silent past its timeout: the connection is gone; watch again
            except ApiException as error:
                if error.status != 410:
                    raise
                self.sync(deadline)  # the watch fell behind compaction

    def _watch(self, done: Callable[[], bool], remaining: float) -> None:
        server_seconds = max(1, int(min(remaining, WATCH_SLICE_SECONDS)))
        watcher = watch.Watch()
        for event in watcher.stream(
            self.list_function,
            resource_version=self.resource_version,
            timeout_seconds=server_seconds,
            allow_watch_bookmarks=True,
            _request_timeout=min(remaining, server_seconds + WATCH_GRACE_SECONDS),
        ):
            # A BOOKMARK carries only a resourceVersion, and the client leaves it undecoded.
            self.resource_version = event["raw_object"]["metadata"]["resourceVersion"]
            if event["type"] in ("ADDED", "MODIFIED"):
                self.handle(event["object"])
            if done():
                watcher.stop()
