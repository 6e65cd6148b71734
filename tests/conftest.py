"""Shared test set-up."""

# Importing discover first applies its XLA:CPU workaround before any test starts the backend.
import discover  # noqa: F401
