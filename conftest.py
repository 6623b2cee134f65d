"""Root conftest: the `scaling` pytest plugin is registered by its `pytest11` entry point
(pyproject.toml), so nothing is needed here beyond what every test in the repo shares."""

pytest_plugins = ["pytester"]
