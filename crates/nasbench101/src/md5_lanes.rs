//! MD5 of several independent messages in lock-step.
//!
//! The graph hash digests every vertex of a cell in each round, and those digests do not
//! depend on each other. One MD5 is a chain of 64 dependent steps per block, so a single core
//! runs it far below its throughput; computing [`LANES`] messages side by side, one lane of an
//! eight-wide SIMD vector each, does the work of up to eight digests in the time of about one.
//!
//! The lanes are `wide::u32x8` (on x86-64 two SSE2 halves, rotates from shifts), with no
//! `unsafe` and no run-time feature detection: the hand-written AVX2 and AVX-512VL paths that
//! were here bought 1.18-1.29x on the graph hash, which the relaxed query target (15 µs) no
//! longer needs. The tests below check the lanes against the `md-5` crate.

use wide::u32x8;

/// Messages digested side by side.
pub(crate) const LANES: usize = 8;

const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// Word `i` of every lane's block, from the blocks as 16 words a lane.
#[inline(always)]
fn transpose(blocks: &[[u32; 16]; LANES]) -> [u32x8; 16] {
    std::array::from_fn(|i| u32x8::new(std::array::from_fn(|l| blocks[l][i])))
}

/// All ones in the lanes where `k < blocks`, zero elsewhere.
#[inline(always)]
fn active(blocks: u32x8, k: u32) -> u32x8 {
    let b = blocks.to_array();
    u32x8::new(std::array::from_fn(|l| if k < b[l] { u32::MAX } else { 0 }))
}

/// Rotate left by `S` (SSE2 has no vector rotate).
#[inline(always)]
fn rotl<const S: i32>(x: u32x8) -> u32x8 {
    (x << S as u32) | (x >> (32 - S as u32))
}

