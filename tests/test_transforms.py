"""Pieces of the graph with TestPipeline and assert_that."""

from pathlib import Path

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from keypoints.corpus import SignKey
from keypoints.outputs import npz_path
from tests.conftest import build_corpus
from transforms.listing import ListSignVideos
from transforms.npz_sink import WriteSignNpz


def test_sink_skips_done_signs_and_listing_expands_the_rest(
    tmp_path: Path, signer_frames, signer_video
):
    done, todo = SignKey("01", "train", 1), SignKey("01", "train", 2)
    corpus = build_corpus(
        tmp_path / "corpus",
        {done: {"a": signer_frames[:2]}, todo: {"b": signer_frames[:3], "c": signer_video}},
    )
    output = tmp_path / "out"
    Path(npz_path(str(output), done)).parent.mkdir(parents=True)
    Path(npz_path(str(output), done)).write_bytes(b"")  # already written by an earlier run

    with test_pipeline.TestPipeline() as p:
        videos = (
            p
            | beam.Create([(1, "01", "train"), (2, "01", "train"), (3, "01", "train")])
            | WriteSignNpz.skip_written(str(output))
            | ListSignVideos(str(corpus), "{signer}/{signer}/{split}/{sign:04d}", str(output))
            | beam.MapTuple(lambda key, v, _: (key.label, v.name, v.is_folder, len(v.frame_paths)))
        )
        assert_that(
            videos, equal_to([("01-train/0002", "b", True, 3), ("01-train/0002", "c", False, 1)])
        )


def test_the_sign_key_groups_through_its_own_deterministic_coder(caplog):
    """GroupByKey on SignKey: no pickling fallback (and its warning), and keys come back whole."""
    coder = beam.coders.registry.get_coder(SignKey)
    key = SignKey("01-a", "train", 502)
    assert coder.is_deterministic() and coder.decode(coder.encode(key)) == key
    assert coder.encode(key) == coder.encode(SignKey("01-a", "train", 502))

    with test_pipeline.TestPipeline() as p:
        grouped = (
            p
            | beam.Create(
                [(SignKey("01", "train", 1), 1), (SignKey("01", "train", 1), 2)]
            ).with_output_types(tuple[SignKey, int])
            | beam.GroupByKey()
            | beam.MapTuple(lambda k, vs: (type(k).__name__, k.label, sorted(vs)))
        )
        assert_that(grouped, equal_to([("SignKey", "01-train/0001", [1, 2])]))
    assert "fallback deterministic coder" not in caplog.text
