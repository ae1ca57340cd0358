"""Atom runs: state, submission, dispatch, execution, reconciliation, HTTP API."""
