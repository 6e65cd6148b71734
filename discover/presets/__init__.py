"""Named run configurations: the papers' reference settings (for a GPU) and small CPU variants.

`get_preset(name) -> RunConfig`; every field can still be overridden on the command line.
"""

from __future__ import annotations

from discover.presets.baselines import BASELINE_PRESETS
from discover.presets.lpg import LPG_PRESETS
from discover.presets.lpo import LPO_PRESETS

# name -> (factory, one-line description)
PRESETS = {**BASELINE_PRESETS, **LPO_PRESETS, **LPG_PRESETS}


def get_preset(name: str):
    """The RunConfig of a named preset; unknown names raise a one-line ValueError."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from: {', '.join(sorted(PRESETS))}")
    return PRESETS[name][0]()
