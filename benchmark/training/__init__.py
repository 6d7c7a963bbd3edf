"""Training: the run session, the trainer (ID loss, CAL's two-step update), losses and loaders."""
