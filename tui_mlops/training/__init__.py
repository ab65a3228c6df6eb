"""Training: specs checked before a job starts, feature pipelines, LightGBM and scikit-learn
trainers that stream metrics to a tracking run, sweeps, GPU detection and model loading.

Nothing here is imported at app start; LightGBM and scikit-learn load inside the functions."""
