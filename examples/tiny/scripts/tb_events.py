"""Minimal TensorBoard event-file writer, stdlib only, so the tiny example has curves to show.

An event file is a sequence of records: length (uint64 LE), masked CRC-32C of the length, the
payload (a serialized `tensorflow.Event` protobuf), masked CRC-32C of the payload. Only the few
protobuf fields a scalar needs are encoded here.
"""

from __future__ import annotations

import os
import socket
import struct
import time


def _crc32c_table() -> list:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, body: bytes) -> bytes:
    """Event{wall_time=1 (double), step=2 (int64), then file_version=3 or summary=5}."""
    return b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step) + body


class EventWriter:
    """Appends scalars to a new events.out.tfevents.* file in `logdir`."""

    def __init__(self, logdir: str):
        os.makedirs(logdir, exist_ok=True)
        name = "events.out.tfevents.%d.%s" % (int(time.time()), socket.gethostname())
        self._file = open(os.path.join(logdir, name), "ab")
        self._record(_event(time.time(), 0, _field_bytes(3, b"brain.Event:2")))

    def scalar(self, tag: str, value: float, step: int) -> None:
        summary_value = _field_bytes(1, tag.encode("utf-8")) + b"\x15" + struct.pack("<f", value)
        summary = _field_bytes(1, summary_value)
        self._record(_event(time.time(), step, _field_bytes(5, summary)))

    def close(self) -> None:
        self._file.close()

    def _record(self, payload: bytes) -> None:
        length = struct.pack("<Q", len(payload))
        self._file.write(length + struct.pack("<I", _masked_crc(length)))
        self._file.write(payload + struct.pack("<I", _masked_crc(payload)))
        self._file.flush()
