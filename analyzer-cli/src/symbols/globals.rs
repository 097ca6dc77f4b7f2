//! Names a global variable from an address inside a module's writable data: the ELF
//! data (`OBJECT`) symbol containing it (`.symtab`, else `.dynsym`, of the module file
//! or its detached debug file) and, where DWARF has it, the variable's declaration
//! (`DW_TAG_variable` whose `DW_AT_location` is `DW_OP_addr` of the symbol's address:
//! `DW_AT_decl_file`, `DW_AT_decl_line`).
//!
//! Used for the few root words the leak check reports, so each module is loaded on first
//! use only, and its DWARF variables indexed only when a symbol is found in it. Like the
//! frame symbolizer, a module file whose build-id differs from the recorded one names
//! nothing (it would name the wrong variable).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gimli::{EndianSlice, RunTimeEndian};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::symbols::demangle::demangle;
use crate::symbols::symbolize::{
    detached_debug_file, locate_module_file, read_build_id, search_paths, ModuleKey,
};
use crate::trace::reader::ModuleInfo;

/// A global variable as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSymbol {
    pub name: String,
    /// Where it is declared (DWARF), when known.
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// One data symbol of a module file: file address, size, name.
#[derive(Debug, Clone)]
struct Sym {
    start: u64,
    size: u64,
    name: String,
}

/// Where a variable is declared: file and line, each when known.
type Decl = (Option<String>, Option<u32>);

/// What one module file tells about its globals.
#[derive(Debug, Default)]
struct ModuleGlobals {
    /// Sorted by start address.
    symbols: Vec<Sym>,
    /// The files whose DWARF to read (the debug file first).
    dwarf_files: Vec<PathBuf>,
    /// Symbol address → declaration, built on first use.
    decls: Option<HashMap<u64, Decl>>,
}

/// Global variables of the trace's modules, loaded as asked for.
#[derive(Debug, Default)]
pub struct Globals {
    modules: HashMap<ModuleKey, Option<ModuleGlobals>>,
}

impl Globals {
    pub fn new() -> Self {
        Self::default()
    }

    /// The global variable holding the runtime address `addr` of `module`.
    pub fn lookup(&mut self, module: &ModuleInfo, addr: u64) -> Option<DataSymbol> {
        let key = (module.path.clone(), module.build_id.clone());
        let m = self.modules.entry(key).or_insert_with_key(load).as_mut()?;
        let probe = addr.wrapping_sub(module.base);
        let upto = m.symbols.partition_point(|s| s.start <= probe);
        let sym = m.symbols[..upto]
            .iter()
            .rev()
            .find(|s| probe < s.start.saturating_add(s.size.max(1)))?
            .clone();
        let files = &m.dwarf_files;
        let decls = m.decls.get_or_insert_with(|| {
            files
                .iter()
                .find_map(|f| declarations(f).filter(|d| !d.is_empty()))
                .unwrap_or_default()
        });
        let (file, line) = decls.get(&sym.start).cloned().unwrap_or((None, None));
        Some(DataSymbol {
            name: demangle(local_static_name(&sym.name)),
            file,
            line,
        })
    }
}

/// A function-local static's name without the `.N` the compiler adds to keep it apart
/// (`interior.0` → `interior`).
fn local_static_name(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((base, n))
            if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base
        }
        _ => name,
    }
}

/// Loads the data symbols of the module file of `key` (and of its debug file).
fn load(key: &ModuleKey) -> Option<ModuleGlobals> {
    let (roots, sysroot) = search_paths();
    let path = locate_module_file(Path::new(&key.0), sysroot.as_deref());
    let actual = read_build_id(&path)?;
    if !key.1.is_empty() && actual.as_deref() != Some(&key.1[..]) {
        return None;
    }
    let build_id = if key.1.is_empty() {
        actual
    } else {
        Some(key.1.clone())
    };
    let debug = detached_debug_file(&path, build_id.as_deref(), &roots);
    let mut symbols = data_symbols(&path);
    if symbols.is_empty() {
        symbols = debug.as_deref().map(data_symbols).unwrap_or_default();
    }
    symbols.sort_by_key(|s| s.start);
    let mut dwarf_files: Vec<PathBuf> = debug.into_iter().collect();
    dwarf_files.push(path);
    Some(ModuleGlobals {
        symbols,
        dwarf_files,
        decls: None,
    })
}

