//! Starting a step's process with one `clone3` system call (x86-64 Linux): a child that shares the
//! engine's memory until it execs (as `vfork`), with its signal handlers reset by the kernel
//! (`CLONE_CLEAR_SIGHAND`) and its pidfd handed back by the same call (`CLONE_PIDFD`).
//!
//! glibc's `posix_spawn` does the same job at a higher price per step: a fresh stack mapped and
//! unmapped, a `getrlimit` per file action, a separate `pidfd_open`, and in the child, while the
//! engine waits for it, one or two `sigaction` calls for each of the 64 signals, because it cannot
//! know which ones have handlers. Measured on the bench's machine: ~8 % less wall time per no-op
//! step (docs/PERFORMANCE.md).
//!
//! Where the kernel refuses the call (before Linux 5.5, or a seccomp filter that forbids
//! `clone3`), [`spawn`] says so once and the engine uses `posix_spawn` from then on.
//!
//! Invariant: the child runs only [`child_entry`], on the stack it was given, and makes only raw
//! system calls there: no allocation, no lock, no thread-local state. It ends in `execve` or in
//! `exit_group` after writing the error number where the parent reads it.

use std::ffi::{c_char, c_int, CStr};
use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Stack for the child, reused by every spawn of one [`Children`](super::children::Children):
/// the child is done with it (it has exec'd or exited) before `clone3` returns to the parent.
pub struct Stack(Box<[u128]>);

impl Stack {
    pub fn new() -> Stack {
        // 16 KiB: the child's frames are a few hundred bytes.
        Stack(vec![0u128; 1024].into_boxed_slice())
    }
}

/// What the child needs, prepared by the parent; `error` is written by the child when it fails.
#[repr(C)]
struct Setup {
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    /// Becomes the child's stdin, stdout and stderr (each greater than 2).
    fds: [RawFd; 3],
    error: c_int,
    /// Where it failed: [`AT_CHDIR`] or another step.
    failed_at: c_int,
}

/// The child failed to enter the working folder.
const AT_CHDIR: c_int = 1;

/// `struct clone_args` of clone3(2), its first version (64 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// Set once the kernel refused `clone3`: every later spawn goes through `posix_spawn`.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Starts `file` with `argv` and `envp` (both ending with a null pointer) in `cwd`, in a process
/// group of its own, with `fds` as its standard streams, an empty signal mask and every signal at
/// its default except those the engine ignores (SIGPIPE is reset too). Returns the pid and its
/// pidfd, or `None` when this kernel cannot do it this way.
pub fn spawn(
    file: &CStr,
    argv: &[*const c_char],
    envp: &[*const c_char],
    cwd: &CStr,
    fds: [RawFd; 3],
    stack: &mut Stack,
) -> Option<std::io::Result<(u32, File)>> {
    if UNSUPPORTED.load(Ordering::Relaxed) {
        return None;
    }
    debug_assert!(argv.last().is_some_and(|p| p.is_null()) && envp.last().is_some_and(|p| p.is_null()));
    debug_assert!(fds.iter().all(|fd| *fd > 2));
    let mut setup = Setup {
        file: file.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: cwd.as_ptr(),
        fds,
        error: 0,
        failed_at: 0,
    };
    let mut pidfd: c_int = -1;
    let stack_bytes = std::mem::size_of_val(&*stack.0);
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64 | CLONE_CLEAR_SIGHAND,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.0.as_mut_ptr() as u64,
        stack_size: stack_bytes as u64,
        ..CloneArgs::default()
    };
    // No signal is blocked around the call, as posix_spawn must: the child has no handler to run
    // (CLONE_CLEAR_SIGHAND), so a signal it gets before exec acts as it would right after.
    // SAFETY: `args` describes a stack that nothing else uses while the child runs on it (this
    // thread is suspended until the child execs or exits: CLONE_VFORK), and `setup` with
    // everything it points to outlives the call.
    let result = unsafe { clone3(&args, &mut setup) };
    if result < 0 {
        let errno = -result as i32;
        // No clone3, no CLONE_CLEAR_SIGHAND (before 5.5), or a filter that forbids it.
        if matches!(errno, libc::ENOSYS | libc::EINVAL | libc::EPERM | libc::E2BIG) {
            UNSUPPORTED.store(true, Ordering::Relaxed);
            return None;
        }
        return Some(Err(std::io::Error::from_raw_os_error(errno)));
    }
    let pid = result as u32;
    // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor, owned by nothing else.
    let pidfd = unsafe { File::from_raw_fd(pidfd) };
    // SAFETY: the child wrote `error` and `failed_at` (or not) before it exec'd or exited, which
    // happened before clone3 returned here; volatile reads keep the compiler from assuming them
    // unchanged.
    let (error, failed_at) = unsafe {
        (
            std::ptr::read_volatile(std::ptr::addr_of!(setup.error)),
            std::ptr::read_volatile(std::ptr::addr_of!(setup.failed_at)),
        )
    };
    if error != 0 {
        // The child has exited (status 127): reap it.
        let mut status = 0;
        // SAFETY: waits for our own child, which has already exited.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        let error = std::io::Error::from_raw_os_error(error);
        if failed_at == AT_CHDIR {
            let folder = cwd.to_string_lossy();
            return Some(Err(std::io::Error::new(error.kind(), format!("working folder {folder}: {error}"))));
        }
        return Some(Err(error));
    }
    Some(Ok((pid, pidfd)))
}

