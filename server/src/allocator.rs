//! Settings for mimalloc, the global allocator of the `weft` binary (and of the benches, so they
//! measure what the binary pays). The library itself does not choose an allocator.

/// mimalloc's `mi_option_arena_eager_commit` (mimalloc.h, v3), which has no constant in
/// `libmimalloc-sys` yet.
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Call first thing in `main`. On Linux mimalloc commits the arenas it reserves up front, which made
/// the resident set of a language server holding a 250 KB file about 25 times the file; committing
/// on demand keeps it near what the analysis really uses (docs/PERFORMANCE.md).
pub fn configure() {
    // SAFETY: setting an option only changes how later memory is committed.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
}
