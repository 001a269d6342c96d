"""The verdict changes: every change of a claim's verdict at the book's default parameters,
recorded in ``book/verdict-changes.yml`` with why (date, commit, claim, before, after, why), and
the claims of a build whose status differs from the newest one recorded for them, so that no
change of verdict is silent. :mod:`synthgrad.build_status` puts both on the site's "How this site
was built" page."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .ledger import pipe_table
from .verdict import STATUSES

CHANGE_FIELDS = ("date", "commit", "claim", "before", "after", "why")


def status_of(verdict: str) -> str | None:
    """The status a recorded verdict starts with (``"holds in part (2/8)"`` -> holds in part)."""
    for status in sorted(STATUSES, key=len, reverse=True):
        if verdict == status or verdict.startswith((f"{status} ", f"{status}:", f"{status},")):
            return status
    return None


def read_changes(path: Path) -> list[dict[str, str]]:
    """The recorded verdict changes (``book/verdict-changes.yml``), checked, in file order;
    raises ValueError on a malformed entry."""
    entries = yaml.safe_load(path.read_text()) if path.exists() else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: a list of entries, each {', '.join(CHANGE_FIELDS)}")
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}, entry {i + 1}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: not a mapping")
        missing = [k for k in CHANGE_FIELDS if k != "commit" and not entry.get(k)]
        unknown = sorted(set(entry) - set(CHANGE_FIELDS))
        if missing or unknown:
            raise ValueError(f"{where}: missing {missing}, unknown {unknown}")
        entry = {k: str(entry.get(k) or "") for k in CHANGE_FIELDS}
        try:
            datetime.date.fromisoformat(entry["date"])
        except ValueError:
            raise ValueError(f"{where}: date {entry['date']!r} is not YYYY-MM-DD") from None
        if status_of(entry["after"]) is None:
            raise ValueError(f"{where}: after {entry['after']!r} starts with none of {STATUSES}")
        out.append(entry)
    return out


def newest_first(changes: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    """By date, newest first; of the same date, in the file's order."""
    order = sorted(range(len(changes)), key=lambda i: (-_day(changes[i]["date"]), i))
    return [changes[i] for i in order]


def _day(date: str) -> int:
    return datetime.date.fromisoformat(date).toordinal()


def newest(changes: Sequence[Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
    """Per claim, its newest recorded change (of the same date, the later in the file)."""
    out: dict[str, Mapping[str, str]] = {}
    for i in sorted(range(len(changes)), key=lambda i: (_day(changes[i]["date"]), i)):
        out[changes[i]["claim"]] = changes[i]
    return out


def unrecorded(
    changes: Sequence[Mapping[str, str]], rows: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, str]], list[str]]:
    """The claims of this build (its chapters run at their defaults) whose status differs from
    the newest ``after`` recorded for them, and those with no entry at all."""
    recorded = newest(changes)
    differ, never = [], []
    for ch in rows:
        if not ch["default"] or ch["ledger"] is None:
            continue
        for claim in ch["ledger"]["claims"]:
            entry = recorded.get(claim["id"])
            if entry is None:
                never.append(f"{claim['id']} ({claim['status']})")
            elif status_of(entry["after"]) != claim["status"]:
                differ.append({"claim": claim["id"], "chapter": ch["chapter"],
                               "recorded": f"{entry['after']} ({entry['date']})",
                               "now": claim["status"]})  # fmt: skip
    return differ, never


def changes_section(changes: Sequence[Mapping[str, str]], rows: Sequence[Mapping[str, Any]]) -> str:
    differ, never = unrecorded(changes, rows)
    skipped = [ch["chapter"] for ch in rows if not ch["default"]]
    lines = [
        "## Verdict changes",
        "",
        "Every change of a claim's verdict at the book's default parameters is recorded in "
        "`book/verdict-changes.yml`, with why. This build's verdicts are compared with the "
        "newest one recorded for each claim.",
        "",
        "### Changed in this build, not yet recorded",
        "",
    ]
    if differ:
        lines.append(pipe_table(
            ["claim", "chapter", "recorded", "this build"],
            ([d["claim"], f"{{doc}}`{d['chapter']}`", d["recorded"], f"**{d['now']}**"]
             for d in differ),
        ))  # fmt: skip
    elif any(ch["default"] for ch in rows):
        lines += ["None: every compared claim has the status last recorded for it.", ""]
    else:
        lines += ["Nothing compared: no chapter of this build ran at its default parameters.", ""]
    if skipped:
        lines += [
            "Not compared, run at other than their default parameters (their verdicts are not "
            "the book's): " + ", ".join(f"`{c}`" for c in skipped) + ".",
            "",
        ]
    if never:
        lines += ["No change recorded yet for: " + ", ".join(never) + ".", ""]
    lines += ["### Recorded changes, newest first", ""]
    if not changes:
        return "\n".join([*lines, "*None recorded.*", ""])
    table = ([e["date"], e["claim"], e["before"], e["after"], e["why"],
              f"`{e['commit']}`" if e["commit"] else ""] for e in newest_first(changes))  # fmt: skip
    columns = ["date", "claim", "before", "after", "why", "commit"]
    return "\n".join([*lines, pipe_table(columns, table)])
