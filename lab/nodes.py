"""The lab's SSH nodes: worker-node stand-ins on this machine that a real ssh client can reach.

Each node is a network namespace behind one host bridge, with its own hostname, its own root
(an overlay of the host's `/`, so writes stay in the node) and a real OpenSSH server chrooted
into that root. The program's remote commands thus run as they would on a worker, and a test
can look at what they left behind in the node's upper dir.

This module is the host side: it builds the nodes' roots and sshd, brings the lab up and down
(`python -m lab.nodes up --count 3` / `down`), restarts a node as its host would (`reboot
NAME`) and offers helpers for tests; the network comes from lab/node_network.py, the removal
of leftovers from lab/node_teardown.py. Into each node it installs the stand-ins of
lab/node_services.py as its systemctl, journalctl, swapoff and swapon.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lab import paths
from lab.node_network import (
    BRIDGE,
    HOST_ADDRESS,
    MAX_NODES,
    NETNS_PREFIX,
    LabError,
    Node,
    create_bridge,
    create_node_network,
    run,
)
from lab.node_services import CALL_LOG
from lab.node_teardown import (
    SSHD,
    mount_points_under,
    netns_pids,
    pids_rooted_under,
    read_pid,
    remove_leftovers,
    send_signal,
    stop_processes,
)
from lab.unit_processes import PROCESS_STOP_TIMEOUT, SERVICE_PATH, is_alive, wait_gone

# The nodes live in the lab directory's `nodes/` (`LAB_DIR` moves it) unless --state-dir says
# otherwise.
DEFAULT_STATE_DIR = paths.lab_dir() / "nodes"
SSH_PORT = 22
SSHD_PRIVSEP_DIR = Path("/run/sshd")
SSHD_START_TIMEOUT = 30.0
HOST_TOOLS = ("ip", "nsenter", "unshare", "mount", "umount", "chroot", "ssh-keygen", "sysctl")

# --- the stand-ins in a node (paths in the node's root) -------------------------------------------

# The stand-in modules, installed as the `lab` package in STAND_IN_DIR; stdlib only, they import
# nothing else of the lab.
STAND_IN_DIR = Path("/usr/lib/kblab")
STAND_IN_MODULES = ("__init__.py", "unit_files.py", "unit_processes.py", "node_services.py")
STAND_IN_SCRIPT = STAND_IN_DIR / "stand-in"
# The entry script the four commands link to: `python3 -I` leaves its own directory off
# sys.path, so it puts it there, and it writes no bytecode, so calls leave /usr/lib as it is.
STAND_IN_SCRIPT_TEXT = f"""#!/usr/bin/python3 -I
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, "{STAND_IN_DIR}")
from lab.node_services import main

sys.exit(main())
"""
STAND_IN_LINKS = {
    "systemctl": Path("/usr/bin/systemctl"),
    "journalctl": Path("/usr/bin/journalctl"),
    "swapoff": Path("/usr/sbin/swapoff"),
    "swapon": Path("/usr/sbin/swapon"),
}


# --- state dir layout -----------------------------------------------------------------------------


def node_dir(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The host directory holding one node's keys, config, logs and overlay layers."""
    return Path(state_dir).resolve() / name


