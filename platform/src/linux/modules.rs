//! The loaded modules (the executable, shared objects, the vDSO), read with
//! `dl_iterate_phdr`: path, address span, build-id, and copies of their unwind sections.
//!
//! Unwind sections are copied while the loader's lock is held (inside the callback), so a
//! concurrent `dlclose` can never unmap them under the unwinder.

use std::ffi::CStr;

/// One loaded module.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    pub path: Vec<u8>,
    /// Load bias: runtime address minus the address in the file.
    pub bias: u64,
    /// Runtime span of all loadable segments.
    pub start: u64,
    pub end: u64,
    /// Runtime span of the executable segments.
    pub text_start: u64,
    pub text_end: u64,
    pub build_id: Vec<u8>,
    /// `.eh_frame_hdr` and `.eh_frame`: runtime address and a copy of the bytes.
    pub unwind: Option<UnwindSections>,
}

#[derive(Debug, Clone, Default)]
pub struct UnwindSections {
    pub eh_frame_hdr_addr: u64,
    pub eh_frame_hdr: Vec<u8>,
    pub eh_frame_addr: u64,
    pub eh_frame: Vec<u8>,
}

/// Counters the loader bumps on every load and unload; a change means the module list
/// must be read again.
pub fn load_generation() -> (u64, u64) {
    extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid info; `data` is the tuple below.
        unsafe {
            let out = &mut *(data as *mut (u64, u64));
            *out = ((*info).dlpi_adds, (*info).dlpi_subs);
        }
        1
    }
    let mut out = (0u64, 0u64);
    // SAFETY: the callback only writes `out`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut out as *mut _ as *mut libc::c_void) };
    out
}

struct Collect<'a> {
    out: Vec<ModuleInfo>,
    wants_unwind: &'a mut dyn FnMut(&[u8], u64) -> bool,
    exe: Vec<u8>,
}

/// Lists the loaded modules. Unwind sections are copied only for modules for which
/// `wants_unwind(path, bias)` is true (the caller already holds the others).
/// Allocates: call with tracking suspended.
pub fn loaded_modules(wants_unwind: &mut dyn FnMut(&[u8], u64) -> bool) -> Vec<ModuleInfo> {
    let exe = super::file::read_link(c"/proc/self/exe").unwrap_or_default();
    let mut c = Collect {
        out: Vec::new(),
        wants_unwind,
        exe,
    };
    // SAFETY: the callback only touches `c`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(collect_cb),
            &mut c as *mut Collect as *mut libc::c_void,
        )
    };
    c.out
}

extern "C" fn collect_cb(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid info for the duration of the call, and holds its
    // lock, so the segments it describes stay mapped; `data` is our `Collect`.
    unsafe {
        let c = &mut *(data as *mut Collect);
        let info = &*info;
        if let Some(m) = describe(info, c) {
            c.out.push(m);
        }
    }
    0
}

/// # Safety
/// `info` must come from `dl_iterate_phdr`, inside its callback.
unsafe fn describe(info: &libc::dl_phdr_info, c: &mut Collect) -> Option<ModuleInfo> {
    let bias = info.dlpi_addr;
    // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let name = if info.dlpi_name.is_null() {
        &[][..]
    } else {
        // SAFETY: dlpi_name is NUL-terminated.
        unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    let mut m = ModuleInfo {
        bias,
        start: u64::MAX,
        text_start: u64::MAX,
        ..Default::default()
    };
    let mut eh_hdr = None;
    for ph in phdrs {
        let lo = bias.wrapping_add(ph.p_vaddr);
        let hi = lo.wrapping_add(ph.p_memsz);
        match ph.p_type {
            libc::PT_LOAD => {
                m.start = m.start.min(lo);
                m.end = m.end.max(hi);
                if ph.p_flags & libc::PF_X != 0 {
                    m.text_start = m.text_start.min(lo);
                    m.text_end = m.text_end.max(hi);
                }
            }
            libc::PT_GNU_EH_FRAME => eh_hdr = Some((lo, ph.p_memsz)),
            libc::PT_NOTE if m.build_id.is_empty() => {
                // SAFETY: the note segment is mapped for p_memsz bytes.
                let notes =
                    unsafe { std::slice::from_raw_parts(lo as *const u8, ph.p_memsz as usize) };
                m.build_id = find_build_id(notes).unwrap_or_default();
            }
            _ => {}
        }
    }
    if m.start == u64::MAX || m.text_start == u64::MAX {
        return None;
    }
    m.path = if name.is_empty() {
        c.exe.clone()
    } else if name.starts_with(b"linux-vdso") || name.starts_with(b"linux-gate") {
        b"[vdso]".to_vec()
    } else {
        name.to_vec()
    };
    if let Some((hdr_addr, hdr_len)) = eh_hdr {
        if (c.wants_unwind)(&m.path, bias) {
            // SAFETY: the header lies in a mapped segment; the frame data lies in the
            // loadable segment that contains it, which we bound below.
            m.unwind = unsafe { copy_unwind_sections(hdr_addr, hdr_len, phdrs, bias) };
        }
    }
    Some(m)
}

