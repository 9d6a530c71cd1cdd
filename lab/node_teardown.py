"""Finding and removing what the lab nodes leave on the host, for `down`: processes in a node's
namespace or root and the nodes' sshd listeners (stopped), mounts under the state dir, then the
lab's network namespaces and interfaces; a crashed run's leftovers included.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path

from lab.node_network import NETNS_PREFIX, LabError, ip, lab_links, lab_netns, run
from lab.unit_processes import PROCESS_STOP_TIMEOUT, wait_gone

# The host's OpenSSH server, which every node runs (lab/nodes.py starts it): an sshd listener
# of the lab is one running this binary.
SSHD = "/usr/sbin/sshd"


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None when the file is missing, empty or garbled (a crash)."""
    try:
        first = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.isdigit() else None


# --- processes ------------------------------------------------------------------------------------


def send_signal(pids: Iterable[int], sig: signal.Signals) -> None:
    """Signals processes that may already be gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_processes(list_pids: Callable[[], list[int]], what: str) -> None:
    """Stops processes (TERM, then KILL) until the listing comes back empty; re-lists because
    a dying process may have started others."""
    for _ in range(5):
        pids = [pid for pid in list_pids() if pid != os.getpid()]
        if not pids:
            return
        send_signal(pids, signal.SIGTERM)
        if not wait_gone(pids, PROCESS_STOP_TIMEOUT):
            send_signal(pids, signal.SIGKILL)
            wait_gone(pids, PROCESS_STOP_TIMEOUT)
    raise LabError(f"processes of {what} keep running: {list_pids()}")


def netns_pids(netns: str) -> list[int]:
    """Every process in a network namespace, whatever its root or parent."""
    return [int(pid) for pid in ip("netns", "pids", netns, check=False).split()]


def pids_rooted_under(path: Path) -> list[int]:
    """Processes whose root is inside the state dir (chrooted into a node), even if they left
    the node's network namespace or the namespace is gone."""
    prefix = str(path)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            root = os.readlink(entry / "root")
        except OSError:
            continue
        if root == prefix or root.startswith(prefix + "/"):
            found.append(int(entry.name))
    return found


def sshd_pids(state_dir: Path) -> list[int]:
    """The nodes' sshd listeners by their pid files, which find them even when their network
    namespace lost its name (the listener itself is not chrooted). sshd rewrites its command
    line into one string, which still names the node's config."""
    found = []
    for pid_path in state_dir.glob(f"{NETNS_PREFIX}*/sshd.pid"):
        pid = read_pid(pid_path)
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if exe == SSHD and str(pid_path.with_name("sshd_config")).encode() in cmdline:
            found.append(pid)
    return found


# --- mounts ---------------------------------------------------------------------------------------


def unescape_mount_path(text: str) -> str:
    """Decodes the octal escapes (`\\040` for a space) of a /proc/self/mountinfo path."""
    return text.encode().decode("unicode_escape").encode("latin-1").decode()


def mount_points_under(path: Path) -> list[str]:
    """Mount points at or below a path, in mount order (parents and lower mounts first)."""
    prefix = str(path)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = unescape_mount_path(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def unmount_under(path: Path) -> None:
    """Unmounts everything below a path, topmost first (like `umount -R`), lazily where a mount
    is still busy, and checks that nothing is left."""
    for point in reversed(mount_points_under(path)):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)
    left = mount_points_under(path)
    if left:
        raise LabError(f"could not unmount: {left}")


# --- all of it ------------------------------------------------------------------------------------


def remove_leftovers(state_dir: Path) -> None:
    """Stops and removes the lab's processes, mounts, namespaces and interfaces, in reverse order
    of `up`. Finds them on the host (and by the sshd pid files in the state dir), not through
    the state file, so a crashed run's leftovers go too."""
    for netns in lab_netns():
        stop_processes(lambda netns=netns: netns_pids(netns), netns)
    stop_processes(lambda: sshd_pids(state_dir), f"sshd of nodes in {state_dir}")
    stop_processes(lambda: pids_rooted_under(state_dir), f"chroots under {state_dir}")
    unmount_under(state_dir)
    for netns in lab_netns():
        ip("netns", "delete", netns)
    for link in lab_links():
        ip("link", "delete", link, check=False)
