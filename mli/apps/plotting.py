"""What the command line's ``--plot`` options share: matplotlib is optional (the ``plot``
extra), so its absence is reported when the command starts, before any work, never after
a long run."""
from __future__ import annotations

__all__ = ["require_matplotlib", "pyplot"]


def require_matplotlib(option: str = "--plot") -> None:
    """ValueError naming the extra to install when matplotlib cannot be imported."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError(f"{option} needs matplotlib, which is not installed: "
                         "pip install 'mli[plot]' (or pip install matplotlib), or leave out "
                         f"{option}")


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt
