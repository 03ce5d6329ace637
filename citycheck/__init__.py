"""citycheck: a validated warehouse of city-quality indicators by district and year.

The package follows the data (docs/architecture.md):

    extract/ (intake) -> warehouse/ -> checks/ -> publication/ -> serving/

with operations/ (Airflow stack, alerts, freshness) and devtools/ (benchmark, demo portal)
beside them, and the entry points (cli.py, pipeline.py, the DAGs) on top. Everything may use
common/ (configuration, reference data, storage); nothing imports upwards.
"""
from pathlib import Path

__version__ = "0.1.0"

# The pages people read (annual report, indicator pages, validation report, portal).
TEMPLATES_DIR = Path(__file__).parent / "templates"
