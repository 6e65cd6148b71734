"""The LPG reference presets use the LPG paper's agent for their levels, and the paper's delayed
chain distribution can be meta-trained on from a config (env.name chain, env.distribution
delayed_chain*)."""

import dataclasses

import jax
import numpy as np
import pytest

import environments
from discover.config import ConfigError, EnvConfig, LifetimeConfig, RunConfig
from discover.curricula import make_task
from discover.meta.run import build
from discover.presets import get_preset


@pytest.mark.parametrize(
    "preset,tabular",
    [("lpg-gridworld", True), ("lpg-es-gridworld", True), ("ta-lpg-gridworld", True), ("lpg-es-chain", True),
     ("lpg-es-rand-gridworld", False)],
)
def test_reference_presets_use_the_papers_agent_for_their_levels(preset, tabular):
    agent = get_preset(preset).agent
    if tabular:  # a linear (tabular on one-hot observations) actor and predictor, SGD 40 / 4, clip 0.5
        assert (agent.torso, agent.optimizer, agent.lr, agent.aux_lr, agent.max_grad_norm) == ("linear", "sgd", 40.0, 4.0, 0.5)
    else:  # random levels: MLP with 32 hidden units, Adam 1e-3
        assert (agent.torso, agent.hidden, agent.optimizer, agent.lr) == ("mlp", (32,), "adam", 1e-3)
    assert not agent.anneal_lr


def test_tabular_reference_distributions_are_tabular():
    for name in ("all_shortlife", "all_vrandlife"):
        assert environments.get_distribution(name).tabular_only, name
    assert not environments.get_distribution("rand_all").tabular_only


def test_chain_distribution_samples_the_papers_chains():
    task = make_task(EnvConfig("chain", "delayed_chain"), LifetimeConfig())
    assert task.max_lifetime == 250 and task.fixed_lifetime
    _, levels, lifetimes = jax.jit(task.curriculum.sample, static_argnums=2)(jax.random.key(0), task.curriculum.init(jax.random.key(0)), 256)
    lengths = np.asarray(levels.length)
    assert lengths.min() >= 5 and lengths.max() <= 30 and len(set(lengths.tolist())) > 15
    assert set(np.asarray(levels.correct_action).tolist()) == {0, 1}
    assert (np.asarray(lifetimes) == 250).all()
    noisy = environments.resolve("chain", "delayed_chain_noisy").levels
    distractors = environments.resolve("chain", "delayed_chain_distractors").levels
    assert float(noisy.sample(jax.random.key(1))[0].noise) > 0
    assert int(distractors.sample(jax.random.key(1))[0].num_distractors) > 0


def test_es_generation_on_the_chain_distribution():
    cfg = get_preset("lpg-es-chain")
    cfg = dataclasses.replace(
        cfg,
        objective=dataclasses.replace(cfg.objective, lpg_hidden=8),
        lifetime=LifetimeConfig(num_envs=2, rollout_len=5, lifetime=250, eval_envs=2, eval_steps=40, lifetime_scale=0.01),
        es=dataclasses.replace(cfg.es, population=4),
    )
    built = build(cfg)
    assert built.task.max_lifetime == 3  # ceil(250 x 0.01)
    state = built.meta.init(jax.random.key(0), built.objective.init(jax.random.key(1)))
    state, metrics = jax.jit(built.meta.generation)(state, jax.random.key(2))
    assert np.isfinite(float(metrics["fitness_mean"])) and int(state.generation) == 1


def test_chain_distribution_errors_are_one_line():
    with pytest.raises(ValueError, match="not a chain distribution; choose from: delayed_chain, delayed_chain_noisy"):
        environments.resolve("chain", "sparse")
    # lifetime_min applies to fixed levels only; a chain distribution samples its own lifetimes.
    with pytest.raises(ConfigError, match="lifetime.lifetime_min applies to a fixed level"):
        RunConfig(env=EnvConfig("chain", "delayed_chain"), lifetime=LifetimeConfig(lifetime=250, lifetime_min=10))


def test_shipped_lpg_keeps_the_kl_direction_it_was_trained_with():
    """lpg-tabular was discovered when the agent loss used KL(y_hat || y); its provenance says
    so, so loading it does not silently switch it to the papers' default direction."""
    import discover

    assert discover.load("lpg-tabular").config.objective.lpg_kl_direction == "yhat_y"