def node_root(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The node's `/` as the host sees it (the overlay mount point)."""
    return node_dir(name, state_dir) / "root"


def node_upper(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The overlay's upper dir: exactly what the node changed relative to the host."""
    return node_dir(name, state_dir) / "upper"


def client_key_path(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The lab's SSH client private key, the one every node authorizes for root."""
    return Path(state_dir).resolve() / "client" / "id_ed25519"


def state_file(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The JSON file describing the running nodes (name, address, port, pinned host key)."""
    return Path(state_dir).resolve() / "nodes.json"


def known_hosts_file(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """A known_hosts file with every node's host key, for `ssh -o UserKnownHostsFile=`."""
    return Path(state_dir).resolve() / "known_hosts"


def in_node(root: Path, path: Path) -> Path:
    """Maps an absolute path inside a node to the host path under the node's root."""
    return root / path.relative_to("/")


# --- the host -------------------------------------------------------------------------------------


def require_host() -> None:
    """Fails early, with the reason, where the lab cannot work: not root, or a tool missing."""
    if os.geteuid() != 0:
        raise LabError("the lab nodes need root (network namespaces, mounts, sshd)")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(f"the lab nodes need these host tools: {', '.join(missing)}")


def ensure_openssh() -> None:
    """Installs Debian's openssh-server when sshd is missing, since the nodes run the real one."""
    if Path(SSHD).exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "openssh-server"], env=env)
    stop_packaged_sshd()


def stop_packaged_sshd() -> None:
    """Stops an sshd the package's install script may have started on the host's addresses:
    the lab must not open the host's port 22."""
    pid = read_pid(Path("/run/sshd.pid"))
    if pid is not None and Path(f"/proc/{pid}/exe").resolve() == Path(SSHD):
        stop_processes(lambda: [pid] if is_alive(pid) else [], "the packaged sshd")


# --- keys and the state dir -----------------------------------------------------------------------


def check_state_dir(state_dir: Path) -> None:
    """Refuses a state dir that sshd would refuse as a chroot (any path component not root's or
    writable by group or others, as under /tmp) or that an overlay mount option cannot name."""
    if any(char in str(state_dir) for char in ",:\\ "):
        raise LabError(f"state dir {state_dir}: no commas, colons, backslashes or spaces allowed")
    for part in [state_dir, *state_dir.parents]:
        if not part.exists():
            continue
        stat = part.stat()
        if stat.st_uid != 0 or stat.st_mode & 0o022:
            raise LabError(
                f"state dir {state_dir}: {part} is not root's or is writable by group or others, "
                "so sshd would refuse to chroot below it (choose a dir outside /tmp)"
            )


def make_dir(path: Path, mode: int = 0o755) -> Path:
    """Creates a directory with an exact mode (umask aside), because sshd checks the modes."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def public_key(private_key: Path) -> str:
    """The `ssh-ed25519 AAAA...` part of a key's public line, without the comment."""
    fields = private_key.with_name(private_key.name + ".pub").read_text().split()
    return " ".join(fields[:2])


def ensure_key(private_key: Path, comment: str) -> str:
    """Creates an ed25519 key pair once and returns its public key; keys outlive `down`, so a
    stack that pinned a node's host key keeps working across lab restarts."""
    if not private_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(private_key)])
    return public_key(private_key)


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Writes a file atomically with an exact mode, so readers never see half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


# --- the node's root ------------------------------------------------------------------------------


def bind_host_tree(source: str, target: Path) -> None:
    """Bind-mounts a host tree with its submounts, as a slave so that unmounting it in the node
    can never unmount anything on the host."""
    run(["mount", "--rbind", source, str(target)])
    run(["mount", "--make-rslave", str(target)])


def mount_node_root(node: Node, state_dir: Path) -> Path:
    """Mounts the node's `/`: an overlay of the host's `/` (writes land in the node's upper dir),
    the host's /proc, /dev (with /dev/kmsg) and cgroup hierarchies, a sysfs of the node's own
    network namespace, and a fresh /run so no node sees another's sockets or pid files."""
    base = node_dir(node.name, state_dir)
    root, upper, work = (make_dir(base / part) for part in ("root", "upper", "work"))
    overlay = f"lowerdir=/,upperdir={upper},workdir={work}"
    run(["mount", "-t", "overlay", "-o", overlay, node.name, str(root)])
    bind_host_tree("/proc", root / "proc")
    bind_host_tree("/dev", root / "dev")
    sysfs = ["mount", "-t", "sysfs", "-o", "nosuid,nodev,noexec", "sysfs", str(root / "sys")]
    run(["nsenter", f"--net=/run/netns/{node.netns}", *sysfs])
    bind_host_tree("/sys/fs/cgroup", root / "sys" / "fs" / "cgroup")
    tmpfs_options = "mode=0755,nosuid,nodev,size=256m"
    run(["mount", "-t", "tmpfs", "-o", tmpfs_options, "kblab-run", str(root / "run")])
    make_dir(root / "run" / "lock", 0o1777)
    return root


def install_stand_ins(root: Path) -> None:
    """Installs the stand-in modules in the node and links its systemctl, journalctl, swapoff and
    swapon to their entry script, shadowing the host's binaries for this node only (the writes
    land in the node's upper dir)."""
    package = make_dir(make_dir(in_node(root, STAND_IN_DIR)) / "lab")
    for module in STAND_IN_MODULES:
        write_file(package / module, (Path(__file__).parent / module).read_text())
    write_file(in_node(root, STAND_IN_SCRIPT), STAND_IN_SCRIPT_TEXT, 0o755)
    for link in STAND_IN_LINKS.values():
        target = in_node(root, link)
        target.unlink(missing_ok=True)
        target.symlink_to(STAND_IN_SCRIPT)


