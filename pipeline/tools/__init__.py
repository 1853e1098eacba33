"""Commands over a finished run's output: verify, convert, preview and report."""
