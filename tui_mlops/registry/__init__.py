"""The model registry: named model versions from finished runs, aliases, batch scoring and export."""
