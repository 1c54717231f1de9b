"""Workflow step types (one module each) and the engine that resolves a stage."""
