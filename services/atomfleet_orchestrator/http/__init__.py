"""HTTP plumbing shared by the API: error shape, body limits, health endpoints."""
