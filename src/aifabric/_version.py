"""The package version (the one place it is written)."""

__version__ = "0.1.0"
SPEC_VERSION = "1.0.0-draft"
