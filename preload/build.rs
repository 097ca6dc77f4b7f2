//! Compiles the small C part of the tracer: initial-exec TLS (stable Rust's
//! `thread_local!` in a cdylib goes through `__tls_get_addr`, which may call `malloc`
//! after a `dlopen`: see docs/pitfalls.md) and the variadic `execl*` wrappers.
fn main() {
    println!("cargo:rerun-if-changed=src/native.c");
    cc::Build::new()
        .file("src/native.c")
        .flag("-fvisibility=hidden")
        .opt_level(2)
        .compile("memscope_native");
}
