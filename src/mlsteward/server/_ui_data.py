"""The data pages of the web UI: the dataset catalog with search, a dataset's page (versions,
schema, statistics with histograms, PII classes, validation results, usage) and the diff of two
versions. Every page goes through the data, profile and validation services with the
logged-in actor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends
from starlette.responses import RedirectResponse, Response

from ..errors import InvalidArgument, StewardError
from ..security import list_projects
from ._ui_histogram import HEIGHT as HISTOGRAM_HEIGHT
from ._ui_histogram import WIDTH as HISTOGRAM_WIDTH
from ._ui_histogram import Bar, histogram_bars
from ._ui_render import UIRoute, render
from ._ui_session import Page, viewer

if TYPE_CHECKING:
    from ..data import DatasetVersion

__all__ = ["dataset_path", "router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
MAX_QUERY = 200
DATA_DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"
"""Data docs carry their own inline CSS and no script; this policy lets nothing else run."""


def datasets_path(project: str) -> str:
    return f"/projects/{quote(project, safe='')}/datasets"


def dataset_path(project: str, name: str, version: int | None = None) -> str:
    path = f"{datasets_path(project)}/{quote(name, safe='')}"
    return path if version is None else f"{path}?{urlencode({'version': version})}"


def lineage_path(project: str, node: str) -> str:
    return "/lineage?" + urlencode({"project": project, "node": node})


@dataclass(frozen=True)
class ColumnView:
    """One row of the dataset page's schema table."""

    name: str
    data_type: str
    pii_class: str | None
    pii_source: str
    description: str
    stats: dict[str, Any]
    bars: list[Bar]


@router.get("/datasets")
def datasets_home(page: Viewer) -> Response:
    projects = list_projects(page.platform, page.actor)
    wanted = page.request.query_params.get("project", "")
    query = page.request.query_params.get("q", "")
    if wanted:
        if not any(p.name == wanted for p in projects):
            raise InvalidArgument(f"there is no project {wanted[:64]!r} that you can see")
        target = datasets_path(wanted)
        return RedirectResponse(f"{target}?{urlencode({'q': query})}" if query else target, 303)
    if projects:
        return RedirectResponse(datasets_path(projects[0].name), status_code=303)
    return render(
        page,
        "data_catalog.html",
        active="datasets",
        projects=[],
        project=None,
        query="",
        datasets=[],
        hits=None,
    )


@router.get("/projects/{project}/datasets")
def catalog_page(page: Viewer, project: str) -> Response:
    from ..data import list_datasets, search_datasets

    query = page.request.query_params.get("q", "").strip()
    if len(query) > MAX_QUERY:
        raise InvalidArgument(f"a search is at most {MAX_QUERY} characters")
    hits = search_datasets(page.platform, page.actor, query, project=project) if query else None
    datasets = list_datasets(page.platform, page.actor, project)
    return render(
        page,
        "data_catalog.html",
        active="datasets",
        projects=list_projects(page.platform, page.actor),
        project=project,
        query=query,
        datasets=datasets,
        hits=hits,
    )


def _int_param(page: Page, name: str) -> int | None:
    raw = page.request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidArgument(f"{name} must be a version number, not {raw[:20]!r}")
    return int(raw)


def _profile_summary(page: Page, version: DatasetVersion) -> dict[str, Any]:
    """Per-column statistics of a table version, from its stored profile."""
    if version.profile_address is None:
        return {}
    from ..profiles import DatasetProfile

    profile = DatasetProfile.from_dict(
        json.loads(page.platform.blobs.get_bytes(version.profile_address))
    )
    summary: dict[str, Any] = profile.summary()
    columns: dict[str, Any] = summary.get("columns", {})
    return columns


def _column_views(columns: list[Any], stats: dict[str, Any]) -> list[ColumnView]:
    views = []
    for column in columns:
        column_stats = stats.get(column.name, {})
        histogram = column_stats.get("histogram") or {}
        views.append(
            ColumnView(
                name=column.name,
                data_type=column.data_type,
                pii_class=column.pii_class,
                pii_source=column.pii_source,
                description=column.description,
                stats=column_stats,
                bars=histogram_bars(histogram.get("edges", ()), histogram.get("counts", ())),
            )
        )
    return views


@router.get("/projects/{project}/datasets/{name}")
def dataset_page(page: Viewer, project: str, name: str) -> Response:
    from ..data import dataset_catalog_entry, get_dataset_version, list_dataset_versions
    from ..validation import list_validation_results

    platform, actor = page.platform, page.actor
    entry = dataset_catalog_entry(platform, actor, project, name)
    versions = list_dataset_versions(platform, actor, project, name)
    wanted = _int_param(page, "version")
    version = None
    if versions:
        version = get_dataset_version(platform, actor, project, name, wanted)
    stats = _profile_summary(page, version) if version is not None else {}
    results = (
        list_validation_results(platform, actor, project, dataset_version_id=version.id)
        if version is not None
        else []
    )
    return render(
        page,
        "data_dataset.html",
        active="datasets",
        project=project,
        entry=entry,
        dataset=entry.dataset,
        versions=versions,
        version=version,
        columns=_column_views(list(entry.columns), stats),
        results=results,
        histogram_width=HISTOGRAM_WIDTH,
        histogram_height=HISTOGRAM_HEIGHT,
        lineage_href=(
            lineage_path(project, f"dataset:{name}@{version.version}") if version else None
        ),
        base=dataset_path(project, name),
    )


@router.get("/projects/{project}/datasets/{name}/diff")
def diff_page(page: Viewer, project: str, name: str) -> Response:
    from ..data import diff_dataset_versions, get_dataset, list_dataset_versions

    platform, actor = page.platform, page.actor
    dataset = get_dataset(platform, actor, project, name)
    versions = list_dataset_versions(platform, actor, project, name)
    a, b = _int_param(page, "a"), _int_param(page, "b")
    diff = None
    error = None
    if a is not None and b is not None:
        try:
            diff = diff_dataset_versions(platform, actor, project, name, a, b)
        except StewardError as exc:
            if not isinstance(exc, InvalidArgument):
                raise
            error = exc.message
    return render(
        page,
        "data_diff.html",
        active="datasets",
        project=project,
        dataset=dataset,
        versions=versions,
        a=a,
        b=b,
        diff=diff,
        error=error,
        base=dataset_path(project, name),
        status=400 if error else 200,
    )


@router.get("/projects/{project}/datasets/{name}/versions/{version}")
def dataset_version_page(page: Viewer, project: str, name: str, version: str) -> Response:
    """A version's address (the lineage graph links here): the dataset page showing it."""
    if not version.isdigit() or len(version) > 9:
        raise InvalidArgument(f"version must be a version number, not {version[:20]!r}")
    return RedirectResponse(dataset_path(project, name, int(version)), status_code=303)


@router.get("/projects/{project}/validation-results/{result_id}")
def data_docs_page(page: Viewer, project: str, result_id: str) -> Response:
    """A stored validation result as self-contained data docs (no script, own CSP)."""
    from ..validation import get_validation_result, render_data_docs

    stored = get_validation_result(page.platform, page.actor, project, result_id)
    html = render_data_docs(stored.result, title=f"Data docs: {stored.result.suite_name}")
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": DATA_DOCS_CSP},
    )
