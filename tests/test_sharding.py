"""Population sharding over devices (shard_map) and chunked evaluation give the same ES generation
as plain vmap. Runs in a subprocess with 4 virtual CPU devices (XLA reads the device count when
the backend starts, so it cannot be changed inside the test process)."""

import json
import os
import subprocess
import sys

import pytest

# 20 s of subprocess compilation; the slow suite runs it (as it does the 2-process distributed test).
pytestmark = pytest.mark.slow

_SCRIPT = r"""
import dataclasses, json, sys
import jax, jax.numpy as jnp, numpy as np
from discover.config import AgentConfig, EnvConfig, ESConfig, LifetimeConfig, ObjectiveConfig, RunConfig
from discover.meta import es as es_mod
from discover.meta.run import build, _keys

assert len(jax.devices()) == 4, jax.devices()
cfg = RunConfig(
    seed=3,
    env=EnvConfig("CartPole-v1"),
    agent=AgentConfig(hidden=(16, 16), lr=1e-2),
    objective=ObjectiveConfig(name="lpo", epochs=1, minibatches=2, lpo_hidden=8, lpo_init_scale=3.0),
    lifetime=LifetimeConfig(num_envs=2, rollout_len=8, lifetime=3, eval_envs=2, eval_steps=50),
    es=ESConfig(population=8, sigma=0.1, lr=0.05, shaping="centered_rank"),
)
built = build(cfg)
k_init, k_obj, k_run, _ = _keys(cfg)
params0 = built.objective.init(k_obj)

def run(es, gens=2):
    gen = jax.jit(es.generation)
    state = es.init(k_init, params0)
    out = []
    for _ in range(gens):
        state, m = gen(state, k_run)
        out.append({k: float(v) for k, v in jax.device_get(m).items()})
    mean = np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(es.mean(state))])
    leaves = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]
    return mean, leaves, out

def make(mesh, chunk=0):
    c = dataclasses.replace(cfg, es=dataclasses.replace(cfg.es, chunk_size=chunk))
    return es_mod.make_es(c, built.objective, built.lifetime, built.task, built.baseline, mesh=mesh)

result = {"mesh_auto": es_mod.population_mesh(8) is not None, "mesh_odd": es_mod.population_mesh(6) is not None}
variants = {
    "vmap": lambda: make(None),
    "sharded": lambda: make("auto"),
    "chunked": lambda: make(None, chunk=2),
    "sharded_chunked": lambda: make("auto", chunk=1),
}
runs = {name: run(variants[name]()) for name in ["vmap", *sys.argv[1:]]}
ref_mean, ref_leaves, ref_metrics = runs["vmap"]
for name, (mean, leaves, metrics) in runs.items():
    result[name] = {
        "bitwise": bool(np.array_equal(mean, ref_mean) and all(np.array_equal(a, b) for a, b in zip(leaves, ref_leaves))
                        and metrics == ref_metrics),
        "max_abs_diff": float(np.max(np.abs(mean - ref_mean))),
        "state_close": bool(all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(leaves, ref_leaves))),
        "metrics": metrics,
        "moved": float(np.max(np.abs(mean - np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(params0)])))),
        "finite": bool(np.isfinite(mean).all()),
    }
print("RESULT " + json.dumps(result))
"""


def _run_script(tmp_path_factory, *variants):
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *variants], cwd=tmp_path_factory.mktemp("shard"), env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.fixture(scope="module")
def sharding_result(tmp_path_factory):
    return _run_script(tmp_path_factory, "sharded")


def test_auto_mesh_shards_population_over_4_devices(sharding_result):
    assert sharding_result["mesh_auto"] is True
    assert sharding_result["mesh_odd"] is False  # 6 members do not split over 4 devices


def _assert_matches_vmap(result, variant):
    r, ref = result[variant], result["vmap"]
    assert r["finite"] and ref["finite"]
    assert ref["moved"] > 1e-4  # the ES mean moved, so the comparison is not vacuous
    assert r["state_close"], (variant, r["max_abs_diff"])
    assert r["max_abs_diff"] < 1e-5
    for a, b in zip(r["metrics"], ref["metrics"]):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), (variant, k, a[k], b[k])
    print(f"{variant}: bit-identical to vmap = {r['bitwise']}, max |diff| of the ES mean = {r['max_abs_diff']:.3g}")


def test_sharded_matches_plain_vmap(sharding_result):
    _assert_matches_vmap(sharding_result, "sharded")


@pytest.mark.slow
def test_chunked_matches_plain_vmap_with_real_lifetimes(tmp_path_factory):
    """es.chunk_size=2 (4 sequential chunks) and sharded + chunk_size=1 (2 chunks per device).
    (The fast chunking test, with a fake lifetime, is in test_es.py.)"""
    result = _run_script(tmp_path_factory, "chunked", "sharded_chunked")
    _assert_matches_vmap(result, "chunked")
    _assert_matches_vmap(result, "sharded_chunked")
