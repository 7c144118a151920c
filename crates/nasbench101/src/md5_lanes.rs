//! MD5 of several independent messages in lock-step.
//!
//! The graph hash digests every vertex of a cell in each round, and those digests do not
//! depend on each other. One MD5 is a chain of 64 dependent steps per block, so a single core
//! runs it far below its throughput; computing [`LANES`] messages side by side, one lane of an
//! eight-wide SIMD vector each, does the work of up to eight digests in the time of about one.
//!
//! The compression is written once over [`Vector`] and compiled three times: with `wide::u32x8`
//! for the baseline target (on x86-64 two SSE2 halves, rotates from shifts), and on x86-64 for
//! one 256-bit register with AVX2, or with AVX-512VL and its native rotate. The widest the CPU
//! has is chosen once at run time; it makes the graph hash 1.18x (AVX2) and 1.29x (AVX-512VL)
//! faster. The tests below check every path the test machine has against the `md-5` crate.

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

/// Eight u32 lanes: what the compression needs of a SIMD type.
trait Vector: Copy {
    fn splat(x: u32) -> Self;
    fn from_array(a: [u32; LANES]) -> Self;
    /// Word `i` of every lane's block, from the blocks as 16 words a lane.
    fn transpose(blocks: &[[u32; 16]; LANES]) -> [Self; 16];
    fn to_array(self) -> [u32; LANES];
    /// All ones in the lanes where `k < blocks`, zero elsewhere (blocks below 2^31).
    fn active(blocks: Self, k: u32) -> Self;
    fn add(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn not(self) -> Self;
    fn rotl<const S: i32>(self) -> Self;
}

impl Vector for u32x8 {
    #[inline(always)]
    fn splat(x: u32) -> Self {
        u32x8::splat(x)
    }
    #[inline(always)]
    fn from_array(a: [u32; LANES]) -> Self {
        u32x8::new(a)
    }
    #[inline(always)]
    fn transpose(blocks: &[[u32; 16]; LANES]) -> [Self; 16] {
        std::array::from_fn(|i| u32x8::new(std::array::from_fn(|l| blocks[l][i])))
    }
    #[inline(always)]
    fn to_array(self) -> [u32; LANES] {
        u32x8::to_array(self)
    }
    #[inline(always)]
    fn active(blocks: Self, k: u32) -> Self {
        let b = blocks.to_array();
        u32x8::new(std::array::from_fn(|l| if k < b[l] { u32::MAX } else { 0 }))
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self + o
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        self & o
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        self | o
    }
    #[inline(always)]
    fn xor(self, o: Self) -> Self {
        self ^ o
    }
    #[inline(always)]
    fn not(self) -> Self {
        !self
    }
    #[inline(always)]
    fn rotl<const S: i32>(self) -> Self {
        // SSE2 has no vector rotate.
        (self << S as u32) | (self >> (32 - S as u32))
    }
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
fn step<V: Vector, const S: i32>(a: &mut V, b: V, c: V, d: V, km: V, fun: fn(V, V, V) -> V) {
    *a = b.add(a.add(fun(b, c, d)).add(km).rotl::<S>());
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
fn round<V: Vector, const S0: i32, const S1: i32, const S2: i32, const S3: i32>(
    v: &mut [V; 4],
    w: &[V; 16],
    r: usize,
    fun: fn(V, V, V) -> V,
) {
    let [mut a, mut b, mut c, mut d] = *v;
    for q in 0..4 {
        let t = 16 * r + 4 * q;
        let km = |k: usize| w[word_index(t + k)].add(V::splat(K[t + k]));
        step::<V, S0>(&mut a, b, c, d, km(0), fun);
        step::<V, S1>(&mut d, a, b, c, km(1), fun);
        step::<V, S2>(&mut c, d, a, b, km(2), fun);
        step::<V, S3>(&mut b, c, d, a, km(3), fun);
    }
    *v = [a, b, c, d];
}

/// The MD5 compression of one block per lane; `w[i]` holds word `i` of every lane's block.
#[inline(always)]
fn compress<V: Vector>(state: &mut [V; 4], w: &[V; 16]) {
    let mut v = *state;
    // Called once per round with its own function, so `fun` is a constant after inlining.
    round::<V, 7, 12, 17, 22>(&mut v, w, 0, |x, y, z| x.and(y).or(x.not().and(z)));
    round::<V, 5, 9, 14, 20>(&mut v, w, 1, |x, y, z| x.and(z).or(y.and(z.not())));
    round::<V, 4, 11, 16, 23>(&mut v, w, 2, |x, y, z| x.xor(y).xor(z));
    round::<V, 6, 10, 15, 21>(&mut v, w, 3, |x, y, z| y.xor(x.or(z.not())));
    for (s, x) in state.iter_mut().zip(v) {
        *s = s.add(x);
    }
}

/// MD5 digests of up to [`LANES`] messages, computed side by side.
#[inline(always)]
fn digest_lanes<V: Vector>(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
    debug_assert!(msgs.len() <= LANES && out.len() == msgs.len());
    let mut blocks = [0usize; LANES];
    for (b, m) in blocks.iter_mut().zip(msgs) {
        *b = padded_blocks(m.len());
    }
    let most = blocks.iter().copied().max().unwrap_or(0);
    let limits = V::from_array(blocks.map(|b| b as u32));
    let mut state = INIT.map(V::splat);
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
        compress(&mut state, &V::transpose(&words));
        // Lanes whose message has ended keep their final state.
        let keep = V::active(limits, k as u32);
        for (s, b) in state.iter_mut().zip(before) {
            *s = s.and(keep).or(b.and(keep.not()));
        }
    }
    let state = state.map(V::to_array);
    for (l, digest) in out.iter_mut().enumerate() {
        for (i, s) in state.iter().enumerate() {
            digest[4 * i..4 * i + 4].copy_from_slice(&s[l].to_le_bytes());
        }
    }
}

/// MD5 digests of any number of messages: `out[i]` is the digest of `msgs[i]`.
pub(crate) fn digest_many(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
    assert_eq!(msgs.len(), out.len(), "one digest per message");
    #[cfg(target_arch = "x86_64")]
    digest_many_on(avx::chosen(), msgs, out);
    #[cfg(not(target_arch = "x86_64"))]
    digest_many_with::<u32x8>(msgs, out);
}

/// [`digest_many`] on a given path; `path` must be one the CPU runs.
#[cfg(target_arch = "x86_64")]
fn digest_many_on(path: avx::Path, msgs: &[&[u8]], out: &mut [[u8; 16]]) {
    use avx::Path;
    assert!(
        path <= avx::detected(),
        "{path:?} is not available on this CPU"
    );
    match path {
        // SAFETY: the CPU has the features the function is compiled for (asserted above).
        Path::Avx512 => unsafe { avx::digest_many_avx512(msgs, out) },
        Path::Avx2 => unsafe { avx::digest_many_avx2(msgs, out) },
        Path::Baseline => digest_many_with::<u32x8>(msgs, out),
    }
}

#[inline(always)]
fn digest_many_with<V: Vector>(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
    for (m, o) in msgs.chunks(LANES).zip(out.chunks_mut(LANES)) {
        digest_lanes::<V>(m, o);
    }
}

/// The x86-64 paths that one 256-bit register holds: AVX2, and AVX-512VL with `vprold`.
#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{Vector, LANES};
    use std::arch::x86_64::*;

