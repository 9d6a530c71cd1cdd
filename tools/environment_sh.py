"""Read the tutorial's environment.sh without running it.

The file is shell, but the tutorial only assigns strings and bash arrays in it. Running it to
read them would run whatever else it holds (`$(head -c 32 /dev/urandom)` at best), so this
reads assignments alone: quotes, escapes, comments, `$VAR` of a variable set earlier and the
elements of an array set earlier (`${NODE_NAMES[@]}`, `${NODE_IPS[0]}`), as in the copies
people make (`WORKER_NODE_NAMES=(${NODE_NAMES[@]})`). A
value that needs more (a command, a variable from outside the file) is kept as `Unsupported`
with its line, an error only if that variable is needed; a line that is not an assignment
could do anything, so it fails the whole file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
_EXPORT_ONLY = re.compile(r"export(\s+[A-Za-z_][A-Za-z0-9_]*)+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ELEMENTS = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[(@|\*|[0-9]+)\]")
"""What `${...}` holds to name an array's elements: all of them (`@`, `*`) or one."""
_SPLAT = re.compile(r'(")?\$\{([A-Za-z_][A-Za-z0-9_]*)\[[@*]\]\}(?(1)")(?=[\s)#]|$)')
"""A whole word that is every element of an array, quoted or not: one word each."""
_OPERATORS = ";&|<>"


