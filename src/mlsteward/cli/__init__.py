"""The ``mlsteward`` command line: operate the local platform (Typer + Rich).

Importing this package is cheap: each command imports the platform, SQLAlchemy or the server
when it runs, so ``mlsteward --help`` answers at once. Expected failures (``StewardError``)
print ``error: <message>`` on stderr and exit with status 1, without a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..errors import StewardError
from ._alert import alert_app
from ._artifacts import artifacts_app
from ._audit import audit_app
from ._blobs import blobs_app
from ._catalog import catalog_app
from ._config import config_app
from ._data import data_app
from ._db import db_app
from ._demo import demo_app
from ._deploy import deploy_app
from ._experiments import experiments_app
from ._extras import missing_extra
from ._gc import gc
from ._keys import keys_app
from ._lineage import lineage_app
from ._models import models_app
from ._monitor import monitor_app
from ._output import print_error
from ._package import package_app
from ._projects import projects_app
from ._runs import runs_app
from ._serve import serve
from ._server import server
from ._tokens import tokens_app
from ._users import users_app
from ._validate import suites_app, validate_command

__all__ = ["app", "main"]


class StewardGroup(TyperGroup):
    """The root command: turns every ``StewardError`` (and a missing optional package) into a
    one-line ``error: ...`` and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except StewardError as exc:
            print_error(exc)
            raise typer.Exit(1) from None
        except ImportError as exc:
            missing = missing_extra(exc)
            if missing is None:
                raise
            print_error(missing)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="mlsteward",
    cls=StewardGroup,
    epilog="Settings come from MLSTEWARD_* environment variables: see `mlsteward config show`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"mlsteward {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """mlsteward: track, version, package, serve, monitor and govern ML models and data.

    Commands act on the local platform as its administrator (audited as local-admin).
    """


app.command("server")(server)
app.command("serve")(serve)
app.command("gc")(gc)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(users_app, name="users")
app.add_typer(projects_app, name="projects")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(blobs_app, name="blobs")
app.add_typer(keys_app, name="keys")
app.add_typer(experiments_app, name="experiments")
app.add_typer(runs_app, name="runs")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(models_app, name="models")
app.add_typer(package_app, name="package")
app.command("validate")(validate_command)
app.add_typer(suites_app, name="suites")
app.add_typer(data_app, name="data")
app.add_typer(catalog_app, name="catalog")
app.add_typer(lineage_app, name="lineage")
app.add_typer(deploy_app, name="deploy")
app.add_typer(monitor_app, name="monitor")
app.add_typer(demo_app, name="demo")
app.add_typer(alert_app, name="alert")


def main() -> None:
    """Entry point of the ``mlsteward`` console script."""
    try:
        app(prog_name="mlsteward")
    except BrokenPipeError:
        # The reader went away (`mlsteward audit export | head`): stop quietly, as `cat` does.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
