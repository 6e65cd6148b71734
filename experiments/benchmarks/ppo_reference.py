"""A single-file PPO in the PureJaxRL style: the throughput baseline for our lifetime code.

Written for this project (not copied) after PureJaxRL's ``make_train(config)`` structure:
one ``train(rng)`` function that is jitted (and vmapped over seeds) as a whole, containing
  * separate actor and critic MLPs (orthogonal init, sqrt(2) hidden / 0.01 actor / 1.0 critic);
  * gymnax with ``FlattenObservationWrapper`` + ``LogWrapper``, vmapped over NUM_ENVS;
  * a NUM_STEPS rollout under ``lax.scan``, the critic evaluated once more on the last
    observation for bootstrapping (no per-step successor evaluation: episode ends,
    terminated or truncated, are treated alike as terminal, as PureJaxRL does);
  * GAE(lambda) by a reverse scan;
  * UPDATE_EPOCHS x NUM_MINIBATCHES gradient steps on shuffled samples, clipped surrogate,
    clipped value loss, entropy bonus, per-minibatch advantage normalisation;
  * Adam (eps 1e-5) after global-norm clipping, learning rate annealed linearly to 0.

Differences from our ``discover.lifetime`` are intentional and are exactly what the throughput
benchmark measures: nothing else (no freezing of finished agents, no final evaluation).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.linen.initializers import constant

# The same orthogonal initialiser as flax's, without the LAPACK call that can deadlock XLA:CPU.
from discover.agents.init import orthogonal
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper


class ActorCritic(nn.Module):
    """Two independent networks in one module: action logits and a scalar value.

    torso "mlp": hidden Dense layers; "conv": one 3x3 conv with 16 channels (VALID) then the
    hidden layers (MinAtar), applied to the observation reshaped to image_shape.
    """

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"
    torso: str = "mlp"
    image_shape: tuple | None = None

    def _torso(self, x):
        act = nn.relu if self.activation == "relu" else nn.tanh
        if self.torso == "conv":
            x = x.reshape(x.shape[:-1] + tuple(self.image_shape))
            x = nn.relu(nn.Conv(16, (3, 3), padding="VALID", kernel_init=orthogonal(np.sqrt(2)))(x))
            x = x.reshape(x.shape[:-3] + (-1,))
        for width in self.hidden:
            x = act(nn.Dense(width, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
        return x

    @nn.compact
    def __call__(self, x):
        x = x.astype(jnp.float32)
        actor = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01), bias_init=constant(0.0))(self._torso(x))
        critic = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(self._torso(x))
        return actor, critic[..., 0]


class Transition(NamedTuple):
    done: jax.Array
    action: jax.Array
    value: jax.Array
    reward: jax.Array
    log_prob: jax.Array
    obs: jax.Array
    info: dict


def make_env(name: str):
    """gymnax env with PureJaxRL's wrappers: (env, env_params)."""
    env, env_params = gymnax.make(name)
    return LogWrapper(FlattenObservationWrapper(env)), env_params


def _image_shape(env, env_params):
    base = env
    while hasattr(base, "_env"):
        base = base._env
    shape = tuple(base.observation_space(env_params).shape)
    return shape if len(shape) == 3 else None


