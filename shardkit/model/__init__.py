"""The model family (DS-CNN for the STM32N6): settings, registry, scaling layers, N6 rules.

`config` needs no TensorFlow; `dscnn`, `scaling` and `n6` need Keras (``pip install 'shardkit[tf]'``).
"""
