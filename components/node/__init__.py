"""One worker node, reached over SSH: its files and unit, preflight, the kubelet binary, the
start, staging and rolling restarts (the tutorial's scp, ssh and systemctl)."""
