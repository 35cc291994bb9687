"""What TensorBoard and W&B loggers share: which values go out, under which tags, when."""

import abc
import importlib
import warnings
from collections.abc import Mapping
from types import ModuleType

import numpy as np
import numpy.typing as npt

from .._sharding import is_primary_process
from ._callback import Callback
from ._image_panels import ImagePanels
from ._protocols import TrainingLoop

# Epoch-log entries that are the x axis rather than values.
_NOT_LOGGED = ("step",)


def import_extra(module: str, extra: str, owner: str) -> ModuleType:
    """Import an optional dependency, or fail with the `pip install` that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        # `pip install 'elbox[extra]'` works only where pip can find elbox itself: from a
        # clone the extra is `'.[extra]'`. Installing the package works anywhere.
        raise ImportError(
            f"{owner} needs the {module} package: pip install {module} (or elbox's extra "
            f"{extra!r}: pip install '.[{extra}]' in a clone of elbox)"
        ) from error


class AbstractExperimentLogger(Callback):
    """A callback that sends a fit's metrics, and image panels, to an experiment tracker.

    Tags: every step's metrics as `train/<name>` at that step (`train/loss`,
    `train/recon_loss`, `train/kl_loss`, `train/kl_weight`, ...), each epoch's logs as
    `epoch/<name>` at the number of steps done (`epoch/val_neg_elbo`, `epoch/loss`, ...,
    `epoch/epoch`), and, when `examples` are given, `images/reconstructions` (the
    examples above their reconstructions) and `images/samples` (decoded draws from the
    prior, the same draws each time) every `images_every_n_epochs` epochs and after the last
    one. Only process 0 logs when there are several.

    Subclasses say how to open, write and close: `_open`, `_scalars`, `_images`, `_close`.
    """

    def __init__(
        self,
        *,
        examples: npt.ArrayLike | None,
        image_shape: tuple[int, int, int] | None,
        value_range: tuple[float, float],
        images_every_n_epochs: int,
        num_samples: int,
        seed: int,
    ) -> None:
        if isinstance(images_every_n_epochs, bool) or images_every_n_epochs < 0:
            raise ValueError(
                f"images_every_n_epochs must be an int >= 0; got {images_every_n_epochs!r}"
            )
        self.images_every_n_epochs = images_every_n_epochs
        """Log the image panels every this many epochs (and after the last); 0: never."""
        self._panels: ImagePanels | None = None
        if examples is not None and images_every_n_epochs > 0:
            array = np.asarray(examples, np.float32)
            if image_shape is None:
                if array.ndim != 4:
                    raise ValueError(
                        "image_shape is needed to draw examples that are not images "
                        f"(n, height, width, channels); got examples of shape {array.shape}"
                    )
                height, width, channels = array.shape[1:]
                image_shape = (height, width, channels)
            self._panels = ImagePanels(
                array, image_shape, value_range=value_range, num_samples=num_samples, seed=seed
            )
        self._active = False
        self._completed = False

    @abc.abstractmethod
    def _open(self, trainer: TrainingLoop, resume_step: int | None) -> None:
        """Start writing; `resume_step` is the step a resumed fit continues from."""

    @abc.abstractmethod
    def _scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Write scalar values at `step`."""

    @abc.abstractmethod
    def _images(self, step: int, images: Mapping[str, npt.NDArray[np.uint8]]) -> None:
        """Write uint8 images `(height, width, channels)` at `step`."""

    @abc.abstractmethod
    def _close(self, failed: bool) -> None:
        """Flush and close; `failed` when the fit ends with an error."""

    def on_fit_start(self, trainer: TrainingLoop) -> None:
        """Open the tracker's run (on process 0 only)."""
        if not is_primary_process():  # with several processes, process 0 logs
            return
        resumed = trainer.resumed_from
        self._open(trainer, None if resumed is None else resumed[1])
        self._active = True
        self._completed = False

    def on_step_end(self, trainer: TrainingLoop, step: int, metrics: Mapping[str, float]) -> None:
        """Log the step's metrics as `train/<name>` at `step`."""
        if self._active:
            self._scalars(step, {f"train/{name}": value for name, value in metrics.items()})

    def on_epoch_end(self, trainer: TrainingLoop, epoch: int, logs: Mapping[str, float]) -> None:
        """Log the epoch's logs as `epoch/<name>`, and the image panels when they are due."""
        if not self._active:
            return
        step = int(logs.get("step", trainer.engine.step))
        values = {f"epoch/{name}": float(v) for name, v in logs.items() if name not in _NOT_LOGGED}
        self._scalars(step, values)
        last = trainer.should_stop or epoch + 1 == trainer.epochs
        every = self.images_every_n_epochs
        if self._panels is not None and ((epoch + 1) % every == 0 or last):
            model = getattr(trainer.engine, "model", None)
            if model is None or not hasattr(model, "encode") or not hasattr(model, "decode"):
                warnings.warn(
                    f"{type(self).__name__} draws images with the model's encode and decode "
                    "methods, which this trainer's model lacks; no images are logged",
                    UserWarning,
                    stacklevel=2,
                )
                self._panels = None
                return
            loss_type = getattr(trainer, "loss_type", None)
            panels = self._panels.draw(model, loss_type)
            self._images(step, {f"images/{name}": image for name, image in panels.items()})

    def on_fit_end(self, trainer: TrainingLoop) -> None:
        """Mark the fit as completed, so that `teardown` closes the run as finished."""
        self._completed = True

    def teardown(self, trainer: TrainingLoop) -> None:
        """Close the tracker's run, whether the fit completed or failed."""
        if self._active:
            self._active = False
            self._close(failed=not self._completed)
