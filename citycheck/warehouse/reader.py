"""How every reader of a published DuckDB file opens it (the SQL prompt, the reports, the
pages, the portal, the published summary; docs/bi.md gives BI tools the same settings)."""
from __future__ import annotations

import duckdb

# How every reader of the serving file opens it: read-only, and with no access to files or
# extensions beyond the database itself, locked so that SQL cannot turn it back on. A
# read-only DuckDB connection otherwise reads any file the process can (read_text of
# /proc/self/environ, of the portal's session key) and writes them (COPY … TO). docs/bi.md
# gives BI tools the same settings in their URL.
READER_CONFIG = {"enable_external_access": False, "lock_configuration": True}


def open_reader(path):
    """A read-only connection to a published DuckDB file that can read nothing else."""
    return duckdb.connect(str(path), read_only=True, config=dict(READER_CONFIG))
