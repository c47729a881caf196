"""is_excluded's shortcut for plain names gives the answer of the general per-part fnmatch loop."""

from __future__ import annotations

import fnmatch

from hypothesis import given
from hypothesis import strategies as st

from podreconcile.engine.codesync import is_excluded

NAMES = st.sampled_from(["data", "logs", "a", "b.py", "x.ckpt", "outputs"])


def _general(parts: list[str], pattern: str) -> bool:
    dir_only = pattern.endswith("/")
    pat_parts = pattern.strip("/").split("/")
    for i in range(len(parts)):
        end = i + len(pat_parts)
        if end > len(parts) or (dir_only and end == len(parts)):
            continue
        if all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts[i:end], pat_parts)):
            return True
    return False


@given(st.lists(NAMES, min_size=1, max_size=5), NAMES, st.booleans())
def test_plain_names_match_as_the_general_loop_does(parts, name, folder_only):
    pattern = name + ("/" if folder_only else "")
    assert is_excluded("/".join(parts), [pattern]) is _general(parts, pattern)
