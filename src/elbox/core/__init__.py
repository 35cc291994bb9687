"""The functional core: `TrainState`, and `TrainStep`, one pure training step.

No Flax here: models reach the core split into arrays by the framework seam.
"""
