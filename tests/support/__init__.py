"""Helpers shared by the tests: build inputs the way the worker receives them."""
