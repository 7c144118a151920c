//! TFRecord's masked CRC32C over several records at once. One CRC is a chain of dependent
//! `crc32` instructions (3 cycles each, one per cycle possible), so checking four records
//! side by side runs about three times faster than one after another. Falls back to the
//! `crc32c` crate where SSE4.2 is missing.

use crate::tfrecord::masked_crc;

const MASK_DELTA: u32 = 0xa282_ead8;

fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
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
    let word = |s: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut c = [u64::from(u32::MAX); 4];
    let common = b.iter().map(|s| s.len()).min().unwrap_or(0) / 8 * 8;
    let mut at = 0;
    while at < common {
        c[0] = _mm_crc32_u64(c[0], word(b[0], at));
        c[1] = _mm_crc32_u64(c[1], word(b[1], at));
        c[2] = _mm_crc32_u64(c[2], word(b[2], at));
        c[3] = _mm_crc32_u64(c[3], word(b[3], at));
        at += 8;
    }
    let mut out = [0u32; 4];
    for k in 0..4 {
        let rest = &b[k][common..];
        let mut words = rest.chunks_exact(8);
        let mut x = c[k];
        for w in &mut words {
            x = _mm_crc32_u64(x, word(w, 0));
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
