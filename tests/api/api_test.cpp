// The public API as a program sees it: this file includes only <hearth/...> (and the test helpers), and its
// target links only libhearth, so a public header that needed a src/ header would fail to compile here.
// Models: the trained stories260K (decoder) and the random-weight bert-dev (encoder) from ../shared.
#include <hearth/hearth.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

std::string stories() { return hearth::test::shared_dir() + "/models/stories260K.gguf"; }
std::string bert() { return hearth::test::shared_dir() + "/golden/models/bert-dev.f16.gguf"; }

template <typename F>
hearth::ErrorKind kind_thrown(F&& f) {
  try {
    f();
  } catch (const hearth::Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no hearth::Error thrown";
  return hearth::ErrorKind::kInvalidArgument;
}

hearth::GenerationRequest greedy(std::string prompt, int max_tokens) {
  hearth::GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.temperature = 0;
  return r;
}

TEST(Api, OpeningAMissingFileIsNotFound) {
  EXPECT_EQ(kind_thrown([] { hearth::Model::open("/nonexistent/model.gguf"); }), hearth::ErrorKind::kNotFound);
  EXPECT_STREQ(hearth::to_string(hearth::ErrorKind::kNotFound), "not_found");
}

TEST(Api, AFileThatIsNoModelIsAnError) {
  // CMakeLists.txt exists but is not a model: an error of its own, not "not found".
  const hearth::ErrorKind k = kind_thrown([] { hearth::Model::open(hearth::test::source_dir() + "/CMakeLists.txt"); });
  EXPECT_NE(k, hearth::ErrorKind::kNotFound);
}

TEST(Api, DevicesListTheCpu) {
  const std::vector<hearth::Device> devices = hearth::list_devices();
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices[0].backend, "cpu");  // the fallback chain's last resort is always there
  EXPECT_TRUE(devices[0].available);
  for (const hearth::Device& d : devices) EXPECT_FALSE(d.detail.empty()) << d.backend;
  if (!hearth::test::shared_dir().empty()) {
    EXPECT_EQ(kind_thrown([] { hearth::Model::open(stories(), {.threads = 1, .backend = "nonesuch"}); }),
              hearth::ErrorKind::kInvalidArgument);
  }
}

class ApiDecoder : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    model_ = hearth::Model::open(stories(), {.threads = 1});
  }
  std::shared_ptr<hearth::Model> model_;
};

TEST_F(ApiDecoder, DescribesItself) {
  const hearth::ModelInfo& info = model_->info();
  EXPECT_EQ(model_->kind(), hearth::ModelKind::kDecoder);
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.tokenizer, "spm");
  EXPECT_EQ(info.vocab_size, 512);
  EXPECT_EQ(info.context_length, 2048);  // the file's llama.context_length
  EXPECT_EQ(info.dim, 64);
  EXPECT_EQ(info.path, stories());
}

TEST_F(ApiDecoder, TokenizeRoundTrips) {
  const std::string text = "Once upon a time, Lily saw a big dog.";
  const std::vector<int32_t> plain = model_->tokenize(text, /*add_special=*/false);
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(model_->detokenize(plain), text);
  const std::vector<int32_t> framed = model_->tokenize(text);
  ASSERT_EQ(framed.size(), plain.size() + 1);  // BOS
  EXPECT_EQ(std::vector<int32_t>(framed.begin() + 1, framed.end()), plain);
  EXPECT_EQ(kind_thrown([&] { model_->detokenize({1, 512}); }), hearth::ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_thrown([&] { model_->detokenize({-1}); }), hearth::ErrorKind::kInvalidArgument);
}

TEST_F(ApiDecoder, HasNoEmbeddings) {
  EXPECT_EQ(kind_thrown([&] { model_->embed({"text"}); }), hearth::ErrorKind::kUnsupported);
}

