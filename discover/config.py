"""Run configuration: frozen dataclasses, checked in __post_init__ before anything compiles.

Everything that sets shapes or loop lengths lives here (static); numbers that vary per
population member (levels, lifetimes, objective parameters) are traced arguments instead.
Every field can be set from the command line as --section.field VALUE; its one-line meaning
(`help`, shown by `discover train --help`) and, for options only some objectives read, the
objectives it applies to (`applies`) are in the field's metadata.

Single-field checks (types, ranges, choices) live here; checks that need the registries or
several sections at once are in discover.validate; conversion to and from dicts and dotted
overrides is in discover.config_io (re-exported here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

OBJECTIVES = ("a2c", "ppo", "dpo", "lpo", "ta-lpo", "lpg", "ta-lpg")
LEARNED = ("lpo", "ta-lpo", "lpg", "ta-lpg")
HAND_DESIGNED = ("a2c", "ppo", "dpo")
TORSOS = ("mlp", "conv", "linear")
ACTIVATIONS = ("tanh", "relu")
OPTIMIZERS = ("adam", "sgd")
FITNESS = ("final", "auc", "normalised")
SHAPING = ("winloss", "centered_rank", "z_score", "raw")
META_OPTIMIZERS = ("es", "metagrad")
# KL(y || y_hat) (the LPG paper and GROOVE code) or KL(y_hat || y) in the LPG agent loss.
LPG_KL_DIRECTIONS = ("y_yhat", "yhat_y")

# Objective families, for fields that only some objectives read (`applies` metadata).
_PPO_FAMILY = ("ppo", "dpo", "lpo", "ta-lpo")
_GAE = ("a2c", *_PPO_FAMILY)
_LPO = ("lpo", "ta-lpo")
_LPG = ("lpg", "ta-lpg")


class ConfigError(ValueError):
    """A configuration value is invalid; the message is one line saying what would be right."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _choice(name: str, value: str, choices) -> None:
    _check(value in choices, f"{name}={value!r} is not valid; choose from: {', '.join(choices)}")


def _f(default, help: str, applies: tuple = ()):
    """A config field with its one-line meaning and the objectives it applies to (empty: all)."""
    return field(default=default, metadata={"help": help, "applies": applies})


def _section(cls, help: str):
    return field(default_factory=cls, metadata={"help": help, "applies": ()})


@dataclass(frozen=True)
class EnvConfig:
    """Which environment(s) agents train on."""

    name: str = _f("CartPole-v1", "environment (see environments.list_envs): CartPole-v1, SpaceInvaders-MinAtar, gridworld, ...")
    distribution: str = _f(
        "",
        "gridworld level set: a distribution (all_vrandlife), a named level (dense) or levels joined "
        "by '+' (sparse+dense); empty = the environment's default level",
    )

    def __post_init__(self):
        _check(bool(self.name), "env.name must be a registered environment name")


@dataclass(frozen=True)
class AgentConfig:
    """The inner-loop agent's networks and optimiser."""

    torso: str = _f("mlp", f"agent network body: {', '.join(TORSOS)} (conv needs image observations, e.g. MinAtar)")
    hidden: tuple = _f((64, 64), "hidden layer widths, comma-separated (e.g. 64,64)")
    activation: str = _f("tanh", f"hidden activation: {', '.join(ACTIVATIONS)}")
    optimizer: str = _f("adam", f"agent optimiser: {', '.join(OPTIMIZERS)}")
    lr: float = _f(2.5e-4, "agent learning rate")
    aux_lr: float = _f(0.0, "learning rate of the critic/predictor; 0 = same as lr")
    max_grad_norm: float = _f(0.5, "global gradient-norm clip of each agent update")
    anneal_lr: bool = _f(True, "anneal the agent learning rate linearly to 0 over its lifetime N")

    def __post_init__(self):
        _choice("agent.torso", self.torso, TORSOS)
        _choice("agent.activation", self.activation, ACTIVATIONS)
        _choice("agent.optimizer", self.optimizer, OPTIMIZERS)
        _check(self.lr > 0, f"agent.lr must be > 0, got {self.lr}")
        _check(self.aux_lr >= 0, f"agent.aux_lr must be >= 0 (0 = same as lr), got {self.aux_lr}")
        _check(self.max_grad_norm > 0, f"agent.max_grad_norm must be > 0, got {self.max_grad_norm}")
        _check(len(self.hidden) >= 1 or self.torso == "linear", "agent.hidden needs at least one width (or agent.torso=linear)")
        _check(all(0 < int(h) <= 65536 for h in self.hidden), f"agent.hidden must be widths in [1, 65536], got {self.hidden}")


