"""Declarative end-to-end pipelines: build → train → QAT → convert → evaluate, with up-to-date checks."""
