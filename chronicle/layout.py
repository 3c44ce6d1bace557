"""Fixed binary message layouts: declare a message type once, then encode and
decode its payloads.

>>> Tick = Layout("Tick", type_id=1, fields=[("symbol", "8s"), ("price", "d")])
>>> payload = Tick.encode(symbol="BTC", price=64000.5)   # 16 bytes
>>> Tick.decode(payload)
Tick(symbol='BTC', price=64000.5)

A layout is little-endian and packed: fields follow one another with no
implicit alignment, so the byte layout is the same on every host and is
exactly what the field list says. Padding is explicit: a field whose format
is ``"Nx"`` reserves N zero bytes, takes no value and is absent from decoded
records.

Field formats are single :mod:`struct` codes — ``b B h H i I q Q`` (integers),
``e f d`` (floats), ``?`` (bool) — plus ``"Ns"``, a text field of N bytes:
it is encoded from ``str`` (UTF-8) or bytes, NUL-padded, must not contain a
NUL byte nor exceed N bytes, and decodes to ``str`` with the padding removed.

NumPy is optional and imported only when :attr:`Layout.dtype`,
:meth:`Layout.frombuffer` or :meth:`Layout.from_dtype` is used.
"""
from __future__ import annotations

import keyword
import re
import struct
from collections import namedtuple
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["Layout"]

# struct code -> NumPy type string (little-endian)
_NUMPY_CODES: Dict[str, str] = {
    "b": "i1", "B": "u1", "h": "<i2", "H": "<u2", "i": "<i4", "I": "<u4",
    "q": "<i8", "Q": "<u8", "e": "<f2", "f": "<f4", "d": "<f8", "?": "?",
}
_INT_CODES = frozenset("bBhHiIqQ")
_FLOAT_CODES = frozenset("efd")
_FIELD_FORMAT = re.compile(r"^(?:([bBhHiIqQefd?])|([1-9][0-9]*)([sx]))$")


