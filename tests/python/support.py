"""Helpers shared by the Python suites: unique segments, the reader, child interpreters.

Environment (set by CTest): TELERING_READER (telering-reader), PYTHONPATH holding the
built package (<build>/python).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest
import uuid

import telering

READER = os.environ.get("TELERING_READER", "telering-reader")


def unique_segment(tag: str) -> str:
    """A segment name no other test uses."""
    return f"telering-py-{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_segment(name: str) -> None:
    """Removes /dev/shm/<name> if it exists."""
    try:
        os.unlink(f"/dev/shm/{name}")
    except FileNotFoundError:
        pass


def reader_once(segment: str) -> dict:
    """Runs `telering-reader --once --json` on the segment and returns its report."""
    out = subprocess.run([READER, "--segment", segment, "--once", "--json", "--log-level", "error"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out.strip().splitlines()[-1])


class LiveReader:
    """A telering-reader on the segment for the duration of a `with` block."""

    def __init__(self, segment: str):
        self.segment = segment

    def __enter__(self) -> "LiveReader":
        self.proc = subprocess.Popen([READER, "--segment", self.segment, "--log-level", "error",
                                      "--report-interval", "1h"], stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.01):
    """Polls predicate until it is truthy or timeout seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def run_child(code: str, env_extra: dict = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter (this one) and returns the finished process."""
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout)


class SegmentTest(unittest.TestCase):
    """Each test attaches the process-wide writer to a fresh segment and detaches after."""

    tag = "t"

    def setUp(self) -> None:
        self.segment = unique_segment(self.tag)
        self.addCleanup(remove_segment, self.segment)
        self.writer = telering.attach(segment=self.segment, bot="py-test-bot")
        self.addCleanup(telering.detach)
