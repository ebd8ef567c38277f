"""Search runs with the filter language, ordered and paged, entirely in the database.

A page token is url-safe base64 of JSON ``{"v", "after", "query"}``: the sort values of the
page's last run (keyset pagination) and a hash of the project, experiments, filter, order and
``include_deleted``, so a token reused with a different query is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._wire import canonical_json
from ..errors import InvalidArgument
from ..security import Actor, Role, fetch_project, require_project_role
from ._model import Run, runs_from_rows
from ._search_parser import OrderKey, parse_filter, parse_order_by
from ._search_sql import build_search_query, encode_position

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = ["MAX_ORDER_KEYS", "MAX_RESULTS", "RunPage", "search_runs"]

MAX_RESULTS = 10_000
MAX_ORDER_KEYS = 20
MAX_EXPERIMENT_IDS = 1000
# A token carries the last row's sort values (keyset pagination), so it grows with long
# param/tag values used as order keys.
_MAX_TOKEN_LENGTH = 400_000
_TOKEN_VERSION = 2


@dataclass(frozen=True)
class RunPage:
    """One page of search results; ``next_page_token`` is None on the last page."""

    runs: list[Run]
    next_page_token: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": [run.to_json() for run in self.runs],
            "next_page_token": self.next_page_token,
        }


def _query_digest(
    project: str,
    experiment_ids: Sequence[str] | None,
    filter: str,
    order_by: Sequence[str],
    include_deleted: bool,
) -> str:
    """A short hash of everything that defines the result set and its order."""
    identity = {
        "project": project,
        "experiments": None if experiment_ids is None else sorted(experiment_ids),
        "filter": filter,
        "order_by": list(order_by),
        "include_deleted": include_deleted,
    }
    return hashlib.sha256(canonical_json(identity)).hexdigest()[:24]


def _encode_token(position: list[Any], digest: str) -> str:
    raw = canonical_json({"v": _TOKEN_VERSION, "after": position, "query": digest})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_token(token: str, digest: str) -> Any:
    """The position a token carries; ``InvalidArgument`` if malformed or from another query."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise _bad_token()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_token() from None
    if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION or "after" not in data:
        raise _bad_token()
    if data.get("query") != digest:
        raise InvalidArgument(
            "page_token belongs to a different search (project, experiments, filter or order "
            "changed): start again without page_token",
            details={"field": "page_token"},
        )
    return data["after"]


def _bad_token() -> InvalidArgument:
    return InvalidArgument(
        "page_token is not a token returned by this search: start again without page_token",
        details={"field": "page_token"},
    )


def _parse_order(order_by: Sequence[str]) -> list[OrderKey]:
    if isinstance(order_by, str):
        raise InvalidArgument("order_by is a list of entries like ['metrics.auc DESC']")
    if len(order_by) > MAX_ORDER_KEYS:
        raise InvalidArgument(
            f"order_by has {len(order_by)} entries: at most {MAX_ORDER_KEYS} are allowed",
            details={"field": "order_by"},
        )
    keys = []
    for index, entry in enumerate(order_by):
        if not isinstance(entry, str):
            raise InvalidArgument(f"order_by[{index}] must be a string")
        try:
            keys.append(parse_order_by(entry))
        except InvalidArgument as exc:
            raise InvalidArgument(
                f"order_by[{index}] {exc.message}",
                details={**exc.details, "field": "order_by", "index": index},
            ) from None
    return keys


def search_runs(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    experiment_ids: Sequence[str] | None = None,
    filter: str = "",
    order_by: Sequence[str] = (),
    max_results: int = 100,
    page_token: str | None = None,
    include_deleted: bool = False,
) -> RunPage:
    """Runs of ``project`` (optionally only ``experiment_ids``) that match ``filter``.

    Ordered by ``order_by`` (default ``attributes.start_time DESC``), then by run id; runs
    missing an order key come last. ``max_results`` is 1..10,000. Pass the returned
    ``next_page_token`` back with the same query for the next page. Deleted runs (and runs
    of deleted experiments) are left out unless ``include_deleted``. Needs the viewer role.
    Raises ``InvalidArgument`` (bad filter, order, token or limit), ``NotFound`` (project),
    ``PermissionDenied``.
    """
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise InvalidArgument("max_results must be an integer", details={"field": "max_results"})
    if not 1 <= max_results <= MAX_RESULTS:
        raise InvalidArgument(
            f"max_results is {max_results}: use 1 to {MAX_RESULTS} and page with page_token",
            details={"field": "max_results"},
        )
    if not isinstance(filter, str):
        raise InvalidArgument("filter must be a string", details={"field": "filter"})
    if experiment_ids is not None:
        if isinstance(experiment_ids, str):
            raise InvalidArgument("experiment_ids is a list of experiment ids")
        experiment_ids = list(dict.fromkeys(experiment_ids))
        if len(experiment_ids) > MAX_EXPERIMENT_IDS:
            raise InvalidArgument(
                f"at most {MAX_EXPERIMENT_IDS} experiment ids per search",
                details={"field": "experiment_ids"},
            )
    expr = parse_filter(filter)
    order = _parse_order(order_by)
    digest = _query_digest(project, experiment_ids, filter, order_by, include_deleted)
    after = None if page_token is None else _decode_token(page_token, digest)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        try:
            query = build_search_query(
                conn.dialect.name,
                project_row.id,
                experiment_ids=experiment_ids,
                expr=expr,
                order=order,
                include_deleted=include_deleted,
                limit=max_results + 1,
                after=after,
            )
        except ValueError:
            raise _bad_token() from None
        rows = conn.execute(query.statement).all()
        found = runs_from_rows(conn, rows[:max_results])
    if len(rows) <= max_results:
        return RunPage(found, None)
    position = encode_position(query.terms, rows[max_results - 1][: len(query.terms)])
    return RunPage(found, _encode_token(position, digest))
