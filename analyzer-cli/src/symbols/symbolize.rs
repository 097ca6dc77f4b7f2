//! Turns recorded stack addresses into functions, files and lines, offline, from the
//! module files named in the trace.
//!
//! Only stacks a report shows are symbolized, and each module file is opened once
//! (cached by path and build-id). For each frame: find its module (bound in pass 1),
//! file address = address − load bias, and look up `address − 1`: every recorded frame
//! is a return address (the format's `Stack` record; the tracer leaves out its own frames,
//! so the innermost is the return address of the allocation call), and a call at the end
//! of a function or before an inlined range belongs to the call, not to what follows.
//!
//! Debug info comes from `addr2line` (gimli + object) over the module file, or over a
//! detached debug file when one exists: by build-id (`ROOT/.build-id/xx/yyyy.debug`), by
//! the module's own name (`ROOT/NAME.debug`, its build-id checked) or by the module's
//! `.gnu_debuglink` name (next to the file, in its `.debug/`, or under
//! `ROOT/<the file's directory>/`), for ROOT in the `--debug-dir`s and `/usr/lib/debug`;
//! a debuglink file must match its CRC. `--sysroot` makes module files be looked up
//! under another root first (traces analyzed on another machine). Inlined calls are
//! expanded (one frame per inline level, innermost first, marked `inlined`). Without
//! DWARF the ELF symbol table (`.symtab`, else `.dynsym`) names the function. Rust
//! (legacy and v0, hash stripped) and C++ names are demangled.
//!
//! A module whose file's GNU build-id differs from the recorded one is a different
//! binary than the one that ran: its frames are not symbolized (that would name the
//! wrong functions) and are marked `binary_changed`. Frames inside the tracer itself
//! (`libmemscope*`) are dropped.
//!
//! Opening a file's debug info is [`crate::symbols::debuginfo`]'s job; a [`Warmup`] may have done
//! it already, on a background thread while the replay ran.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use object::read::ReadCache;
use object::Object;

use crate::ids::ModuleIdx;
use crate::symbols::debuginfo::{DebugInfo, FrameInfo};
use crate::symbols::demangle::demangle;
pub use crate::symbols::warmup::Warmup;
use crate::trace::reader::{ModuleInfo, StackFrame, TraceIndex};

/// File name prefix of the tracer's own library, whose frames reports never show.
pub const TRACER_LIB_PREFIX: &str = "libmemscope";

/// One symbolized frame (an inlined call is a frame of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymFrame {
    /// The recorded (runtime) address.
    pub address: u64,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Path of the module that holds the address, if any did.
    pub module: Option<String>,
    /// The address in that module's file (runtime address minus load bias): the same in
    /// every run, unlike `address` in a library loaded at a random place.
    pub module_address: Option<u64>,
    /// This frame is a call inlined into the next frame.
    pub inlined: bool,
    /// The module file on disk is not the one that ran (build-id mismatch).
    pub binary_changed: bool,
}

impl SymFrame {
    fn bare(address: u64, module: Option<&ModuleInfo>) -> Self {
        SymFrame {
            address,
            function: None,
            file: None,
            line: None,
            module: module.map(|m| m.path.clone()),
            module_address: module.map(|m| address.wrapping_sub(m.base)),
            inlined: false,
            binary_changed: false,
        }
    }
}

/// Debug information of one module file, or why there is none.
#[derive(Debug)]
pub(crate) enum ModuleSymbols {
    Ready {
        main: DebugInfo,
        debug: Option<DebugInfo>,
    },
    /// The file's build-id differs from the recorded one.
    Changed,
    /// The file is missing or unreadable (e.g. `[vdso]`, a deleted library).
    Unavailable,
}

/// Function, file and line of one (possibly inlined) frame, before it gets an address.
type Located = FrameInfo;

/// Module files by path and recorded build-id.
pub(crate) type ModuleKey = (String, Vec<u8>);

/// Where module files and their debug info are looked for, beyond the recorded paths.
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    pub sysroot: Option<PathBuf>,
    pub debug_dirs: Vec<PathBuf>,
}

static SEARCH_PATHS: std::sync::OnceLock<SearchPaths> = std::sync::OnceLock::new();

/// Sets the search paths for every symbolizer of this process (once, from the command
/// line, before any report is built).
pub fn set_search_paths(paths: SearchPaths) {
    let _ = SEARCH_PATHS.set(paths);
}

/// Symbolizes stacks; holds the per-module caches.
#[derive(Default)]
pub struct Symbolizer {
    /// Module files by (path, recorded build-id).
    modules: HashMap<ModuleKey, ModuleSymbols>,
    /// Results by (module, probe address).
    frames: HashMap<(ModuleIdx, u64), Vec<Located>>,
    /// Roots of detached debug files, in search order.
    debug_roots: Vec<PathBuf>,
    sysroot: Option<PathBuf>,
    /// Modules loaded ahead, taken from here before loading them here.
    warm: Vec<Warmup>,
}

