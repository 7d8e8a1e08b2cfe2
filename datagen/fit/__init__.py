"""`datagen fit`: learn a catalogue profile from real rows, so `datagen synth --profile` mimics them."""
