"""Project exceptions.

Every message names the argument or file, states the rule and shows the offending value, so
that the command line can print it as one line and a user can act on it.
"""


class ForecastError(Exception):
    """Base class of the errors this package raises on purpose."""


class DataError(ForecastError, ValueError):
    """Price data that cannot be used: missing file, bad columns, bad rows, too short."""


class ConfigError(ForecastError, ValueError):
    """A configuration file or a run argument breaks a rule."""


class ModelFitError(ForecastError, RuntimeError):
    """A model could not be fitted (no convergence, singular data, too little history)."""


class ModelFileError(ForecastError, ValueError):
    """A saved model file is missing, corrupt, tampered with or of the wrong kind."""
