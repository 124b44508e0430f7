"""`shardkit demo`: a synthetic bird-call corpus taken through build, inspect, train, QAT, convert and evaluate."""