    /// An MD5 lanes path, narrowest first (the order `detected` and `chosen` compare by).
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
    pub(super) enum Path {
        Baseline,
        Avx2,
        Avx512,
    }

    /// What the CPU runs.
    pub(super) fn detected() -> Path {
        static DETECTED: std::sync::OnceLock<Path> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| {
            let avx2 = is_x86_feature_detected!("avx2");
            // The AVX-512 path also runs AVX2 instructions (the gather, the compare).
            if avx2 && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                Path::Avx512
            } else if avx2 {
                Path::Avx2
            } else {
                Path::Baseline
            }
        })
    }

    /// What the graph hash uses: [`detected`], lowered by `NB1S1_MD5_LANES=baseline|avx2`
    /// (to measure the narrower paths on a wide CPU; never raised; other values: no cap).
    pub(super) fn chosen() -> Path {
        static CHOSEN: std::sync::OnceLock<Path> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let cap = match std::env::var("NB1S1_MD5_LANES").as_deref() {
                Ok("baseline") => Path::Baseline,
                Ok("avx2") => Path::Avx2,
                _ => Path::Avx512,
            };
            detected().min(cap)
        })
    }

    /// Eight lanes in a 256-bit register; `ROL`: rotate with AVX-512VL's `vprold`.
    ///
    /// Its methods are safe to call only inside `digest_many_avx2` / `digest_many_avx512`
    /// (they run the intrinsics unchecked): nothing outside this module names the type.
    #[derive(Clone, Copy)]
    pub(super) struct V<const ROL: bool>(__m256i);

    // SAFETY (every method): only reached from the `digest_many_*` functions below, which run
    // only where `detected()` allows them; inlined there, the intrinsics run with the features
    // enabled (AVX2 for all of them, AVX-512VL for the rotate with ROL).
    impl<const ROL: bool> Vector for V<ROL> {
        #[inline(always)]
        fn splat(x: u32) -> Self {
            V(unsafe { _mm256_set1_epi32(x as i32) })
        }
        #[inline(always)]
        fn from_array(a: [u32; LANES]) -> Self {
            V(unsafe { _mm256_loadu_si256(a.as_ptr().cast()) })
        }
        #[inline(always)]
        fn transpose(blocks: &[[u32; 16]; LANES]) -> [Self; 16] {
            // Word i of lane l sits at 16 l + i: one gather a word, from whole-block stores.
            unsafe {
                let lanes = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
                let base: *const i32 = blocks.as_ptr().cast();
                let mut w = [V(_mm256_setzero_si256()); 16];
                for (i, x) in w.iter_mut().enumerate() {
                    let at = _mm256_add_epi32(lanes, _mm256_set1_epi32(i as i32));
                    *x = V(_mm256_i32gather_epi32::<4>(base, at));
                }
                w
            }
        }
        #[inline(always)]
        fn to_array(self) -> [u32; LANES] {
            let mut a = [0u32; LANES];
            unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), self.0) };
            a
        }
        #[inline(always)]
        fn active(blocks: Self, k: u32) -> Self {
            V(unsafe { _mm256_cmpgt_epi32(blocks.0, _mm256_set1_epi32(k as i32)) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            V(unsafe { _mm256_add_epi32(self.0, o.0) })
        }
        #[inline(always)]
        fn and(self, o: Self) -> Self {
            V(unsafe { _mm256_and_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn or(self, o: Self) -> Self {
            V(unsafe { _mm256_or_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            V(unsafe { _mm256_xor_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn not(self) -> Self {
            V(unsafe { _mm256_xor_si256(self.0, _mm256_set1_epi32(-1)) })
        }
        #[inline(always)]
        fn rotl<const S: i32>(self) -> Self {
            V(unsafe {
                if ROL {
                    _mm256_rol_epi32::<S>(self.0)
                } else {
                    // Counts in a register: `32 - S` cannot be a const argument on stable.
                    let (l, r) = (_mm_cvtsi32_si128(S), _mm_cvtsi32_si128(32 - S));
                    _mm256_or_si256(_mm256_sll_epi32(self.0, l), _mm256_srl_epi32(self.0, r))
                }
            })
        }
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn digest_many_avx2(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
        super::digest_many_with::<V<false>>(msgs, out);
    }

    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub(super) fn digest_many_avx512(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
        super::digest_many_with::<V<true>>(msgs, out);
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

    /// `digest_many` on every path this CPU runs (on x86-64 the baseline and whatever it has
    /// of AVX2 and AVX-512VL), each checked to agree with the first.
    #[cfg(target_arch = "x86_64")]
    fn digest_on_every_path(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
        use avx::Path;
        let mut first: Option<Vec<[u8; 16]>> = None;
        for p in [Path::Baseline, Path::Avx2, Path::Avx512] {
            if p > avx::detected() {
                continue;
            }
            digest_many_on(p, msgs, out);
            match &first {
                None => first = Some(out.to_vec()),
                Some(f) => assert_eq!(f.as_slice(), &*out, "path {p:?}"),
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn digest_on_every_path(msgs: &[&[u8]], out: &mut [[u8; 16]]) {
        digest_many(msgs, out);
    }

    #[test]
    fn known_vectors() {
        let msgs: [&[u8]; 3] = [b"", b"abc", b"The quick brown fox jumps over the lazy dog"];
        let mut out = [[0u8; 16]; 3];
        digest_on_every_path(&msgs, &mut out);
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
        digest_on_every_path(&msgs, &mut out);
        for (m, d) in msgs.iter().zip(&out) {
            assert_eq!(*d, reference(m), "length {}", m.len());
        }
    }

    proptest! {
        #[test]
        fn matches_md5_crate(msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 0..20)) {
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            let mut out = vec![[0u8; 16]; refs.len()];
            digest_on_every_path(&refs, &mut out);
            for (m, d) in refs.iter().zip(&out) {
                prop_assert_eq!(*d, reference(m));
            }
        }
    }
}
