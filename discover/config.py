"""Run configuration: frozen dataclasses, validated in __post_init__ before anything compiles.

Everything that sets shapes or loop lengths lives here (static); numbers that vary per
population member (levels, lifetimes, objective parameters) are traced arguments instead.
Every field can be overridden from the command line as --section.field VALUE.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

OBJECTIVES = ("a2c", "ppo", "dpo", "lpo", "ta-lpo", "lpg", "ta-lpg")
TORSOS = ("mlp", "conv", "linear")
ACTIVATIONS = ("tanh", "relu")
OPTIMIZERS = ("adam", "sgd")
FITNESS = ("final", "auc", "normalised")
SHAPING = ("winloss", "centered_rank", "z_score", "raw")
META_OPTIMIZERS = ("es", "metagrad")
# KL(y || y_hat) (the LPG paper and GROOVE code) or KL(y_hat || y) in the LPG agent loss.
LPG_KL_DIRECTIONS = ("y_yhat", "yhat_y")


class ConfigError(ValueError):
    """A configuration value is invalid; the message is one line saying what would be right."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _choice(name: str, value: str, choices) -> None:
    _check(value in choices, f"{name}={value!r} is not valid; choose from: {', '.join(choices)}")


@dataclass(frozen=True)
class EnvConfig:
    """Which environment(s) agents train on.

    name: an environment of environments.make (e.g. CartPole-v1, SpaceInvaders-MinAtar, gridworld).
    distribution: a level distribution of environments.levels (e.g. all_vrandlife), a named level,
      or named levels joined by '+' (e.g. "sparse+dense", a uniform mixture); empty for the
      environment's default level ("trivial distribution").
    """

    name: str = "CartPole-v1"
    distribution: str = ""

    def __post_init__(self):
        _check(bool(self.name), "env.name must be a registered environment name")


@dataclass(frozen=True)
class AgentConfig:
    """The inner-loop agent's networks and optimiser."""

    torso: str = "mlp"
    hidden: tuple = (64, 64)
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 2.5e-4
    aux_lr: float = 0.0  # learning rate of the critic/predictor; 0 means "same as lr"
    max_grad_norm: float = 0.5
    anneal_lr: bool = True

    def __post_init__(self):
        _choice("agent.torso", self.torso, TORSOS)
        _choice("agent.activation", self.activation, ACTIVATIONS)
        _choice("agent.optimizer", self.optimizer, OPTIMIZERS)
        _check(self.lr > 0, f"agent.lr must be > 0, got {self.lr}")
        _check(self.aux_lr >= 0, f"agent.aux_lr must be >= 0 (0 = same as lr), got {self.aux_lr}")
        _check(self.max_grad_norm > 0, f"agent.max_grad_norm must be > 0, got {self.max_grad_norm}")
        _check(all(int(h) > 0 for h in self.hidden), f"agent.hidden must be positive widths, got {self.hidden}")


@dataclass(frozen=True)
class ObjectiveConfig:
    """The objective the agent is trained with (hand-designed or learned) and its update scheme."""

    name: str = "ppo"
    epochs: int = 4
    minibatches: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    normalize_adv: bool = True
    # DPO closed form
    dpo_alpha: float = 2.0
    dpo_beta: float = 0.6
    # LPO / TA-LPO drift network
    lpo_hidden: int = 128
    init_at_ppo: bool = False
    lpo_init_scale: float = 1.0  # scale of the random initial drift weights
    log_lifetime: bool = False  # TA-LPO: add a log-N multiplicative block
    max_log_lifetime: float = 10.0  # log N is divided by this to keep inputs O(1)
    # LPG
    lpg_m: int = 8
    lpg_embed: tuple = (16, 1)
    lpg_hidden: int = 256
    lpg_alpha_y: float = 0.5
    # Direction of the prediction-vector KL in the agent loss: "y_yhat" = KL(y || y_hat), the
    # LPG paper's and the GROOVE code's; "yhat_y" = KL(y_hat || y), this project's earlier default.
    lpg_kl_direction: str = "y_yhat"
    lpg_include_gamma: bool = True
    # Scales the initial weights of LPG's pi_hat output layer. 0 makes an untrained LPG leave the
    # policy alone (pi_hat = 0), so ES perturbations, not init noise, decide the first updates.
    lpg_pi_hat_init_scale: float = 1.0

    def __post_init__(self):
        _choice("objective.name", self.name, OBJECTIVES)
        _check(self.epochs >= 1, f"objective.epochs must be >= 1, got {self.epochs}")
        _check(self.minibatches >= 1, f"objective.minibatches must be >= 1, got {self.minibatches}")
        _check(0 <= self.gamma <= 1, f"objective.gamma must be in [0, 1], got {self.gamma}")
        _check(0 <= self.gae_lambda <= 1, f"objective.gae_lambda must be in [0, 1], got {self.gae_lambda}")
        _check(self.clip_eps > 0, f"objective.clip_eps must be > 0, got {self.clip_eps}")
        _check(self.lpg_m >= 2, f"objective.lpg_m must be >= 2, got {self.lpg_m}")
        _choice("objective.lpg_kl_direction", self.lpg_kl_direction, LPG_KL_DIRECTIONS)
        _check(
            self.lpg_pi_hat_init_scale >= 0,
            f"objective.lpg_pi_hat_init_scale must be >= 0, got {self.lpg_pi_hat_init_scale}",
        )

    @property
    def temporal(self) -> bool:
        return self.name.startswith("ta-")


