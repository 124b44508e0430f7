"""`shardkit train`: the float model from shards (config, optimizer, loop, artifacts, search)."""

try:
    import tensorflow  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"shardkit.train needs TensorFlow ({exc}); run: pip install 'shardkit[tf]'") from exc
