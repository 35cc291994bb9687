"""The framework seam: how elbox splits, calls and holds Flax NNX and Equinox models.

Nothing else in elbox asks which framework a model is from; it asks
`_seam.framework_of(model)`. Flax is imported (by `_nnx`) only when an NNX model arrives.
"""
