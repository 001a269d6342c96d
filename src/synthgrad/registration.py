"""Registered experiments: a plan committed before any of its runs is made, and the check that a
run was made under the plan as it stands (the results store, :mod:`synthgrad.store`, calls both).

A registered experiment's plan is a file in the store (``store/<experiment>/PLAN.md``) that the
code generates; :func:`check` refuses to let a run be made unless that file holds the plan exactly
and is committed, and the package's source is committed too, and returns the commit that
registered it, which each run records; :func:`registered_under` tells whether a recorded
registration is of the plan as it stands.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

__all__ = ["NotRegistered", "check", "registered_under"]


class NotRegistered(RuntimeError):
    """A registered experiment's plan is not committed as written: no run may be made."""


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def check(name: str, path: Path, plan_text: str, source_commit: str) -> str:
    """The commit that registered experiment ``name``'s plan (the last commit that changed its
    plan file ``path``), checked before a run is made: the file must hold ``plan_text`` exactly
    and be committed, and the package's source too (``source_commit`` without ``+dirty``), so
    that every run's commit descends from the plan's. Where there is no git checkout (a copy of
    the tree on another machine, ``$SYNTHGRAD_COMMIT`` set), the file must still match; the
    commit is then ``$SYNTHGRAD_REGISTERED``. Raises :class:`NotRegistered` saying what to do."""
    if not path.exists() or path.read_text() != plan_text:
        what = "is missing" if not path.exists() else "differs from the plan in the code"
        raise NotRegistered(
            f"{name}: its plan file {path} {what}. Register the plan first: write "
            f"it from the code, commit it, then make the runs."
        )
    if os.environ.get("SYNTHGRAD_COMMIT"):  # a copy of the tree without git
        if not os.environ.get("SYNTHGRAD_REGISTERED"):
            raise NotRegistered(
                f"{name}: without a git checkout, set SYNTHGRAD_REGISTERED to the commit that "
                f"registered the plan (git log -1 --format=%H -- {path})"
            )
        return os.environ["SYNTHGRAD_REGISTERED"]
    try:
        changed = _git(path.parent, "status", "--porcelain", "--", path.name)
    except (OSError, subprocess.CalledProcessError) as error:
        raise NotRegistered(f"{name}: {path} is not in a git checkout") from error
    try:
        registered = (
            "" if changed else _git(path.parent, "log", "-1", "--format=%H", "--", path.name)
        )
    except subprocess.CalledProcessError:  # a repository without a commit yet
        registered = ""
    if changed or not registered:
        raise NotRegistered(f"{name}: commit {path} before making its runs")
    if source_commit.endswith("+dirty"):
        raise NotRegistered(
            f"{name}: the package's source has uncommitted changes; a registered "
            "experiment's runs are made from committed code only"
        )
    return registered


def registered_under(path: Path, plan_text: str, registered: str | None) -> bool:
    """Whether a run that names the registration ``registered`` was made under the plan as it
    stands: the plan file ``path`` held ``plan_text`` at that commit. Where git cannot show that
    commit (no checkout, a shallow clone), the run's word is taken."""
    if not registered:
        return False
    plan = _plan_at(registered, str(path.parent), path.name)
    return plan is None or plan == plan_text


@functools.lru_cache(maxsize=64)
def _plan_at(commit: str, directory: str, name: str) -> str | None:
    """The plan file as it was at ``commit`` ("" where it did not exist), or None where git
    cannot tell."""
    try:
        shown = subprocess.run(["git", "-C", directory, "show", f"{commit}:./{name}"],
                               capture_output=True, text=True)  # fmt: skip
    except OSError:
        return None
    if shown.returncode == 0:
        return shown.stdout
    absent = ("exists on disk, but not in", "does not exist in")
    return "" if any(a in shown.stderr for a in absent) else None
