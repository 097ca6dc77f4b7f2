//! Names what keeps a leak group's blocks, for the report (`leaks[].held_by`,
//! `leaks[].chain`): a global by its data symbol, module and declaration; a stack word by
//! its thread and the function of its frame; a TLS or register word by its thread; an
//! indirectly lost group's lost block (clique leader) by the function and line of its
//! allocation site (the innermost named frame outside the language and C libraries:
//! [`crate::analysis::classify::types::site_frame`]).
//!
//! Root words that name the same thing (the slots of one global array, two words of one
//! frame) are merged, their blocks summed; at most [`SHOWN_HOLDERS`] are listed, most
//! blocks first.

use memscope_format::RootKind;
use memscope_report::{HolderDoc, HolderKindDoc};

use crate::analysis::classify::types::site_frame;
use crate::analysis::reach::{Chain, GroupHolders, HeldBy};
use crate::ids::StackId;
use crate::symbols::globals::Globals;

use super::build::Stacks;

/// Holders listed per group.
pub const SHOWN_HOLDERS: usize = 5;

/// Still-reachable groups (the largest by bytes) that get a chain.
pub const CHAINS: usize = 5;

/// Turns holders into report entries; loads global symbols as needed.
pub struct HolderNamer {
    globals: Globals,
}

impl Default for HolderNamer {
    fn default() -> Self {
        Self::new()
    }
}

impl HolderNamer {
    pub fn new() -> Self {
        Self {
            globals: Globals::new(),
        }
    }

    /// The group's holders, merged and cut to [`SHOWN_HOLDERS`].
    pub fn held_by(&mut self, stacks: &mut Stacks<'_>, holders: &GroupHolders) -> Vec<HolderDoc> {
        let mut merged: Vec<(HolderDoc, u64)> = Vec::new();
        for &(held, blocks) in &holders.held_by {
            let Some(doc) = self.holder(stacks, held) else {
                continue;
            };
            match merged.iter_mut().find(|(d, _)| *d == doc) {
                Some((_, n)) => *n += blocks,
                None => merged.push((doc, blocks)),
            }
        }
        // Stable: among equals, the order the holders came in (most blocks first).
        merged.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        merged
            .into_iter()
            .take(SHOWN_HOLDERS)
            .map(|(d, _)| d)
            .collect()
    }

    /// The chain from its root, root first, then one heap step per holding block.
    pub fn chain(&mut self, stacks: &mut Stacks<'_>, chain: &Chain) -> Vec<HolderDoc> {
        let Some(root) = self.holder(stacks, HeldBy::Root(chain.root)) else {
            return Vec::new();
        };
        std::iter::once(root)
            .chain(chain.steps.iter().map(|&s| heap(stacks, s)))
            .collect()
    }

    fn holder(&mut self, stacks: &mut Stacks<'_>, held: HeldBy) -> Option<HolderDoc> {
        let root = match held {
            HeldBy::LostBlock(stack) => return Some(heap(stacks, stack)),
            HeldBy::Root(id) => *stacks.analysis().index.leak_check.as_ref()?.root(id)?,
        };
        let index = &stacks.analysis().index;
        let module = root.module.and_then(|m| index.module(m));
        let thread = Some(root.tid);
        let doc = |kind| HolderDoc {
            kind,
            symbol: None,
            module: None,
            file: None,
            line: None,
            thread: None,
        };
        Some(match root.kind {
            RootKind::Global => {
                let sym = module.and_then(|m| self.globals.lookup(m, root.addr));
                HolderDoc {
                    module: module.map(|m| m.path.clone()),
                    symbol: sym.as_ref().map(|s| s.name.clone()),
                    file: sym.as_ref().and_then(|s| s.file.clone()),
                    line: sym.as_ref().and_then(|s| s.line),
                    ..doc(HolderKindDoc::Global)
                }
            }
            RootKind::Stack => {
                let f = (root.pc != 0)
                    .then(|| stacks.at_pc(root.pc, root.module))
                    .flatten();
                HolderDoc {
                    thread,
                    symbol: f.as_ref().and_then(|f| f.function.clone()),
                    module: f.as_ref().and_then(|f| f.module.clone()),
                    file: f.as_ref().and_then(|f| f.file.clone()),
                    line: f.as_ref().and_then(|f| f.line),
                    ..doc(HolderKindDoc::Stack)
                }
            }
            RootKind::Tls => HolderDoc {
                thread,
                ..doc(HolderKindDoc::Tls)
            },
            RootKind::Register => HolderDoc {
                thread,
                ..doc(HolderKindDoc::Register)
            },
            RootKind::Anonymous => doc(HolderKindDoc::Anonymous),
        })
    }
}

/// A holding block, named by its allocation site.
fn heap(stacks: &mut Stacks<'_>, stack: StackId) -> HolderDoc {
    let site = site_frame(stacks.sym(stack));
    HolderDoc {
        kind: HolderKindDoc::Heap,
        symbol: site.and_then(|f| f.function.clone()),
        module: site.and_then(|f| f.module.clone()),
        file: site.and_then(|f| f.file.clone()),
        line: site.and_then(|f| f.line),
        thread: None,
    }
}
