"""The seed paper's data and the reproduction of its simulated figures."""
