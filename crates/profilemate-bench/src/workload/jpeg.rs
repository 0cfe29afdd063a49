//! Encodes RGB pixels as a baseline JPEG as PIL's `Image.save(format="JPEG")` does by default,
//! which is how vLLM 0.32's `process_image` sends a synthetic `random-mm` image
//! (vllm/benchmarks/datasets/datasets.py): libjpeg at quality 75, 4:2:0 chroma subsampling, the
//! standard Huffman tables, a JFIF header. The tables below are the ones PIL 13 writes (read back
//! from its output); the DCT is a plain floating-point one, so coefficients may differ from
//! libjpeg's by a rounding step, not the format or the size class.

/// Natural (row-major) index of the k-th coefficient in zigzag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

const LUMA_QUANT_ZIGZAG: [u8; 64] = [
    8, 6, 6, 7, 6, 5, 8, 7, 7, 7, 9, 9, 8, 10, 12, 20, 13, 12, 11, 11, 12, 25, 18, 19, 15, 20, 29,
    26, 31, 30, 29, 26, 28, 28, 32, 36, 46, 39, 32, 34, 44, 35, 28, 28, 40, 55, 41, 44, 48, 49, 52,
    52, 52, 31, 39, 57, 61, 56, 50, 60, 46, 51, 52, 50,
];
const CHROMA_QUANT_ZIGZAG: [u8; 64] = [
    9, 9, 9, 12, 11, 12, 24, 13, 13, 24, 50, 33, 28, 33, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
];
const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_LUMA_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125];
const AC_LUMA_VALUES: [u8; 162] = [
    1, 2, 3, 0, 4, 17, 5, 18, 33, 49, 65, 6, 19, 81, 97, 7, 34, 113, 20, 50, 129, 145, 161, 8, 35,
    66, 177, 193, 21, 82, 209, 240, 36, 51, 98, 114, 130, 9, 10, 22, 23, 24, 25, 26, 37, 38, 39,
    40, 41, 42, 52, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87, 88,
    89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 131,
    132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151, 152, 153, 154, 162, 163, 164,
    165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183, 184, 185, 186, 194, 195, 196, 197,
    198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217, 218, 225, 226, 227, 228, 229,
    230, 231, 232, 233, 234, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250,
];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_CHROMA_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119];
const AC_CHROMA_VALUES: [u8; 162] = [
    0, 1, 2, 3, 17, 4, 5, 33, 49, 6, 18, 65, 81, 7, 97, 113, 19, 34, 50, 129, 8, 20, 66, 145, 161,
    177, 193, 9, 35, 51, 82, 240, 21, 98, 114, 209, 10, 22, 36, 52, 225, 37, 241, 23, 24, 25, 26,
    38, 39, 40, 41, 42, 53, 54, 55, 56, 57, 58, 67, 68, 69, 70, 71, 72, 73, 74, 83, 84, 85, 86, 87,
    88, 89, 90, 99, 100, 101, 102, 103, 104, 105, 106, 115, 116, 117, 118, 119, 120, 121, 122, 130,
    131, 132, 133, 134, 135, 136, 137, 138, 146, 147, 148, 149, 150, 151, 152, 153, 154, 162, 163,
    164, 165, 166, 167, 168, 169, 170, 178, 179, 180, 181, 182, 183, 184, 185, 186, 194, 195, 196,
    197, 198, 199, 200, 201, 202, 210, 211, 212, 213, 214, 215, 216, 217, 218, 226, 227, 228, 229,
    230, 231, 232, 233, 234, 242, 243, 244, 245, 246, 247, 248, 249, 250,
];

/// A Huffman table as (code, length) per symbol.
struct Huffman {
    codes: [(u16, u8); 256],
}

impl Huffman {
    /// The canonical codes of a DHT (bits per length, symbols) table (JPEG Annex C).
    fn new(bits: &[u8; 16], values: &[u8]) -> Self {
        let mut codes = [(0u16, 0u8); 256];
        let (mut code, mut k) = (0u16, 0usize);
        for (len, &n) in bits.iter().enumerate() {
            for _ in 0..n {
                codes[usize::from(values[k])] = (code, len as u8 + 1);
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        Self { codes }
    }
}

/// Writes entropy-coded bits, stuffing a zero byte after each 0xFF.
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, value: u16, len: u8) {
        if len == 0 {
            return;
        }
        self.acc = (self.acc << len) | (u32::from(value) & ((1 << len) - 1));
        self.n += u32::from(len);
        while self.n >= 8 {
            let byte = (self.acc >> (self.n - 8)) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
            self.n -= 8;
        }
        self.acc &= (1 << self.n) - 1;
    }

    fn code(&mut self, table: &Huffman, symbol: u8) {
        let (code, len) = table.codes[usize::from(symbol)];
        self.put(code, len);
    }

    /// Pads the last byte with one bits.
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            let pad = 8 - self.n as u8;
            self.put((1 << pad) - 1, pad);
        }
        self.out
    }
}

