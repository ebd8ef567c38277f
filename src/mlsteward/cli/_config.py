"""``mlsteward config``: the effective settings and where each value came from."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ._output import emit_json, print_table

config_app = typer.Typer(
    name="config", help="Show the effective configuration.", no_args_is_help=True
)


def _shown(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, dict | list | bool):
        return json.dumps(value)
    return str(value)


@config_app.command("show")
def show(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """Every setting with its value, its source (env, default, derived) and what it does.

    Secrets and credentials are masked.
    """
    from ..settings import ENV_PREFIX, describe_settings
    from ._local import cli_settings

    rows = [
        {
            "name": row.name,
            "env": f"{ENV_PREFIX}{row.name.upper()}",
            "value": row.value,
            "source": row.source,
            "description": row.description,
        }
        for row in describe_settings(cli_settings())
    ]
    if json_output:
        emit_json(rows)
        return
    print_table(
        ["setting", "value", "source", "description"],
        [[r["env"], _shown(r["value"]), r["source"], r["description"]] for r in rows],
    )
