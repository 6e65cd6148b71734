"""`discover train-agent --objective NAME`: train agents with a pretrained, discovered or
hand-designed objective on any environment."""

from __future__ import annotations

import json
import time
from argparse import RawDescriptionHelpFormatter
from pathlib import Path

import numpy as np

from discover.commands._args import Parser, parse, positive_int


def make_parser() -> Parser:
    from discover import agent_training

    p = Parser(prog="discover train-agent", description=agent_training.__doc__, formatter_class=RawDescriptionHelpFormatter)
    p.add_argument("--objective", required=True,
                   help="a shipped name (see `discover pretrained`), a run directory, or ppo / a2c / dpo")
    p.add_argument("--seeds", type=positive_int, default=4, help="agents, vmapped in one program (default 4)")
    p.add_argument("--updates", type=positive_int, default=None,
                   help="lifetime N in agent updates (default: the objective's meta-training lifetime)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output directory (default runs/agent-OBJECTIVE-ENV-TIME)")
    return p


def main(argv) -> int:
    """Train agents on an environment with a pretrained or hand-designed objective."""
    from discover.config import to_dict
    from discover.evaluate import summarise
    from discover.plots import plot_learning_curve
    from discover.agent_training import train_agent

    args, overrides = parse(make_parser(), argv, sections=("env", "agent", "lifetime", "objective"))
    env = dict(overrides).get("env.name")
    dist = dict(overrides).get("env.distribution", "")
    rest = [(k, v) for k, v in overrides if not k.startswith("env.")]
    if dist and not env:
        env = "gridworld"
    spec = f"{env}:{dist}" if dist else env
    r = train_agent(args.objective, spec, args.seeds, args.updates, rest, args.seed)
    label = Path(args.objective).name
    out = Path(args.out) if args.out else Path("runs") / f"agent-{label}-{r['env'].replace(':', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(r["config"]), indent=1) + "\n")
    summary = {k: v for k, v in r.items() if k not in ("curve", "config")}
    summary["final_returns"] = r["final_returns"].tolist()
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    np.save(out / "curve.npy", r["curve"])
    steps = r["env_steps"] // r["updates"]
    plot_learning_curve(r["curve"], out / "learning_curve.png", f"{label} on {r['env']}", steps)
    ci = summarise(r["final_returns"])
    print(f"{label} on {r['env']}: final return {ci['mean']:.4g} [95% CI {ci['ci_lo']:.4g}, {ci['ci_hi']:.4g}] "
          f"over {args.seeds} seeds, {r['updates']} updates ({r['env_steps']} env steps) each, {r['wall_time_s']:.0f}s")
    print(f"results in {out}")
    return 0
