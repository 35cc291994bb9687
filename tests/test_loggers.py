"""The TensorBoard logger read back with TensorBoard's event reader; a missing optional
package names the extra to install."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
    EventAccumulator,
)

from elbox import VAETrainingConfig
from elbox.data import batches
from elbox.training import TensorBoardLogger, Trainer, WandbLogger

from .helpers import make_trainer, patterns

STEP_TAGS = {"train/loss", "train/recon_loss", "train/kl_loss", "train/kl_weight"}
EPOCH_TAGS = {"epoch/loss", "epoch/val_neg_elbo", "epoch/val_loss", "epoch/epoch"}


def _events(logdir: Path) -> Any:
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_tensorboard_logger_in_a_fit(tmp_path: Path) -> None:
    data = np.asarray(patterns(64), np.float32)  # 12 features, drawn as 3x4 images
    vae = make_trainer("equinox", VAETrainingConfig(kl_annealing="linear", kl_warmup_steps=8))
    logger = TensorBoardLogger(
        tmp_path / "tb", examples=data[:4], image_shape=(3, 4, 1), images_every_n_epochs=2
    )
    Trainer(vae, callbacks=[logger], loss_type="bce_logits").fit(
        batches(data, 16), epochs=3, val_data=[data[:16]]
    )
    events = _events(tmp_path / "tb")
    tags = events.Tags()
    assert set(tags["scalars"]) >= STEP_TAGS
    assert set(tags["scalars"]) >= EPOCH_TAGS
    assert [e.step for e in events.Scalars("train/loss")] == list(range(12))
    assert [e.step for e in events.Scalars("epoch/val_neg_elbo")] == [4, 8, 12]
    weights = [e.value for e in events.Scalars("train/kl_weight")]
    np.testing.assert_allclose(weights[:9], [min(1.0, s / 8) for s in range(9)], rtol=1e-6)
    # Images after epoch 2 (every 2) and after the last: 4 inputs over 4 reconstructions.
    assert set(tags["images"]) == {"images/reconstructions", "images/samples"}
    images = events.Images("images/reconstructions")
    assert [e.step for e in images] == [8, 12]
    assert (images[0].height, images[0].width) == (2 * 3 + 3, 4 * 4 + 5)


@pytest.mark.usefixtures("without_extras")
def test_a_missing_package_names_the_extra(tmp_path: Path) -> None:
    # The package's own install line, and the extra's, which works from a clone.
    tensorboard = (
        r"TensorBoardLogger needs the tensorboardX package: pip install tensorboardX "
        r"\(or elbox's extra 'tensorboard': pip install '\.\[tensorboard\]' in a clone"
    )
    with pytest.raises(ImportError, match=tensorboard):
        TensorBoardLogger(tmp_path)
    wandb = (
        r"WandbLogger needs the wandb package: pip install wandb "
        r"\(or elbox's extra 'wandb': pip install '\.\[wandb\]' in a clone"
    )
    with pytest.raises(ImportError, match=wandb):
        WandbLogger("project")


@pytest.mark.usefixtures("without_hook_checks")  # the logger's own messages, not the hook's
def test_bad_image_settings_are_refused_with_what_they_need(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"images_every_n_epochs must be an int >= 0; got -1"):
        TensorBoardLogger(tmp_path / "a", images_every_n_epochs=-1)
    with pytest.raises(ValueError, match="images_every_n_epochs must be an int >= 0; got True"):
        TensorBoardLogger(tmp_path / "b", images_every_n_epochs=True)
    vectors = np.zeros((4, 12), np.float32)
    with pytest.raises(ValueError, match=r"image_shape is needed .* of shape \(4, 12\)"):
        TensorBoardLogger(tmp_path / "c", examples=vectors)
    # Images with channels last need no shape; never drawing needs no examples' shape.
    images = TensorBoardLogger(tmp_path / "d", examples=np.zeros((4, 3, 4, 1), np.float32))
    never = TensorBoardLogger(tmp_path / "e", examples=vectors, images_every_n_epochs=0)
    assert (images.images_every_n_epochs, never.images_every_n_epochs) == (10, 0)
