"""`elbox study`: grids of training runs, several seeds each, trained together, reported."""

from ._command import StudyError as StudyError
from ._command import StudyPlan as StudyPlan
from ._command import plan_study as plan_study
from ._command import prepare_folder as prepare_folder
from ._command import run_study as run_study
from ._spec import STUDIES as STUDIES
