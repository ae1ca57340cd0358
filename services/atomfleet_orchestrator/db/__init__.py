"""Database access shared by every orchestrator process (the Django backend in ``postgresql``)."""
