"""Training the denoiser: data, loop, checkpoints, validation, export."""
