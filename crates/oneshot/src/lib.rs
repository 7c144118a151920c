//! One-shot NAS optimizers built from small primitives (architecture-weight transforms, weight
//! and architecture updates, epoch selection): DARTS, GDAS, PC-DARTS, ENAS and random search with
//! weight sharing; the search loop with checkpoints and anytime NAS-Bench-101 evaluation.
