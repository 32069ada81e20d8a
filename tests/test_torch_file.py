"""Reading torch.save files without torch: tensors come back as torch.load gives them, and a file
that names anything but weights is refused in one line before any of it runs.

Files are made here: with torch where it is installed (those tests skip without it), or pickle
opcode by opcode.
"""

from __future__ import annotations

import argparse
import copyreg
import fractions
import os
import pickle
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stemboard import registry
from stemboard.errors import CheckpointError, CheckpointNotFoundError
from stemboard.pretrained.torch_file import (
    Call,
    GlobalRef,
    read_state_dict,
    read_torch_file,
    state_dict_from,
)

FORMATS = ["zip", "legacy"]


def legacy_header(little_endian: bool = True) -> bytes:
    """What a legacy torch.save stream opens with: magic number, protocol, system facts."""
    system = {"protocol_version": 1001, "little_endian": little_endian, "type_sizes": {}}
    return b"".join(pickle.dumps(part, 2) for part in (0x1950A86A20F9469CFC6C, 1001, system))


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def save(torch, value, path: Path, form: str, protocol: int = 2) -> Path:
    torch.save(value, path, pickle_protocol=protocol, _use_new_zipfile_serialization=form == "zip")
    return path


def as_numpy(tensor) -> np.ndarray:
    """What read_torch_file gives for ``tensor``: its values, bfloat16 widened to float32."""
    tensor = tensor.detach().resolve_neg()
    return (tensor.float() if str(tensor.dtype) == "torch.bfloat16" else tensor).numpy()


def assert_reads_as_torch(path: Path, torch, weights_only: bool = True) -> dict:
    """Reads ``path`` as torch.load does: weights_only, except for pickle protocols above 2,
    which torch's weights_only reader cannot read (the files are the test's own)."""
    read = read_torch_file(path)
    loaded = torch.load(path, weights_only=weights_only)
    assert list(read) == list(loaded)
    for key, tensor in loaded.items():
        expected = as_numpy(tensor)
        assert read[key].dtype == expected.dtype, key
        assert read[key].flags.c_contiguous, key
        np.testing.assert_array_equal(read[key], expected, strict=True, err_msg=key)
    return read


def zip_file(path: Path, data_pkl: bytes, records: dict[str, bytes] | None = None) -> Path:
    """A torch-style zip archive: ``archive/data.pkl`` and the given records beside it."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        for name, data in (records or {}).items():
            archive.writestr(f"archive/{name}", data)
    return path


def rewritten(source: Path, target: Path, change) -> Path:
    """``source``'s zip with each record's bytes passed through ``change(name, data)``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, change(name.split("/", 1)[1], old.read(name)))
    return target


def one_line_error(path: Path, *expected: str, error=CheckpointError) -> str:
    """The message read_torch_file(path) fails with: one line naming the file, with each of
    ``expected`` in it."""
    with pytest.raises(error) as caught:
        read_torch_file(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    for fragment in expected:
        assert fragment in message, message
    return message


# --- What torch writes reads back as torch.load reads it -----------------------------------


@pytest.mark.parametrize("form", FORMATS)
def test_hdemucs_state_dict_reads_as_torch_load_gives_it(torch, tmp_path, form):
    from torchaudio.models import HDemucs

    torch.manual_seed(0)
    model = HDemucs(**registry.architecture("tiny").hdemucs_kwargs())
    path = save(torch, model.state_dict(), tmp_path / "tiny.pt", form)
    assert_reads_as_torch(path, torch)
    state_dict = read_state_dict(path)
    assert type(state_dict) is dict
    assert set(state_dict) == set(model.state_dict())


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("protocol", [2, 4])
def test_every_read_dtype_comes_back_exactly(torch, tmp_path, form, protocol):
    values = torch.tensor([0.0, -1.5, 3.25, 1e-3, -7e4, float("inf")])
    tensors = {
        str(dtype): values.to(dtype)
        for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16)
    }
    integers = torch.tensor([0, -1, 2, 127, -128])
    for dtype in (torch.int8, torch.int16, torch.int32, torch.int64):
        tensors[str(dtype)] = integers.to(dtype) * (1 if dtype == torch.int8 else 1000)
    tensors["uint8"] = torch.tensor([0, 1, 200, 255], dtype=torch.uint8)
    tensors["bool"] = torch.tensor([True, False, True])
    tensors["scalar"] = torch.tensor(2.5)
    tensors["empty"] = torch.zeros(0, 3)
    path = save(torch, tensors, tmp_path / "t.pt", form, protocol)
    read = assert_reads_as_torch(path, torch, weights_only=protocol == 2)
    assert read["torch.bfloat16"].dtype == np.float32
    assert read["scalar"].shape == () and read["empty"].shape == (0, 3)


