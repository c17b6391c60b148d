"""Text from anywhere (an app's log tail in a cell's reason, a user's cell or app name) made safe
for the CI outputs. XML 1.0 forbids most control characters even escaped, so one in a JUnit
attribute makes every reader (ElementTree, lxml, xmlschema, junitparser) refuse the whole file;
a Markdown job summary shows them as garbage or swallows what follows.

Terminal escape sequences (an app's colours: ESC [ 31 m) carry nothing a reader needs and are
removed whole; any other character XML forbids is written as a visible escape (\\x07, \\x00,
\\ufffe), so the reason keeps every byte's place and the file stays valid."""

from __future__ import annotations

import re

# ECMA-48 control sequences (CSI: ESC [ params intermediates final), operating system commands
# (OSC: ESC ] ... BEL or ESC \\) and two-character escapes (ESC and one of @ to _).
TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
)
# What XML 1.0 does not allow (its Char production): C0 controls but tab, newline and carriage
# return; lone surrogates; U+FFFE and U+FFFF. C1 controls and DEL are allowed, but are terminal
# controls as much as ESC is: they go too.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """text without terminal escape sequences, every other character XML 1.0 forbids (and
    C1 controls) written as \\xNN or \\uNNNN."""
    return NOT_XML.sub(_escape, TERMINAL_ESCAPES.sub("", text))
