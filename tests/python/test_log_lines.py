"""The seed's log lines through stock handlers: the line, the record and the stream calls are
the ones logging itself produces, whether the native handler path (native_log_handler.cpp)
or logging's own code writes them.

Each case logs one error through ErrorRecoveryManager to a logger with the handler under
test, followed by a capturing handler that receives the same record afterwards. The line
expected is what a fresh logging.Formatter / handler of the same configuration makes of that
record, so the two must agree byte for byte, timestamp included.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import time
import unittest

from telering import ErrorRecoveryManager, ErrorSeverity, _native

from support import SegmentTest

FULL = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
EVERYTHING = ("%(asctime)s|%(msecs)03d|%(created)f|%(relativeCreated)d|%(name)s|%(levelname)s|%(levelno)s|"
              "%(pathname)s|%(filename)s|%(module)s|%(lineno)d|%(funcName)s|%(thread)d|%(threadName)s|"
              "%(process)d|%(processName)s|%(message)s")


class CountingStream(io.StringIO):
    """A StringIO that counts write and flush calls."""

    def __init__(self):
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, s):
        self.writes += 1
        return super().write(s)

    def flush(self):
        self.flushes += 1
        super().flush()


class Capture(logging.Handler):
    """Keeps the records it is given (a non-stock handler: logging's own path)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


class LogLineTest(SegmentTest):
    tag = "loglines"

    def log_through(self, handler, name):
        """Logs one MEDIUM error through `handler`; returns the record both handlers saw."""
        logger = logging.getLogger(f"loglines.{name}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        capture = Capture()
        logger.addHandler(handler)
        logger.addHandler(capture)
        self.addCleanup(logger.removeHandler, handler)
        self.addCleanup(logger.removeHandler, capture)
        em = ErrorRecoveryManager(logger=logger)
        em.record_error("api_rate_limit", "Rate limit exceeded", ErrorSeverity.MEDIUM, {"endpoint": "/x"})
        self.assertEqual(len(capture.records), 1)
        return capture.records[0]

    def expected_line(self, formatter_factory, record):
        """The line a fresh formatter makes of a copy of the record (no attributes it set)."""
        clean = logging.makeLogRecord({k: v for k, v in vars(record).items() if k not in ("message", "asctime")})
        return formatter_factory().format(clean)

    def check_stream_handler(self, name, formatter_factory, native=True):
        """The line through a StreamHandler; `native`: whether the native path must write it."""
        before = _native._stock_handler_lines()
        stream = CountingStream()
        handler = logging.StreamHandler(stream)
        if formatter_factory is not None:
            handler.setFormatter(formatter_factory())
        record = self.log_through(handler, name)
        expected = self.expected_line(formatter_factory or logging.Formatter, record)
        self.assertEqual(stream.getvalue(), expected + "\n")
        self.assertEqual((stream.writes, stream.flushes), (1, 1))  # one write of msg + terminator, one flush
        self.assertEqual(record.message, "WARNING: api_rate_limit - Rate limit exceeded")
        if sys.version_info < (3, 12):  # 3.12+ records are logging's own (native_log.cpp)
            self.assertEqual(_native._stock_handler_lines() - before, 1 if native else 0)
        return record

    def test_the_usual_format(self):
        record = self.check_stream_handler("usual", lambda: logging.Formatter(FULL))
        # Formatter.format sets message, then asctime, on the record, in that order.
        self.assertEqual(list(vars(record))[-2:], ["message", "asctime"])

    def test_every_record_attribute(self):
        self.check_stream_handler("everything", lambda: logging.Formatter(EVERYTHING))

    def test_no_formatter_uses_logging_default(self):
        record = self.check_stream_handler("default", None)
        self.assertNotIn("asctime", vars(record))

    def test_no_time_in_the_format(self):
        record = self.check_stream_handler("notime", lambda: logging.Formatter("%(levelname)s:%(message)s"))
        self.assertNotIn("asctime", vars(record))

    def test_a_datefmt(self):
        # logging's formatTime makes the time; the native path hands the line back to emit().
        self.check_stream_handler("datefmt", lambda: logging.Formatter(FULL, datefmt="%d/%m/%Y %H:%M:%S %Z"), False)

    def test_utc_and_other_converters(self):
        def utc():
            f = logging.Formatter(FULL)
            f.converter = time.gmtime
            return f

        def shifted():
            f = logging.Formatter(FULL)
            f.converter = lambda t: time.gmtime(t + 3600)
            return f

        self.check_stream_handler("utc", utc)
        self.check_stream_handler("shifted", shifted, native=False)

    def test_other_millisecond_formats(self):
        def no_msecs():
            f = logging.Formatter(FULL)
            f.default_msec_format = None
            return f

        def dotted():
            f = logging.Formatter(FULL)
            f.default_time_format = "%H:%M:%S"
            f.default_msec_format = "%s.%03d"
            return f

        self.check_stream_handler("nomsecs", no_msecs)
        self.check_stream_handler("dotted", dotted, native=False)

    def test_other_styles_and_defaults(self):
        self.check_stream_handler("brace", lambda: logging.Formatter("{asctime} {levelname} {message}", style="{"), False)
        self.check_stream_handler("dollar", lambda: logging.Formatter("$asctime $message", style="$"), False)
        self.check_stream_handler("defaults",
                                  lambda: logging.Formatter("%(asctime)s %(tag)s %(message)s", defaults={"tag": "T"}),
                                  False)

    def test_file_handler(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bot.log")
            for delay in (False, True):  # delay=True: the stream opens on the first record
                handler = logging.FileHandler(path, delay=delay)
                handler.setFormatter(logging.Formatter(FULL))
                record = self.log_through(handler, f"file{delay}")
                handler.close()
                with open(path) as f:
                    last = f.read().splitlines()[-1]
                self.assertEqual(last, self.expected_line(lambda: logging.Formatter(FULL), record))

    def test_customised_machinery_is_used(self):
        class Subclass(logging.Formatter):
            def format(self, record):
                return "subclass:" + super().format(record)

        before = _native._stock_handler_lines()
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(Subclass("%(message)s"))
        self.log_through(handler, "subclass")
        self.assertEqual(stream.getvalue(), "subclass:WARNING: api_rate_limit - Rate limit exceeded\n")

        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.format = lambda record: "instance:" + record.getMessage()
        self.log_through(handler, "instance")
        self.assertEqual(stream.getvalue(), "instance:WARNING: api_rate_limit - Rate limit exceeded\n")

        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(lambda record: setattr(record, "msg", "filtered") or True)
        self.log_through(handler, "filter")
        self.assertEqual(stream.getvalue(), "filtered\n")

        original = logging.Formatter.formatMessage
        logging.Formatter.formatMessage = lambda self, record: "patched:" + original(self, record)
        try:
            stream = io.StringIO()
            handler = logging.StreamHandler(stream)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.log_through(handler, "patched")
            self.assertEqual(stream.getvalue(), "patched:WARNING: api_rate_limit - Rate limit exceeded\n")
        finally:
            logging.Formatter.formatMessage = original
        self.assertEqual(_native._stock_handler_lines(), before)  # all four went through logging's code
        self.check_stream_handler("restored", lambda: logging.Formatter(FULL))  # and back to the stock path

    def test_errors_are_reported_as_logging_reports_them(self):
        # A missing field: emit's handleError, with the ValueError logging raises for it.
        seen = []
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(logging.Formatter("%(nokey)s %(message)s"))
        handler.handleError = lambda record: seen.append(sys.exc_info()[1])
        self.log_through(handler, "badkey")
        self.assertEqual(len(seen), 1)
        self.assertIsInstance(seen[0], ValueError)
        self.assertIn("nokey", str(seen[0]))

        # A stream that fails to write: handleError with that error, the lock released after.
        class Broken(io.StringIO):
            def write(self, s):
                raise OSError(28, "No space left on device")

        seen.clear()
        handler = logging.StreamHandler(Broken())
        handler.setFormatter(logging.Formatter(FULL))
        handler.handleError = lambda record: seen.append(sys.exc_info()[1])
        self.log_through(handler, "broken")
        self.assertEqual(len(seen), 1)
        self.assertIsInstance(seen[0], OSError)
        self.assertTrue(handler.lock.acquire(blocking=False))
        handler.lock.release()

        # logging's default handleError prints the report and the caller's stack to stderr.
        handler = logging.StreamHandler(Broken())
        stderr, sys.stderr = sys.stderr, io.StringIO()
        try:
            self.log_through(handler, "report")
            report = sys.stderr.getvalue()
        finally:
            sys.stderr = stderr
        self.assertIn("--- Logging error ---", report)
        self.assertIn("OSError: [Errno 28] No space left on device", report)
        self.assertIn("test_errors_are_reported_as_logging_reports_them", report)

        # A closed stream: StreamHandler.emit's ValueError goes to handleError as well.
        seen.clear()
        stream = io.StringIO()
        stream.close()
        handler = logging.StreamHandler(stream)
        handler.handleError = lambda record: seen.append(sys.exc_info()[1])
        self.log_through(handler, "closed")
        self.assertEqual(len(seen), 1)
        self.assertIsInstance(seen[0], ValueError)

    def test_handler_level_and_lock_are_honoured(self):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setLevel(logging.ERROR)  # the MEDIUM line is a WARNING
        self.log_through(handler, "level")
        self.assertEqual(stream.getvalue(), "")

        # A handler whose lock another thread holds: the line waits for it, then is written.
        import threading
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.acquire()
        done = threading.Event()
        logger = logging.getLogger("loglines.locked")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        em = ErrorRecoveryManager(logger=logger)
        t = threading.Thread(target=lambda: (em.record_error("a", "b", ErrorSeverity.HIGH), done.set()))
        t.start()
        self.assertFalse(done.wait(0.2))
        self.assertEqual(stream.getvalue(), "")
        handler.release()
        self.assertTrue(done.wait(5))
        t.join()
        self.assertEqual(stream.getvalue(), "ERROR: a - b\n")


if __name__ == "__main__":
    unittest.main()
