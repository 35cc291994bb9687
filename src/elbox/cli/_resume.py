"""What `elbox train --resume` may change: the options that don't alter what a run computes."""

import json
from pathlib import Path

from ._errors import RunError
from ._options import TrainOptions
from ._run_files import CONFIG_FILE

# Options that may change when a run is resumed: they don't alter what it computes (or,
# for early stopping, only when it stops).
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
}


def check_same_run(folder: Path, options: TrainOptions) -> None:
    saved = json.loads((folder / CONFIG_FILE).read_text())["options"]
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
            f"--resume: {folder} was trained with other options ({described}); repeat the "
            "original options (--epochs and the loop and logging options may change)"
        )
