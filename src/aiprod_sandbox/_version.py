"""The one place the package version is written; the build and `/health` both read it."""

__version__ = "0.1.0"
