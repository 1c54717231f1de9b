"""Component types: one module each, registered in oam.registry.COMPONENTS."""
