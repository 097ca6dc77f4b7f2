//! The writer's list of loaded modules, built where the platform crate lists them (the
//! `stack_capture` configuration set by build.rs): a `Module` record for each module
//! loaded, a `ModuleUnload` for each one gone, and the unwinder over them that the
//! producers capture with (published through `handoff`).

use memscope_format::Record;
use memscope_platform::modules::{load_generation, loaded_modules, ModuleInfo};
use memscope_platform::unwind::StackUnwinder;

use crate::chunk_builder::ChunkBuilder;

struct KnownModule {
    id: u32,
    bias: u64,
    text_start: u64,
    path: Vec<u8>,
}

/// The modules the trace has records of, and the unwinder over them.
pub struct ModuleList {
    known: Vec<KnownModule>,
    next_id: u32,
    load_gen: (u64, u64),
    unwinder: StackUnwinder,
}

impl ModuleList {
    /// An empty list: the first [`ModuleList::refresh`] records every module.
    pub fn new() -> ModuleList {
        ModuleList {
            known: Vec::new(),
            next_id: 1,
            load_gen: (u64::MAX, u64::MAX),
            unwinder: StackUnwinder::new(),
        }
    }

    /// The unwinder over the modules known now (published by the caller).
    pub fn unwinder(&self) -> StackUnwinder {
        self.unwinder.clone()
    }

    /// Whether the loader's counters moved since the last refresh.
    pub fn loader_moved(&self) -> bool {
        load_generation() != self.load_gen
    }

    /// Brings the list, its records (put into stream 0's chunk `global`, encoded into
    /// `out`) and the unwinder up to date.
    pub fn refresh(&mut self, global: &mut ChunkBuilder, out: &mut Vec<u8>) {
        self.load_gen = load_generation();
        let known = &self.known;
        let current = loaded_modules(&mut |path, bias| {
            !known.iter().any(|k| k.bias == bias && k.path == path)
        });
        let is_current =
            |k: &KnownModule| current.iter().any(|m| m.bias == k.bias && m.path == k.path);
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.known)
            .into_iter()
            .partition(is_current);
        for k in gone {
            self.unwinder.remove_module(k.text_start);
            global.put(out, 0, &Record::ModuleUnload { id: k.id });
        }
        self.known = kept;
        for m in current {
            if self
                .known
                .iter()
                .any(|k| k.bias == m.bias && k.path == m.path)
            {
                continue;
            }
            self.add(&m, global, out);
        }
    }

    fn add(&mut self, m: &ModuleInfo, global: &mut ChunkBuilder, out: &mut Vec<u8>) {
        let id = self.next_id;
        self.next_id += 1;
        self.unwinder.add_module(m);
        let record = Record::Module {
            id,
            base: m.bias,
            start: m.start,
            end: m.end,
            path: &m.path,
            build_id: &m.build_id,
        };
        global.put(out, 0, &record);
        self.known.push(KnownModule {
            id,
            bias: m.bias,
            text_start: m.text_start,
            path: m.path.clone(),
        });
    }
}
