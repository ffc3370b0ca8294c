// open_decoder: every model opened in a process runs on the one backend of its device, so two models share one
// thread pool instead of two pools competing for the same cores.
#include "runtime/session.h"

#include <gtest/gtest.h>

#include <string>

#include "backends/registry.h"
#include "core/error.h"
#include "error_kind_util.h"
#include "test_util.h"

namespace hearth {
namespace {

TEST(DecoderSessionTest, ModelsShareTheProcessBackend) {
  HEARTH_REQUIRE_SHARED();
  const std::string path = test::shared_dir() + "/models/stories260K.gguf";
  // One thread, as the other runtime tests ask: in one process every explicit count must agree.
  DecoderSession a = open_decoder(path, 1);
  DecoderSession b = open_decoder(path, 0);  // 0: whatever the process backend runs
  EXPECT_EQ(a.backend.get(), b.backend.get());
  EXPECT_EQ(a.backend.get(), shared_backend().get());
  EXPECT_EQ(b.backend->threads(), 1);
  // Both models run on it: a cache of one is a cache of the backend the other uses too.
  auto cache = b.model->new_cache(32);
  EXPECT_EQ(&cache->backend(), a.backend.get());
}

TEST(DecoderSessionTest, ErrorKinds) {
  EXPECT_EQ(test::thrown_kind([] { open_decoder("/nonexistent/hearth/model.gguf"); }),
            to_string(ErrorKind::kNotFound));
  EXPECT_EQ(test::thrown_kind([] { open_decoder("/nonexistent/hearth/model.gguf", -1); }),
            to_string(ErrorKind::kInvalidArgument));
}

}  // namespace
}  // namespace hearth
