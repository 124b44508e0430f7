"""`shardkit train`: the float model from shards (settings, optimizer, loop, artifacts, search).

`config` and `metrics` need no TensorFlow; the rest does (``pip install 'shardkit[tf]'``).
"""
