"""Reconstruction terms: what `-log p(x | z)` each loss name stands for."""
