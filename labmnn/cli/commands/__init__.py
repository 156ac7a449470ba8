"""One module per ``labmnn`` sub-command; each defines ``register(subparsers)``."""
