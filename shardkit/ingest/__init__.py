"""The build stage (`shardkit build`): recordings → WebDataset shards, resumable, under a lease, manifest last."""
