"""Trait types: one module each, registered in oam.registry.TRAITS."""
