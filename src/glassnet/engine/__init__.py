"""The training engine: a plain loop, checkpoints, exact resume, DDP, logging."""
