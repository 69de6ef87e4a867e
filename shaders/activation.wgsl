// Activation functions and their derivatives, prepended with `//!include activation` (not a
// kernel family on its own). OP: 0 relu, 1 tanh, 2 sigmoid, 3 gelu (an override constant, so each
// activation is its own pipeline and the switch folds away).

override OP: u32 = 0u;

const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

// erfc(z) by Numerical Recipes' Chebyshev fit (erfcc): fractional error < 1.2e-7 everywhere,
// so Φ(x) = erfc(−x/√2)/2 keeps its relative accuracy far into the negative tail.
fn erfc_nr(z: f32) -> f32 {
  let az = abs(z);
  let t = 1.0 / (1.0 + 0.5 * az);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(-az * az + poly);
  return select(2.0 - r, r, z >= 0.0);
}

fn normal_cdf(v: f32) -> f32 {
  return 0.5 * erfc_nr(-v * INV_SQRT2);
}

fn tanh_acc(v: f32) -> f32 {
  let a = abs(v);
  if (a < 0.125) {
    let v2 = v * v;
    return v * (1.0 + v2 * (-0.33333333333 + v2 * (0.13333333333 + v2 * -0.053968253968)));
  }
  let e = exp(-2.0 * min(a, 20.0));
  return sign(v) * (1.0 - e) / (1.0 + e);
}

fn act(v: f32) -> f32 {
  switch OP {
    case 0u: { return select(0.0, v, v > 0.0); }
    case 1u: { return tanh_acc(v); }
    case 2u: {
      let e = exp(-abs(v));
      return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
    }
    default: { return v * normal_cdf(v); }
  }
}

// f'(v); relu'(0) = 0 as PyTorch. Tail-stable forms: tanh' = 4e/(1+e)², e = exp(−2|v|); σ' = e/(1+e)², e = exp(−|v|).
fn act_grad(v: f32) -> f32 {
  switch OP {
    case 0u: { return select(0.0, 1.0, v > 0.0); }
    case 1u: {
      let e = exp(-2.0 * abs(v));
      return 4.0 * e / ((1.0 + e) * (1.0 + e));
    }
    case 2u: {
      let e = exp(-abs(v));
      return e / ((1.0 + e) * (1.0 + e));
    }
    default: { return normal_cdf(v) + v * INV_SQRT_2PI * exp(-0.5 * v * v); }
  }
}

// f''(v), for the R-operator. ReLU's is 0 wherever it exists. Tail-stable: tanh'' = −2·tanh·tanh',
// σ'' = σ(1−σ)(1−2σ) = −σ'·tanh(v/2) (no 1 − 2σ cancellation near 0), GELU'' = φ(v)(2 − v²).
fn act_grad2(v: f32) -> f32 {
  switch OP {
    case 0u: { return 0.0; }
    case 1u: {
      let e = exp(-2.0 * abs(v));
      return -2.0 * tanh_acc(v) * (4.0 * e / ((1.0 + e) * (1.0 + e)));
    }
    case 2u: {
      let e = exp(-abs(v));
      return -(e / ((1.0 + e) * (1.0 + e))) * tanh_acc(0.5 * v);
    }
    default: { return INV_SQRT_2PI * exp(-0.5 * v * v) * (2.0 - v * v); }
  }
}
