"""Which ``pip install 'mlsteward[extra]'`` provides a module that failed to import."""

from __future__ import annotations

from ..errors import MissingExtra

# Top-level modules of each optional extra (pyproject.toml). A missing one means "install the
# extra"; any other ImportError is a bug and must surface as one.
EXTRA_FOR_MODULE = {
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "jinja2": "server",
    "multipart": "server",
    "python_multipart": "server",
    "prometheus_client": "server",
    "psycopg": "postgres",
    "psycopg_binary": "postgres",
    "s3fs": "s3",
    "aiobotocore": "s3",
    "botocore": "s3",
    "pyspark": "spark",
}


def missing_extra(exc: ImportError, needed_for: str = "this command") -> MissingExtra | None:
    """A ``MissingExtra`` naming the extra to install, or None if ``exc`` is not about one."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRA_FOR_MODULE.get(module)
    if extra is None:
        return None
    return MissingExtra(
        f"{needed_for} needs the {extra} extra ({module} is not installed): "
        f"pip install 'mlsteward[{extra}]'",
        details={"extra": extra, "module": module},
    )
