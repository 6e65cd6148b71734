"""Shared pieces of the `discover` commands: argument parsers with one --section.field option per
config field, one-line usage errors, the compilation cache, and the README's CLI reference.

A command is a function `cmd(argv: list[str]) -> int | None` registered in discover.cli.COMMANDS;
the first line of its docstring is its summary in `discover --help`. It parses its own argv
(typically with `command_parser` + `add_config_options` + `parse`), handles --help itself and
raises UsageError or ConfigError (one line) for bad input. Giving the function a `parser`
attribute (a zero-argument callable returning its parser) puts its options in the README's
reference as a table; otherwise its --help text is shown there.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

from discover.config import ConfigError
from discover.config_io import field_docs

# Config fields that only meta-training reads; `discover baseline` does not offer them.
TRAIN_ONLY = ("generations", "meta_optimizer", "checkpoint_every", "gens_per_call", "heldout_every",
              "heldout_tasks", "flat_warn_after", "watchdog_s", "wandb", "wandb_project", "distributed",
              "es.", "metagrad.")  # fmt: skip


class UsageError(ConfigError):
    """The command line is malformed; the message is one line."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line raises UsageError instead of printing usage and exiting,
    and options are never abbreviated (a typo must not silently set another field)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


class HelpShown(Exception):
    """--help was printed; the command is done (exit 0)."""


def command_parser(name: str, doc: str, usage: str | None = None) -> Parser:
    """A parser for `discover NAME`; its description is the command's docstring."""
    return Parser(prog=f"discover {name}", description=doc.strip(), usage=usage, add_help=True)


def config_fields(exclude: tuple = ()) -> list[dict]:
    """field_docs() rows except paths starting with any of `exclude`."""
    return [r for r in field_docs() if not any(r["path"] == e or (e.endswith(".") and r["path"].startswith(e)) for e in exclude)]


def _option_help(row: dict) -> str:
    applies = f" [{'/'.join(row['applies'])} only]" if row["applies"] else ""
    return f"{row['help']}{applies} (default: {row['default'] if row['default'] != '' else repr('')})"


def add_config_options(parser: Parser, exclude: tuple = ()) -> list[str]:
    """One `--section.field VALUE` option per config field (values are parsed and checked later
    by discover.config.apply_overrides); returns the field paths."""
    group = parser.add_argument_group("config fields (every field of discover.RunConfig; see README)")
    paths = []
    for row in config_fields(exclude):
        group.add_argument(f"--{row['path']}", dest=f"cfg:{row['path']}", metavar=row["type"].upper(),
                           default=None, help=_option_help(row))  # fmt: skip
        paths.append(row["path"])
    return paths


def parse(parser: Parser, argv) -> tuple[argparse.Namespace, list[tuple[str, str]]]:
    """(namespace of the command's own options, [(field path, text)] config overrides; their
    order does not matter). Raises HelpShown after printing --help, UsageError for a bad
    command line."""
    try:
        ns, unknown = parser.parse_known_args(list(argv))
    except SystemExit as e:  # only --help exits (errors raise UsageError)
        if e.code in (0, None):
            raise HelpShown() from None
        raise UsageError(f"bad arguments (see {parser.prog} --help)") from None
    if unknown:
        raise UsageError(_unknown(parser, unknown[0]))
    overrides = [(key[4:], value) for key, value in vars(ns).items() if key.startswith("cfg:") and value is not None]
    return ns, overrides


