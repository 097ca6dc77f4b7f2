//! `memscope run` on Windows: starts the program suspended, injects the tracer DLL
//! (`memscope_windows.dll`: its path written into the program's memory, then a remote
//! thread that runs `LoadLibraryW` on it, whose `DllMain` installs the hooks before any
//! code of the program's own runs), resumes it, waits, and reports on its trace as on
//! Linux (`--report`, `--format`, `--check`). The exit code is the program's.
//!
//! `MEMSCOPE_OUTPUT` (the `--output` template, `%p` pid, `%e` executable name) is set in
//! the program's environment. Only the program itself is traced so far: child processes
//! it creates are not injected (docs/windows.md).

use std::ffi::c_void;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Diagnostics::Debug::WriteProcessMemory;
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Memory::{
    VirtualAllocEx, VirtualFreeEx, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE,
};
use windows_sys::Win32::System::Threading::{
    CreateProcessW, CreateRemoteThread, GetExitCodeProcess, GetExitCodeThread, ResumeThread,
    TerminateProcess, WaitForSingleObject, CREATE_SUSPENDED, INFINITE, PROCESS_INFORMATION,
    STARTUPINFOW,
};

use crate::analysis::analyze_in_family;
use crate::cmd::cli::RunArgs;
use crate::cmd::commands::{incompleteness_notes, render_view};
use crate::error::CliError;
use crate::gate::input::ProgramStatus;
use crate::report::flame::Weight;
use crate::report::text::want_color;
use crate::report::Format;
use crate::trace::family::Family;

/// File names of the tracer DLL looked for beside `memscope.exe`, in order.
pub const DLL_NAMES: [&str; 2] = ["memscope_windows.dll", "memscope.dll"];

/// The variable naming the tracer DLL when it is not beside `memscope.exe`.
pub const DLL_VARIABLE: &str = "MEMSCOPE_DLL";

/// Runs the program under the tracer and reports; returns the program's exit code.
pub fn run(args: &RunArgs) -> Result<i32, CliError> {
    let Some((program, program_args)) = args.command.split_first() else {
        return Err(CliError::Usage("run: no program given".into()));
    };
    let dll = dll_path(args.preload.as_deref())?;
    let cwd = std::env::current_dir().map_err(|e| CliError::io(Path::new("."), e))?;
    let template = cwd.join(&args.output);
    // SAFETY: memscope is single-threaded here; the program inherits the environment.
    unsafe { std::env::set_var("MEMSCOPE_OUTPUT", &template) };

    let mut line = quote(&program.to_string_lossy());
    for a in program_args {
        line.push(' ');
        line.push_str(&quote(&a.to_string_lossy()));
    }
    let process = Suspended::create(&line).map_err(|err| CliError::Spawn {
        program: program.to_string_lossy().into_owned(),
        err,
    })?;
    if let Err(err) = process.inject(&dll) {
        process.kill();
        return Err(CliError::Usage(format!(
            "run: cannot load {} into {}: {err}",
            dll.display(),
            program.to_string_lossy()
        )));
    }
    let (pid, code) = process.resume_and_wait();

    let name = Path::new(program)
        .file_name()
        .unwrap_or(program.as_os_str());
    let trace = PathBuf::from(substitute(
        &template.to_string_lossy(),
        pid,
        &name.to_string_lossy(),
    ));
    if !trace.is_file() {
        eprintln!(
            "memscope: no trace found for {} (pid {pid}): expected {}",
            program.to_string_lossy(),
            trace.display()
        );
        if args.check {
            return Err(CliError::Usage(format!(
                "run --check: no trace of {} to check",
                program.to_string_lossy()
            )));
        }
        return Ok(code);
    }
    let json_on_stderr = args.format == Format::Json && args.report.is_none() && !args.check;
    if !json_on_stderr {
        eprintln!("memscope: trace: {}", trace.display());
    }
    let family = Family::read(std::slice::from_ref(&trace));
    if args.check {
        if args.report.is_some() {
            report(&trace, &family, args)?;
        }
        return crate::cmd::check::check_run(
            &trace,
            ProgramStatus::Exited(code),
            &family,
            &args.gate,
        );
    }
    if let Err(e) = report(&trace, &family, args) {
        eprintln!("memscope: {e}");
    }
    Ok(code)
}

