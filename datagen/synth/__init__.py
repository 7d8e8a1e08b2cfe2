"""`datagen synth`: rows sampled from a catalogue profile (titles, prices, URLs), rendered and written as a
DATASET dir, with the latent attributes and the oracle's answer beside them."""
