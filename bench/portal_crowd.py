"""Benchmark: the office page while a crowd of logins hits the portal (issue 31's finding: 40
simultaneous anonymous logins took the portal to 1.7 GiB and an office page from 126 ms to
11 s).

    make run                                   # a publication to serve
    .venv/bin/python bench/portal_crowd.py [--logins 40]

Copies var/ (what `make run` wrote) to a temporary folder, adds an office account, starts the
real portal on a free loopback port, and measures the office page alone and while LOGINS
wrong passwords under new names arrive at once; prints the medians and the worst, the
answers the logins got, and the portal's peak memory (VmHWM) before and after the crowd.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "office-bench-pass-2026"


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text)[1]


def _peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=40)
    args = parser.parse_args()
    source = Path(os.environ.get("CITYCHECK_DATA_DIR", ROOT / "var"))
    if not (source / "published" / "citycheck.duckdb").exists():
        print(f"nothing published in {source}: run `make run` first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="citycheck-crowd-") as tmp:
        data = Path(tmp) / "var"
        shutil.copytree(source, data, symlinks=True)
        env = {**os.environ, "CITYCHECK_DATA_DIR": str(data),
               "CITYCHECK_PORTAL_INSECURE_COOKIES": "1"}
        subprocess.run([sys.executable, "-c",
                        "from common.config import Settings\n"
                        "from citycheck.serving import department_portal as dp\n"
                        "s = Settings.from_env()\n"
                        "if not dp.find_user(s, 'bench_office'):\n"
                        f"    dp.add_user(s, 'bench_office', 'office', '371000', "
                        f"password='{PASSWORD}')\n"], env=env, check=True, cwd=ROOT)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        portal = subprocess.Popen([sys.executable, "-m", "citycheck.serving.portal_app",
                                   "--port", str(port)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    requests.get(f"{base}/login", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.5)
            office = requests.Session()
            r = office.post(f"{base}/login", data={
                "username": "bench_office", "password": PASSWORD,
                "csrf": _csrf(office.get(f"{base}/login").text)})
            assert r.status_code == 200, r.status_code

            def page() -> float:
                started = time.perf_counter()
                assert office.get(f"{base}/office").status_code == 200
                return time.perf_counter() - started

            def guess(i: int) -> int:
                s = requests.Session()
                return s.post(f"{base}/login", data={
                    "username": f"nobody{i}", "password": "guess",
                    "csrf": _csrf(s.get(f"{base}/login").text)}).status_code

            alone = [page() for _ in range(5)]
            before = _peak_mib(portal.pid)
            during = []
            with ThreadPoolExecutor(args.logins) as pool:
                answers = [pool.submit(guess, i) for i in range(args.logins)]
                time.sleep(0.3)
                during = [page() for _ in range(5)]
                codes = [a.result() for a in answers]
            after = _peak_mib(portal.pid)
        finally:
            portal.terminate()
            portal.wait(timeout=10)
    print(f"office page alone: median {statistics.median(alone) * 1000:.0f} ms")
    print(f"during {args.logins} simultaneous logins: median "
          f"{statistics.median(during) * 1000:.0f} ms, worst {max(during) * 1000:.0f} ms")
    print("login answers: " + ", ".join(f"{c} x{codes.count(c)}" for c in sorted(set(codes))))
    print(f"portal peak memory: {before:.0f} MiB before the crowd, {after:.0f} MiB after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
