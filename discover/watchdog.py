"""A watchdog for long runs: a generation that makes no progress must never sit silent.

If no progress is reported (`beat`) for `timeout_s` seconds, every Python thread's stack is
dumped (faulthandler) into a file, one line goes to stderr and the process exits with code 3.
The main thread is then usually inside a compiled call that never returns (an XLA:CPU
deadlock): nothing in Python could interrupt it, so the watchdog runs in a thread of its own.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from pathlib import Path

EXIT_CODE = 3


class Watchdog:
    """Watchdog(timeout_s, stacks_path, hint).start(); .beat("generation 3"); .stop().

    timeout_s 0 disables it; stacks_path None dumps the stacks to stderr instead of a file.
    """

    def __init__(self, timeout_s: float, stacks_path=None, hint: str = ""):
        self.timeout_s = float(timeout_s)
        self.stacks_path = None if stacks_path is None else Path(stacks_path)
        self.hint = hint
        self._last = time.monotonic()
        self._what = "start-up"
        self._stop = threading.Event()
        self._thread = None

    def beat(self, what: str) -> None:
        """Report progress: `what` just happened (shown if the next step never comes)."""
        self._last, self._what = time.monotonic(), what

    def start(self) -> Watchdog:
        if self.timeout_s > 0 and self._thread is None:
            self.beat(self._what)
            self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _watch(self):
        period = min(max(self.timeout_s / 10, 0.05), 5.0)
        while not self._stop.wait(period):
            idle = time.monotonic() - self._last
            if idle > self.timeout_s:
                self._fire(idle)

    def _fire(self, idle: float) -> None:
        where = "stderr"
        try:
            if self.stacks_path is not None:
                with open(self.stacks_path, "w") as f:
                    f.write(f"discover watchdog: no progress for {idle:.0f} s after {self._what}\n\n")
                    faulthandler.dump_traceback(f, all_threads=True)
                where = str(self.stacks_path)
            else:
                faulthandler.dump_traceback(sys.stderr, all_threads=True)
        except OSError:
            faulthandler.dump_traceback(sys.stderr, all_threads=True)
        try:
            sys.stdout.flush()
            sys.stderr.write(
                f"error: watchdog: no progress for {idle:.0f} s after {self._what} (watchdog_s={self.timeout_s:g}); "
                f"all thread stacks are in {where}{self.hint}\n"
            )
            sys.stderr.flush()
        finally:
            os._exit(EXIT_CODE)
