"""Department submissions: read a file, give every record a verdict, land it, write a receipt.

One function per step, called the same way by `citycheck ingest FILE` and by the submissions
DAG. Every record read ends up in exactly one of three states, and the counts reconcile:

- accepted: resolved indicator, district, year and a number (or an explicit missing marker);
- rejected: with the sheet, row, cell, column, value and the reason, so the department can fix it;
- ignored:  layout (title and header block, header rows, blank rows, totals rows and columns,
            footer rows), or a value cell left blank (not reported; a marker such as — is).

A record is a row of the long layout, or one district cell of a wide row (extract/layout.py).
A file is loaded whole or not at all (one transaction), and no file is lost to a crash: the
archive and a journal per batch are written before the transaction, the inbox file removed
after it (docs/reliability.md). The same bytes sent twice are recognised by their sha256 and
load nothing the second time.
"""
from extract.reading import SUPPORTED_SUFFIXES
from extract.submissions.archive import file_sha256, safe_name
from extract.submissions.inbox import (
    inbox_item,
    ingest_inbox,
    ingest_inbox_file,
    list_inbox,
    queue_inbox,
)
from extract.submissions.landing import (
    Submission,
    ingest_file,
    ingest_files,
    recover_intake,
)
from extract.submissions.receipts import Receipt, write_receipt
from extract.submissions.records import (
    FileContext,
    SubmissionError,
    interpret,
    read_file,
)

__all__ = ["SUPPORTED_SUFFIXES", "FileContext", "Receipt", "Submission", "SubmissionError",
           "file_sha256", "inbox_item", "ingest_file", "ingest_files", "ingest_inbox",
           "ingest_inbox_file", "interpret", "list_inbox", "queue_inbox", "read_file",
           "recover_intake", "safe_name", "write_receipt"]
