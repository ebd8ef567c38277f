"""``mlsteward catalog``: search datasets, show one with its columns and usage, edit its
description, owners, tags and column classes."""

from __future__ import annotations

from typing import Annotated

import typer

from ._output import emit_json, format_time, print_message, print_success, print_table

catalog_app = typer.Typer(
    name="catalog",
    help="The data catalog: search datasets; descriptions, owners, tags, PII classes; usage.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The dataset's project.")]
DatasetArg = Annotated[str, typer.Argument(help="Dataset name.")]


@catalog_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Words to find (prefixes; all must match).")],
    project: Annotated[
        str | None,
        typer.Option("--project", help="Search one project (default: every readable one)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="At most this many.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """Find datasets by name, description, tag, owner or column name, best match first."""
    from ..data import search_datasets
    from ._local import local_platform, operator

    with local_platform() as platform:
        hits = search_datasets(platform, operator(), query, project=project, limit=limit)
    if json_output:
        emit_json([h.to_json() for h in hits])
        return
    print_table(
        ["dataset", "project", "latest", "owners", "tags", "description"],
        [
            [
                h.name,
                h.project,
                h.latest_version,
                ", ".join(h.owners),
                ", ".join(f"{k}={v}" for k, v in sorted(h.tags.items())),
                h.description[:80],
            ]
            for h in hits
        ],
        empty=f"no dataset matches {query!r}",
    )


@catalog_app.command("show")
def show(
    name: DatasetArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """A dataset's catalog entry: description, owners, tags, columns (type, PII class) and
    usage (runs that read its versions, model versions they produced)."""
    from ..data import dataset_catalog_entry
    from ._local import local_platform, operator

    with local_platform() as platform:
        entry = dataset_catalog_entry(platform, operator(), project, name)
    if json_output:
        emit_json(entry.to_json())
        return
    dataset = entry.dataset
    print_table(
        ["field", "value"],
        [
            ("description", dataset.description),
            ("owners", ", ".join(dataset.owners)),
            ("tags", ", ".join(f"{k}={v}" for k, v in sorted(dataset.tags.items()))),
            ("latest version", dataset.latest_version or ""),
            ("updated (UTC)", format_time(dataset.updated_at)),
        ],
        title=f"{dataset.name} ({project})",
    )
    print_table(
        ["column", "type", "pii class", "set by", "description"],
        [
            [c.name, c.data_type, c.pii_class or "", c.pii_source, c.description]
            for c in entry.columns
        ],
        title="columns",
        empty="no columns recorded (files dataset, or no version yet)",
    )
    print_table(
        ["version", "run", "model versions"],
        [[u.version, u.run_label, ", ".join(u.models)] for u in entry.usage],
        title="usage",
        empty="no run has recorded reading this dataset",
    )
    if entry.restricted_usage:
        print_message(f"{entry.restricted_usage} more run(s) in projects you cannot read")


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    from ..errors import InvalidArgument

    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"--tag takes KEY=VALUE, not {pair[:80]!r}")
        tags[key] = value
    return tags


@catalog_app.command("set")
def set_(
    name: DatasetArg,
    description: Annotated[
        str | None, typer.Option("--description", help="The new description.")
    ] = None,
    owner: Annotated[
        list[str] | None,
        typer.Option("--owner", help="An owner (a username; repeat; replaces the owners)."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="KEY=VALUE (repeat; added to the tags).")
    ] = None,
    remove_tag: Annotated[
        list[str] | None, typer.Option("--remove-tag", help="A tag to remove (repeat).")
    ] = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Change a dataset's description, owners or tags (search follows at once)."""
    from ..data import dataset_catalog_entry, update_dataset
    from ..errors import InvalidArgument
    from ._local import local_platform, operator

    if description is None and not owner and not tag and not remove_tag:
        raise InvalidArgument(
            "nothing to change: pass --description, --owner, --tag or --remove-tag"
        )
    added = _parse_tags(tag or [])
    with local_platform() as platform:
        tags = None
        if added or remove_tag:
            current = dataset_catalog_entry(platform, operator(), project, name).dataset.tags
            tags = {k: v for k, v in {**current, **added}.items() if k not in (remove_tag or [])}
        entry = update_dataset(
            platform,
            operator(),
            project,
            name,
            description=description,
            owners=owner or None,
            tags=tags,
        )
    if json_output:
        emit_json(entry.to_json())
        return
    print_success(f"updated the catalog entry of {name!r}")


@catalog_app.command("classify")
def classify(
    name: DatasetArg,
    column: Annotated[str, typer.Argument(help="Column name.")],
    pii_class: Annotated[
        str,
        typer.Argument(
            help="email, phone, iban, payment_card, ip_address, or none (not personal data)."
        ),
    ],
    description: Annotated[
        str | None, typer.Option("--description", help="The column's description.")
    ] = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Set a column's PII class by hand; detection never overwrites it afterwards."""
    from ..data import set_column_classification
    from ._local import local_platform, operator

    chosen = None if pii_class.lower() == "none" else pii_class
    with local_platform() as platform:
        result = set_column_classification(
            platform, operator(), project, name, column, chosen, description=description
        )
    if json_output:
        emit_json(result.to_json())
        return
    print_success(f"{name}.{column}: {result.pii_class or 'not personal data'} (set by hand)")
