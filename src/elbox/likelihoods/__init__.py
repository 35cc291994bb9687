"""Likelihoods: p(x | decoder output) as normalised distributions, and the spec's losses."""
