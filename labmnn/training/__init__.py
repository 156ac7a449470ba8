"""Training in simulation: optimiser, training loop, tasks, datasets, prune study, run outputs and plots."""