@dataclass(frozen=True)
class LifetimeConfig:
    """One agent's lifetime: E envs, T-step rollouts, N updates, then evaluation."""

    num_envs: int = 4
    rollout_len: int = 128
    lifetime: int = 976  # N agent updates (per-level lifetimes from a distribution override it)
    eval_envs: int = 16
    eval_steps: int = 500
    lifetime_scale: float = 1.0  # multiplies lifetimes drawn from a level distribution (CPU-small runs)
    # > 0: where every task would live `lifetime` updates (the default level, a named level or a
    # '+' mixture of them), each task instead draws N log-uniformly from [lifetime_min, lifetime],
    # as all_vrandlife does, so TA- objectives see varied horizons.
    lifetime_min: int = 0
    # Bootstrap truncated episodes from V(final observation) (one extra critic call per step,
    # about 6% of PPO's time); false treats truncation as termination, as PureJaxRL does.
    bootstrap_truncation: bool = True
    # Tasks with different lifetimes N are packed into fewer parallel slots that run them back to
    # back (discover.packing), so no update past an agent's N is computed; false scans every
    # agent to the largest N and freezes it past its own.
    packing: bool = True
    # Slots relative to the automatic count P * E[N] / max N (> 1: wider and shorter loops).
    pack_width: float = 1.0

    def __post_init__(self):
        _check(self.num_envs >= 1, f"lifetime.num_envs must be >= 1, got {self.num_envs}")
        _check(self.rollout_len >= 1, f"lifetime.rollout_len must be >= 1, got {self.rollout_len}")
        _check(self.lifetime >= 1, f"lifetime.lifetime (number of updates N) must be >= 1, got {self.lifetime}")
        _check(self.eval_envs >= 1, f"lifetime.eval_envs must be >= 1, got {self.eval_envs}")
        _check(self.eval_steps >= 1, f"lifetime.eval_steps must be >= 1, got {self.eval_steps}")
        _check(self.lifetime_scale > 0, f"lifetime.lifetime_scale must be > 0, got {self.lifetime_scale}")
        _check(self.pack_width > 0, f"lifetime.pack_width must be > 0, got {self.pack_width}")
        _check(
            0 <= self.lifetime_min <= self.lifetime,
            f"lifetime.lifetime_min must be in [0, lifetime.lifetime={self.lifetime}], got {self.lifetime_min}",
        )


