// Many small allocations (a node per YAML value) are the hot path of every keystroke; mimalloc
// makes them and their frees markedly cheaper than the system allocator, as in ruff and others.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
weft::configure_allocator!();

fn main() -> std::process::ExitCode {
    // Before any thread starts, so that every thread inherits it (see the function).
    weft::engine::process::block_child_signal();
    weft::cli::main()
}
