"""`discover pretrained`: the discovered objectives shipped with the package."""

from __future__ import annotations

from discover.commands._args import Parser, parse


def main(argv) -> int:
    """List the discovered objectives shipped with the package."""
    from discover import pretrained

    p = Parser(prog="discover pretrained", description="Lists the shipped discovered objectives with their "
               "provenance; load one with discover.load(NAME) or train with it: discover train-agent --objective NAME.")
    p.add_argument("name", nargs="?", help="print this objective's full provenance (JSON)")
    args, _ = parse(p, argv)
    if args.name:
        import json

        print(json.dumps(pretrained.provenance(args.name), indent=1))
        return 0
    for name in pretrained.names():
        prov = pretrained.provenance(name)
        s = prov["summary"]
        print(f"{name:<22} {prov['description']}")
        print(f"{'':<22} preset {prov['preset']}, {prov['generations']} generations on {prov['machine']}, "
              f"commit {prov['commit'][:12]}; held-back return {s['eval_return_discovered']:.3g} "
              f"(initial {s['eval_return_init']:.3g})")
    return 0
