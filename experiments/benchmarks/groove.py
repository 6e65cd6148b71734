"""GROOVE's cost: a generation with prioritised level replay against domain randomisation.

    python -m experiments.benchmarks.groove [--gens 30] [--preset groove-tabular-cpu] [--out FILE]

Same preset, population and sizes for every case; only the curriculum differs:
  dr          domain randomisation (fresh levels, no scores)
  plr_regret  PLR + algorithmic regret (GROOVE): fresh generations also train one antagonist
              (A2C) agent per level, cached in the buffer, so replayed generations train none
  plr_pvl     PLR + positive value loss (a side critic trained beside every LPG agent)
  plr_random  PLR + random scores (buffer bookkeeping alone)
Each case runs in a fresh process (generation.run_driver): compiled ahead of time, one warm-up
generation, then `gens` timed generations with the state carried, so replay and fresh
generations alternate as in training (replay probability 0.5). Headline: mean generation time of
plr_regret / dr (target <= 1.3; the reference code, which reruns the antagonist for every agent
at every step, costs about 10x).

Writes experiments/benchmarks/results/groove_<platform>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from experiments.benchmarks.common import machine_info, write_results
from experiments.benchmarks.generation import ROOT, log, run_driver

CASES = {
    "dr": {"curriculum.name": "dr"},
    "plr_regret": {"curriculum.name": "plr", "curriculum.score": "alg_regret"},
    "plr_pvl": {"curriculum.name": "plr", "curriculum.score": "pvl"},
    "plr_random": {"curriculum.name": "plr", "curriculum.score": "random"},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gens", type=int, default=30)
    parser.add_argument("--preset", default="groove-tabular-cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    res = {"benchmark": "groove", "preset": args.preset, "gens": args.gens, "machine": machine_info(), "cases": {}}
    t0 = time.perf_counter()
    for name, overrides in CASES.items():
        out = run_driver(ROOT, {name: overrides}, args.gens, preset=args.preset)[name]
        m = out.pop("metrics")
        out["replay_fraction"] = sum(r.get("replay", 0.0) for r in m) / len(m)
        out["antagonist_lifetimes"] = sum(r.get("antagonist_lifetimes", 0) for r in m)
        res["cases"][name] = out
        log(f"{name:<11} mean {out['gen_s_mean']:.3f} s/gen (min {out['gen_s_min']:.3f}), compile {out['compile_s']:.0f} s, "
            f"replay {out['replay_fraction']:.2f}, antagonist lifetimes {out['antagonist_lifetimes']}")
    dr = res["cases"]["dr"]["gen_s_mean"]
    res["ratio_to_dr"] = {k: v["gen_s_mean"] / dr for k, v in res["cases"].items()}
    res["total_s"] = time.perf_counter() - t0
    out = write_results(res, "groove", quick=False, out=args.out)
    log(json.dumps(res["ratio_to_dr"], indent=1))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
