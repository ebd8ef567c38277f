"""``mlsteward demo``: complete, seeded walks through the platform on this machine.

``demo fraud`` runs the fraud-detection loop on the current platform settings (the embedded
default: ``MLSTEWARD_HOME``), prints its timeline, and then serves the platform so a person can
look at every step in the web UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._blobs import steward_errors
from ._output import emit_json, print_message, print_success, print_table, print_warning

if TYPE_CHECKING:
    from ..demos._fraud_demo import DemoSize, FraudDemoResult, Stage

__all__ = ["demo_app"]

demo_app = typer.Typer(
    name="demo",
    help="Demos: seeded walks through the whole platform on this machine.",
    no_args_is_help=True,
)


def _size(rows: str) -> DemoSize:
    """``small``, ``full`` or a number of training rows (replaying a quarter as many)."""
    from ..demos._fraud_demo import DEMO_SIZES, DemoSize
    from ..errors import InvalidArgument

    if rows in DEMO_SIZES:
        return DEMO_SIZES[rows]
    if not rows.isdigit():
        raise InvalidArgument(
            f"--rows {rows[:40]!r} is not valid: give small, full or a number of training rows"
        )
    count = int(rows)
    return DemoSize(count, max(1_000, count // 4))


def _print_stage(stage: Stage) -> None:
    print_message(f"  {stage.seconds:7.1f} s  {stage.name}: {stage.detail}")


def _print_result(result: FraudDemoResult) -> None:
    print_table(
        ["stage", "started", "seconds", "what happened"],
        [
            [s.name, f"{s.started_at:%H:%M:%S}", f"{s.seconds:.1f}", s.detail]
            for s in result.timeline
        ],
        title="fraud-detection loop",
    )
    measured = result.alert_to_serving_seconds
    if measured is not None:
        print_success(
            f"alert to v{result.retrained_version} serving 100 % of the traffic: "
            f"{measured:.1f} s (measured from the alert's opened_at)"
        )
    elif result.alert_id is None:
        print_warning("the recall alert did not fire: nothing was retrained")
    else:
        print_warning(
            f"the retrained version did not take all traffic (action {result.action_status})"
        )


@demo_app.command("fraud")
def fraud(
    rows: Annotated[
        str,
        typer.Option(
            "--rows",
            help="small (6,000 training rows, one model kind), full (20,000, three kinds) or "
            "a number of training rows.",
        ),
    ] = "full",
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the generated data.")] = 7,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running/--no-keep-running",
            help="Serve the platform afterwards (login required) until Ctrl-C.",
        ),
    ] = True,
    port: Annotated[
        int,
        typer.Option("--port", min=1, max=65535, help="Port of the platform with --keep-running."),
    ] = 8470,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """Run the fraud-detection loop: train, approve, deploy, drift, alert, retrain, canary.

    Generates card transactions, versions and validates them, trains candidate models, takes
    the best to @production with a second demo user's approval, packages, signs and deploys
    it, replays traffic whose fraud pattern has shifted, evaluates the monitor's window of it,
    and lets the recall alert retrain and roll the new version out as a canary. The
    deployment `fraud-api` (project `fraud`) keeps running afterwards.
    """
    from ..demos._fraud_demo import run_fraud_demo
    from ._local import cli_settings

    with steward_errors():
        size = _size(rows)
        settings = cli_settings()
        if not json_output:
            print_message(
                f"==> fraud demo: {size.train_rows} training rows, {size.replay_rows} replayed "
                f"rows, seed {seed}, home {settings.home}"
            )
        result = run_fraud_demo(settings, size=size, seed=seed, on_stage=_print_stage)
    if json_output:
        emit_json(result.to_json())
    else:
        _print_result(result)
    if keep_running:
        _serve(port)
    else:
        print_message(
            "the deployment fraud-api keeps running (mlsteward deploy stop fraud-api "
            "--project fraud stops it); start the platform with `mlsteward server` and open "
            "project 'fraud' in the web UI"
        )


def _serve(port: int) -> None:
    from ._server import AuthModeChoice, server

    print_message(
        f"==> the platform serves http://127.0.0.1:{port}: log in as an administrator (make "
        "demo printed admin's password once) and open project 'fraud': runs, model versions "
        "and aliases, the deployment, the monitor's drift charts, the alert, lineage, audit"
    )
    server(host="127.0.0.1", port=port, auth_mode=AuthModeChoice.required)
