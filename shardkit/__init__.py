"""shardkit: decode long audio recordings once into WebDataset shards for tiny classifiers.

Heavy dependencies (numpy, soundfile, TensorFlow) are imported lazily by the stages that need
them, so importing this package is cheap and never pulls in TensorFlow.
"""

__version__ = "0.1.0"
FORMAT_ID = "shardkit/2"
#: manifest formats the reader accepts: shardkit/1 (no teacher data) and shardkit/2 (optional teacher block)
READABLE_FORMATS = ("shardkit/1", "shardkit/2")