/// Bits needed for |v| and the bits written for v (negative values as v - 1 in that many bits).
fn magnitude(v: i32) -> (u8, u16) {
    let cat = (32 - v.unsigned_abs().leading_zeros()) as u8;
    let bits = if v < 0 { v - 1 } else { v };
    (cat, (bits & ((1 << cat) - 1)) as u16)
}

/// One 8x8 block of one component.
struct Component<'a> {
    quant: [f32; 64],
    dc: &'a Huffman,
    ac: &'a Huffman,
    prev_dc: i32,
}

impl Component<'_> {
    fn encode(&mut self, block: &[f32; 64], cos: &[[f32; 8]; 8], w: &mut BitWriter) {
        // Separable orthonormal DCT-II of the level-shifted samples.
        let mut tmp = [0f32; 64];
        for y in 0..8 {
            for u in 0..8 {
                tmp[y * 8 + u] = (0..8).map(|x| (block[y * 8 + x] - 128.0) * cos[u][x]).sum();
            }
        }
        let mut q = [0i32; 64];
        for v in 0..8 {
            for u in 0..8 {
                let c: f32 = (0..8).map(|y| tmp[y * 8 + u] * cos[v][y]).sum();
                q[v * 8 + u] = (c / self.quant[v * 8 + u]).round() as i32;
            }
        }
        let (cat, bits) = magnitude(q[0] - self.prev_dc);
        self.prev_dc = q[0];
        w.code(self.dc, cat);
        w.put(bits, cat);
        let mut run = 0u8;
        for &i in &ZIGZAG[1..] {
            if q[i] == 0 {
                run += 1;
                continue;
            }
            while run > 15 {
                w.code(self.ac, 0xF0);
                run -= 16;
            }
            let (cat, bits) = magnitude(q[i]);
            w.code(self.ac, (run << 4) | cat);
            w.put(bits, cat);
            run = 0;
        }
        if run > 0 {
            w.code(self.ac, 0x00);
        }
    }
}

/// The quantization table in natural order, as divisors.
fn natural(zigzag: &[u8; 64]) -> [f32; 64] {
    let mut q = [0f32; 64];
    for (k, &i) in ZIGZAG.iter().enumerate() {
        q[i] = f32::from(zigzag[k]);
    }
    q
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(body);
}

fn dht(out: &mut Vec<u8>, class_id: u8, bits: &[u8; 16], values: &[u8]) {
    let mut body = vec![class_id];
    body.extend_from_slice(bits);
    body.extend_from_slice(values);
    segment(out, 0xC4, &body);
}

