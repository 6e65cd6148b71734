"""SIGINT and SIGTERM for the `discover` command: a clean stop, never a traceback or a segfault.

`install()` blocks both signals in every thread and waits for them in one thread of its own
(sigwait), so a signal is seen at once even while the main thread is inside a long compiled
call or a compilation. What it does depends on the phase the run is in:

- "immediate" (start-up, the final evaluation): print one line and exit at once with
  128 + signal number. Exiting with os._exit never tears the XLA runtime down under a running
  call (which is what made Ctrl-C during start-up segfault), and every file a run writes is
  written atomically, so nothing is left half-written.
- "deferred" (the generation loop): ask the loop to stop after the current generation; it
  writes a checkpoint, waits for it and exits with one line. A second signal exits at once.

Only the command line installs this; a library user's process keeps its own signal handling.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"installed": False, "mode": "immediate", "requested": None, "phase": "start-up", "hint": ""}
_lock = threading.Lock()


class Interrupted(Exception):
    """The generation loop stopped on a signal after writing its checkpoint."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


def exit_code(signum: int) -> int:
    return 128 + int(signum)


def name(signum: int) -> str:
    return signal.Signals(signum).name


def installed() -> bool:
    return _state["installed"]


def install() -> None:
    """Handle SIGINT/SIGTERM in a dedicated thread. Call first thing in the main thread, before
    any other thread exists (threads started later inherit the blocked signals)."""
    if _state["installed"]:
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    threading.Thread(target=_wait_loop, name="signals", daemon=True).start()
    _state["installed"] = True


def _wait_loop():
    while True:
        signum = signal.sigwait(SIGNALS)
        with _lock:
            if _state["mode"] == "deferred" and _state["requested"] is None:
                _state["requested"] = signum
                _say(f"{name(signum)} received: stopping after the current generation and writing a checkpoint "
                     "(send it again to exit at once)", sys.stdout)  # fmt: skip
                continue
            again = _state["requested"] is not None
        where = "again: exiting at once" if again else f"during {_state['phase']}"
        _say(f"error: interrupted by {name(signum)} {where}{_state['hint']}", sys.stderr)
        os._exit(exit_code(signum))


def _say(line: str, stream) -> None:
    try:
        sys.stdout.flush()
        stream.write(("\n" if stream is sys.stdout else "") + line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def set_phase(phase: str, hint: str = "") -> None:
    """Name what the process is doing (for the one-line message) and what the user can do next
    (appended after '; ')."""
    _state["phase"], _state["hint"] = phase, (f"; {hint}" if hint else "")


def requested() -> int | None:
    """The signal that asked the loop to stop, if any."""
    return _state["requested"]


@contextlib.contextmanager
def deferred(enabled: bool = True):
    """Within this block a first signal only asks the loop to stop (see `requested`)."""
    if not enabled:
        yield
        return
    with _lock:
        _state["mode"] = "deferred"
    try:
        yield
    finally:
        with _lock:
            _state["mode"] = "immediate"
