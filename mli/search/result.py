"""What :func:`mli.search.search` returns: the best model, the leaderboard, the history."""
from __future__ import annotations

from dataclasses import dataclass, field

from mli.core.base import Model

__all__ = ["SearchResult"]


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found.

    Attributes
    ----------
    best_model : Model
        The best configuration's model, as trained when it was scored (on the training
        split; ``best_model.params`` are its hyperparameters, ``max_iter`` its passes).
    best_algorithm, best_params, best_metric
        Its algorithm's name, hyperparameters and validation metric.
    metric : str
        The validation metric; ``greater_is_better`` its direction.
    leaderboard : list of dict
        One row per configuration tried, best first: ``rank``, ``algorithm``, ``params``,
        ``metric`` (its best evaluation) and ``passes`` (there), ``trained`` (the most
        passes it had), ``seconds`` (its share of the search's time, by passes),
        ``bracket``.
    history : list of dict
        Every evaluation in order: ``config`` (the configuration's id), ``algorithm``,
        ``params``, ``passes``, ``metric``, ``elapsed`` (seconds since the search started),
        ``best_so_far``.
    passes : int
        Passes spent, summed over the configurations (model-passes: a batched pass of
        ``B`` models counts ``B``).
    seconds : float
        The search's wall time.
    """

    best_model: Model
    best_algorithm: str
    best_params: dict
    best_metric: float
    metric: str
    greater_is_better: bool
    leaderboard: list = field(repr=False)
    history: list = field(repr=False)
    passes: int = 0
    seconds: float = 0.0

    def to_pandas(self):
        """The leaderboard as a pandas DataFrame (one column per hyperparameter)."""
        import pandas as pd

        rows = [{k: v for k, v in r.items() if k != "params"} | dict(r["params"])
                for r in self.leaderboard]
        return pd.DataFrame(rows)

    def plot(self, path: str) -> str:
        """Draw the search to ``path`` (PNG): each configuration's validation metric against
        the search's elapsed time, a line per configuration, and the best so far."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5))
        by_config: dict[int, list] = {}
        for h in self.history:
            by_config.setdefault(h["config"], []).append((h["elapsed"], h["metric"]))
        for points in by_config.values():
            t, m = zip(*points)
            ax.plot(t, m, marker="o", markersize=3, linewidth=0.8, alpha=0.6)
        t = [h["elapsed"] for h in self.history]
        ax.step(t, [h["best_so_far"] for h in self.history], where="post", color="black",
                linewidth=2, label="best so far")
        ax.set_xlabel("seconds")
        ax.set_ylabel(f"validation {self.metric}")
        ax.set_title(f"search: {len(self.leaderboard)} configurations, {self.passes} passes")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
