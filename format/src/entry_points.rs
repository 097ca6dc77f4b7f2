//! The allocator entry points a tracer interposes, as bits of a set: the `Allocator`
//! record names those whose calls bypass the tracer because another object's definition
//! comes first in the loader's lookup order (the program's own `malloc`, an allocator
//! preloaded before the tracer).

/// Number of entry points; bit `1 << i` is `NAMES[i]`.
pub const COUNT: usize = 12;

/// The entry points, by bit.
pub const NAMES: [&str; COUNT] = [
    "malloc",
    "calloc",
    "realloc",
    "free",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "reallocarray",
    "operator new",
    "operator delete",
];

/// The names of the entry points in `bits`, in bit order.
pub fn names(bits: u32) -> impl Iterator<Item = &'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(move |(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_follow_the_bits() {
        let v: Vec<_> = super::names(0b1000_0000_1001).collect();
        assert_eq!(v, ["malloc", "free", "operator delete"]);
    }
}
