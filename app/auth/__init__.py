"""People, roles, logging in, and the tenants a person may act in."""
