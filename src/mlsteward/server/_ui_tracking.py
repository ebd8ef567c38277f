"""The tracking pages of the web UI: projects and experiments, and the runs table.

The runs table costs one ``search_runs`` call per page whatever the project's size: paging is
by the service's page tokens, sorting by its ``order_by`` and filtering by its search language.
The run and compare pages live in ``_ui_tracking_charts``.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends
from starlette.datastructures import QueryParams
from starlette.responses import FileResponse, Response

from ..errors import InvalidArgument, MissingExtra
from ..security import list_projects
from ..tracking import Experiment, Run, RunPage, list_experiments, search_runs
from ._ui_render import UIRoute, render
from ._ui_session import Page, viewer
from ._ui_tracking_charts import router as charts_router

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
router.include_router(charts_router)
Viewer = Annotated[Page, Depends(viewer)]

PAGE_SIZE = 50
MAX_COLUMNS = 40
DEFAULT_COLUMNS_PER_KIND = 6
MAX_FILTER_LENGTH = 10_000
MAX_ORDER_LENGTH = 600
PLOTLY_URL = "/vendor/plotly.min.js"


@functools.cache
def _plotly_bundle() -> Path | None:
    """The Plotly.js bundle shipped inside the installed ``plotly`` package (not imported)."""
    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "package_data" / "plotly.min.js"
        if candidate.is_file():
            return candidate
    return None


@router.get(PLOTLY_URL)
def plotly_bundle() -> Response:
    bundle = _plotly_bundle()
    if bundle is None:
        raise MissingExtra("charts need the plotly package: pip install 'mlsteward[server]'")
    return FileResponse(
        bundle,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@dataclass(frozen=True)
class Column:
    """A column of the runs table: ``kind`` is ``metrics``, ``params`` or ``tags``."""

    kind: str
    key: str

    @property
    def ref(self) -> str:
        return f"{self.kind}.{self.key}"

    @property
    def field(self) -> str | None:
        """The column as a field of the search language (None when it cannot be quoted)."""
        if "`" not in self.key:
            return f"{self.kind}.`{self.key}`"
        if '"' not in self.key:
            return f'{self.kind}."{self.key}"'
        return None

    @classmethod
    def parse(cls, ref: str) -> Column | None:
        kind, _, key = ref.partition(".")
        if kind not in {"metrics", "params", "tags"} or not key.strip() or len(key) > 250:
            return None
        return cls(kind, key)

    def value(self, run: Run) -> str | float | None:
        source: dict[str, str] | dict[str, float] = getattr(run, self.kind)
        return source.get(self.key)


ATTRIBUTE_COLUMNS = (
    ("attributes.name", "Name"),
    ("attributes.status", "Status"),
    ("attributes.start_time", "Started"),
)


@dataclass(frozen=True)
class RunsQuery:
    """What the runs table shows, read from (and written back to) the query string."""

    filter: str = ""
    order: str = ""
    experiment: str = ""
    columns: tuple[Column, ...] | None = None  # None: chosen from the runs on the page

    @classmethod
    def from_query(cls, query: QueryParams) -> RunsQuery:
        text = query.get("filter", "").strip()
        if len(text) > MAX_FILTER_LENGTH:
            raise InvalidArgument(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
        order = query.get("order", "").strip()
        if len(order) > MAX_ORDER_LENGTH:
            raise InvalidArgument(f"the sort order is longer than {MAX_ORDER_LENGTH} characters")
        columns = None
        if query.get("cols") == "1" or query.getlist("col"):
            refs = query.getlist("col")
            if len(refs) > MAX_COLUMNS:
                raise InvalidArgument(f"choose at most {MAX_COLUMNS} columns")
            parsed = [Column.parse(ref) for ref in refs]
            columns = tuple(dict.fromkeys(c for c in parsed if c is not None))
        return cls(text, order, query.get("experiment", "").strip()[:64], columns)

    def link(self, project: str, **changes: str | None) -> str:
        state: dict[str, str | None] = {
            "filter": self.filter,
            "order": self.order,
            "experiment": self.experiment,
        }
        state.update(changes)
        pairs: list[tuple[str, str]] = [(k, v) for k, v in state.items() if v]
        if self.columns is not None:
            pairs.append(("cols", "1"))
            pairs.extend(("col", c.ref) for c in self.columns)
        query = urlencode(pairs)
        return f"/projects/{quote(project, safe='')}/runs" + (f"?{query}" if query else "")

    def sort_link(self, project: str, field: str, *, descending_first: bool) -> str:
        if self.order == f"{field} DESC":
            order = f"{field} ASC"
        elif self.order == f"{field} ASC":
            order = f"{field} DESC"
        else:
            order = f"{field} {'DESC' if descending_first else 'ASC'}"
        return self.link(project, order=order, page_token=None)

    def sort_state(self, field: str | None) -> str:
        if field and self.order == f"{field} DESC":
            return "descending"
        if field and self.order == f"{field} ASC":
            return "ascending"
        return "none"


def _default_columns(runs: list[Run]) -> tuple[Column, ...]:
    metrics = sorted({k for r in runs for k in r.metrics})[:DEFAULT_COLUMNS_PER_KIND]
    params = sorted({k for r in runs for k in r.params})[:DEFAULT_COLUMNS_PER_KIND]
    return tuple(Column("metrics", k) for k in metrics) + tuple(Column("params", k) for k in params)


def _available_columns(runs: list[Run], chosen: tuple[Column, ...]) -> list[Column]:
    found = {Column("metrics", k) for r in runs for k in r.metrics}
    found |= {Column("params", k) for r in runs for k in r.params}
    found |= {Column("tags", k) for r in runs for k in r.tags if not k.startswith("mlsteward.")}
    found |= set(chosen)
    return sorted(found, key=lambda c: ({"metrics": 0, "params": 1, "tags": 2}[c.kind], c.key))


def _filter_problem(exc: InvalidArgument) -> str:
    position = exc.details.get("position")
    if isinstance(position, int):
        expected = exc.details.get("expected", "")
        return f"The filter is not valid at position {position}: expected {expected}."
    return f"The search is not valid: {exc.message}"


@router.get("/experiments")
def experiments_page(page: Viewer) -> Response:
    projects = list_projects(page.platform, page.actor)
    wanted = page.request.query_params.get("project", "")
    chosen = next((p for p in projects if p.name == wanted), None)
    if wanted and chosen is None:
        raise InvalidArgument(f"there is no project {wanted[:64]!r} that you can see")
    if chosen is None and projects:
        chosen = projects[0]
    experiments: list[Experiment] = []
    if chosen is not None:
        experiments = list_experiments(page.platform, page.actor, chosen.name)
    return render(
        page,
        "tracking_experiments.html",
        active="experiments",
        projects=projects,
        project=chosen,
        experiments=experiments,
    )


@router.get("/projects/{project}/runs")
def runs_page(page: Viewer, project: str) -> Response:
    query = page.request.query_params
    # Checks the project and the viewer's role before anything about the search is said.
    experiments = list_experiments(page.platform, page.actor, project)
    state = RunsQuery.from_query(query)
    token = query.get("page_token") or None
    status, problem, detail = 200, None, None
    try:
        result = search_runs(
            page.platform,
            page.actor,
            project,
            experiment_ids=[state.experiment] if state.experiment else None,
            filter=state.filter,
            order_by=[state.order] if state.order else (),
            max_results=PAGE_SIZE,
            page_token=token,
        )
    except InvalidArgument as exc:
        status, problem, detail = 400, _filter_problem(exc), exc.message
        result = RunPage([], None)
    columns = state.columns if state.columns is not None else _default_columns(result.runs)
    return render(
        page,
        "tracking_runs.html",
        status=status,
        active="experiments",
        project=project,
        experiments=experiments,
        experiment_names={e.id: e.name for e in experiments},
        state=state,
        problem=problem,
        problem_detail=detail,
        runs=result.runs,
        columns=columns,
        available=_available_columns(result.runs, columns),
        attribute_columns=ATTRIBUTE_COLUMNS,
        next_link=(
            state.link(project, page_token=result.next_page_token)
            if result.next_page_token
            else None
        ),
        first_link=state.link(project) if token else None,
    )
