"""The package version: one constant, imported by whoever records it (run files, model files,
the store, the service); it imports nothing, so no layer has to import the package face."""

__version__ = "0.1.0"
