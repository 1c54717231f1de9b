"""Policy types: one module each, registered in oam.registry.POLICIES."""
