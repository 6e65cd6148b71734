"""Writes gridworld_reference.npz: trajectories of the gridworld as implemented at commit b0c6d1e.

The gridworld step was later specialised for speed (tabular-only environments skip the random
cell sampling, the auto-reset builds one observation); tests/test_gridworld_reference.py checks
that today's environment reproduces these trajectories step for step. Kept for provenance:
re-running it on today's code must give the same file contents.

    python tests/data/make_gridworld_reference.py
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from environments import GridWorld, get_distribution, get_level

STEPS = 300
LEVELS = ("dense", "sparse", "long", "longer", "rand_dense", "rand_sparse", "rand_small")
SAMPLED = (("all_vrandlife", 3), ("rand_all", 2))


def levels():
    """name -> GridParams: named levels, then draws from distributions (fixed keys)."""
    out = {name: get_level(name)[0] for name in LEVELS}
    for dist, n in SAMPLED:
        for i in range(n):
            out[f"{dist}_{i}"] = get_distribution(dist).sample(jax.random.key(100 + i))[0]
    return out


def run(env, params, seed):
    """One STEPS-step trajectory of env.step with random actions: dict of [STEPS, ...] arrays
    (pure and jittable, so tests can vmap it over levels)."""
    key = jax.random.key(seed)
    k_reset, k_act, k_run = jax.random.split(key, 3)
    obs, state = env.reset(k_reset, params)
    actions = jax.random.randint(k_act, (STEPS,), 0, 4)

    def step(carry, xs):
        state, _ = carry
        k, a = xs
        obs, state, reward, term, trunc, info = env.step(k, state, a, params)
        rec = dict(pos=state.pos, obj_pos=state.obj_pos, obj_active=state.obj_active, time=state.time,
                   reward=reward, terminated=term, truncated=trunc,
                   obs=obs, final_obs=info["final_observation"])
        return (state, obs), rec

    _, recs = jax.lax.scan(step, (state, obs), (jax.random.split(k_run, STEPS), actions))
    return dict(recs, reset_obs=obs, actions=actions)


def trajectory(env, params, seed):
    """run() as numpy arrays."""
    return jax.tree.map(np.asarray, run(env, params, seed))


def main():
    env = GridWorld()
    data = {}
    for name, params in levels().items():
        rec = trajectory(env, params, seed=7)
        for k, v in rec.items():
            if k in ("obs", "final_obs", "reset_obs"):
                v = np.packbits(v.astype(bool), axis=-1)  # 0/1 maps, 8x smaller
            data[f"{name}/{k}"] = v
    out = Path(__file__).with_name("gridworld_reference.npz")
    np.savez_compressed(out, **data)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
