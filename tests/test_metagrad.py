"""The LPG meta-gradient path: finite, non-zero meta-gradients that improve the meta-loss."""

import dataclasses

import jax
import numpy as np
import optax
import pytest

from discover.config import LifetimeConfig, MetaGradConfig
from discover.meta.run import build
from discover.presets import get_preset


def _tiny_cfg():
    cfg = get_preset("lpg-gridworld-cpu")
    return dataclasses.replace(
        cfg,
        # A large agent step size gives eta leverage over the agent within a short unroll.
        agent=dataclasses.replace(cfg.agent, lr=0.05),
        objective=dataclasses.replace(cfg.objective, lpg_hidden=8),
        lifetime=LifetimeConfig(num_envs=4, rollout_len=10, lifetime=20, eval_envs=2, eval_steps=10, lifetime_scale=0.2),
        metagrad=MetaGradConfig(batch=2, unroll=2),
    )


def test_meta_gradient_is_finite_nonzero_and_improves_loss_on_fixed_batch():
    cfg = _tiny_cfg()
    built = build(cfg)
    key = jax.random.key(0)
    eta = built.objective.init(jax.random.key(1))
    state = built.meta.init(key, eta)
    keys = jax.random.split(jax.random.key(2), cfg.metagrad.batch)
    loss_and_grad = jax.jit(jax.value_and_grad(lambda p: built.meta.loss(p, state, keys)[0]))

    loss0, grads = loss_and_grad(eta)
    leaves = jax.tree.leaves(grads)
    assert all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert float(optax.tree.norm(grads)) > 1e-6

    # The meta-gradient is the gradient of the meta-loss: along its direction d, central finite
    # differences of the loss give |g| (the loss is piecewise smooth, as sampled actions change
    # with eta, so h stays small), and a small step against it lowers the loss. (Descending it
    # for many steps is no test: the sampled meta-loss jumps as actions flip.)
    norm = optax.tree.norm(grads)
    step = lambda h: jax.tree.map(lambda e, g: e + h * g / norm, eta, grads)
    h = 1e-2
    fd = (float(loss_and_grad(step(h))[0]) - float(loss_and_grad(step(-h))[0])) / (2 * h)
    np.testing.assert_allclose(fd, float(norm), rtol=0.02)
    assert float(loss_and_grad(step(-h))[0]) < float(loss0) - 0.5 * h * float(norm)


@pytest.mark.slow  # suite time; test_metagrad_lifetime checks agents stop at their lifetime
def test_meta_generation_runs_and_resets_agents_at_their_lifetime():
    cfg = _tiny_cfg()
    built = build(cfg)
    state = built.meta.init(jax.random.key(0), built.objective.init(jax.random.key(1)))
    gen = jax.jit(built.meta.generation)
    run_key = jax.random.key(3)
    eta0 = state.params
    for _ in range(3):
        state, metrics = gen(state, run_key)
    assert int(metrics["skipped"]) == 0
    assert np.isfinite(float(metrics["meta_loss"]))
    moved = sum(float(np.abs(np.asarray(a) - np.asarray(b)).sum()) for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(eta0)))
    assert moved > 0.0
    # Every agent's update counter stays below its lifetime (finished agents restart at 0).
    assert (np.asarray(state.n) < np.asarray(state.lifetimes)).all() or (np.asarray(state.n) == 0).any()
