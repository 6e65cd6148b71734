"""LPO / TA-LPO presets (SPEC sections 3-5): the MinAtar reference runs and a CPU quickstart."""

import dataclasses

from discover.config import AgentConfig, EnvConfig, ESConfig, LifetimeConfig, ObjectiveConfig, RunConfig
from discover.presets.baselines import ppo_minatar


def quickstart() -> RunConfig:
    """TA-LPO on CartPole with a short lifetime, small enough for a 2-core CPU in a few minutes.

    The drift starts as a random network (not PPO), which slows learning; ES discovers a drift
    that learns faster within the short horizon.
    """
    return RunConfig(
        seed=0,
        generations=100,
        checkpoint_every=20,
        gens_per_call=1,
        env=EnvConfig("CartPole-v1"),
        agent=AgentConfig(hidden=(32, 32), activation="tanh", lr=1e-2, anneal_lr=True),
        objective=ObjectiveConfig(name="ta-lpo", epochs=2, minibatches=2, lpo_hidden=32, lpo_init_scale=3.0),
        # eval_steps 0: CartPole's own episode limit (500), so evaluation never caps a return.
        lifetime=LifetimeConfig(num_envs=4, rollout_len=32, lifetime=24, eval_envs=8, eval_steps=0),
        es=ESConfig(population=16, sigma=0.1, lr=5e-2, shaping="winloss"),
    )


def _minatar(name: str) -> RunConfig:
    base = ppo_minatar()
    return dataclasses.replace(
        base,
        generations=1000,
        checkpoint_every=10,
        objective=dataclasses.replace(base.objective, name=name, init_at_ppo=False),
        # The LPO reference's schedules: sigma 0.04 decaying by 0.999 per generation to 0.01, the ES
        # learning rate 1e-2 decaying by 0.999 to 1e-3 (evosax 0.1's OpenES defaults, which it used).
        es=ESConfig(population=64, sigma=0.04, sigma_decay=0.999, sigma_min=0.01, lr=1e-2, lr_decay=0.999,
                    lr_min=1e-3, shaping="z_score", antithetic=True),
        lifetime=dataclasses.replace(base.lifetime, eval_envs=16, eval_steps=1000),
    )


LPO_PRESETS = {
    "quickstart": (quickstart, "TA-LPO on CartPole, short lifetime, CPU in a few minutes"),
    "lpo-minatar": (lambda: _minatar("lpo"), "LPO meta-trained on SpaceInvaders-MinAtar, reference scale (GPU)"),
    "ta-lpo-minatar": (lambda: _minatar("ta-lpo"), "TA-LPO meta-trained on SpaceInvaders-MinAtar, reference scale (GPU)"),
}
