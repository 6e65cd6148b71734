"""Rollout collection and policy evaluation under lax.scan, E environments in parallel."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


# Evaluation steps whose noise is drawn at once: evaluations are long (hundreds of steps) and
# keep no trajectory, so their noise is drawn in blocks to keep memory flat.
EVAL_BLOCK = 64


class Transition(NamedTuple):
    """One rollout, time-major. Shapes [T, E] unless stated."""

    obs: jax.Array  # [T, E, D]
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array  # float 0/1: true episode end, no bootstrap
    done: jax.Array  # float 0/1: terminated or truncated (trace cut)
    log_prob: jax.Array  # log pi_old(a_t|s_t)
    aux: jax.Array  # V(s_t) [T, E] or y-logits(s_t) [T, E, m]
    next_aux: jax.Array  # V(s'_t) of the pre-reset successor (critic) or y-logits(s_{t+1}) (predictor)
    episode_return: jax.Array  # return of the episode that ended at t, else 0
    episode_done: jax.Array  # float 0/1: an episode ended at t


def make_step_noise(env, num_envs: int):
    """draw(step_key) -> (gumbel [E, A], env_keys [E] keys, or the env's StepNoise [E, ...]).

    Every random draw one step of E workers makes from its step key, bit for bit as the step
    would make them: the action is argmax(logits + gumbel), which is what
    jax.random.categorical(k_act, logits) computes, and an env offering `draw_step_noise`
    (environments.gridworld) has its own draws made here too. Drawing them for many steps at
    once, before the step loop, replaces many narrow threefry calls inside the loop with a few
    wide ones: a vmapped 10-agent TA-LPG update on the tabular gridworld became ~14% faster on
    CPU with identical results.
    """
    draw_env = getattr(env, "draw_step_noise", None)

    def draw(step_key):
        k_act, k_env = jax.random.split(step_key)
        env_keys = jax.random.split(k_env, num_envs)
        if draw_env is not None:
            env_keys = jax.vmap(draw_env)(env_keys)
        # float32: categorical draws its Gumbel noise in the logits' dtype, and our actors'
        # logits are float32.
        return jax.random.gumbel(k_act, (num_envs, env.num_actions), jnp.float32), env_keys

    return draw


def _block(num_steps: int, cap: int) -> int:
    """Steps whose noise is drawn at once: num_steps if <= cap, else a divisor of it in [cap/4,
    cap] when there is one (one loop), else cap (then a shorter loop for the remainder)."""
    if num_steps <= cap:
        return num_steps
    return next((b for b in range(cap, cap // 4 - 1, -1) if num_steps % b == 0), cap)


def scan_steps(step, carry, key, num_steps: int, draw, block_cap: int):
    """lax.scan of step(carry, noise) -> (carry, out) over num_steps steps, step t's noise being
    draw(jax.random.split(key, num_steps)[t]), drawn block_cap steps (or fewer) at a time ahead
    of the steps that use it, which bounds its memory. Returns (carry, outs stacked [T, ...])."""
    keys = jax.random.split(key, num_steps)
    b = _block(num_steps, block_cap)
    full = num_steps // b

    def run(carry, block_keys):
        return jax.lax.scan(step, carry, jax.vmap(draw)(block_keys))

    if full == 1:
        carry, out = run(carry, keys[:b])
    else:
        carry, out = jax.lax.scan(run, carry, keys[: full * b].reshape((full, b) + keys.shape[1:]))
        out = jax.tree.map(lambda x: x.reshape((full * b,) + x.shape[2:]), out)
    if num_steps % b:
        carry, tail = run(carry, keys[full * b:])
        out = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), out, tail)
    return carry, out


def make_rollout(env, nets, num_steps: int, bootstrap_truncation: bool = True):
    """Returns rollout(params, env_params, env_state, obs, key) -> (env_state, obs, Transition).

    env_state/obs are batched over E environments [E, ...]; env_params is one level shared by
    the E workers of this agent. Only the actor runs inside the step loop (actions need it);
    the auxiliary network (critic or LPG predictor) runs once on the whole [T, E] batch after
    it, which is the same arithmetic in far fewer, larger calls. For the critic head with
    bootstrap_truncation, next_aux is V of the pre-reset successor observation, so truncated
    episodes bootstrap correctly; without it, next_aux is V(s_{t+1}) and truncation counts as
    termination (PureJaxRL's choice). For the predictor head next_aux is y(s_{t+1}) (LPG
    zeroes it at episode ends anyway).
    """
    successor_critic = nets.head == "critic" and bootstrap_truncation
    step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(params, env_params, env_state, obs, key):
        def step(carry, noise):
            env_state, obs = carry
            gumbel, env_keys = noise
            logits = nets.actor(params["actor"], obs)
            action = jnp.argmax(logits + gumbel, axis=-1)  # jax.random.categorical(k_act, logits)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
            next_obs, env_state, reward, terminated, truncated, info = step_env(
                env_keys, env_state, action, env_params
            )
            done = jnp.logical_or(terminated, truncated)
            ep_done = info["returned_episode"].astype(jnp.float32)
            out = dict(
                next_obs=next_obs,
                action=action,
                reward=reward.astype(jnp.float32),
                terminated=(terminated if bootstrap_truncation else done).astype(jnp.float32),
                done=done.astype(jnp.float32),
                log_prob=log_prob,
                episode_return=ep_done * info["returned_episode_returns"],
                episode_done=ep_done,
            )
            if successor_critic:
                out["final_obs"] = info["final_observation"]
            return (env_state, next_obs), out

        # The whole rollout's noise at once: it is smaller than the observations kept anyway.
        draw = make_step_noise(env, obs.shape[0])
        obs0 = obs
        (env_state, obs), out = scan_steps(step, (env_state, obs), key, num_steps, draw, num_steps)
        # The step writes s_{t+1} rather than s_t: the old observation then has no reader left
        # once the new one exists, and XLA drops a copy of it from every step.
        out["obs"] = jnp.concatenate([obs0[None], out.pop("next_obs")[:-1]], axis=0)
        aux = nets.aux(params["aux"], out["obs"])
        if successor_critic:
            next_aux = nets.aux(params["aux"], out.pop("final_obs"))
        else:
            # aux(s_{t+1}): shift by one step, the last from the observation after the rollout.
            next_aux = jnp.concatenate([aux[1:], nets.aux(params["aux"], obs)[None]], axis=0)
        return env_state, obs, Transition(aux=aux, next_aux=next_aux, **out)

    return rollout


def make_evaluate(env, nets, num_envs: int, num_steps: int):
    """Returns evaluate(actor_params, env_params, key) -> mean return over num_envs fresh episodes.

    Each worker runs the stochastic policy for up to num_steps steps; its score is the return of
    its first completed episode, or the partial return if no episode ended within num_steps.
    """
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    draw = make_step_noise(env, num_envs)

    def evaluate(actor_params, env_params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = reset(jax.random.split(k_reset, num_envs), env_params)
        zeros = jnp.zeros(num_envs)

        def step(carry, noise):
            state, obs, ret, finished = carry
            gumbel, env_keys = noise
            action = jnp.argmax(nets.actor(actor_params, obs) + gumbel, axis=-1)
            obs, state, reward, term, trunc, _ = step_env(env_keys, state, action, env_params)
            ret = ret + (1.0 - finished) * reward
            finished = jnp.maximum(finished, jnp.logical_or(term, trunc).astype(jnp.float32))
            return (state, obs, ret, finished), None

        (_, _, ret, _), _ = scan_steps(step, (state, obs, zeros, zeros), k_run, num_steps, draw, EVAL_BLOCK)
        return ret.mean()

    return evaluate
