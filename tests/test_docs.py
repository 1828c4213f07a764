"""The documentation holds together: the README is a map whose links, like every link in docs/
and bench/RESULTS.md, lead to files of the repository, and no tracked file speaks of a
developer's machine (paths outside the repository) or of how the work was scheduled."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import cache
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Where other changes leave their notes for whoever folds them into the pages: not documentation
# yet, so their links are not checked (their text still is, by the path test).
UNCHECKED_LINKS = ("docs/changes/",)

# Top-level folders that name the system, not a person's machine: runtime paths such as
# /usr/bin/chromium or /var/lib/redis are fine even when the checkout lives under one of them.
SYSTEM_FOLDERS = {
    "bin",
    "dev",
    "etc",
    "lib",
    "opt",
    "proc",
    "run",
    "srv",
    "sys",
    "tmp",
    "usr",
    "var",
}

LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


@cache
def tracked() -> tuple[str, ...]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return tuple(p for p in out.decode().split("\0") if p and (ROOT / p).is_file())


def documents() -> list[str]:
    return [
        p
        for p in tracked()
        if (
            p == "README.md"
            or p == "bench/RESULTS.md"
            or (p.startswith("docs/") and p.endswith(".md"))
        )
        and not p.startswith(UNCHECKED_LINKS)
    ]


def read(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def prose(text: str) -> str:
    """The text with code blocks and code spans blanked out (a link in code is not a link)."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path: str) -> set[str]:
    text = (ROOT / path).read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", text)):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: str) -> list[str]:
    files = set(tracked())
    folders = {str(parent) for f in files for parent in PurePosixPath(f).parents}
    here = PurePosixPath(path).parent
    problems = []
    for lineno, line in enumerate(prose((ROOT / path).read_text(encoding="utf-8")).split("\n"), 1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
                continue  # http:, https:, mailto: ...
            file_part, _, anchor = target.partition("#")
            if file_part:
                if file_part.startswith("/"):
                    problems.append(f"{path}:{lineno}: {target} is absolute, not relative")
                    continue
                resolved = (here / file_part).as_posix()
                normal = str(PurePosixPath(*_normalise(resolved)))
                if normal not in files and normal.rstrip("/") not in folders:
                    problems.append(f"{path}:{lineno}: {target} is not a file of the repository")
                    continue
            else:
                normal = path
            if anchor and normal.endswith(".md") and anchor not in anchors(normal):
                problems.append(f"{path}:{lineno}: {target}: {normal} has no heading #{anchor}")
    return problems


def _normalise(path: str) -> list[str]:
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return ["..", "outside"]
            parts.pop()
        else:
            parts.append(part)
    return parts or ["."]


def test_every_relative_link_in_the_docs_leads_to_a_file_of_the_repository():
    docs = documents()
    assert "README.md" in docs
    readme_links = [t for t in LINK.findall(prose(read("README.md"))) if "://" not in t]
    assert readme_links, "README.md links to no page: the map has no roads"
    problems = [problem for path in docs for problem in broken_links(path)]
    assert not problems, "\n".join(problems)


def test_the_readme_is_a_map_linking_every_docs_page_and_the_benchmark_results():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.count("\n")
    assert lines <= 300, f"README.md has {lines} lines: move the detail to a page under docs/"
    linked = {
        str(PurePosixPath(*_normalise(t.partition("#")[0])))
        for t in LINK.findall(prose(readme))
        if "://" not in t
    }
    pages = {p for p in documents() if p != "README.md"}
    assert "bench/RESULTS.md" in pages
    assert pages - linked == set(), "pages the README does not link to"


def outside_paths() -> list[re.Pattern[str]]:
    """Paths outside the repository: the folders the checkout sits in (computed here, so the test
    holds wherever it is checked out), and any home directory."""
    patterns = [
        re.compile(r"(?<![\w.~-])/(?:home|Users)/[\w.-]+"),
        re.compile(r"(?<![\w.~-])/(?:root)/"),
    ]
    for folder in ROOT.parents:
        if folder == folder.parent or folder.parts[1] in SYSTEM_FOLDERS:
            continue
        patterns.append(re.compile(r"(?<![\w.~-])" + re.escape(folder.as_posix()) + r"(?:/|\b)"))
    return patterns


WORK_TALK = [
    re.compile(r"\bstop\s+\d+\b", re.I),  # a step of the work named by its number
    re.compile(r"\bshared\s+(?:[\w-]+\s+)?machine\b", re.I),  # say the load average instead
]


def text_of(path: str) -> str | None:
    data = (ROOT / path).read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def test_no_tracked_file_names_a_path_outside_the_repository_or_talks_of_the_work():
    patterns = outside_paths() + WORK_TALK
    problems = []
    for path in tracked():
        text = text_of(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.split("\n"), 1):
            problems += [
                f"{path}:{lineno}: {m.group(0)!r}" for p in patterns for m in p.finditer(line)
            ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("see /" + "home/ana/notes/requests.md", True),
        ("open /" + "Users/ana/desk", True),
        ("kept in /" + "root/notes.md", True),
        ("Re-run at st" + "op 9 (slower)", True),
        ("on this shared 2-core mach" + "ine", True),
        ("postgres://root@127.0.0.1:5432/test", False),
        ("/usr/bin/chromium and /var/lib/redis", False),
        ("https://example.com/home/page", False),
        ("the rep's time off stops 2 days later", False),
    ],
)
def test_the_path_and_wording_checks_catch_what_they_should_and_nothing_else(line, found):
    patterns = outside_paths() + WORK_TALK
    assert any(p.search(line) for p in patterns) is found


def test_the_checkout_folders_count_as_outside_the_repository():
    parent = ROOT.parent
    if parent == parent.parent or parent.parts[1] in SYSTEM_FOLDERS:
        pytest.skip(f"the checkout sits in {parent}, a system folder")
    line = f"see {parent.as_posix()}/notes/requests.md"
    assert any(p.search(line) for p in outside_paths())
