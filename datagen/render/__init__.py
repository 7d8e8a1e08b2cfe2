"""Product images: one picture per row, a pure function of its latent attributes, the profile and a size."""
