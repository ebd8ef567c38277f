"""Install a peer tool into its own virtual environment: ``python -m benchmarks.peers mlflow``.

Peers are never dependencies of mlsteward; each lives in ``benchmarks/.peers/<name>``
(git-ignored) at the version pinned here, which the results quote.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

PEERS = {
    "mlflow": ["mlflow==3.17.2", "psycopg[binary]>=3.1"],  # psycopg: its PostgreSQL driver
    "great_expectations": ["great-expectations==1.24.1", "pyarrow"],
    "dvc": ["dvc==3.67.1"],
    "evidently": ["evidently==0.7.23", "pandas<3"],  # it imports a helper pandas 3 removed
}
ROOT = Path(__file__).parent / ".peers"


def install(name: str) -> Path:
    """Create ``benchmarks/.peers/<name>`` with the pinned packages; returns its python."""
    target = ROOT / name
    python = target / "bin" / "python"
    if not python.exists():
        venv.create(target, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[name]], check=True)
    return python


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PEERS:
        raise SystemExit(f"usage: python -m benchmarks.peers {{{','.join(sorted(PEERS))}}}")
    print(install(sys.argv[1]))