@dataclass(frozen=True)
class ObjectiveConfig:
    """The objective the agent is trained with (hand-designed or learned) and its update scheme."""

    name: str = _f("ppo", f"objective: {', '.join(OBJECTIVES)} (train meta-learns {', '.join(LEARNED)})")
    epochs: int = _f(4, "passes over each rollout per agent update")
    minibatches: int = _f(4, "minibatches per epoch (must divide the rollout: envs x steps, or envs for LPG)")
    gamma: float = _f(0.99, "discount factor")
    gae_lambda: float = _f(0.95, "GAE lambda", _GAE)
    clip_eps: float = _f(0.2, "PPO ratio clip (also the value clip of the PPO family)", _PPO_FAMILY)
    vf_coef: float = _f(0.5, "value-loss coefficient", _GAE)
    ent_coef: float = _f(0.01, "entropy bonus coefficient", _GAE)
    normalize_adv: bool = _f(True, "normalise advantages per minibatch", _GAE)
    dpo_alpha: float = _f(2.0, "DPO closed form: alpha (positive advantages)", ("dpo",))
    dpo_beta: float = _f(0.6, "DPO closed form: beta (negative advantages)", ("dpo",))
    lpo_hidden: int = _f(128, "hidden units of the LPO drift network", _LPO)
    init_at_ppo: bool = _f(False, "add PPO's drift inside the relu so meta-training starts from PPO", _LPO)
    lpo_init_scale: float = _f(1.0, "scale of the random initial drift weights", _LPO)
    log_lifetime: bool = _f(False, "TA-LPO: add a log-N multiplicative block to the drift input", ("ta-lpo",))
    max_log_lifetime: float = _f(10.0, "log N is divided by this to keep inputs O(1)", ("ta-lpo", "ta-lpg"))
    lpg_m: int = _f(8, "size m of LPG's prediction vector y", _LPG)
    lpg_embed: tuple = _f((16, 1), "widths of LPG's embedding of y, comma-separated", _LPG)
    lpg_hidden: int = _f(256, "units of LPG's backward recurrent core", _LPG)
    lpg_alpha_y: float = _f(0.5, "weight of the prediction-vector KL term of the agent loss", _LPG)
    # "y_yhat" = KL(y || y_hat), the LPG paper's and the GROOVE code's; "yhat_y" = KL(y_hat || y),
    # this project's earlier default (the shipped lpg-tabular objective was discovered with it).
    lpg_kl_direction: str = _f("y_yhat", f"direction of the prediction-vector KL: {', '.join(LPG_KL_DIRECTIONS)}", _LPG)
    lpg_include_gamma: bool = _f(True, "feed the constant gamma to LPG (the LPG paper; GROOVE omits it)", _LPG)
    # 0 makes an untrained LPG leave the policy alone (pi_hat = 0), so ES perturbations, not
    # init noise, decide the first updates.
    lpg_pi_hat_init_scale: float = _f(1.0, "scale of the initial weights of LPG's pi_hat layer (0: start at pi_hat = 0)", _LPG)

    def __post_init__(self):
        _choice("objective.name", self.name, OBJECTIVES)
        _check(1 <= self.epochs <= 10_000, f"objective.epochs must be in [1, 10000], got {self.epochs}")
        _check(self.minibatches >= 1, f"objective.minibatches must be >= 1, got {self.minibatches}")
        _check(0 <= self.gamma <= 1, f"objective.gamma must be in [0, 1], got {self.gamma}")
        _check(0 <= self.gae_lambda <= 1, f"objective.gae_lambda must be in [0, 1], got {self.gae_lambda}")
        _check(self.clip_eps > 0, f"objective.clip_eps must be > 0, got {self.clip_eps}")
        _check(self.dpo_alpha > 0 and self.dpo_beta > 0, "objective.dpo_alpha and objective.dpo_beta must be > 0")
        _check(1 <= self.lpo_hidden <= 65536, f"objective.lpo_hidden must be in [1, 65536], got {self.lpo_hidden}")
        _check(self.lpo_init_scale >= 0, f"objective.lpo_init_scale must be >= 0, got {self.lpo_init_scale}")
        _check(self.max_log_lifetime > 0, f"objective.max_log_lifetime must be > 0, got {self.max_log_lifetime}")
        _check(2 <= self.lpg_m <= 4096, f"objective.lpg_m must be in [2, 4096], got {self.lpg_m}")
        _check(len(self.lpg_embed) >= 1 and all(0 < int(w) <= 65536 for w in self.lpg_embed),
               f"objective.lpg_embed must be positive widths, got {self.lpg_embed}")  # fmt: skip
        _check(1 <= self.lpg_hidden <= 65536, f"objective.lpg_hidden must be in [1, 65536], got {self.lpg_hidden}")
        _check(self.lpg_alpha_y >= 0, f"objective.lpg_alpha_y must be >= 0, got {self.lpg_alpha_y}")
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

    num_envs: int = _f(4, "parallel environments E per agent")
    rollout_len: int = _f(128, "rollout length T per update")
    lifetime: int = _f(976, "agent updates N (per-level lifetimes of a level distribution override it)")
    eval_envs: int = _f(16, "environments of the final evaluation")
    eval_steps: int = _f(0, "steps of the final evaluation; 0 = the environment's episode limit (shorter is refused)")
    lifetime_scale: float = _f(1.0, "multiplies lifetimes drawn from a level distribution (CPU-small runs)")
    # > 0: where every task would live `lifetime` updates (the default level, a named level or a
    # '+' mixture of them), each task instead draws N log-uniformly from [lifetime_min, lifetime],
    # as all_vrandlife does, so TA- objectives see varied horizons.
    lifetime_min: int = _f(0, "> 0: each task draws N log-uniformly from [lifetime_min, lifetime] (fixed levels only)")
    # One extra critic call per step, about 6% of PPO's time.
    bootstrap_truncation: bool = _f(True, "bootstrap truncated episodes from V(final obs); false treats truncation as termination")
    # No update past an agent's N is computed (discover.packing).
    packing: bool = _f(True, "pack tasks of different lifetimes N into fewer slots run back to back; false scans all to the largest N")
    pack_width: float = _f(1.0, "packed slots relative to the automatic count P x E[N] / max N (> 1: wider, shorter loops)")

    def __post_init__(self):
        _check(self.num_envs >= 1, f"lifetime.num_envs must be >= 1, got {self.num_envs}")
        _check(self.rollout_len >= 1, f"lifetime.rollout_len must be >= 1, got {self.rollout_len}")
        _check(self.lifetime >= 1, f"lifetime.lifetime (number of updates N) must be >= 1, got {self.lifetime}")
        _check(self.eval_envs >= 1, f"lifetime.eval_envs must be >= 1, got {self.eval_envs}")
        _check(self.eval_steps >= 0, f"lifetime.eval_steps must be >= 0 (0 = the episode limit), got {self.eval_steps}")
        _check(self.lifetime_scale > 0, f"lifetime.lifetime_scale must be > 0, got {self.lifetime_scale}")
        _check(self.pack_width > 0, f"lifetime.pack_width must be > 0, got {self.pack_width}")
        _check(
            0 <= self.lifetime_min <= self.lifetime,
            f"lifetime.lifetime_min must be in [0, lifetime.lifetime={self.lifetime}], got {self.lifetime_min}",
        )


