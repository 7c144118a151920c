//! Fair-DARTS' relaxation (Chu et al., ECCV 2020): every operation, edge and output weight is an
//! independent sigmoid σ(α) instead of a share of a softmax, so operations do not compete for
//! one unit of weight. The same weights serve weight steps, architecture steps and evaluation.
//! Discretization is the argmax of σ(α) per choice block and the top-k parents by σ(β), which,
//! σ being increasing, is the argmax of the logits: the shared [`crate::selection::Argmax`].

use supernet::{MixingSource, SharedMixing};

use crate::drnas::map_arch;
use crate::error::OneShotError;
use crate::mixing::{MixContext, Relaxation};

/// σ(α) for every architecture tensor.
pub struct Sigmoid;

impl Relaxation for Sigmoid {
    fn mixing(&mut self, cx: &mut MixContext<'_>) -> Result<Box<dyn MixingSource>, OneShotError> {
        Ok(Box::new(SharedMixing(map_arch(cx.arch, |a| {
            Ok(a.sigmoid())
        })?)))
    }
}
