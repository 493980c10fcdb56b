"""Print data verbatim on a terminal: no markup, no control characters, no giant values.

Everything the CLI prints with rich is markup, so a value such as ``[/]``, ``[bold]x[/bold]`` or
``[link=...]`` would be interpreted (or crash the command with a MarkupError), and an ANSI escape
or a carriage return in a value would be executed by the terminal. Every value that comes from
data, files or the user goes through `esc` (inside markup: f-strings, table cells, titles) or
`visible` (where nothing is markup) before it is printed; labels keep their styling.

Shown escaped: C0/C1 control characters and DEL (``\\x1b``, ``\\r``, ``\\n``, ``\\t``, ``\\x00`` ...),
and the Unicode characters that reorder or break lines on a terminal (bidi overrides and
isolates, line and paragraph separators) as ``\\u202e`` etc. JSON output is never touched.
"""

from __future__ import annotations

import re
from typing import Any

# Values longer than this are cut in text output (snapshot, quarantine); --json prints them whole.
MAX_VALUE = 200
# A quarantined row's raw text (one CSV line / JSON object) is longer than a value as a rule.
MAX_RAW = 1000

# A run of backslashes that ends the value or stands before "[": rich would halve it or let it
# escape the bracket (rich.markup.render, "\\[" -> "[" in plain text).
_BACKSLASHES = re.compile(r"(\\+)(?=\[|$)")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNICODE_CONTROLS = {0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C}


def _visible_char(ch: str, multiline: bool) -> str:
    code = ord(ch)
    if multiline and ch in "\n\t":
        return ch
    if ch in _NAMED:
        return _NAMED[ch]
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}"
    if code in _UNICODE_CONTROLS:
        return f"\\u{code:04x}"
    return ch


def _needs_escaping(text: str) -> bool:
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ord(ch) in _UNICODE_CONTROLS for ch in text)


def visible(value: Any, limit: int | None = None, *, multiline: bool = False) -> str:
    """`value` as text a terminal shows as it is: control characters written out as escapes
    (newlines and tabs kept when `multiline`), cut after `limit` characters with a note of the
    full length. None is shown as an empty string."""
    text = "" if value is None else str(value)
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f"… ({len(text):,} chars)"
        text = text[:limit]
    if _needs_escaping(text):
        text = "".join(_visible_char(ch, multiline) for ch in text)
    return text + cut


def esc(value: Any, limit: int | None = None, *, multiline: bool = False) -> str:
    """`visible(value)` made safe to embed in rich markup (f-strings, table cells, titles): it
    renders as exactly that text, whatever markup stands before or after it.

    Every "[" is escaped ("\\["), so no tag can start in the value, nor run across its end.
    Backslashes just before a "[" or at the end would act on the markup (rich halves those before
    a tag, and turns "\\[" into "[" in plain text): they are doubled and closed by an empty tag,
    `[none][/none]`, which rich renders as half of them and nothing."""
    text = visible(value, limit, multiline=multiline)
    if "[" not in text and "\\" not in text:
        return text
    parts, position = [], 0
    for run in _BACKSLASHES.finditer(text):
        parts += [text[position : run.start()].replace("[", "\\["), run[1] * 2, "[none][/none]"]
        position = run.end()
    parts.append(text[position:].replace("[", "\\["))
    return "".join(parts)


__all__ = ["MAX_RAW", "MAX_VALUE", "esc", "visible"]
