"""A pretrained teacher in the build: ranks salient candidates and stores soft labels (numpy + LiteRT, no TensorFlow)."""
