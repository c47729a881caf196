"""Text from a pod, made safe to print on the user's terminal.

A training log is written by code on someone else's computer; printed raw, escape sequences could
retitle the terminal, write the clipboard (OSC 52), move the cursor over earlier output, or hide
lines. Colours (SGR: `ESC [ ... m`) are kept; every other control character and escape sequence is
dropped. Tabs, newlines and carriage returns (progress bars) stay.
"""

from __future__ import annotations

import re

_SGR = r"\x1b\[[0-9;]{0,32}m"
_ESCAPES = (
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: title, clipboard, hyperlinks
    r"|\x1b[P_^X][^\x1b]*(?:\x1b\\)?"        # DCS, APC, PM, SOS strings
    r"|\x1b\[[0-?]*[ -/]*[@-~]"              # CSI other than colours
    r"|\x1b[@-Z\\-_]?"                        # two-character escapes, and a lone ESC
    r"|\x9b|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]"
)
_TOKEN = re.compile(f"({_SGR})|{_ESCAPES}")


def printable(text: str) -> str:
    """`text` with colours kept and every other control sequence removed."""
    return _TOKEN.sub(lambda m: m.group(1) or "", text)