/// Analyzes `trace` and writes the report to `--report` or stderr.
fn report(trace: &Path, family: &Family, args: &RunArgs) -> Result<(), CliError> {
    let analysis = analyze_in_family(trace, family)?;
    if args.format == Format::Text {
        incompleteness_notes(&analysis);
    }
    match &args.report {
        Some(file) => fs::write(
            file,
            render_view(&analysis, args.format, false, Weight::Bytes, &args.view),
        )
        .map_err(|e| CliError::io(file, e)),
        None => {
            let color = want_color(std::io::stderr().is_terminal());
            eprint!(
                "{}",
                render_view(&analysis, args.format, color, Weight::Bytes, &args.view)
            );
            Ok(())
        }
    }
}

/// The tracer DLL: `--preload`, else beside `memscope.exe`, else `MEMSCOPE_DLL`.
fn dll_path(given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(p) = given {
        return Ok(std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    }
    let exe = std::env::current_exe().map_err(|e| CliError::io(Path::new("memscope"), e))?;
    let beside = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    DLL_NAMES
        .iter()
        .map(|n| beside.join(n))
        .chain(std::env::var_os(DLL_VARIABLE).map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "run: the tracer DLL ({}) is neither beside {} nor named by {DLL_VARIABLE}",
                DLL_NAMES[0],
                exe.display()
            ))
        })
}

/// The tracer's file name for a template: `%p` pid, `%e` executable name, `%%` percent.
pub fn substitute(template: &str, pid: u32, exe: &str) -> String {
    let mut out = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => out.push_str(&pid.to_string()),
            Some('e') => out.push_str(exe),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// One argument quoted for a Windows command line (the rules `CommandLineToArgvW` and
/// the C runtimes parse by).
pub fn quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_string();
    }
    let mut out = String::from('"');
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// A program created suspended: its process and main thread.
struct Suspended {
    info: PROCESS_INFORMATION,
}

