"""paramiko's own log records never reach the user's terminal raw (issue 13 item 16: a link cut
printed "Socket exception: Network is unreachable (101)" from paramiko's transport thread)."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter: pytest's own log handlers would hide what Python prints without any.
PROGRAM = """
import logging
import podreconcile.adapters.ssh.connection
logging.getLogger("paramiko.transport").error("Socket exception: Network is unreachable (101)")
"""


def test_a_paramiko_transport_error_record_prints_nothing() -> None:
    result = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    assert "Socket exception" not in result.stdout + result.stderr