TEST_F(ApiDecoder, StreamsTheGreedyStory) {
  hearth::Engine engine(model_, {.slots = 2});
  EXPECT_EQ(engine.context(), model_->info().context_length);  // the model's own, under the 4096 cap
  std::string streamed;
  int pieces = 0;
  hearth::GenerationRequest r = greedy("Once upon a time", 24);
  r.on_text = [&](std::string_view t) {
    streamed += t;
    ++pieces;
    return true;
  };
  const hearth::GenerationResult got = engine.submit(std::move(r))->wait();
  // karpathy's llama2.c README documents this story for stories260K.
  EXPECT_EQ(got.text.rfind(", there was a little girl", 0), 0u) << got.text;
  EXPECT_EQ(got.text, streamed);
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(got.finish_reason, hearth::FinishReason::kLength);
  EXPECT_EQ(got.usage.completion_tokens, 24);
  EXPECT_EQ(got.usage.prompt_tokens, int(model_->tokenize("Once upon a time").size()));
  EXPECT_EQ(got.tokens.size(), 24u);
  EXPECT_EQ(model_->detokenize(got.tokens), got.text);

  // The same prompt as token ids gives the same text.
  hearth::GenerationRequest by_ids = greedy("", 24);
  by_ids.prompt_tokens = model_->tokenize("Once upon a time");
  const hearth::GenerationResult again = engine.submit(std::move(by_ids))->wait();
  EXPECT_EQ(again.text, got.text);
  // A prompt that starts with what an earlier one left in the cache reuses it (in whole cache blocks, so the
  // shared part must be longer than one).
  hearth::GenerationRequest story = greedy("", 8);
  story.prompt_tokens = model_->tokenize("Once upon a time");
  story.prompt_tokens.insert(story.prompt_tokens.end(), got.tokens.begin(), got.tokens.end());
  story.prompt_tokens.insert(story.prompt_tokens.end(), got.tokens.begin(), got.tokens.end());
  const auto longer = story.prompt_tokens;
  engine.submit(std::move(story))->wait();
  hearth::GenerationRequest same = greedy("", 8);
  same.prompt_tokens = longer;
  EXPECT_GT(engine.submit(std::move(same))->wait().usage.cached_prompt_tokens, 0);
}

TEST_F(ApiDecoder, StopStringsAndSeedsApply) {
  hearth::Engine engine(model_);
  hearth::GenerationRequest stop = greedy("Once upon a time", 64);
  stop.stop = {"girl"};
  const hearth::GenerationResult s = engine.submit(std::move(stop))->wait();
  EXPECT_EQ(s.finish_reason, hearth::FinishReason::kStop);
  EXPECT_EQ(s.text, ", there was a little ");

  auto sampled = [&](uint64_t seed) {
    hearth::GenerationRequest r;
    r.prompt = "Once upon a time";
    r.max_tokens = 32;
    r.temperature = 1.0f;
    r.seed = seed;
    return engine.submit(std::move(r))->wait().text;
  };
  EXPECT_EQ(sampled(7), sampled(7));
  EXPECT_NE(sampled(7), sampled(8));
}

TEST_F(ApiDecoder, CancelStopsARunningRequest) {
  hearth::Engine engine(model_);
  std::atomic<int> pieces{0};
  hearth::GenerationRequest r = greedy("Once upon a time", -1);  // until the context is full
  r.on_text = [&](std::string_view) {
    ++pieces;
    return true;
  };
  std::shared_ptr<hearth::Request> request = engine.submit(std::move(r));
  while (pieces < 3) std::this_thread::yield();
  request->cancel();
  const hearth::GenerationResult got = request->wait();
  EXPECT_TRUE(request->done());
  EXPECT_EQ(got.finish_reason, hearth::FinishReason::kCancelled);
  EXPECT_LT(got.usage.prompt_tokens + got.usage.completion_tokens, engine.context());

  // A callback that returns false cancels too.
  hearth::GenerationRequest quit = greedy("Once upon a time", 64);
  quit.on_text = [](std::string_view) { return false; };
  EXPECT_EQ(engine.submit(std::move(quit))->wait().finish_reason, hearth::FinishReason::kCancelled);
}

TEST_F(ApiDecoder, BadRequestsAreRefusedWithTheirKind) {
  hearth::Engine engine(model_, {.context = 16});
  hearth::GenerationRequest bad_id = greedy("", 4);
  bad_id.prompt_tokens = {1, 100000};
  EXPECT_EQ(kind_thrown([&] { engine.submit(std::move(bad_id)); }), hearth::ErrorKind::kInvalidArgument);
  const std::string long_prompt(200, 'a');
  EXPECT_EQ(kind_thrown([&] { engine.submit(greedy(long_prompt, 4)); }), hearth::ErrorKind::kResourceExhausted);
  EXPECT_EQ(kind_thrown([&] { hearth::Engine e(nullptr); }), hearth::ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_thrown([&] { hearth::Engine e(model_, {.slots = 0}); }), hearth::ErrorKind::kInvalidArgument);
  // stories260K's heads are 8 values: not a whole Q8_0 block.
  EXPECT_EQ(kind_thrown([&] { hearth::Engine e(model_, {.cache_type = "q8_0"}); }), hearth::ErrorKind::kUnsupported);
  EXPECT_EQ(kind_thrown([&] { hearth::Engine e(model_, {.cache_type = "q4"}); }), hearth::ErrorKind::kInvalidArgument);
  // An Error thrown by the caller's own callback comes back from wait() as it was.
  hearth::GenerationRequest throws = greedy("Once upon a time", 8);
  throws.on_text = [](std::string_view) -> bool { throw hearth::Error("caller's own", hearth::ErrorKind::kBusy); };
  EXPECT_EQ(kind_thrown([&] { engine.submit(std::move(throws))->wait(); }), hearth::ErrorKind::kBusy);
}