/// Blocks of 64 bytes after padding (a 0x80 byte and the 8-byte bit length).
fn padded_blocks(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

/// Fills `block` with block `k` of the padded message.
fn padded_block(msg: &[u8], k: usize, blocks: usize, block: &mut [u8; 64]) {
    *block = [0; 64];
    let start = k * 64;
    if start < msg.len() {
        let part = &msg[start..msg.len().min(start + 64)];
        block[..part.len()].copy_from_slice(part);
    }
    if (start..start + 64).contains(&msg.len()) {
        block[msg.len() - start] = 0x80;
    }
    if k + 1 == blocks {
        let bits = (msg.len() as u64).wrapping_mul(8);
        block[56..].copy_from_slice(&bits.to_le_bytes());
    }
}

/// One MD5 step on every lane: `a = b + rotl(a + fun(b, c, d) + km, S)`, where `km` is the
/// message word plus the step constant.
#[inline(always)]
fn step<const S: i32>(
    a: &mut u32x8,
    b: u32x8,
    c: u32x8,
    d: u32x8,
    km: u32x8,
    fun: fn(u32x8, u32x8, u32x8) -> u32x8,
) {
    *a = b + rotl::<S>(*a + fun(b, c, d) + km);
}

/// Message word used by step `t` (RFC 1321).
const fn word_index(t: usize) -> usize {
    match t / 16 {
        0 => t,
        1 => (5 * t + 1) % 16,
        2 => (3 * t + 5) % 16,
        _ => (7 * t) % 16,
    }
}

/// The 16 steps of round `r`, four at a time, each rotating the roles of a, b, c, d; the
/// rotations `S0..S3` of the four steps are the round's (RFC 1321).
#[inline(always)]
fn round<const S0: i32, const S1: i32, const S2: i32, const S3: i32>(
    v: &mut [u32x8; 4],
    w: &[u32x8; 16],
    r: usize,
    fun: fn(u32x8, u32x8, u32x8) -> u32x8,
) {
    let [mut a, mut b, mut c, mut d] = *v;
    for q in 0..4 {
        let t = 16 * r + 4 * q;
        let km = |k: usize| w[word_index(t + k)] + u32x8::splat(K[t + k]);
        step::<S0>(&mut a, b, c, d, km(0), fun);
        step::<S1>(&mut d, a, b, c, km(1), fun);
        step::<S2>(&mut c, d, a, b, km(2), fun);
        step::<S3>(&mut b, c, d, a, km(3), fun);
    }
    *v = [a, b, c, d];
}

/// The MD5 compression of one block per lane; `w[i]` holds word `i` of every lane's block.
#[inline(always)]
fn compress(state: &mut [u32x8; 4], w: &[u32x8; 16]) {
    let mut v = *state;
    // Called once per round with its own function, so `fun` is a constant after inlining.
    round::<7, 12, 17, 22>(&mut v, w, 0, |x, y, z| (x & y) | (!x & z));
    round::<5, 9, 14, 20>(&mut v, w, 1, |x, y, z| (x & z) | (y & !z));
    round::<4, 11, 16, 23>(&mut v, w, 2, |x, y, z| x ^ y ^ z);
    round::<6, 10, 15, 21>(&mut v, w, 3, |x, y, z| y ^ (x | !z));
    for (s, x) in state.iter_mut().zip(v) {
        *s += x;
    }
}

/// MD5 digests of up to [`LANES`] messages, computed side by side.
#[inline(always)]
fn digest_lanes(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
    debug_assert!(msgs.len() <= LANES && out.len() == msgs.len());
    let mut blocks = [0usize; LANES];
    for (b, m) in blocks.iter_mut().zip(msgs) {
        *b = padded_blocks(m.len());
    }
    let most = blocks.iter().copied().max().unwrap_or(0);
    let limits = u32x8::new(blocks.map(|b| b as u32));
    let mut state = INIT.map(u32x8::splat);
    let mut block = [0u8; 64];
    for k in 0..most {
        let mut words = [[0u32; 16]; LANES];
        for (l, msg) in msgs.iter().enumerate() {
            if k < blocks[l] {
                // Whole blocks are read in place; the last one or two are padded in a copy.
                let bytes = match msg.get(k * 64..k * 64 + 64) {
                    Some(whole) => whole,
                    None => {
                        padded_block(msg, k, blocks[l], &mut block);
                        &block[..]
                    }
                };
                for (x, word) in words[l].iter_mut().zip(bytes.chunks_exact(4)) {
                    *x = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                }
            }
        }
        let before = state;
        compress(&mut state, &transpose(&words));
        // Lanes whose message has ended keep their final state.
        let keep = active(limits, k as u32);
        for (s, b) in state.iter_mut().zip(before) {
            *s = (*s & keep) | (b & !keep);
        }
    }
    let state = state.map(u32x8::to_array);
    for (l, digest) in out.iter_mut().enumerate() {
        for (i, s) in state.iter().enumerate() {
            digest[4 * i..4 * i + 4].copy_from_slice(&s[l].to_le_bytes());
        }
    }
}

/// MD5 digests of any number of messages: `out[i]` is the digest of `msgs[i]`.
pub(crate) fn digest_many(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
    assert_eq!(msgs.len(), out.len(), "one digest per message");
    for (m, o) in msgs.chunks(LANES).zip(out.chunks_mut(LANES)) {
        digest_lanes(m, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};
    use proptest::prelude::*;

    fn reference(m: &[u8]) -> [u8; 16] {
        Md5::digest(m).into()
    }

    #[test]
    fn known_vectors() {
        let msgs: [&[u8]; 3] = [b"", b"abc", b"The quick brown fox jumps over the lazy dog"];
        let mut out = [[0u8; 16]; 3];
        digest_many(&msgs, &mut out);
        let hex: Vec<String> = out
            .iter()
            .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        assert_eq!(hex[0], "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex[1], "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex[2], "9e107d9d372bb6826bd81d3542a419d6");
    }

    #[test]
    fn every_length_around_block_edges() {
        // Lengths 0..=200 cover messages whose padding spills into an extra block (56..=63,
        // 120..=127, ...), mixed in one batch so lanes end after different block counts.
        let data: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        let msgs: Vec<&[u8]> = (0..=200).map(|n| &data[..n]).collect();
        let mut out = vec![[0u8; 16]; msgs.len()];
        digest_many(&msgs, &mut out);
        for (m, d) in msgs.iter().zip(&out) {
            assert_eq!(*d, reference(m), "length {}", m.len());
        }
    }

    proptest! {
        #[test]
        fn matches_md5_crate(msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 0..20)) {
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            let mut out = vec![[0u8; 16]; refs.len()];
            digest_many(&refs, &mut out);
            for (m, d) in refs.iter().zip(&out) {
                prop_assert_eq!(*d, reference(m));
            }
        }
    }
}