/// Finds NT_GNU_BUILD_ID in a note segment.
fn find_build_id(mut notes: &[u8]) -> Option<Vec<u8>> {
    let u32_at = |b: &[u8], i: usize| {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    while notes.len() >= 12 {
        let namesz = u32_at(notes, 0)? as usize;
        let descsz = u32_at(notes, 4)? as usize;
        let kind = u32_at(notes, 8)?;
        let name_end = 12 + namesz.div_ceil(4) * 4;
        let desc_end = name_end + descsz.div_ceil(4) * 4;
        if desc_end > notes.len() {
            return None;
        }
        if kind == 3 && notes.get(12..12 + namesz) == Some(b"GNU\0") {
            return Some(notes[name_end..name_end + descsz].to_vec());
        }
        notes = &notes[desc_end..];
    }
    None
}

/// Copies `.eh_frame_hdr` and the `.eh_frame` it points to.
///
/// # Safety
/// `hdr_addr..hdr_addr+hdr_len` must be mapped, and `phdrs`/`bias` must describe the
/// module so that the loadable segment holding `.eh_frame` is mapped.
unsafe fn copy_unwind_sections(
    hdr_addr: u64,
    hdr_len: u64,
    phdrs: &[libc::Elf64_Phdr],
    bias: u64,
) -> Option<UnwindSections> {
    // SAFETY: mapped per the contract.
    let hdr = unsafe { std::slice::from_raw_parts(hdr_addr as *const u8, hdr_len as usize) };
    if hdr.len() < 8 || hdr[0] != 1 {
        return None;
    }
    // eh_frame_ptr encoding: in practice DW_EH_PE_pcrel|sdata4 (0x1b); also accept udata4/sdata4 absolute.
    let raw = i32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
    let eh_frame_addr = match hdr[1] {
        0x1b => (hdr_addr + 4).wrapping_add(raw as i64 as u64),
        0x03 | 0x0b => raw as u32 as u64,
        _ => return None,
    };
    // Bound .eh_frame by the loadable segment that holds it, then by its zero terminator.
    let seg_end = phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_LOAD)
        .map(|p| (bias + p.p_vaddr, bias + p.p_vaddr + p.p_memsz))
        .find(|&(lo, hi)| (lo..hi).contains(&eh_frame_addr))?
        .1;
    // SAFETY: eh_frame_addr..seg_end lies in a mapped loadable segment.
    let region = unsafe {
        std::slice::from_raw_parts(
            eh_frame_addr as *const u8,
            (seg_end - eh_frame_addr) as usize,
        )
    };
    let mut len = 0usize;
    while len + 4 <= region.len() {
        let l = u32::from_le_bytes([
            region[len],
            region[len + 1],
            region[len + 2],
            region[len + 3],
        ]) as usize;
        if l == 0 {
            len += 4;
            break;
        }
        if l == 0xffff_ffff {
            break; // 64-bit DWARF lengths do not occur in .eh_frame on Linux; stop here.
        }
        if len + 4 + l > region.len() {
            break;
        }
        len += 4 + l;
    }
    Some(UnwindSections {
        eh_frame_hdr_addr: hdr_addr,
        eh_frame_hdr: hdr.to_vec(),
        eh_frame_addr,
        eh_frame: region[..len].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_test_binary_and_libc_with_build_ids() {
        let mods = loaded_modules(&mut |_, _| true);
        let exe = super::super::file::read_link(c"/proc/self/exe").unwrap();
        let me = mods
            .iter()
            .find(|m| m.path == exe)
            .expect("the executable is listed");
        assert!(me.start <= me.text_start && me.text_end <= me.end);
        assert!(me.unwind.as_ref().is_some_and(|u| !u.eh_frame.is_empty()));
        let libc = mods
            .iter()
            .find(|m| String::from_utf8_lossy(&m.path).contains("libc.so"))
            .expect("libc");
        assert_eq!(libc.build_id.len(), 20);
        assert_ne!(load_generation().0, 0);
    }
}