@pytest.mark.parametrize("form", FORMATS)
def test_views_offsets_and_shared_storages_read_as_torch_views_them(torch, tmp_path, form):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {
        "base": base,
        "transposed": base.t(),
        "offset": base[1:, 2:],
        "strided": base[:, ::2],
        "tail": base.view(-1)[17:],
        "element": base[3, 5],
    }
    read = assert_reads_as_torch(save(torch, views, tmp_path / "views.pt", form), torch)
    read["base"][:] = -1
    assert read["transposed"][0, 0] == 0  # copies, not views of one buffer


@pytest.mark.parametrize("form", FORMATS)
def test_parameters_read_as_their_tensors(torch, tmp_path, form):
    tagged = torch.nn.Parameter(torch.ones(2, 3))
    tagged.note = "a Python attribute: torch pickles it with _rebuild_parameter_with_state"
    values = {"plain": torch.nn.Parameter(torch.full((3,), 2.0)), "tagged": tagged}
    assert_reads_as_torch(save(torch, values, tmp_path / "p.pt", form), torch)


def test_a_state_dict_wrapper_is_unwrapped(torch, tmp_path):
    state_dict = {"layer.weight": torch.eye(3)}
    path = save(torch, {"state_dict": state_dict}, tmp_path / "wrapped.pt", "zip")
    np.testing.assert_array_equal(read_state_dict(path)["layer.weight"], np.eye(3))


def test_negative_views_read_negated(torch, tmp_path):
    path = save(torch, {"n": torch._neg_view(torch.arange(3.0))}, tmp_path / "neg.pt", "zip")
    np.testing.assert_array_equal(read_state_dict(path)["n"], [-0.0, -1.0, -2.0])


def test_a_tensor_of_a_read_type_beside_an_untyped_storage_reads(torch, tmp_path):
    """torch 2 pickles newer dtypes with _rebuild_tensor_v3 (an untyped storage and the dtype
    beside it); the same call with a dtype numpy holds reads."""
    path = save(
        torch, {"u": torch.tensor([1, 2, 300], dtype=torch.uint16)}, tmp_path / "u.pt", "zip"
    )
    as_int16 = rewritten(
        path, tmp_path / "i.pt", lambda name, data: data.replace(b"torch\nuint16", b"torch\nint16")
    )
    np.testing.assert_array_equal(read_state_dict(as_int16)["u"], np.array([1, 2, 300], np.int16))