def make_train(config: dict, env=None, env_params=None):
    """Build train(rng) -> {"runner_state", "metrics"} for a PureJaxRL-style config dict.

    Keys: ENV_NAME, LR, NUM_ENVS, NUM_STEPS, NUM_UPDATES (or TOTAL_TIMESTEPS), UPDATE_EPOCHS,
    NUM_MINIBATCHES, GAMMA, GAE_LAMBDA, CLIP_EPS, ENT_COEF, VF_COEF, MAX_GRAD_NORM, ACTIVATION,
    ANNEAL_LR; optional HIDDEN (default (64, 64)) and TORSO ("mlp" or "conv").
    env/env_params: an already wrapped environment (e.g. environments.make), so a benchmark can
    run the reference and our code on the very same environment; default make_env(ENV_NAME).
    """
    config = dict(config)
    if "NUM_UPDATES" not in config:
        config["NUM_UPDATES"] = config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"]
    config["MINIBATCH_SIZE"] = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    if env is None:
        env, env_params = make_env(config["ENV_NAME"])

    def linear_schedule(count):
        frac = 1.0 - (count // (config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"])) / config["NUM_UPDATES"]
        return config["LR"] * frac

    def train(rng):
        network = ActorCritic(
            env.num_actions,
            hidden=tuple(config.get("HIDDEN", (64, 64))),
            activation=config["ACTIVATION"],
            torso=config.get("TORSO", "mlp"),
            image_shape=_image_shape(env, env_params),
        )
        rng, _rng = jax.random.split(rng)
        obs_shape = env.observation_space(env_params).shape
        params = network.init(_rng, jnp.zeros(obs_shape))
        lr = linear_schedule if config["ANNEAL_LR"] else config["LR"]
        tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(lr, eps=1e-5))
        opt_state = tx.init(params)

        rng, _rng = jax.random.split(rng)
        obsv, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(_rng, config["NUM_ENVS"]), env_params)

        def _update_step(runner_state, unused):
            def _env_step(runner_state, unused):
                params, opt_state, env_state, last_obs, rng = runner_state
                rng, _rng = jax.random.split(rng)
                logits, value = network.apply(params, last_obs)
                action = jax.random.categorical(_rng, logits)
                log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
                rng, _rng = jax.random.split(rng)
                rng_step = jax.random.split(_rng, config["NUM_ENVS"])
                obsv, env_state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                    rng_step, env_state, action, env_params
                )
                done = jnp.logical_or(terminated, truncated)
                info = {k: info[k] for k in ("returned_episode_returns", "returned_episode")}
                transition = Transition(done, action, value, reward, log_prob, last_obs, info)
                return (params, opt_state, env_state, obsv, rng), transition

            runner_state, traj_batch = jax.lax.scan(_env_step, runner_state, None, config["NUM_STEPS"])

            params, opt_state, env_state, last_obs, rng = runner_state
            _, last_val = network.apply(params, last_obs)

            def _calculate_gae(traj_batch, last_val):
                def _get_advantages(gae_and_next_value, transition):
                    gae, next_value = gae_and_next_value
                    not_done = 1.0 - transition.done
                    delta = transition.reward + config["GAMMA"] * next_value * not_done - transition.value
                    gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * not_done * gae
                    return (gae, transition.value), gae

                _, advantages = jax.lax.scan(
                    _get_advantages, (jnp.zeros_like(last_val), last_val), traj_batch, reverse=True, unroll=16
                )
                return advantages, advantages + traj_batch.value

            advantages, targets = _calculate_gae(traj_batch, last_val)

            def _update_epoch(update_state, unused):
                def _update_minbatch(train_state, batch_info):
                    params, opt_state = train_state
                    traj_batch, advantages, targets = batch_info

                    def _loss_fn(params, traj_batch, gae, targets):
                        logits, value = network.apply(params, traj_batch.obs)
                        logp_all = jax.nn.log_softmax(logits)
                        log_prob = jnp.take_along_axis(logp_all, traj_batch.action[:, None], axis=-1)[:, 0]

                        value_pred_clipped = traj_batch.value + (value - traj_batch.value).clip(
                            -config["CLIP_EPS"], config["CLIP_EPS"]
                        )
                        value_losses = jnp.square(value - targets)
                        value_losses_clipped = jnp.square(value_pred_clipped - targets)
                        value_loss = 0.5 * jnp.maximum(value_losses, value_losses_clipped).mean()

                        ratio = jnp.exp(log_prob - traj_batch.log_prob)
                        gae = (gae - gae.mean()) / (gae.std() + 1e-8)
                        loss_actor1 = ratio * gae
                        loss_actor2 = jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"]) * gae
                        loss_actor = -jnp.minimum(loss_actor1, loss_actor2).mean()
                        entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1).mean()

                        total_loss = loss_actor + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy
                        return total_loss, (value_loss, loss_actor, entropy)

                    grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
                    total_loss, grads = grad_fn(params, traj_batch, advantages, targets)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    params = optax.apply_updates(params, updates)
                    return (params, opt_state), total_loss

                params, opt_state, traj_batch, advantages, targets, rng = update_state
                rng, _rng = jax.random.split(rng)
                batch_size = config["MINIBATCH_SIZE"] * config["NUM_MINIBATCHES"]
                permutation = jax.random.permutation(_rng, batch_size)
                batch = (traj_batch, advantages, targets)
                batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)
                shuffled_batch = jax.tree.map(lambda x: jnp.take(x, permutation, axis=0), batch)
                minibatches = jax.tree.map(
                    lambda x: jnp.reshape(x, [config["NUM_MINIBATCHES"], -1] + list(x.shape[1:])), shuffled_batch
                )
                (params, opt_state), total_loss = jax.lax.scan(_update_minbatch, (params, opt_state), minibatches)
                return (params, opt_state, traj_batch, advantages, targets, rng), total_loss

            update_state = (params, opt_state, traj_batch, advantages, targets, rng)
            update_state, loss_info = jax.lax.scan(_update_epoch, update_state, None, config["UPDATE_EPOCHS"])
            params, opt_state, _, _, _, rng = update_state
            metric = traj_batch.info
            return (params, opt_state, env_state, last_obs, rng), metric

        rng, _rng = jax.random.split(rng)
        runner_state = (params, opt_state, env_state, obsv, _rng)
        runner_state, metric = jax.lax.scan(_update_step, runner_state, None, config["NUM_UPDATES"])
        return {"runner_state": runner_state, "metrics": metric}

    return train


if __name__ == "__main__":
    import time

    cfg = {
        "ENV_NAME": "CartPole-v1", "LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 5e5,
        "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2,
        "ENT_COEF": 0.01, "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ANNEAL_LR": True,
    }
    cfg["NUM_UPDATES"] = int(cfg["TOTAL_TIMESTEPS"]) // cfg["NUM_STEPS"] // cfg["NUM_ENVS"]
    t0 = time.time()
    out = jax.block_until_ready(jax.jit(make_train(cfg))(jax.random.key(0)))
    m = out["metrics"]
    ret = (m["returned_episode_returns"] * m["returned_episode"]).sum((1, 2)) / np.maximum(m["returned_episode"].sum((1, 2)), 1)
    print(f"{time.time() - t0:.1f}s; mean episode return, last 10 updates: {float(ret[-10:].mean()):.1f}")
