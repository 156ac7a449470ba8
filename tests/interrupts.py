"""Sending Ctrl-C (SIGINT) to a command started in a subprocess, at a chosen moment."""

import signal
import subprocess
import time


def interrupt_when(proc: subprocess.Popen, ready, delay: float = 0.0, wait_s: float = 30.0, poll_s: float = 0.01):
    """Wait until ``ready()`` (or the process ends, or ``wait_s``), sleep ``delay``, send SIGINT.

    Returns ``(stdout, stderr)``; the process is always reaped, killed if it hangs.
    """
    try:
        deadline = time.monotonic() + wait_s
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(poll_s)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
