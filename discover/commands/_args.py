"""Argument parsing shared by the workflow commands: one-line errors and dotted overrides."""

from __future__ import annotations

import argparse


def usage_error(message: str):
    from discover.cli import UsageError

    return UsageError(message)


class Parser(argparse.ArgumentParser):
    """argparse, except that a bad argument raises UsageError (one line, exit 2 from main())
    instead of printing the usage block and exiting itself."""

    def error(self, message):
        raise usage_error(f"{self.prog}: {message}")


def parse(parser: Parser, argv, sections: tuple[str, ...] = ()):
    """(namespace, overrides [(dotted.path, text)]): flags the parser knows, and --section.field
    VALUE pairs for the given config sections (anything else is refused in one line).

    `--help` prints the parser's help and raises SystemExit(0), as argparse does.
    """
    args, rest = parser.parse_known_args(argv)
    overrides = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        key, eq, val = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if not key or key.split(".")[0] not in sections or "." not in key:
            allowed = f"; config overrides here are --{{{','.join(sections)}}}.FIELD VALUE" if sections else ""
            raise usage_error(f"{parser.prog}: unrecognised argument {arg!r}{allowed}")
        if not eq:
            if i + 1 >= len(rest):
                raise usage_error(f"{parser.prog}: --{key} needs a value")
            val = rest[i + 1]
            i += 1
        overrides.append((key, val))
        i += 1
    return args, overrides


def floats(text: str) -> tuple[float, ...]:
    """'0.25,0.5,1' -> (0.25, 0.5, 1.0); argparse turns a ValueError into a one-line error."""
    values = tuple(float(x) for x in text.split(",") if x.strip())
    if not values or any(not v > 0 for v in values):
        raise ValueError(text)
    return values


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())
