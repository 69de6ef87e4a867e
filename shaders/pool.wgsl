// 2-D pooling (issue 12), NCHW float32, and two helpers of convolutional models:
//   max_forward   one invocation per output: PyTorch's max (windows clipped to the input, the
//                 running max starts at −inf on the window's first cell inside, a larger value or
//                 a NaN takes over), y and argmax (flat index into x)
//   max_backward  one invocation per plane, adding gy at argmax for outputs [o0, o0 + ob) of its
//                 plane in order (gx cleared first): deterministic, no atomics; an argmax outside
//                 its plane is skipped (the device cannot throw; js/native refuse it)
//   gather_flat   y[i] = x[idx[i]] (x may be bound in chunks; an index outside [0, n) gives NaN)
//   avg_forward   window sum / (KH·KW) (count_include_pad)
//   avg_backward  one invocation per input, gathering gy / (KH·KW) over the windows containing it
//   channel_sum   one workgroup per channel: Σ over samples [n0, n0 + nb) and positions, tree-reduced
// Outputs [first, first + count) of the whole tensor per dispatch; *Base is the first element of
// each bound range (tiling past the storage-binding cap). Every loop is a window side (≤ 65 535),
// ob ≤ the loop chunk, or ⌈nb·HW / 256⌉ ≤ the loop chunk.
//!include common

struct Params {
  count: u32,
  first: u32,
  C: u32,
  H: u32,
  W: u32,
  OH: u32,
  OW: u32,
  KH: u32,
  KW: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  o0: u32,
  ob: u32,
  n: u32,
  x0: u32,
  xn: u32,
  n0: u32,
  nb: u32,
  accumulate: u32,
  xBase: u32,
  yBase: u32,
  aBase: u32,
  gBase: u32,
  iBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> am: array<i32>;
@group(0) @binding(4) var<storage, read> idx: array<i32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> amOut: array<i32>;
@group(0) @binding(7) var<storage, read_write> gx: array<f32>;

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Rows [lo, hi) of the window of output o along one axis, clipped to [0, size).
fn window(o: u32, stride: u32, pad: u32, k: u32, size: u32) -> vec2<u32> {
  let start = i32(o * stride) - i32(pad);
  let lo = u32(max(start, 0));
  let hi = u32(min(start + i32(k), i32(size)));
  return vec2<u32>(lo, max(lo, hi));
}

@compute @workgroup_size(256)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let OP = p.OH * p.OW;
  let plane = gi / OP;
  let r = gi % OP;
  let wy = window(r / p.OW, p.sh, p.ph, p.KH, p.H);
  let wx = window(r % p.OW, p.sw, p.pw, p.KW, p.W);
  let base = plane * p.H * p.W;
  var negInf = 0xff800000u; // a var: WGSL rejects infinities in constant expressions
  var best = bitcast<f32>(negInf);
  var at = wy.x * p.W + wx.x;
  var sawNan = false;
  for (var iy = wy.x; iy < wy.y; iy++) {
    for (var ix = wx.x; ix < wx.y; ix++) {
      let v = x[base + iy * p.W + ix - p.xBase];
      // NaN tested on its bits, and never compared: a shader compiler may assume there are none.
      if (is_nan(v)) {
        best = v;
        at = iy * p.W + ix;
        sawNan = true;
      } else if (!sawNan && v > best) {
        best = v;
        at = iy * p.W + ix;
      }
    }
  }
  y[gi - p.yBase] = best;
  amOut[gi - p.aBase] = i32(base + at);
}

@compute @workgroup_size(64)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 64u);
  if (i >= p.count) { return; }
  let plane = p.first + i;
  let OP = p.OH * p.OW;
  let HW = p.H * p.W;
  let lo = plane * HW;
  for (var r = p.o0; r < p.o0 + p.ob; r++) {
    let o = plane * OP + r;
    let a = am[o - p.aBase];
    if (a < i32(lo) || a >= i32(lo + HW)) { continue; }
    let at = u32(a) - p.xBase;
    gx[at] = gx[at] + gy[o - p.gBase];
  }
}

@compute @workgroup_size(256)
fn gather_flat(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let src = idx[gi - p.iBase];
  if (src < 0 || u32(src) >= p.n) {
    if (p.x0 == 0u) {
      var nanBits = 0x7fc00000u; // a var: WGSL rejects NaN in constant expressions
      y[gi - p.yBase] = bitcast<f32>(nanBits);
    }
    return;
  }
  let s = u32(src);
  if (s >= p.x0 && s < p.x0 + p.xn) { y[gi - p.yBase] = x[s - p.xBase]; }
}

@compute @workgroup_size(256)
fn avg_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let OP = p.OH * p.OW;
  let plane = gi / OP;
  let r = gi % OP;
  let wy = window(r / p.OW, p.sh, p.ph, p.KH, p.H);
  let wx = window(r % p.OW, p.sw, p.pw, p.KW, p.W);
  let base = plane * p.H * p.W;
  var s = 0.0;
  for (var iy = wy.x; iy < wy.y; iy++) {
    for (var ix = wx.x; ix < wx.y; ix++) { s += x[base + iy * p.W + ix - p.xBase]; }
  }
  y[gi - p.yBase] = s / f32(p.KH * p.KW);
}

// Outputs [lo, hi) along one axis whose window o·stride − pad + [0, k) contains input i.
fn windows_of(i: u32, out: u32, stride: u32, pad: u32, k: u32) -> vec2<u32> {
  let t = i + pad;
  var lo = 0u;
  if (t >= k) { lo = (t - k) / stride + 1u; }
  let hi = min(t / stride + 1u, out);
  lo = min(lo, out);
  return vec2<u32>(lo, max(lo, hi));
}

@compute @workgroup_size(256)
fn avg_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let HW = p.H * p.W;
  let plane = gi / HW;
  let r = gi % HW;
  let oy = windows_of(r / p.W, p.OH, p.sh, p.ph, p.KH);
  let ox = windows_of(r % p.W, p.OW, p.sw, p.pw, p.KW);
  let base = plane * p.OH * p.OW;
  var s = 0.0;
  for (var a = oy.x; a < oy.y; a++) {
    for (var b = ox.x; b < ox.y; b++) { s += gy[base + a * p.OW + b - p.gBase]; }
  }
  gx[gi - p.xBase] = s / f32(p.KH * p.KW);
}

var<workgroup> red: array<f32, 256>;

// One workgroup per channel c: out[c] = (out[c] if accumulate) + Σ_{n0 ≤ n < n0 + nb, j < HW} gy[n, c, j].
@compute @workgroup_size(256)
fn channel_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= p.C) { return; } // the whole workgroup: barriers stay uniform
  let HW = p.H * p.W;
  let total = p.nb * HW;
  var s = 0.0;
  for (var k = lid; k < total; k += 256u) {
    s += gy[((p.n0 + k / HW) * p.C + c) * HW + k % HW - p.gBase];
  }
  red[lid] = s;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half = half >> 1u) {
    if (lid < half) { red[lid] = red[lid] + red[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var v = red[0];
    if (p.accumulate != 0u) { v += y[c]; }
    y[c] = v;
  }
}
