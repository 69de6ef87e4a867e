// The fused training step of an MLP with mean softmax cross-entropy: for every mini-batch of a
// call, gather the rows, forward (bias + activation in the GEMM epilogue), per-sample loss,
// backward, and the optimizer update of every parameter (in the epilogue of its weight-gradient
// GEMM, while the gradient block is in cache; the gradient of layer l's input is computed first,
// with the weights it needs still unchanged). The same algebra and optimizer maths as
// src/model/mlp.ts + src/train/optimizer.ts composed from kernels, without the kernel calls, the
// temporaries and the passes over gradient tensors. Scratch lives in a TrainWorkspace the caller
// owns (one per call site; never used by two calls at once).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace riverbed {

struct TrainLayer {
  int act;           // -1: linear; else an Act code (elementwise.h)
  int in, out;       // linear: weight [out, in]; activation: in == out
  float* weight;     // linear only
  float* bias;       // linear only; null when the layer has none
  float* wstate[2];  // optimizer state of the weight: velocity (SGD), or m then v (Adam/AdamW)
  float* bstate[2];  // the same for the bias
};

enum class TrainOpt { sgd = 0, adam = 1, adamw = 2 };

struct TrainArgs {
  std::vector<TrainLayer> layers;  // the last one linear (the logits)
  const float* x;                  // inputs [M, layers[0].in]
  const int32_t* rows;             // the n rows of x trained on, in order, every one in [0, M)
  const int32_t* labels;           // label of each of those n rows, every one in [0, classes)
  size_t M, n;
  size_t batch;                    // mini-batch size; the last batch of the call may be shorter
  const double* lr;                // learning rate of each step (ceil(n / batch) of them)
  TrainOpt opt;
  double wd, momentum;
  bool nesterov;
  double beta1, beta2, eps;
  double step0;                    // optimizer steps taken before this call (Adam bias correction)
  float* loss;                     // [n]: each sample's loss, before the update of its batch
};

// Scratch of one call site, grown to the largest batch it has seen and reused.
struct TrainWorkspace {
  std::vector<float> f;
  std::atomic<bool> busy{false};  // set while a call runs on it (a second concurrent call is refused)
};

// Runs every step of the call; returns the sum of the per-sample losses (in double).
double mlp_train_steps(const TrainArgs& a, TrainWorkspace& ws);

}  // namespace riverbed
