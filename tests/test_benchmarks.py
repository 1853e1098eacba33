"""The benchmarks' own plumbing (their numbers are printed, never asserted)."""

from benchmarks.throughput import build_corpus, median_record


def test_a_benchmark_corpus_can_be_rebuilt_in_the_same_workdir(tmp_path, assets, monkeypatch):
    """A second run with the same --workdir once failed: its hard links already existed."""
    monkeypatch.setenv("SIGNKPS_TEST_ASSETS", str(assets))
    first = build_corpus(tmp_path, signs=1, videos=2, frames=4, mp4=False)
    again = build_corpus(tmp_path, signs=1, videos=2, frames=4, mp4=False)
    assert first == again == {"signs": 1, "videos": 2, "frames": 8}
    frames = sorted((tmp_path / "frames").rglob("*.jpg"))
    assert len(frames) == 8 and all(f.stat().st_size > 0 for f in frames)


def test_ratios_use_the_median_round_and_the_lower_middle_of_an_even_count():
    rounds = [{"round": 1, "fps_steady": 40.1}, {"round": 2, "fps_steady": 38.0},
              {"round": 3, "fps_steady": 39.5}]  # fmt: skip
    assert median_record(rounds)["round"] == 3
    assert median_record(rounds[:2])["round"] == 2
