"""Read a ``torch.save`` file without torch: its tensors become numpy arrays, and nothing in the
file is ever imported or run.

Example::

    state_dict = read_state_dict("hdemucs_high_trained.pt")  # {name: numpy array}

Both formats torch writes are read: the zip archive (torch >= 1.6: ``<prefix>/data.pkl``, each
storage's bytes in ``<prefix>/data/<key>``) and the legacy stream (a magic-number pickle, the
protocol version, a pickle of system facts, the object's pickle, the pickled list of storage
keys, then each storage as an 8-byte little-endian element count and its bytes).

The object's pickle is read by :class:`_Unpickler`, pickle's own reference unpickler with every
opcode that could call or import something replaced. A global resolves only to this module's
stand-ins for what ``torch.save(model.state_dict())`` names (tensor rebuilders, storage and
dtype markers, ``OrderedDict``); any other global is refused, unless the caller names it in
``inert_globals``, which makes it a :class:`GlobalRef`: a name that is never imported, and that
calling or instantiating turns into a :class:`Call` record holding the arguments as data.

Every file that cannot be read (missing, not torch's, truncated, corrupt, big-endian, a tensor
type numpy cannot hold, a refused global) is one ``CheckpointError`` line naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np

from stemboard.errors import CheckpointError, CheckpointNotFoundError

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOLS = (2, 3, 4, 5)  # the legacy stream opens with PROTO and one of these
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# The tensor element types stemboard reads, by torch's name: how one element lies in the file
# (little-endian). numpy has no bfloat16: its 16 bits are read, then made the high half of a
# float32, which holds every bfloat16 value exactly.
_ELEMENTS = {
    name: np.dtype(layout)
    for name, layout in {
        "float32": "<f4",
        "float64": "<f8",
        "float16": "<f2",
        "bfloat16": "<u2",
        "int8": "i1",
        "int16": "<i2",
        "int32": "<i4",
        "int64": "<i8",
        "uint8": "u1",
        "bool": "?",
    }.items()
}
# torch's storage classes (``torch.FloatStorage``...) and the element type each holds; torch 2
# writes ``torch.storage.UntypedStorage`` (bytes) for newer types, with the dtype beside it.
_STORAGES = {
    "torch.FloatStorage": "float32",
    "torch.DoubleStorage": "float64",
    "torch.HalfStorage": "float16",
    "torch.BFloat16Storage": "bfloat16",
    "torch.CharStorage": "int8",
    "torch.ShortStorage": "int16",
    "torch.IntStorage": "int32",
    "torch.LongStorage": "int64",
    "torch.ByteStorage": "uint8",
    "torch.BoolStorage": "bool",
    "torch.ComplexFloatStorage": "complex64",
    "torch.ComplexDoubleStorage": "complex128",
    "torch.QInt8Storage": "qint8",
    "torch.QUInt8Storage": "quint8",
    "torch.QInt32Storage": "qint32",
    "torch.QUInt4x2Storage": "quint4x2",
    "torch.QUInt2x4Storage": "quint2x4",
    "torch.storage.UntypedStorage": "uint8",
}
# Every dtype name torch pickles (``torch.uint16``...: torch 2 writes the newer ones beside an
# untyped storage), so that one this module does not read is refused by its name.
_DTYPE_NAMES = (
    *_ELEMENTS,
    *_STORAGES.values(),
    *("uint16", "uint32", "uint64", "complex32", "bcomplex32", "bits8", "bits16", "bits1x8"),
    *("bits2x4", "bits4x2", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz"),
    *("float8_e8m0fnu", "float4_e2m1fn_x2"),
)
_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class GlobalRef:
    """A Python global a file names and the caller allowed as data: never imported, never run.

    The unpickler turns calling or instantiating it into a :class:`Call` record.
    """

    module: str
    name: str


@dataclass
class Call:
    """What a file asked to build from a :class:`GlobalRef`, kept as data: ``ref(*args,
    **kwargs)``, then given ``state`` (what pickle's BUILD would have set), if any."""

    ref: GlobalRef
    args: tuple
    kwargs: dict = field(default_factory=dict)
    state: object = None


def read_torch_file(path: str | os.PathLike, *, inert_globals: Collection[str] = ()) -> object:
    """The object the ``torch.save`` file at ``path`` holds, each tensor a numpy array.

    >>> read_torch_file("demucs.th", inert_globals={"demucs.htdemucs.HTDemucs"})["klass"]
    GlobalRef(module='demucs.htdemucs', name='HTDemucs')

    Each tensor is a C-contiguous copy of what torch would view (its size, stride and offset
    into its storage); a bfloat16 tensor becomes float32. ``inert_globals`` lists dotted names
    (``"fractions.Fraction"``) that may appear as :class:`GlobalRef` markers; any other Python
    global the file names is refused. Raises ``CheckpointError`` naming the file for anything
    that makes it unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read: {error.strerror}") from None
    with file:
        try:
            return _read(file, frozenset(inert_globals))
        except _Unreadable as error:
            raise CheckpointError(f"{path}: {error}") from None
        except MemoryError:
            raise CheckpointError(f"{path}: too large to read into this machine's memory") from None
        except Exception as error:
            raise CheckpointError(f"{path}: {_corrupt(_describe(error))}") from None


def state_dict_from(loaded: object, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``state_dict`` (parameter name -> array) that ``read_torch_file(path)`` returned as
    ``loaded``, unwrapped from a ``{"state_dict": ...}`` dict; ``CheckpointError`` if it is not
    one."""
    if isinstance(loaded, Mapping) and list(loaded) == ["state_dict"]:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise CheckpointError(
            f"{path}: holds a value of type {type(loaded).__name__}, not a state_dict "
            "(a mapping of parameter names to tensors)"
        )
    for key, value in loaded.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{path}: not a state_dict: key {_shown(key)} is not a string")
        if not isinstance(value, np.ndarray):
            raise CheckpointError(
                f"{path}: not a state_dict: {_shown(key)} is of type {type(value).__name__}, "
                "not a tensor"
            )
    return dict(loaded)


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``state_dict`` a ``torch.save`` file holds, as parameter name -> numpy array.

    >>> weights = read_state_dict("hdemucs_high_trained.pt")
    """
    return state_dict_from(read_torch_file(path), path)


class _Unreadable(Exception):
    """Why a file cannot be read, worded to follow ``"<path>: "``."""


def _corrupt(reason: str) -> str:
    return f"truncated or corrupt torch.save file ({reason})"


def _describe(error: Exception) -> str:
    lines = str(error).splitlines()
    described = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return described[:_MESSAGE_CHARS]


def _shown(value: object) -> str:
    """``value`` as a message shows it: its repr, cut to one short line."""
    text = repr(value)
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "..."


class _PickleBytes(io.BytesIO):
    """Pickle bytes in memory that end where the pickle says: a read or a line cut short by the
    end is truncation (pickle's Python reader would take what is there and fail obscurely)."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if size is not None and 0 <= size != len(data):
            raise pickle.UnpicklingError("pickle data was truncated")
        return data

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if not line.endswith(b"\n"):
            raise pickle.UnpicklingError("pickle data was truncated")
        return line


# Where a storage's bytes come from: given its key, element count and element size, its bytes
# (which the unpickler checks for length), or None while a legacy stream is being surveyed.
_StorageSource = Callable[[str, int, int], "bytes | memoryview | None"]


def _read(file: BinaryIO, inert_globals: frozenset[str]) -> object:
    head = file.read(len(_ZIP_MAGIC))
    file.seek(0)
    if head == _ZIP_MAGIC:
        return _read_zip(file, inert_globals)
    if head[:1] == pickle.PROTO and head[1:2] and head[1] in _PICKLE_PROTOCOLS:
        return _read_legacy(file.read(), inert_globals)
    if not head:
        raise _Unreadable("is empty, not a torch.save file")
    if head.lstrip()[:1] == b"<":
        raise _Unreadable("is an HTML or XML page, not a torch.save file (a failed download?)")
    raise _Unreadable("not a torch.save file (neither a zip archive nor a pickle)")


def _read_zip(file: BinaryIO, inert_globals: frozenset[str]) -> object:
    with zipfile.ZipFile(file) as archive:
        names = archive.namelist()
        prefix = names[0].split("/")[0] + "/" if names and "/" in names[0] else ""
        if not prefix or f"{prefix}data.pkl" not in names:
            raise _Unreadable("a zip archive without data.pkl, not a torch.save file")
        if f"{prefix}byteorder" in names:
            _check_byteorder(archive.read(f"{prefix}byteorder"))
        records: dict[str, bytes] = {}

        def storage(key: str, numel: int, itemsize: int) -> bytes:
            if key not in records:
                name = f"{prefix}data/{key}"
                if name not in names:
                    raise _Unreadable(_corrupt(f"no record data/{key} for a storage it names"))
                size = archive.getinfo(name).file_size
                if size != numel * itemsize:
                    raise _Unreadable(_wrong_size(key, size, numel * itemsize))
                records[key] = archive.read(name)
            return records[key]

        pickled = _PickleBytes(archive.read(f"{prefix}data.pkl"))
        return _Unpickler(pickled, inert_globals, storage).load()


_BIG_ENDIAN = (
    "was written on a big-endian machine; only little-endian checkpoints are read "
    "(load and save it again with torch on a little-endian machine)"
)


def _check_byteorder(record: bytes) -> None:
    if record == b"big":
        raise _Unreadable(_BIG_ENDIAN)
    if record != b"little":
        raise _Unreadable(_corrupt(f"byteorder record {_shown(record)}"))


def _wrong_size(key: str, size: int, expected: int) -> str:
    return _corrupt(f"storage {_shown(key)} holds {size} bytes where its tensors need {expected}")


def _read_legacy(data: bytes, inert_globals: frozenset[str]) -> object:
    """The object in a legacy stream. Its storages follow the object's pickle, so that pickle is
    read twice: first to learn each storage's size, then, with the bytes at hand, for real."""
    stream = _PickleBytes(data)

    def plain() -> object:
        return _Unpickler(stream, inert_globals).load()

    magic = plain()
    if type(magic) is not int or magic != _LEGACY_MAGIC:
        raise _Unreadable("a pickle, but not a torch.save file (no torch magic number)")
    protocol = plain()
    if type(protocol) is not int or protocol != _LEGACY_PROTOCOL:
        raise _Unreadable(_corrupt(f"legacy protocol version {_shown(protocol)}, not 1001"))
    system = plain()
    if not isinstance(system, dict):
        raise _Unreadable(_corrupt("no system description after the protocol version"))
    if system.get("little_endian") is False:
        raise _Unreadable(_BIG_ENDIAN)

    start = stream.tell()
    sizes: dict[str, tuple[int, int]] = {}

    def survey(key: str, numel: int, itemsize: int) -> None:
        if sizes.setdefault(key, (numel, itemsize)) != (numel, itemsize):
            raise _Unreadable(_corrupt(f"storage {_shown(key)} is named with two sizes"))

    _Unpickler(stream, inert_globals, survey).load()
    keys = plain()
    if not isinstance(keys, list) or sorted(keys) != sorted(sizes):
        raise _Unreadable(_corrupt("its list of storages differs from those its tensors name"))
    storages: dict[str, memoryview] = {}
    view, position = memoryview(data), stream.tell()
    for key in keys:
        numel, itemsize = sizes[key]
        count = view[position : position + 8]
        if len(count) < 8:
            raise _Unreadable(_corrupt(f"it ends before storage {_shown(key)}"))
        if int.from_bytes(count, "little") != numel:
            raise _Unreadable(_corrupt(f"storage {_shown(key)} has the wrong element count"))
        position += 8
        storages[key] = view[position : position + numel * itemsize]
        position += numel * itemsize

    stream.seek(start)
    return _Unpickler(stream, inert_globals, lambda key, *_: storages[key]).load()


@dataclass(frozen=True)
class _StorageType:
    """``torch.FloatStorage`` and its kin, as a persistent id names them: an element type."""

    element: str


@dataclass(frozen=True)
class _DType:
    """A ``torch.<dtype>`` global, as ``_rebuild_tensor_v3`` is given it."""

    name: str


@dataclass(frozen=True)
class _Storage:
    """One storage of the file: its element type and bytes (None while surveying)."""

    key: str
    element: str
    nbytes: int
    data: bytes | memoryview | None


def _numpy_dtype(element: str) -> np.dtype:
    if element not in _ELEMENTS:
        raise _Unreadable(
            f"holds a tensor of dtype {element}, which stemboard does not read "
            f"(it reads {', '.join(_ELEMENTS)})"
        )
    return _ELEMENTS[element]


def _is_index(value: object) -> bool:
    return type(value) is int and value >= 0


def _tensor(
    storage: object, element: str, offset: object, size: object, stride: object, metadata: object
) -> np.ndarray | None:
    """A C-contiguous copy of the ``size``/``stride`` view at element ``offset`` of ``storage``
    read as ``element``s, as torch's ``Tensor.set_`` would view it; None while surveying."""
    if not isinstance(storage, _Storage):
        raise _Unreadable(_corrupt(f"a tensor on a {type(storage).__name__}, not a storage"))
    dtype = _numpy_dtype(element)
    if not (
        _is_index(offset)
        and type(size) is tuple
        and type(stride) is tuple
        and len(size) == len(stride)
        and all(_is_index(n) for n in size + stride)
    ):
        raise _Unreadable(_corrupt(f"a tensor of size {_shown(size)}, stride {_shown(stride)}"))
    count = prod(size)
    capacity = storage.nbytes // dtype.itemsize
    last = offset + sum((n - 1) * step for n, step in zip(size, stride, strict=True))
    end = last + 1 if count else 0
    if end > capacity:
        raise _Unreadable(
            _corrupt(
                f"a tensor of size {list(size)} at offset {offset} reaches past the end of "
                f"storage {_shown(storage.key)}, which holds {capacity} elements"
            )
        )
    if count > capacity:
        raise _Unreadable(
            f"holds a tensor of size {list(size)} that repeats elements of its storage "
            f"(stride {list(stride)}); only tensors that view each element once are read"
        )
    if metadata not in (None, {}, {"neg": True}):
        raise _Unreadable(f"holds a tensor with view metadata {_shown(metadata)}, not read")
    if storage.data is None:
        return None
    view = np.ndarray(
        size,
        dtype,
        buffer=storage.data,
        offset=offset * dtype.itemsize,
        strides=tuple(step * dtype.itemsize for step in stride),
    )
    if element == "bfloat16":
        bits = view.astype(np.uint32, order="C")
        bits <<= 16
        array = bits.view(np.float32)
    else:
        array = view.astype(dtype.newbyteorder("="), order="C")
    if metadata:  # torch's negative view: the stored values, negated
        np.negative(array, out=array)
    return array


# Stand-ins for the functions torch's pickles call, with torch's signatures: each builds numpy
# arrays from the storages the persistent ids name, and ignores what only torch needs
# (requires_grad, hooks, a parameter's Python attributes).


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    """``torch._utils._rebuild_tensor_v2``: a tensor of its storage's element type."""
    element = storage.element if isinstance(storage, _Storage) else ""
    return _tensor(storage, element, offset, size, stride, metadata)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    """``torch._utils._rebuild_tensor_v3``: an untyped storage read as ``dtype``."""
    if not isinstance(dtype, _DType):
        raise _Unreadable(_corrupt(f"a tensor of dtype {_shown(dtype)}"))
    return _tensor(storage, dtype.name, offset, size, stride, metadata)


def _rebuild_parameter(data, requires_grad, hooks):
    """``torch._utils._rebuild_parameter``: an ``nn.Parameter`` is its tensor."""
    return data


def _rebuild_parameter_with_state(data, requires_grad, hooks, state):
    """``torch._utils._rebuild_parameter_with_state``: a parameter carrying Python
    attributes is its tensor too."""
    return data


# The only globals a file may name, and what each resolves to.
_GLOBALS: dict[str, object] = {
    "collections.OrderedDict": OrderedDict,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
    **{name: _StorageType(element) for name, element in _STORAGES.items()},
    **{f"torch.{name}": _DType(name) for name in _DTYPE_NAMES},
}
_CALLABLES = tuple(value for value in _GLOBALS.values() if callable(value))


def _call(function: object, args: object) -> object:
    """``function(*args)`` for an allowed function, or the record of it for a GlobalRef."""
    if type(args) is not tuple:
        raise _Unreadable(_corrupt(f"call arguments of type {type(args).__name__}"))
    if isinstance(function, GlobalRef):
        return Call(function, args)
    if not any(function is allowed for allowed in _CALLABLES):
        raise _Unreadable(_corrupt(f"a call of a {type(function).__name__}"))
    return function(*args)


class _Unpickler(pickle._Unpickler):
    """pickle's reference unpickler with every opcode that could import or call something
    replaced, so that nothing outside this module runs.

    A global resolves only through ``_GLOBALS`` (or to a GlobalRef the caller allowed); REDUCE,
    INST and OBJ call only ``_CALLABLES`` or record a :class:`Call` of a GlobalRef; NEWOBJ
    records a Call of a GlobalRef and nothing else; BUILD sets a Call's ``state`` (and drops the
    one torch gives a state_dict's OrderedDict); EXT, which reads the process-wide copyreg
    registry, is refused. The C unpickler (``pickle.Unpickler``) cannot
    be made as strict: its NEWOBJ calls the type's ``tp_new`` itself, and its EXT returns any
    object cached by earlier unpickling without asking ``find_class``.
    """

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def __init__(
        self,
        file: _PickleBytes,
        inert_globals: frozenset[str],
        storage: _StorageSource | None = None,
    ) -> None:
        super().__init__(file)
        self._inert_globals = inert_globals
        self._storage = storage

    def find_class(self, module: str, name: str) -> object:
        dotted = f"{module}.{name}"
        if dotted in _GLOBALS:
            return _GLOBALS[dotted]
        if dotted in self._inert_globals:
            return GlobalRef(module, name)
        shown = dotted if dotted.isprintable() and len(dotted) <= _MESSAGE_CHARS else _shown(dotted)
        raise _Unreadable(
            f"refused: the file names the Python global {shown}, which a checkpoint of weights "
            "never needs; nothing in it was run (a model saved whole? save its state_dict())"
        )

    def persistent_load(self, pid: object) -> _Storage:
        """The storage ``("storage", type, key, location, numel)`` names (the legacy stream adds
        a view, always None since torch 1.0)."""
        if not (
            self._storage is not None
            and type(pid) is tuple
            and len(pid) in (5, 6)
            and type(pid[0]) is str
            and pid[0] == "storage"
            and (len(pid) == 5 or pid[5] is None)
            and isinstance(pid[1], _StorageType)
            and type(pid[2]) is str
            and _is_index(pid[4])
        ):
            raise _Unreadable(_corrupt(f"unknown persistent id {_shown(pid)}"))
        _, kind, key, _, numel = pid[:5]
        itemsize = _numpy_dtype(kind.element).itemsize
        nbytes = numel * itemsize
        data = self._storage(key, numel, itemsize)
        if data is not None and len(data) != nbytes:
            raise _Unreadable(_wrong_size(key, len(data), nbytes))
        return _Storage(key, kind.element, nbytes, data)

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = _call(self.stack[-1], args)

    def load_inst(self) -> None:
        module = self.readline()[:-1].decode("utf-8")
        name = self.readline()[:-1].decode("utf-8")
        function = self.find_class(module, name)
        args = tuple(self.pop_mark())  # before self.append: pop_mark replaces it
        self.append(_call(function, args))

    def load_obj(self) -> None:
        function, *args = self.pop_mark()
        self.append(_call(function, tuple(args)))

    def load_newobj(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self._new(self.stack[-1], args, {})

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        self.stack[-1] = self._new(self.stack[-1], args, kwargs)

    @staticmethod
    def _new(cls: object, args: object, kwargs: object) -> Call:
        if not (isinstance(cls, GlobalRef) and type(args) is tuple and type(kwargs) is dict):
            raise _Unreadable(_corrupt(f"a new object of {_shown(cls)}"))
        return Call(cls, args, kwargs)

    def load_build(self) -> None:
        state = self.stack.pop()
        built = self.stack[-1]
        if isinstance(built, Call):
            built.state = state
        elif not isinstance(built, OrderedDict):
            raise _Unreadable(_corrupt(f"state given to a {type(built).__name__}"))
        # A state_dict's OrderedDict is given its modules' versions (``_metadata``) this way:
        # they are not weights, and are dropped.

    def load_ext(self) -> None:
        raise _Unreadable(
            "refused: the file names an object by a copyreg extension code, which a checkpoint "
            "of weights never does; nothing in it was run"
        )

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.INST[0]] = load_inst
    dispatch[pickle.OBJ[0]] = load_obj
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.EXT1[0]] = load_ext
    dispatch[pickle.EXT2[0]] = load_ext
    dispatch[pickle.EXT4[0]] = load_ext
