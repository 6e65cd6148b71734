"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import jax

RESULTS_DIR = Path(__file__).parent / "results"


def machine_info() -> dict:
    """Backend, devices, CPU, versions, XLA flags and load, so results say where they came from."""
    info = {
        "platform": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    if hasattr(os, "getloadavg"):
        info["loadavg_start"] = os.getloadavg()
    return info


def make_raw(env, env_params, num_envs, num_steps):
    """raw(key, env_params=env_params) for one seed: num_steps steps of num_envs envs with
    uniformly random actions, under lax.scan: the ceiling any training loop on this env can
    approach (pass env_params to vmap over levels)."""
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    n_actions = env.num_actions

    def raw(key, env_params=env_params):
        k_reset, k_run = jax.random.split(key)
        obs, state = reset(jax.random.split(k_reset, num_envs), env_params)

        def body(carry, k):
            state, ret = carry
            k_act, k_env = jax.random.split(k)
            action = jax.random.randint(k_act, (num_envs,), 0, n_actions)
            obs, state, reward, term, trunc, info = step(jax.random.split(k_env, num_envs), state, action, env_params)
            # Use every output so XLA cannot skip part of the step.
            return (state, ret + reward.sum() + obs.sum() + term.sum() + trunc.sum()), None

        (_, ret), _ = jax.lax.scan(body, (state, 0.0), jax.random.split(k_run, num_steps))
        return ret

    return raw


def write_results(res: dict, name: str, quick: bool, out=None) -> Path:
    """Record the end load, then write res as JSON to out or results/<name>_<platform>[_quick].json."""
    if hasattr(os, "getloadavg"):
        res["machine"]["loadavg_end"] = os.getloadavg()
    out = Path(out) if out else RESULTS_DIR / f"{name}_{res['machine']['platform']}{'_quick' if quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=str))
    return out
