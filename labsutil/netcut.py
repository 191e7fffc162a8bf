"""Run a command with the network cut, to prove the offline promise.

    python -m labsutil.netcut pytest ...

Uses a new network namespace (`unshare -rn`, loopback only) where the system
permits it; otherwise sets LABS_NO_NETWORK=1, under which importing labsutil
makes any non-loopback socket connection raise (kernels import labsutil first).
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys

_LOOPBACK_UP = 'ip link set lo up && exec "$@"'


class NetworkCut(OSError):
    pass


def unshare_works() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True)
    return probe.returncode == 0


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # unix sockets
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def install_socket_guard() -> None:
    """Make every connection to a non-loopback address fail loudly."""
    if getattr(socket.socket, "_labs_guarded", False):
        return
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if not _is_local(address):
            raise NetworkCut(f"network access to {address!r} attempted while the network is cut (LABS_NO_NETWORK=1)")
        return original_connect(self, address)

    def connect_ex(self, address):
        if not _is_local(address):
            raise NetworkCut(f"network access to {address!r} attempted while the network is cut (LABS_NO_NETWORK=1)")
        return original_connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.socket._labs_guarded = True


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(__doc__)
        return 2
    if unshare_works():
        print("netcut: running in a new network namespace (loopback only)", flush=True)
        return subprocess.call(["unshare", "-rn", "sh", "-c", _LOOPBACK_UP, "sh", *argv])
    print("netcut: unshare not permitted here; using the socket guard (LABS_NO_NETWORK=1)", flush=True)
    return subprocess.call(argv, env={**os.environ, "LABS_NO_NETWORK": "1"})


if __name__ == "__main__":
    sys.exit(main())
