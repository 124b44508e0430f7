"""Helpers shared by the test modules (tests/ is on the import path: ``from helpers.training import tiny_config``)."""