def prepare_node_files(node: Node, root: Path) -> None:
    """Writes what makes the node look like its own machine (hostname, hosts) and keeps name
    lookups inside it: no nameserver a node could reach, so a lookup fails at once instead of
    sending queries towards the host's DNS server."""
    write_file(root / "etc" / "hostname", f"{node.name}\n")
    write_file(root / "etc" / "hosts", f"127.0.0.1\tlocalhost\n{node.address}\t{node.name}\n")
    write_file(root / "etc" / "resolv.conf", "# lab node: no DNS\nnameserver 127.0.0.1\n")
    install_stand_ins(root)


# --- sshd -----------------------------------------------------------------------------------------


def sshd_config(node: Node, state_dir: Path, authorized_keys: Path) -> str:
    """A node's own sshd configuration: its address only, its host key, root by key only,
    chrooted into the node's root; no AcceptEnv, like Debian's default for PULUMI_* variables."""
    base = node_dir(node.name, state_dir)
    return "\n".join(
        [
            f"# Lab node {node.name}, written by lab/nodes.py; only this node's sshd reads it.",
            f"ListenAddress {node.address}:{SSH_PORT}",
            f"HostKey {base / 'ssh_host_ed25519_key'}",
            f"PidFile {base / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized_keys}",
            f"ChrootDirectory {base / 'root'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "X11Forwarding no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def start_sshd(node: Node, state_dir: Path, authorized_keys: Path) -> None:
    """Starts the node's sshd inside its network namespace and a UTS namespace named after the
    node (so `hostname` in a session prints the node's name), and waits until it answers."""
    base = node_dir(node.name, state_dir)
    config = base / "sshd_config"
    write_file(config, sshd_config(node, state_dir, authorized_keys), 0o600)
    make_dir(SSHD_PRIVSEP_DIR)
    run([SSHD, "-t", "-f", str(config)])
    namespaces = ["ip", "netns", "exec", node.netns, "unshare", "--uts", "--"]
    start = 'hostname "$1" && exec "$2" -f "$3" -E "$4"'
    log = str(base / "sshd.log")
    run([*namespaces, "/bin/sh", "-c", start, "sh", node.name, SSHD, str(config), log])
    wait_for_ssh_banner(node, base / "sshd.log")


def wait_for_ssh_banner(node: Node, log: Path) -> None:
    """Waits until the node's sshd sends its banner, proving it listens on the node address."""
    deadline = time.monotonic() + SSHD_START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((node.address, SSH_PORT), timeout=2) as conn:
                if conn.recv(8).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.2)
    tail = log.read_text()[-2000:] if log.exists() else "(no log)"
    raise LabError(f"sshd of {node.name} did not answer on {node.address}:{SSH_PORT}: {tail}")


def sshd_pid(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> int:
    """The pid of a node's sshd listener, whose namespaces are the node's."""
    pid = read_pid(node_dir(name, state_dir) / "sshd.pid")
    if pid is None:
        raise LabError(f"{name} has no sshd pid file; is the lab up?")
    return pid


# --- up -------------------------------------------------------------------------------------------


def reset_node_layers(name: str, state_dir: Path) -> None:
    """Empties a node's upper and work dirs so each `up` starts from the host's files; refuses
    while anything is mounted there, since deleting through a mount would delete host files."""
    base = node_dir(name, state_dir)
    if mount_points_under(base):
        raise LabError(f"{base} still has mounts; run `python -m lab.nodes down` first")
    for part in ("upper", "work"):
        shutil.rmtree(base / part, ignore_errors=True)


def create_node(node: Node, state_dir: Path, authorized_keys: Path) -> dict[str, object]:
    """Builds one node end to end and returns its record for the state file."""
    reset_node_layers(node.name, state_dir)
    base = make_dir(node_dir(node.name, state_dir))
    host_key = ensure_key(base / "ssh_host_ed25519_key", f"root@{node.name}")
    create_node_network(node)
    root = mount_node_root(node, state_dir)
    prepare_node_files(node, root)
    start_sshd(node, state_dir, authorized_keys)
    return {
        "name": node.name,
        "address": node.address,
        "sshPort": SSH_PORT,
        "hostKey": host_key,
        "netns": node.netns,
        "root": str(root),
        "upper": str(base / "upper"),
    }


def write_state(state_dir: Path, client_key: Path, records: list[dict[str, object]]) -> None:
    """Records the nodes for tests and stacks: the JSON state file and a known_hosts file."""
    known_hosts = "".join(f"{rec['address']} {rec['hostKey']}\n" for rec in records)
    write_file(known_hosts_file(state_dir), known_hosts)
    state = {
        "bridge": BRIDGE,
        "hostAddress": HOST_ADDRESS,
        "clientKey": str(client_key),
        "clientPublicKey": public_key(client_key),
        "knownHosts": str(known_hosts_file(state_dir)),
        "nodes": records,
    }
    write_file(state_file(state_dir), json.dumps(state, indent=2) + "\n")


def up(count: int, state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, object]:
    """Creates `count` fresh lab nodes (removing any previous lab first) and returns the state;
    on failure removes what it built, keeping the logs in the state dir."""
    if not 1 <= count <= MAX_NODES:
        raise LabError(f"--count must be between 1 and {MAX_NODES}, not {count}")
    require_host()
    state_dir = Path(state_dir).resolve()
    down(state_dir)
    check_state_dir(state_dir)
    ensure_openssh()
    check_state_dir(make_dir(state_dir))  # again: parents made under a loose umask fail here
    client_key = client_key_path(state_dir)
    make_dir(client_key.parent, 0o700)
    authorized_keys = state_dir / "authorized_keys"
    write_file(authorized_keys, ensure_key(client_key, "kblab-client") + "\n", 0o644)
    raise_inotify_instances(count)
    try:
        create_bridge()
        records = [create_node(Node(i), state_dir, authorized_keys) for i in range(1, count + 1)]
        write_state(state_dir, client_key, records)
    except BaseException:
        down(state_dir)
        raise
    return load_state(state_dir)


INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_INSTANCES_PER_NODE = 32
"""Each kubelet holds several inotify instances (cAdvisor, its file watchers): thirty of them
exhausted the default 128 here ("Failed to start cAdvisor: inotify_init: too many open
files"), and 1024 was enough; this leaves room to spare."""


def raise_inotify_instances(count: int) -> None:
    """Raises the host's fs.inotify.max_user_instances for `count` kubelets, never lowers it."""
    wanted = 128 + count * INOTIFY_INSTANCES_PER_NODE
    if int(INOTIFY_INSTANCES.read_text()) < wanted:
        INOTIFY_INSTANCES.write_text(f"{wanted}\n")


def load_state(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, object]:
    """The state file written by `up`: bridge, client key and the nodes with their host keys."""
    return json.loads(state_file(state_dir).read_text())


def down(state_dir: Path = DEFAULT_STATE_DIR, *, purge: bool = False) -> None:
    """Removes every lab node, leftovers of a crashed run included, in reverse order of `up`:
    processes, mounts, namespaces, interfaces. Safe to run any number of times. Keys and logs
    stay (and upper dirs, for a post-mortem) unless `purge`."""
    require_host()
    state_dir = Path(state_dir).resolve()
    remove_leftovers(state_dir)
    state_file(state_dir).unlink(missing_ok=True)
    if purge and state_dir.exists():
        shutil.rmtree(state_dir)


# --- reboot ---------------------------------------------------------------------------------------

# Run in the node by `reboot`: what systemd does at boot for the units of multi-user.target.
BOOT_CODE = (
    f"import json, sys; sys.path.insert(0, {str(STAND_IN_DIR)!r}); "
    "from lab.unit_processes import start_at_boot; print(json.dumps(start_at_boot()))"
)


def running_node(name: str, state_dir: Path) -> Node:
    """The node of that name, which must be one `up` made and recorded."""
    if not state_file(state_dir).exists():
        raise LabError(f"no lab nodes are up in {state_dir}: run `python -m lab.nodes up`")
    if name not in {record["name"] for record in load_state(state_dir)["nodes"]}:
        raise LabError(f"{name} is not a running lab node (see {state_file(state_dir)})")
    return Node(int(name.removeprefix(NETNS_PREFIX)))


def node_pids(node: Node, state_dir: Path) -> list[int]:
    """Every process of the node: in its network namespace (sshd, sessions, units) or chrooted
    into its root; not the container runtime, which runs on the host (lab/workers.py)."""
    found = set(netns_pids(node.netns)) | set(pids_rooted_under(node_root(node.name, state_dir)))
    return sorted(found - {os.getpid()})


def kill_node_processes(node: Node, state_dir: Path) -> None:
    """KILLs every process of the node, with no stop of any unit, as a power cut would; lists
    again until none is left, since a supervisor may have started a service meanwhile."""
    for _ in range(5):
        pids = node_pids(node, state_dir)
        if not pids:
            return
        send_signal(pids, signal.SIGKILL)
        wait_gone(pids, PROCESS_STOP_TIMEOUT)
    raise LabError(f"processes of {node.name} survive SIGKILL: {node_pids(node, state_dir)}")


def clear_run(root: Path) -> None:
    """Empties the node's /run as a boot does (it is a tmpfs): the units' pid files and
    restart counts, sockets, locks. The contents go, not the mount, which a socket bound in it
    from the host (the container runtime's) would keep busy."""
    run_dir = root / "run"
    for point in reversed(mount_points_under(run_dir)):
        if point != str(run_dir):
            run(["umount", "-l", point])
    for entry in run_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    make_dir(run_dir / "lock", 0o1777)


def boot_units(name: str, state_dir: Path) -> list[str]:
    """Starts the node's units enabled for multi-user.target inside the node, as its systemd
    would at boot, and returns their names."""
    result = node_exec(name, ["python3", "-I", "-B", "-c", BOOT_CODE], state_dir=state_dir)
    if result.returncode != 0:
        raise LabError(f"the units of {name} did not start at boot: {result.stderr.strip()}")
    return json.loads(result.stdout)


def reboot(
    name: str,
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    at_boot: Callable[[], None] | None = None,
) -> list[str]:
    """Restarts the node as its host would restart: every process of it KILLed (sshd, unit
    supervisors and their services), its /run emptied, then its sshd started again and every
    unit enabled for multi-user.target started as systemd starts it at boot; units not enabled
    stay down. `at_boot` runs before the units start, for what a boot starts first (the
    container runtime, which the lab runs on the host). Returns the units started, once sshd
    answers; the node keeps its disk (upper dir), host key, address and network."""
    state_dir = Path(state_dir).resolve()
    node = running_node(name, state_dir)
    base = node_dir(name, state_dir)
    kill_node_processes(node, state_dir)
    clear_run(node_root(name, state_dir))
    (base / "sshd.pid").unlink(missing_ok=True)
    start_sshd(node, state_dir, state_dir / "authorized_keys")
    if at_boot is not None:
        at_boot()
    return boot_units(name, state_dir)


# --- helpers for tests ----------------------------------------------------------------------------


def node_exec(
    name: str,
    argv: Sequence[str],
    *,
    state_dir: Path = DEFAULT_STATE_DIR,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a command in a node the way its SSH sessions run (network, hostname, mounts, root),
    without going through ssh; returns the completed process, whatever its exit code."""
    pid = sshd_pid(name, state_dir)
    namespaces = ["nsenter", f"--target={pid}", "--net", "--uts", "--mount", "--"]
    command = [*namespaces, "chroot", str(node_root(name, state_dir)), *argv]
    env = {"PATH": SERVICE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env)


def calls(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> list[dict[str, object]]:
    """The node's stand-in calls in order, each `{"time": ..., "argv": ["systemctl", ...]}`."""
    log = in_node(node_root(name, state_dir), CALL_LOG)
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


# --- command line ---------------------------------------------------------------------------------


def print_nodes(state: dict[str, object], state_dir: Path) -> None:
    """Prints what a user needs to reach the nodes."""
    print(f"state: {state_file(state_dir)}")
    print(f"client key: {state['clientKey']}  known hosts: {state['knownHosts']}")
    for node in state["nodes"]:  # type: ignore[attr-defined]
        print(f"{node['name']} {node['address']}:{node['sshPort']} {node['hostKey']}")


def main(args: list[str] | None = None) -> int:
    """`python -m lab.nodes up --count N` / `reboot NAME` / `down [--purge]`, each with
    `[--state-dir DIR]`."""
    parser = argparse.ArgumentParser(prog="python -m lab.nodes", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="create fresh lab nodes (removing old ones)")
    up_parser.add_argument("--count", type=int, default=3)
    reboot_parser = commands.add_parser("reboot", help="restart one node as its host would")
    reboot_parser.add_argument("name")
    down_parser = commands.add_parser("down", help="remove the lab nodes, leftovers included")
    down_parser.add_argument("--purge", action="store_true", help="also delete the state dir")
    for sub in (up_parser, reboot_parser, down_parser):
        sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    options = parser.parse_args(args)
    try:
        if options.command == "up":
            print_nodes(up(options.count, options.state_dir), options.state_dir)
        elif options.command == "reboot":
            started = reboot(options.name, options.state_dir)
            print(f"{options.name} rebooted; started at boot: {', '.join(started) or 'nothing'}")
        else:
            down(options.state_dir, purge=options.purge)
    except LabError as error:
        print(f"lab nodes: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