class Layout:
    """One message type: a type id and a fixed list of typed fields.

    ``fields`` is a sequence of ``(name, format)`` pairs (see the module
    docstring for formats). ``decode`` returns instances of :attr:`record`,
    a NamedTuple class called ``name`` with one item per non-padding field.
    """

    def __init__(self, name: str, type_id: int, fields: Sequence[Tuple[str, str]]) -> None:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"layout name must be an identifier, not {name!r}")
        if not isinstance(type_id, int) or isinstance(type_id, bool):
            raise TypeError(f"type_id must be an int, not {type(type_id).__name__}")
        if not 0 <= type_id <= 0xFFFF:
            raise ValueError(f"type_id {type_id} outside 0..65535")
        parts: List[str] = []
        names: List[str] = []
        codes: List[str] = []  # per value field: its struct code ("8s" for text)
        for field in fields:
            try:
                fname, fmt = field
            except (TypeError, ValueError):
                raise TypeError(f"each field must be a (name, format) pair, not {field!r}") from None
            if not isinstance(fname, str) or not isinstance(fmt, str):
                raise TypeError(f"field name and format must be str: {field!r}")
            m = _FIELD_FORMAT.match(fmt)
            if m is None:
                raise ValueError(
                    f"{name}.{fname}: unsupported format {fmt!r} "
                    "(use one of b B h H i I q Q e f d ?, 'Ns' for text or 'Nx' for padding)"
                )
            parts.append(fmt)
            if m.group(3) == "x":
                continue
            if not fname.isidentifier() or keyword.iskeyword(fname) or fname.startswith("_"):
                raise ValueError(f"{name}: field name {fname!r} must be an identifier not starting with '_'")
            if fname in names:
                raise ValueError(f"{name}: duplicate field {fname!r}")
            names.append(fname)
            codes.append(fmt)
        if not names:
            raise ValueError(f"layout {name} has no value fields")
        self._name = name
        self._type_id = type_id
        self._fields: Tuple[Tuple[str, str], ...] = tuple((f[0], f[1]) for f in fields)
        self._codes = tuple(codes)
        self._struct = struct.Struct("<" + "".join(parts))
        self._record: Any = namedtuple(name, names)  # type: ignore[misc]
        self._record.__doc__ = f"A decoded {name} message (type id {type_id})."
        self._text = tuple(i for i, c in enumerate(codes) if c.endswith("s"))
        self._text_len = tuple(int(codes[i][:-1]) for i in self._text)
        self._dtype: Any = None

    # ---- description -----------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def type_id(self) -> int:
        """The record type id to append messages of this layout with."""
        return self._type_id

    @property
    def fields(self) -> Tuple[Tuple[str, str], ...]:
        """Every ``(name, format)`` pair as declared, padding included."""
        return self._fields

    @property
    def field_names(self) -> Tuple[str, ...]:
        """Names of the value fields, in order (padding excluded)."""
        return tuple(self._record._fields)

    @property
    def size(self) -> int:
        """Payload size in bytes; every encoded message has exactly this size."""
        return self._struct.size

    @property
    def format(self) -> str:
        """The equivalent :mod:`struct` format string."""
        return self._struct.format

    @property
    def record(self) -> Any:
        """The NamedTuple class that :meth:`decode` returns."""
        return self._record

    def __repr__(self) -> str:
        return f"Layout({self._name!r}, type_id={self._type_id}, size={self.size}, fields={list(self._fields)!r})"

    # ---- encoding --------------------------------------------------------

    def encode(self, *values: Any, **named: Any) -> bytes:
        """The payload for one message; values by position, by name, or both."""
        if named or len(values) != len(self._codes):
            values = self._merge(values, named)
        if self._text:
            values = self._encode_text(values)
        try:
            return self._struct.pack(*values)
        except struct.error:
            raise self._value_error(values) from None

    def pack_into(self, buffer: Any, offset: int, *values: Any, **named: Any) -> None:
        """Encode one message into a writable buffer at ``offset``."""
        if named or len(values) != len(self._codes):
            values = self._merge(values, named)
        if self._text:
            values = self._encode_text(values)
        try:
            self._struct.pack_into(buffer, offset, *values)
        except struct.error as e:
            if offset < 0 or memoryview(buffer).nbytes < offset + self.size:
                raise ValueError(f"{self._name}: {self.size} bytes do not fit at offset {offset}: {e}") from None
            raise self._value_error(values) from None

    def _merge(self, values: Tuple[Any, ...], named: Dict[str, Any]) -> Tuple[Any, ...]:
        fields = self._record._fields
        if len(values) > len(fields):
            raise TypeError(f"{self._name} takes {len(fields)} values, got {len(values)}")
        out = list(values)
        for fname in fields[len(values):]:
            if fname not in named:
                raise TypeError(f"{self._name}: missing value for field {fname!r}")
            out.append(named.pop(fname))
        if named:
            extra = next(iter(named))
            if extra in fields:
                raise TypeError(f"{self._name}: field {extra!r} given by position and by name")
            raise TypeError(f"{self._name} has no field {extra!r}")
        return tuple(out)

    def _encode_text(self, values: Tuple[Any, ...]) -> Tuple[Any, ...]:
        out = list(values)
        for i, n in zip(self._text, self._text_len):
            v = out[i]
            if isinstance(v, str):
                raw = v.encode("utf-8")
            elif isinstance(v, (bytes, bytearray, memoryview)):
                raw = bytes(v)
            else:
                raise TypeError(f"{self._name}.{self._record._fields[i]} must be str or bytes, not {type(v).__name__}")
            if len(raw) > n:
                raise ValueError(f"{self._name}.{self._record._fields[i]}: {v!r} is longer than {n} bytes")
            if b"\0" in raw:
                raise ValueError(f"{self._name}.{self._record._fields[i]}: {v!r} contains a NUL byte")
            out[i] = raw
        return tuple(out)

    def _value_error(self, values: Tuple[Any, ...]) -> Exception:
        """Name the field that struct refused, as TypeError or ValueError."""
        for fname, code, v in zip(self._record._fields, self._codes, values):
            try:
                struct.pack("<" + code, v)
            except struct.error as e:
                numeric = isinstance(v, (int, float)) and not (code in _INT_CODES and isinstance(v, float))
                kind = ValueError if numeric or code == "?" else TypeError
                return kind(f"{self._name}.{fname} = {v!r}: {e}")
        return ValueError(f"{self._name}: cannot encode {values!r}")

    # ---- decoding --------------------------------------------------------

    def decode(self, payload: Any) -> Any:
        """The record of one payload (any bytes-like object of exactly :attr:`size` bytes)."""
        try:
            values = self._struct.unpack(payload)
        except struct.error:
            n = memoryview(payload).nbytes
            raise ValueError(f"{self._name} payload must be {self.size} bytes, got {n}") from None
        if self._text:
            return self._record._make(self._decode_text(values))
        return self._record._make(values)

    def unpack_from(self, buffer: Any, offset: int = 0) -> Any:
        """The record encoded at ``offset`` of a larger buffer."""
        try:
            values = self._struct.unpack_from(buffer, offset)
        except struct.error as e:
            raise ValueError(f"{self._name}: no {self.size}-byte record at offset {offset}: {e}") from None
        if self._text:
            return self._record._make(self._decode_text(values))
        return self._record._make(values)

    def decode_message(self, msg: Any) -> Any:
        """Decode a :class:`chronicle.Message`, checking its type id first."""
        if msg.type_id != self._type_id:
            raise ValueError(
                f"message seq {msg.seq} has type id {msg.type_id}, not {self._type_id} ({self._name})"
            )
        return self.decode(msg.payload)

    def _decode_text(self, values: Tuple[Any, ...]) -> List[Any]:
        out = list(values)
        for i in self._text:
            out[i] = out[i].rstrip(b"\0").decode("utf-8", "replace")
        return out

    # ---- NumPy -----------------------------------------------------------

    @property
    def dtype(self) -> Any:
        """The equivalent NumPy structured dtype (same offsets and item size)."""
        if self._dtype is None:
            import numpy as np

            names: List[str] = []
            formats: List[str] = []
            offsets: List[int] = []
            pos = 0
            for fname, fmt in self._fields:
                size = struct.calcsize("<" + fmt)
                if not fmt.endswith("x"):
                    names.append(fname)
                    formats.append("S" + fmt[:-1] if fmt.endswith("s") else _NUMPY_CODES[fmt])
                    offsets.append(pos)
                pos += size
            self._dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": pos})
        return self._dtype

    def frombuffer(self, buffer: Any) -> Any:
        """A NumPy record array viewing a buffer of back-to-back payloads
        (e.g. ``b"".join(m.payload for m in sub)``). Text fields are bytes there."""
        import numpy as np

        n = memoryview(buffer).nbytes
        if n % self.size:
            raise ValueError(f"buffer of {n} bytes is not a whole number of {self.size}-byte {self._name} records")
        return np.frombuffer(buffer, dtype=self.dtype)

    @classmethod
    def from_dtype(cls, name: str, type_id: int, dtype: Any) -> "Layout":
        """A layout from a NumPy structured dtype: its field offsets and item
        size are kept (gaps become padding). Fields must be little-endian
        scalars of the codes above or fixed byte strings (``S``)."""
        import numpy as np

        dt = np.dtype(dtype)
        if dt.names is None:
            raise ValueError("from_dtype needs a structured dtype")
        by_type = {np.dtype(v): k for k, v in _NUMPY_CODES.items()}
        placed = sorted((dt.fields[n][1], n, dt.fields[n][0]) for n in dt.names)
        fields: List[Tuple[str, str]] = []
        pos = 0
        pad = 0
        for offset, fname, ft in placed:
            if offset < pos:
                raise ValueError(f"{name}: field {fname!r} overlaps the field before it")
            if offset > pos:
                fields.append((f"_pad{pad}", f"{offset - pos}x"))
                pad += 1
            if ft.kind == "S" and ft.subdtype is None:
                code = f"{ft.itemsize}s"
            else:
                found: Optional[str] = by_type.get(ft)
                if found is None:
                    raise ValueError(f"{name}: field {fname!r} has unsupported type {ft} (little-endian scalars or S only)")
                code = found
            fields.append((fname, code))
            pos = offset + ft.itemsize
        if dt.itemsize > pos:
            fields.append((f"_pad{pad}", f"{dt.itemsize - pos}x"))
        return cls(name, type_id, fields)
