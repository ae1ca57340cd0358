"""atomfleet execution side: atom catalog and implementations, queue topology, worker runtime.

This package never imports the orchestrator (``services``) nor Django: the orchestrator depends on
it, not the other way round (enforced by ``tests/test_architecture.py``).
"""
