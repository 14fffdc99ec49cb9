//! Unit tests of modules added to the patched Pingora copy (`vendor/`), run here because the
//! vendored crates are not workspace members (their dev-dependencies would join the lock file).
//! Each module is compiled on its own, with its `#[cfg(test)]` tests.

#[path = "../../vendor/pingora-core/src/protocols/l4/lazy_writer.rs"]
#[allow(dead_code)]
mod lazy_writer;

/// The patched mimalloc (`vendor/mimalloc`) serves requests of alignment up to 16 from plain
/// `mi_malloc`; every block it hands out must still honour the alignment Rust asked for, through
/// allocation and reallocation, for sizes across mimalloc's small, medium and large classes.
mod allocator {
    use std::mem::{align_of, size_of};

    #[global_allocator]
    static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

    // The payloads only give the types their sizes.
    #[derive(Clone, Copy, Default)]
    #[repr(align(16))]
    #[allow(dead_code)]
    struct A16([u8; 16]);

    #[derive(Clone, Copy, Default)]
    #[repr(align(64))]
    #[allow(dead_code)]
    struct A64([u64; 8]);

    fn check<T: Copy + Default>(max: usize) {
        let align = align_of::<T>();
        for len in 1..max {
            let boxed = vec![T::default(); len].into_boxed_slice();
            assert_eq!(boxed.as_ptr() as usize % align, 0, "{} x {} bytes", len, size_of::<T>());
            let mut grown = boxed.into_vec();
            grown.reserve_exact(len * 3);
            assert_eq!(grown.as_ptr() as usize % align, 0, "grown to {} x {}", len * 4, size_of::<T>());
            grown.truncate(1);
            grown.shrink_to_fit();
            assert_eq!(grown.as_ptr() as usize % align, 0, "shrunk from {} x {}", len, size_of::<T>());
        }
    }

    #[test]
    fn blocks_honour_the_requested_alignment() {
        check::<u8>(5000);
        check::<u32>(2000);
        check::<u64>(2000);
        check::<u128>(1000);
        check::<A16>(1000);
        check::<A64>(300);
        check::<(u64, u8)>(1000);
        // Huge blocks (beyond mimalloc's large size classes) come from their own pages.
        for len in [1 << 17, 1 << 20] {
            let huge = vec![A16::default(); len];
            assert_eq!(huge.as_ptr() as usize % 16, 0, "{len} x 16 bytes");
        }
    }
}
