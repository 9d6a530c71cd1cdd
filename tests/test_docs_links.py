"""Every relative link in README.md and docs/*.md leads somewhere.

The manual is split over pages that point at each other's sections. A page renamed or a
heading reworded would leave a link that GitHub renders but that lands nowhere (a missing file,
or the top of the page for an anchor that no heading has); this test names each such link.
Anchors follow GitHub's rule: the heading's text in lower case, punctuation dropped, each space
a hyphen, and `-1`, `-2`... after a repeated one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:...


def prose(page: Path) -> str:
    """The page without its fenced blocks: a `#` line in a shell block is no heading."""
    return FENCE.sub("", page.read_text())


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: inline code keeps its text, punctuation goes."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(prose(page)):
        slug = anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(f"{slug}-{count}" if count else slug)
    return result


def relative_links(page: Path) -> list[str]:
    text = INLINE_CODE.sub("", prose(page))
    return [target for target in LINK.findall(text) if not EXTERNAL.match(target)]


def broken(page: Path, target: str) -> str | None:
    """Why `target`, linked from `page`, lands nowhere; None when it resolves."""
    path, _, fragment = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    if not linked.is_file():
        return f"{linked.relative_to(ROOT)} does not exist"
    if fragment and fragment not in anchors(linked):
        return f"{linked.relative_to(ROOT)} has no heading with the anchor #{fragment}"
    return None


def test_the_anchor_rule_matches_githubs() -> None:
    assert anchor("Rolling restarts: `rollout.batchSize`") == "rolling-restarts-rolloutbatchsize"
    assert anchor("Many clusters: `python -m tools.fleet`") == "many-clusters-python--m-toolsfleet"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    problems = [
        f"({target}): {why}"
        for target in relative_links(page)
        if (why := broken(page, target)) is not None
    ]
    assert not problems, f"{page.relative_to(ROOT)} links nowhere:\n" + "\n".join(problems)


def test_the_readme_links_every_page_of_the_manual() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(PAGES[0])}
    assert [page.name for page in PAGES[1:] if page not in linked] == []
