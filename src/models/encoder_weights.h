// An encoder's weights prepared for a backend, each tensor checked against the shape the model expects.
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"
#include "formats/weights.h"

namespace hearth {

class EncoderWeights {
 public:
  EncoderWeights(Backend& backend, const Weights& weights) : backend_(backend), weights_(weights) {}

  Backend& backend() const { return backend_; }
  const Weights& weights() const { return weights_; }

  // A rows x cols matrix (GGUF ne = {cols, rows}) for products with batches of tokens (an encoder multiplies a
  // whole batch at once, and one sentence is already a few dozen tokens). Error naming the tensor when it is
  // missing or has another shape.
  std::unique_ptr<Matrix> matrix(const std::string& name, int64_t rows, int64_t cols) const {
    return backend_.prepare_matrix(weights_.get(name, {cols, rows}), Backend::MatrixUse::kBatchedProduct);
  }
  std::unique_ptr<Vector> vector(const std::string& name, int64_t n) const {
    return backend_.prepare_vector(weights_.get(name, {n}));
  }
  // Null when the file has no such tensor (an absent bias).
  std::unique_ptr<Vector> optional_vector(const std::string& name, int64_t n) const {
    return weights_.find(name) ? vector(name, n) : nullptr;
  }

 private:
  Backend& backend_;
  const Weights& weights_;
};

}  // namespace hearth
