"""Reading shard sets: shard lists, the sample stream, the tf.data reader, `shardkit inspect` and its `--verify`."""
