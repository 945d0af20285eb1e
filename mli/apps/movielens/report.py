"""How the MovieLens workflow reports its ALS tuning: a setting, the grid's table of
validation RMSE and its plot."""
from __future__ import annotations

from typing import NamedTuple

from mli.apps.movielens.data import MovieLensError
from mli.apps.plotting import pyplot

__all__ = ["Setting", "rmse_table", "plot_grid"]


class Setting(NamedTuple):
    """One ALS setting of the tuning: bias terms, rank, regularization, iterations."""

    biases: bool
    rank: int
    reg: float
    iters: int

    def describe(self) -> str:
        return (f"rank {self.rank}, reg {self.reg:g}, {self.iters} iterations, "
                f"biases {'on' if self.biases else 'off'}")


def rmse_table(results, families, ranks, regs, iters, best) -> str:
    head = "validation RMSE".ljust(34) + "".join(f"reg {g:<7g}".rjust(12) for g in regs)
    lines = [head, "-" * len(head)]
    for b in families:
        for r in ranks:
            for i in iters:
                row = f"rank {r:3d}, {i:3d} iter, biases {'on' if b else 'off'}".ljust(34)
                for g in regs:
                    st = Setting(b, r, g, i)
                    row += f"{results[st]:11.4f}{'*' if st == best else ' '}"
                lines.append(row)
    lines.append("(* best)")
    return "\n".join(lines)


def plot_grid(results, families, ranks, regs, iters, best, path, title, blend=None) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for b in families:
        for r in ranks:
            for i in iters:
                ax.plot(regs, [results[Setting(b, r, g, i)] for g in regs], marker="o",
                        linestyle="-" if b else "--",
                        label=f"rank {r}, {i} iter, biases {'on' if b else 'off'}")
    ax.scatter([best.reg], [results[best]], s=160, facecolors="none", edgecolors="black",
               zorder=5, label=f"best ({results[best]:.4f})")
    if blend is not None:
        ax.axhline(blend, color="black", linestyle=":", linewidth=1,
                   label=f"blend of best with/without biases ({blend:.4f})")
    if len(regs) > 1 and min(regs) > 0:
        ax.set_xscale("log")
    ax.set_xticks(regs)
    ax.set_xticklabels([f"{g:g}" for g in regs])
    ax.minorticks_off()
    ax.set_xlabel("regularization (reg)")
    ax.set_ylabel("validation RMSE")
    ax.set_title(f"ALS tuning on {title}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise MovieLensError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
