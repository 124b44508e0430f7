"""The DS-CNN model family for the STM32N6: settings and registry (`config`, no TensorFlow), layers, N6 check, inference."""
