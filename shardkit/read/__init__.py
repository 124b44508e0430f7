"""Reading shard sets: summaries now, the streaming tf.data reader later."""
