"""Error types. The library raises these; only cli.py turns them into exit codes."""


class DeployprofError(Exception):
    """A user-facing error: its message is one line that says what was expected and how to fix it."""


class ConfigError(DeployprofError):
    """Bad options, preset or spec."""


class ModelError(DeployprofError):
    """A model file that is missing, corrupt, unsafe or not analysable."""


class BackendUnavailableError(DeployprofError):
    """A backend whose runtime, device or provider is not present."""


class BuildError(DeployprofError):
    """A backend that is present but failed to load or build the model."""


class ExportError(DeployprofError):
    """torch -> ONNX export or its parity check failed."""


class UnsupportedOpError(DeployprofError):
    """An op the FLOP counter has no handler for, under --strict."""
