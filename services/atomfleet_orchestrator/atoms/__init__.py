"""The atoms the fleet can run, as workers registered them (the API imports no atom code)."""
