"""Config dataclasses to and from plain dicts (a run's config.json) and dotted overrides.

Reading is strict: every value must already have its field's type ("16" is not an integer,
10.5 is not an integer, a section must be an object), so an edited config.json is refused with
a message naming the file and the field instead of failing later or silently changing a run.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

from discover.config import ConfigError

# Fields older versions wrote that mean nothing now; ignored when reading a config.json.
_REMOVED = {"log_every"}
# Fields added after runs were already stored, with the value that reproduces what such a run
# did (not the new default): a run written before `objective.lpg_kl_direction` existed trained
# with KL(y_hat || y); one written before held-back evaluation existed made none.
_ADDED = {"objective.lpg_kl_direction": "yhat_y", "es.sigma_decay": 1.0, "es.sigma_min": 0.0,
          "heldout_every": 0, "heldout_tasks": 8, "flat_warn_after": 5, "watchdog_s": 1800.0}
_SECTION_OF_META = {"es": "es", "metagrad": "metagrad"}  # section -> meta_optimizer it applies to


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _typed(value, ftype, path: str, where: str):
    """value if it has type ftype (ints widen to floats, lists become tuples), else ConfigError."""
    got = f"got {value!r} ({type(value).__name__})"
    if ftype is bool:
        ok = isinstance(value, bool)
        want = "true or false"
    elif ftype is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "an integer"
    elif ftype is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        want = "a finite number"
        value = float(value) if ok else value
    elif ftype is str:
        ok = isinstance(value, str)
        want = "a string"
    elif ftype is tuple:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        want = "a list of integers"
        value = tuple(value) if ok else value
    else:  # pragma: no cover - a new field type must be added above
        raise TypeError(f"unsupported config field type {ftype!r} for {path}")
    if not ok:
        raise ConfigError(f"{where}{path} must be {want}, {got}")
    return value


def from_dict(cls, data, where: str = "", complete: bool = False, _prefix: str = ""):
    """Rebuild a (nested) config dataclass from a dict, e.g. a run's config.json.

    where: prefix of error messages (e.g. "runs/a/config.json: "); complete: every field must be
    present (a stored run's config, where a missing field would silently become a default).
    Raises ConfigError (one line, naming the field) for unknown, missing or mistyped fields.
    """
    section = _prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}{section} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key in _REMOVED and not _prefix:
            continue
        if key not in names:
            raise ConfigError(f"{where}unknown config field {_prefix}{key!r}; {section} has: {', '.join(names)}")
        ftype = hints[key]
        if dataclasses.is_dataclass(ftype):
            kwargs[key] = from_dict(ftype, value, where, complete, f"{_prefix}{key}.")
        else:
            kwargs[key] = _typed(value, ftype, f"{_prefix}{key}", where)
    for n in names:
        if complete and n not in kwargs and _prefix + n in _ADDED:
            kwargs[n] = _ADDED[_prefix + n]
    missing = [n for n in names if n not in kwargs]
    if complete and missing:
        shown = ", ".join(_prefix + m for m in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ConfigError(f"{where}{shown} missing; a stored run's config lists every field (a default would change the run)")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None


def _parse_value(text: str, current: Any, path: str):
    """The command-line text of --path parsed to the type of the field's current value."""
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
            raise ConfigError(f"--{path} expects an integer, got {text!r}") from None
    if isinstance(current, float):
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"--{path} expects a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"--{path} must be finite, got {text!r}")
        return value
    if isinstance(current, tuple):
        try:
            return tuple(int(x) for x in text.replace("[", "").replace("]", "").split(",") if x.strip())
        except ValueError:
            raise ConfigError(f"--{path} expects comma-separated integers, got {text!r}") from None
    return text


def field_spec(cls, path: str):
    """(dataclasses.Field, owning dataclass) of a dotted path, or None if there is no such field."""
    parts = path.split(".")
    for depth, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            return None
        ftype = _hints(cls)[part]
        if depth == len(parts) - 1:
            return fields[part], cls
        if not dataclasses.is_dataclass(ftype):
            return None
        cls = ftype
    return None


def check_applies(cfg, paths) -> None:
    """Refuse explicitly set options that the chosen objective or meta-optimiser never reads
    (they would be silently ignored): e.g. --objective.lpo_hidden with objective.name=lpg."""
    for path in paths:
        spec = field_spec(type(cfg), path)
        if spec is None:
            continue
        applies = spec[0].metadata.get("applies", ())
        if applies and cfg.objective.name not in applies:
            raise ConfigError(
                f"--{path} applies to objective.name {'/'.join(applies)}, not {cfg.objective.name}; it would be ignored"
            )
        section = path.split(".")[0]
        meta = _SECTION_OF_META.get(section)
        if meta and "." in path and getattr(cfg, "meta_optimizer", meta) != meta:
            raise ConfigError(f"--{path} applies to meta_optimizer={meta}, not {cfg.meta_optimizer}; it would be ignored")


def apply_overrides(cfg, pairs, check: bool = True):
    """Return cfg with dotted command-line overrides applied, validated once at the end.

    pairs: iterable of (path, text), e.g. ("es.population", "32"). Values are parsed to the
    type of the field they replace; the whole config is rebuilt (and so validated) after all
    overrides, so their order never matters. check: also refuse options that do not apply to
    the resulting objective or meta-optimiser.
    """
    pairs = list(pairs)
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
    out = from_dict(type(cfg), data)
    if check:
        check_applies(out, [p for p, _ in pairs])
    return out


def _type_name(ftype) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str", tuple: "ints"}.get(ftype, getattr(ftype, "__name__", str(ftype)))


def field_docs(cls=None, prefix: str = "") -> list[dict]:
    """Every leaf field of a config class (default RunConfig) as {path, type, default, help, applies}."""
    if cls is None:
        from discover.config import RunConfig

        cls = RunConfig
    rows = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        ftype = hints[f.name]
        if dataclasses.is_dataclass(ftype):
            rows.extend(field_docs(ftype, f"{prefix}{f.name}."))
            continue
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(str(x) for x in default)
        elif isinstance(default, bool):
            default = str(default).lower()
        rows.append(dict(path=prefix + f.name, type=_type_name(ftype), default=default,
                         help=f.metadata.get("help", ""), applies=f.metadata.get("applies", ())))  # fmt: skip
    return rows
