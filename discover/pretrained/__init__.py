"""Discovered objectives shipped with the package, loadable by name.

Each shipped objective is a folder next to this file holding params.msgpack (the objective's
parameters) and provenance.json: the preset and full config it was meta-trained with, the
commit, generations, wall time and machine, the fitness curve, the run's summary and the
`discover evaluate` summary. `load(name)` rebuilds the objective from that config and checks
every parameter's shape against it before use.

    import discover
    pretrained = discover.load("ta-lpo-quickstart")
    result = discover.train_agent(pretrained, "CartPole-v1", seeds=4)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import NamedTuple

from discover.config import ConfigError, ObjectiveConfig, RunConfig, from_dict

SHIPPED = Path(__file__).parent


class Pretrained(NamedTuple):
    """A discovered objective ready to train agents with.

    objective: the Objective (init, loss, head, ...); params: its parameters; config: the
    RunConfig it was meta-trained with (its agent and lifetime sections are the settings it
    was discovered for); provenance: where it came from (see the module docstring).
    """

    name: str
    objective: object
    params: object
    config: RunConfig
    provenance: dict

    def loss(self, nets, agent_params, batch, feats):
        """The agent's loss on a minibatch, for your own training loop (see Objective.loss)."""
        return self.objective.loss(self.params, nets, agent_params, batch, feats)


def names() -> list[str]:
    """Names of the shipped objectives."""
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "provenance.json").is_file())


def provenance(name: str) -> dict:
    return json.loads((_folder(name) / "provenance.json").read_text())


def _folder(name: str) -> Path:
    if name not in names():
        raise ConfigError(f"no pretrained objective named {name!r}; shipped: {', '.join(names()) or 'none'}")
    return SHIPPED / name


def _shape_mismatch(raw, template, path="params") -> str | None:
    """The first difference between a restored state dict and the template's, in words."""
    import numpy as np

    if isinstance(template, dict):
        if not isinstance(raw, dict) or set(raw) != set(template):
            have = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
            return f"{path} has entries {have}, the config expects {sorted(template)}"
        for k in template:
            found = _shape_mismatch(raw[k], template[k], f"{path}/{k}")
            if found:
                return found
        return None
    if np.shape(raw) != np.shape(template):
        return f"{path} has shape {tuple(np.shape(raw))}, the config expects {tuple(np.shape(template))}"
    return None


def restore_params(data: bytes, objective, label: str, what: str = "the objective config"):
    """Parameters from msgpack bytes, after checking every shape against objective.init's.
    A mismatch raises ConfigError naming the first parameter that differs."""
    import jax
    from flax import serialization

    template = objective.init(jax.random.key(0))
    raw = serialization.msgpack_restore(data)
    problem = _shape_mismatch(raw, serialization.to_state_dict(template))
    if problem:
        raise ConfigError(f"{label} does not fit {what}: {problem}")
    return serialization.from_state_dict(template, raw)


def load(name: str, objective: ObjectiveConfig | None = None) -> Pretrained:
    """A shipped objective by name, or the discovered objective of a finished run directory.

    objective: an ObjectiveConfig to build the objective from instead of the saved one (e.g.
    other PPO coefficients); its parameter shapes must match the saved parameters, else a
    ConfigError says which parameter differs.
    """
    from discover.objectives import make_objective

    run_dir = Path(name)
    if (run_dir / "config.json").is_file():
        cfg = from_dict(RunConfig, json.loads((run_dir / "config.json").read_text()))
        path, prov = run_dir / "discovered.msgpack", {"run_dir": str(run_dir)}
        if not path.exists():
            raise ConfigError(f"{path} not found: the run has not finished")
    else:
        folder = _folder(name)
        prov = provenance(name)
        cfg = from_dict(RunConfig, prov["config"])
        path = folder / "params.msgpack"
    if objective is not None:
        cfg = dataclasses.replace(cfg, objective=objective)
    obj = make_objective(cfg.objective)
    what = "the given objective config" if objective is not None else "its saved config"
    params = restore_params(path.read_bytes(), obj, f"pretrained {name!r}", what)
    return Pretrained(run_dir.name if prov.get("run_dir") else name, obj, params, cfg, prov)