/// The debug roots (`--debug-dir`s, then `/usr/lib/debug`) and the sysroot.
pub(crate) fn search_paths() -> (Vec<PathBuf>, Option<PathBuf>) {
    let search = SEARCH_PATHS.get().cloned().unwrap_or_default();
    let mut debug_roots = search.debug_dirs;
    debug_roots.push(PathBuf::from("/usr/lib/debug"));
    (debug_roots, search.sysroot)
}

impl Symbolizer {
    /// A symbolizer; it takes modules from the latest [`Warmup`] of the process, if any.
    pub fn new() -> Self {
        let (debug_roots, sysroot) = search_paths();
        Self {
            debug_roots,
            sysroot,
            warm: Warmup::latest().into_iter().collect(),
            ..Self::default()
        }
    }

    /// A symbolizer that loads every module itself.
    #[cfg(test)]
    pub(crate) fn cold() -> Self {
        let mut s = Self::new();
        s.warm.clear();
        s
    }

    /// A symbolizer that takes the modules `warmup` has loaded (or is loading) instead
    /// of loading them again.
    pub fn with_warmup(warmup: &Warmup) -> Self {
        let mut s = Self::new();
        s.warm.retain(|w| !w.same(warmup));
        s.warm.insert(0, warmup.clone());
        s
    }

    /// Symbolizes one recorded stack, innermost first, without the tracer's own frames.
    pub fn symbolize_stack(&mut self, index: &TraceIndex, frames: &[StackFrame]) -> Vec<SymFrame> {
        let mut out = Vec::with_capacity(frames.len());
        for frame in frames {
            let module = frame
                .module
                .and_then(|m| index.module(m).map(|info| (m, info)));
            if module.is_some_and(|(_, m)| m.file_name().starts_with(TRACER_LIB_PREFIX)) {
                continue;
            }
            let Some((idx, info)) = module else {
                out.push(SymFrame::bare(frame.addr, None));
                continue;
            };
            // Every recorded frame is a return address (the tracer drops its own frames),
            // which points after the call: look up the call instruction.
            let runtime = frame.addr.saturating_sub(1);
            let probe = runtime.wrapping_sub(info.base);
            match self.module_symbols(info) {
                ModuleSymbols::Changed => {
                    out.push(SymFrame {
                        binary_changed: true,
                        ..SymFrame::bare(frame.addr, Some(info))
                    });
                    continue;
                }
                ModuleSymbols::Unavailable => {
                    out.push(SymFrame::bare(frame.addr, Some(info)));
                    continue;
                }
                ModuleSymbols::Ready { .. } => {}
            }
            if !self.frames.contains_key(&(idx, probe)) {
                let located = match self.module_symbols(info) {
                    ModuleSymbols::Ready { main, debug } => locate(main, debug.as_ref(), probe),
                    _ => Vec::new(),
                };
                self.frames.insert((idx, probe), located);
            }
            let located = self
                .frames
                .get(&(idx, probe))
                .map_or(&[][..], Vec::as_slice);
            if located.is_empty() {
                out.push(SymFrame::bare(frame.addr, Some(info)));
                continue;
            }
            let last = located.len() - 1;
            for (j, l) in located.iter().enumerate() {
                out.push(SymFrame {
                    address: frame.addr,
                    function: l.function.clone(),
                    file: l.file.clone(),
                    line: l.line,
                    module: Some(info.path.clone()),
                    module_address: Some(frame.addr.wrapping_sub(info.base)),
                    inlined: j != last,
                    binary_changed: false,
                });
            }
        }
        out
    }

    fn module_symbols(&mut self, info: &ModuleInfo) -> &ModuleSymbols {
        let key = (info.path.clone(), info.build_id.clone());
        let (roots, sysroot, warm) = (&self.debug_roots, self.sysroot.as_deref(), &self.warm);
        self.modules.entry(key).or_insert_with_key(|key| {
            warm.iter()
                .find_map(|w| w.take(key))
                .unwrap_or_else(|| load_key(key, roots, sysroot))
        })
    }
}

/// Loads the module file of `key` (see [`load_module`]).
pub(crate) fn load_key(
    key: &ModuleKey,
    roots: &[PathBuf],
    sysroot: Option<&Path>,
) -> ModuleSymbols {
    let path = locate_module_file(Path::new(&key.0), sysroot);
    load_module(&path, &key.1, roots)
}

