"""What a catalogue is: the profile format, the built-in US catalogue (taxonomy, vocabulary, prices) and the
silhouettes and visual codes its products are drawn with, kept together."""
