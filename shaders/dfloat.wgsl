// Double-float ("hi + lo" pairs of f32) helpers, prepended with `//!include dfloat`.
// Error-free transformations only survive the shader compiler if it cannot see that a
// product like (a + b) − a simplifies: Mesa's NIR folds inexact float algebra and folds
// TwoSum's error term to 0. Multiplying by the uniforms one_a = one_b = 1.0 (unknown at
// compile time, exact at run time) keeps every step as written. Each including family
// declares `one_a` and `one_b` in its Params struct and a `p: Params` uniform.

// a + b = s + e exactly (Knuth's TwoSum, no precondition).
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  let sa = s * p.one_a;
  let sb = s * p.one_b;
  let bb = sa - a;
  let e = (a - (sb - bb)) + (b - bb);
  return vec2<f32>(s, e);
}
// Same on four lanes.
fn two_sum4(a: vec4<f32>, b: vec4<f32>, s: ptr<function, vec4<f32>>, e: ptr<function, vec4<f32>>) {
  let t = a + b;
  let ta = t * p.one_a;
  let tb = t * p.one_b;
  let bb = ta - a;
  *s = t;
  *e = (a - (tb - bb)) + (b - bb);
}
// a + b = s + e exactly when |a| ≥ |b| (Fast2Sum).
fn fast_two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  let z = s * p.one_a - a;
  return vec2<f32>(s, b - z);
}
// (hi, lo) + (hi, lo), relative error ~2⁻⁴⁴.
fn df_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let s = two_sum(a.x, b.x);
  let e = s.y + (a.y + b.y);
  return fast_two_sum(s.x, e);
}
fn df_add1(a: vec2<f32>, v: f32) -> vec2<f32> {
  let s = two_sum(a.x, v);
  return fast_two_sum(s.x, s.y + a.y);
}
