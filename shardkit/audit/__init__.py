"""`shardkit audit`: a static site that shows what a build chose, why, and what a model does with it."""
