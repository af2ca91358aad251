"""Recipe for ``ohlora.db.example``: a small real catalog made with the public commands.

    python scripts/make_example_catalog.py

50 images from the embedded generator (seeds 0–49), the original project's 48 v8 directions
(bundled copy, signs flipped) and its 19 selected identities.
"""

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from ohlora_cli.cli import app

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "data" / "seed_artifacts"


def main() -> None:
    path = ROOT / "ohlora.db.example"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    runner = CliRunner()
    for args in (["generate", "--n", "50", "--model", "tiny"],
                 ["vectorfind", "import-seed"],
                 ["identity", "import", str(ARTIFACTS / "ohlora_z_vectors.csv"),
                  "--groups", str(ARTIFACTS / "ohlora_w_group_names.csv")]):
        result = runner.invoke(app, [*args, "--catalog", str(path), "--quiet"])
        assert result.exit_code == 0, result.output
        print(result.stdout.strip())
    with sqlite3.connect(path) as conn:  # one self-contained file: fold the WAL back in
        conn.execute("UPDATE runs SET pid = NULL, host = NULL, process_start = NULL")  # not this machine's
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
    print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
