"""Text from users and hosts, made safe to show and to compare.

Values collected from hosts (evidence), rule titles, approver names and reasons may hold
control characters: an ESC sequence sent raw to a terminal can rewrite the screen, a newline in
a name writes a fake line into a line-based log, and XML 1.0 forbids most C0 characters (a
JUnit report with one is not XML). Renderers show such characters as visible escapes
(``\\x1b``, ``\\n``); identities refuse them.
"""

from __future__ import annotations

import re
import unicodedata

from inspectorctl.errors import InputError

#: Unicode categories never allowed in an identity or a reason: controls (C0, DEL, C1), format
#: characters (bidi overrides, zero-width joiners), line/paragraph separators, surrogates
_FORBIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))

#: characters a terminal or a line-based view must not receive raw: C0 but tab/newline, DEL,
#: C1, bidi controls and the Unicode line/paragraph separators
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069]")
_UNSAFE_WITH_LINES = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                                "\u202a-\u202e\u2066-\u2069]")
_SIMPLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: what XML 1.0 allows: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_XML_FORBIDDEN = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _SIMPLE:
        return _SIMPLE[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``); newlines kept (for
    multi-line messages) unless ``keep_newlines`` is False (one field on one line)."""
    pattern = _UNSAFE if keep_newlines else _UNSAFE_WITH_LINES
    return pattern.sub(_escape, text)


def one_line(text: object) -> str:
    """A field shown inside a line: every control character, newlines too, escaped."""
    return escape_controls(str(text), keep_newlines=False)


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids shown as escapes (so the document parses)."""
    return _XML_FORBIDDEN.sub(_escape, text)


def control_characters(text: str) -> list[str]:
    """The forbidden characters in ``text`` (as escapes), in order, once each."""
    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            esc = _escape_char(ch)
            if esc not in out:
                out.append(esc)
    return out


def _escape_char(ch: str) -> str:
    if ch in _SIMPLE:
        return _SIMPLE[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: longest identity accepted (a person's name, a login, a service account)
MAX_IDENTITY = 200
#: longest reason/comment accepted
MAX_REASON = 2000


def normalise_identity(value: str, what: str = "--by") -> str:
    """The one spelling of a person's identity: Unicode NFKC, case-folded, surrounding
    whitespace stripped and inner runs of spaces collapsed. ``Alice``, ``alice`` and
    ``alice`` in full-width letters are the same approver. Control and format characters and an
    empty name are refused (``InputError``, exit 2)."""
    bad = control_characters(value)
    if bad:
        raise InputError(f"{what} {one_line(value)!r}: contains control or format "
                         f"character(s) {', '.join(bad)}; give a plain name")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    name = " ".join(folded.split())
    if not name:
        raise InputError(f"{what}: the name is empty; give who you are (e.g. --by alice)")
    if len(name) > MAX_IDENTITY:
        raise InputError(f"{what}: the name is {len(name)} characters long; at most "
                         f"{MAX_IDENTITY}")
    return name


def same_identity(value: str) -> str:
    """The comparison key of a stored identity (never raises: stored rows may be old or
    hostile; a name that would be refused today is compared as written)."""
    try:
        return normalise_identity(value)
    except InputError:
        return value


def check_reason(value: str, what: str = "--reason", *, required: bool = False) -> str:
    """A free-text reason or comment: stripped; control and format characters refused (a
    newline would write a fake line into a line-based view of the audit log)."""
    bad = control_characters(value)
    if bad:
        raise InputError(f"{what}: contains control or format character(s) "
                         f"{', '.join(bad)}; write it on one line without them")
    text = value.strip()
    if required and not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > MAX_REASON:
        raise InputError(f"{what}: {len(text)} characters long; at most {MAX_REASON}")
    return text