@dataclass(frozen=True)
class ESConfig:
    """Evolution strategy over the objective's flattened parameters (evosax)."""

    strategy: str = _f("Open_ES", "evosax strategy (Open_ES, PGPE, ARS, SNES, ...)")
    population: int = _f(16, "population size P (even with antithetic sampling)")
    sigma: float = _f(0.03, "initial perturbation scale")
    # sigma * sigma_decay^g, floored at sigma_min (the LPO reference: 0.04, 0.999, 0.01); evosax
    # sets the scale after each update, so generations 0 and 1 both use `sigma`.
    sigma_decay: float = _f(1.0, "per-generation decay of the perturbation scale, floored at sigma_min")
    sigma_min: float = _f(0.0, "floor of the decayed perturbation scale")
    lr: float = _f(1e-2, "ES learning rate (Adam)")
    lr_decay: float = _f(1.0, "per-generation learning-rate decay, floored at lr_min")
    lr_min: float = _f(1e-5, "floor of the decayed learning rate")
    antithetic: bool = _f(True, "antithetic task sampling: twins theta +- sigma z share level, lifetime and keys")
    fitness: str = _f("final", f"fitness: {', '.join(FITNESS)}")
    shaping: str = _f("winloss", f"fitness shaping: {', '.join(SHAPING)}")
    chunk_size: int = _f(0, "evaluate the population in sequential chunks of this many members (0 = all at once; "
                            "a different chunk size rounds agents' floats differently)")
    strategy_kwargs: str = _f("{}", "JSON object of extra evosax constructor arguments")

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
        _check(self.lr_min >= 0, f"es.lr_min must be >= 0, got {self.lr_min}")
        _check(self.chunk_size >= 0, f"es.chunk_size must be >= 0, got {self.chunk_size}")
        _check(
            self.chunk_size == 0 or self.population % self.chunk_size == 0,
            f"es.chunk_size={self.chunk_size} must divide es.population={self.population}",
        )
        try:
            kw = json.loads(self.strategy_kwargs)
        except json.JSONDecodeError as e:
            raise ConfigError(f"es.strategy_kwargs must be a JSON object, got {self.strategy_kwargs!r} ({e.msg})") from None
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
    """Where each task's level comes from (SPEC section 7): GROOVE is plr with alg_regret."""

    name: str = _f("dr", "dr: fresh levels from env.distribution; plr: prioritised level replay over a scored buffer")
    score: str = _f("alg_regret", "level score of plr: alg_regret, optimal_regret (tabular gridworlds), pvl, maxmc, random")
    buffer_size: int = _f(4000, "levels the plr buffer holds")
    replay_prob: float = _f(0.5, "probability that a generation replays buffer levels instead of drawing fresh ones")
    prioritisation: str = _f("rank", "replay weights from scores: rank (1/rank) or proportional")
    temperature: float = _f(1.0, "replay weights are raised to the power 1/temperature")
    staleness: float = _f(0.1, "weight of the staleness term (generations since a level was drawn) in the replay mix")
    antagonist: str = _f("auto", "agent of algorithmic regret: auto (A2C for LPG-family, PPO otherwise), a2c or ppo")
    antagonist_lr: float = _f(0.0, "the antagonist's learning rate (0 = agent.lr)")

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

    lr: float = _f(1e-4, "meta learning rate (Adam)")
    unroll: int = _f(5, "K agent updates per meta-step")
    batch: int = _f(8, "agents (levels) per meta-step")
    critic_lr: float = _f(1e-3, "learning rate of the separate value critic")
    beta_entropy: float = _f(5e-2, "regulariser: policy entropy bonus")
    beta_y_entropy: float = _f(1e-3, "regulariser: entropy bonus of y")
    beta_pi_hat: float = _f(5e-3, "regulariser: penalty on pi_hat^2")
    beta_y_hat: float = _f(1e-3, "regulariser: penalty on |y_hat|^2")

    def __post_init__(self):
        _check(self.lr > 0, f"metagrad.lr must be > 0, got {self.lr}")
        _check(self.unroll >= 1, f"metagrad.unroll must be >= 1, got {self.unroll}")
        _check(self.batch >= 1, f"metagrad.batch must be >= 1, got {self.batch}")
        _check(self.critic_lr > 0, f"metagrad.critic_lr must be > 0, got {self.critic_lr}")


