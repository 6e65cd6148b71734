"""A run directory as a unit: what kind of run it holds, and one process at a time.

`RUN_DIR/run.json` records the kind of run ("train" or "baseline"), so no command ever writes
into a run of another kind. `RUN_DIR/.lock` is held (flock) by the one process
that trains, resumes or writes the directory; a second one is refused with one line. The
kernel drops the lock when its process dies, however it dies, so a lock left by a killed
process is simply taken over; the file's text (pid and host) is only for messages.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from discover.config import ConfigError

KINDS = ("train", "baseline")
_MARKER, _LOCK = "run.json", ".lock"


class RunDirError(ConfigError):
    """The run directory cannot be used as asked; the message says why and what to do."""


def kind_of(path) -> str | None:
    """The kind of run a directory holds, or None. Directories written before run.json existed
    are recognised by their files."""
    path = Path(path)
    marker = path / _MARKER
    if marker.is_file():
        try:
            kind = json.loads(marker.read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind in KINDS:
            return kind
        raise RunDirError(f"{marker} is damaged; it should say which kind of run {path} holds")
    if (path / "checkpoints").is_dir() or (path / "discovered.msgpack").is_file():
        return "train"
    if (path / "learning_curve.png").is_file():
        return "baseline"
    if (path / "config.json").is_file():
        return "train"
    return None


def check_out(out) -> Path:
    """The --out directory of a new run: refused if it is empty text, a file, a run of any kind
    or a non-empty directory (so a new run never mixes with other files). A directory holding
    only the marker and lock of a start that was interrupted before its config was written is
    taken over."""
    if out is None or not str(out).strip():
        raise RunDirError("--out needs a directory name, got ''")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} is an existing file, not a directory")
    if path.is_dir():
        others = sorted(p.name for p in path.iterdir() if p.name not in (_LOCK, _MARKER))
        if not others:
            return path
        kind = kind_of(path)
        if kind == "train":
            raise RunDirError(f"{path} already holds a training run; resume it with discover train --resume {path} or choose another --out")
        if kind == "baseline":
            raise RunDirError(f"{path} already holds a baseline run; choose another --out")
        raise RunDirError(f"--out {path} is a non-empty directory that is not a run ({others[0]}, ...); choose a new or empty one")
    return path


def check_resume(path, kind: str = "train") -> Path:
    """A directory to resume: it must exist and hold a run of `kind`."""
    path = Path(path)
    if not str(path).strip():
        raise RunDirError("--resume needs a run directory, got ''")
    if not path.is_dir():
        raise RunDirError(f"{path} is not a run directory (it does not exist or is a file)")
    found = kind_of(path)
    if found is None or not (path / "config.json").is_file():
        raise RunDirError(f"{path / 'config.json'} not found: {path} is not a run directory")
    if found != kind:
        raise RunDirError(f"{path} holds a {found} run, not a {kind} run")
    return path


class RunLock:
    """An exclusive lock on a run directory for the life of this process (or until release).

    with RunLock(path): ...   or   lock = RunLock(path).acquire(); ...; lock.release()
    """

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None
        self.took_over: str | None = None  # the previous holder's text, when its lock was stale

    def acquire(self) -> RunLock:
        lock = self.path / _LOCK
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read(fd)
            os.close(fd)
            raise RunDirError(
                f"{self.path} is in use by another discover process ({holder or 'unknown'}); "
                "wait for it to finish or stop it"
            ) from None
        previous = _read(fd)
        self.took_over = previous or None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __enter__(self):
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read(fd) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        return ""


def open_new(out, kind: str) -> RunLock:
    """Create (or take an empty) --out directory for a new run of `kind`, lock it and mark it.

    Checked again under the lock, so two processes given the same new --out never share it.
    """
    path = check_out(out)
    path.mkdir(parents=True, exist_ok=True)
    lock = RunLock(path).acquire()
    try:
        check_out(path)
        write_marker(path, kind)
    except BaseException:
        lock.release()
        raise
    return lock


def write_marker(path, kind: str) -> None:
    from discover.logging import write_json

    write_json(Path(path) / _MARKER, {"kind": kind, "format": 1})


def open_existing(path, kind: str = "train") -> RunLock:
    """Lock an existing run of `kind` for resuming; one line and no change if it is in use."""
    path = check_resume(path, kind)
    lock = RunLock(path).acquire()
    if not (path / _MARKER).is_file():
        write_marker(path, kind)
    return lock
