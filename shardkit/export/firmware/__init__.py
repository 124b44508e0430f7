"""Package data: the portable C99 reference of the spectrogram contract (shardkit_frontend.h/.c)."""
