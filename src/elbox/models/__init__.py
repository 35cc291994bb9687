"""Reference VAE models, each written for Flax NNX (`elbox.models.nnx`) and for Equinox
(`elbox.models.equinox`) with the same architecture and parameter count."""
