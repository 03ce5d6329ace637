"""`citycheck sql`: SQL on the published data, read-only, without writing a file first.

    citycheck sql "select …"        run one query, print the result
    citycheck sql -f query.sql      run the statements of a file
    citycheck sql                   a prompt (statements end with ;  .quit or Ctrl-D leaves);
                                    with stdin not a terminal, read statements from it

The serving file is opened read-only, as BI tools should open it: nothing can be changed, and
the pipeline can publish while the prompt is open (the prompt keeps the publication it opened).
A failing statement prints DuckDB's one-line message; the prompt goes on, a query or file
exits 1.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from common.config import Settings

PROMPT, MORE = "citycheck> ", "      ...> "
MAX_ROWS = 200


class NothingPublished(Exception):
    """No publication yet: there is nothing to query."""


def query_rows(con, sql: str, params: list) -> list[dict]:
    """The rows of a query as dicts (column name -> value), on DuckDB or PostgreSQL."""
    rel = con.execute(sql, params)
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def open_publication(settings: Settings):
    """What is published, read-only, as a DuckDB connection (what readers, the reports, the
    pages and the portal read): the serving file, or a snapshot of PostgreSQL's `published`
    schema (Engine.open_published); NothingPublished when there is none yet."""
    from common.engine import engine_for

    engine = engine_for(settings)
    con = engine.open_published()
    if con is None:
        raise NothingPublished(f"nothing is published yet in {engine.describe()}: run "
                               "`make run` or `citycheck run` first")
    return con


def run_statements(con, text: str, out) -> bool:
    """Run each statement of `text`, printing results; False if one failed."""
    import duckdb

    ok = True
    for statement in _split(text):
        try:
            rel = con.sql(statement)
        except duckdb.Error as exc:
            print(f"error: {str(exc).splitlines()[0]}", file=out)
            ok = False
            continue
        if rel is not None:
            print(rel.__str__() if rel.shape[0] <= MAX_ROWS else
                  rel.limit(MAX_ROWS).__str__() + f"\n({rel.shape[0]} rows, first {MAX_ROWS} "
                                                  "shown)", file=out)
    return ok


def _split(text: str) -> list[str]:
    """Statements separated by ; outside quotes."""
    out, current, quote = [], [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            out.append("".join(current))
            current = []
            continue
        current.append(ch)
    out.append("".join(current))
    def code(statement: str) -> str:      # what is left without -- comment lines
        return "\n".join(line for line in statement.splitlines()
                         if not line.strip().startswith("--")).strip()

    return [s.strip() for s in out if code(s)]


def main(settings: Settings, query: str | None, file: Path | None) -> int:
    con = open_publication(settings)
    try:
        if query is not None or file is not None:
            text = query if query is not None else file.read_text(encoding="utf-8")
            return 0 if run_statements(con, text, sys.stdout) else 1
        if not sys.stdin.isatty():
            return 0 if run_statements(con, sys.stdin.read(), sys.stdout) else 1
        return _prompt(con)
    finally:
        con.close()


def _history():
    """Line editing and a history kept between sessions (readline, where Python has it):
    CITYCHECK_SQL_HISTORY, default ~/.citycheck_sql_history."""
    try:
        import readline
    except ImportError:          # a Python without readline: plain input
        return None
    path = Path(os.environ.get("CITYCHECK_SQL_HISTORY",
                               Path.home() / ".citycheck_sql_history"))
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    readline.set_history_length(1000)
    return readline, path


def _prompt(con) -> int:
    history = _history()
    try:
        return _read_loop(con)
    finally:
        if history:
            readline, path = history
            try:
                readline.write_history_file(path)
                path.chmod(0o600)      # queries may name what the analyst looked for
            except OSError:
                pass


def _read_loop(con) -> int:
    print("citycheck SQL on the published data (read-only). End statements with ; — "
          "`show tables;`, `describe fct_indicator_values;`, .quit to leave.")
    buffer = ""
    while True:
        try:
            line = input(MORE if buffer else PROMPT)
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print()
            buffer = ""
            continue
        if not buffer and line.strip() in (".quit", ".exit", "quit", "exit"):
            return 0
        buffer += line + "\n"
        if buffer.rstrip().endswith(";"):
            run_statements(con, buffer, sys.stdout)
            buffer = ""
