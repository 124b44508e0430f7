"""The model family (DS-CNN for the STM32N6), its registry and the N6 construction rules."""

try:
    import keras  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"shardkit.model needs TensorFlow/Keras ({exc}); run: pip install 'shardkit[tf]'") from exc

from shardkit.model.config import ModelConfig
from shardkit.model.dscnn import ARCHITECTURES, EMBEDDINGS_LAYER, HEAD_LAYER, build_model, with_frontend
from shardkit.model.n6 import N6Violation, check_n6

__all__ = ["ARCHITECTURES", "EMBEDDINGS_LAYER", "HEAD_LAYER", "ModelConfig", "N6Violation", "build_model", "check_n6", "with_frontend"]
