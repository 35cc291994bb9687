"""Draw the four KL weight schedules of `VAETrainingConfig` against the training step.

    python docs/scripts/plot_schedules.py [OUTPUT.png]

The curves are computed by elbox itself: `schedule_from_config` builds each schedule from
a `VAETrainingConfig`, and the schedule is evaluated at every step, exactly as the trainer
does. The docs build (`docs/hooks.py`) runs `render_png` and serves the figure as
`images/kl_schedules.png`; nothing drawn here is committed.
"""

import io
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # draw without a display, and before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np

from elbox import VAETrainingConfig, schedule_from_config

# The settings of the figure: beta 1 and the default warm-up and period, over three
# periods of the cyclical schedule.
BETA = 1.0
WARMUP_STEPS = 10_000
PERIOD = 10_000
STEPS = 30_000
SCHEDULES = {
    "none": "constant: beta",
    "linear": "linear: beta * min(1, step / W)",
    "sigmoid": "sigmoid: beta * sigmoid((step - W/2) / (W/10))",
    "cyclical": "cyclical: ramp over P/2, hold over P/2",
}
COLOURS = {
    "none": "tab:gray",
    "linear": "tab:blue",
    "sigmoid": "tab:green",
    "cyclical": "tab:red",
}


def schedule_curves(steps: int = STEPS) -> dict[str, np.ndarray]:
    """The KL weight of each schedule at steps `0 .. steps`, computed by elbox."""
    step = jnp.arange(steps + 1)
    curves = {}
    for name in SCHEDULES:
        config = VAETrainingConfig(
            kl_annealing=name,  # type: ignore[arg-type]  # the names of KLAnnealing
            kl_warmup_steps=WARMUP_STEPS,
            beta=BETA,
            cyclical_period=PERIOD,
        )
        # One scalar step at a time, as the trainer calls it (vmapped for speed).
        curves[name] = np.asarray(jax.vmap(schedule_from_config(config))(step))
    return curves


def render_png() -> bytes:
    """The figure as PNG bytes (the same bytes for the same elbox and matplotlib)."""
    curves = schedule_curves()
    steps = np.arange(STEPS + 1)
    figure, axes = plt.subplots(
        2, 2, figsize=(9, 5.5), sharex=True, sharey=True
    )
    for axis, (name, title) in zip(axes.flat, SCHEDULES.items(), strict=True):
        axis.plot(steps, curves[name], color=COLOURS[name], linewidth=2)
        axis.set_title(f'kl_annealing="{name}"', fontsize=11)
        axis.text(
            0.98,
            0.06,
            title,
            transform=axis.transAxes,
            ha="right",
            fontsize=8.5,
        )
        axis.set_ylim(-0.05, 1.15)
        axis.set_xlim(0, STEPS)
        axis.grid(alpha=0.3)
        if name in ("linear", "sigmoid"):
            axis.axvline(
                WARMUP_STEPS, color="black", linestyle=":", linewidth=1
            )
    for axis in axes[1]:
        axis.set_xlabel("step")
    for axis in axes[:, 0]:
        axis.set_ylabel("KL weight / beta")
    figure.suptitle(
        f"KL weight schedules (kl_warmup_steps W = {WARMUP_STEPS}, cyclical_period P = {PERIOD})"
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    # No timestamp or version in the file, so an unchanged figure gives unchanged bytes.
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def main(argv: list[str]) -> None:
    output = Path(argv[1]) if len(argv) > 1 else Path("kl_schedules.png")
    output.write_bytes(render_png())
    print(output)


if __name__ == "__main__":
    main(sys.argv)
