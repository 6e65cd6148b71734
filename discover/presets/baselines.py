"""Hand-designed baselines at the reference (PureJaxRL) settings of SPEC section 3."""

from discover.config import AgentConfig, EnvConfig, LifetimeConfig, ObjectiveConfig, RunConfig


def ppo_cartpole() -> RunConfig:
    """PPO, CartPole-v1: 4 envs x 128 steps x 976 updates = 5e5 steps, lr 2.5e-4, 4 epochs x 4 minibatches."""
    return RunConfig(
        env=EnvConfig("CartPole-v1"),
        agent=AgentConfig(hidden=(64, 64), activation="tanh", lr=2.5e-4),
        objective=ObjectiveConfig(name="ppo", epochs=4, minibatches=4),
        lifetime=LifetimeConfig(num_envs=4, rollout_len=128, lifetime=976, eval_envs=16, eval_steps=500),
    )


def ppo_minatar() -> RunConfig:
    """PPO, MinAtar SpaceInvaders: 64 envs x 128 steps x 1220 updates = 1e7 steps, lr 5e-3, 4 x 8."""
    return RunConfig(
        env=EnvConfig("SpaceInvaders-MinAtar"),
        agent=AgentConfig(hidden=(64, 64), activation="relu", lr=5e-3),
        objective=ObjectiveConfig(name="ppo", epochs=4, minibatches=8),
        lifetime=LifetimeConfig(num_envs=64, rollout_len=128, lifetime=1220, eval_envs=32, eval_steps=1000),
    )


def a2c_gridworld() -> RunConfig:
    """A2C with a tabular agent (SGD lr 40 actor / 4 critic) on the dense gridworld level."""
    return RunConfig(
        env=EnvConfig("gridworld", "dense"),
        agent=AgentConfig(torso="linear", optimizer="sgd", lr=40.0, aux_lr=4.0, anneal_lr=False),
        objective=ObjectiveConfig(name="a2c", normalize_adv=False, ent_coef=0.01),
        lifetime=LifetimeConfig(num_envs=64, rollout_len=20, lifetime=500, eval_envs=32, eval_steps=500),
    )


BASELINE_PRESETS = {
    "baseline-cartpole": (ppo_cartpole, "PPO on CartPole-v1 at PureJaxRL settings (5e5 steps)"),
    "baseline-minatar": (ppo_minatar, "PPO on SpaceInvaders-MinAtar at PureJaxRL settings (1e7 steps; GPU)"),
    "baseline-gridworld": (a2c_gridworld, "A2C, tabular agent, dense gridworld level"),
}
