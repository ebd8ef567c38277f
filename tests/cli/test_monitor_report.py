"""``mlsteward monitor report``: writes the monitor's report as one self-contained HTML page
(the drift heatmap, nothing fetched from elsewhere) and, when asked, as JSON; ``--json`` says
what it wrote; a path that cannot be written is one ``error:`` line and leaves no file."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest

from mlsteward.monitoring import (
    MonitoringReport,
    create_alert_rule,
    create_monitor,
    evaluate_monitor,
)
from mlsteward.security import SYSTEM

from ..monitoring._monitor_support import inputs, record_window, register_model
from .conftest import Cli

START = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def _seed(cli: Cli) -> None:
    """A monitor ``watch`` with two evaluated windows, the second drifted, which opened an
    incident of its rule ``amount-drift``."""
    platform = cli.platform()
    try:
        register_model(platform, training=inputs(3000, 0))
        monitor = create_monitor(
            platform, SYSTEM, "default", "watch", model_name="fraud", window_seconds=60
        )
        create_alert_rule(
            platform, SYSTEM, "default", monitor_id=monitor.id, name="amount-drift",
            metric="drift.column.amount.drifted", value=0.5, op=">=",
            notifiers=[{"kind": "log"}],
        )  # fmt: skip
        record_window(platform, START, inputs(600, 1), np.zeros(600, int))
        record_window(platform, START + MINUTE, inputs(600, 2, amount_shift=40), np.zeros(600, int))
        for minute in range(2):
            evaluate_monitor(platform, SYSTEM, "default", "watch", START + minute * MINUTE)
    finally:
        platform.close()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty folder for the reports (the platform's home is beside it)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"\s(src|href|action|srcset)\s*=", page)
    assert not re.search(r"https?:|//[a-z0-9]", page, re.I)
    assert "url(" not in page


def test_the_report_is_written_as_html_and_json(cli: Cli, out: Path) -> None:
    _seed(cli)
    html, data = out / "march.html", out / "march.json"
    shown = cli.ok(
        "monitor", "report", "watch", "--since", "2026-01-01T00:00:00Z",
        "--until", "2026-01-02T00:00:00Z", "--output", str(html), "--json-output", str(data),
    ).output  # fmt: skip
    assert str(html) in shown
    assert str(data) in shown
    assert sorted(p.name for p in out.iterdir()) == ["march.html", "march.json"]

    page = html.read_text(encoding="utf-8")
    _self_contained(page)
    assert '<section id="drift">' in page
    assert page.count('class="cell drifted"') >= 1
    assert "amount-drift" in page
    report = MonitoringReport.from_json(json.loads(data.read_text(encoding="utf-8")))
    assert [w.start for w in report.windows] == [START, START + MINUTE]
    assert report.windows[1].drift is not None
    assert "amount" in report.windows[1].drift.drifted_names()
    assert "amount" in {d.column for d in report.distributions}
    assert [a["rule"] for a in report.alerts] == ["amount-drift"]
    assert report.subject["monitor"] == "watch"
    drifted = sum(1 for w in report.windows if w.drift is not None and w.drift.drifted)
    assert f"(2 windows, {drifted} with dataset drift, 1 alert)" in shown


def test_json_output_and_the_default_file_name(
    cli: Cli, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(cli)
    monkeypatch.chdir(out)
    told = cli.json("monitor", "report", "watch", "--max-windows", "1")
    assert told["html"] == "watch-report.html"
    assert told["json"] is None
    # Whether the newest window counts as dataset drift depends on the randomised sketches:
    # the report must say what the stored result says.
    (newest,) = cli.json("monitor", "results", "watch")["results"][-1:]
    drifted = int(newest["metrics"]["drift.dataset_drifted"])
    assert (told["windows"], told["drifted_windows"], told["alerts"]) == (1, drifted, 1)
    assert told["distributions"] == 3
    assert "the newest 1 of the 2" in told["subject"]["note"]
    assert sorted(p.name for p in out.iterdir()) == ["watch-report.html"]
    _self_contained((out / "watch-report.html").read_text(encoding="utf-8"))

    empty = cli.json("monitor", "report", "watch", "--since", "2027-01-01T00:00:00Z")
    assert (empty["windows"], empty["alerts"]) == (0, 0)
    assert "No data" in (out / "watch-report.html").read_text(encoding="utf-8")


def test_a_path_that_cannot_be_written_leaves_nothing_behind(cli: Cli, out: Path) -> None:
    _seed(cli)
    missing = out / "missing" / "report.html"
    failed = cli.fails("monitor", "report", "watch", "--output", str(missing))
    assert f"cannot write {missing}" in failed.stderr
    assert "No such file or directory" in failed.stderr

    a_file = out / "plain.txt"
    a_file.write_text("keep me")
    failed = cli.fails("monitor", "report", "watch", "--output", str(a_file / "report.html"))
    assert "cannot write" in failed.stderr

    # The JSON cannot be written: the HTML is not written either, an older one stays as it was.
    html = out / "report.html"
    html.write_text("the old report")
    failed = cli.fails(
        "monitor", "report", "watch", "--output", str(html),
        "--json-output", str(out / "missing" / "report.json"),
    )  # fmt: skip
    assert "cannot write" in failed.stderr
    assert html.read_text() == "the old report"
    assert sorted(p.name for p in out.iterdir()) == ["plain.txt", "report.html"]
    assert a_file.read_text() == "keep me"


def test_bad_input_is_one_error_line_and_writes_nothing(
    cli: Cli, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(cli)
    monkeypatch.chdir(out)
    before = cli.audit_count()
    for args, message in (
        (["ghost"], "no monitor named 'ghost'"),
        (["a/b"], "monitor name"),
        (["watch", "--since", "soon"], "ISO 8601"),
        (["watch", "--until", "2026-01-01T00:00:00"], "until"),
        (
            ["watch", "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"],
            "before until",
        ),
        (["watch", "--max-windows", "0"], "max_windows"),
        (["watch", "--project", "nowhere"], "nowhere"),
        (["watch", "-o", "same.html", "--json-output", "same.html"], "another file"),
    ):
        failed = cli.fails("monitor", "report", *args)
        assert message in failed.stderr, failed.stderr
    assert list(out.iterdir()) == []
    assert cli.audit_count() == before
