"""citycheck: a validated warehouse of city-quality indicators by district and year."""

__version__ = "0.1.0"
