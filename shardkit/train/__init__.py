"""`shardkit train`: the float model from shards (settings, readers, optimizer, loop, validation, artifacts, search)."""
