"""The README and docs/ name only things that exist (pure): paths, links, `make` targets, commands and
their flags, and ``TRANSIT_*`` settings. A doc that names a file that moved, a flag that never existed
or a variable no setting reads sends a newcomer nowhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from transit_status.cli import app
from transit_status.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "transit_status"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Made by `make setup` or by running (not in a clone); a path under them is not checked.
GENERATED = (".venv", ".cache", ".transit", "benchmarks/results")
# Environment variables the tests read, not settings.
TEST_VARIABLES = {"TRANSIT_TEST_CHROMIUM"}
PATH_LIKE = re.compile(r"^[\w.\-*]+(/[\w.\-*]*)+$|^[\w\-]+\.(py|sql|md|sh|avsc|xml|toml|java|json|csv)$")
FILE_EXTENSIONS = (".py", ".sql", ".md", ".sh", ".avsc", ".xml", ".toml", ".java", ".json", ".csv")


def prose(doc: Path) -> str:
    """The doc without its fenced blocks (diagrams and terminal sessions, checked apart where it matters)."""
    return re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)


def inline_code(doc: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose(doc))


def code_blocks(doc: Path) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", doc.read_text(), flags=re.S | re.M)


def mentioned_paths(doc: Path) -> set[str]:
    """Inline code that is a repository path (a/b[/c], or a file name with a known extension), and words
    of a fenced block (a diagram) that are a path with a folder."""
    paths = set()
    # From a folder below the root (`cd benchmarks && ../.venv/bin/python`): named from the root.
    block_words = [word.strip("()`:,;").removeprefix("../") for block in code_blocks(doc) for word in block.split()]
    paths |= {word for word in block_words if "/" in word and PATH_LIKE.match(word) and not word.startswith("/")}
    for span in inline_code(doc):
        candidate = span.split("'s ")[0].rstrip(".,;:")
        path_like = PATH_LIKE.match(candidate) and not candidate.startswith(("/", "http")) and "//" not in candidate
        if path_like and ("/" in candidate or candidate.endswith(FILE_EXTENSIONS)):
            paths.add(candidate.removeprefix("./"))
    return paths


def exists(path: str) -> bool:
    """At the repository's root, or under src/transit_status/ (how the docs name the package's files)."""
    if path.startswith(GENERATED):
        return True
    for base in (ROOT, PACKAGE):
        if any(base.glob(path.rstrip("/"))) if "*" in path else (base / path).exists():
            return True
    # A bare file name (`serve.py`) anywhere in the package or the top-level folders.
    return "/" not in path and any(ROOT.glob(f"*/**/{path}"))


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_path_a_doc_names_exists(doc: Path) -> None:
    missing = sorted(path for path in mentioned_paths(doc) if not exists(path))
    assert missing == [], f"{doc.name} names paths that do not exist: {missing}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in prose(doc).splitlines() if line.startswith("#")}


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_link_between_docs_leads_to_a_file_and_heading_that_exist(doc: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(doc)):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        heading_missing = bool(anchor) and linked.suffix == ".md" and anchor not in anchors(linked)
        if not linked.exists() or heading_missing:
            broken.append(target)
    assert broken == [], f"{doc.name} links to what does not exist: {broken}"


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_make_target_a_doc_names_exists(doc: Path) -> None:
    text = "\n".join([*inline_code(doc), *code_blocks(doc)])
    named = set(re.findall(r"(?:^|[\s`(])make ([a-z][\w-]*)", text, flags=re.M))
    assert named - make_targets() == set(), f"{doc.name} names make targets the Makefile lacks"


def command_tree() -> Any:
    """The CLI as typer builds it: a group has ``commands``; every command has ``params`` with ``opts``."""
    return typer.main.get_command(app)


FLAGS_WITHOUT_VALUE = {"--watch", "--yes", "-y", "--help"}


def options_of(command: Any) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])} | {"--help"}


def check_invocation(words: list[str], root: Any) -> list[str]:
    """Problems with ``transit-status <words>``: an unknown command, or an option no level of it takes."""
    command = root
    options = options_of(root)
    problems = []
    for word in words:
        if word.startswith("-"):
            if word.split("=")[0] not in options:
                problems.append(f"unknown option {word}")
        elif hasattr(command, "commands"):
            sub = command.commands.get(word)
            if sub is None:
                return [*problems, f"unknown command {word}"]
            command = sub
            options |= options_of(sub)
        # else: an argument of a command (`serve barriers`, `serve <service>`)
    return problems


def invocations(doc: Path) -> list[list[str]]:
    """Every ``transit-status ...`` the doc writes (up to a comment or pipe), without the options' values."""
    text = "\n".join([*inline_code(doc), *code_blocks(doc)])
    found = []
    for match in re.finditer(r"transit-status((?: +[^\s#|;`)]+)*)", text):
        kept, value_next = [], False
        for word in match.group(1).split():
            if value_next:
                value_next = False
                continue
            kept.append(word)
            value_next = word.startswith("-") and "=" not in word and word not in FLAGS_WITHOUT_VALUE
        found.append(kept)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_transit_status_command_and_flag_a_doc_names_exists(doc: Path) -> None:
    root = command_tree()
    problems = {" ".join(words): found for words in invocations(doc) if (found := check_invocation(words, root))}
    assert problems == {}, f"{doc.name}: {problems}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_transit_variable_a_doc_names_is_a_setting(doc: Path) -> None:
    """By its whole name: a pattern such as ``TRANSIT_FLINK_*`` hid that one of the settings it meant
    (the SQL Gateway's heap) does not start that way. ``TRANSIT_*`` and ``TRANSIT_<NAME>`` name the scheme."""
    settings = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    named = set(re.findall(rf"(?<![A-Z0-9_]){ENV_PREFIX}[A-Z0-9_]*\*?", doc.read_text())) - {
        ENV_PREFIX,
        ENV_PREFIX + "*",
    }
    unknown = sorted(named - settings - TEST_VARIABLES)
    assert unknown == [], f"{doc.name} names variables no setting reads: {unknown}"
