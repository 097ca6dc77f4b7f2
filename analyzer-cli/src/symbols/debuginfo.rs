//! The symbolizer's loader layer: opens one object file (a module, or its detached debug
//! file) and answers two questions about a file address: which frames are there
//! (function, file, line, inlined calls first) and which symbol contains it.
//!
//! Two ways in, one answer. Both build the same `addr2line::Context` over the same
//! contents of the sections it reads, so a lookup gives the same frames either way:
//!
//! - **Compressed DWARF** (`SHF_COMPRESSED` or `.zdebug_*` sections, as distributions
//!   ship detached debug files): reading it means inflating it, which was most of the
//!   cost of a small report. Only the sections `addr2line` reads are inflated (not the
//!   location lists, macros, type units or name indexes), each straight into a buffer of
//!   its final size, with `.debug_info` (the largest) inflated on a second thread while
//!   this one does the rest. The symbol
//!   table is read on first use only: most frames are named by DWARF.
//! - **Anything else** (uncompressed DWARF, no DWARF, relocatable objects, Mach-O, PE):
//!   `addr2line`'s own [`Loader`], which maps the file and touches only the pages a
//!   lookup reads; copying large uncompressed DWARF into memory would cost more.
//!
//! Split DWARF (a skeleton unit naming a `.dwo` file, or a `.dwp` package next to the
//! file) is followed the way [`Loader`] follows it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use addr2line::{Context, FrameIter, Loader, LookupContinuation, LookupResult, SplitDwarfLoad};
use gimli::SectionId;
use object::read::ReadCache;
use object::{CompressionFormat, Object, ObjectSection};

/// Sections of [`gimli::Dwarf`] that `addr2line` never reads; they are left empty.
const UNUSED: [SectionId; 6] = [
    SectionId::DebugLoc,
    SectionId::DebugLocLists,
    SectionId::DebugMacinfo,
    SectionId::DebugMacro,
    SectionId::DebugNames,
    SectionId::DebugTypes,
];

/// An inflated `.debug_info` smaller than this is not worth a thread.
const PARALLEL_MIN_BYTES: u64 = 256 << 10;

type Reader = gimli::EndianArcSlice<gimli::RunTimeEndian>;

/// The only byte order read here (see [`wants_inflating`]).
const ENDIAN: gimli::RunTimeEndian = gimli::RunTimeEndian::Little;

/// Function, file and line of one (possibly inlined) frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// The debug information and symbols of one object file.
pub enum DebugInfo {
    Inflated(Box<Inflated>),
    Mapped(Box<Loader>),
    /// A Mach-O file (or dSYM): its symbol names carry the C prefix `_` (`macho`).
    MachO(Box<Loader>),
}

impl std::fmt::Debug for DebugInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DebugInfo::Inflated(_) => "DebugInfo::Inflated",
            DebugInfo::Mapped(_) => "DebugInfo::Mapped",
            DebugInfo::MachO(_) => "DebugInfo::MachO",
        })
    }
}

impl DebugInfo {
    /// Opens the object file at `path`; `None` if it cannot be read or its DWARF is
    /// malformed (the cases where `Loader::new` fails).
    pub fn open(path: &Path) -> Option<DebugInfo> {
        match Inflated::open(path) {
            Ok(Some(d)) => Some(DebugInfo::Inflated(Box::new(d))),
            Ok(None) if super::macho::is_macho(path) => Loader::new(path)
                .ok()
                .map(|l| DebugInfo::MachO(Box::new(l))),
            Ok(None) => Loader::new(path)
                .ok()
                .map(|l| DebugInfo::Mapped(Box::new(l))),
            Err(()) => None,
        }
    }

    /// The frames at file address `probe`, inlined calls first, the containing function
    /// last; empty when DWARF knows nothing there. A malformed DWARF entry ends the walk
    /// and keeps what was found so far.
    pub fn frames(&self, probe: u64) -> Vec<FrameInfo> {
        match self {
            DebugInfo::Inflated(d) => collect_frames(d.find_frames(probe)),
            DebugInfo::Mapped(l) | DebugInfo::MachO(l) => {
                collect_frames(l.find_frames(probe).map_err(drop))
            }
        }
    }

