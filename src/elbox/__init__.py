"""elbox: a strictly typed trainer for variational autoencoders in JAX."""

from ._batch import batch_data as batch_data
from ._config import VAETrainingConfig as VAETrainingConfig
from ._custom_types import AnyArray as AnyArray
from ._custom_types import Batch as Batch
from ._custom_types import FreeBitsMode as FreeBitsMode
from ._custom_types import IWAEGradient as IWAEGradient
from ._custom_types import KLAnnealing as KLAnnealing
from ._custom_types import KLScheduleLike as KLScheduleLike
from ._custom_types import LikelihoodName as LikelihoodName
from ._custom_types import LoaderItemT as LoaderItemT
from ._custom_types import LossFn as LossFn
from ._custom_types import LossFnFactory as LossFnFactory
from ._custom_types import LossName as LossName
from ._custom_types import Metrics as Metrics
from ._custom_types import Model as Model
from ._custom_types import ModelState as ModelState
from ._custom_types import ModelT as ModelT
from ._custom_types import NonFinite as NonFinite
from ._custom_types import ObjectiveName as ObjectiveName
from ._custom_types import ObjectiveOptions as ObjectiveOptions
from ._custom_types import OptimizerLike as OptimizerLike
from ._custom_types import OptState as OptState
from ._custom_types import Params as Params
from ._custom_types import RealNumber as RealNumber
from ._custom_types import ScalarLike as ScalarLike
from ._custom_types import StateLeaves as StateLeaves
from ._custom_types import StepLike as StepLike
from ._custom_types import StepMetrics as StepMetrics
from ._custom_types import Weights as Weights
from ._decoder_outputs import DecoderOutputs as DecoderOutputs
from ._decoder_outputs import SharedScale as SharedScale
from ._outputs import vae_outputs as vae_outputs
from ._sharding import data_parallel_mesh as data_parallel_mesh
from .core._ema import WeightAverage as WeightAverage
from .core._nonfinite import NonFiniteStepError as NonFiniteStepError
from .core._precision import DynamicLossScale as DynamicLossScale
from .core._precision import PrecisionName as PrecisionName
from .core._precision import PrecisionPolicy as PrecisionPolicy
from .core._step_options import StepOptions as StepOptions
from .core._train_state import TrainState as TrainState
from .core._train_step import TrainStep as TrainStep
from .frameworks._model_def import AbstractModelDef as AbstractModelDef
from .frameworks._with_state import WithState as WithState
from .likelihoods._bernoulli import BernoulliLikelihood as BernoulliLikelihood
from .likelihoods._binarisation import Binarisation as Binarisation
from .likelihoods._by_name import likelihood_from_name as likelihood_from_name
from .likelihoods._by_name import reconstruction_loss as reconstruction_loss
from .likelihoods._continuous_bernoulli import (
    ContinuousBernoulliLikelihood as ContinuousBernoulliLikelihood,
)
from .likelihoods._discretised_logistic import (
    DiscretisedLogisticLikelihood as DiscretisedLogisticLikelihood,
)
from .likelihoods._gaussian import GaussianLikelihood as GaussianLikelihood
from .likelihoods._laplace import LaplaceLikelihood as LaplaceLikelihood
from .likelihoods._likelihood import AbstractLikelihood as AbstractLikelihood
from .likelihoods._likelihood import bits_per_dimension as bits_per_dimension
from .likelihoods._logistic_mixture import (
    DiscretisedLogisticMixtureLikelihood as DiscretisedLogisticMixtureLikelihood,
)
from .likelihoods._reconstruction import AbstractReconstructionLoss as AbstractReconstructionLoss
from .likelihoods._scale import LearnedScale as LearnedScale
from .likelihoods._spec_losses import BCELoss as BCELoss
from .likelihoods._spec_losses import BCEWithLogitsLoss as BCEWithLogitsLoss
from .likelihoods._spec_losses import MAELoss as MAELoss
from .likelihoods._spec_losses import MSELoss as MSELoss
from .likelihoods._spec_losses import bce_loss as bce_loss
from .likelihoods._spec_losses import bce_with_logits_loss as bce_with_logits_loss
from .likelihoods._spec_losses import mae_loss as mae_loss
from .likelihoods._spec_losses import mse_loss as mse_loss
from .likelihoods._support import Support as Support
from .likelihoods._support import SupportName as SupportName
from .objectives._beta_tc import BetaTCObjective as BetaTCObjective
from .objectives._capacity import CapacityObjective as CapacityObjective
from .objectives._elbo import ELBOObjective as ELBOObjective
from .objectives._elbo import elbo_terms as elbo_terms
from .objectives._from_name import objective_from_name as objective_from_name
from .objectives._importance_weights import effective_sample_size as effective_sample_size
from .objectives._iwae import IWAEObjective as IWAEObjective
from .objectives._kl import apply_free_bits as apply_free_bits
from .objectives._kl import gaussian_kl as gaussian_kl
from .objectives._kl import kl_loss as kl_loss
from .objectives._kl_decomposition import KLDecomposition as KLDecomposition
from .objectives._kl_decomposition import gaussian_log_density as gaussian_log_density
from .objectives._kl_decomposition import kl_decomposition as kl_decomposition
from .objectives._objective import AbstractObjective as AbstractObjective
from .objectives._objective import call_vae as call_vae
from .objectives._objective import encode_sample_decode as encode_sample_decode
from .objectives._schedules import AbstractKLSchedule as AbstractKLSchedule
from .objectives._schedules import ConstantSchedule as ConstantSchedule
from .objectives._schedules import CyclicalSchedule as CyclicalSchedule
from .objectives._schedules import LinearWarmup as LinearWarmup
from .objectives._schedules import SigmoidWarmup as SigmoidWarmup
from .objectives._schedules import schedule_from_config as schedule_from_config
from .trainers._abstract_trainer import AbstractTrainer as AbstractTrainer
from .trainers._loss_fn_trainer import LossFnTrainer as LossFnTrainer
from .trainers._vae_trainer import LossType as LossType
from .trainers._vae_trainer import VAETrainer as VAETrainer
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
