import socket
import subprocess
import sys

import pytest

from labsutil import netcut


def test_guard_blocks_remote_and_allows_loopback():
    code = (
        "import os, socket; os.environ['LABS_NO_NETWORK']='1'; import labsutil\n"
        "srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()\n"
        "c = socket.socket(); c.connect(srv.getsockname()); print('loopback ok')\n"
        "try:\n    socket.create_connection(('93.184.216.34', 80), timeout=2)\n"
        "except OSError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "loopback ok" in out and "network is cut" in out


def test_is_local():
    assert netcut._is_local(("127.0.0.1", 1)) and netcut._is_local(("::1", 1, 0, 0))
    assert netcut._is_local("/tmp/sock") and not netcut._is_local(("10.0.0.1", 80))
