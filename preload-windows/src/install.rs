//! Installing the hooks: at `DLL_PROCESS_ATTACH` on every C runtime already loaded
//! (`msvcrt.dll` for mingw programs, `ucrtbase.dll` for MSVC ones, and the debug
//! `ucrtbased.dll`), on libstdc++ if loaded, and on the exit paths of ntdll; then a
//! loader notification (`LdrRegisterDllNotification`) hooks a runtime or libstdc++
//! loaded later and tells the platform's module list that the loader moved.
//!
//! Hooks are MinHook's: it copies the first instructions of the target into a
//! trampoline (relocating relative ones), writes a jump to the hook over them, and
//! enables all hooks with the process's other threads suspended. A target that cannot
//! be hooked is left alone, with one line on standard error.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use minhook::MinHook;
use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};

use crate::hooks::{aligned, crt, cxx, process, Real};

/// The C runtimes hooked, by index (the `C` of the generic hooks).
pub const CRT_NAMES: [&str; CRTS] = ["msvcrt.dll", "ucrtbase.dll", "ucrtbased.dll"];
pub const CRTS: usize = 3;

/// Which runtimes are hooked already.
static CRT_HOOKED: [AtomicBool; CRTS] = [const { AtomicBool::new(false) }; CRTS];
static CXX_HOOKED: AtomicBool = AtomicBool::new(false);

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// The module named `name` if it is loaded.
fn loaded(name: &str) -> Option<HMODULE> {
    // SAFETY: a NUL-terminated name; no reference is taken.
    let h = unsafe { GetModuleHandleW(wide(name).as_ptr()) };
    (!h.is_null()).then_some(h)
}

/// Hooks export `name` of `module` with `hook`, storing the trampoline in `real`; false if
/// the module has no such export. Enabling is left to [`enable`].
fn hook(module: HMODULE, name: &str, hook: *mut c_void, real: &Real) -> bool {
    let cname: Vec<u8> = name.bytes().chain(Some(0)).collect();
    // SAFETY: a loaded module and a NUL-terminated name.
    let Some(target) = (unsafe { GetProcAddress(module, cname.as_ptr()) }) else {
        return false;
    };
    // SAFETY: `target` is an exported function and `hook` has its signature (the
    // tables below pair them); MinHook writes nothing until the hook is enabled.
    match unsafe { MinHook::create_hook(target as *mut c_void, hook) } {
        Ok(trampoline) => {
            real.set(trampoline);
            // SAFETY: as above; queued, applied by `enable`.
            unsafe { MinHook::queue_enable_hook(target as *mut c_void) }.is_ok()
        }
        Err(e) => {
            let msg = format!("memscope: cannot hook {name}: {e:?}\n");
            memscope_platform::file::write_stderr(msg.as_bytes());
            false
        }
    }
}

/// Applies every queued hook (the other threads suspended meanwhile).
fn enable() {
    // SAFETY: every queued hook's trampoline is stored before this.
    if let Err(e) = unsafe { MinHook::apply_queued() } {
        let msg = format!("memscope: cannot enable the hooks: {e:?}\n");
        memscope_platform::file::write_stderr(msg.as_bytes());
    }
}

/// Hooks runtime `C` in `module` (once).
fn hook_crt<const C: usize>(module: HMODULE) {
    if CRT_HOOKED[C].swap(true, Ordering::AcqRel) {
        return;
    }
    // `_msize` first: the allocation hooks call it.
    // SAFETY: a loaded module and a NUL-terminated name.
    if let Some(f) = unsafe { GetProcAddress(module, c"_msize".as_ptr().cast()) } {
        crt::MSIZE[C].set(f as *mut c_void);
    }
    hook(
        module,
        "malloc",
        crt::malloc::<C> as *mut c_void,
        &crt::MALLOC[C],
    );
    hook(
        module,
        "calloc",
        crt::calloc::<C> as *mut c_void,
        &crt::CALLOC[C],
    );
    hook(
        module,
        "realloc",
        crt::realloc::<C> as *mut c_void,
        &crt::REALLOC[C],
    );
    hook(module, "free", crt::free::<C> as *mut c_void, &crt::FREE[C]);
    hook(
        module,
        "_recalloc",
        crt::_recalloc::<C> as *mut c_void,
        &crt::RECALLOC[C],
    );
    hook(
        module,
        "_expand",
        crt::_expand::<C> as *mut c_void,
        &crt::EXPAND[C],
    );
    hook(
        module,
        "_aligned_malloc",
        aligned::_aligned_malloc::<C> as *mut c_void,
        &aligned::ALIGNED_MALLOC[C],
    );
    hook(
        module,
        "_aligned_offset_malloc",
        aligned::_aligned_offset_malloc::<C> as *mut c_void,
        &aligned::ALIGNED_OFFSET_MALLOC[C],
    );
    hook(
        module,
        "_aligned_realloc",
        aligned::_aligned_realloc::<C> as *mut c_void,
        &aligned::ALIGNED_REALLOC[C],
    );
    hook(
        module,
        "_aligned_recalloc",
        aligned::_aligned_recalloc::<C> as *mut c_void,
        &aligned::ALIGNED_RECALLOC[C],
    );
    hook(
        module,
        "_aligned_free",
        aligned::_aligned_free::<C> as *mut c_void,
        &aligned::ALIGNED_FREE[C],
    );
}

