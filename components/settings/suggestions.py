"""Which known settings key an unknown one was meant to be, if that is clear.

A suggestion must keep the key's meaning: `nodes[0].sshPort` looks like `sshHost`, but the
port belongs in `ssh.port`, and suggesting the host would send the operator the wrong way.
So a key is taken for a typo only of a key beside it and only within a few edits (one per
four letters, a swap of two neighbours counting as one), and otherwise for a key of another
object written in the wrong place, when exactly one key elsewhere is named by it alone
(`dnsServiceIP`) or after its object's name (`sshPort`); of several, the one inside the
object holding the unknown key.
"""

from __future__ import annotations

from collections.abc import Iterable


def suggest(key: str, here: str, known: Iterable[str]) -> str | None:
    """The key `key` at the object `here` was meant to be, or None.

    `known` holds every settings key as a path (`ssh.port`, `nodes[].name`); `here` is the
    path of the object holding the unknown key (`""` at the top, `nodes[]` for a node). A key
    beside it is suggested by its name, a key elsewhere by its path.
    """
    paths = list(known)
    beside = [_leaf(path) for path in paths if _parent(path) == here]
    typo = _typo_of(key, beside)
    if typo is not None:
        return typo
    wanted = key.lower()
    elsewhere = [
        path
        for path in paths
        if _parent(path) != here
        and wanted in (_leaf(path).lower(), (_object(path) + _leaf(path)).lower())
    ]
    if len(elsewhere) > 1:  # kubelet.downloadUrl: kubelet.download.url, not nodes[].kubelet...
        elsewhere = [path for path in elsewhere if path.startswith(f"{here}.")]
    return elsewhere[0] if len(elsewhere) == 1 else None


def _typo_of(key: str, candidates: list[str]) -> str | None:
    allowed = max(1, len(key) // 4)
    scored = [(_distance(key.lower(), name.lower()), name) for name in candidates]
    close = [(distance, name) for distance, name in scored if distance <= allowed]
    return min(close)[1] if close else None


def _distance(a: str, b: str) -> int:
    """Edits that turn `a` into `b`: insert, delete, substitute, or swap two neighbours."""
    before, previous = [0] * (len(b) + 1), list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _leaf(path: str) -> str:
    return path.rpartition(".")[2]


def _object(path: str) -> str:
    """The name of the object holding the key: `bastion` for `ssh.bastion.port`."""
    return _leaf(_parent(path)).removesuffix("[]")
