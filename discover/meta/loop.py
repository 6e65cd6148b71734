"""The generation loop on the host: dispatch, read metrics, log, checkpoint, stop.

One compiled call covers `gens_per_call` generations. The next call is dispatched before the
previous call's metrics are read (JAX dispatches asynchronously), and checkpoints are written by
a background thread from host copies, so the device never waits for the host. Stops:
- the last generation (or `stop_after` generations in this call, for tests);
- a signal (discover.signals): the generation in hand is checkpointed, then Interrupted;
- a non-finite ES mean: RunError naming the generation; its state is never checkpointed.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from discover import signals
from discover.config import ConfigError
from discover.distributed import barrier, to_host


class RunError(ConfigError):
    """The run cannot go on (e.g. the ES mean became non-finite); one line says why."""


def make_multi_generation(meta, k: int):
    """One jitted call running k generations under lax.scan; metrics stacked [k].

    Besides the meta-optimiser's metrics, every generation reports on its search mean:
    mean_finite (all entries finite) and the mean's norm as scale * unit, scale = max |x|, so the
    norm never overflows float32 (the host multiplies them in float64).
    """

    def one(state, run_key):
        state, out = meta.generation(state, run_key)
        leaves = [jnp.ravel(x).astype(jnp.float32) for x in jax.tree.leaves(meta.mean(state))]
        flat = jnp.concatenate(leaves) if leaves else jnp.zeros((1,), jnp.float32)
        scale = jnp.max(jnp.abs(flat))
        safe = jnp.where(jnp.isfinite(scale) & (scale > 0), scale, 1.0)
        out = dict(out, mean_finite=jnp.all(jnp.isfinite(flat)), mean_norm_scale=scale,
                   mean_norm_unit=jnp.sqrt(jnp.sum(jnp.square(flat / safe))))  # fmt: skip
        return state, out

    def many(state, run_key):
        return jax.lax.scan(lambda s, _: one(s, run_key), state, None, length=k)

    return jax.jit(many)


def _records(metrics: dict, first: int, k: int, dt: float) -> list[dict]:
    """Per-generation log records from one call's host metrics (arrays [k])."""
    scale, unit = metrics.pop("mean_norm_scale"), metrics.pop("mean_norm_unit")
    metrics.pop("mean_finite")
    # float64 on the host: a finite mean whose norm exceeds float32 is still logged as a number
    metrics["mean_norm"] = scale.astype(np.float64) * unit.astype(np.float64)
    return [{"generation": first + i, **{n: v[i] for n, v in metrics.items()}, "wall_time": dt / k} for i in range(k)]


class FlatFitness:
    """Counts generations in a row in which the population's fitness had no spread."""

    def __init__(self, warn_after: int):
        self.warn_after, self.run = warn_after, 0

    def update(self, record: dict) -> str | None:
        lo, hi = record.get("fitness_min"), record.get("fitness_max")
        flat = lo is None or hi is None or not np.isfinite(hi - lo) or hi - lo <= 1e-9 * max(1.0, abs(hi))
        self.run = self.run + 1 if flat else 0
        if self.warn_after and self.run == self.warn_after:
            return (f"the population's fitness has had no spread for {self.run} generations (every member scores "
                    f"{hi}): ES gets no signal; check lifetime.eval_steps, the lifetime and es.sigma")  # fmt: skip
        return None


class Progress:
    """A tqdm bar on an interactive terminal; otherwise a plain line at each checkpoint."""

    def __init__(self, enabled: bool, total: int, start: int):
        self.total, self.bar = total, None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="gen", dynamic_ncols=True)

    def update(self, gen: int, k: int, record: dict, flat: bool, checkpointed: bool) -> None:
        fitness = record.get("fitness_mean")
        text = "n/a" if fitness is None else f"{fitness:.4g}"
        if self.bar is not None:
            self.bar.update(k)
            self.bar.set_postfix(fitness=text, **({"warning": "flat fitness"} if flat else {}))
        elif self.enabled and (checkpointed or gen == self.total):
            print(f"generation {gen}/{self.total}: fitness {text}" + ("  (warning: flat fitness)" if flat else ""), flush=True)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        elif self.enabled:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Loop(NamedTuple):
    """What the loop needs from the run (see discover.meta.run.train)."""

    cfg: object
    meta: object
    run_key: object
    log: object  # MetricsLog (writes only on the writing process)
    writer: object  # checkpoint.AsyncWriter
    watchdog: object
    heldout: Callable | None  # host params -> float, or None
    progress: Progress


