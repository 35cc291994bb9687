"""The `elbox` command line: `elbox train`, `elbox plot RUN`, `elbox eval RUN`."""

from ._main import main as main
