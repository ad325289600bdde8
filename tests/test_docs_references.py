"""Every document the code, tests, README and docs name exists in the repository.

Code comments cite the physics and protocol references by section (`docs/physics.md §2a`,
`docs/protocols.md §7a`). A citation of a file that is not in the repository (team notes kept
elsewhere, a renamed page) or of a section that does not exist sends a reader nowhere, so this
test scans every .py, .md and .toml file for document names and section anchors.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED_SUFFIXES = (".py", ".md", ".toml")
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "build", "dist", "node_modules"}

#: A document named in text: a path or a bare name ending in .md, or any path under docs/.
DOC_NAME = re.compile(r"(?<![\w/.-])((?:\.\.?/)?[\w.-]+(?:/[\w.-]+)*\.md|docs/[\w./-]*[\w-])\b")
#: A citation of a section of one of our docs: `docs/physics.md §2a`, `docs/protocols.md §7a`.
SECTION_CITATION = re.compile(r"(docs/[\w-]+\.md)[,:]?\s+§(\d+(?:\.\d+|[a-z])?)")
#: A section heading that defines an anchor: `### §2a. ...` or `#### §7.1. ...`.
SECTION_HEADING = re.compile(r"^#{1,6}\s+§(\d+(?:\.\d+|[a-z])?)[.\s]", re.MULTILINE)
#: Names of the team notes outside the repository; built in pieces so this file does not name them.
OUTSIDE_NOTES = tuple(stem + ".md" for stem in ("PHYS" + "ICS", "PROTO" + "COLS", "ARCHI" + "TECTURE"))
OUTSIDE_DIR = "shared" + "/"


def scanned_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        if path.suffix in SCANNED_SUFFIXES and path.is_file() and not (
                SKIPPED_DIRS & set(path.relative_to(REPO).parts)):
            files.append(path)
    return sorted(files)


def repository_markdown() -> set[str]:
    """Relative paths of every .md file in the repository."""
    return {p.relative_to(REPO).as_posix() for p in scanned_files() if p.suffix == ".md"}


def missing_documents(text: str, where: Path, known: set[str]) -> list[str]:
    """Document names in `text` (a file at `where`) that resolve to no file of the repository.

    A name with a directory resolves against the repository root or the citing file's
    directory; a bare name (`README.md`) must be the name of some markdown file of the repo.
    """
    missing = []
    for match in DOC_NAME.finditer(text):
        name = match.group(1).rstrip(".")
        if name.endswith("/") or not name:
            continue
        candidates = {(REPO / name).resolve(), (where.parent / name).resolve()}
        if any(c.exists() and REPO in c.parents for c in candidates):
            continue
        if "/" not in name and any(Path(k).name == name for k in known):
            continue
        missing.append(name)
    return missing


def outside_references(text: str) -> list[str]:
    """Mentions of the notes directory or of the notes by their bare names."""
    found = [OUTSIDE_DIR] if OUTSIDE_DIR in text else []
    for note in OUTSIDE_NOTES:
        if re.search(rf"(?<![\w/]){re.escape(note)}", text):
            found.append(note)
    return found


def section_anchors(doc: str) -> set[str]:
    return set(SECTION_HEADING.findall((REPO / doc).read_text(encoding="utf-8")))


def test_the_cited_reference_documents_exist():
    assert (REPO / "docs" / "physics.md").is_file()
    assert (REPO / "docs" / "protocols.md").is_file()


def test_every_named_document_exists_in_the_repository():
    known = repository_markdown()
    problems = []
    for path in scanned_files():
        text = path.read_text(encoding="utf-8")
        for name in missing_documents(text, path, known):
            problems.append(f"{path.relative_to(REPO)}: {name}")
    assert not problems, "documents named but not in the repository:\n" + "\n".join(problems)


def test_nothing_cites_notes_kept_outside_the_repository():
    problems = []
    for path in scanned_files():
        if path == Path(__file__).resolve():
            continue
        for name in outside_references(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(REPO)}: {name}")
    assert not problems, "references to notes outside the repository:\n" + "\n".join(problems)


def test_every_cited_section_exists_in_its_document():
    anchors: dict[str, set[str]] = {}
    problems = []
    for path in scanned_files():
        for doc, section in SECTION_CITATION.findall(path.read_text(encoding="utf-8")):
            if not (REPO / doc).is_file():
                continue  # reported by the test above
            if doc not in anchors:
                anchors[doc] = section_anchors(doc)
            if section not in anchors[doc]:
                problems.append(f"{path.relative_to(REPO)}: {doc} §{section}")
    assert not problems, "sections cited but not defined:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", ["docs/physics.md", "docs/protocols.md"])
def test_sections_a_document_cites_of_itself_exist(doc):
    text = (REPO / doc).read_text(encoding="utf-8")
    defined = section_anchors(doc)
    # Only citations that do not follow a document's name (those are checked above) and that
    # look like ours: `§2a`, `§7.1`.
    cited = set(re.findall(r"(?<!md )(?<!md, )§(\d+(?:\.\d+|[a-z])?)\b", text))
    assert cited - defined == set()


# --- the scanner itself finds what it must ---------------------------------------------------------

def test_scanner_reports_a_missing_document_and_accepts_existing_ones():
    known = repository_markdown()
    here = REPO / "avlab" / "x.py"
    # Planted names are built in pieces so that this file itself names no missing document.
    nowhere, notes = "docs" + "/nowhere.md", "NOTES" + ".md"
    text = f"see docs/physics.md §2a, README.md and {nowhere}, also {notes}"
    assert missing_documents(text, here, known) == [nowhere, notes]


def test_scanner_reports_outside_notes_but_not_the_docs_with_the_same_topic():
    bare = OUTSIDE_NOTES[0]
    assert outside_references(f"as {bare} §2a says") == [bare]
    assert outside_references("see ../" + OUTSIDE_DIR + "x") == [OUTSIDE_DIR]
    assert outside_references("see docs/physics.md §2a") == []


def test_section_citations_are_parsed_with_their_anchor():
    text = "(docs/physics.md §7.2) and docs/protocols.md §1a: and docs/physics.md 5"
    assert SECTION_CITATION.findall(text) == [("docs/physics.md", "7.2"),
                                              ("docs/protocols.md", "1a")]
