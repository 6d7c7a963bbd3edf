"""Train, evaluate, CLI and run records for clothes-changing video re-id."""
