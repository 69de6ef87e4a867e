// 2-D convolution (issue 12), NCHW float32, as three implicit GEMMs over workgroup-memory tiles:
//   forward             y[n, o, p]      = Σ_k w[o, k] · col_n[k, p]          rows o,  columns (n, p)
//   input_grad          gx[n, c, i]     = Σ_(o,ky,kx) w[o, c, ky, kx] · gy   rows c,  columns (n, iy, ix)
//   weight_grad         part[o, k]      = Σ_(n,p) gy[n, o, p] · col_n[k, p]  rows o,  columns k = (c, ky, kx)
//   weight_grad_finish  gw = (gw +) Σ_slot part[slot]                      (fixed order: deterministic)
// col_n is never stored: each tile gathers it from x (zero outside the input). A workgroup of
// 16 × 16 invocations computes a 32 × 64 tile of its output, 2 × 4 per invocation, staging 16-deep
// slices of both operands in workgroup memory. The K loop runs ⌈kb / 16⌉ ≤ the runtime's loop
// chunk times (lavapipe stops loops at 65 535 iterations); longer K accumulates over dispatches
// (forward, input_grad: accumulate = 1) or lands in separate partial slots (weight_grad).
// *Base is the first element of each bound range (tiling past the storage-binding cap); n0 / nb
// the sample block of the dispatch.
struct Params {
  n0: u32,
  nb: u32,
  C: u32,
  H: u32,
  W: u32,
  O: u32,
  KH: u32,
  KW: u32,
  OH: u32,
  OW: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  k0: u32,
  kb: u32,
  accumulate: u32,
  hasBias: u32,
  xBase: u32,
  wBase: u32,
  gBase: u32,
  biasBase: u32,
  outBase: u32,
  count: u32,
  slots: u32,
  slot: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> gx: array<f32>;
@group(0) @binding(7) var<storage, read_write> part: array<f32>;
@group(0) @binding(8) var<storage, read_write> gw: array<f32>;

// Operand tiles: as_t[kk * 32 + row], bs_t[kk * 64 + col].
var<workgroup> as_t: array<f32, 512>;
var<workgroup> bs_t: array<f32, 1024>;

// x[n, c, iy, ix], 0 outside the input (the zero padding).
fn x_at(n: u32, c: u32, iy: i32, ix: i32) -> f32 {
  if (iy < 0 || ix < 0 || iy >= i32(p.H) || ix >= i32(p.W)) { return 0.0; }
  return x[((n * p.C + c) * p.H + u32(iy)) * p.W + u32(ix) - p.xBase];
}

// The 2 × 4 products of one staged 16-deep slice, added to acc (rows 2·ly + i, columns lx + 16·j).
fn mac(acc: ptr<function, array<f32, 8>>, lx: u32, ly: u32) {
  for (var kk = 0u; kk < 16u; kk++) {
    let a0 = as_t[kk * 32u + ly * 2u];
    let a1 = as_t[kk * 32u + ly * 2u + 1u];
    for (var j = 0u; j < 4u; j++) {
      let b = bs_t[kk * 64u + lx + 16u * j];
      (*acc)[j] += a0 * b;
      (*acc)[4u + j] += a1 * b;
    }
  }
}

@compute @workgroup_size(16, 16)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let P = p.OH * p.OW;
  let KK = p.KH * p.KW;
  let CKK = p.C * KK;
  let cols = p.nb * P;
  let row0 = wid.y * 32u;
  let col0 = wid.x * 64u;
  let kEnd = p.k0 + p.kb;
  var acc: array<f32, 8>;
  for (var t = 0u; t < (p.kb + 15u) / 16u; t++) {
    let kt = p.k0 + t * 16u;
    for (var s = 0u; s < 2u; s++) {
      let e = li + 256u * s;
      let r = e / 16u;
      let kk = e % 16u;
      var v = 0.0;
      if (row0 + r < p.O && kt + kk < kEnd) { v = w[(row0 + r) * CKK + kt + kk - p.wBase]; }
      as_t[kk * 32u + r] = v;
    }
    for (var s = 0u; s < 4u; s++) {
      let e = li + 256u * s;
      let kk = e / 64u;
      let cc = e % 64u;
      let q = col0 + cc;
      let k = kt + kk;
      var v = 0.0;
      if (q < cols && k < kEnd) {
        let n = p.n0 + q / P;
        let pp = q % P;
        let rr = k % KK;
        v = x_at(n, k / KK, i32((pp / p.OW) * p.sh + rr / p.KW) - i32(p.ph), i32((pp % p.OW) * p.sw + rr % p.KW) - i32(p.pw));
      }
      bs_t[kk * 64u + cc] = v;
    }
    workgroupBarrier();
    mac(&acc, lid.x, lid.y);
    workgroupBarrier();
  }
  for (var i = 0u; i < 2u; i++) {
    let o = row0 + lid.y * 2u + i;
    if (o >= p.O) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let q = col0 + lid.x + 16u * j;
      if (q >= cols) { continue; }
      let at = ((p.n0 + q / P) * p.O + o) * P + q % P - p.outBase;
      var v = acc[i * 4u + j];
      if (p.accumulate != 0u) {
        v += y[at];
      } else if (p.hasBias != 0u) {
        v += bias[o - p.biasBase];
      }
      y[at] = v;
    }
  }
}