def test_reading_needs_at_most_twice_the_file_in_memory(torch, tmp_path):
    torch.manual_seed(0)
    state_dict = {f"layer{i}.weight": torch.randn(256, 1024) for i in range(8)}  # 8 MiB
    for form in FORMATS:
        path = save(torch, state_dict, tmp_path / f"{form}.pt", form)
        tracemalloc.start()
        read_state_dict(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 2.1 * path.stat().st_size, form


# --- A demucs checkpoint's classes stay names ----------------------------------------------


class Separator:
    """Stands in for demucs.htdemucs.HTDemucs: pickled by name, as demucs pickles its class."""


def test_a_demucs_checkpoint_keeps_its_classes_as_inert_records(torch, tmp_path):
    separator = f"{Separator.__module__}.Separator"
    checkpoint = {
        "klass": Separator,
        "args": (4,),
        "kwargs": {"segment": fractions.Fraction(39, 5), "sources": ["drums", "bass"]},
        "state": {"conv.weight": torch.ones(2, 2)},
        "training_args": argparse.Namespace(lr=0.1, epochs=3),
    }
    path = save(torch, checkpoint, tmp_path / "demucs.th", "zip")
    one_line_error(path, f"Python global {separator},", "nothing in it was run")

    inert = {separator, "fractions.Fraction", "argparse.Namespace"}
    loaded = read_torch_file(path, inert_globals=inert)
    assert loaded["klass"] == GlobalRef(Separator.__module__, "Separator")
    assert not callable(loaded["klass"])
    assert loaded["args"] == (4,)
    assert loaded["kwargs"] == {
        "segment": Call(GlobalRef("fractions", "Fraction"), (39, 5)),
        "sources": ["drums", "bass"],
    }
    assert loaded["training_args"] == Call(
        GlobalRef("argparse", "Namespace"), (), {}, state={"lr": 0.1, "epochs": 3}
    )
    np.testing.assert_array_equal(state_dict_from(loaded["state"], path)["conv.weight"], 1)


@pytest.mark.parametrize(
    "pickled",
    [
        b"(K\x27K\x05ifractions\nFraction\n.",  # INST
        b"(cfractions\nFraction\nK\x27K\x05o.",  # OBJ
        b"\x80\x04\x8c\tfractions\x8c\x08Fraction\x93K\x27K\x05\x86\x81.",  # NEWOBJ
        b"\x80\x04\x8c\tfractions\x8c\x08Fraction\x93K\x27K\x05\x86}\x92.",  # NEWOBJ_EX
    ],
    ids=["INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"],
)
def test_every_way_to_instantiate_an_inert_global_gives_a_record(tmp_path, pickled):
    path = zip_file(tmp_path / "x.pt", pickled)
    loaded = read_torch_file(path, inert_globals={"fractions.Fraction"})
    assert loaded == Call(GlobalRef("fractions", "Fraction"), (39, 5))


# --- Files that name code are refused, and nothing in them runs ----------------------------


class Exploit:
    """Pickles as a call of os.system that would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("wrapping", ["zip", "plain pickle", "legacy"])
def test_a_pickled_os_system_call_is_refused_and_not_run(tmp_path, wrapping):
    marker = tmp_path / "pwned"
    exploit = pickle.dumps({"weight": Exploit(marker)}, protocol=2)
    path = tmp_path / "evil.pt"
    if wrapping == "zip":
        zip_file(path, exploit, {"byteorder": b"little"})
    else:
        path.write_bytes(legacy_header() + exploit if wrapping == "legacy" else exploit)
    one_line_error(path, f"refused: the file names the Python global {os.system.__module__}.system")
    assert not marker.exists()


def global_call(module: str, name: str, argument: str, protocol: int) -> bytes:
    """A pickle of ``module.name(argument)``: GLOBAL in protocol 2, STACK_GLOBAL in 4."""
    if protocol == 2:
        callee = f"c{module}\n{name}\n".encode()
    else:
        callee = pickle.dumps(module, 4)[2:-1] + pickle.dumps(name, 4)[2:-1] + b"\x93"
    return bytes([0x80, protocol]) + callee + pickle.dumps(argument, 2)[2:-1] + b"\x85R."


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize(
    "module, name",
    [
        ("builtins", "eval"),
        ("os", "system"),
        ("posix", "system"),
        ("subprocess", "Popen"),
        ("builtins", "getattr"),
        ("copyreg", "_reconstructor"),
        ("torch", "load"),
        ("torch._tensor", "_rebuild_from_type_v2"),
    ],
)
def test_globals_beyond_weights_are_refused_by_name(tmp_path, module, name, protocol):
    marker = tmp_path / "pwned"
    pickled = global_call(module, name, f"touch {marker}", protocol)
    one_line_error(zip_file(tmp_path / "g.pt", pickled), f"global {module}.{name},")
    assert not marker.exists()


def test_an_extension_code_is_refused_even_when_registered_and_cached(tmp_path):
    """pickle (C or Python) hands out an object copyreg has cached for an EXT code without
    asking find_class; the reader refuses EXT altogether."""
    marker = tmp_path / "pwned"
    code = 0x5EB0
    copyreg.add_extension(os.system.__module__, "system", code)
    try:
        callee = pickle.dumps(os.system, 2)[2:-1]
        assert callee == b"\x83" + code.to_bytes(2, "little")  # EXT2
        pickle.loads(pickle.dumps(os.system, 2))
        assert copyreg._extension_cache[code] is os.system
        pickled = b"\x80\x02" + callee + pickle.dumps(f"touch {marker}", 2)[2:-1] + b"\x85R."
        one_line_error(zip_file(tmp_path / "ext.pt", pickled), "copyreg extension code")
    finally:
        copyreg.remove_extension(os.system.__module__, "system", code)
    assert not marker.exists()


@pytest.mark.parametrize(
    "pickled, problem",
    [
        (b"\x80\x02}K\x01\x85R.", "a call of a dict"),
        (b"\x80\x02ctorch\nFloatStorage\n)R.", "a call of a _StorageType"),
        (
            b"\x80\x02ccollections\nOrderedDict\n)\x81.",
            "a new object of <class 'collections.OrderedDict'>",
        ),
        (b"\x80\x02]}b.", "state given to a list"),
        (b"\x80\x02X\x03\x00\x00\x00abcQ.", "unknown persistent id"),
    ],
)
def test_calls_of_anything_but_the_allowed_are_refused(tmp_path, pickled, problem):
    one_line_error(zip_file(tmp_path / "c.pt", pickled), "truncated or corrupt", problem)


@pytest.mark.parametrize("form", FORMATS)
def test_a_whole_module_is_refused_by_its_class(torch, tmp_path, form):
    path = save(torch, torch.nn.Linear(2, 2), tmp_path / "model.pt", form)
    one_line_error(path, "global torch.nn.modules.linear.Linear,")


def test_tensor_types_numpy_lacks_are_refused_by_name(torch, tmp_path):
    for dtype, name in [(torch.uint16, "uint16"), (torch.complex64, "complex64")]:
        path = save(torch, {"x": torch.zeros(2, dtype=dtype)}, tmp_path / f"{name}.pt", "zip")
        one_line_error(path, f"holds a tensor of dtype {name}, which stemboard does not read")


def test_a_tensor_repeating_its_storage_is_refused(torch, tmp_path):
    path = save(torch, {"x": torch.zeros(1).expand(1000)}, tmp_path / "expanded.pt", "zip")
    one_line_error(path, "repeats elements of its storage")


# --- Every unreadable file is one line naming it -------------------------------------------


def test_missing_files_and_directories_are_named(tmp_path):
    one_line_error(tmp_path / "absent.pt", "no such file", error=CheckpointNotFoundError)
    one_line_error(tmp_path, "is a directory")


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "is empty"),
        (b"<!DOCTYPE html><html><body>Not Found</body></html>", "an HTML or XML page"),
        (bytes(range(7, 200)), "not a torch.save file"),
        (pickle.dumps({"weight": [1.0]}, protocol=2), "a pickle, but not a torch.save file"),
        (b"PK\x03\x04" + bytes(60), "truncated or corrupt torch.save file (BadZipFile"),
    ],
)
def test_files_that_are_not_checkpoints_fail_in_one_line(tmp_path, content, problem):
    path = tmp_path / "weights.pt"
    path.write_bytes(content)
    one_line_error(path, problem)


def test_a_zip_without_data_pkl_is_not_a_checkpoint(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("song/readme.txt", "not weights")
    one_line_error(tmp_path / "other.zip", "without data.pkl")


def test_big_endian_checkpoints_are_refused(torch, tmp_path):
    zipped = save(torch, {"x": torch.ones(2)}, tmp_path / "le.pt", "zip")
    big = rewritten(zipped, tmp_path / "be.pt", lambda n, d: b"big" if n == "byteorder" else d)
    one_line_error(big, "big-endian")
    legacy = tmp_path / "be-legacy.pt"
    legacy.write_bytes(
        legacy_header(little_endian=False) + pickle.dumps({}, 2) + pickle.dumps([], 2)
    )
    one_line_error(legacy, "big-endian")


@pytest.mark.parametrize("form", FORMATS)
def test_a_file_cut_anywhere_fails_in_one_line(torch, tmp_path, form):
    values = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2, dtype=torch.int64)}
    whole = save(torch, values, tmp_path / "whole.pt", form).read_bytes()
    cut = tmp_path / "cut.pt"
    for end in range(len(whole)):
        cut.write_bytes(whole[:end])
        assert "refused" not in one_line_error(cut), end


def test_a_storage_shorter_than_its_tensors_is_refused(torch, tmp_path):
    path = save(torch, {"w": torch.zeros(6)}, tmp_path / "w.pt", "zip")
    short = rewritten(path, tmp_path / "short.pt", lambda n, d: d[:8] if n == "data/0" else d)
    one_line_error(short, "storage '0' holds 8 bytes where its tensors need 24")

    def shrink(name: str, data: bytes) -> bytes:  # the storage says 2 elements, the tensor 6
        if name == "data/0":
            return data[:8]
        return data.replace(b"cpuq\x06K\x06", b"cpuq\x06K\x02") if name == "data.pkl" else data

    one_line_error(rewritten(path, tmp_path / "view.pt", shrink), "reaches past the end")


def test_a_corrupt_pickle_fails_in_one_line(tmp_path):
    one_line_error(zip_file(tmp_path / "c.pt", b"\x80\x02\xff\x00."), "truncated or corrupt")
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(legacy_header() + b"\x80\x02}q\x00(X\x01\x00\x00\x00a")
    one_line_error(legacy, "truncated or corrupt")


# --- state_dict_from ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loaded, problem",
    [
        ([np.zeros(2)], "holds a value of type list, not a state_dict"),
        ({1: np.zeros(2)}, "key 1 is not a string"),
        ({"w": [1.0]}, "'w' is of type list, not a tensor"),
        ({"w": GlobalRef("os", "system")}, "'w' is of type GlobalRef, not a tensor"),
    ],
)
def test_values_that_are_not_state_dicts_fail_in_one_line(loaded, problem):
    with pytest.raises(CheckpointError, match=f"^weights.pt: .*{problem}"):
        state_dict_from(loaded, "weights.pt")


def test_reading_imports_no_torch():
    code = (
        "import sys, stemboard.pretrained.torch_file\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchaudio')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
