"""Checkpoints of the meta-state: one directory per generation, checksummed, written atomically.

Layout: RUN_DIR/checkpoints/gen_000010/{arrays.npz, manifest.json}. A checkpoint is written
into gen_000010.tmp-PID: the data first (fsync), then its manifest with the data's sha256 and
every leaf's shape and dtype (fsync), then the directory is renamed into place and read back
to check the checksum. Only then are older checkpoints pruned, so the newest verified one
always survives a kill or a full disk. Restore verifies the checksum and the shapes; a damaged
newest checkpoint is skipped with a warning for the newest intact one, a shape mismatch (an
edited config.json) is refused.

The state is a pytree of arrays (the ES/metagrad state is small: the objective's parameters and
optimiser moments), so the whole checkpoint is one in-memory .npz; `AsyncWriter` writes it in
a background thread from a host copy, off the generation loop's critical path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import re
import shutil
import sys
import threading
from pathlib import Path

import numpy as np

FORMAT = 1
_NAME = re.compile(r"^gen_(\d{6,})$")
_DATA, _MANIFEST = "arrays.npz", "manifest.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged or does not fit the run; the message says which and what to do."""


class _Damaged(Exception):
    """This checkpoint cannot be trusted (the reason is the message); an older one may be."""


def _dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def _path(run_dir, generation: int) -> Path:
    return _dir(run_dir) / f"gen_{generation:06d}"


def _candidates(run_dir) -> list[int]:
    """Generations with a checkpoint directory, complete or not (temporary ones excluded)."""
    d = _dir(run_dir)
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for p in d.iterdir() if p.is_dir() and (m := _NAME.match(p.name)))


def list_checkpoints(run_dir) -> list[int]:
    """Generations with a complete checkpoint (its manifest written), ascending."""
    return [g for g in _candidates(run_dir) if (_path(run_dir, g) / _MANIFEST).is_file()]


def has_checkpoints(run_dir) -> bool:
    """Whether any checkpoint directory exists (intact or not)."""
    return bool(_candidates(run_dir))


# --------------------------------------------------------------------------------- host copies


def host_leaves(state) -> list[np.ndarray]:
    """The leaves of `state` as host numpy arrays (PRNG keys as their key data)."""
    import jax

    from discover.distributed import to_host

    is_key = lambda x: isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    keys = lambda x: jax.random.key_data(x) if is_key(x) else x
    return to_host([keys(x) for x in jax.tree.leaves(state)])


def _encode(leaves) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, *leaves)
    return buf.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write(run_dir, generation: int, leaves, keep: int = 3, info: dict | None = None) -> Path:
    """Write host leaves as the checkpoint of `generation`, verify it, then prune to `keep`.

    info: JSON data stored in the manifest (a run stores its config, to refuse a resume after
    config.json was edited).
    Raises CheckpointError (naming the path) if it cannot be written, e.g. on a full disk; the
    previous checkpoints are then untouched.
    """
    final = _path(run_dir, generation)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        data = _encode(leaves)
        _write_file(tmp / _DATA, data)
        manifest = {
            "format": FORMAT,
            "generation": generation,
            "sha256": _sha256(data),
            "bytes": len(data),
            "leaves": [{"shape": list(x.shape), "dtype": str(x.dtype)} for x in leaves],
            "info": info or {},
        }
        _write_file(tmp / _MANIFEST, (json.dumps(manifest) + "\n").encode())
        _fsync_dir(tmp)
        if final.exists():  # a damaged or superseded checkpoint of the same generation
            old = final.with_name(f"{final.name}.old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
        _fsync_dir(final.parent)
        if _sha256((final / _DATA).read_bytes()) != manifest["sha256"]:
            raise CheckpointError(f"checkpoint {final} did not read back as written; the disk may be failing")
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"cannot write checkpoint {e.filename or final}: {e.strerror or e}") from None
    prune(run_dir, keep, newest=generation)
    return final


def prune(run_dir, keep: int, newest: int) -> None:
    """Delete checkpoints older than the `keep` newest up to `newest` (which was just verified)."""
    older = [g for g in list_checkpoints(run_dir) if g <= newest]
    for g in older[:-keep]:
        shutil.rmtree(_path(run_dir, g), ignore_errors=True)


def save(run_dir, generation: int, state, keep: int = 3, info: dict | None = None) -> Path:
    """Save `state` (a pytree of arrays) as the checkpoint of `generation`, synchronously."""
    return write(run_dir, generation, host_leaves(state), keep, info)