    /// The name of the symbol containing file address `probe` (raw, not demangled).
    pub fn symbol(&self, probe: u64) -> Option<&str> {
        match self {
            DebugInfo::Inflated(d) => d.symbol(probe),
            DebugInfo::Mapped(l) => l.find_symbol(probe),
            DebugInfo::MachO(l) => l.find_symbol(probe).map(super::macho::c_name),
        }
    }
}

fn collect_frames<R: gimli::Reader>(iter: Result<FrameIter<'_, R>, ()>) -> Vec<FrameInfo> {
    let mut out = Vec::new();
    let Ok(mut iter) = iter else {
        return out;
    };
    while let Ok(Some(frame)) = iter.next() {
        let function = frame
            .function
            .as_ref()
            .and_then(|f| f.raw_name().ok())
            .map(|raw| crate::symbols::demangle::demangle(&raw));
        let (file, line) = frame
            .location
            .map_or((None, None), |l| (l.file.map(str::to_owned), l.line));
        out.push(FrameInfo {
            function,
            file,
            line,
        });
    }
    out
}

/// An ELF file with compressed DWARF, its needed sections inflated into memory.
pub struct Inflated {
    ctx: Context<Reader>,
    /// The `.dwp` next to the file, looked for on the first split-DWARF lookup.
    dwarf_package: OnceCell<Option<gimli::DwarfPackage<Reader>>>,
    path: PathBuf,
    /// Built on first use (most frames are named by DWARF).
    symbols: OnceCell<object::SymbolMap<OwnedSymbol>>,
}

/// One entry of an owned symbol map (the file's bytes are not kept).
#[derive(Debug)]
struct OwnedSymbol {
    address: u64,
    size: u64,
    name: Box<str>,
}

