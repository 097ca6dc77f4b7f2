//! Loads the debug information of a trace's modules on a background thread, from the
//! moment pass 1 has named them, so that the slow part of symbolizing (inflating
//! compressed DWARF, parsing its units) runs while the replay does instead of after it.
//!
//! Which modules: those that hold a frame of some interned stack (not the tracer's own
//! library), the largest file first (the one that takes longest, e.g. libc's detached
//! debug file). The thread loads them one by one; a [`crate::symbols::symbolize::Symbolizer`]
//! asking for a module:
//! - loaded already: takes it;
//! - being loaded: waits for the thread;
//! - not started: loads it itself, and the thread skips it.
//!
//! So no module is loaded twice, and what a report says never depends on timing (a
//! module is loaded by the same function either way). Memory: the loaded modules of one
//! trace, which the report would load anyway. When the last handle is dropped, the
//! thread stops after the module it is loading.
//!
//! When: with [`MIN_CPUS`] or more CPUs, as soon as pass 1 is done, to run beside the
//! replay. Pass 2 keeps two CPUs busy (merging and replaying, decoding chunks), so on a
//! two-CPU machine the thread would only compete with it and hold the debug info through
//! the replay (no faster, and more memory held; figures in BENCHMARKS.md); there it
//! starts after the replay, and
//! loads modules beside the report asking for them. With one CPU there is no thread.
//!
//! The latest warm-up of the process is also found by [`Warmup::latest`], so that a
//! symbolizer made without a handle (`memscope check` builds its own) takes from it too.
//! Modules are keyed by recorded path and build-id, and loaded the same way whoever
//! loads them: taking one from another trace's warm-up gives the same answers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use crate::symbols::symbolize::{
    build_id_debug_path, load_key, search_paths, ModuleKey, ModuleSymbols, TRACER_LIB_PREFIX,
};
use crate::trace::reader::TraceIndex;

/// CPUs from which the thread starts before the replay (see the module docs).
pub const MIN_CPUS: usize = 3;

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

enum Slot {
    Waiting,
    Loading,
    Ready(ModuleSymbols),
    Taken,
}

struct State {
    slots: HashMap<ModuleKey, Slot>,
    /// Set when the last handle is dropped: the thread stops.
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a module is ready.
    changed: Condvar,
    /// Live [`Warmup`] handles.
    handles: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent slot by slot; a panic elsewhere must not poison it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle on the modules being loaded ahead for one trace.
pub struct Warmup {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Warmup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warmup")
    }
}

impl Clone for Warmup {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Warmup {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.lock().stop = true;
        }
    }
}

/// The latest warm-up started in this process (not kept alive by this).
static LATEST: Mutex<Option<Weak<Shared>>> = Mutex::new(None);

impl Warmup {
    /// A handle on the latest warm-up started in this process, if it is still there.
    pub fn latest() -> Option<Warmup> {
        let latest = LATEST.lock().unwrap_or_else(|p| p.into_inner());
        let shared = latest.as_ref()?.upgrade()?;
        shared.handles.fetch_add(1, Ordering::Relaxed);
        Some(Warmup { shared })
    }

    /// Whether both handles are on the same warm-up.
    pub fn same(&self, other: &Warmup) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Whether to start before the replay (see the module docs).
    pub fn before_replay() -> bool {
        cpus() >= MIN_CPUS
    }

    /// Starts loading the modules that frames of `index`'s stacks fall in (when there is
    /// a second CPU).
    pub fn start(index: &TraceIndex) -> Self {
        Self::start_with(index, cpus() > 1)
    }

    fn start_with(index: &TraceIndex, spawn: bool) -> Self {
        Self::with_keys(if spawn { keys(index) } else { Vec::new() }, spawn)
    }