/// The clone3 system call; in the child, switches to [`child_entry`] on the new stack and never
/// comes back. Returns the child's pid, or a negative error number.
///
/// # Safety
/// `args` must be valid clone arguments with a stack nothing else uses; `setup` must stay valid
/// until the call returns.
unsafe fn clone3(args: &CloneArgs, setup: *mut Setup) -> isize {
    let result: isize;
    // SAFETY: the caller's contract. In the parent the block is one system call (rcx and r11
    // clobbered). In the child (rax = 0) the kernel has set the stack pointer to the top of the
    // new stack; the block aligns it, calls `child_entry(setup)`, which never returns.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "and rsp, -16",
            "mov rdi, r13",
            "call r12",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => result,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") child_entry as *const () as usize,
            in("r13") setup,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// The child, between clone3 and execve: the engine thread's signal mask, handlers at their
/// defaults.
///
/// # Safety
/// Runs only as the child of [`clone3`], with `setup` valid.
unsafe extern "C" fn child_entry(setup: *mut Setup) -> ! {
    // SAFETY: the parent keeps `setup` alive and unchanged while this child runs.
    let s = unsafe { &*setup };
    let fail = |errno: isize, at: c_int| -> ! {
        // SAFETY: `setup` is shared with the suspended parent, which reads it after we exit.
        unsafe {
            std::ptr::write_volatile(std::ptr::addr_of_mut!((*setup).failed_at), at);
            std::ptr::write_volatile(std::ptr::addr_of_mut!((*setup).error), (-errno) as c_int);
            syscall4(libc::SYS_exit_group, 127, 0, 0, 0);
        }
        #[allow(clippy::empty_loop)]
        loop {}
    };
    /// The kernel's `struct sigaction` on x86-64: handler, flags, restorer, mask.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default_action = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    let empty_mask: u64 = 0;
    // SAFETY: raw system calls on this child's own state, with valid pointers from `setup`.
    unsafe {
        let result = syscall4(libc::SYS_setpgid, 0, 0, 0, 0);
        if result < 0 {
            fail(result, 0);
        }
        for (target, fd) in s.fds.iter().enumerate() {
            let result = syscall4(libc::SYS_dup2, *fd as usize, target, 0, 0);
            if result < 0 {
                fail(result, 0);
            }
        }
        let result = syscall4(libc::SYS_chdir, s.cwd as usize, 0, 0, 0);
        if result < 0 {
            fail(result, AT_CHDIR);
        }
        // Ignored signals stay ignored across exec; SIGPIPE is ignored by Rust programs and a
        // step expects its default. Handlers were reset by CLONE_CLEAR_SIGHAND.
        syscall4(libc::SYS_rt_sigaction, libc::SIGPIPE as usize, std::ptr::addr_of!(default_action) as usize, 0, 8);
        syscall4(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK as usize, std::ptr::addr_of!(empty_mask) as usize, 0, 8);
        let result = syscall4(libc::SYS_execve, s.file as usize, s.argv as usize, s.envp as usize, 0);
        fail(result, 0)
    }
}

/// A system call with up to four arguments; returns the result or a negative error number,
/// without touching `errno` (thread-local, which the child must not use).
///
/// # Safety
/// As the system call itself.
#[inline(always)]
unsafe fn syscall4(number: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let result: isize;
    // SAFETY: the caller's contract; `syscall` clobbers rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") number as isize => result,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd as _;

    #[test]
    fn a_program_starts_through_clone3_here_and_its_pidfd_reports_its_exit() {
        let null = File::open("/dev/null").unwrap();
        let fd = null.as_raw_fd();
        assert!(fd > 2, "the test harness has its standard streams open");
        let file = c"/bin/sh";
        let (shell, script) = (c"sh", c"exit 7");
        let argv = [shell.as_ptr(), c"-c".as_ptr(), script.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null()];
        let mut stack = Stack::new();
        let started = spawn(file, &argv, &envp, c"/", [fd, fd, fd], &mut stack);
        // `None` would mean the kernel refused clone3 and weft fell back on posix_spawn.
        let (pid, pidfd) = started.expect("this kernel starts steps with clone3").unwrap();
        // SAFETY: waits for our own child through its pidfd; `info` is a valid out-parameter.
        let info = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            assert_eq!(libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED), 0);
            info
        };
        // SAFETY: waitid filled `info` for an exited child.
        unsafe {
            assert_eq!(info.si_pid() as u32, pid);
            assert_eq!(info.si_status(), 7);
        }
    }
}
