"""Workflow step types: one module each, registered in oam.registry.STEPS."""
