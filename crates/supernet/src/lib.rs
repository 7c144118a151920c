//! The NAS-Bench-1Shot1 one-shot model (supernet) in tch: choice blocks, cells, stacks, the
//! architecture weights shared by all cells, and discretization to a search-space architecture.
