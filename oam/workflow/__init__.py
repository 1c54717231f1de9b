"""The workflow engine: the clock, the release lifecycle, rollout arithmetic, and resolving a stage."""
