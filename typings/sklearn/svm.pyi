from typing import Literal

import numpy as np
import numpy.typing as npt

class LinearSVC:
    def __init__(
        self,
        *,
        C: float = ...,
        class_weight: Literal["balanced"] | dict[int, float] | None = ...,
        dual: bool | Literal["auto"] = ...,
    ) -> None: ...
    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> LinearSVC: ...
    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]: ...