/// A baseline JPEG of `width` x `height` pixels (both at most 65535) from `rgb` (row-major,
/// 3 bytes a pixel).
pub(crate) fn jpeg_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let (w, h) = (width.max(1) as usize, height.max(1) as usize);
    let pixel = |x: usize, y: usize| {
        let i = (y.min(h - 1) * w + x.min(w - 1)) * 3;
        let p = |c: usize| f32::from(rgb.get(i + c).copied().unwrap_or(0));
        (p(0), p(1), p(2))
    };
    // JFIF colour conversion, edges replicated up to whole 16x16 MCUs.
    let (pw, ph) = (w.div_ceil(16) * 16, h.div_ceil(16) * 16);
    let mut planes = [
        vec![0f32; pw * ph],
        vec![0f32; pw * ph],
        vec![0f32; pw * ph],
    ];
    for y in 0..ph {
        for x in 0..pw {
            let (r, g, b) = pixel(x, y);
            planes[0][y * pw + x] = 0.299 * r + 0.587 * g + 0.114 * b;
            planes[1][y * pw + x] = -0.168_736 * r - 0.331_264 * g + 0.5 * b + 128.0;
            planes[2][y * pw + x] = 0.5 * r - 0.418_688 * g - 0.081_312 * b + 128.0;
        }
    }
    let mut cos = [[0f32; 8]; 8];
    for (u, row) in cos.iter_mut().enumerate() {
        let scale = if u == 0 { (0.125f32).sqrt() } else { 0.5 };
        for (x, c) in row.iter_mut().enumerate() {
            *c = scale * ((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / 16.0).cos();
        }
    }
    let tables = [
        Huffman::new(&DC_LUMA_BITS, &DC_LUMA_VALUES),
        Huffman::new(&AC_LUMA_BITS, &AC_LUMA_VALUES),
        Huffman::new(&DC_CHROMA_BITS, &DC_CHROMA_VALUES),
        Huffman::new(&AC_CHROMA_BITS, &AC_CHROMA_VALUES),
    ];
    let mut comps = [
        Component {
            quant: natural(&LUMA_QUANT_ZIGZAG),
            dc: &tables[0],
            ac: &tables[1],
            prev_dc: 0,
        },
        Component {
            quant: natural(&CHROMA_QUANT_ZIGZAG),
            dc: &tables[2],
            ac: &tables[3],
            prev_dc: 0,
        },
        Component {
            quant: natural(&CHROMA_QUANT_ZIGZAG),
            dc: &tables[2],
            ac: &tables[3],
            prev_dc: 0,
        },
    ];
    let mut bits = BitWriter {
        out: Vec::with_capacity(w * h / 2),
        acc: 0,
        n: 0,
    };
    let mut block = [0f32; 64];
    for my in (0..ph).step_by(16) {
        for mx in (0..pw).step_by(16) {
            for (bx, by) in [(0, 0), (8, 0), (0, 8), (8, 8)] {
                for y in 0..8 {
                    for x in 0..8 {
                        block[y * 8 + x] = planes[0][(my + by + y) * pw + mx + bx + x];
                    }
                }
                comps[0].encode(&block, &cos, &mut bits);
            }
            for c in 1..3 {
                // 2x2 averages (h2v2 downsampling).
                for y in 0..8 {
                    for x in 0..8 {
                        let at = |dx: usize, dy: usize| {
                            planes[c][(my + 2 * y + dy) * pw + mx + 2 * x + dx]
                        };
                        block[y * 8 + x] = (at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4.0;
                    }
                }
                comps[c].encode(&block, &cos, &mut bits);
            }
        }
    }
    let mut out = vec![0xFF, 0xD8];
    segment(
        &mut out,
        0xE0,
        b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    );
    for (id, table) in [(0u8, &LUMA_QUANT_ZIGZAG), (1, &CHROMA_QUANT_ZIGZAG)] {
        let mut body = vec![id];
        body.extend_from_slice(table);
        segment(&mut out, 0xDB, &body);
    }
    let (hw, hh) = ((w as u16).to_be_bytes(), (h as u16).to_be_bytes());
    segment(
        &mut out,
        0xC0,
        &[
            8, hh[0], hh[1], hw[0], hw[1], 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
        ],
    );
    dht(&mut out, 0x00, &DC_LUMA_BITS, &DC_LUMA_VALUES);
    dht(&mut out, 0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES);
    dht(&mut out, 0x01, &DC_CHROMA_BITS, &DC_CHROMA_VALUES);
    dht(&mut out, 0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES);
    segment(&mut out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
    out.extend_from_slice(&bits.finish());
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_codes_follow_annex_c() {
        let dc = Huffman::new(&DC_LUMA_BITS, &DC_LUMA_VALUES);
        // Category 0 is the one 2-bit code 00; categories 1-5 are 3-bit 010..110.
        assert_eq!(dc.codes[0], (0b00, 2));
        assert_eq!(dc.codes[1], (0b010, 3));
        assert_eq!(dc.codes[5], (0b110, 3));
        assert_eq!(dc.codes[6], (0b1110, 4));
        let ac = Huffman::new(&AC_LUMA_BITS, &AC_LUMA_VALUES);
        assert_eq!(ac.codes[0x00], (0b1010, 4), "EOB");
        assert_eq!(ac.codes[0xF0], (0b111_1111_1001, 11), "ZRL");
    }

    #[test]
    fn magnitudes_and_byte_stuffing() {
        assert_eq!(magnitude(0), (0, 0));
        assert_eq!(magnitude(-1), (1, 0));
        assert_eq!(magnitude(5), (3, 5));
        assert_eq!(magnitude(-5), (3, 2));
        let mut w = BitWriter {
            out: Vec::new(),
            acc: 0,
            n: 0,
        };
        w.put(0xFF, 8);
        w.put(0b1, 1);
        assert_eq!(w.finish(), vec![0xFF, 0x00, 0xFF, 0x00]);
    }

    #[test]
    fn a_gradient_encodes_byte_for_byte_as_pil_does() {
        let mut rgb = Vec::new();
        for y in 0..64u32 {
            for x in 0..96u32 {
                rgb.extend_from_slice(&[(x * 2) as u8, (y * 4) as u8, 100]);
            }
        }
        let pil = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/datasets/pil_gradient_96x64.jpg"
        ))
        .unwrap();
        assert_eq!(jpeg_rgb(96, 64, &rgb), pil);
    }

    #[test]
    fn random_pixels_compress_like_pils_jpeg() {
        use rand::{Rng, SeedableRng};
        let mut px = vec![0u8; 256 * 256 * 3];
        rand::rngs::StdRng::seed_from_u64(0).fill(&mut px[..]);
        let n = jpeg_rgb(256, 256, &px).len();
        // PIL 13 writes 39,985 and 39,955 bytes for two draws of 256x256 random pixels.
        assert!((39_000..41_000).contains(&n), "{n} bytes");
    }

    #[test]
    fn a_flat_grey_image_is_tiny_and_well_formed() {
        let jpeg = jpeg_rgb(17, 9, &[128u8; 17 * 9 * 3]);
        assert_eq!(&jpeg[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        // SOF0 after SOI, APP0 (18) and two DQT (69 each): height 9, width 17.
        let sof = 2 + 18 + 69 * 2;
        assert_eq!(&jpeg[sof..sof + 2], &[0xFF, 0xC0]);
        assert_eq!(&jpeg[sof + 5..sof + 9], &[0, 9, 0, 17]);
    }
}
