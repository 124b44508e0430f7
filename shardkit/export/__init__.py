"""The deployment stage: QAT, full-INT8 TFLite conversion with gates, the N6 report, evaluation."""