def info(run_dir, generation: int) -> dict:
    """The `info` stored with a checkpoint ({} if none or unreadable)."""
    try:
        data = json.loads((_path(run_dir, generation) / _MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data.get("info") or {} if isinstance(data, dict) else {}


def remove_partial(run_dir) -> None:
    """Remove temporary directories of checkpoints whose writing was interrupted."""
    d = _dir(run_dir)
    if d.is_dir():
        for p in d.iterdir():
            if p.is_dir() and (".tmp-" in p.name or ".old-" in p.name):
                shutil.rmtree(p, ignore_errors=True)


# ----------------------------------------------------------------------------------- restore


def _load(path: Path, target_leaves) -> list[np.ndarray]:
    """The verified leaves of one checkpoint. Raises _Damaged, or CheckpointError when the
    checkpoint is intact but does not fit `target_leaves` (the run's config changed)."""
    try:
        manifest = json.loads((path / _MANIFEST).read_text())
        data = (path / _DATA).read_bytes()
    except FileNotFoundError as e:
        raise _Damaged(f"{Path(e.filename).name} missing") from None
    except (OSError, ValueError) as e:
        raise _Damaged(f"unreadable manifest ({type(e).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "sha256" not in manifest:
        raise _Damaged("manifest of an unknown format")
    if _sha256(data) != manifest["sha256"]:
        raise _Damaged("checksum mismatch")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            leaves = [z[f"arr_{i}"] for i in range(len(z.files))]
    except Exception as e:  # numpy/zipfile raise many types for a damaged archive
        raise _Damaged(f"unreadable data ({type(e).__name__})") from None
    if len(leaves) != len(target_leaves):
        raise CheckpointError(
            f"checkpoint {path} holds {len(leaves)} arrays, the run's config needs {len(target_leaves)}: "
            "was config.json edited? restore it to resume"
        )
    for i, (a, t) in enumerate(zip(leaves, target_leaves)):
        if a.shape != t.shape or a.dtype != t.dtype:
            raise CheckpointError(
                f"checkpoint {path} does not match the run's config (array {i}: {a.dtype}{list(a.shape)} stored, "
                f"{t.dtype}{list(t.shape)} expected): was config.json edited? restore it to resume"
            )
    return leaves


def _warn(generation: int, reason: str) -> None:
    print(f"warning: checkpoint of generation {generation} is damaged ({reason}); skipping it", file=sys.stderr)


def restore(run_dir, target, generation: int | None = None, on_skip=_warn):
    """Restore the newest intact (or the given) checkpoint into the structure of `target`.

    Returns (generation, state). A damaged newer checkpoint is reported through
    on_skip(generation, reason) and skipped; raises CheckpointError if there is no checkpoint,
    none is intact, or they do not fit `target` (never silently starts afresh).
    """
    import jax

    gens = _candidates(run_dir)
    if not gens:
        raise CheckpointError(f"no checkpoint found in {_dir(run_dir)}; cannot resume this run")
    if generation is not None:
        if generation not in gens:
            raise CheckpointError(f"no checkpoint for generation {generation} in {_dir(run_dir)} (have: {gens})")
        gens = [generation]
    target_leaves = host_leaves(target)
    damaged = []
    for gen in reversed(gens):
        try:
            leaves = _load(_path(run_dir, gen), target_leaves)
        except _Damaged as e:
            damaged.append((gen, str(e)))
            continue
        for g, reason in damaged:
            on_skip(g, reason)
        leaves = [_like(a, t) for a, t in zip(leaves, jax.tree.leaves(target))]
        return gen, jax.tree.unflatten(jax.tree.structure(target), leaves)
    listing = "; ".join(f"generation {g}: {r}" for g, r in damaged)
    raise CheckpointError(
        f"no intact checkpoint in {_dir(run_dir)} ({listing}); to start again from generation 0, delete that directory"
    )


def _like(stored: np.ndarray, template):
    """A stored leaf in the type of its template (PRNG keys are stored as their key data)."""
    import jax

    if isinstance(template, jax.Array) and jax.dtypes.issubdtype(template.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(stored, impl=jax.random.key_impl(template))
    return stored


# ----------------------------------------------------------------------------- async writes


class AsyncWriter:
    """Writes checkpoints in a background thread, in order; `submit` returns once the state is
    copied to the host. A failure is raised as CheckpointError by the next submit, check or wait."""

    def __init__(self, run_dir, keep: int = 3, enabled: bool = True, info: dict | None = None):
        self.run_dir, self.keep, self.enabled, self.info = Path(run_dir), keep, enabled, info
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = None
        self.written: list[int] = []

    def _run(self):
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    write(self.run_dir, item[0], item[1], self.keep, self.info)
                    self.written.append(item[0])
            except BaseException as e:  # reported to the main thread
                self._error = e
            finally:
                self._queue.task_done()

    def check(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err if isinstance(err, CheckpointError) else CheckpointError(f"checkpoint writer failed: {err}")

    def submit(self, generation: int, state) -> None:
        self.check()
        if not self.enabled:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="checkpoint-writer", daemon=True)
            self._thread.start()
        self._queue.put((generation, host_leaves(state)))

    def wait(self) -> None:
        """Block until every submitted checkpoint is written (and verified and pruned)."""
        if self._thread is not None:
            self._queue.join()
        self.check()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
