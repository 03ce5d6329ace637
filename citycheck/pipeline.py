"""The steps of the main job, each a plain function. The CLI and the DAGs call these."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from citycheck.checks.validate import ValidationReport, validate
from citycheck.operations.freshness import FreshnessReport, check_freshness
from citycheck.publication.publish import PublishResult
from citycheck.publication.publish_postgres import publish_everywhere
from citycheck.warehouse.build import BuildResult, build
from common.config import Settings
from extract.open_data import FetchResult, fetch_all
from extract.submissions import Receipt, ingest_inbox

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    receipts: list[Receipt] = field(default_factory=list)
    fetches: list[FetchResult] = field(default_factory=list)
    freshness: FreshnessReport | None = None
    build: BuildResult | None = None
    validation: ValidationReport | None = None
    publication: PublishResult | None = None


def run_all(settings: Settings, years: list[int] | None = None, fetch: bool = True,
            each: Callable[[Receipt], None] | None = None) -> RunSummary:
    """Ingest the inbox, fetch open data, check freshness (alerting on anything overdue, never
    stopping), build, validate, publish: stop at the first failure. `each`: as for
    ingest_files (every whole receipt handed over as its batch lands; the summary then keeps
    their counts, so that a long backlog's receipts do not pile up in memory)."""
    summary = RunSummary()
    summary.receipts = ingest_inbox(settings, each=each)
    for r in summary.receipts:
        log.info("ingested %s: %s (%s)", r.file_name, r.status, r.message)
    if fetch:
        summary.fetches = fetch_all(settings)
    summary.freshness = check_freshness(settings)
    summary.build = build(settings)
    summary.validation = validate(settings, years=years)
    summary.publication, _ = publish_everywhere(settings)
    return summary
