"""Re-create the pretrained objectives shipped in discover/pretrained/ (CPU, about 6 minutes).

    python -m experiments.make_pretrained [--out runs/pretrained] [--names ta-lpo-quickstart,lpg-tabular]

For each name: meta-train its preset from scratch, evaluate it (16 seeds, horizons 0.25x-4x),
then package discovered.msgpack with its provenance (preset, config, commit, fitness curve,
evaluation summary) into discover/pretrained/NAME/.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from discover.cli import main as cli
from discover.pretrained.export import export

SHIPPED = {
    "ta-lpo-quickstart": ("quickstart", "TA-LPO drift discovered on CartPole-v1 with 24-update lifetimes "
                          "(preset quickstart, 100 generations x 16)"),
    "lpg-tabular": ("lpg-es-tabular-cpu", "LPG discovered for tabular SGD agents on gridworld levels sparse+dense, "
                    "50-update lifetimes (40 generations x 16)"),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/pretrained")
    p.add_argument("--names", default=",".join(SHIPPED))
    p.add_argument("--machine", default=None, help="how to describe this machine in the provenance")
    args = p.parse_args(argv)
    for name in args.names.split(","):
        preset, description = SHIPPED[name]
        run = Path(args.out) / name
        shutil.rmtree(run, ignore_errors=True)
        for command in (["train", "--preset", preset, "--out", str(run)], ["evaluate", str(run), "--seeds", "16"],
                        ["plot", str(run)]):
            if cli(command) != 0:
                raise SystemExit(f"discover {' '.join(command)} failed")
        print(export(run, name, preset, description, machine=args.machine))


if __name__ == "__main__":
    main()
