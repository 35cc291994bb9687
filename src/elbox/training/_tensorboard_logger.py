"""A callback that writes a fit's metrics and image panels to TensorBoard event files."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, final

import numpy as np
import numpy.typing as npt

from ._experiment_logger import AbstractExperimentLogger, import_extra
from ._protocols import TrainingLoop


@final
class TensorBoardLogger(AbstractExperimentLogger):
    """Writes every step's metrics, each epoch's logs and image panels for TensorBoard.

    Uses tensorboardX, an optional package: `pip install tensorboardX` (or
    elbox's extra: `pip install '.[tensorboard]'` in a clone of elbox). View the
    logs with `tensorboard --logdir LOGDIR`.

    Tags: `train/<metric>` for every step (`train/loss`, `train/recon_loss`,
    `train/kl_loss`, `train/kl_weight`, `train/skipped`), `epoch/<log>` for every epoch at
    the number of steps done (`epoch/loss`, `epoch/val_neg_elbo`, `epoch/val_loss`, ...,
    `epoch/epoch`, `epoch/seconds`), and with `examples`, the images
    `images/reconstructions` and `images/samples` every `images_every_n_epochs` epochs and
    after the last. A resumed fit hides the events its interrupted predecessor wrote
    after the checkpoint (TensorBoard's `purge_step`), so the curves read as one run. With
    several processes only process 0 writes.

    Args:
        logdir: the folder of the event files (created if needed).
        examples: examples to reconstruct in the image panels, shaped as the model takes
            them (e.g. 8 validation examples); None logs no images.
        image_shape: `(height, width, channels)` of an example, when the model takes them
            flattened.
        value_range: the data's range, shown as black to white.
        images_every_n_epochs: how often to draw the panels (0: never).
        num_samples: how many prior samples to draw.
        seed: the seed of the prior samples.
        flush_seconds: how often the event file is flushed.

    Raises:
        ImportError: when tensorboardX is not installed, naming the extra to install.

    Example:
        >>> import tempfile
        >>> import jax, optax
        >>> from elbox import VAETrainer
        >>> from elbox.data import batches
        >>> from elbox.models.equinox import MLPVAE
        >>> from elbox.training import TensorBoardLogger, Trainer
        >>> data = jax.random.uniform(jax.random.key(1), (64, 16))
        >>> vae = VAETrainer(MLPVAE(16, hidden=16, latent=2, key=jax.random.key(0)),
        ...                  optax.adam(1e-3))
        >>> logger = TensorBoardLogger(tempfile.mkdtemp(), examples=data[:4],
        ...                            image_shape=(4, 4, 1))
        >>> _ = Trainer(vae, callbacks=[logger], loss_type="bce_logits").fit(
        ...     batches(data, 16), epochs=2)
        >>> any(p.name.startswith("events.out") for p in logger.logdir.iterdir())
        True
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        *,
        examples: npt.ArrayLike | None = None,
        image_shape: tuple[int, int, int] | None = None,
        value_range: tuple[float, float] = (0.0, 1.0),
        images_every_n_epochs: int = 10,
        num_samples: int = 16,
        seed: int = 0,
        flush_seconds: float = 10.0,
    ) -> None:
        self._tensorboardx = import_extra("tensorboardX", "tensorboard", "TensorBoardLogger")
        super().__init__(
            examples=examples,
            image_shape=image_shape,
            value_range=value_range,
            images_every_n_epochs=images_every_n_epochs,
            num_samples=num_samples,
            seed=seed,
        )
        self.logdir = Path(logdir)
        self.flush_seconds = flush_seconds
        self._writer: Any = None

    def _open(self, trainer: TrainingLoop, resume_step: int | None) -> None:
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._writer = self._tensorboardx.SummaryWriter(
            str(self.logdir), purge_step=resume_step, flush_secs=self.flush_seconds
        )

    def _scalars(self, step: int, values: Mapping[str, float]) -> None:
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, step)

    def _images(self, step: int, images: Mapping[str, npt.NDArray[np.uint8]]) -> None:
        for tag, image in images.items():
            self._writer.add_image(tag, image, step, dataformats="HWC")

    def _close(self, failed: bool) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
