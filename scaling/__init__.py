"""scaling: the claims of the neural scaling-law papers as tests on real training runs."""

__version__ = "0.1.0"
