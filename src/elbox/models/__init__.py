"""Reference VAE models, written twice with the same architecture and parameter count.

`elbox.models.nnx` holds the Flax NNX versions, `elbox.models.equinox` the Equinox ones.
"""
