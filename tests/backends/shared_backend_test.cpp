// The process-wide backend registry: one backend (and so one thread pool) per device, the same instance for
// every caller and every thread, and an explicit thread count that disagrees with it refused, not ignored.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "backends/registry.h"
#include "core/error.h"
#include "error_kind_util.h"
#include "test_util.h"

namespace hearth {
namespace {

TEST(SharedBackendTest, ConcurrentFirstCallsGetOneInstance) {
  constexpr int kCallers = 8;
  std::vector<Backend*> got(kCallers, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) threads.emplace_back([&got, i] { got[i] = shared_backend().get(); });
  for (auto& t : threads) t.join();
  ASSERT_NE(got[0], nullptr);
  for (Backend* b : got) EXPECT_EQ(b, got[0]);
  // "auto" resolves to the CPU, so both names are one backend.
  EXPECT_EQ(shared_backend("cpu").get(), got[0]);
  EXPECT_EQ(shared_backend("auto", 0).get(), got[0]);
}

TEST(SharedBackendTest, ExplicitThreadCountMustMatch) {
  const std::shared_ptr<Backend> b = shared_backend();
  const int n = b->threads();
  EXPECT_EQ(shared_backend("auto", n).get(), b.get());
  try {
    shared_backend("auto", n + 1);
    FAIL() << "a second thread count was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::to_string(n) + " threads"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(n + 1)), std::string::npos) << msg;
  }
  EXPECT_EQ(shared_backend().get(), b.get());  // the refusal changed nothing
}

TEST(SharedBackendTest, PrivateBackendsStayPrivate) {
  const std::unique_ptr<Backend> mine = create_backend("cpu", 1);
  EXPECT_NE(mine.get(), shared_backend().get());
  EXPECT_EQ(mine->threads(), 1);
}

TEST(SharedBackendTest, BadRequestsHaveKinds) {
  EXPECT_EQ(test::thrown_kind([] { shared_backend("tpu"); }), to_string(ErrorKind::kInvalidArgument));
  EXPECT_EQ(test::thrown_kind([] { shared_backend("cuda"); }), to_string(ErrorKind::kUnsupported));
  EXPECT_EQ(test::thrown_kind([] { shared_backend("cpu", -1); }), to_string(ErrorKind::kInvalidArgument));
  EXPECT_EQ(test::thrown_kind([] { create_backend("cpu", -1); }), to_string(ErrorKind::kInvalidArgument));
}

}  // namespace
}  // namespace hearth
