"""Inbox, archive, landing zone and published Parquet behind a URL (CITYCHECK_STORAGE_URL,
common/storage.py), as a deployment whose workers share no disk has them: through fsspec's
local file system by URL (file://) and through S3 on a real S3-compatible server (moto's, on
127.0.0.1). The pipeline runs as the DAGs run it, and nothing goes to the local folders."""
import hashlib
import os

import pytest

from citycheck.devtools.demo import stage_sample_submissions
from citycheck.pipeline import run_all
from common.config import SAMPLE_DIR
from common.storage import Storage
from tests.faults import cli, killed
from tests.helpers import make_settings, query

BUCKET = "citycheck-shared"


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible server on loopback (moto), with one bucket."""
    moto_server = pytest.importorskip("moto.server")
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                             "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")}
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="citycheck", AWS_SECRET_ACCESS_KEY="citycheck",
                      AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://{host}:{port}")
    Storage(f"s3://{BUCKET}").fs.mkdir(BUCKET)
    yield f"http://{host}:{port}"
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(params=["file", "s3"])
def shared(request, tmp_path, monkeypatch, portal_url):
    """Settings whose files live behind a URL: file://<tmp>/shared or s3://<bucket>/<run>."""
    if request.param == "s3":
        request.getfixturevalue("s3_endpoint")
        url = f"s3://{BUCKET}/{tmp_path.name}"
    else:
        url = f"file://{tmp_path}/shared"
    monkeypatch.setenv("CITYCHECK_STORAGE_URL", url)
    return make_settings(tmp_path / "data", monkeypatch, portal_url)


def _put_sample_files(settings) -> list[str]:
    """The sample submissions dropped into the shared inbox, one after the other."""
    local = settings.data_dir / "staging"
    stage_sample_submissions(settings.__class__(**{**settings.__dict__, "inbox_dir": local}))
    inbox = settings.storage("inbox")
    names = sorted(p.name for p in local.iterdir())
    for name in names:
        inbox.put_file(local / name, name)
    return names


def _local_files(settings) -> list:
    return [p for d in (settings.inbox_dir, settings.archive_dir, settings.landing_dir)
            for p in d.rglob("*") if p.is_file()]


def test_the_pipeline_keeps_every_file_behind_the_storage_url(shared):
    from extract.submissions import ingest_inbox_file, queue_inbox

    settings = shared
    names = _put_sample_files(settings)
    inbox, archive = settings.storage("inbox"), settings.storage("archive")
    entries = queue_inbox(settings)           # the submissions DAG: list, then one task each
    assert [str(e).rsplit("/", 1)[-1] for e in entries] == names
    assert all(str(e).startswith(inbox.shown()) for e in entries)
    receipts = [ingest_inbox_file(e, settings) for e in entries]
    assert [r.status for r in receipts].count("loaded") == len(names)
    summary = run_all(settings)               # fetch, build, validate, publish
    assert summary.validation.success and summary.publication.tables

    assert inbox.files("") == []              # every file left the shared inbox …
    for name, digest, archived in query(settings.warehouse_path, "select original_name, "
                                        "file_hash, archived_path from raw.submission_files"):
        key = archive.key_of(archived)        # … for the shared archive, bytes intact
        with archive.local_copy(key) as copy:
            assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest, name
        receipt = f"{key.rsplit('/', 1)[0]}/receipt"
        assert archive.exists(receipt + ".json") and "回执" in archive.read_text(receipt + ".txt")
    landing = settings.storage("landing")    # the fetched payloads
    payloads = query(settings.warehouse_path, "select payload_path, bytes from "
                     "raw.open_data_fetches where status = 'loaded'")
    assert payloads and all(landing.size(landing.key_of(p)) == n for p, n in payloads)
    published = settings.storage("published")    # the Parquet set, and which is current
    current = published.read_text("current").strip()
    assert current == summary.publication.publication_id
    here = settings.published_dir / "publications" / current / "parquet"
    files = sorted(p.relative_to(here).as_posix() for p in here.rglob("*.parquet"))
    assert files and all(published.size(f"publications/{current}/parquet/{f}") ==
                         (here / f).stat().st_size for f in files)
    assert _local_files(settings) == []       # nothing went to the local folders


def test_a_kill_during_intake_from_object_storage_loses_nothing(s3_endpoint, tmp_path,
                                                               monkeypatch, portal_url):
    monkeypatch.setenv("CITYCHECK_STORAGE_URL", f"s3://{BUCKET}/{tmp_path.name}")
    settings = make_settings(tmp_path / "data", monkeypatch, portal_url)
    inbox, archive = settings.storage("inbox"), settings.storage("archive")
    name = "371000_civil_affairs_2021.csv"
    inbox.put_file(SAMPLE_DIR / "submissions" / name, name)

    assert killed(cli(settings, "ingest", crash_at="ingest.in_transaction"))
    assert inbox.files("") == [name]           # the inbox still holds it
    assert query(settings.warehouse_path, "select count(*) from raw.submission_files") == [(0,)]
    assert archive.files(".journal")           # and the journal says where it was archived

    done = cli(settings, "ingest")             # the next run lands it, once
    assert done.returncode == 0, done.stderr
    assert inbox.files("") == [] and archive.files(".journal") == []
    assert query(settings.warehouse_path, "select original_name, status, rows_accepted "
                 "from raw.submission_files") == [(name, "loaded", 7)]
