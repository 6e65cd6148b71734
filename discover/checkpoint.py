"""Checkpoints of the meta-state (orbax), written atomically, one directory per generation.

Layout: RUN_DIR/checkpoints/gen_000010/ ... Orbax writes each checkpoint into a temporary
directory and renames it only once complete, so a run killed mid-save leaves the previous
checkpoint intact; older checkpoints are pruned only after a newer one is complete.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import sys
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

_NAME = re.compile(r"^gen_(\d{6,})$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing or unreadable; the message says which and what to do."""


def _dir(run_dir) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir) -> list[int]:
    """Generations with a complete checkpoint, ascending (orbax temp dirs are not listed)."""
    d = _dir(run_dir)
    if not d.is_dir():
        return []
    gens = [int(m.group(1)) for p in d.iterdir() if p.is_dir() and (m := _NAME.match(p.name))]
    return sorted(gens)


def save(run_dir, generation: int, state, keep: int = 3) -> Path:
    """Save `state` (a pytree of arrays) as the checkpoint of `generation` and prune old ones."""
    path = (_dir(run_dir) / f"gen_{generation:06d}").resolve()
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path, jax.device_get(state))
        ckptr.wait_until_finished()
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(_dir(run_dir) / f"gen_{old:06d}", ignore_errors=True)
    return path


def _silence_orbax_teardown() -> None:
    """After a failed restore, orbax's pending callbacks report "Event loop is closed" through
    sys.unraisablehook at exit; they say nothing new, so drop exactly those."""
    previous = sys.unraisablehook

    def hook(info):
        if isinstance(info.exc_value, RuntimeError) and "Event loop is closed" in str(info.exc_value):
            return
        previous(info)

    sys.unraisablehook = hook


def restore(run_dir, target, generation: int | None = None):
    """Restore the latest (or given) checkpoint into the structure of `target`.

    Returns (generation, state). Raises CheckpointError if there is none or it is corrupt;
    never silently starts afresh.
    """
    gens = list_checkpoints(run_dir)
    if not gens:
        raise CheckpointError(f"no checkpoint found in {_dir(run_dir)}; cannot resume this run")
    gen = gens[-1] if generation is None else generation
    if gen not in gens:
        raise CheckpointError(f"no checkpoint for generation {gen} in {_dir(run_dir)} (have: {gens})")
    path = (_dir(run_dir) / f"gen_{gen:06d}").resolve()
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), jax.device_get(target))
    noise = io.StringIO()
    error = None
    # On a corrupt checkpoint orbax's worker threads print tracebacks of their own teardown
    # ("Event loop is closed"), some of them just after restore raises; our one-line error
    # says all there is to say, so stderr stays captured a moment longer on that path only.
    with contextlib.redirect_stderr(noise):
        try:
            with ocp.StandardCheckpointer() as ckptr:
                state = ckptr.restore(path, abstract)
        except Exception as e:  # orbax raises many types; all mean "this checkpoint is unusable"
            error = e
            time.sleep(0.5)
    if error is not None:
        _silence_orbax_teardown()
        raise CheckpointError(f"checkpoint {path} is corrupt or incompatible ({type(error).__name__}); "
                              "delete it to resume from an earlier one")
    return gen, jax.tree.map(lambda t, s: np.asarray(s, dtype=np.asarray(t).dtype), jax.device_get(target), state)
