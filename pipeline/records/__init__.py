"""What a run writes about itself (run.json, the combined report) and where its signs ended."""
