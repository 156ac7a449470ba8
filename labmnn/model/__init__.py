"""The physics core: bar networks, their file format, sparse solvers, orderings, lattices, losses, gradient checks."""
