"""CI's smoke run of the load benchmark (bench/load.py): 20 seconds of the same mix (reps reading
their queue, accepting and returning; marketers posting leads) from headless locust against
gunicorn, on a small data set of its own (a scratch database it creates and drops). It must
answer every request without an error; the figures of the full run are in bench/RESULTS.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
HANDOFFS = 20_000
SECONDS = 20


def server_url(name: str) -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{name}"


def test_twenty_seconds_of_the_load_mix_answer_every_request_without_an_error(tmp_path, figure):
    if shutil.which("redis-server") is None:
        pytest.skip("the benchmark starts its own redis-server: none on PATH")
    report_path = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, "bench/load.py", "--handoffs", str(HANDOFFS), "--duration", str(SECONDS),
         "--workers", "3", "--baseline-seconds", "2", "--json", str(report_path)],
        cwd=ROOT,
        env={**os.environ,
             "BENCH_DATABASE_URL": server_url(f"load_smoke_{uuid.uuid4().hex[:8]}")},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    output = result.stdout[-6000:] + result.stderr[-4000:]
    assert report_path.exists(), output
    report = json.loads(report_path.read_text())

    assert result.returncode == 0, output
    assert report["errors"] == 0, report["failures"]
    endpoints = report["endpoints"]
    for name in ("GET /api/handoffs/?status=pending", "POST /api/handoffs/{id}/accept/",
                 "POST /api/handoffs/{id}/return/", "POST /api/leads/"):  # fmt: skip
        assert endpoints.get(name, {}).get("requests", 0) > 0, (name, endpoints.keys())
    total = endpoints["all"]
    figure(
        "10 load (CI smoke)",
        f"{SECONDS} s, {HANDOFFS:,} handoffs, 50 users",
        "0 errors",
        f"{report['errors']} errors in {int(total['requests']):,} requests "
        f"({total['rps']:.0f}/s, {report['transitions_per_second']:.0f} transitions/s, "
        f"worst p95 {report['worst_p95_ms']:.0f} ms)",
    )
