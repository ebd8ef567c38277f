"""Prediction windows through ``Client``, in-process and over HTTP: files stored and windows
recorded by a project editor list back the same; bad input is the same error in both worlds
and records nothing."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from typing import Any, cast

import pyarrow.parquet as pq
import pytest

from mlsteward.client import Client
from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from mlsteward.monitoring import PredictionWindow
from mlsteward.profiles import DatasetProfile
from mlsteward.serving._prediction_sinks import ClientSink

from ..monitoring.test_windows import closed_window
from .conftest import World

START = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
_PROJECTS = itertools.count()


def _team(world: World) -> tuple[str, Client, Client, Client]:
    """A new project; clients of an editor (not its owner), a viewer and an outsider."""
    n = next(_PROJECTS)
    project = f"windows{n}"
    owner = world.user(f"wowner{n}")
    owner.create_project(project)
    editor, viewer, outsider = (world.user(f"w{role}{n}") for role in ("ed", "vi", "out"))
    owner.add_member(project, f"wed{n}", "editor")
    owner.add_member(project, f"wvi{n}", "viewer")
    return project, editor, viewer, outsider


def _fields(client: Client, project: str, hour: int = 0, **changes: Any) -> dict[str, Any]:
    profile = client.put_prediction_file(project, b'{"profile": %d}' % hour).address
    rows = client.put_prediction_file(project, b"rows %d" % hour).address
    feedback = client.put_prediction_file(project, b"feedback %d" % hour).address
    fields: dict[str, Any] = {
        "model_name": "fraud",
        "model_version": "3",
        "start": START + dt.timedelta(hours=hour),
        "end": START + dt.timedelta(hours=hour, minutes=1),
        "rows": 12,
        "sampled_rows": 2,
        "feedback_labels": 1,
        "profile_address": profile,
        "rows_address": rows,
        "feedback_address": feedback,
        "output_columns": ["prediction"],
        "source": "host-1",
    }
    return {**fields, **changes}


def test_an_editor_records_windows_that_list_back_the_same(world: World) -> None:
    project, editor, viewer, _ = _team(world)
    first = editor.record_prediction_window(project, **_fields(editor, project, 0))
    second = editor.record_prediction_window(
        project, **_fields(editor, project, 1, model_version="4", deployment="prod")
    )
    assert (first.model_name, first.model_version, first.rows, first.sampled_rows) == (
        "fraud", "3", 12, 2,
    )  # fmt: skip
    assert (first.start, first.end) == (START, START + dt.timedelta(minutes=1))
    assert first.output_columns == ("prediction",)
    assert first.created_by == editor.whoami().name
    assert second.deployment == "prod"

    listed = viewer.list_prediction_windows(project)
    assert [w.to_json() for w in listed] == [first.to_json(), second.to_json()]
    assert listed == [first, second]
    assert viewer.list_prediction_windows(project, model_version="4") == [second]
    assert viewer.list_prediction_windows(project, deployment="prod") == [second]
    assert viewer.list_prediction_windows(project, since=START + dt.timedelta(minutes=30)) == [
        second
    ]
    assert viewer.list_prediction_windows(project, until=START + dt.timedelta(minutes=30)) == [
        first
    ]
    assert viewer.list_prediction_windows(project, model_name="churn") == []
    assert viewer.list_prediction_windows(project, limit=1) == [first]
    # The files are in the platform's blob store under the addresses the window names.
    assert world.platform.blobs.get_bytes(first.rows_address) == b"rows 0"


def test_a_window_round_trips_through_its_json() -> None:
    window = PredictionWindow(
        "id1", "p1", "fraud", "3", None, START, START + dt.timedelta(minutes=1), 5, 1, 0,
        ("prediction",), "host-1", "a" * 64, "b" * 64, "c" * 64, START, "eve",
    )  # fmt: skip
    assert PredictionWindow.from_json(window.to_json()) == window
    with pytest.raises(KeyError):
        PredictionWindow.from_json({"id": "x"})


def test_storing_the_same_file_twice_stores_it_once(world: World) -> None:
    project, editor, _, _ = _team(world)
    first = editor.put_prediction_file(project, b"same bytes")
    again = editor.put_prediction_file(project, bytearray(b"same bytes"))
    assert (first.address, first.size) == (again.address, 10)
    assert not again.created


def test_viewers_cannot_write_and_outsiders_cannot_read(world: World) -> None:
    project, editor, viewer, outsider = _team(world)
    fields = _fields(editor, project)
    with pytest.raises(PermissionDenied):
        viewer.record_prediction_window(project, **fields)
    with pytest.raises(PermissionDenied):
        viewer.put_prediction_file(project, b"a file")
    with pytest.raises(PermissionDenied):
        outsider.list_prediction_windows(project)
    with pytest.raises(NotFound):
        editor.list_prediction_windows("no-such-project")
    assert editor.list_prediction_windows(project) == []


BAD_WINDOWS: list[tuple[str, dict[str, Any], str]] = [
    ("end-before-start", {"end": START - dt.timedelta(seconds=1)}, "must end after it starts"),
    ("naive-start", {"start": dt.datetime(2026, 11, 29, 12)}, "timezone-aware"),
    ("unknown-address", {"rows_address": "d" * 64}, "is not in the blob store"),
    ("hostile-address", {"profile_address": "../../etc/passwd"}, "address"),
    ("more-sampled-than-rows", {"sampled_rows": 13}, "sampled_rows cannot be more"),
    ("negative-rows", {"rows": -1}, "rows must be a whole number"),
    ("empty-model", {"model_name": ""}, "model_name must be a non-empty string"),
    ("outputs-a-string", {"output_columns": "prediction"}, ""),
    ("rows-a-float", {"rows": 1.5}, ""),
]


@pytest.mark.parametrize(
    ("changes", "message"), [b[1:] for b in BAD_WINDOWS], ids=[b[0] for b in BAD_WINDOWS]
)
def test_bad_windows_are_refused_and_nothing_is_recorded(
    world: World, changes: dict[str, Any], message: str
) -> None:
    project, editor, _, _ = _team(world)
    with pytest.raises(InvalidArgument) as raised:
        editor.record_prediction_window(project, **_fields(editor, project, **changes))
    assert message in raised.value.message
    assert editor.list_prediction_windows(project) == []


BAD_FILTERS: list[tuple[str, dict[str, Any], str]] = [
    ("limit-0", {"limit": 0}, "limit"),
    ("limit-too-big", {"limit": 10_001}, "limit"),
    ("naive-since", {"since": dt.datetime(2026, 1, 1)}, "since must be a timezone-aware"),
    ("empty-model", {"model_name": ""}, "model_name"),
]


@pytest.mark.parametrize(
    ("filters", "message"), [b[1:] for b in BAD_FILTERS], ids=[b[0] for b in BAD_FILTERS]
)
def test_bad_filters_are_refused(world: World, filters: dict[str, Any], message: str) -> None:
    project, editor, _, _ = _team(world)
    with pytest.raises(InvalidArgument) as raised:
        editor.list_prediction_windows(project, **filters)
    assert message in raised.value.message


def test_bad_projects_and_files_are_refused(world: World) -> None:
    project, editor, _, _ = _team(world)
    with pytest.raises(InvalidArgument, match="contains '/'"):
        editor.list_prediction_windows("a/b")
    with pytest.raises(InvalidArgument, match="contains '/'"):
        editor.put_prediction_file("a/b", b"x")
    with pytest.raises(InvalidArgument, match="data must be bytes"):
        editor.put_prediction_file(project, "text")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        editor.put_prediction_file("no-such-project", b"x")


class _DroppedAnswers:
    """A client whose next ``failures`` record calls fail like a dropped connection: after the
    platform committed the window (``committed``) or before it saw the call."""

    def __init__(self, client: Client, *, failures: int, committed: bool) -> None:
        self.client = client
        self.failures = failures
        self.committed = committed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def record_prediction_window(self, project: str, **fields: Any) -> PredictionWindow:
        if self.failures:
            self.failures -= 1
            if self.committed:
                self.client.record_prediction_window(project, **fields)
            raise Unavailable("the connection dropped")
        return self.client.record_prediction_window(project, **fields)


def test_the_client_sink_ships_a_window_with_readable_files(world: World) -> None:
    project, editor, viewer, _ = _team(world)
    window, frame = closed_window()
    ClientSink(editor, project, deployment="fraud-prod").ship(window)
    (stored,) = viewer.list_prediction_windows(project)
    assert (stored.model_name, stored.model_version, stored.deployment) == (
        "fraud", "3", "fraud-prod",
    )  # fmt: skip
    assert (stored.rows, stored.sampled_rows, stored.feedback_labels) == (40, 40, 2)
    assert stored.start == dt.datetime.fromtimestamp(window.start, dt.UTC)
    assert stored.source == window.source
    rows = pq.read_table(io.BytesIO(world.platform.blobs.get_bytes(stored.rows_address)))
    assert rows.column("amount").to_pylist() == frame["amount"].tolist()
    profile = json.loads(world.platform.blobs.get_bytes(stored.profile_address))
    assert DatasetProfile.from_dict(profile).row_count == 40


@pytest.mark.parametrize("committed", [True, False], ids=["answer-lost", "never-arrived"])
def test_a_retried_window_is_recorded_once(world: World, committed: bool) -> None:
    project, editor, viewer, _ = _team(world)
    window, _ = closed_window()
    flaky = _DroppedAnswers(editor, failures=1, committed=committed)
    sink = ClientSink(cast(Client, flaky), project)
    with pytest.raises(Unavailable):
        sink.ship(window)
    sink.ship(window)  # the prediction log's retry
    (stored,) = viewer.list_prediction_windows(project)
    assert stored.rows == 40
    sink.ship(window)  # shipped again once settled: a new record, as with any other sink
    assert len(viewer.list_prediction_windows(project)) == 2


def test_the_client_sink_raises_when_it_may_not_write(world: World) -> None:
    project, _, viewer, _ = _team(world)
    window, _ = closed_window()
    with pytest.raises(PermissionDenied):
        ClientSink(viewer, project).ship(window)
    assert viewer.list_prediction_windows(project) == []


def test_training_pii_columns_are_the_same_in_both_worlds(world: World) -> None:
    """What a prediction log masks: the catalog's PII columns of the version's training data,
    found through the lineage, locally or over HTTP; a viewer may ask, an outsider may not."""
    from ..data._lineage_rows import add_dataset, new_run, register_from, set_detected_class

    project, _, viewer, outsider = _team(world)
    dataset, model = f"transactions-{project}", f"fraud-{project}"
    platform = world.platform
    (version_id,) = add_dataset(platform, dataset, project=project, columns=["email", "amount"])
    set_detected_class(platform, dataset, "email", "email")
    run_id = new_run(platform, project=project)
    datasets = [{"dataset_version_id": version_id}]
    version = register_from(platform, run_id, model, project=project, datasets=datasets)
    assert viewer.training_pii_columns(project, model, version.version) == {"email": "email"}
    assert viewer.training_pii_columns(project, model, str(version.version)) == {"email": "email"}
    assert viewer.training_pii_columns(project, "unknown", 1) == {}
    with pytest.raises(InvalidArgument) as raised:
        viewer.training_pii_columns(project, model, "latest")
    assert "must be a number" in raised.value.message
    with pytest.raises((PermissionDenied, NotFound)):
        outsider.training_pii_columns(project, model, version.version)