impl Suspended {
    fn create(command_line: &str) -> std::io::Result<Suspended> {
        let mut line = wide(command_line);
        // SAFETY: all-zero STARTUPINFOW and PROCESS_INFORMATION are valid (integers and
        // null pointers).
        let mut startup: STARTUPINFOW = unsafe { std::mem::zeroed() };
        startup.cb = std::mem::size_of::<STARTUPINFOW>() as u32;
        // SAFETY: as above.
        let mut info: PROCESS_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: `line` is a writable NUL-terminated buffer (CreateProcessW may modify
        // it); handles are inherited as usual; `info` receives the handles we close.
        let ok = unsafe {
            CreateProcessW(
                std::ptr::null(),
                line.as_mut_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                1,
                CREATE_SUSPENDED,
                std::ptr::null(),
                std::ptr::null(),
                &startup,
                &mut info,
            )
        };
        if ok == 0 {
            return Err(last_error());
        }
        Ok(Suspended { info })
    }

    /// Loads `dll` into the process (a remote thread running `LoadLibraryW`) and waits
    /// until its `DllMain` has run.
    fn inject(&self, dll: &Path) -> Result<(), String> {
        let path = wide(&dll.to_string_lossy());
        let bytes = path.len() * 2;
        let process = self.info.hProcess;
        // SAFETY: memory in the suspended process, freed below.
        let remote = unsafe {
            VirtualAllocEx(
                process,
                std::ptr::null(),
                bytes,
                MEM_COMMIT | MEM_RESERVE,
                PAGE_READWRITE,
            )
        };
        if remote.is_null() {
            return Err(format!("VirtualAllocEx: {}", last_error()));
        }
        let result = self.load_library_at(remote, &path);
        // SAFETY: the memory allocated above, used no more (LoadLibraryW copied the name).
        unsafe { VirtualFreeEx(process, remote, 0, MEM_RELEASE) };
        result
    }

    fn load_library_at(&self, remote: *mut c_void, path: &[u16]) -> Result<(), String> {
        let process = self.info.hProcess;
        // SAFETY: `remote` has room for `path`, which is readable for its length.
        let ok = unsafe {
            WriteProcessMemory(
                process,
                remote,
                path.as_ptr().cast(),
                path.len() * 2,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(format!("WriteProcessMemory: {}", last_error()));
        }
        // kernel32 is mapped at the same address in every process of a session, so its
        // `LoadLibraryW` here is its `LoadLibraryW` there.
        // SAFETY: NUL-terminated names; kernel32 is always loaded.
        let load = unsafe {
            let kernel32 = GetModuleHandleW(wide("kernel32.dll").as_ptr());
            GetProcAddress(kernel32, c"LoadLibraryW".as_ptr().cast())
        }
        .ok_or_else(|| "no LoadLibraryW".to_string())?;
        // SAFETY: LoadLibraryW has the thread start routine's shape (one pointer in, a
        // value out); its argument is the path written above.
        let thread = unsafe {
            CreateRemoteThread(
                process,
                std::ptr::null(),
                0,
                Some(std::mem::transmute::<
                    unsafe extern "system" fn() -> isize,
                    unsafe extern "system" fn(*mut c_void) -> u32,
                >(load)),
                remote,
                0,
                std::ptr::null_mut(),
            )
        };
        if thread.is_null() {
            return Err(format!("CreateRemoteThread: {}", last_error()));
        }
        let mut loaded = 0u32;
        // SAFETY: our thread handle, closed below.
        let waited = unsafe { WaitForSingleObject(thread, INFINITE) };
        // SAFETY: as above; `loaded` is writable.
        unsafe {
            GetExitCodeThread(thread, &mut loaded);
            CloseHandle(thread);
        }
        if waited != WAIT_OBJECT_0 {
            // SAFETY: reading this thread's last error.
            return Err(format!("waiting for the loader thread: error {}", unsafe {
                GetLastError()
            }));
        }
        // The exit code is the low half of the module's address: zero means not loaded.
        if loaded == 0 {
            return Err(
                "LoadLibraryW failed in the program (is the DLL built for its architecture?)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Resumes the main thread and waits for the process: its pid and exit code.
    fn resume_and_wait(self) -> (u32, i32) {
        let mut code = 0u32;
        // SAFETY: our handles of the process and its main thread, closed on drop.
        unsafe {
            ResumeThread(self.info.hThread);
            WaitForSingleObject(self.info.hProcess, INFINITE);
            GetExitCodeProcess(self.info.hProcess, &mut code);
        }
        (self.info.dwProcessId, code as i32)
    }

    fn kill(&self) {
        // SAFETY: our process handle.
        unsafe { TerminateProcess(self.info.hProcess, 1) };
    }
}

impl Drop for Suspended {
    fn drop(&mut self) {
        let handles: [HANDLE; 2] = [self.info.hThread, self.info.hProcess];
        for h in handles {
            // SAFETY: handles CreateProcessW gave us.
            unsafe { CloseHandle(h) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_the_c_runtime_parses() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote(r"C:\dir with space\"), r#""C:\dir with space\\""#);
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn substitutes_like_the_tracer() {
        assert_eq!(
            substitute(r"C:\t\m.%e.%p.msl", 42, "a.exe"),
            r"C:\t\m.a.exe.42.msl"
        );
        assert_eq!(substitute("100%%-%x", 1, "e"), "100%-%x");
    }
}
