"""The fake API server's storage and watch cache: objects, resourceVersions, events, watchers.

It keeps the semantics of the real storage (etcd behind the API server's watch cache) that a
client can observe:

- one cluster-wide, monotonically increasing resourceVersion (`Revision`, etcd's revision)
  shared by every kind, so a version is never reused, even across kinds;
- every change (create, update, delete) takes the next version and is an event, ADDED,
  MODIFIED or DELETED, which open watches receive and later watches replay from the version
  they ask for; a watch from no version gets a synthetic ADDED for every current object;
- compaction forgets the history up to now: a watch from an older version is refused with
  410 `Expired`, as the watch cache refuses it;
- BOOKMARK events carry the current version to the watches that asked for them.

Also the clock helpers every fake family uses: `Clock`, `utc_now` and `rfc3339` (metav1.Time).
"""

from __future__ import annotations

import copy
import datetime
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fake_status import (
    ApiError,
    FieldError,
    Json,
    ResourceType,
    already_exists,
    expired,
    invalid,
    not_found,
)

BUMP_ANNOTATION = "fake-apiserver.test/bumps"

Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(moment: datetime.datetime) -> str:
    """metav1.Time as JSON: seconds precision, UTC, `Z`."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_CLOSE = object()


class Revision:
    """The cluster-wide resourceVersion counter (etcd's revision), shared by every store.

    Sharing it keeps one invariant clients can rely on: a resourceVersion is never reused, even
    across kinds, and a LIST's version is not older than any change it reflects.
    """

    def __init__(self, start: int = 100) -> None:  # not 0: "0" means "any version" to a watch
        self._value = start
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        with self._lock:
            return self._value

    def advance(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


@dataclass(eq=False)  # watchers are compared by identity
class Watcher:
    """One open watch: the events it still has to send, and whether it wants bookmarks.

    `accepts` filters object events (a field or label selector); BOOKMARKs always pass.
    """

    backlog: list[Json]
    bookmarks: bool
    events: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    accepts: Callable[[Json], bool] | None = None

    def stream(self, deadline: float) -> Iterator[Json]:
        """Backlog first, then live events, until the deadline or the server stops."""
        for event in self.backlog:
            if self._wanted(event):
                yield event
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                return
            if event is _CLOSE:
                return
            if self._wanted(event):
                yield event

    def _wanted(self, event: Json) -> bool:
        return self.accepts is None or event["type"] == "BOOKMARK" or self.accepts(event["object"])


class ObjectStore:
    """The API server's storage and watch cache for one cluster-scoped kind, without HTTP.

    Thread-safe. Every change takes the next resourceVersion from the shared `Revision` and is
    an event (ADDED, MODIFIED, DELETED) that open watches receive and later watches replay.
    """

    def __init__(
        self, clock: Clock, resource: ResourceType, revision: Revision | None = None
    ) -> None:
        self._clock = clock
        self._resource = resource
        self._revision = revision or Revision()
        self._lock = threading.Condition()
        self._objects: dict[str, Json] = {}
        self._events: list[tuple[int, Json]] = []
        self._compacted = 0
        self._watchers: list[Watcher] = []
        self._closed = False

    # reads

    @property
    def resource(self) -> ResourceType:
        return self._resource

    @property
    def resource_version(self) -> int:
        return self._revision.current

    def get(self, name: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._require(name))

    def list(self) -> tuple[list[Json], int]:
        with self._lock:
            items = [copy.deepcopy(self._objects[n]) for n in sorted(self._objects)]
            return items, self._revision.current

    def _require(self, name: str) -> Json:
        if name not in self._objects:
            raise not_found(name, self._resource)
        return self._objects[name]

    # writes

    def create(self, obj: Json) -> Json:
        """Store a new object: name from generateName if needed, uid, creationTimestamp, rv."""
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = self._resource.api_version, self._resource.kind
        metadata = obj.setdefault("metadata", {})
        obj.setdefault("status", {})
        with self._lock:
            if not metadata.get("name"):
                if not metadata.get("generateName"):
                    detail = "name or generateName is required"
                    error = FieldError("Required value", "metadata.name", detail)
                    raise invalid("", [error], self._resource)
                metadata["name"] = self._generate_name(metadata["generateName"])
            if metadata["name"] in self._objects:
                raise already_exists(metadata["name"], self._resource)
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = rfc3339(self._clock())
            return self._commit("ADDED", obj)

    def _generate_name(self, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        while True:
            name = prefix + "".join(secrets.choice(alphabet) for _ in range(5))
            if name not in self._objects:
                return name

    def delete(self, name: str) -> Json:
        with self._lock:
            obj = copy.deepcopy(self._require(name))
            return self._commit("DELETED", obj)

    def mutate(self, name: str, change: Callable[[Json], None]) -> Json:
        """Apply `change` to a copy of the object and commit it as a MODIFIED event (test hook)."""
        with self._lock:
            obj = copy.deepcopy(self._require(name))
            change(obj)
            return self._commit("MODIFIED", obj)

    def bump(self, name: str) -> Json:
        """A concurrent writer touched the object: new resourceVersion, MODIFIED event."""
        with self._lock:
            return self._bump(name)

    def _bump(self, name: str) -> Json:
        obj = copy.deepcopy(self._require(name))
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[BUMP_ANNOTATION] = str(int(annotations.get(BUMP_ANNOTATION, "0")) + 1)
        return self._commit("MODIFIED", obj)

    def compact(self) -> int:
        """Forget every event up to now: watching from an older resourceVersion gets 410."""
        with self._lock:
            self._compacted = self._revision.current
            self._events = []
            return self._compacted

    def _commit(self, kind: str, obj: Json) -> Json:
        rv = self._revision.advance()
        obj["metadata"]["resourceVersion"] = str(rv)
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            del self._objects[name]
        else:
            self._objects[name] = obj
        event = {"type": kind, "object": copy.deepcopy(obj)}
        self._events.append((rv, event))
        for watcher in self._watchers:
            watcher.events.put(event)
        return copy.deepcopy(obj)

    # watches

    def subscribe(
        self,
        since: int | None,
        *,
        bookmarks: bool = False,
        accepts: Callable[[Json], bool] | None = None,
    ) -> Watcher:
        """Register a watch from `since` (None: synthetic ADDED for every current object)."""
        with self._lock:
            if self._closed:
                raise ApiError(503, "ServiceUnavailable", "the server is shutting down")
            if since is None:
                backlog = [
                    {"type": "ADDED", "object": copy.deepcopy(self._objects[n])}
                    for n in sorted(self._objects)
                ]
            elif since < self._compacted:
                raise expired(since, self._compacted)
            else:
                backlog = [event for rv, event in self._events if rv > since]
            watcher = Watcher(backlog, bookmarks, accepts=accepts)
            self._watchers.append(watcher)
            self._lock.notify_all()
            return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)
            self._lock.notify_all()

    def bookmark(self) -> None:
        """Send a BOOKMARK with the current resourceVersion to watches that asked for them."""
        with self._lock:
            event = {
                "type": "BOOKMARK",
                "object": {
                    "kind": self._resource.kind,
                    "apiVersion": self._resource.api_version,
                    "metadata": {"resourceVersion": str(self._revision.current)},
                },
            }
            for watcher in self._watchers:
                if watcher.bookmarks:
                    watcher.events.put(event)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def watch_count(self) -> int:
        with self._lock:
            return len(self._watchers)

    def wait_for_watchers(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self._watchers) >= count, timeout)

    def close(self, timeout: float) -> None:
        """End every watch stream and wait (bounded) for their handlers to let go."""
        with self._lock:
            self._closed = True
            for watcher in self._watchers:
                watcher.events.put(_CLOSE)
            self._lock.wait_for(lambda: not self._watchers, timeout)


def list_body(kind: str, api_version: str, items: list[Json], resource_version: int) -> Json:
    """A LIST answer: `<Kind>List` at `resource_version`, the point to WATCH from. Its items
    carry no kind/apiVersion, as in the real API."""
    for item in items:
        item.pop("kind", None)
        item.pop("apiVersion", None)
    listing = {"kind": kind, "apiVersion": api_version}
    return {**listing, "metadata": {"resourceVersion": str(resource_version)}, "items": items}
