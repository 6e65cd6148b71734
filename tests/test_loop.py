"""The generation loop (discover.meta.loop) on a fake meta-optimiser: norms that do not overflow,
a non-finite ES mean stopping the run at its generation, and the flat-fitness warning."""

import jax.numpy as jnp
import numpy as np
import pytest

from discover.meta import loop as loop_mod


class _Fake:
    """A meta-optimiser whose mean is `value` and whose population has no fitness spread."""

    def __init__(self, value):
        self.value = value

    def generation(self, state, key):
        out = {"fitness_mean": jnp.float32(-200.0), "fitness_max": jnp.float32(-200.0), "fitness_min": jnp.float32(-200.0)}
        return state + 1, out

    def mean(self, state):
        return {"w": jnp.full((3,), self.value, jnp.float32)}


class _NoWriter:
    def submit(self, generation, state):
        self.last = generation

    def wait(self):
        pass


def _run_fake(tmp_path, value, generations=6):
    from discover.config import RunConfig
    from discover.logging import MetricsLog
    from discover.watchdog import Watchdog

    cfg = RunConfig(generations=generations, checkpoint_every=100, heldout_every=0, flat_warn_after=5)
    log = MetricsLog(tmp_path)
    ctx = loop_mod.Loop(cfg, _Fake(value), None, log, _NoWriter(), Watchdog(0), None, loop_mod.Progress(False, generations, 0))
    try:
        loop_mod.run(ctx, jnp.int32(0), 0, handle_signals=False)
    except loop_mod.RunError as e:
        return log.read(), str(e)
    return log.read(), None


def test_mean_norm_does_not_overflow_float32(tmp_path):
    recs, err = _run_fake(tmp_path, 3e38, generations=1)
    assert err is None
    assert recs[0]["mean_norm"] == pytest.approx(np.sqrt(3) * 3e38, rel=1e-6)  # > float32 max, still a number


def test_non_finite_mean_stops_at_its_generation(tmp_path):
    recs, err = _run_fake(tmp_path, float("nan"))
    assert err.startswith("generation 0:") and [r["generation"] for r in recs] == [0]


def test_no_fitness_spread_warns_once(tmp_path):
    recs, err = _run_fake(tmp_path, 1.0)
    assert err is None
    warned = [r["generation"] for r in recs if "warning" in r]
    assert warned == [4] and "no spread for 5 generations" in recs[4]["warning"]
