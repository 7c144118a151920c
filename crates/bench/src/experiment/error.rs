//! Why an experiment file does not expand into run units: each error names the value, and
//! [`ExperimentError::InStudy`] the study it sits in.

use super::{MAX_SEED, MAX_SEEDS, MAX_UNITS};

/// An experiment, study, seed list or grid that is refused.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The error of a value inside a study.
    #[error("study `{study}`: {source}")]
    InStudy {
        study: String,
        #[source]
        source: Box<ExperimentError>,
    },
    /// A name that cannot be a folder.
    #[error(transparent)]
    Name(#[from] runfmt::NameError),
    #[error("`seeds` names {0} seeds, more than the limit of {MAX_SEEDS}")]
    TooManySeeds(u64),
    #[error("`seeds`: seed {0} is larger than {MAX_SEED}")]
    SeedTooLarge(u64),
    #[error("`seeds` range {range} is not `a..b`")]
    RangeSyntax { range: String },
    #[error("`seeds` range {range}: {bound} is not a seed (0..={MAX_SEED})")]
    RangeBound { range: String, bound: String },
    #[error("`seeds` range {range} is empty")]
    RangeEmpty { range: String },
    #[error("`optimizers` and `spaces` must not be empty")]
    NothingToRun,
    #[error("`spaces` must not be empty")]
    NoSpaces,
    #[error("space {0} is not 1, 2 or 3")]
    Space(u8),
    #[error("`queries` must be at least 1")]
    NoQueries,
    #[error("black-box studies take no grid and no base")]
    BlackboxGridOrBase,
    #[error("black-box seeds must be consecutive")]
    SeedsNotConsecutive,
    #[error("a stand-alone study takes no `optimizers`, `base` or `queries`")]
    StandaloneOptions,
    #[error("`architectures` (at least 1) is required")]
    NoArchitectures,
    #[error("`{key}` is not an `nb1s1 train` option of a stand-alone study (one of {allowed})")]
    TrainOption { key: String, allowed: String },
    #[error("`{key}` = {value}: expected a number, string or boolean")]
    TrainValue { key: String, value: String },
    #[error("optimizers × spaces × grid points × seeds make more than {MAX_UNITS} runs; split the experiment")]
    TooManyUnits,
    #[error("run `{0}` appears twice (repeated study block?)")]
    DuplicateRun(String),
    #[error("grid `{0}` must be a non-empty list")]
    GridNotList(String),
    #[error("grid key `{0}` has an empty part")]
    GridEmptyPart(String),
    #[error("grid key `{key}`: `{part}` is not a table in `config`")]
    GridNotTable { key: String, part: String },
    /// The study's `base` config cannot be used.
    #[error(transparent)]
    Base(#[from] crate::base_config::BaseConfigError),
}

impl ExperimentError {
    /// This error as one of study `name`.
    pub(crate) fn in_study(self, name: &str) -> ExperimentError {
        ExperimentError::InStudy {
            study: runfmt::name::shorten(name),
            source: Box::new(self),
        }
    }
}
