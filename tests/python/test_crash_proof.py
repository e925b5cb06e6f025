"""No sequence of calls crashes the interpreter. Each scenario runs in its own interpreter,
which must exit 0 (a segfault is -11, an abort -6, a hang a timeout)."""

from __future__ import annotations

import unittest

from support import remove_segment, reader_once, run_child, unique_segment

# Threads that record through the seed's API until told to stop, counting what raised.
RECORDERS = """
import threading, telering
stop = threading.Event()
raised = []
def record():
    pm = telering.get_health_check().performance_monitor
    em = telering.get_error_manager()
    while not stop.is_set():
        try:
            pm.record_scan_time(1.0)
            pm.record_api_call(0.5, "orderbook")
            em.record_error("api_connection", "reset", telering.ErrorSeverity.HIGH, {"n": 1})
            em.is_circuit_breaker_open("market_scanner")
            pm.update_memory_usage()
        except telering.TeleringError as e:
            raised.append(str(e))
threads = [threading.Thread(target=record, daemon=True) for _ in range(4)]
"""


class CrashProofTest(unittest.TestCase):
    def setUp(self):
        self.segment = unique_segment("crash")
        self.addCleanup(remove_segment, self.segment)

    def run_ok(self, code, timeout=60):
        proc = run_child(code, {"TELERING_SEGMENT": self.segment, "TELERING_BOT": "crash-bot"}, timeout)
        self.assertEqual(proc.returncode, 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def test_detach_while_threads_record_raises_in_them_instead_of_crashing(self):
        proc = self.run_ok(RECORDERS + """
import time
telering.attach()
for t in threads: t.start()
time.sleep(0.3)
telering.detach()
time.sleep(0.3)
stop.set()
for t in threads: t.join()
assert raised, "records after detach() must raise"
assert all("detached" in m for m in raised), raised[:3]
print("raised", len(raised))
""")
        self.assertIn("raised", proc.stdout)

    def test_second_attach_while_threads_record_moves_them_to_the_new_segment(self):
        other = unique_segment("crash2")
        self.addCleanup(remove_segment, other)
        self.run_ok(RECORDERS + f"""
import time
telering.attach()
for t in threads: t.start()
for i in range(20):
    telering.attach(segment={other!r} if i % 2 else None, bot="crash-bot")
    time.sleep(0.02)
telering.attach(segment={other!r}, bot="crash-bot")
time.sleep(0.2)
stop.set()
for t in threads: t.join()
assert not raised, raised[:3]
""")
        self.assertGreater(reader_once(other)["metrics"]["scan_samples"], 0)

    def test_detach_of_an_explicit_writer_while_another_thread_waits_on_a_command(self):
        self.run_ok("""
import threading, time, telering
w = telering.Writer(%r, "crash-bot", sample_memory=False)
errors = []
def wait_on_command():
    try:
        w.open_circuit_breaker("market_scanner", wait_ms=500)  # no reader: waits 500 ms, GIL released
    except telering.TeleringError as e:
        errors.append(e)
t = threading.Thread(target=wait_on_command)
t.start()
time.sleep(0.1)
w.detach()                      # the call inside finishes first, then the writer goes
t.join()
try:
    w.scan_time(1.0)
    raise SystemExit("a detached Writer recorded")
except telering.TeleringError as e:
    assert "detached" in str(e), e
""" % self.segment)

    def test_interpreter_exit_with_daemon_threads_recording_and_an_atexit_detach(self):
        for _ in range(5):
            self.run_ok(RECORDERS + """
import atexit, time
telering.attach()
atexit.register(telering.detach)
def wait_on_commands():
    w = telering.writer()
    while True:
        try:
            w.request_report(50)
            w.open_circuit_breaker("market_scanner", wait_ms=20)
        except telering.TeleringError:
            pass
threads.append(threading.Thread(target=wait_on_commands, daemon=True))
for t in threads: t.start()
time.sleep(0.2)
""")

    def test_a_detached_process_never_records_into_the_default_segment(self):
        proc = self.run_ok("""
import telering
telering.attach()
telering.detach()
for call in (lambda: telering.get_health_check().performance_monitor.record_scan_time(1.0),
             lambda: telering.get_error_manager().record_error("x", "y"),
             lambda: telering.writer()):
    try:
        call()
        raise SystemExit("recorded after detach()")
    except telering.TeleringError as e:
        assert "telering.attach()" in str(e), e
telering.attach()
telering.get_health_check().performance_monitor.record_scan_time(2.0)
print("ok")
""")
        self.assertIn("ok", proc.stdout)
        self.assertEqual(reader_once(self.segment)["metrics"]["scan_samples"], 1)

    def test_fork_with_threads_recording_child_records_and_detaches(self):
        proc = self.run_ok(RECORDERS + """
import os, time
telering.attach()
for t in threads: t.start()
time.sleep(0.1)
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            pm = telering.get_health_check().performance_monitor
            pm.record_scan_time(7.0)
            pm.update_memory_usage()
            telering.detach()      # joins no parent thread, waits on no parent lock
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
stop.set()
for t in threads: t.join()
print("forked")
""", timeout=120)
        self.assertIn("forked", proc.stdout)


if __name__ == "__main__":
    unittest.main()
