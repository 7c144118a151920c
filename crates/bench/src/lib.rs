//! The benchmark around the optimizers: experiments, the results store, regret and correlation
//! analysis, and reports.