impl object::SymbolMapEntry for OwnedSymbol {
    fn address(&self) -> u64 {
        self.address
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// Where one section's bytes are in the file, and how they are stored.
struct Stored {
    id: SectionId,
    format: CompressionFormat,
    offset: u64,
    compressed_size: u64,
    uncompressed_size: u64,
}

impl Inflated {
    /// `Ok(None)` when the file is not one for this path (see the module docs),
    /// `Err(())` when it is but cannot be loaded.
    fn open(path: &Path) -> Result<Option<Inflated>, ()> {
        let Ok(mut file) = File::open(path) else {
            return Ok(None);
        };
        let stored = {
            let cache = ReadCache::new(&file);
            let Ok(obj) = object::File::parse(&cache) else {
                return Ok(None);
            };
            if !wants_inflating(&obj) {
                return Ok(None);
            }
            let mut stored = Vec::new();
            for id in needed_sections() {
                let Some(section) = obj.section_by_name(id.name()) else {
                    continue;
                };
                if section.relocations().next().is_some() {
                    // Relocated DWARF: the loader applies relocations.
                    return Ok(None);
                }
                let range = section.compressed_file_range().map_err(drop)?;
                stored.push(Stored {
                    id,
                    format: range.format,
                    offset: range.offset,
                    compressed_size: range.compressed_size,
                    uncompressed_size: range.uncompressed_size,
                });
            }
            stored
        };
        let dwarf = build_dwarf(path, &mut file, &stored)?;
        let ctx = Context::from_dwarf(dwarf).map_err(drop)?;
        Ok(Some(Inflated {
            ctx,
            dwarf_package: OnceCell::new(),
            path: path.to_path_buf(),
            symbols: OnceCell::new(),
        }))
    }

    fn find_frames(&self, probe: u64) -> Result<FrameIter<'_, Reader>, ()> {
        let mut frames = self.ctx.find_frames(probe);
        loop {
            let (load, continuation) = match frames {
                LookupResult::Output(output) => return output.map_err(drop),
                LookupResult::Load { load, continuation } => (load, continuation),
            };
            let dwo = self.load_dwo(load)?;
            frames = continuation.resume(dwo);
        }
    }

    /// The split DWARF a skeleton unit names: from the package if there is one, else
    /// from its `.dwo` file (unreadable or mismatched: none).
    fn load_dwo(
        &self,
        load: SplitDwarfLoad<Reader>,
    ) -> Result<Option<Arc<gimli::Dwarf<Reader>>>, ()> {
        let package = self
            .dwarf_package
            .get_or_init(|| load_dwarf_package(&self.path, ENDIAN));
        if let Some(dwp) = package {
            if let Some(cu) = dwp.find_cu(load.dwo_id, &load.parent).map_err(drop)? {
                return Ok(Some(Arc::new(cu)));
            }
        }
        let mut path = PathBuf::new();
        if let Some(p) = &load.comp_dir {
            path.push(os_path(&gimli::Reader::to_slice(p).map_err(drop)?)?);
        }
        let Some(p) = &load.path else {
            return Ok(None);
        };
        path.push(os_path(&gimli::Reader::to_slice(p).map_err(drop)?)?);
        let dwo = (|| {
            let data = std::fs::read(&path).ok()?;
            let obj = object::File::parse(&*data).ok()?;
            let endian = endian_of(&obj);
            let mut dwo =
                gimli::Dwarf::load(|id| load_in_memory(&obj, id.dwo_name(), endian)).ok()?;
            let header = dwo.units().next().ok()??;
            let unit = dwo.unit(header).ok()?;
            if unit.dwo_id != Some(load.dwo_id) {
                return None;
            }
            dwo.make_dwo(&load.parent);
            Some(Arc::new(dwo))
        })();
        Ok(dwo)
    }

    fn symbol(&self, probe: u64) -> Option<&str> {
        let map = self.symbols.get_or_init(|| read_symbols(&self.path));
        map.containing(probe).map(|s| &*s.name)
    }
}

/// An ELF file, not relocatable, whose `.debug_info` is compressed.
fn wants_inflating<'data, R: object::ReadRef<'data>>(obj: &object::File<'data, R>) -> bool {
    obj.format() == object::BinaryFormat::Elf
        && obj.kind() != object::ObjectKind::Relocatable
        && obj.is_little_endian()
        && obj
            .section_by_name(SectionId::DebugInfo.name())
            .and_then(|s| s.compressed_file_range().ok())
            .is_some_and(|r| r.format != CompressionFormat::None)
}

/// The DWARF sections `addr2line` may read.
fn needed_sections() -> impl Iterator<Item = SectionId> {
    let mut all = Vec::new();
    // Every section `Dwarf::load` asks for, in its order.
    let _ = gimli::DwarfSections::load(|id| -> Result<(), ()> {
        all.push(id);
        Ok(())
    });
    all.into_iter().filter(|id| !UNUSED.contains(id))
}

/// Inflates the sections and assembles them, abbreviations parsed. With a second CPU
/// and a large `.debug_info`, that section is inflated on a second thread while this one
/// inflates the others and parses the abbreviation tables (which `addr2line` would
/// otherwise parse unit by unit afterwards, at a cost comparable to inflating); the
/// second thread joins in on the tables once its section is done.
fn build_dwarf(
    path: &Path,
    file: &mut File,
    stored: &[Stored],
) -> Result<gimli::Dwarf<Reader>, ()> {
    let big = stored.iter().position(|s| {
        s.id == SectionId::DebugInfo
            && s.format != CompressionFormat::None
            && s.uncompressed_size >= PARALLEL_MIN_BYTES
    });
    let parallel = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    // Every section but `skip`, which is left empty.
    let assemble = |file: &mut File, skip: Option<usize>| -> Result<gimli::Dwarf<Reader>, ()> {
        let mut sections = Vec::with_capacity(stored.len());
        for (i, s) in stored.iter().enumerate() {
            if Some(i) != skip {
                sections.push((s.id, load_section(file, s)?));
            }
        }
        gimli::Dwarf::load(|id| -> Result<Reader, ()> {
            let data = sections.iter().find(|(sid, _)| *sid == id);
            Ok(reader(
                data.map_or_else(|| Arc::from(&[][..]), |(_, d)| d.clone()),
            ))
        })
    };
    let Some(b) = big.filter(|_| parallel) else {
        let mut dwarf = assemble(file, None)?;
        // As `Loader` does: tables shared by several units are parsed once.
        dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
        return Ok(dwarf);
    };
    let tables = AbbrevWork::default();
    std::thread::scope(|scope| {
        let tables = &tables;
        let helper = std::thread::Builder::new()
            .name("memscope-inflate".into())
            .spawn_scoped(scope, move || {
                let info = File::open(path)
                    .map_err(drop)
                    .and_then(|mut f| load_section(&mut f, &stored[b]));
                (info, tables.help())
            });
        let dwarf = assemble(file, Some(b));
        let mut parsed = Vec::new();
        if let Ok(d) = &dwarf {
            tables.publish(&d.debug_abbrev);
            parsed = tables.help();
        }
        let (info, more) = match helper {
            Ok(handle) => handle.join().map_err(drop)?,
            // No thread to be had: do it here.
            Err(_) => (load_section(file, &stored[b]), Vec::new()),
        };
        let mut dwarf = dwarf?;
        for (offset, table) in parsed.into_iter().chain(more) {
            dwarf.abbreviations_cache.set::<Reader>(offset, table);
        }
        dwarf.debug_info = reader(info?).into();
        Ok(dwarf)
    })
}

/// The abbreviation tables of one `.debug_abbrev`, parsed by whichever thread is free.
///
/// The parsed tables go into the cache that units take their tables from. The tables
/// lie end to end in the section; a unit whose table starts elsewhere (padding, or a
/// table this walk could not delimit) parses its own, as without the cache, and gets
/// the same table either way.
#[derive(Default)]
struct AbbrevWork {
    tables: std::sync::OnceLock<(gimli::DebugAbbrev<Reader>, Vec<usize>)>,
    next: std::sync::atomic::AtomicUsize,
}

type ParsedTables = Vec<(gimli::DebugAbbrevOffset<usize>, Arc<gimli::Abbreviations>)>;

impl AbbrevWork {
    fn publish(&self, section: &gimli::DebugAbbrev<Reader>) {
        let offsets = abbrev_table_offsets(gimli::Section::reader(section));
        let _ = self.tables.set((section.clone(), offsets));
    }

