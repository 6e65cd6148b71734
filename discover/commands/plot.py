"""`discover plot DIR`: regenerate every figure of a run, evaluation or sweep directory."""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter

from discover.commands._args import Parser, parse


def make_parser() -> Parser:
    from discover.plots import directory

    p = Parser(prog="discover plot", description=directory.__doc__,
               formatter_class=RawDescriptionHelpFormatter)
    p.add_argument("dir", help="a directory written by discover train, evaluate, sweep or baseline")
    p.add_argument("--format", default="png", choices=("png", "pdf", "svg"), help="figure format (default png)")
    p.add_argument("--recompute", action="store_true",
                   help="recompute cached analysis data (LPG interpretation) instead of reusing it")
    return p


def main(argv) -> int:
    """Regenerate every figure of a run (or sweep) directory from its saved data."""
    from discover.plots.directory import plot_directory

    args, _ = parse(make_parser(), argv)
    for path in plot_directory(args.dir, args.format, args.recompute):
        print(path)
    return 0
