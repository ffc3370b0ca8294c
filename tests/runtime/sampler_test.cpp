#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"

namespace hearth {
namespace {

SamplerOptions no_filters(float temp) {
  SamplerOptions o;
  o.temperature = temp;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  return o;
}

std::map<int32_t, int> histogram(Sampler& s, const std::vector<float>& logits, int n) {
  std::map<int32_t, int> h;
  for (int i = 0; i < n; ++i) ++h[s.sample(logits)];
  return h;
}

TEST(Sampler, GreedyTakesTheHighestLogitAndTheLowestIdOnTies) {
  Sampler s(SamplerOptions::greedy());
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.0f, -2.0f, 2.9f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 5.0f, 5.0f, 5.0f}), 1);
  EXPECT_EQ(argmax(std::vector<float>{7.0f, 7.0f}), 0);
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[size_t(i)] = std::sin(float(i)) * 2.0f;
  auto run = [&](uint64_t seed) {
    SamplerOptions o = no_filters(1.0f);
    o.seed = seed;
    Sampler s(o);
    std::vector<int32_t> ids;
    for (int i = 0; i < 50; ++i) ids.push_back(s.sample(logits));
    return ids;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
  // reset() restarts the random sequence.
  SamplerOptions o = no_filters(1.0f);
  o.seed = 7;
  Sampler s(o);
  const int32_t a = s.sample(logits);
  s.reset();
  EXPECT_EQ(s.sample(logits), a);
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  // p = (0.25, 0.75) at temperature 1; (0.5, 0.5) at a huge temperature.
  Sampler s(no_filters(1.0f));
  auto h = histogram(s, {0.0f, std::log(3.0f)}, 8000);
  EXPECT_NEAR(h[1] / 8000.0, 0.75, 0.03);
  Sampler hot(no_filters(1000.0f));
  h = histogram(hot, {0.0f, std::log(3.0f)}, 8000);
  EXPECT_NEAR(h[1] / 8000.0, 0.5, 0.03);
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplerOptions o = no_filters(5.0f);
  o.top_k = 2;
  Sampler s(o);
  auto h = histogram(s, {1.0f, 3.0f, 2.0f, 0.5f}, 2000);
  EXPECT_EQ(h.count(0) + h.count(3), 0u);
  EXPECT_GT(h[1], 0);
  EXPECT_GT(h[2], 0);
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  // p = 0.5, 0.3, 0.2: top-p 0.7 keeps {0, 1} (0.5 < 0.7 <= 0.8), renormalized to 0.625 / 0.375.
  SamplerOptions o = no_filters(1.0f);
  o.top_p = 0.7f;
  Sampler s(o);
  auto h = histogram(s, {std::log(0.5f), std::log(0.3f), std::log(0.2f)}, 8000);
  EXPECT_EQ(h.count(2), 0u);
  EXPECT_NEAR(h[0] / 8000.0, 0.625, 0.03);
  o.top_p = 0.5f;  // exactly reached by the first token
  Sampler one(o);
  h = histogram(one, {std::log(0.5f), std::log(0.3f), std::log(0.2f)}, 500);
  EXPECT_EQ(h[0], 500);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheBest) {
  SamplerOptions o = no_filters(1.0f);
  o.min_p = 0.5f;  // keeps p >= 0.25 when the best has 0.5
  Sampler s(o);
  auto h = histogram(s, {std::log(0.5f), std::log(0.3f), std::log(0.2f)}, 4000);
  EXPECT_EQ(h.count(2), 0u);
  EXPECT_GT(h[1], 0);
}

TEST(Sampler, RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplerOptions o = SamplerOptions::greedy();
  o.repeat_penalty = 2.0f;
  Sampler s(o);
  const std::vector<float> logits = {2.0f, -1.0f, 1.9f};
  EXPECT_EQ(s.sample(logits), 0);
  s.accept(0);  // 2.0 -> 1.0 < 1.9
  EXPECT_EQ(s.sample(logits), 2);
  // A negative logit must go down: -1 -> -2, so token 1 stays last even when 0 and 2 are penalized too.
  SamplerOptions o2 = SamplerOptions::greedy();
  o2.repeat_penalty = 2.0f;
  Sampler t(o2);
  for (int32_t id : {0, 1, 2}) t.accept(id);
  EXPECT_EQ(t.sample(std::vector<float>{-0.9f, -0.5f, -1.5f}), 1);  // -1.8, -1.0, -3.0
}

TEST(Sampler, FrequencyAndPresencePenaltiesSubtract) {
  const std::vector<float> logits = {2.0f, 0.0f, 1.9f};
  SamplerOptions o = SamplerOptions::greedy();
  o.frequency_penalty = 0.04f;
  Sampler f(o);
  f.accept(0);
  f.accept(0);
  EXPECT_EQ(f.sample(logits), 0);  // 2.0 - 2 * 0.04 = 1.92 > 1.9
  o.presence_penalty = 0.5f;
  Sampler p(o);
  p.accept(0);
  p.accept(0);
  EXPECT_EQ(p.sample(logits), 2);  // 1.92 - 0.5 = 1.42 < 1.9
}

TEST(Sampler, PenaltiesOnlySeeTheLastNTokens) {
  SamplerOptions o = SamplerOptions::greedy();
  o.repeat_penalty = 2.0f;
  o.penalty_last_n = 1;
  Sampler s(o);
  s.accept(0);
  s.accept(1);  // pushes 0 out of the window
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 0.0f, 1.9f}), 0);
}

TEST(Sampler, NonFiniteLogitsDoNotBreakIt) {
  Sampler s(no_filters(1.0f));
  const float nan = std::nanf("");
  EXPECT_EQ(s.sample(std::vector<float>{nan, 1.0f, nan}), 1);
  const int32_t id = s.sample(std::vector<float>{nan, nan});
  EXPECT_TRUE(id == 0 || id == 1);
  EXPECT_EQ(s.sample(std::vector<float>{-INFINITY, INFINITY}), 1);
  EXPECT_THROW(s.sample(std::vector<float>{}), Error);
}

TEST(Sampler, RejectsBadOptions) {
  SamplerOptions o;
  o.temperature = -1;
  EXPECT_THROW(Sampler{o}, Error);
  o = SamplerOptions();
  o.top_p = 1.5f;
  EXPECT_THROW(Sampler{o}, Error);
  o = SamplerOptions();
  o.repeat_penalty = 0;
  EXPECT_THROW(Sampler{o}, Error);
  o = SamplerOptions();
  o.min_p = std::nanf("");
  EXPECT_THROW(Sampler{o}, Error);
}

TEST(Sampler, UniformIsInUnitIntervalAndPortable) {
  // mt19937_64's output is fixed by the C++ standard (its 10000th value from the default seed is specified),
  // which is what makes seeded sampling portable.
  std::mt19937_64 rng;
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ull);
  std::mt19937_64 r2(1);
  for (int i = 0; i < 1000; ++i) {
    const double u = Sampler::uniform01(r2);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace hearth
