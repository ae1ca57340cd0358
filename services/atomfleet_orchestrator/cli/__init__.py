"""The ``atomfleet`` command: process entry points, the local fleet, and an HTTP client."""
