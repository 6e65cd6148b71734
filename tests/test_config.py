"""Config validation: bad values raise a one-line ConfigError; overrides and dict round trips."""

import dataclasses
import json

import pytest

from discover.config import (
    AgentConfig,
    ConfigError,
    ESConfig,
    LifetimeConfig,
    ObjectiveConfig,
    RunConfig,
    apply_overrides,
    from_dict,
    to_dict,
)


def _one_line_error(fn, *match):
    with pytest.raises(ConfigError) as info:
        fn()
    msg = str(info.value)
    assert msg and "\n" not in msg, f"message should be one non-empty line: {msg!r}"
    for m in match:
        assert m in msg, f"{m!r} not in {msg!r}"
    return msg


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


def test_defaults_build():
    cfg = RunConfig()
    assert cfg.objective.name == "ppo"
    assert cfg.es.population % 2 == 0


def test_odd_population_with_antithetic():
    _one_line_error(lambda: ESConfig(population=7, antithetic=True), "es.population", "7")
    # The same odd population is fine without antithetic sampling (and a non-winloss shaping).
    cfg = ESConfig(population=7, antithetic=False, shaping="centered_rank")
    assert cfg.population == 7


def test_unknown_strategy():
    msg = _one_line_error(lambda: ESConfig(strategy="NotAnES"), "es.strategy", "NotAnES")
    assert "Open_ES" in msg  # names the valid choices


def test_unknown_objective_name():
    msg = _one_line_error(lambda: ObjectiveConfig(name="trpo"), "objective.name", "trpo")
    for valid in ("ppo", "lpo", "ta-lpg"):
        assert valid in msg


@pytest.mark.parametrize("value", [0, -3])
def test_lifetime_not_positive(value):
    _one_line_error(lambda: LifetimeConfig(lifetime=value), "lifetime.lifetime", str(value))


@pytest.mark.parametrize("value", [0, -1])
def test_num_envs_not_positive(value):
    _one_line_error(lambda: LifetimeConfig(num_envs=value), "lifetime.num_envs", str(value))


def test_other_bad_values():
    _one_line_error(lambda: AgentConfig(lr=0.0), "agent.lr")
    _one_line_error(lambda: ObjectiveConfig(gamma=1.5), "objective.gamma")
    _one_line_error(lambda: ESConfig(strategy_kwargs="{not json"), "es.strategy_kwargs")
    _one_line_error(lambda: ESConfig(population=32, chunk_size=5), "es.chunk_size")


def test_apply_overrides_parses_types():
    cfg = apply_overrides(RunConfig(), [("es.population", "32"), ("objective.name", "lpo")])
    assert cfg.es.population == 32 and isinstance(cfg.es.population, int)
    assert cfg.objective.name == "lpo"
    # Untouched fields keep their values; the input config is not mutated (frozen).
    assert cfg.es.sigma == RunConfig().es.sigma
    assert RunConfig().es.population == 16

    cfg = apply_overrides(
        RunConfig(),
        [("agent.lr", "1e-3"), ("es.antithetic", "false"), ("es.shaping", "z_score"), ("agent.hidden", "32,16"), ("seed", "4")],
    )
    assert cfg.agent.lr == pytest.approx(1e-3)
    assert cfg.es.antithetic is False
    assert cfg.agent.hidden == (32, 16)
    assert cfg.seed == 4


def test_apply_overrides_validates_result():
    _one_line_error(lambda: apply_overrides(RunConfig(), [("es.population", "33")]), "es.population")
    _one_line_error(lambda: apply_overrides(RunConfig(), [("es.population", "many")]), "integer")
    _one_line_error(lambda: apply_overrides(RunConfig(), [("es.antithetic", "maybe")]), "true/false")


def test_apply_overrides_unknown_path_names_valid_fields():
    msg = _one_line_error(lambda: apply_overrides(RunConfig(), [("es.popsize", "32")]), "es.popsize")
    for valid in ("population", "sigma", "strategy"):
        assert valid in msg
    msg = _one_line_error(lambda: apply_overrides(RunConfig(), [("nosuchsection.x", "1")]), "nosuchsection")
    for valid in ("es", "objective", "lifetime"):
        assert valid in msg
    # A section is not a value.
    _one_line_error(lambda: apply_overrides(RunConfig(), [("es", "1")]), "section")


def test_to_dict_from_dict_json_round_trip():
    cfg = apply_overrides(
        RunConfig(),
        [("objective.name", "ta-lpg"), ("agent.hidden", "32"), ("objective.lpg_embed", "8,1"), ("es.population", "8")],
    )
    data = json.loads(json.dumps(to_dict(cfg)))
    back = from_dict(RunConfig, data)
    assert back == cfg
    assert isinstance(back.agent.hidden, tuple) and isinstance(back.objective.lpg_embed, tuple)
    assert dataclasses.is_dataclass(back.es)
    # Unknown keys in a stored config are rejected with the valid fields named.
    data["es"]["bogus"] = 1
    msg = _one_line_error(lambda: from_dict(RunConfig, data), "bogus")
    assert "population" in msg


def test_stored_config_from_before_a_field_existed_keeps_its_behaviour():
    """A run stored before a field existed (discover.config_io._ADDED) loads with the value it ran
    with, not the new default (KL(y_hat || y), constant sigma, no held-back evaluation); any
    other missing field is still refused."""
    from discover.config_io import _ADDED

    data = to_dict(RunConfig())
    for path in _ADDED:
        *sections, name = path.split(".")
        section = data
        for s in sections:
            section = section[s]
        del section[name]
    old = from_dict(RunConfig, data, complete=True)
    assert old.objective.lpg_kl_direction == "yhat_y" and RunConfig().objective.lpg_kl_direction == "y_yhat"
    assert (old.es.sigma_decay, old.es.sigma_min, old.heldout_every) == (1.0, 0.0, 0)
    # A user's partial config still gets the current defaults.
    assert from_dict(RunConfig, data).objective.lpg_kl_direction == "y_yhat"
    assert from_dict(RunConfig, data).heldout_every == RunConfig().heldout_every
    del data["es"]["population"]
    _one_line_error(lambda: from_dict(RunConfig, data, complete=True), "es.population", "missing")