    /// Parses tables until none is left (none at all if they are not published yet).
    fn help(&self) -> ParsedTables {
        let mut out = Vec::new();
        let Some((section, offsets)) = self.tables.get() else {
            return out;
        };
        loop {
            let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&offset) = offsets.get(i) else {
                return out;
            };
            let offset = gimli::DebugAbbrevOffset(offset);
            if let Ok(table) = section.abbreviations(offset) {
                out.push((offset, Arc::new(table)));
            }
        }
    }
}

fn reader(data: Arc<[u8]>) -> Reader {
    gimli::EndianArcSlice::new(data, ENDIAN)
}

/// Where the abbreviation tables of a `.debug_abbrev` section start, as far as they can
/// be delimited (each table is a list of declarations ended by a zero code; each
/// declaration is code, tag, children flag, and (attribute, form[, constant]) pairs
/// ended by (0, 0)).
fn abbrev_table_offsets(section: &Reader) -> Vec<usize> {
    use gimli::Reader as _;
    let mut input = section.clone();
    let mut out = Vec::new();
    let table_end = |input: &mut Reader| -> gimli::Result<()> {
        while input.read_uleb128()? != 0 {
            input.read_uleb128()?; // tag
            input.read_u8()?; // children
            loop {
                let (name, form) = (input.read_uleb128()?, input.read_uleb128()?);
                if name == 0 && form == 0 {
                    break;
                }
                if form == u64::from(gimli::DW_FORM_implicit_const.0) {
                    input.read_sleb128()?;
                }
            }
        }
        Ok(())
    };
    while !input.is_empty() {
        out.push(input.offset_from(section));
        if table_end(&mut input).is_err() {
            break;
        }
    }
    out
}

/// Claims of more than this many inflated bytes per compressed byte take the careful
/// path (real DWARF inflates 3–6 times).
const FAST_MAX_RATIO: u64 = 32;

/// Input read at a time when inflating.
const READ_CHUNK: usize = 64 << 10;

