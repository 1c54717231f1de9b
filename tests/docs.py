"""The commands the README and docs/ give, as a reader would type them: each shell block's lines, continuations
joined, comments dropped, ``a && b`` split in two. tests/unit/test_docs.py checks each of them against the
program; tests/e2e/test_readme.py runs the README's walk as written."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^( *)```([a-z]*)\n(.*?)^\1```", re.S | re.M)


@dataclass(frozen=True)
class Command:
    page: str  # README.md, docs/clusters.md
    line: int  # of the command's first line in the page
    text: str  # as written, continuations joined, the comment dropped (words re-quoted)
    line_text: str = ""  # the whole line as written (continuations joined): what a shell is given

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the block's first line of content
    lang: str
    text: str


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    name = str(page.relative_to(ROOT))
    return [Block(name, text.count("\n", 0, m.start(3)) + 1, m.group(2), m.group(3)) for m in BLOCK.finditer(text)]


def commands(block: Block) -> list[Command]:
    """The commands of a shell block (sh, shell or bash)."""
    out = []
    pending, start = "", 0
    for i, raw in enumerate(block.text.splitlines()):
        line = raw.rstrip()
        if not pending:
            start = block.line + i
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if not whole or whole.startswith("#"):
            continue
        lexer = shlex.shlex(whole, posix=True, punctuation_chars="&|;")
        lexer.whitespace_split, lexer.commenters = True, "#"
        words = list(lexer)
        # Split at &&, each part kept as written (re-quoted: what a shell would be given).
        part: list[str] = []
        for word in words + ["&&"]:
            if word == "&&":
                if part:
                    out.append(Command(block.page, start, " ".join(_quote(w) for w in part), whole))
                part = []
            else:
                part.append(word)
    return out


def _quote(word: str) -> str:
    return word if re.fullmatch(r"[\w@%+=:,./~<>-]+", word) or word in (">", "|") else shlex.quote(word)


def shell_commands(page: Path) -> list[Command]:
    return [c for b in blocks(page) if b.lang in ("sh", "shell", "bash") for c in commands(b)]


NEEDS_A_CLUSTER = ("traffic", "advance")  # python -m oam commands that read a stack, a cluster or the oracle


def cluster_commands() -> list[Command]:
    """The `python -m oam` commands of docs/ that need a cluster or the traffic oracle: tests/e2e/test_readme.py
    runs them (the README's own are part of its walk)."""
    return [c for page in PAGES if page.name != "README.md" for c in shell_commands(page)
            if c.words[:3] == ["venv/bin/python", "-m", "oam"] and c.words[3] in NEEDS_A_CLUSTER]
