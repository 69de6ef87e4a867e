// Per-class top-k for coreset selection (src/coreset/select.ts topPerClass): the k_c best samples
// of every class by score, descending, ties by sample index ascending, NaN last, −0 equal to +0;
// grouped by class ascending, within a class by rank. The CLI selects once per process, where the
// TypeScript version runs its passes over N samples on a cold JIT (~5× slower than here).
//
// The same shape as the TypeScript: a histogram of a monotone bucket of the score per class finds
// each class's boundary bucket, only samples at or above it become candidates (memory stays
// O(candidates), not O(N)), and nth_element + sort order the candidates exactly by
// (key, index) packed in one uint64 — a total order, so the result is the TypeScript's bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "registry.h"

namespace riverbed {
namespace {

// A float → uint32 whose ascending order is the float's descending order (NaN last, −0 = +0):
// select.ts descendingKey.
inline uint32_t descending_key(float s) {
  if (s != s) return 0xFFFFFFFFu;
  if (s == 0.f) return 0x7FFFFFFFu;
  uint32_t u;
  std::memcpy(&u, &s, 4);
  return (u & 0x80000000u) ? u : (~u & 0x7FFFFFFFu);
}

// topPerClass(plan {n, classes, capacity}, scores f32[n], labels i32[n], k i32[classes], out i32[capacity])
// → the number of indices written, Σ min(k_c, n_c), which must fit the capacity.
Napi::Value TopPerClass(const Napi::CallbackInfo& info) {
  GenericArgs a(info, 4);
  const size_t n = a.dim("n"), C = a.dim("classes"), capacity = a.dim("capacity");
  if (C < 1 || C > 2147483647u) a.range("plan.classes must be in [1, 2^31)");
  if (n > 2147483647u) a.range("plan.n must be below 2^31 (sample indices are int32)");
  const float* s = a.f32(0, n);
  const int32_t* lab = a.i32(1, n);
  const int32_t* k = a.i32(2, C);
  for (size_t c = 0; c < C; c++) {
    if (k[c] < 0) a.range("k[" + std::to_string(c) + "] is " + std::to_string(k[c]) + "; expected >= 0");
  }
  // select.ts's buckets: B per class, score s → floor((1 − s)·B/2), clamped, NaN in the last.
  const int B = (int)std::max<size_t>(8, std::min<size_t>(512, (size_t(1) << 22) / C));
  const double half = B / 2.0;
  auto bucket = [&](float v) {
    const double b = std::floor((1.0 - (double)v) * half);
    if (!(b >= 0)) return v != v ? B - 1 : 0;
    return b >= B ? B - 1 : (int)b;
  };
  std::vector<int32_t> hist(C * (size_t)B, 0);
  for (size_t i = 0; i < n; i++) {
    const int32_t y = lab[i];
    if (y < 0 || (size_t)y >= C) a.range("labels[" + std::to_string(i) + "] is " + std::to_string(y) + "; expected 0.." + std::to_string(C - 1));
    hist[(size_t)y * B + bucket(s[i])]++;
  }
  std::vector<int32_t> bound(C), want(C);
  std::vector<size_t> start(C + 1, 0);
  size_t total = 0;
  for (size_t c = 0; c < C; c++) {
    const int32_t* h = hist.data() + c * B;
    size_t nc = 0;
    for (int b = 0; b < B; b++) nc += (size_t)h[b];
    want[c] = (int32_t)std::min<size_t>((size_t)k[c], nc);
    total += (size_t)want[c];
    size_t len = 0;
    if (want[c] == 0) {
      bound[c] = -1;
    } else {
      int b = 0;
      while (len + (size_t)h[b] < (size_t)want[c]) len += (size_t)h[b++];
      bound[c] = b;
      len += (size_t)h[b];
    }
    start[c + 1] = start[c] + len;
  }
  int32_t* out = a.i32(3, capacity);
  if (total > capacity) a.range("the selection has " + std::to_string(total) + " samples; out holds only " + std::to_string(capacity));
  std::vector<uint64_t> cand(start[C]);
  std::vector<size_t> fill(start.begin(), start.end() - 1);
  for (size_t i = 0; i < n; i++) {
    const int32_t c = lab[i];
    if (bucket(s[i]) <= bound[c]) cand[fill[c]++] = (uint64_t)descending_key(s[i]) << 32 | (uint64_t)i;
  }
  size_t at = 0;
  for (size_t c = 0; c < C; c++) {
    uint64_t* first = cand.data() + start[c];
    uint64_t* last = cand.data() + start[c + 1];
    const size_t m = (size_t)want[c];
    if (m == 0) continue;
    if (first + m < last) std::nth_element(first, first + m, last);  // the m smallest to the front
    std::sort(first, first + m);
    for (size_t j = 0; j < m; j++) out[at + j] = (int32_t)(uint32_t)first[j];
    at += m;
  }
  return Napi::Number::New(info.Env(), (double)total);
}
RIVERBED_EXPORT("topPerClass", TopPerClass);

}  // namespace
}  // namespace riverbed
