"""The training loop: Trainer.fit, callbacks, checkpoints."""

from ._callback import Callback as Callback
from ._checkpoint_store import CheckpointError as CheckpointError
from ._checkpoint_store import CheckpointStore as CheckpointStore
from ._early_stopping import EarlyStopping as EarlyStopping
from ._early_stopping import EarlyStoppingConfig as EarlyStoppingConfig
from ._early_stopping import Mode as Mode
from ._history import History as History
from ._load_checkpoint import LoadedCheckpoint as LoadedCheckpoint
from ._load_checkpoint import load_checkpoint as load_checkpoint
from ._metrics_logger import MetricsLogger as MetricsLogger
from ._model_checkpoint import CheckpointConfig as CheckpointConfig
from ._model_checkpoint import ModelCheckpoint as ModelCheckpoint
from ._progress_bar import ProgressBar as ProgressBar
from ._progress_bar import TextStream as TextStream
from ._trainer import TrainData as TrainData
from ._trainer import Trainer as Trainer