class ParseError(Exception):
    """A line that is not an assignment this reader understands; names the line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")


@dataclass(frozen=True)
class Unsupported:
    """A value that only running the shell would give: its line and why."""

    line: int
    reason: str


Value = str | tuple[str, ...] | Unsupported


class _NeedsShellError(Exception):
    """The value needs the shell; the assignment becomes `Unsupported`."""


class _IncompleteError(Exception):
    """The text ends inside a quote or an array: the next line continues it."""


def parse(text: str) -> dict[str, Value]:
    """Every variable the file assigns, in order, a later assignment replacing an earlier."""
    values: dict[str, Value] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        first = index
        statement = lines[index]
        index += 1
        while True:
            try:
                _read_statement(statement.strip(), first + 1, values)
                break
            except _IncompleteError:
                if index == len(lines):
                    raise ParseError(first + 1, "unterminated quote or array") from None
                statement += "\n" + lines[index]
                index += 1
    return values


def _read_statement(statement: str, line: int, values: dict[str, Value]) -> None:
    if not statement or statement.startswith("#") or _EXPORT_ONLY.fullmatch(statement):
        return
    match = _ASSIGNMENT.fullmatch(statement)
    if not match:
        raise ParseError(line, f"not an assignment, and it is not run: {statement!r}")
    name, rest = match.groups()
    is_array = rest.startswith("(")
    try:
        words, end = _words(rest[1:] if is_array else rest, values, line, is_array)
    except _NeedsShellError as error:
        values[name] = Unsupported(line, str(error))
        return
    after = rest[end:].strip()
    if after and not after.startswith("#"):
        raise ParseError(line, f"{name}=... is followed by {after!r}, which is not run")
    values[name] = tuple(words) if is_array else "".join(words)


def _words(text: str, values: dict[str, Value], line: int, is_array: bool) -> tuple[list[str], int]:
    """The words of `text` up to its end (or the array's `)`), and where the scan stopped."""
    words: list[str] = []
    word: str | None = None
    position = 0
    while position < len(text):
        char = text[position]
        if char in " \t\n":
            if word is not None:
                words.append(word)
                word = None
            if not is_array and char != "\n":
                return words, position  # after a scalar: a comment or a command
            position += 1
        elif char == "#" and word is None:
            newline = text.find("\n", position)
            if newline < 0:
                if is_array:
                    raise _IncompleteError
                return words, len(text)
            position = newline + 1
        elif char == ")" and is_array:
            if word is not None:
                words.append(word)
            return words, position + 2  # past the `(` removed before and this `)`
        elif char in _OPERATORS or char in "()":
            raise ParseError(line, f"{char!r} outside quotes: only assignments are read")
        elif word is None and (splat := _SPLAT.match(text, position)):
            elements = _array(values, splat.group(2))
            if is_array:
                words.extend(elements)
            else:
                word = " ".join(elements)
            position = splat.end()
        else:
            piece, position = _piece(text, position, values)
            word = (word or "") + piece
    if is_array:
        raise _IncompleteError
    if word is not None:
        words.append(word)
    return words, len(text)


def _piece(text: str, position: int, values: dict[str, Value]) -> tuple[str, int]:
    """One quoted string, escape, `$` expansion or plain character, and where it ends."""
    char = text[position]
    if char == "'":
        end = text.find("'", position + 1)
        if end < 0:
            raise _IncompleteError
        return text[position + 1 : end], end + 1
    if char == '"':
        return _double_quoted(text, position + 1, values)
    if char == "\\":
        if position + 1 == len(text):
            raise _IncompleteError
        following = text[position + 1]
        return ("" if following == "\n" else following), position + 2
    if char == "$":
        return _expansion(text, position, values)
    if char == "`":
        raise _NeedsShellError("command substitution is not run")
    return char, position + 1


def _double_quoted(text: str, position: int, values: dict[str, Value]) -> tuple[str, int]:
    result = ""
    while position < len(text):
        char = text[position]
        if char == '"':
            return result, position + 1
        if char == "\\" and position + 1 < len(text) and text[position + 1] in '$`"\\\n':
            result += "" if text[position + 1] == "\n" else text[position + 1]
            position += 2
        elif char == "$":
            piece, position = _expansion(text, position, values)
            result += piece
        elif char == "`":
            raise _NeedsShellError("command substitution is not run")
        else:
            result += char
            position += 1
    raise _IncompleteError


def _expansion(text: str, position: int, values: dict[str, Value]) -> tuple[str, int]:
    """`$NAME` or `${NAME}` of a string variable set earlier in the file."""
    following = text[position + 1 : position + 2]
    if following == "(":
        raise _NeedsShellError("command substitution is not run")
    if following == "{":
        end = text.find("}", position)
        name, after = text[position + 2 : end], end + 1
        elements = _ELEMENTS.fullmatch(name)
        if end >= 0 and elements:
            return _element(values, *elements.groups()), after
        if end < 0 or not _NAME.fullmatch(name):
            raise _NeedsShellError(f"${{{text[position + 2 : end]}...}} is not expanded")
    else:
        match = _NAME.match(text, position + 1)
        if not match:
            return "$", position + 1
        name, after = match.group(), match.end()
    value = values.get(name)
    if value is None:
        raise _NeedsShellError(f"${name} is not set earlier in this file")
    if isinstance(value, Unsupported):
        raise _NeedsShellError(f"${name} is unknown (line {value.line}: {value.reason})")
    if isinstance(value, tuple):
        raise _NeedsShellError(f"${name} is an array")
    return value, after


def _array(values: dict[str, Value], name: str) -> tuple[str, ...]:
    """The elements of array `name` set earlier (a string is an array of one, as in bash)."""
    value = values.get(name)
    if value is None:
        raise _NeedsShellError(f"${{{name}[@]}}: {name} is not set earlier in this file")
    if isinstance(value, Unsupported):
        raise _NeedsShellError(f"${{{name}[@]}} is unknown (line {value.line}: {value.reason})")
    return value if isinstance(value, tuple) else (value,)


def _element(values: dict[str, Value], name: str, index: str) -> str:
    """`${NAME[@]}` inside a word (its elements joined by spaces), or `${NAME[n]}`."""
    elements = _array(values, name)
    if index in ("@", "*"):
        return " ".join(elements)
    if int(index) >= len(elements):
        raise _NeedsShellError(f"${{{name}[{index}]}}: {name} has {len(elements)} elements")
    return elements[int(index)]