@dataclass(frozen=True)
class ESConfig:
    """Evolution strategy over the objective's flattened parameters (evosax)."""

    strategy: str = "Open_ES"
    population: int = 16
    sigma: float = 0.03  # initial perturbation scale
    # sigma * sigma_decay^g, floored at sigma_min (the LPO reference: 0.04, 0.999, 0.01); evosax
    # sets the scale after each update, so generations 0 and 1 both use `sigma`.
    sigma_decay: float = 1.0
    sigma_min: float = 0.0
    lr: float = 1e-2
    lr_decay: float = 1.0  # per generation, floored at lr_min
    lr_min: float = 1e-5
    antithetic: bool = True
    fitness: str = "final"
    shaping: str = "winloss"
    chunk_size: int = 0  # evaluate the population in chunks of this many members (0 = all at once)
    strategy_kwargs: str = "{}"  # JSON dict of extra evosax constructor arguments

    def __post_init__(self):
        _choice("es.fitness", self.fitness, FITNESS)
        _choice("es.shaping", self.shaping, SHAPING)
        _check(self.population >= 2, f"es.population must be >= 2, got {self.population}")
        _check(
            not self.antithetic or self.population % 2 == 0,
            f"es.population must be even with antithetic sampling, got {self.population}",
        )
        _check(
            self.shaping != "winloss" or self.antithetic,
            "es.shaping=winloss needs es.antithetic=true (it compares antithetic twins)",
        )
        _check(self.sigma > 0, f"es.sigma must be > 0, got {self.sigma}")
        _check(0 < self.sigma_decay <= 1, f"es.sigma_decay must be in (0, 1], got {self.sigma_decay}")
        _check(
            0 <= self.sigma_min <= self.sigma,
            f"es.sigma_min must be in [0, es.sigma={self.sigma}], got {self.sigma_min}",
        )
        _check(self.lr > 0, f"es.lr must be > 0, got {self.lr}")
        _check(0 < self.lr_decay <= 1, f"es.lr_decay must be in (0, 1], got {self.lr_decay}")
        _check(self.chunk_size >= 0, f"es.chunk_size must be >= 0, got {self.chunk_size}")
        _check(
            self.chunk_size == 0 or self.population % self.chunk_size == 0,
            f"es.chunk_size={self.chunk_size} must divide es.population={self.population}",
        )
        try:
            kw = json.loads(self.strategy_kwargs)
        except json.JSONDecodeError as e:
            raise ConfigError(f"es.strategy_kwargs must be a JSON object, got {self.strategy_kwargs!r} ({e.msg})")
        _check(isinstance(kw, dict), f"es.strategy_kwargs must be a JSON object, got {self.strategy_kwargs!r}")
        # Imported here so configs stay cheap to build; evosax's registry names every strategy.
        from discover.meta.strategies import ANTITHETIC, SIGMA_SCHEDULED, STRATEGIES

        _choice("es.strategy", self.strategy, sorted(STRATEGIES))
        _check(
            self.sigma_decay == 1 or self.strategy in SIGMA_SCHEDULED,
            f"es.sigma_decay < 1 needs a strategy with a sigma schedule ({', '.join(SIGMA_SCHEDULED)}); "
            f"{self.strategy} adapts its own",
        )
        _check(
            not self.antithetic or self.strategy in ANTITHETIC,
            f"es.antithetic=true needs a mirrored-sampling strategy ({', '.join(ANTITHETIC)}); "
            f"set es.antithetic=false (and es.shaping=centered_rank) for {self.strategy}",
        )


CURRICULA = ("dr", "plr")
PRIORITISATIONS = ("rank", "proportional")
ANTAGONISTS = ("auto", "a2c", "ppo")


@dataclass(frozen=True)
class CurriculumConfig:
    """Where each task's level comes from (SPEC section 7).

    name: dr (domain randomisation: fresh levels from env.distribution) or plr (prioritised level
      replay over a buffer of levels scored by `score`; GROOVE = plr with alg_regret).
    score: alg_regret, optimal_regret (tabular gridworld levels), pvl, maxmc or random.
    antagonist: the hand-designed agent of algorithmic regret; auto = A2C for LPG-family
      objectives, PPO otherwise. antagonist_lr: its learning rate (0 = agent.lr).
    """

    name: str = "dr"
    score: str = "alg_regret"
    buffer_size: int = 4000
    replay_prob: float = 0.5
    prioritisation: str = "rank"
    temperature: float = 1.0
    staleness: float = 0.1  # weight of the staleness term in the replay distribution
    antagonist: str = "auto"
    antagonist_lr: float = 0.0

    def __post_init__(self):
        from discover.curricula.scores import SCORES

        _choice("curriculum.name", self.name, CURRICULA)
        _choice("curriculum.score", self.score, tuple(SCORES))
        _choice("curriculum.prioritisation", self.prioritisation, PRIORITISATIONS)
        _choice("curriculum.antagonist", self.antagonist, ANTAGONISTS)
        _check(self.buffer_size >= 1, f"curriculum.buffer_size must be >= 1, got {self.buffer_size}")
        _check(0 <= self.replay_prob <= 1, f"curriculum.replay_prob must be in [0, 1], got {self.replay_prob}")
        _check(self.temperature > 0, f"curriculum.temperature must be > 0 (it is a power 1/T), got {self.temperature}")
        _check(0 <= self.staleness <= 1, f"curriculum.staleness must be in [0, 1], got {self.staleness}")
        _check(self.antagonist_lr >= 0, f"curriculum.antagonist_lr must be >= 0 (0 = agent.lr), got {self.antagonist_lr}")


@dataclass(frozen=True)
class MetaGradConfig:
    """The LPG paper's meta-gradient optimiser (comparison baseline)."""

    lr: float = 1e-4
    unroll: int = 5  # K agent updates per meta-step
    batch: int = 8  # agents (levels) per meta-step
    critic_lr: float = 1e-3
    beta_entropy: float = 5e-2
    beta_y_entropy: float = 1e-3
    beta_pi_hat: float = 5e-3
    beta_y_hat: float = 1e-3

    def __post_init__(self):
        _check(self.lr > 0, f"metagrad.lr must be > 0, got {self.lr}")
        _check(self.unroll >= 1, f"metagrad.unroll must be >= 1, got {self.unroll}")
        _check(self.batch >= 1, f"metagrad.batch must be >= 1, got {self.batch}")


