//! CPython's Mersenne Twister (MT19937) as used by `random.seed(int)` and
//! `random.randint(a, b)`, so the official API's repeat choices can be replayed exactly.

const N: usize = 624;
const M: usize = 397;

/// MT19937 seeded like CPython's `random.seed(int)`.
#[derive(Clone)]
pub struct CPythonRandom {
    state: [u32; N],
    index: usize,
}

impl CPythonRandom {
    /// `random.seed(seed)` for an integer seed: `init_by_array` over the 32-bit words of
    /// `|seed|`, least significant first (one zero word for 0).
    pub fn new(seed: i128) -> CPythonRandom {
        let mut n = seed.unsigned_abs();
        let mut key = Vec::new();
        while n > 0 {
            key.push(n as u32);
            n >>= 32;
        }
        if key.is_empty() {
            key.push(0);
        }
        let mut r = CPythonRandom {
            state: [0; N],
            index: N,
        };
        r.init_by_array(&key);
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.state[0] = s;
        for i in 1..N {
            let prev = self.state[i - 1];
            self.state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let (mut i, mut j) = (1usize, 0usize);
        let klen = key.len();
        for _ in 0..N.max(klen) {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
            if j >= klen {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
        }
        self.state[0] = 0x8000_0000;
        self.index = N;
    }

    /// The next 32-bit output (`genrand_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % N] & 0x7fff_ffff);
                let mut v = self.state[(k + M) % N] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.state[k] = v;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.getrandbits(k)` for `1 <= k <= 64` (32-bit words, least significant first).
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        let k = k.clamp(1, 64);
        if k <= 32 {
            return u64::from(self.next_u32() >> (32 - k));
        }
        let lo = u64::from(self.next_u32());
        let hi = u64::from(self.next_u32() >> (64 - k));
        lo | (hi << 32)
    }

    /// `random.randint(a, b)` (`randrange(a, b + 1)` via `_randbelow`: draw `bit_length(n)`
    /// bits, redraw while the value is `>= n`). Returns `a` when the range is empty.
    pub fn randint(&mut self, a: i64, b: i64) -> i64 {
        let Some(n) = b.checked_sub(a).and_then(|d| d.checked_add(1)) else {
            return a;
        };
        if n <= 1 {
            return a;
        }
        let n = n as u64;
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return a + r as i64;
            }
        }
    }
}
