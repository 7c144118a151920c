//! Architecture samplers: where the sampling methods get their discrete architectures from
//! (uniform with loose ends for Random-WS, the ENAS controller).

use std::cell::RefCell;
use std::rc::Rc;

use rand_chacha::ChaCha8Rng;
use searchspace::{Architecture, SearchSpace};

use crate::controller::Controller;
use crate::error::OneShotError;

/// Draws one discrete architecture of `space`.
pub trait ArchSampler {
    fn sample(
        &mut self,
        space: &SearchSpace,
        rng: &mut ChaCha8Rng,
    ) -> Result<Architecture, OneShotError>;
}

/// Uniform with loose ends (spec §1.6), from the run's seeded generator.
pub struct Uniform;

impl ArchSampler for Uniform {
    fn sample(
        &mut self,
        space: &SearchSpace,
        rng: &mut ChaCha8Rng,
    ) -> Result<Architecture, OneShotError> {
        Ok(space.sample(rng))
    }
}

/// The ENAS controller's policy, without gradient (child training and selection).
pub struct FromController(pub Rc<RefCell<Controller>>);

impl ArchSampler for FromController {
    fn sample(
        &mut self,
        _space: &SearchSpace,
        rng: &mut ChaCha8Rng,
    ) -> Result<Architecture, OneShotError> {
        let c = self.0.borrow();
        tch::no_grad(|| c.sample(rng).map(|s| s.architecture))
    }
}
