//! Settings for mimalloc, the global allocator of the `weft` binary (and of the benches, so they
//! measure what the binary pays). The library itself does not choose an allocator.

/// mimalloc's `mi_option_arena_eager_commit` (mimalloc.h, v3), which has no constant in
/// `libmimalloc-sys` yet.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// On Linux mimalloc commits each arena it reserves up front. The first arena is reserved by the
/// first allocation, before `main`, and serves everything after: committing it eagerly made the
/// resident set of an analysis of a 250 KB file about 26 times the file, and its first run twice as
/// slow (page faults), against 12 times when memory is committed as it is used (docs/PERFORMANCE.md).
/// Use [`configure_allocator!`](crate::configure_allocator) to run this before the first allocation.
pub fn configure() {
    // SAFETY: setting an option only stores a value mimalloc reads when it reserves memory; it
    // allocates nothing, so it may run before mimalloc is initialised.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
}

/// Runs [`allocator::configure`](crate::allocator::configure) while the program is loaded, before
/// the Rust runtime's first allocation (an entry in the ELF `.init_array`, as the C runtime's
/// constructors). Invoke once, at the top level of a binary that uses mimalloc.
#[macro_export]
macro_rules! configure_allocator {
    () => {
        #[cfg(target_os = "linux")]
        #[used]
        #[link_section = ".init_array"]
        static CONFIGURE_ALLOCATOR: extern "C" fn() = {
            extern "C" fn configure() {
                $crate::allocator::configure();
            }
            configure
        };
    };
}
