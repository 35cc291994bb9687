"""elbox: a strictly typed trainer for variational autoencoders in JAX."""

from ._base_trainer import AbstractTrainer as AbstractTrainer
from ._batch import batch_data as batch_data
from ._config import VAETrainingConfig as VAETrainingConfig
from ._custom_types import Batch as Batch
from ._custom_types import KLScheduleLike as KLScheduleLike
from ._custom_types import Metrics as Metrics
from ._elbo import ELBOObjective as ELBOObjective
from ._elbo import elbo_terms as elbo_terms
from ._kl import apply_free_bits as apply_free_bits
from ._kl import gaussian_kl as gaussian_kl
from ._kl import kl_loss as kl_loss
from ._loss_fn_trainer import LossFnTrainer as LossFnTrainer
from ._outputs import vae_outputs as vae_outputs
from ._reconstruction import AbstractReconstructionLoss as AbstractReconstructionLoss
from ._reconstruction import BCELoss as BCELoss
from ._reconstruction import BCEWithLogitsLoss as BCEWithLogitsLoss
from ._reconstruction import MSELoss as MSELoss
from ._reconstruction import bce_loss as bce_loss
from ._reconstruction import bce_with_logits_loss as bce_with_logits_loss
from ._reconstruction import mse_loss as mse_loss
from ._reconstruction import reconstruction_loss as reconstruction_loss
from ._schedules import AbstractKLSchedule as AbstractKLSchedule
from ._schedules import ConstantSchedule as ConstantSchedule
from ._schedules import CyclicalSchedule as CyclicalSchedule
from ._schedules import LinearWarmup as LinearWarmup
from ._schedules import SigmoidWarmup as SigmoidWarmup
from ._schedules import schedule_from_config as schedule_from_config
from ._sharding import data_parallel_mesh as data_parallel_mesh
from ._train_state import TrainState as TrainState
from ._trainer import VAETrainer as VAETrainer
from .training import Callback as Callback
from .training import CheckpointConfig as CheckpointConfig
from .training import CheckpointError as CheckpointError
from .training import EarlyStopping as EarlyStopping
from .training import EarlyStoppingConfig as EarlyStoppingConfig
from .training import History as History
from .training import MetricsLogger as MetricsLogger
from .training import ModelCheckpoint as ModelCheckpoint
from .training import ProgressBar as ProgressBar
from .training import Trainer as Trainer
from .training import load_checkpoint as load_checkpoint

__version__ = "0.1.0"
