//! Findings of the detectors as the report lists them: which [`Detector`], how severe,
//! a message, how often, and the stacks that apply.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{FrameDoc, LocationDoc};

/// One finding of a detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingDoc {
    pub detector: Detector,
    pub severity: Severity,
    pub message: String,
    /// How many times it happened (with the same stacks).
    pub count: u64,
    pub stacks: FindingStacksDoc,
    /// The site of the stack that says where the problem is (the offending call, else
    /// the allocation, else the first free); absent in reports of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<LocationDoc>,
}

/// The stacks of a finding that apply to its detector.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FindingStacksDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<Vec<FrameDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_free: Option<Vec<FrameDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offending: Option<Vec<FrameDoc>>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every detector memscope knows, `leak` included, in report order. Named in the
/// document by [`Detector::name`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Detector {
    Leak,
    DoubleFree,
    InvalidFree,
    ReallocOfFreed,
    MismatchedFree,
    NewDeleteSizeMismatch,
    NewDeleteAlignmentMismatch,
    FishySize,
    Growth,
    /// A detector this version does not know (a report of a newer memscope).
    Other(String),
}

impl Detector {
    /// The known detectors, in the order SARIF rules list them.
    pub const KNOWN: [Detector; 9] = [
        Detector::Leak,
        Detector::DoubleFree,
        Detector::InvalidFree,
        Detector::ReallocOfFreed,
        Detector::MismatchedFree,
        Detector::NewDeleteSizeMismatch,
        Detector::NewDeleteAlignmentMismatch,
        Detector::FishySize,
        Detector::Growth,
    ];

    /// The error-class detectors: the default of `--fail-on`.
    pub const ERROR_CLASS: [Detector; 6] = [
        Detector::DoubleFree,
        Detector::InvalidFree,
        Detector::ReallocOfFreed,
        Detector::MismatchedFree,
        Detector::NewDeleteSizeMismatch,
        Detector::NewDeleteAlignmentMismatch,
    ];

    /// The detector of a name ([`Detector::Other`] when unknown).
    pub fn parse(name: &str) -> Detector {
        match name {
            "leak" => Detector::Leak,
            "double-free" => Detector::DoubleFree,
            "invalid-free" => Detector::InvalidFree,
            "realloc-of-freed" => Detector::ReallocOfFreed,
            "mismatched-free" => Detector::MismatchedFree,
            "new-delete-size-mismatch" => Detector::NewDeleteSizeMismatch,
            "new-delete-alignment-mismatch" => Detector::NewDeleteAlignmentMismatch,
            "fishy-size" => Detector::FishySize,
            "growth" => Detector::Growth,
            other => Detector::Other(other.to_string()),
        }
    }

    /// The name the report, the gate's outputs and `--fail-on` use.
    pub fn name(&self) -> &str {
        match self {
            Detector::Leak => "leak",
            Detector::DoubleFree => "double-free",
            Detector::InvalidFree => "invalid-free",
            Detector::ReallocOfFreed => "realloc-of-freed",
            Detector::MismatchedFree => "mismatched-free",
            Detector::NewDeleteSizeMismatch => "new-delete-size-mismatch",
            Detector::NewDeleteAlignmentMismatch => "new-delete-alignment-mismatch",
            Detector::FishySize => "fishy-size",
            Detector::Growth => "growth",
            Detector::Other(name) => name,
        }
    }

    /// One line on what the detector reports (SARIF rule descriptions).
    pub fn description(&self) -> &'static str {
        match self {
            Detector::Leak => "Heap blocks still allocated when the program ended, grouped by allocation stack.",
            Detector::DoubleFree => "A heap block released twice.",
            Detector::InvalidFree => "A release of an address that was never allocated, or of a pointer into the middle of a block.",
            Detector::ReallocOfFreed => "realloc of a block that was already freed.",
            Detector::MismatchedFree => "A block released by the wrong family (malloc/free, new/delete, new[]/delete[]).",
            Detector::NewDeleteSizeMismatch => "A sized operator delete given a size other than the one its block was allocated with.",
            Detector::NewDeleteAlignmentMismatch => "Aligned operator new released by unaligned delete, the reverse, or an aligned delete given another alignment.",
            Detector::FishySize => "An allocation size above PTRDIFF_MAX or a calloc whose size overflowed.",
            Detector::Growth => "A call site whose live bytes grew steadily through the run.",
            Detector::Other(_) => "A detector of a newer memscope.",
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Detector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Detector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Detector::parse(&name))
    }
}