    fn with_keys(keys: Vec<ModuleKey>, spawn: bool) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                slots: keys.iter().map(|k| (k.clone(), Slot::Waiting)).collect(),
                stop: false,
            }),
            changed: Condvar::new(),
            handles: AtomicUsize::new(1),
        });
        if spawn && !keys.is_empty() {
            *LATEST.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(&shared));
            let s = shared.clone();
            // Without a thread, every slot stays `Waiting` and is loaded on demand.
            let _ = std::thread::Builder::new()
                .name("memscope-symbols".into())
                .spawn(move || load_ahead(&s, keys));
        }
        Self { shared }
    }

    /// The module of `key` if this warm-up loaded it (waiting for it if it is being
    /// loaded); `None` if it is not in the list or not started, and then the caller
    /// loads it (the thread will not).
    pub(crate) fn take(&self, key: &ModuleKey) -> Option<ModuleSymbols> {
        let mut st = self.shared.lock();
        loop {
            let slot = st.slots.get_mut(key)?;
            match std::mem::replace(slot, Slot::Taken) {
                Slot::Ready(m) => return Some(m),
                Slot::Waiting | Slot::Taken => return None,
                Slot::Loading => {
                    *slot = Slot::Loading;
                    st = self
                        .shared
                        .changed
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }
}

/// The distinct modules holding a frame of some stack, the largest file first.
fn keys(index: &TraceIndex) -> Vec<ModuleKey> {
    let used: HashSet<usize> = index
        .stacks
        .values()
        .flatten()
        .filter_map(|f| f.module.map(|m| m.0))
        .collect();
    let (roots, sysroot) = search_paths();
    let mut seen = HashSet::new();
    let mut keys: Vec<(u64, ModuleKey)> = Vec::new();
    let mut used: Vec<usize> = used.into_iter().collect();
    used.sort_unstable();
    for m in used.into_iter().filter_map(|i| index.modules.get(i)) {
        if m.file_name().starts_with(TRACER_LIB_PREFIX) {
            continue;
        }
        let key = (m.path.clone(), m.build_id.clone());
        if seen.insert(key.clone()) {
            keys.push((load_size(&key, &roots, sysroot.as_deref()), key));
        }
    }
    keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    keys.into_iter().map(|(_, k)| k).collect()
}

/// About how much there is to load for a module: the size of its detached debug file by
/// build-id, else of the module file.
fn load_size(key: &ModuleKey, roots: &[PathBuf], sysroot: Option<&Path>) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let debug = (!key.1.is_empty())
        .then(|| {
            roots
                .iter()
                .map(|r| size(&build_id_debug_path(r, &key.1)))
                .max()
        })
        .flatten()
        .unwrap_or(0);
    let recorded = Path::new(&key.0);
    let main = sysroot
        .map(|r| size(&r.join(recorded.strip_prefix("/").unwrap_or(recorded))))
        .filter(|&s| s > 0)
        .unwrap_or_else(|| size(recorded));
    debug.max(main)
}

/// The thread: loads the waiting modules in order until done or told to stop.
fn load_ahead(shared: &Shared, keys: Vec<ModuleKey>) {
    let (roots, sysroot) = search_paths();
    for key in keys {
        {
            let mut st = shared.lock();
            if st.stop {
                return;
            }
            match st.slots.get_mut(&key) {
                Some(slot @ Slot::Waiting) => *slot = Slot::Loading,
                _ => continue,
            }
        }
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            load_key(&key, &roots, sysroot.as_deref())
        }));
        let mut st = shared.lock();
        let Some(slot) = st.slots.get_mut(&key) else {
            continue;
        };
        match loaded {
            Ok(m) => *slot = Slot::Ready(m),
            // A bug, not bad input: hand the module back so that the symbolizer meets
            // the same panic on its own thread instead of waiting.
            Err(_) => *slot = Slot::Waiting,
        }
        drop(st);
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use memscope_format::{AllocKind, Origin, Record, StackId};
    use object::{Object, ObjectSymbol};

    use super::{Slot, Warmup};
    use crate::symbols::symbolize::Symbolizer;
    use crate::trace::synth::{alloc, module, stack, TraceBuilder};

    #[test]
    fn warmed_up_modules_symbolize_as_cold_ones() {
        // A trace whose stack holds functions of this test program, mapped at 0.
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(&exe).unwrap();
        let obj = object::File::parse(&*data).unwrap();
        let build_id = obj.build_id().ok().flatten().unwrap_or_default().to_vec();
        let frames: Vec<u64> = obj
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 16)
            .take(16)
            .map(|s| s.address() + 1)
            .collect();
        assert!(!frames.is_empty());
        let path = exe.to_str().unwrap().as_bytes().to_vec();
        let mut t = TraceBuilder::new(Origin::Start);
        t.chunk(
            0,
            1000,
            &[
                module(1, 0, u64::MAX / 2, &path, &build_id),
                stack(StackId(1), &frames),
            ],
        );
        t.chunk(
            1,
            1001,
            &[
                Record::ThreadStart { time: 1001, tid: 1 },
                alloc(1002, 0x10, 8, AllocKind::Malloc, StackId(1)),
            ],
        );
        t.end(1010);
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("t.msl");
        std::fs::write(&trace, t.bytes()).unwrap();
        let index = crate::trace::reader::read_index(&trace).unwrap();
        let key = (exe.to_str().unwrap().to_owned(), build_id);
        // Loaded by the thread (whatever the CPUs): wait for it, so that the test takes
        // what the thread loaded.
        let warmup = Warmup::start_with(&index, true);
        let ready = || matches!(warmup.shared.lock().slots.get(&key), Some(Slot::Ready(_)));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !ready() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(ready(), "the thread loads the module");
        let stack = index.stack(StackId(1));
        let warm = Symbolizer::with_warmup(&warmup).symbolize_stack(&index, stack);
        let cold = Symbolizer::cold().symbolize_stack(&index, stack);
        assert_eq!(warm, cold);
        assert!(warm.iter().any(|f| f.function.is_some()), "{warm:?}");
        // Taken once: asking again finds nothing to take (the caller loads it).
        assert!(warmup.take(&key).is_none());
        assert!(warmup.take(&("/no/such/file".into(), Vec::new())).is_none());
    }
}