def run(loop: Loop, state, start: int, stop_after: int | None = None, handle_signals: bool = True):
    """Run generations start..cfg.generations; returns (state, generation reached).

    stop_after: return after this many generations of this call (as if killed, for tests).
    """
    cfg, meta = loop.cfg, loop.meta
    total = cfg.generations if stop_after is None else min(cfg.generations, start + stop_after)
    compiled, pending = {}, deque()
    flat = FlatFitness(cfg.flat_warn_after)
    dispatched, last_ckpt, t_last = start, start, time.time()
    current, run_key = state, loop.run_key
    mesh = getattr(meta, "mesh", None)
    if mesh is not None and jax.process_count() == 1:
        # The state and key the sharded generation returns and reads are replicated over its
        # mesh; a fresh or restored state starts that way too, else JAX traces and compiles the
        # program a second time for the second call (about 4 s for the quickstart on 2 CPUs).
        current, run_key = jax.device_put((current, run_key), NamedSharding(mesh, PartitionSpec()))
    loop.watchdog.beat(f"start-up (compiling the generation program, generation {start})")
    with signals.deferred(handle_signals):
        while True:
            # Keep the next call queued on the device while the host reads this one.
            while len(pending) < 2 and dispatched < total and signals.requested() is None:
                k = min(cfg.gens_per_call, total - dispatched)
                if k not in compiled:
                    compiled[k] = make_multi_generation(meta, k)
                    if jax.process_count() > 1:
                        # Compile first, then start together: the first collective of a
                        # multi-process program fails if its processes arrive 30 s apart.
                        compiled[k] = compiled[k].lower(current, run_key).compile()
                        barrier(f"discover-compiled-{k}-{dispatched}")
                current, metrics = compiled[k](current, run_key)
                pending.append((dispatched, k, current, metrics))
                dispatched += k
            if not pending:  # nothing to run (start >= total)
                return state, start
            first, k, state, metrics = pending.popleft()
            metrics = to_host(metrics)
            finite = np.asarray(metrics["mean_finite"], bool)
            now = time.time()
            records = _records(dict(metrics), first, k, now - t_last)
            t_last = now
            bad = None if finite.all() else int(np.argmin(finite))
            if bad is not None:
                records = records[: bad + 1]
            gen = first + len(records)
            loop.watchdog.beat(f"generation {gen - 1}")
            if bad is None and loop.heldout is not None and _heldout_due(cfg, first, gen):
                t0 = time.time()
                records[-1]["heldout_return"] = loop.heldout(meta.mean(state))
                # its time is logged on its own, not counted in the next generation's wall_time
                t_last = time.time()
                records[-1]["heldout_s"] = t_last - t0
                loop.watchdog.beat(f"the held-back evaluation after generation {gen - 1}")
            for r in records:
                note = flat.update(r)
                if note:
                    r["warning"] = note
                    loop.progress.write(f"warning: generation {r['generation']}: {note}")
                loop.log.write(r)
            if bad is not None:
                loop.writer.wait()
                raise RunError(
                    f"generation {first + bad}: the ES mean became non-finite (NaN/inf), so the run stopped; its newest "
                    f"checkpoint holds {last_ckpt} generations; start a new run with a lower es.sigma or es.lr"
                )
            stop = signals.requested()
            save = gen - last_ckpt >= cfg.checkpoint_every or gen >= cfg.generations or stop is not None
            if save:
                loop.writer.submit(gen, state)
                last_ckpt = gen
            flat_now = cfg.flat_warn_after > 0 and flat.run >= cfg.flat_warn_after
            loop.progress.update(gen, k, records[-1], flat_now, save)
            if stop is not None:
                loop.writer.wait()
                loop.progress.close()
                raise signals.Interrupted(stop, f"stopped by {signals.name(stop)} after generation {gen - 1}; checkpoint written")
            if gen >= total:
                loop.writer.wait()
                return state, gen


def _heldout_due(cfg, first: int, gen: int) -> bool:
    """Whether a call covering generations first..gen-1 crosses a multiple of heldout_every
    (or ends the run)."""
    every = cfg.heldout_every
    return bool(every) and (gen // every > first // every or gen == cfg.generations)