/// One section's contents, read (and decompressed) from `file` into a buffer of its
/// final size.
fn load_section(file: &mut File, s: &Stored) -> Result<Arc<[u8]>, ()> {
    // Sizes come from the file: check them before they size an allocation.
    let file_len = file.metadata().map_err(drop)?.len();
    if s.offset
        .checked_add(s.compressed_size)
        .is_none_or(|end| end > file_len)
    {
        return Err(());
    }
    let size = usize::try_from(s.uncompressed_size).map_err(drop)?;
    file.seek(SeekFrom::Start(s.offset)).map_err(drop)?;
    match s.format {
        CompressionFormat::None => {
            let mut out = zeroed(size)?;
            let buf = Arc::get_mut(&mut out).ok_or(())?;
            file.read_exact(buf).map_err(drop)?;
            Ok(out)
        }
        CompressionFormat::Zlib if s.uncompressed_size / FAST_MAX_RATIO <= s.compressed_size => {
            let mut out = zeroed(size)?;
            let buf = Arc::get_mut(&mut out).ok_or(())?;
            let mut z = flate2::Decompress::new(true);
            let mut input = vec![0u8; READ_CHUNK];
            let mut left = s.compressed_size;
            // Stops when the output is full, as `object` does (what follows is ignored).
            while left > 0 && z.total_out() < s.uncompressed_size {
                let n = left.min(READ_CHUNK as u64) as usize;
                file.read_exact(&mut input[..n]).map_err(drop)?;
                left -= n as u64;
                let flush = if left == 0 {
                    flate2::FlushDecompress::Finish
                } else {
                    flate2::FlushDecompress::None
                };
                let mut used = 0;
                while used < n {
                    let (in0, out0) = (z.total_in(), z.total_out());
                    let at = out0 as usize;
                    z.decompress(&input[used..n], &mut buf[at..], flush)
                        .map_err(drop)?;
                    used += (z.total_in() - in0) as usize;
                    if z.total_in() == in0 && z.total_out() == out0 {
                        break; // stream ended, or output full
                    }
                }
            }
            if z.total_out() != s.uncompressed_size {
                return Err(());
            }
            Ok(out)
        }
        // Other formats, and sizes too large to trust with a zero-filled buffer (a
        // corrupt header must not make us touch gigabytes): `object` decompresses into
        // a buffer that grows only with what the data really holds.
        format => {
            let len = usize::try_from(s.compressed_size).map_err(drop)?;
            let mut raw = vec![0u8; len];
            file.read_exact(&mut raw).map_err(drop)?;
            let data = object::CompressedData {
                format,
                data: &raw,
                uncompressed_size: s.uncompressed_size,
            };
            data.decompress().map(|d| Arc::from(&*d)).map_err(drop)
        }
    }
}

/// A zero-filled buffer, allocated once at its final size.
fn zeroed(size: usize) -> Result<Arc<[u8]>, ()> {
    Ok(std::iter::repeat_n(0u8, size).collect())
}

/// A section of an object held in memory (split DWARF files, packages), as `Loader`
/// loads them.
fn load_in_memory<'data>(
    obj: &object::File<'data>,
    name: Option<&'static str>,
    endian: gimli::RunTimeEndian,
) -> Result<Reader, ()> {
    let data: Arc<[u8]> = match name.and_then(|n| obj.section_by_name(n)) {
        Some(section) => match section.uncompressed_data().map_err(drop)? {
            Cow::Borrowed(b) => Arc::from(b),
            Cow::Owned(b) => Arc::from(b),
        },
        None => Arc::from(&[][..]),
    };
    Ok(gimli::EndianArcSlice::new(data, endian))
}

fn endian_of<'data>(obj: &object::File<'data>) -> gimli::RunTimeEndian {
    if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    }
}

/// The `.dwp` package next to `path` (`a.out` → `a.out.dwp`, `lib.so` → `lib.so.dwp`),
/// if there is a readable one.
fn load_dwarf_package(
    path: &Path,
    endian: gimli::RunTimeEndian,
) -> Option<gimli::DwarfPackage<Reader>> {
    let mut dwp_path = path.to_path_buf();
    let extension = path
        .extension()
        .map(|e| {
            let mut e = e.to_os_string();
            e.push(".dwp");
            e
        })
        .unwrap_or_else(|| "dwp".into());
    dwp_path.set_extension(extension);
    let data = std::fs::read(&dwp_path).ok()?;
    let obj = object::File::parse(&*data).ok()?;
    let empty = gimli::EndianArcSlice::new(Arc::from(&[][..]), endian);
    // (`load` wants an error type that gimli's converts into.)
    let section =
        |id: SectionId| load_in_memory(&obj, id.dwo_name(), endian).map_err(|()| gimli::Error::Io);
    gimli::DwarfPackage::load(section, empty).ok()
}

