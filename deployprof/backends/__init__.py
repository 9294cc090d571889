"""Runtimes behind one interface. Each module imports its runtime lazily."""
from .base import BACKENDS, Availability, Backend, BackendOptions, check_provider_options
from . import ort, torch_backend, trt  # noqa: F401  (registration)

__all__ = ["BACKENDS", "Availability", "Backend", "BackendOptions", "check_provider_options"]
