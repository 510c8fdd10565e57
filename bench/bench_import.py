"""Benchmark the deck import: cold, unchanged and 1%-edited re-imports, with peak memory.

Each scenario runs in its own process so its peak memory is its own. The raw floor
is measured in the same run: PyYAML's C loader parsing the same files, and raw
sqlite3 executemany of the same rows.

Run: .venv/bin/python -m bench.bench_import
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bench.common import deck_yaml, peak_rss_mb, print_table, timed


def _import_once(db: Path, paths: list[Path]) -> dict[str, float]:
    from flashcards.db.engine import make_engine, make_session_factory
    from flashcards.db.migrate import upgrade_database
    from flashcards.services.importing import import_paths

    engine = make_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    now = dt.datetime.now(dt.UTC)

    def run() -> None:
        with sessions.begin() as session:
            report = import_paths(session, paths, now=now)
        assert report.ok, report.failures[:1]

    _, seconds = timed(run)
    return {"seconds": seconds, "peak_mb": peak_rss_mb()}


def _in_subprocess(db: Path, paths: list[Path]) -> dict[str, float]:
    code = (
        "import json, sys; from pathlib import Path; "
        "from bench.bench_import import _import_once; "
        "print(json.dumps(_import_once(Path(sys.argv[1]), "
        "[Path(p) for p in sys.argv[2:]])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(db), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _raw_floor(paths: list[Path], tmp: Path) -> tuple[float, float]:
    """Seconds for the C loader to parse the files, and for sqlite3 to insert the rows."""

    def parse() -> list[dict[str, object]]:
        return [yaml.load(p.read_bytes(), Loader=yaml.CSafeLoader) for p in paths]

    docs, parse_seconds = timed(parse)
    rows = [
        (i, c.get("id"), c.get("front"), c.get("back"), c.get("cloze"))
        for i, doc in enumerate(docs)
        for c in doc["cards"]  # type: ignore[attr-defined]
    ]
    conn = sqlite3.connect(tmp / f"raw-{len(paths)}.sqlite3")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE notes (deck INT, key TEXT, front TEXT, back TEXT, cloze TEXT)"
    )

    def insert() -> None:
        with conn:
            conn.executemany("INSERT INTO notes VALUES (?, ?, ?, ?, ?)", rows)

    _, insert_seconds = timed(insert)
    conn.close()
    return parse_seconds, insert_seconds


def _edit_one_percent(paths: list[Path]) -> None:
    for path in paths:
        text = path.read_text()
        count = 0

        def bump(match: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return match.group(0) + (" (edited)" if count % 100 == 0 else "")

        path.write_text(re.sub(r"front: What is the \w+ number \d+\?", bump, text))


def scenario(
    name: str, files: int, cards_per_file: int, tmp: Path
) -> list[tuple[str, float, float]]:
    folder = tmp / name
    folder.mkdir()
    paths = []
    for i in range(files):
        path = folder / f"deck{i:03}.yaml"
        path.write_text(deck_yaml(f"{name}-{i}", cards_per_file, seed=i))
        paths.append(path)
    db = tmp / f"{name}.sqlite3"
    cold = _in_subprocess(db, paths)
    unchanged = _in_subprocess(db, paths)
    _edit_one_percent(paths)
    edited = _in_subprocess(db, paths)
    parse_s, insert_s = _raw_floor(paths, tmp)
    return [
        ("cold", cold["seconds"], cold["peak_mb"]),
        ("unchanged", unchanged["seconds"], unchanged["peak_mb"]),
        ("1% edited", edited["seconds"], edited["peak_mb"]),
        ("raw: C-loader parse", parse_s, 0.0),
        ("raw: sqlite3 executemany", insert_s, 0.0),
    ]


def main() -> None:
    targets = {
        ("10k", "cold"): 2.0,
        ("10k", "unchanged"): 0.3,
        ("100k", "cold"): 20.0,
        ("100k", "unchanged"): 2.0,
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for label, files, per_file in (("10k", 1, 10_000), ("100k", 100, 1_000)):
            results = scenario(f"d{label}", files, per_file, tmp)
            floor = " + ".join(
                f"{s:.2f} s" for name, s, _ in results if name.startswith("raw")
            )
            rows = []
            for name, seconds, peak in results:
                if name.startswith("raw"):
                    continue
                target = targets.get((label, name))
                rows.append(
                    (
                        f"{label} {name} (peak {peak:.0f} MB, target <= 300 MB)",
                        f"{seconds:.2f} s",
                        f"<= {target} s" if target else "-",
                        floor,
                    )
                )
            print_table(f"Import, {label} cards in {files} file(s)", rows)
        print(
            "\nraw floor = PyYAML C-loader parse + raw sqlite3 executemany of the same rows"
        )


if __name__ == "__main__":
    main()
