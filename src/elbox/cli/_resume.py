"""What `elbox train --resume` continues with: the run's recorded options, of which only
those that don't alter what it computes may change."""

import json
from pathlib import Path
from typing import Any

from ._config_file import read_config_file
from ._errors import RunError
from ._options import TrainOptions
from ._run_files import CONFIG_FILE

# Options that may change when a run is resumed: they don't alter what it computes (or,
# for early stopping and --epochs, only when it stops).
_RESUMABLE_CHANGES = {
    "epochs",
    "output",
    "resume",
    "overwrite",
    "early_stopping",
    "steps_per_dispatch",
    "checkpoint_every",
    "keep_checkpoints",
    "log",
    "log_images_every",
    "wandb_project",
    "distributed",
    "data_dir",
    "no_download",
    "eval_samples",
    "eval_examples",
}


def read_run_config(folder: Path) -> dict[str, Any]:
    """A run folder's config.json.

    Raises:
        RunError: when it is missing, unreadable or damaged (naming the line).
    """
    path = folder / CONFIG_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RunError(f"{folder} holds no elbox run (no {CONFIG_FILE})") from None
    except OSError as error:
        raise RunError(f"{path} cannot be read: {error.strerror or error}") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise RunError(
            f"{path} is damaged: not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}); elbox writes it whole, so it was changed afterwards: restore it"
        ) from None
    if not isinstance(record, dict) or not isinstance(record.get("options"), dict):
        raise RunError(f"{path} is damaged: it holds no table of options; restore it")
    return record


def recorded_options(folder: Path) -> dict[str, Any]:
    """The options `folder`'s run was started with (none when it holds no config.json, which
    `--resume` reports later), as `--config FOLDER/config.json` reads them.

    Raises:
        RunError: when its config.json is damaged.
    """
    if not (folder / CONFIG_FILE).exists():
        return {}
    read_run_config(folder)  # a damaged file is named as the run's, not as a --config
    return read_config_file(folder / CONFIG_FILE)


def check_same_run(folder: Path, options: TrainOptions) -> None:
    saved = read_run_config(folder)["options"]
    current = options.to_json()
    # An option added since the run was made counts as having had its default.
    defaults = TrainOptions().to_json()
    changed = {
        name: (saved.get(name, defaults[name]), value)
        for name, value in current.items()
        if name not in _RESUMABLE_CHANGES and saved.get(name, defaults[name]) != value
    }
    if changed:
        described = ", ".join(
            f"--{k.replace('_', '-')} {a!r} -> {b!r}" for k, (a, b) in changed.items()
        )
        raise RunError(
            f"--resume: {folder} was trained with other options ({described}); leave them out "
            "to continue with the run's own (only --epochs and the loop, logging and "
            "evaluation options may change)"
        )


def length_note(saved: dict[str, Any], options: TrainOptions) -> str | None:
    """What a resume with another --epochs does to the schedules, in a line (None when the
    length is unchanged): they keep the lengths, in steps, the run started with."""
    before = int(saved["options"].get("epochs", options.epochs))
    if before == options.epochs:
        return None
    config = saved.get("vae_config", {})
    kept = []
    if config.get("kl_annealing") == "cyclical":
        kept.append(f"cyclical period {config.get('cyclical_period')} steps")
    elif config.get("kl_annealing") in ("linear", "sigmoid"):
        kept.append(f"KL warm-up {config.get('kl_warmup_steps')} steps")
    objective = saved.get("objective") or {}
    if objective.get("capacity_steps") is not None:
        kept.append(f"capacity ramp {objective['capacity_steps']} steps")
    schedules = f" ({', '.join(kept)})" if kept else ""
    return (
        f"--epochs {options.epochs} changes the run's length from {before} epochs; its "
        f"schedules keep the lengths they were given for {before} epochs{schedules}"
    )
