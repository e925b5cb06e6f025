"""multiprocessing children record into their parent's segment under its bot name, whatever
the start method; the default segment stays untouched."""

from __future__ import annotations

import unittest

from support import remove_segment, reader_once, run_child, unique_segment

PARENT = """
import multiprocessing as mp, sys, telering

def child(value):
    telering.get_health_check().performance_monitor.record_scan_time(value)
    telering.get_error_manager().record_error("child_error", "from a child")

if __name__ == "__main__":
    method = sys.argv[1]
    telering.attach(segment=sys.argv[2], bot="parent-bot")
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload([])
    procs = [ctx.Process(target=child, args=(float(i + 1),)) for i in range(3)]
    for p in procs: p.start()
    for p in procs: p.join()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    with ctx.Pool(2) as pool:
        pool.map(child, [10.0, 11.0])
    print("children done")
"""


class ChildProcessTest(unittest.TestCase):
    def run_parent(self, method):
        segment, default = unique_segment(f"mp-{method}"), unique_segment("default")
        self.addCleanup(remove_segment, segment)
        self.addCleanup(remove_segment, default)
        import os
        import subprocess
        import sys
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(PARENT)
        self.addCleanup(os.unlink, f.name)
        # A child that fell back to the environment would record into `default`.
        env = dict(os.environ, TELERING_SEGMENT=default, TELERING_BOT="wrong-bot")
        proc = subprocess.run([sys.executable, f.name, method, segment], env=env, capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        report = reader_once(segment)
        self.assertEqual(report["metrics"]["scan_samples"], 5)
        self.assertEqual(report["error_statistics"]["errors_by_type"], {"child_error": 5})
        self.assertIn("parent-bot", report["bots"])
        self.assertNotIn("wrong-bot", report["bots"])
        self.assertFalse(os.path.exists(f"/dev/shm/{default}"), "a child recorded into the default segment")

    def test_spawn_children_inherit_segment_and_bot(self):
        self.run_parent("spawn")

    def test_forkserver_children_inherit_segment_and_bot(self):
        self.run_parent("forkserver")

    def test_fork_children_inherit_segment_and_bot(self):
        self.run_parent("fork")

    def test_subprocess_children_use_their_environment(self):
        segment = unique_segment("env")
        self.addCleanup(remove_segment, segment)
        proc = run_child("""
            import telering
            telering.get_health_check().performance_monitor.record_scan_time(7.0)
        """, {"TELERING_SEGMENT": segment, "TELERING_BOT": "env-bot"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        report = reader_once(segment)
        self.assertEqual(report["metrics"]["scan_samples"], 1)
        self.assertIn("env-bot", report["bots"])


if __name__ == "__main__":
    unittest.main()
