"""ListObjects(V2) pages over a volume: prefix, delimiter, max-keys and resumption after a key.

Keys come in S3 order (by UTF-8 bytes); with a delimiter, keys sharing a folder below the prefix fold
into one common prefix, which counts once towards max-keys. Empty directories are `dir/` keys, so
with the `/` delimiter they show as common prefixes, as on RunPod.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .volume import Entry, Volume


@dataclass
class Page:
    contents: list[Entry] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str | None = None  # the last key or common prefix in this page: where the next page starts after


def page(volume: Volume, prefix: str, delimiter: str, after: str | None, max_keys: int) -> Page:
    result = Page()
    for key, path in volume.keys(prefix):
        if after is not None and _already_listed(key, after, delimiter):
            continue
        rest = key[len(prefix):]
        folded = prefix + rest.split(delimiter, 1)[0] + delimiter if delimiter and delimiter in rest else None
        if folded is not None and result.prefixes and result.prefixes[-1] == folded:
            continue
        if len(result.contents) + len(result.prefixes) >= max_keys:
            result.truncated = True
            break
        if folded is not None:
            result.prefixes.append(folded)
            result.last = folded
            continue
        entry = volume.listed(key, path)
        if entry is not None:
            result.contents.append(entry)
            result.last = key
    return result


def _already_listed(key: str, after: str, delimiter: str) -> bool:
    if key.encode() <= after.encode():
        return True
    return bool(delimiter) and after.endswith(delimiter) and key.startswith(after)
