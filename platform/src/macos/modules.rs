//! The loaded images on macOS, from dyld: path, slide (the load bias), the runtime span
//! of their segments and of `__TEXT`, and `LC_UUID` as the build id (what the analyzer
//! matches module files and dSYMs by). dyld's add and remove callbacks bump a counter
//! pair, so that a change of the list is noticed as on Linux. The recorder writes the
//! module records from this list and builds its `unwind::StackUnwinder` over it.

use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Once;

/// One loaded image.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    pub path: Vec<u8>,
    /// Load bias: runtime address minus the address in the file (dyld's slide).
    pub bias: u64,
    /// Runtime span of all segments but `__PAGEZERO`.
    pub start: u64,
    pub end: u64,
    /// Runtime span of `__TEXT`.
    pub text_start: u64,
    pub text_end: u64,
    pub build_id: Vec<u8>,
}

/// `struct mach_header_64` is 32 bytes; load commands follow.
const HEADER_LEN: usize = 32;
const LC_SEGMENT_64: u32 = 0x19;
const LC_UUID: u32 = 0x1b;

extern "C" {
    fn _dyld_image_count() -> u32;
    fn _dyld_get_image_header(index: u32) -> *const u8;
    fn _dyld_get_image_vmaddr_slide(index: u32) -> isize;
    fn _dyld_get_image_name(index: u32) -> *const c_char;
    fn _dyld_register_func_for_add_image(f: extern "C" fn(*const u8, isize));
    fn _dyld_register_func_for_remove_image(f: extern "C" fn(*const u8, isize));
}

static ADDS: AtomicU64 = AtomicU64::new(0);
static REMOVES: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn on_add(_header: *const u8, _slide: isize) {
    ADDS.fetch_add(1, Relaxed);
}

extern "C" fn on_remove(_header: *const u8, _slide: isize) {
    REMOVES.fetch_add(1, Relaxed);
}

/// Counters of image loads and unloads; a change means the list must be read again.
/// (dyld calls the add callback once per image already loaded when it is registered.)
pub fn load_generation() -> (u64, u64) {
    REGISTER.call_once(|| {
        // SAFETY: registers two extern "C" callbacks that only bump counters.
        unsafe {
            _dyld_register_func_for_add_image(on_add);
            _dyld_register_func_for_remove_image(on_remove);
        }
    });
    (ADDS.load(Relaxed), REMOVES.load(Relaxed))
}

/// Lists the loaded images. Allocates: call with tracking suspended. An image unloaded
/// while the list is read may be missed or be read from its header as it was (dyld
/// keeps no lock for this interface). `_wants_unwind` serves the Linux unwinder, which
/// copies unwind sections; frame-pointer walks need none.
pub fn loaded_modules(_wants_unwind: &mut dyn FnMut(&[u8], u64) -> bool) -> Vec<ModuleInfo> {
    // SAFETY: _dyld_image_count has no preconditions.
    let count = unsafe { _dyld_image_count() };
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        // SAFETY: `i` is below the count; a null header or name means the image went.
        let (header, slide, name) = unsafe {
            (
                _dyld_get_image_header(i),
                _dyld_get_image_vmaddr_slide(i) as u64,
                _dyld_get_image_name(i),
            )
        };
        if header.is_null() || name.is_null() {
            continue;
        }
        // SAFETY: dyld's header of a loaded image: the 32-byte header, then `sizeofcmds`
        // bytes of load commands, all mapped.
        let commands = unsafe {
            let sizeofcmds = (header.add(20) as *const u32).read_unaligned() as usize;
            std::slice::from_raw_parts(header, HEADER_LEN + sizeofcmds)
        };
        let Some(mut m) = describe(commands, slide) else {
            continue;
        };
        // SAFETY: dyld's image names are NUL-terminated and live while the image does.
        m.path = unsafe { CStr::from_ptr(name) }.to_bytes().to_vec();
        out.push(m);
    }
    out
}

/// Spans and UUID of an image from its header and load commands (`bytes`), slid by
/// `slide`; `None` without a `__TEXT` segment.
pub fn describe(bytes: &[u8], slide: u64) -> Option<ModuleInfo> {
    let word = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let quad = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let mut m = ModuleInfo {
        bias: slide,
        start: u64::MAX,
        ..Default::default()
    };
    let mut at = HEADER_LEN;
    for _ in 0..word(16)? {
        let (cmd, size) = (word(at)?, word(at + 4)? as usize);
        match cmd {
            LC_SEGMENT_64 => {
                let name = bytes.get(at + 8..at + 24)?;
                let (vmaddr, vmsize) = (quad(at + 24)?, quad(at + 32)?);
                let (lo, hi) = (
                    vmaddr.wrapping_add(slide),
                    vmaddr.wrapping_add(slide + vmsize),
                );
                if name.starts_with(b"__TEXT\0") {
                    (m.text_start, m.text_end) = (lo, hi);
                }
                if !name.starts_with(b"__PAGEZERO\0") && vmsize > 0 {
                    m.start = m.start.min(lo);
                    m.end = m.end.max(hi);
                }
            }
            LC_UUID => m.build_id = bytes.get(at + 8..at + 24)?.to_vec(),
            _ => {}
        }
        if size < 8 {
            return None;
        }
        at += size;
    }
    (m.text_end > m.text_start).then_some(m)
}
