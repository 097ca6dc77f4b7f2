//! Classifiers that work on symbolized stacks, when a report is built (only for the
//! stacks it shows): the allocation's data type (`types`) and whether a block is kept on
//! purpose by libc, ld.so or a language runtime (`runtime`); whether a stack starts in a
//! C++ `operator new` or `delete`, which explains a library-internal `mismatched-free`
//! (`cxx_operators`); which frame names a stack's site, the program's own (`site`).

pub mod cxx_operators;
pub mod runtime;
pub mod site;
pub mod types;

use crate::analysis::visitor::{Category, Info};

/// The symbol-stage classifiers, for `--list-detectors`.
pub const SYMBOL_CLASSIFIERS: [Info; 4] = [
    Info {
        name: "type",
        category: Category::Classifier,
        description: "data type of an allocation site from its demangled frames (Vec, std::string, strdup...)",
    },
    Info {
        name: "runtime-internal",
        category: Category::Classifier,
        description: "blocks libc, ld.so and language runtimes keep on purpose (builtin list, docs/runtime-internal.md)",
    },
    Info {
        name: "cxx-operator",
        category: Category::Classifier,
        description: "mismatched-free explained by a library's own operator new/delete over malloc/free (innermost frame)",
    },
    Info {
        name: "site",
        category: Category::Classifier,
        description: "the program's own frame a leak or finding is named by, past allocator, container and runtime frames",
    },
];
