//! Compiles the small C part of the tracer: initial-exec TLS (stable Rust's
//! `thread_local!` in a cdylib goes through `__tls_get_addr`, which may call `malloc`
//! after a `dlopen`: see docs/pitfalls.md) and the variadic `execl*` wrappers.
//!
//! It also has the linker send the library's own calls of the C allocator (zstd's
//! compression contexts, anything in Rust's std or the libc crate that calls `malloc`) to
//! `__wrap_malloc` & co. (`hooks::own_calls`): the tracer's private heap. Without that
//! they would bind to the first `malloc` in the process, which may be the program's own.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        for f in [
            "malloc",
            "calloc",
            "realloc",
            "free",
            "posix_memalign",
            "aligned_alloc",
        ] {
            println!("cargo:rustc-cdylib-link-arg=-Wl,--wrap={f}");
        }
    }
    println!("cargo:rerun-if-changed=src/native.c");
    cc::Build::new()
        .file("src/native.c")
        .flag("-fvisibility=hidden")
        .opt_level(2)
        .compile("memscope_native");
}
