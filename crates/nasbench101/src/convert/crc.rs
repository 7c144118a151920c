//! TFRecord's masked CRC32C over several records at once. One CRC is a chain of dependent
//! `crc32` instructions (3 cycles each, one per cycle possible), so checking four records
//! side by side runs about three times faster than one after another. Falls back to the
//! `crc32c` crate where SSE4.2 is missing.

use crate::tfrecord::{mask, masked_crc};

/// Asks the CPU to bring `bytes[from..to]` (clamped) into cache: a hint that never faults.
#[inline]
pub(crate) fn prefetch(bytes: &[u8], from: usize, to: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let to = to.min(bytes.len());
        let mut at = from;
        while at < to {
            let p = bytes.as_ptr().wrapping_add(at);
            // SAFETY: a prefetch does not access memory architecturally; `p` is inside `bytes`.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>())
            };
            at += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, from, to);
}

/// Masked CRCs of four buffers.
pub(crate) fn masked_crc4(bufs: [&[u8]; 4]) -> [u32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE4.2, the only feature `crc4_sse42` enables.
            return unsafe { crc4_sse42(bufs) }.map(mask);
        }
    }
    bufs.map(masked_crc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc4_sse42(b: [&[u8]; 4]) -> [u32; 4] {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let word = |s: &[u8]| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[..8]);
        u64::from_le_bytes(w)
    };
    let mut c = [u64::from(u32::MAX); 4];
    let common = b.iter().map(|s| s.len()).min().unwrap_or(0) / 8 * 8;
    // Zipped chunk iterators: no bounds checks in the loop the four chains share.
    let lanes = b[0][..common]
        .chunks_exact(8)
        .zip(b[1][..common].chunks_exact(8))
        .zip(b[2][..common].chunks_exact(8))
        .zip(b[3][..common].chunks_exact(8));
    for (((w0, w1), w2), w3) in lanes {
        c[0] = _mm_crc32_u64(c[0], word(w0));
        c[1] = _mm_crc32_u64(c[1], word(w1));
        c[2] = _mm_crc32_u64(c[2], word(w2));
        c[3] = _mm_crc32_u64(c[3], word(w3));
    }
    let mut out = [0u32; 4];
    for k in 0..4 {
        let rest = &b[k][common..];
        let mut words = rest.chunks_exact(8);
        let mut x = c[k];
        for w in &mut words {
            x = _mm_crc32_u64(x, word(w));
        }
        let mut x = x as u32;
        for &byte in words.remainder() {
            x = _mm_crc32_u8(x, byte);
        }
        out[k] = !x;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn four_at_once_equals_one_by_one(
            a in proptest::collection::vec(any::<u8>(), 0..700),
            b in proptest::collection::vec(any::<u8>(), 0..700),
            c in proptest::collection::vec(any::<u8>(), 0..700),
            d in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let bufs = [&a[..], &b[..], &c[..], &d[..]];
            prop_assert_eq!(masked_crc4(bufs), bufs.map(masked_crc));
        }
    }
}
