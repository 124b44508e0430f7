"""Audio: bounded-memory decode and resampling, and the spectrogram frontends (numpy reference, TensorFlow ops, Keras layer)."""
