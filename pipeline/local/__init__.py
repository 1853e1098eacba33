"""The local runner's conveniences: worker defaults, the demo, live progress, a quiet terminal."""
