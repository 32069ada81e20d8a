"""The protobuf wire format, as far as stemboard reads and writes ONNX files without the ``onnx``
package: varints, field tags, and the fields of a message as spans of its bytes.

A message is a sequence of fields, each a tag (``number << 3 | wire type``) and a value: a
varint (wire type 0), 8 or 4 fixed bytes (1, 5), or a length and that many bytes (2: strings,
bytes, nested messages, packed arrays). Nothing here knows ONNX's field numbers; the callers do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class WireFormatError(ValueError):
    """The bytes are not a protobuf message; the callers say which file."""


@dataclass(frozen=True)
class Field:
    """One field of a message: its number and wire type, the span of the whole field (tag
    included) and, for a varint, its value; for a length-delimited field, where its bytes are."""

    number: int
    wire: int
    start: int
    end: int
    value: int = 0  # a varint's value
    payload_start: int = 0  # a length-delimited field's bytes: [payload_start, end)


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``data[pos:]`` and the position after it."""
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireFormatError("a broken protobuf varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def read_varint_from(stream: BinaryIO) -> int:
    """The varint at the stream's position (for files read piece by piece)."""
    value, shift = 0, 0
    while True:
        byte = stream.read(1)
        if not byte or shift > 63:
            raise WireFormatError("a broken protobuf varint")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7


def fields(data: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[Field]:
    """The fields of the message in ``data[start:end]``, in the order they are written."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        begin = pos
        tag, pos = read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireFormatError("a field numbered 0")
        if wire == VARINT:
            value, pos = read_varint(data, pos)
            yield Field(number, wire, begin, pos, value=value)
            continue
        if wire == LENGTH_DELIMITED:
            length, payload = read_varint(data, pos)
            pos = payload + length
            if pos > end:
                raise WireFormatError("a field runs past the end of its message")
            yield Field(number, wire, begin, pos, payload_start=payload)
            continue
        if wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
            if pos > end:
                raise WireFormatError("a field runs past the end of its message")
            yield Field(number, wire, begin, pos)
            continue
        raise WireFormatError(f"protobuf wire type {wire}")


def varint(value: int) -> bytes:
    """``value`` (>= 0) as a varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def length_prefix(number: int, length: int) -> bytes:
    """The tag and length that open a length-delimited field of ``length`` bytes."""
    return tag(number, LENGTH_DELIMITED) + varint(length)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A whole length-delimited field (a string, bytes or a nested message)."""
    return length_prefix(number, len(payload)) + payload


def string_field(number: int, text: str) -> bytes:
    return length_delimited(number, text.encode("utf-8"))