/// The data symbols of one object file: `.symtab`, else `.dynsym`.
fn data_symbols(path: &Path) -> Vec<Sym> {
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(obj) = object::File::parse(&*data) else {
        return Vec::new();
    };
    let pick = |syms: &mut dyn Iterator<Item = object::Symbol<'_, '_>>| -> Vec<Sym> {
        syms.filter(|s| s.kind() == SymbolKind::Data && s.is_definition())
            .filter_map(|s| {
                Some(Sym {
                    start: s.address(),
                    size: s.size(),
                    name: s.name().ok()?.to_owned(),
                })
            })
            .collect()
    };
    let from_symtab = pick(&mut obj.symbols());
    if from_symtab.is_empty() {
        pick(&mut obj.dynamic_symbols())
    } else {
        from_symtab
    }
}

/// Every variable with a fixed address in the DWARF of `path`: address → (declaring
/// file, line). `None` when the file cannot be read.
fn declarations(path: &Path) -> Option<HashMap<u64, Decl>> {
    let data = std::fs::read(path).ok()?;
    let obj = object::File::parse(&*data).ok()?;
    let endian = if obj.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let sections = gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, ()> {
        Ok(obj
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    })
    .ok()?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, endian));
    let mut out = HashMap::new();
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut entries = unit.entries();
        while let Ok(Some(die)) = entries.next_dfs() {
            if die.tag() != gimli::DW_TAG_variable {
                continue;
            }
            let Some(addr) = fixed_address(&dwarf, &unit, die) else {
                continue;
            };
            let decl = declaration(&dwarf, &unit, die);
            out.entry(addr).or_insert(decl);
        }
    }
    Some(out)
}

type R<'a> = EndianSlice<'a, RunTimeEndian>;

/// The address of a variable whose location is one `DW_OP_addr` (or `DW_OP_addrx`).
fn fixed_address(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    die: &gimli::DebuggingInformationEntry<R<'_>>,
) -> Option<u64> {
    let expr = die.attr_value(gimli::DW_AT_location)?.exprloc_value()?;
    let mut ops = expr.operations(unit.encoding());
    match ops.next().ok()?? {
        gimli::Operation::Address { address } => Some(address),
        gimli::Operation::AddressIndex { index } => dwarf.address(unit, index).ok(),
        _ => None,
    }
}

/// `DW_AT_decl_file` (as a path) and `DW_AT_decl_line` of a variable, or of the
/// declaration its `DW_AT_specification` or `DW_AT_abstract_origin` names in the unit.
fn declaration(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    die: &gimli::DebuggingInformationEntry<R<'_>>,
) -> Decl {
    let own = (
        die.attr_value(gimli::DW_AT_decl_file).and_then(file_index),
        die.attr_value(gimli::DW_AT_decl_line)
            .and_then(|v| v.udata_value()),
    );
    let (file, line) = match own {
        (Some(f), l) => (Some(f), l),
        (None, _) => [gimli::DW_AT_specification, gimli::DW_AT_abstract_origin]
            .into_iter()
            .find_map(|at| match die.attr_value(at)? {
                gimli::AttributeValue::UnitRef(offset) => {
                    let decl = unit.entry(offset).ok()?;
                    Some((
                        decl.attr_value(gimli::DW_AT_decl_file).and_then(file_index),
                        decl.attr_value(gimli::DW_AT_decl_line)
                            .and_then(|v| v.udata_value()),
                    ))
                }
                _ => None,
            })
            .unwrap_or((None, None)),
    };
    (
        file.and_then(|f| file_path(dwarf, unit, f)),
        line.and_then(|l| u32::try_from(l).ok()).filter(|&l| l > 0),
    )
}

/// A `DW_AT_decl_file` value as a file index (gimli reads it as one).
fn file_index(v: gimli::AttributeValue<R<'_>>) -> Option<u64> {
    match v {
        gimli::AttributeValue::FileIndex(i) => Some(i),
        v => v.udata_value(),
    }
}

/// The path of file `index` of the unit's line program.
fn file_path(dwarf: &gimli::Dwarf<R<'_>>, unit: &gimli::Unit<R<'_>>, index: u64) -> Option<String> {
    let header = unit.line_program.as_ref()?.header();
    let file = header.file(index)?;
    let text = |v| {
        dwarf
            .attr_string(unit, v)
            .ok()
            .map(|s: R<'_>| String::from_utf8_lossy(s.slice()).into_owned())
    };
    let name = text(file.path_name())?;
    if name.starts_with('/') {
        return Some(name);
    }
    let mut dir = file.directory(header).and_then(text).unwrap_or_default();
    if !dir.starts_with('/') {
        if let Some(comp) = unit.comp_dir {
            let comp = String::from_utf8_lossy(comp.slice()).into_owned();
            dir = if dir.is_empty() {
                comp
            } else {
                format!("{comp}/{dir}")
            };
        }
    }
    Some(if dir.is_empty() {
        name
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    })
}
