"""Long steps say where they are to a person at a terminal (intake per file, dbt per node
kind, validation per suite), and write nothing of it when their output goes to a file or a
log — as in an Airflow worker."""
import os
import pty
import select
import subprocess
import sys

from citycheck.devtools.demo import stage_sample_submissions

STEPS = (("ingest", "intake: reading file", "files landed"),
         ("build", "dbt build:", "models"),
         ("validate", "validation: suite", "of"))


def _on_a_terminal(settings, *args: str) -> tuple[int, str]:
    """`citycheck ARGS` with a pseudo-terminal for its output; what the terminal showed."""
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "citycheck.cli", *args],
                            stdin=child, stdout=child, stderr=child, close_fds=True,
                            env=dict(os.environ, CITYCHECK_DATA_DIR=str(settings.data_dir),
                                     COLUMNS="120"))
    os.close(child)
    shown = b""
    while True:
        ready, _, _ = select.select([main], [], [], 1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:       # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(main)
    return proc.wait(timeout=300), shown.decode("utf-8", "replace")


def test_long_steps_show_progress_on_a_terminal_and_nothing_in_a_log(settings):
    stage_sample_submissions(settings)
    for step, *expected in STEPS:
        code, shown = _on_a_terminal(settings, step)
        assert code in (0, 1), shown[-2000:]         # 1: validation may find the data lacking
        assert all(text in shown for text in expected), (step, shown[-2000:])
        assert "\r" in shown                          # one line, rewritten in place

    logged = subprocess.run([sys.executable, "-m", "citycheck.cli", "build"],
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, CITYCHECK_DATA_DIR=str(settings.data_dir)))
    assert logged.returncode == 0, logged.stderr
    assert "dbt build:" not in logged.stdout + logged.stderr
    assert "\r" not in logged.stdout + logged.stderr
