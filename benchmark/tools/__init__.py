"""Tools beside training: packing frame folders into videos, loader profiles, the model table."""