# The largest seed jax.random.key takes without x64 (it folds the seed into 32 bits).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class RunConfig:
    """A meta-training run: what is learned, on what, by which meta-optimiser, for how long."""

    seed: int = _f(0, f"root PRNG seed, in [0, {MAX_SEED}]")
    generations: int = _f(50, "generations (ES) or meta-steps (metagrad) to run")
    meta_optimizer: str = _f("es", f"meta-optimiser: {', '.join(META_OPTIMIZERS)}")
    checkpoint_every: int = _f(10, "write a checkpoint every this many generations (and at the end)")
    gens_per_call: int = _f(1, "generations per compiled call (fewer host round trips)")
    heldout_every: int = _f(10, "evaluate the ES mean on held-back tasks every this many generations (0 = off)")
    heldout_tasks: int = _f(8, "held-back tasks (fresh agents) of that evaluation and of the final summary")
    flat_warn_after: int = _f(5, "warn when the population's fitness has had no spread for this many generations (0 = off)")
    # A generation that never returns (e.g. an XLA:CPU deadlock) must not sit silent for days.
    watchdog_s: float = _f(1800.0, "no progress for this many seconds: dump all thread stacks into the run directory and exit 3 (0 = off)")
    wandb: bool = _f(False, "also log to Weights & Biases (pip install 'discover[wandb]')")
    wandb_project: str = _f("discover", "Weights & Biases project")
    distributed: bool = _f(False, "multi-process run through jax.distributed (initialised before any JAX call)")
    env: EnvConfig = _section(EnvConfig, "environment")
    agent: AgentConfig = _section(AgentConfig, "inner-loop agent")
    objective: ObjectiveConfig = _section(ObjectiveConfig, "objective")
    lifetime: LifetimeConfig = _section(LifetimeConfig, "agent lifetime")
    es: ESConfig = _section(ESConfig, "evolution strategy")
    metagrad: MetaGradConfig = _section(MetaGradConfig, "meta-gradients")
    curriculum: CurriculumConfig = _section(CurriculumConfig, "where levels come from: domain randomisation or prioritised level replay")

    def __post_init__(self):
        _check(0 <= self.seed <= MAX_SEED, f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        _check(self.generations >= 1, f"generations must be >= 1, got {self.generations}")
        _choice("meta_optimizer", self.meta_optimizer, META_OPTIMIZERS)
        _check(self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        _check(self.gens_per_call >= 1, f"gens_per_call must be >= 1, got {self.gens_per_call}")
        _check(self.heldout_every >= 0, f"heldout_every must be >= 0 (0 = off), got {self.heldout_every}")
        _check(self.heldout_tasks >= 1, f"heldout_tasks must be >= 1, got {self.heldout_tasks}")
        _check(self.flat_warn_after >= 0, f"flat_warn_after must be >= 0 (0 = off), got {self.flat_warn_after}")
        _check(self.watchdog_s >= 0, f"watchdog_s must be >= 0 (0 = off), got {self.watchdog_s}")
        _check(
            self.meta_optimizer != "metagrad" or self.objective.name in ("lpg", "ta-lpg"),
            f"meta_optimizer=metagrad is implemented for lpg/ta-lpg, not {self.objective.name}",
        )
        dist = self.env.distribution
        _check(
            self.lifetime.lifetime_min == 0 or not _is_level_distribution(dist),
            f"lifetime.lifetime_min applies to a fixed level or a '+' mixture; env.distribution={dist!r} "
            "samples its own lifetimes",
        )


def _is_level_distribution(name: str) -> bool:
    """A gridworld distribution with its own lifetimes (not empty, a named level or a '+' mixture)."""
    import environments  # imported only when needed: it starts JAX's backend (via gymnax)

    return name in environments.DISTRIBUTION_NAMES


def validate(cfg: RunConfig, purpose: str = "train") -> RunConfig:
    """All checks of a run config, resolved (see discover.validate.validate)."""
    from discover.validate import validate as _validate

    return _validate(cfg, purpose)


# Conversion to/from plain dicts and dotted command-line overrides (kept importable from here).
from discover.config_io import apply_overrides, field_docs, from_dict, to_dict  # noqa: E402

__all__ = [
    "AgentConfig", "ConfigError", "ESConfig", "EnvConfig", "LifetimeConfig", "MetaGradConfig",
    "ObjectiveConfig", "RunConfig", "apply_overrides", "field_docs", "from_dict", "to_dict", "validate",
]  # fmt: skip
