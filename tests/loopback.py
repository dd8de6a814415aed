"""Helpers for tests that start real servers on loopback: a free port, waiting for an answer, stopping them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Loopback never goes through a proxy, whatever the environment (or an earlier test) set.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``process`` exits; the failure shows the tail of ``log``."""
    tail = (lambda: "\n" + log.read_text()[-3000:]) if log is not None else (lambda: "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}{tail()}")
        try:
            with OPENER.open(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1.0)
    raise TimeoutError(f"{url} did not answer within {timeout} s{tail()}")


def stop(process: subprocess.Popen, timeout: float = 30, how: signal.Signals = signal.SIGTERM) -> None:
    """Signal the process group (started with ``start_new_session=True``) with ``how``, SIGKILL it if it
    lingers."""
    if process.poll() is None:
        os.killpg(process.pid, how)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A real `mlflow server` (SQLite store and served artifacts in ``folder``) on a free port; yields its URL."""
    port = free_port()
    log = folder / "mlflow-server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
             "--artifacts-destination", str(folder / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", 180, server, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)
