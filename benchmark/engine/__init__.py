"""The parts a training step is made of, each a table by name: the objectives (the loss terms and their
maths), the optimisers and schedules, numeric precision. Configured by plain values: nothing here imports
the run config, so the config can name their allowed values without a cycle."""
from .losses import TRIPLET_DISTANCES, TRIPLET_MININGS
from .objectives import (CAL_VARIANTS, OBJECTIVES, Batch, Term, objective_terms, register_objective, scalar_names,
                         weighted_sum)
from .optimizers import (OPTIMIZERS, PRECISIONS, SCHEDULERS, build_optimizer, build_scheduler, register_optimizer,
                         register_scheduler)

__all__ = ["Batch", "CAL_VARIANTS", "OBJECTIVES", "OPTIMIZERS", "PRECISIONS", "SCHEDULERS", "TRIPLET_DISTANCES",
           "TRIPLET_MININGS", "Term", "build_optimizer", "build_scheduler", "objective_terms", "register_objective",
           "register_optimizer", "register_scheduler", "scalar_names", "weighted_sum"]
