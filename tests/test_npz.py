"""The npz format: the same keypoints give the same bytes, on every Python and every worker."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np

from keypoints.npz import npy_size, read_npz, write_npz

# The bytes of ARRAYS' npz, as written by Python 3.11.7 here and by the worker image's
# Debian Python 3.11.2 (tests/test_worker_image.py): a zipfile that lays them out
# otherwise changes every output file of a rerun.
GOLDEN_SHA256 = "63600e9404a114cd03187b451f2f7d8a44546d414f462904598965f0398a6d93"


def arrays() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        ("a", rng.random((50, 184, 4), dtype=np.float32)),
        ("b", np.zeros((0, 184, 4), np.float32)),  # a video of no frames
        ("c", rng.random((3, 184, 4), dtype=np.float32)),
    ]


def npz_of(items: list[tuple[str, np.ndarray]]) -> bytes:
    f = io.BytesIO()
    write_npz(f, iter(items))
    return f.getvalue()


def test_the_npz_holds_the_arrays_in_order():
    data = npz_of(arrays())
    read = read_npz(data)
    assert list(read) == ["a", "b", "c"]
    for name, array in arrays():
        np.testing.assert_array_equal(read[name], array)
        assert read[name].dtype == np.float32


def test_the_same_arrays_give_the_bytes_they_always_gave():
    assert hashlib.sha256(npz_of(arrays())).hexdigest() == GOLDEN_SHA256


def test_small_members_are_plain_zip_entries_of_their_exact_size():
    with zipfile.ZipFile(io.BytesIO(npz_of(arrays()))) as archive:
        for info, (_, array) in zip(archive.infolist(), arrays(), strict=True):
            assert info.file_size == npy_size(array)
            assert info.extract_version == zipfile.DEFAULT_VERSION  # 2.0: no ZIP64 record
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