@compute @workgroup_size(16, 16)
fn input_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let P = p.OH * p.OW;
  let HW = p.H * p.W;
  let KK = p.KH * p.KW;
  let cols = p.nb * HW;
  let row0 = wid.y * 32u;
  let col0 = wid.x * 64u;
  let kEnd = p.k0 + p.kb;
  var acc: array<f32, 8>;
  for (var t = 0u; t < (p.kb + 15u) / 16u; t++) {
    let kt = p.k0 + t * 16u;
    // A = wᵀ: row c, k = (o, ky, kx).
    for (var s = 0u; s < 2u; s++) {
      let e = li + 256u * s;
      let r = e / 16u;
      let kk = e % 16u;
      let k = kt + kk;
      var v = 0.0;
      if (row0 + r < p.C && k < kEnd) { v = w[((k / KK) * p.C + row0 + r) * KK + k % KK - p.wBase]; }
      as_t[kk * 32u + r] = v;
    }
    // B: gy[n, o, oy, ox] where oy·sh = iy + ph − ky (0 when no output reads this input with this tap).
    for (var s = 0u; s < 4u; s++) {
      let e = li + 256u * s;
      let kk = e / 64u;
      let cc = e % 64u;
      let q = col0 + cc;
      let k = kt + kk;
      var v = 0.0;
      if (q < cols && k < kEnd) {
        let n = p.n0 + q / HW;
        let pix = q % HW;
        let rr = k % KK;
        let ty = i32(pix / p.W + p.ph) - i32(rr / p.KW);
        let tx = i32(pix % p.W + p.pw) - i32(rr % p.KW);
        if (ty >= 0 && tx >= 0 && u32(ty) % p.sh == 0u && u32(tx) % p.sw == 0u) {
          let oy = u32(ty) / p.sh;
          let ox = u32(tx) / p.sw;
          if (oy < p.OH && ox < p.OW) { v = gy[(n * p.O + k / KK) * P + oy * p.OW + ox - p.gBase]; }
        }
      }
      bs_t[kk * 64u + cc] = v;
    }
    workgroupBarrier();
    mac(&acc, lid.x, lid.y);
    workgroupBarrier();
  }
  for (var i = 0u; i < 2u; i++) {
    let c = row0 + lid.y * 2u + i;
    if (c >= p.C) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let q = col0 + lid.x + 16u * j;
      if (q >= cols) { continue; }
      let at = ((p.n0 + q / HW) * p.C + c) * HW + q % HW - p.outBase;
      var v = acc[i * 4u + j];
      if (p.accumulate != 0u) { v += gx[at]; }
      gx[at] = v;
    }
  }
}

@compute @workgroup_size(16, 16)
fn weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let P = p.OH * p.OW;
  let KK = p.KH * p.KW;
  let CKK = p.C * KK;
  let row0 = wid.y * 32u;
  let col0 = wid.x * 64u;
  let kEnd = p.k0 + p.kb;
  var acc: array<f32, 8>;
  for (var t = 0u; t < (p.kb + 15u) / 16u; t++) {
    let kt = p.k0 + t * 16u;
    // A = gy: row o, k = (n, p) over the whole batch.
    for (var s = 0u; s < 2u; s++) {
      let e = li + 256u * s;
      let r = e / 16u;
      let kk = e % 16u;
      let k = kt + kk;
      var v = 0.0;
      if (row0 + r < p.O && k < kEnd) { v = gy[((k / P) * p.O + row0 + r) * P + k % P - p.gBase]; }
      as_t[kk * 32u + r] = v;
    }
    // B = col_nᵀ: k = (n, p), column (c, ky, kx).
    for (var s = 0u; s < 4u; s++) {
      let e = li + 256u * s;
      let kk = e / 64u;
      let cc = e % 64u;
      let j = col0 + cc;
      let k = kt + kk;
      var v = 0.0;
      if (j < CKK && k < kEnd) {
        let pp = k % P;
        let rr = j % KK;
        v = x_at(k / P, j / KK, i32((pp / p.OW) * p.sh + rr / p.KW) - i32(p.ph), i32((pp % p.OW) * p.sw + rr % p.KW) - i32(p.pw));
      }
      bs_t[kk * 64u + cc] = v;
    }
    workgroupBarrier();
    mac(&acc, lid.x, lid.y);
    workgroupBarrier();
  }
  for (var i = 0u; i < 2u; i++) {
    let o = row0 + lid.y * 2u + i;
    if (o >= p.O) { continue; }
    for (var jj = 0u; jj < 4u; jj++) {
      let j = col0 + lid.x + 16u * jj;
      if (j >= CKK) { continue; }
      part[p.slot * p.O * CKK + o * CKK + j - p.outBase] = acc[i * 4u + jj];
    }
  }
}

// gw[i] = (gw[i] if accumulate) + Σ_{s < slots} part[s·count + i], i < count (= O·C·KH·KW).
@compute @workgroup_size(256)
fn weight_grad_finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + li;
  if (i >= p.count) { return; }
  var v = 0.0;
  if (p.accumulate != 0u) { v = gw[i]; }
  for (var s = 0u; s < p.slots; s++) { v += part[s * p.count + i]; }
  gw[i] = v;
}