/// The module file to open: under the sysroot if it is there, else the recorded path.
pub(crate) fn locate_module_file(recorded: &Path, sysroot: Option<&Path>) -> PathBuf {
    // A Windows path in a trace made on Windows or under Wine (symbols/pe.rs).
    if let Some(host) = crate::symbols::pe::host_path(&recorded.to_string_lossy(), sysroot) {
        return host;
    }
    sysroot
        .map(|root| root.join(recorded.strip_prefix("/").unwrap_or(recorded)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| recorded.to_path_buf())
}

/// Opens a module file after checking that its build-id is the recorded one.
fn load_module(path: &Path, recorded_build_id: &[u8], debug_roots: &[PathBuf]) -> ModuleSymbols {
    let Some(actual) = read_build_id(path) else {
        return ModuleSymbols::Unavailable;
    };
    if !recorded_build_id.is_empty() && actual.as_deref() != Some(recorded_build_id) {
        return ModuleSymbols::Changed;
    }
    let Some(main) = DebugInfo::open(path) else {
        return ModuleSymbols::Unavailable;
    };
    let build_id = if recorded_build_id.is_empty() {
        actual.as_deref()
    } else {
        Some(recorded_build_id)
    };
    let debug = detached_debug_file(path, build_id, debug_roots).and_then(|p| DebugInfo::open(&p));
    ModuleSymbols::Ready { main, debug }
}

/// The detached debug file of the module at `path` whose build-id is `build_id`: under
/// a debug root by build-id (`ROOT/.build-id/xx/yyyy.debug`), then by the module's name
/// (`ROOT/NAME.debug`, what `objcopy --only-keep-debug NAME NAME.debug` writes; taken
/// only when its build-id is the module's, or both have none), then by the module's
/// `.gnu_debuglink`. A Mach-O module's dSYM is looked up after the build-id path
/// (`macho`).
pub(crate) fn detached_debug_file(
    path: &Path,
    build_id: Option<&[u8]>,
    debug_roots: &[PathBuf],
) -> Option<PathBuf> {
    let by_build_id = build_id
        .into_iter()
        .flat_map(|id| {
            debug_roots
                .iter()
                .map(move |root| build_id_debug_path(root, id))
        })
        .find(|p| p.is_file());
    by_build_id
        .or_else(|| super::macho::dsym_file(path, build_id, debug_roots))
        .or_else(|| debug_file_by_name(path, build_id, debug_roots))
        .or_else(|| debuglink_file(path, debug_roots))
}

/// `ROOT/NAME.debug` for the module file `NAME`, when its build-id is `build_id`.
fn debug_file_by_name(
    path: &Path,
    build_id: Option<&[u8]>,
    debug_roots: &[PathBuf],
) -> Option<PathBuf> {
    let mut name = path.file_name()?.to_os_string();
    name.push(".debug");
    debug_roots
        .iter()
        .map(|root| root.join(&name))
        .filter(|c| c != path && c.is_file())
        .find(|c| read_build_id(c).is_some_and(|id| id.as_deref() == build_id))
}

/// The GNU build-id of an object file (of a Mach-O file, its `LC_UUID`): `None` if the
/// file cannot be read or parsed, `Some(None)` if it has no build-id note. Reads only
/// the parts it needs.
pub fn read_build_id(path: &Path) -> Option<Option<Vec<u8>>> {
    let file = File::open(path).ok()?;
    let cache = ReadCache::new(file);
    let obj = object::File::parse(&cache).ok()?;
    if let Some(id) = crate::symbols::pe::identity(&obj) {
        return Some(Some(id));
    }
    let gnu = obj.build_id().ok().flatten().map(<[u8]>::to_vec);
    Some(gnu.or_else(|| super::macho::uuid(&obj)))
}

/// The detached debug file named by the module's `.gnu_debuglink` section whose CRC
/// matches, searched next to the module, in its `.debug/`, and under each debug root.
fn debuglink_file(path: &Path, debug_roots: &[PathBuf]) -> Option<PathBuf> {
    // Only the headers and the link section are read, not the whole module.
    let cache = ReadCache::new(File::open(path).ok()?);
    let obj = object::File::parse(&cache).ok()?;
    let (name, crc) = obj.gnu_debuglink().ok().flatten()?;
    let name = std::str::from_utf8(name).ok()?.to_owned();
    let name = name.as_str();
    let dir = path.parent()?;
    let relative_dir = dir.strip_prefix("/").unwrap_or(dir);
    let mut candidates = vec![dir.join(name), dir.join(".debug").join(name)];
    candidates.extend(
        debug_roots
            .iter()
            .map(|root| root.join(relative_dir).join(name)),
    );
    candidates
        .into_iter()
        .filter(|c| c != path && c.is_file())
        .find(|c| std::fs::read(c).is_ok_and(|bytes| memscope_format::crc32(&bytes) == crc))
}

/// Where distributions install detached debug info for a build-id.
pub fn build_id_debug_path(root: &Path, build_id: &[u8]) -> PathBuf {
    let hex: String = build_id.iter().map(|b| format!("{b:02x}")).collect();
    let (dir, rest) = hex.split_at(2.min(hex.len()));
    root.join(".build-id")
        .join(dir)
        .join(format!("{rest}.debug"))
}

/// Frames for one file address: inlined calls first, the containing function last.
fn locate(main: &DebugInfo, debug: Option<&DebugInfo>, probe: u64) -> Vec<Located> {
    let mut frames = debug.map(|d| d.frames(probe)).unwrap_or_default();
    if frames.is_empty() {
        frames = main.frames(probe);
    }
    let needs_symbol = frames.last().is_none_or(|f| f.function.is_none());
    if needs_symbol {
        let symbol = debug
            .and_then(|d| d.symbol(probe))
            .or_else(|| main.symbol(probe));
        if let Some(name) = symbol {
            let name = demangle(name);
            match frames.last_mut() {
                Some(f) => f.function = Some(name),
                None => frames.push(Located {
                    function: Some(name),
                    file: None,
                    line: None,
                }),
            }
        }
    }
    frames
}
