# Stubs for the parts of scikit-learn that elbox and its tests use (scikit-learn ships no
# type hints).
from . import datasets as datasets
from . import ensemble as ensemble
from . import exceptions as exceptions
from . import linear_model as linear_model
from . import metrics as metrics
from . import svm as svm