def _unknown(parser: Parser, arg: str) -> str:
    """The message for an unrecognised argument, naming what would be valid where it can."""
    import difflib

    if not arg.startswith("-"):
        return f"unexpected argument {arg!r} (see {parser.prog} --help)"
    name = arg.split("=", 1)[0]
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    inside = [o for o in options if o.startswith(f"{name}.")]
    if inside:
        return f"{name} is a section; set one of its fields, e.g. {inside[0]} (see {parser.prog} --help)"
    section = name[2:].rsplit(".", 1)[0] + "." if "." in name else None
    if section and any(o.startswith(f"--{section}") for o in options):
        fields = [o[len(section) + 2 :] for o in options if o.startswith(f"--{section}")]
        return f"unknown option {name} ({section[:-1]} has: {', '.join(fields)})"
    close = difflib.get_close_matches(name, options, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else f" (see {parser.prog} --help)"
    return f"unknown option {name}{hint}"


# --------------------------------------------------------------------------- compilation cache

CACHE_ENV = "DISCOVER_COMPILATION_CACHE"  # "0"/"off": no persistent cache; a path: use it


def cache_dir() -> Path | None:
    """Where the persistent XLA compilation cache lives, or None when it is off.

    JAX_COMPILATION_CACHE_DIR (JAX's own setting) wins; DISCOVER_COMPILATION_CACHE=0 turns the
    cache off, or names a directory; else $XDG_CACHE_HOME/discover/jax (~/.cache/discover/jax).
    """
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    setting = os.environ.get(CACHE_ENV, "").strip()
    if setting.lower() in ("0", "off", "false", "no"):
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "discover" / "jax"


def enable_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache, so repeated runs and evaluations of the same
    programs load them instead of compiling again. A directory that cannot be created just
    leaves the cache off."""
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    return path


# ------------------------------------------------------------------------------ CLI reference

REFERENCE_START, REFERENCE_END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


@contextlib.contextmanager
def _columns(n: int):
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _own_options(parser: Parser) -> list[str]:
    rows = []
    for a in parser._actions:  # argparse keeps no public list of its actions
        if a.dest.startswith("cfg:") or not a.option_strings:
            continue
        flags = ", ".join(a.option_strings) + (f" {a.metavar or a.dest.upper()}" if a.nargs != 0 else "")
        rows.append(f"| `{flags}` | {(a.help or '').replace('|', '/')} |")
    return rows


def reference_markdown(commands: dict) -> str:
    """The README's CLI reference, generated from the commands and the config dataclasses."""
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `discover {n}` | {summary(fn)} |" for n, fn in commands.items()]
    for name, fn in commands.items():
        lines += ["", f"#### `discover {name}`", ""]
        if hasattr(fn, "parser"):
            parser = fn.parser()
            with _columns(100):
                usage = parser.format_usage().strip().removeprefix("usage: ")
            usage = "\n".join(line.strip() for line in usage.splitlines())
            lines += ["```", usage, "```", "", "| option | meaning |", "|---|---|", *_own_options(parser)]
        else:
            out = io.StringIO()
            with _columns(100), contextlib.redirect_stdout(out):
                try:
                    fn(["--help"])
                except (HelpShown, SystemExit):
                    pass
            lines += ["```", out.getvalue().rstrip(), "```"]
    lines += ["", "#### Config fields", "",
              "Every field of `discover.RunConfig`, as `--section.field VALUE` on `discover train` (and, except "
              "the meta-training fields, on `discover baseline`):", "",
              "| option | type | default | meaning |", "|---|---|---|---|"]  # fmt: skip
    for row in field_docs():
        default = row["default"] if row["default"] != "" else "''"
        applies = f" ({'/'.join(row['applies'])} only)" if row["applies"] else ""
        lines.append(f"| `--{row['path']}` | {row['type']} | `{default}` | {row['help'].replace('|', '/')}{applies} |")
    return "\n".join(lines) + "\n"


def summary(fn) -> str:
    """The first line of a command's docstring."""
    return ((fn.__doc__ or "").strip().splitlines() or [""])[0]


def sync_readme(readme, commands: dict, write: bool = False) -> bool:
    """Whether README's reference block equals the generated one (rewriting it if write)."""
    path = Path(readme)
    text = path.read_text()
    start, end = text.find(REFERENCE_START), text.find(REFERENCE_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {REFERENCE_START} ... {REFERENCE_END} block")
    block = text[start + len(REFERENCE_START) : end]
    want = "\n" + reference_markdown(commands)
    if block == want:
        return True
    if write:
        path.write_text(text[: start + len(REFERENCE_START)] + want + text[end:])
    return False