/// The file's symbol map (`.symtab`, else `.dynsym`), as `object` builds it.
fn read_symbols(path: &Path) -> object::SymbolMap<OwnedSymbol> {
    let entries = (|| {
        let file = File::open(path).ok()?;
        let cache = ReadCache::new(file);
        let obj = object::File::parse(&cache).ok()?;
        let map = obj.symbol_map();
        Some(
            map.symbols()
                .iter()
                .map(|s| OwnedSymbol {
                    address: s.address(),
                    size: s.size(),
                    name: s.name().into(),
                })
                .collect(),
        )
    })();
    // Already in address order; `new` sorts stably, so the order is kept.
    object::SymbolMap::new(entries.unwrap_or_default())
}

#[cfg(unix)]
fn os_path(bytes: &[u8]) -> Result<PathBuf, ()> {
    use std::os::unix::ffi::OsStrExt;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

#[cfg(not(unix))]
fn os_path(bytes: &[u8]) -> Result<PathBuf, ()> {
    std::str::from_utf8(bytes).map(PathBuf::from).map_err(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &str = r#"
        #include <stdlib.h>
        #include <string.h>
        static inline __attribute__((always_inline)) char *dup(const char *s) {
            size_t n = strlen(s) + 1;
            char *p = malloc(n);
            if (p) memcpy(p, s, n);
            return p;
        }
        __attribute__((noinline)) char *twice(const char *s) { free(dup(s)); return dup(s); }
        int main(int argc, char **argv) { return twice(argv[0])[0] == 'x'; }
    "#;

    /// The frames and symbol at every address of `.text`, from `DebugInfo` and from
    /// `addr2line`'s `Loader`, must be the same.
    fn assert_same_as_loader(path: &Path, step: usize) {
        let ours = DebugInfo::open(path).expect("opens");
        assert!(
            matches!(ours, DebugInfo::Inflated(_)),
            "{path:?} takes the inflating path"
        );
        let loader = Loader::new(path).expect("loader opens");
        let data = std::fs::read(path).unwrap();
        let obj = object::File::parse(&*data).unwrap();
        let text = obj.section_by_name(".text").expect(".text");
        let (start, size) = (text.address(), text.size());
        let mut probes = 0;
        for probe in (start..start + size).step_by(step) {
            let theirs = collect_frames(loader.find_frames(probe).map_err(drop));
            assert_eq!(
                ours.frames(probe),
                theirs,
                "frames at {probe:#x} in {path:?}"
            );
            assert_eq!(
                ours.symbol(probe),
                loader.find_symbol(probe),
                "symbol at {probe:#x}"
            );
            probes += usize::from(!theirs.is_empty());
        }
        assert!(probes > 0);
    }

    #[test]
    fn compressed_dwarf_gives_what_the_loader_gives() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("p.c");
        std::fs::write(&src, PROGRAM).unwrap();
        for (name, flags) in [("v5", &["-gdwarf-5"][..]), ("v4", &["-gdwarf-4"][..])] {
            let exe = dir.path().join(name);
            let ok = std::process::Command::new("gcc")
                .args(["-O2", "-g", "-gz=zlib"])
                .args(flags)
                .arg("-o")
                .arg(&exe)
                .arg(&src)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("skipped: gcc -gz=zlib unavailable");
                return;
            }
            assert_same_as_loader(&exe, 1);
        }
    }

    #[test]
    fn a_distribution_debug_file_gives_what_the_loader_gives() {
        // libc6-dbg's detached file, when installed (the big compressed case).
        let Some(path) = std::fs::read_dir("/usr/lib/debug/.build-id")
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
            .map(|f| f.path())
            .filter(|p| p.extension().is_some_and(|e| e == "debug"))
            .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        else {
            eprintln!("skipped: no detached debug files");
            return;
        };
        assert_same_as_loader(&path, 4093);
    }

    #[test]
    fn abbreviation_tables_are_delimited() {
        // Two tables: code 1 (tag 0x11, children, two attributes, one an implicit
        // constant) and code 2; then one with a single declaration.
        let bytes: &[u8] = &[
            1, 0x11, 1, 0x03, 0x08, 0x0b, 0x21, 0x7f, 0, 0, 2, 0x24, 0, 0, 0, 0, //
            1, 0x2e, 0, 0x03, 0x0e, 0, 0, 0,
        ];
        let section = reader(Arc::from(bytes));
        assert_eq!(abbrev_table_offsets(&section), vec![0, 16]);
        let torn = reader(Arc::from(&bytes[..5]));
        assert_eq!(abbrev_table_offsets(&torn), vec![0]);
    }
}