// The user's handles may go while a request runs: the request keeps the engine and the model alive, completes
// with the output it would have had, and the model is unloaded when the request's handle goes.
TEST_F(ApiDecoder, DroppingTheModelAndEngineHandlesMidRequestIsSafe) {
  const std::string want = [&] {
    hearth::Engine engine(model_);
    return engine.submit(greedy("Tom and his dog", 48))->wait().text;
  }();

  std::weak_ptr<hearth::Model> weak = model_;
  auto engine = std::make_unique<hearth::Engine>(std::move(model_));
  std::atomic<bool> dropped{false};
  std::atomic<int> pieces{0};
  hearth::GenerationRequest r = greedy("Tom and his dog", 48);
  r.on_text = [&](std::string_view) {
    ++pieces;
    while (!dropped) std::this_thread::yield();  // hold generation mid-way until the handles are gone
    return true;
  };
  std::shared_ptr<hearth::Request> request = engine->submit(std::move(r));
  while (pieces == 0) std::this_thread::yield();
  engine.reset();
  ASSERT_FALSE(weak.expired());  // the request holds it
  dropped = true;
  const hearth::GenerationResult got = request->wait();
  EXPECT_EQ(got.finish_reason, hearth::FinishReason::kLength);
  EXPECT_EQ(got.text, want);
  EXPECT_FALSE(weak.expired());
  request.reset();
  EXPECT_TRUE(weak.expired());
}

// With no handle left at all, the engine cancels what it runs, stops, and lets the model go.
TEST_F(ApiDecoder, DroppingEveryHandleStopsTheEngineAndUnloadsTheModel) {
  std::weak_ptr<hearth::Model> weak = model_;
  std::atomic<int> pieces{0};
  {
    hearth::Engine engine(std::move(model_));
    hearth::GenerationRequest r = greedy("Once upon a time", -1);  // until the context is full
    r.on_text = [&](std::string_view) {
      ++pieces;
      return true;
    };
    engine.submit(std::move(r));  // the request's handle is dropped at once
    while (pieces < 2) std::this_thread::yield();
  }
  EXPECT_TRUE(weak.expired());
  const int seen = pieces;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(pieces, seen);  // nothing runs any more
}

TEST_F(ApiDecoder, AnEngineNeedsADecoder) {
  std::shared_ptr<hearth::Model> encoder = hearth::Model::open(bert(), {.threads = 1});
  EXPECT_EQ(kind_thrown([&] { hearth::Engine engine(encoder); }), hearth::ErrorKind::kInvalidArgument);
}

class ApiEncoder : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_SHARED();
    model_ = hearth::Model::open(bert(), {.threads = 1});
  }
  std::shared_ptr<hearth::Model> model_;
};

TEST_F(ApiEncoder, DescribesItself) {
  const hearth::ModelInfo& info = model_->info();
  EXPECT_EQ(model_->kind(), hearth::ModelKind::kEncoder);
  EXPECT_STREQ(hearth::to_string(model_->kind()), "encoder");
  EXPECT_EQ(info.architecture, "bert");
  EXPECT_EQ(info.tokenizer, "wordpiece");
  EXPECT_EQ(info.vocab_size, 30522);
  EXPECT_EQ(info.dim, 128);
  EXPECT_GT(info.context_length, 0);
}

TEST_F(ApiEncoder, TokenizeAddsClsAndSep) {
  const std::vector<int32_t> plain = model_->tokenize("hello world", false);
  const std::vector<int32_t> framed = model_->tokenize("hello world");
  ASSERT_EQ(framed.size(), plain.size() + 2);
  EXPECT_EQ(std::vector<int32_t>(framed.begin() + 1, framed.end() - 1), plain);
  EXPECT_EQ(model_->detokenize(plain), "hello world");
}

TEST_F(ApiEncoder, EmbedsEachTextOnItsOwn) {
  const std::vector<std::string> texts = {"The cat sat on the mat.", "A completely different sentence about rockets."};
  const std::vector<std::vector<float>> both = model_->embed(texts);
  ASSERT_EQ(both.size(), 2u);
  double diff = 0;
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_EQ(both[i].size(), 128u);
    double norm = 0;
    for (float x : both[i]) norm += double(x) * x;
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4) << i;  // BERT's default: L2-normalized mean pooling
  }
  for (size_t j = 0; j < 128; ++j) diff += std::abs(both[0][j] - both[1][j]);
  EXPECT_GT(diff, 1e-3);
  // A text's vector does not depend on what it was batched with.
  const std::vector<std::vector<float>> second = model_->embed({texts[1]});
  ASSERT_EQ(second.size(), 1u);
  for (size_t j = 0; j < 128; ++j) EXPECT_NEAR(second[0][j], both[1][j], 1e-5) << j;
  EXPECT_TRUE(model_->embed({}).empty());
}

}  // namespace
