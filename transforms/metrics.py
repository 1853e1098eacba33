"""Beam metrics the pipeline reports, under one namespace."""

from apache_beam.metrics.metric import Metrics

NAMESPACE = "signkps"

VIDEOS_OK = Metrics.counter(NAMESPACE, "videos_ok")
VIDEOS_FAILED = Metrics.counter(NAMESPACE, "videos_failed")
FRAMES = Metrics.counter(NAMESPACE, "frames")
UNREADABLE_FRAMES = Metrics.counter(NAMESPACE, "unreadable_frames")
SIGNS_WRITTEN = Metrics.counter(NAMESPACE, "signs_written")
SIGNS_SKIPPED = Metrics.counter(NAMESPACE, "signs_skipped")
SIGNS_MISSING = Metrics.counter(NAMESPACE, "signs_missing")
STRAY_FILES = Metrics.counter(NAMESPACE, "stray_files")
VIDEO_ATTEMPTS_FAILED = Metrics.counter(NAMESPACE, "video_attempts_failed")
# Of the videos ok or failed: taken from an interrupted run's records, or extracted now.
VIDEOS_REUSED = Metrics.counter(NAMESPACE, "videos_reused")
VIDEOS_EXTRACTED = Metrics.counter(NAMESPACE, "videos_extracted")

# Every counter above, in the order the run's record lists them.
COUNTER_NAMES = tuple(
    str(counter.metric_name.name)
    for counter in (
        VIDEOS_OK,
        VIDEOS_FAILED,
        FRAMES,
        UNREADABLE_FRAMES,
        SIGNS_WRITTEN,
        SIGNS_SKIPPED,
        SIGNS_MISSING,
        STRAY_FILES,
        VIDEO_ATTEMPTS_FAILED,
        VIDEOS_REUSED,
        VIDEOS_EXTRACTED,
    )
)
