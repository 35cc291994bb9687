"""Evaluating a VAE: the likelihood bound, posterior collapse, and disentanglement.

- The model's fit: [`log_likelihood`][elbox.metrics.log_likelihood], the importance-weighted
  bound of log p(x) (Burda et al., 2016).
- Training objectives' gradients: [`gradient_snr`][elbox.metrics.gradient_snr], their
  signal-to-noise ratio (Rainforth et al., 2018).
- Posterior collapse: [`kl_per_dimension`][elbox.metrics.kl_per_dimension],
  [`active_units`][elbox.metrics.active_units] and
  [`mutual_information`][elbox.metrics.mutual_information] (He et al., 2019).
- Disentanglement against ground-truth factors, as google-research/disentanglement_lib
  defines them: [`mig`][elbox.metrics.mig], [`sap`][elbox.metrics.sap],
  [`modularity`][elbox.metrics.modularity], [`dci`][elbox.metrics.dci],
  [`factor_vae_score`][elbox.metrics.factor_vae_score] and
  [`beta_vae_score`][elbox.metrics.beta_vae_score].

Models are used through `model.encode(x) -> (mean, logvar)` and `model.decode(z)`, both on
batches; Flax NNX and Equinox models both work. An Equinox model runs in inference mode
(`eqx.nn.inference_mode`): a stateful one (`elbox.WithState`, with BatchNorm) on its
running statistics, with no dropout.
"""

from ._beta_vae import beta_vae_score as beta_vae_score
from ._collapse import ACTIVE_THRESHOLD as ACTIVE_THRESHOLD
from ._collapse import active_units as active_units
from ._collapse import kl_per_dimension as kl_per_dimension
from ._dci import DCIScores as DCIScores
from ._dci import dci as dci
from ._factor_vae import factor_vae_score as factor_vae_score
from ._gradient_snr import GradientSNR as GradientSNR
from ._gradient_snr import gradient_snr as gradient_snr
from ._ground_truth import GroundTruthData as GroundTruthData
from ._ground_truth import Representation as Representation
from ._likelihood import log_likelihood as log_likelihood
from ._mig import mig as mig
from ._model import EncoderDecoder as EncoderDecoder
from ._modularity import modularity as modularity
from ._mutual_information import mutual_information as mutual_information
from ._posterior import posterior_parameters as posterior_parameters
from ._sap import sap as sap