@dataclass(frozen=True)
class RunConfig:
    """A meta-training run: what is learned, on what, by which meta-optimiser, for how long."""

    seed: int = 0
    generations: int = 50
    meta_optimizer: str = "es"
    checkpoint_every: int = 10
    log_every: int = 1
    gens_per_call: int = 1  # generations per jitted call (host overhead knob)
    wandb: bool = False
    wandb_project: str = "discover"
    distributed: bool = False  # call jax.distributed.initialize() first (multi-host; untested here)
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    lifetime: LifetimeConfig = field(default_factory=LifetimeConfig)
    es: ESConfig = field(default_factory=ESConfig)
    metagrad: MetaGradConfig = field(default_factory=MetaGradConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)

    def __post_init__(self):
        _check(self.generations >= 1, f"generations must be >= 1, got {self.generations}")
        _choice("meta_optimizer", self.meta_optimizer, META_OPTIMIZERS)
        _check(self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        _check(self.gens_per_call >= 1, f"gens_per_call must be >= 1, got {self.gens_per_call}")
        _check(
            self.meta_optimizer != "metagrad" or self.objective.name in ("lpg", "ta-lpg"),
            f"meta_optimizer=metagrad is implemented for lpg/ta-lpg, not {self.objective.name}",
        )
        dist = self.env.distribution
        if self.curriculum.name == "plr":
            _check(
                _is_level_distribution(dist),
                f"curriculum.name=plr replays levels drawn from a level distribution; env.distribution={dist!r} is not "
                "one (use e.g. env.name=gridworld env.distribution=all_shortlife)",
            )
            tasks = self.metagrad.batch if self.meta_optimizer == "metagrad" else (
                self.es.population // 2 if self.es.antithetic else self.es.population)
            _check(
                self.curriculum.buffer_size >= tasks,
                f"curriculum.buffer_size={self.curriculum.buffer_size} must hold at least the {tasks} levels of one "
                "generation, so a replay can draw them without repeats",
            )
            _check(
                self.curriculum.score != "optimal_regret" or _is_tabular_distribution(dist),
                f"curriculum.score=optimal_regret needs tabular gridworld levels (fixed objects); {dist!r} has random ones",
            )
        _check(
            self.lifetime.lifetime_min == 0 or not _is_level_distribution(dist),
            f"lifetime.lifetime_min applies to a fixed level or a '+' mixture; env.distribution={dist!r} "
            "samples its own lifetimes",
        )


def _is_tabular_distribution(name: str) -> bool:
    import environments

    return environments.get_distribution(name).tabular_only


def _is_level_distribution(name: str) -> bool:
    """A gridworld distribution with its own lifetimes (not empty, a named level or a '+' mixture)."""
    import environments

    return name in environments.DISTRIBUTION_NAMES


# ---------------------------------------------------------------------------------------------
# Conversion to/from plain dicts and dotted command-line overrides.


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls, data: dict):
    """Rebuild a (nested) config dataclass from a dict, e.g. a run's config.json."""
    kwargs = {}
    names = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown config field {key!r} in {cls.__name__}; valid: {', '.join(names)}")
        ftype = _field_type(cls, key)
        if dataclasses.is_dataclass(ftype):
            kwargs[key] = from_dict(ftype, value)
        elif isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def _field_type(cls, name):
    import typing

    hints = typing.get_type_hints(cls)
    return hints[name]


def _parse_value(text: str, current: Any, path: str):
    if isinstance(current, bool):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{path} expects true/false, got {text!r}")
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"--{path} expects an integer, got {text!r}")
    if isinstance(current, float):
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"--{path} expects a number, got {text!r}")
        if not math.isfinite(value):
            raise ConfigError(f"--{path} must be finite, got {text!r}")
        return value
    if isinstance(current, tuple):
        try:
            return tuple(int(x) for x in text.replace("[", "").replace("]", "").split(",") if x.strip())
        except ValueError:
            raise ConfigError(f"--{path} expects comma-separated integers, got {text!r}")
    return text


def apply_overrides(cfg, pairs):
    """Return cfg with dotted command-line overrides applied, validated once at the end.

    pairs: iterable of (path, text), e.g. ("es.population", "32"). Values are parsed to the
    type of the field they replace; the whole config is rebuilt (and so validated) after all
    overrides, so their order never matters.
    """
    data = to_dict(cfg)
    for path, text in pairs:
        node = data
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[:depth]) or "top level"
                valid = ", ".join(node) if isinstance(node, dict) else "none"
                raise ConfigError(f"unknown option --{path} ({where} has: {valid})")
            if depth < len(parts) - 1:
                node = node[part]
        if isinstance(node[parts[-1]], dict):
            raise ConfigError(f"--{path} is a section; set one of its fields, e.g. --{path}.{next(iter(node[parts[-1]]))}")
        node[parts[-1]] = _parse_value(text, node[parts[-1]], path)
    return from_dict(type(cfg), data)
