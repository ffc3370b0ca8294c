// A test fixture holding the bert-dev (F16) embedder and its llama.cpp golden outputs; skips without ../shared.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "backends/backend.h"
#include "models/bert_golden.h"
#include "runtime/embedder.h"
#include "test_util.h"

namespace hearth::test {

class BertEmbedderFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    golden_ = load_bert_golden("f16");
    backend_ = make_cpu_backend(2);
    embedder_ = std::make_unique<Embedder>(Weights::open(golden_.model_path), *backend_);
  }
  EmbeddingGolden golden_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Embedder> embedder_;
};

}  // namespace hearth::test
