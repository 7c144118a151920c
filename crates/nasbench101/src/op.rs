//! The three interior operations of the NAS-Bench-101 cell, in the official `available_ops`
//! order. The order matters: it defines the integer labels fed to the graph hash.

/// Name of the first vertex of every cell.
pub const INPUT: &str = "input";
/// Name of the last vertex of every cell.
pub const OUTPUT: &str = "output";

/// An interior operation of a cell (NB-101 `available_ops`, hash labels 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `conv3x3-bn-relu`, hash label 0.
    Conv3x3,
    /// `conv1x1-bn-relu`, hash label 1.
    Conv1x1,
    /// `maxpool3x3`, hash label 2.
    MaxPool3x3,
}

impl Op {
    /// All operations in `available_ops` order.
    pub const ALL: [Op; 3] = [Op::Conv3x3, Op::Conv1x1, Op::MaxPool3x3];

    /// The full NB-101 name as stored in the data files.
    pub fn name(self) -> &'static str {
        match self {
            Op::Conv3x3 => "conv3x3-bn-relu",
            Op::Conv1x1 => "conv1x1-bn-relu",
            Op::MaxPool3x3 => "maxpool3x3",
        }
    }

    /// Parses a full NB-101 op name; `None` for anything else (including `input`/`output`).
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The integer label the graph hash uses (index in `available_ops`).
    pub fn label(self) -> i32 {
        match self {
            Op::Conv3x3 => 0,
            Op::Conv1x1 => 1,
            Op::MaxPool3x3 => 2,
        }
    }

    /// Inverse of [`Op::label`].
    pub fn from_label(label: i32) -> Option<Op> {
        match label {
            0 => Some(Op::Conv3x3),
            1 => Some(Op::Conv1x1),
            2 => Some(Op::MaxPool3x3),
            _ => None,
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
