"""Tenants and their API tokens."""
