"""The prepare script, run for real with `sh`: swap off now and after reboots (fstab and swap
units), and the resolv.conf the kubelet gives pods, picked on the node."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from components.node import rendering
from components.settings.model import Settings
from tests.factories import BuildSettings
from tests.node_root import NodeRoot, run, stub_commands
from tests.tools import require_tool

# --- 6. the swap handling of the prepare script --------------------------------------------

FSTAB_LINES = {
    "comment": "# /etc/fstab: static file system information.",
    "root": "UUID=1111-aaaa / ext4 errors=remount-ro 0 1",
    "swapfile": "/swapfile none swap sw 0 0",
    "commented-swap": "# /dev/sdb2 none swap sw 0 0",
    "tab-swap": "UUID=2222-bbbb\tnone\tswap\tsw\t0\t0",
    "dir-named-swap": "/dev/sdc1 /swap ext4 defaults 0 2",
}
SWAP_KEYS = {"swapfile", "tab-swap"}


def fstab_rewrite(settings: Settings, fstab: Path) -> str:
    """The prepare script's fstab block, pointed at a test copy.

    The script hard-codes /etc/fstab, so the test renders the real template, cuts out the
    `if awk ... /etc/fstab; then ...; fi` block and replaces /etc/fstab with the copy's
    path: the guard and the rewrite run exactly as rendered.
    """
    lines = rendering.prepare_node_script(settings.kubelet).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("if ") and "fstab" in line)
    end = next(i for i in range(start, len(lines)) if lines[i] == "fi")
    block = "\n".join(lines[start : end + 1])
    assert "awk " in block and "/etc/fstab" in block, block
    return "set -eu\n" + block.replace("/etc/fstab", str(fstab)) + "\n"


def swap_entries(fstab: Path) -> list[str]:
    """The swap entries libmount (used by swapon -a and systemd's fstab generator) reads."""
    result = run(
        [require_tool("findmnt"), "--tab-file", str(fstab), "-n", "-t", "swap", "-o", "SOURCE"]
    )
    return result.stdout.split()


def test_fstab_rewrite_comments_out_only_the_swap_entries(
    tmp_path: Path, build: BuildSettings
) -> None:
    fstab = tmp_path / "fstab"
    original = "\n".join(FSTAB_LINES.values()) + "\n"
    fstab.write_text(original)
    assert swap_entries(fstab) == ["/swapfile", "UUID=2222-bbbb"]
    script = fstab_rewrite(build(), fstab)

    result = run([require_tool("sh"), "-c", script])

    assert result.returncode == 0, result.stderr
    expected = [f"# {line}" if key in SWAP_KEYS else line for key, line in FSTAB_LINES.items()]
    assert fstab.read_text().splitlines() == expected
    assert swap_entries(fstab) == []
    assert (tmp_path / "fstab.kubelet-bootstrap.bak").read_text() == original


def test_fstab_rewrite_is_idempotent(tmp_path: Path, build: BuildSettings) -> None:
    fstab = tmp_path / "fstab"
    fstab.write_text("\n".join(FSTAB_LINES.values()) + "\n")
    script = fstab_rewrite(build(), fstab)
    sh = require_tool("sh")
    assert run([sh, "-c", script]).returncode == 0
    once = fstab.read_text()

    second = run([sh, "-c", script])

    assert second.returncode == 0, second.stderr
    assert fstab.read_text() == once
    assert second.stdout == "", "the second run claimed to comment out swap entries again"


@pytest.mark.parametrize(
    "swap_line",
    ["  /swapfile none swap sw 0 0", "/dev/sdb2 none swap"],
    ids=["indented-entry", "entry-without-options"],
)
def test_fstab_rewrite_disables_every_entry_libmount_reads_as_swap(
    tmp_path: Path, build: BuildSettings, swap_line: str
) -> None:
    """fstab(5) entries libmount accepts: leading blanks, and options/dump/pass omitted."""
    fstab = tmp_path / "fstab"
    fstab.write_text(f"UUID=1111-aaaa / ext4 defaults 0 1\n{swap_line}\n")
    assert len(swap_entries(fstab)) == 1, "findmnt should read the line as a swap entry"

    result = run([require_tool("sh"), "-c", fstab_rewrite(build(), fstab)])

    assert result.returncode == 0, result.stderr
    assert swap_entries(fstab) == [], f"still active after the rewrite:\n{fstab.read_text()}"


# The prepare scripts below run on this machine, not in a node root: a named resolv.conf keeps
# them from linking kubelet.resolvConf's auto choice under /var/lib on the host.
ON_THE_HOST = {"resolvConf": "/etc/resolv.conf"}


def test_prepare_script_turns_swap_off_now_and_after_reboot(
    tmp_path: Path, build: BuildSettings
) -> None:
    """The whole prepare script, with swapoff/swapon/systemctl stubbed and fstab redirected."""
    root_dir, cert_dir = tmp_path / "kubelet", tmp_path / "cert"
    settings = build(
        kubelet={
            "failSwapOn": True,
            "rootDir": str(root_dir),
            "certDir": str(cert_dir),
            **ON_THE_HOST,
        }
    )
    fstab = tmp_path / "fstab"
    fstab.write_text("/swapfile none swap sw 0 0\n")
    log = tmp_path / "calls.log"
    env = stub_commands(
        tmp_path / "stubs",
        swapoff=f'echo "swapoff $*" >> {log}',
        swapon="exit 0",
        systemctl=(
            f'if [ "$1" = list-unit-files ]; then echo "swapfile.swap   generated -"; '
            f'else echo "systemctl $*" >> {log}; fi'
        ),
    )
    script = rendering.prepare_node_script(settings.kubelet).replace("/etc/fstab", str(fstab))

    result = run([require_tool("sh"), "-c", script], env=env)

    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["swapoff -a", "systemctl mask swapfile.swap"]
    assert fstab.read_text() == "# /swapfile none swap sw 0 0\n"
    assert stat.S_IMODE(root_dir.stat().st_mode) == 0o700
    assert cert_dir.is_dir()


def test_prepare_script_fails_when_swap_stays_on(tmp_path: Path, build: BuildSettings) -> None:
    settings = build(
        kubelet={
            "rootDir": str(tmp_path / "kubelet"),
            "certDir": str(tmp_path / "cert"),
            **ON_THE_HOST,
        }
    )
    fstab = tmp_path / "fstab"
    fstab.write_text("UUID=1111-aaaa / ext4 defaults 0 1\n")
    env = stub_commands(
        tmp_path / "stubs",
        swapoff="exit 0",
        swapon='echo "/swapfile file 1G 0B -2"',
        systemctl="exit 0",
    )
    script = rendering.prepare_node_script(settings.kubelet).replace("/etc/fstab", str(fstab))

    result = run([require_tool("sh"), "-c", script], env=env)

    assert result.returncode != 0
    assert "swap is still on" in result.stderr


def test_prepare_script_runs_without_touching_swap_when_allowed(
    tmp_path: Path, build: BuildSettings
) -> None:
    root_dir, cert_dir = tmp_path / "kubelet", tmp_path / "cert"
    settings = build(
        kubelet={
            "failSwapOn": False,
            "rootDir": str(root_dir),
            "certDir": str(cert_dir),
            **ON_THE_HOST,
        }
    )
    log = tmp_path / "calls.log"
    log.write_text("")
    spy = f'echo "$(basename "$0") $*" >> {log}'
    env = stub_commands(tmp_path / "stubs", swapoff=spy, swapon=spy, systemctl=spy, sed=spy)

    result = run(
        [require_tool("sh"), "-c", rendering.prepare_node_script(settings.kubelet)], env=env
    )

    assert result.returncode == 0, result.stderr
    assert log.read_text() == ""
    assert stat.S_IMODE(root_dir.stat().st_mode) == 0o700
    assert cert_dir.is_dir()


# --- 8. the resolv.conf the kubelet gives pods, picked by the prepare script ---------------


def prepared(node: NodeRoot, build: BuildSettings) -> subprocess.CompletedProcess[str]:
    settings = build(kubelet={"failSwapOn": False, "rootDir": "/var/lib/kubelet"})
    return node.sh(rendering.prepare_node_script(settings.kubelet))


def resolv_conf(node: NodeRoot) -> tuple[Path, Path]:
    """The node's /etc/resolv.conf and the link the kubelet config names."""
    return (
        Path(node.moved("/etc/resolv.conf")),
        Path(node.moved(f"{rendering.NODE_STATE_DIR}/resolv.conf")),
    )


def with_systemd_resolved(node: NodeRoot) -> Path:
    """systemd-resolved's files under /run; returns the one with the upstream servers."""
    resolve = Path(node.moved("/run/systemd/resolve"))
    resolve.mkdir(parents=True)
    (resolve / "stub-resolv.conf").write_text("nameserver 127.0.0.53\noptions edns0\n")
    (resolve / "resolv.conf").write_text("nameserver 10.0.0.2\n")
    return resolve / "resolv.conf"


@pytest.mark.parametrize("how", ["symlink", "copy"])
def test_on_systemd_resolved_pods_get_the_upstream_servers_not_the_stub(
    tmp_path: Path, build: BuildSettings, how: str
) -> None:
    """Pods given the stub 127.0.0.53 ask themselves: kubeadm names resolved's upstream file.
    /etc/resolv.conf links into /run/systemd/resolve, or is a file naming 127.0.0.53."""
    node = NodeRoot(tmp_path / "node")
    upstream = with_systemd_resolved(node)
    etc_resolv, link = resolv_conf(node)
    if how == "symlink":
        etc_resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")
    else:
        etc_resolv.write_text("# copied by hand\nnameserver 127.0.0.53\n")

    result = prepared(node, build)

    assert result.returncode == 0, result.stderr
    assert os.readlink(link) == str(upstream)
    assert link.read_text() == "nameserver 10.0.0.2\n"
    assert f"pods get the DNS servers of {upstream}" in result.stdout


def test_without_systemd_resolved_pods_get_the_nodes_resolv_conf(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node")
    etc_resolv, link = resolv_conf(node)
    etc_resolv.write_text("nameserver 10.0.0.2\nsearch example.com\n")

    first, second = prepared(node, build), prepared(node, build)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert os.readlink(link) == str(etc_resolv)


def test_the_stub_without_its_upstream_file_fails_the_preparation(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node")
    etc_resolv, link = resolv_conf(node)
    etc_resolv.write_text("nameserver 127.0.0.53\n")

    result = prepared(node, build)

    assert result.returncode == 1
    assert "systemd-resolved" in result.stderr
    assert "kubelet.resolvConf" in result.stderr
    assert not link.exists()
