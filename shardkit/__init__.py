"""shardkit: decode long audio recordings once into WebDataset shards for tiny classifiers.

Heavy dependencies (numpy, soundfile, TensorFlow) are imported lazily by the stages that need
them, so importing this package is cheap and never pulls in TensorFlow.
"""

__version__ = "0.1.0"
FORMAT_ID = "shardkit/1"
