//! glibc malloc settings that keep transient big buffers from staying resident.
//!
//! Measured cause of the RSS growth under hostile load (issue 12): glibc serves an allocation
//! above its mmap threshold (128 KiB at start) with its own mapping, but after the first such
//! block is freed it raises the threshold to that block's size (up to 32 MiB). From then on
//! the 19 MiB argon2id work area of each PIN check, and every request body near the 256 KiB
//! limit, comes from a malloc arena and stays there after it is freed; and glibc gives each
//! thread that meets contention an arena of its own, up to 8 per core. Many blocking threads
//! hashing PINs and reading bodies thus kept hundreds of megabytes.
//!
//! A fixed threshold (which also turns the dynamic raise off) hands such blocks back to the
//! kernel when freed, and a bound on the arenas bounds what small allocations can scatter.
//! Operators may still tune both with glibc's own `MALLOC_MMAP_THRESHOLD_` and
//! `MALLOC_ARENA_MAX`, which are then left alone.

/// Allocations of this size and more get a mapping of their own, returned when freed.
pub const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Applies the settings; call first thing in `main`, before any thread starts.
pub fn bound_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let arenas = i32::try_from(cores.saturating_mul(2)).unwrap_or(i32::MAX);
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: mallopt only changes malloc's tuning parameters; it is called before
            // any other thread exists, and any value is valid (glibc refuses bad ones).
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        }
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
        }
    }
}
