//! Discrete (black-box) NAS optimizers over a search space and a tabular benchmark: random
//! search, regularized evolution, REINFORCE, TPE, HyperBand and BOHB. No libtorch here.
