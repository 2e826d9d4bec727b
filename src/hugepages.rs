//! Transparent huge pages for the heap. Training reads rows of multi-gigabyte tables (input
//! features, identity rows, adjacency lists) and of per-batch buffers at random; on 4 KiB pages
//! nearly every such read also misses the TLB. Kernels in the common `madvise` mode back only
//! advised memory with 2 MiB pages, and glibc (2.35 and later) advises its whole heap when the
//! `glibc.malloc.hugetlb=1` tunable is set. Tunables are read once, at process start, so the
//! program restarts itself once with the tunable set.

use std::os::unix::process::CommandExt;

const TUNABLE: &str = "glibc.malloc.hugetlb";

/// Replaces this process by the same program and arguments with `glibc.malloc.hugetlb=1`
/// added to `GLIBC_TUNABLES`, unless that tunable is set already (by the restart, or by a user:
/// `GLIBC_TUNABLES=glibc.malloc.hugetlb=0` keeps 4 KiB pages). Returns only if the restart
/// failed, and the program then runs as it is.
pub fn restart_with_huge_pages() {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if tunables.contains(TUNABLE) {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let tunables = match tunables.as_str() {
        "" => format!("{TUNABLE}=1"),
        other => format!("{other}:{TUNABLE}=1"),
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(program);
    if let Some(name) = args.next() {
        command.arg0(name);
    }
    // `exec` returns only on failure; the error is not worth more than running on as we are.
    let _ = command.args(args).env("GLIBC_TUNABLES", tunables).exec();
}
