"""The researcher-workflow commands of the `discover` CLI: evaluate, plot, sweep, pretrained,
train-agent. Each is `function(argv) -> int | None` whose docstring's first line is its summary;
modules are imported only when their command runs, so `discover --help` stays fast."""

from __future__ import annotations

import importlib


def _lazy(module: str, summary: str):
    def command(argv):
        run = importlib.import_module(f"discover.commands.{module}").main
        try:
            return run(argv)
        except SystemExit as e:  # argparse's --help exits 0 after printing
            if e.code in (0, None):
                return 0
            raise

    command.__doc__ = summary
    command.__name__ = f"cmd_{module}"
    return command


COMMANDS = {
    "evaluate": _lazy("evaluate", "Evaluate a run's objective on environments x horizons against the hand-designed baseline."),
    "plot": _lazy("plot", "Regenerate every figure of a run (or sweep) directory from its saved data."),
    "sweep": _lazy("sweep", "Train agents over seeds and inner-loop hyperparameters, vmapped in one program where shapes allow."),
    "pretrained": _lazy("pretrained", "List the discovered objectives shipped with the package."),
    "train-agent": _lazy("train_agent", "Train agents on an environment with a pretrained or hand-designed objective."),
}