/// Hooks the runtime with index `index` if `module` is it.
fn hook_crt_index(index: usize, module: HMODULE) {
    match index {
        0 => hook_crt::<0>(module),
        1 => hook_crt::<1>(module),
        _ => hook_crt::<2>(module),
    }
}

/// Hooks libstdc++'s operators in `module` (once).
fn hook_cxx(module: HMODULE) {
    if CXX_HOOKED.swap(true, Ordering::AcqRel) {
        return;
    }
    for (name, i) in cxx::NAMES {
        hook(module, name, cxx::hook(i), &cxx::REAL[i]);
    }
}

/// The name libstdc++ has in mingw-w64 builds.
const CXX_NAME: &str = "libstdc++-6.dll";

/// Hooks what is loaded now and watches for later loads (`DLL_PROCESS_ATTACH`).
pub fn at_attach() {
    crate::preexisting::snapshot();
    for (i, name) in CRT_NAMES.iter().enumerate() {
        if let Some(m) = loaded(name) {
            hook_crt_index(i, m);
        }
    }
    if let Some(m) = loaded(CXX_NAME) {
        hook_cxx(m);
    }
    if let Some(ntdll) = loaded("ntdll.dll") {
        hook(
            ntdll,
            "RtlExitUserProcess",
            process::rtl_exit_user_process as *mut c_void,
            &process::EXIT_USER_PROCESS,
        );
        hook(
            ntdll,
            "NtTerminateProcess",
            process::nt_terminate_process as *mut c_void,
            &process::TERMINATE_PROCESS,
        );
        watch_loads(ntdll);
    }
    process::install_exception_filter();
    enable();
}

/// `LDR_DLL_NOTIFICATION_DATA` (loaded and unloaded share the layout).
#[repr(C)]
struct DllNotification {
    flags: u32,
    full_name: *const UnicodeString,
    base_name: *const UnicodeString,
    base: *mut c_void,
    size: u32,
}

#[repr(C)]
struct UnicodeString {
    length: u16,
    maximum_length: u16,
    buffer: *const u16,
}

const LDR_DLL_NOTIFICATION_REASON_LOADED: u32 = 1;

type RegisterFn = unsafe extern "system" fn(
    u32,
    unsafe extern "system" fn(u32, *const DllNotification, *mut c_void),
    *mut c_void,
    *mut *mut c_void,
) -> i32;

/// Registers [`on_loader_event`] with the loader (Windows Vista and later; Wine too).
fn watch_loads(ntdll: HMODULE) {
    // SAFETY: a loaded module and a NUL-terminated name.
    let Some(f) = (unsafe { GetProcAddress(ntdll, c"LdrRegisterDllNotification".as_ptr().cast()) })
    else {
        return;
    };
    // SAFETY: the documented signature of LdrRegisterDllNotification.
    let register: RegisterFn = unsafe { std::mem::transmute::<_, RegisterFn>(f) };
    let mut cookie = std::ptr::null_mut();
    // SAFETY: flags must be 0; the callback lives as long as the DLL (never unloaded
    // while the process runs).
    unsafe { register(0, on_loader_event, std::ptr::null_mut(), &mut cookie) };
}

/// The loader loaded or unloaded a module (loader lock held): count it for the module
/// list, and hook a C runtime or libstdc++ loaded now.
unsafe extern "system" fn on_loader_event(
    reason: u32,
    data: *const DllNotification,
    _ctx: *mut c_void,
) {
    if reason != LDR_DLL_NOTIFICATION_REASON_LOADED {
        memscope_platform::modules::note_unload();
        return;
    }
    memscope_platform::modules::note_load();
    // SAFETY: the loader passes valid notification data for the call's duration.
    let name = unsafe {
        let n = &*(*data).base_name;
        std::slice::from_raw_parts(n.buffer, n.length as usize / 2)
    };
    let name = String::from_utf16_lossy(name).to_ascii_lowercase();
    // SAFETY: as above.
    let base = unsafe { (*data).base } as HMODULE;
    let _g = crate::front_end::Guard::force();
    let mut any = false;
    if let Some(i) = CRT_NAMES.iter().position(|n| *n == name) {
        hook_crt_index(i, base);
        any = true;
    } else if name == CXX_NAME {
        hook_cxx(base);
        any = true;
    }
    if any {
        enable();
    }
}
