"""Modules the zygote tests hand a zygote: light, so that a test's zygote starts at once."""
