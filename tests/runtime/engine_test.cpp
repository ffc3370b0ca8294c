// The batching engine on a real model (stories260K): many requests at once give each the output it gets alone
// (greedy and seeded), whatever the batch, chunking, preemption or slot reuse; cancellation at any point; a
// full queue refuses with kBusy; interactive requests go first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/generator.h"
#include "runtime/session.h"
#include "test_util.h"

namespace hearth {
namespace {

class StoriesEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::shared_dir().empty()) GTEST_SKIP() << "../shared not found: reference data absent";
    session_ = open_decoder(test::shared_dir() + "/models/stories260K.gguf", 1);
  }
  std::vector<int32_t> encode(const std::string& text) { return session_.tokenizer->encode(text, true, false); }

  // What the request gives alone, through the single-sequence Generator.
  GenerateResult alone(const std::vector<int32_t>& prompt, const GenerateOptions& o, int context = 256) {
    auto cache = session_.model->new_cache(context);
    Generator gen(*session_.model, *session_.tokenizer, *cache);
    return gen.generate(prompt, o);
  }

  static GenerateOptions greedy(int max_tokens) {
    GenerateOptions o;
    o.max_tokens = max_tokens;
    return o;
  }
  static GenerateOptions seeded(int max_tokens, uint64_t seed) {
    GenerateOptions o;
    o.max_tokens = max_tokens;
    o.sampling = SamplerOptions();
    o.sampling.temperature = 1.0f;
    o.sampling.seed = seed;
    return o;
  }

  const std::vector<std::string> prompts_ = {
      "Once upon a time",
      "Tom and his dog went to the",
      "The little bird was sad because it could not find its mother in the big tree",
      "Lily liked to",
      "",
      "One day, a big red ball rolled down the hill and",
  };
  DecoderSession session_;
};

TEST_F(StoriesEngine, ManyRequestsAtOnceEachGetTheirOwnOutput) {
  for (bool sampled : {false, true}) {
    EngineOptions eo;
    eo.slots = 4;  // fewer slots than requests: some wait, then take over finished slots
    eo.context = 256;
    eo.step_tokens = 16;  // long prompts are chunked across steps while others decode
    std::atomic<int> most_decoding{0};
    // The scheduler waits after its first step until every request is queued, so that on a busy machine the
    // first ones do not finish before the last are submitted.
    std::promise<void> all_submitted;
    std::shared_future<void> submitted = all_submitted.get_future().share();
    eo.on_step = [&, submitted](const StepReport& r) {
      submitted.wait();
      if (r.decode_tokens > most_decoding.load()) most_decoding.store(r.decode_tokens);
    };
    Engine engine(*session_.model, *session_.tokenizer, eo);
    auto options = [&](size_t i) { return sampled ? seeded(24, 100 + i) : greedy(24 + int(i)); };
    std::vector<GenerateResult> want;
    for (size_t i = 0; i < prompts_.size(); ++i) want.push_back(alone(encode(prompts_[i]), options(i)));
    std::vector<std::shared_ptr<Job>> jobs;  // submitted back to back, so that they share steps
    for (size_t i = 0; i < prompts_.size(); ++i)
      jobs.push_back(engine.submit({encode(prompts_[i]), options(i), Priority::kInteractive, {}}));
    all_submitted.set_value();
    for (size_t i = 0; i < jobs.size(); ++i) {
      const GenerateResult got = jobs[i]->wait();
      EXPECT_EQ(got.tokens, want[i].tokens) << (sampled ? "sampled" : "greedy") << " request " << i;
      EXPECT_EQ(got.text, want[i].text) << i;
      EXPECT_EQ(got.finish_reason, want[i].finish_reason) << i;
      EXPECT_EQ(got.usage.prompt_tokens, want[i].usage.prompt_tokens) << i;
    }
    const EngineStats st = engine.stats();
    EXPECT_GT(st.decode_tokens, 0u);
    EXPECT_GE(most_decoding.load(), 2) << "decode tokens of several sequences share steps";
  }
}

TEST_F(StoriesEngine, StreamedTextIsTheResultText) {
  Engine engine(*session_.model, *session_.tokenizer, {});
  std::string streamed;
  auto job = engine.submit({encode(""), greedy(40), Priority::kInteractive, [&](std::string_view t, std::span<const GeneratedToken>) {
                              streamed += t;
                              return true;
                            }});
  const GenerateResult r = job->wait();
  EXPECT_EQ(r.text, streamed);
  EXPECT_EQ(r.text.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << r.text;
}

TEST_F(StoriesEngine, InteractiveRequestPreemptsBackgroundWhichResumesWithTheSameOutput) {
  EngineOptions eo;
  eo.slots = 1;
  eo.context = 256;
  Engine engine(*session_.model, *session_.tokenizer, eo);
  const GenerateOptions long_run = seeded(150, 7);
  const auto background_prompt = encode("Once upon a time");
  std::atomic<int> pieces{0};
  auto background = engine.submit({background_prompt, long_run, Priority::kBackground, [&](std::string_view, std::span<const GeneratedToken>) {
                                     ++pieces;
                                     return true;
                                   }});
  while (pieces.load() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto interactive = engine.submit({encode("Tom and his dog went to the"), greedy(20), Priority::kInteractive, {}});
  const GenerateResult i = interactive->wait();
  EXPECT_FALSE(background->done()) << "the interactive request ran first";
  const GenerateResult b = background->wait();
  EXPECT_EQ(i.tokens, alone(encode("Tom and his dog went to the"), greedy(20)).tokens);
  EXPECT_EQ(b.tokens, alone(background_prompt, long_run).tokens);
  EXPECT_EQ(engine.stats().preemptions, 1u);
}

TEST_F(StoriesEngine, CancelWhileQueuedMidPromptOrDecoding) {
  EngineOptions eo;
  eo.slots = 1;
  eo.context = 256;
  eo.step_tokens = 2;  // a prompt takes many steps
  Engine engine(*session_.model, *session_.tokenizer, eo);
  GenerateOptions endless = greedy(-1);
  endless.stop_at_eog = false;
  auto running = engine.submit({encode("The little bird was sad because it could not find its mother"), endless,
                                Priority::kInteractive, {}});
  auto queued = engine.submit({encode("Lily liked to"), endless, Priority::kInteractive, {}});
  queued->cancel();
  running->cancel();
  EXPECT_EQ(queued->wait().finish_reason, FinishReason::kCancelled);
  const GenerateResult r = running->wait();
  EXPECT_EQ(r.finish_reason, FinishReason::kCancelled);
  // The engine goes on serving.
  EXPECT_EQ(engine.submit({encode("Lily liked to"), greedy(5), Priority::kInteractive, {}})->wait().tokens,
            alone(encode("Lily liked to"), greedy(5)).tokens);
}

TEST_F(StoriesEngine, AFullQueueRefusesWithBusy) {
  EngineOptions eo;
  eo.slots = 1;
  eo.max_queued = 1;
  Engine engine(*session_.model, *session_.tokenizer, eo);
  GenerateOptions endless = greedy(-1);
  endless.stop_at_eog = false;
  auto a = engine.submit({encode("Once upon a time"), endless, Priority::kInteractive, {}});
  while (engine.stats().steps == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto b = engine.submit({encode("Once upon a time"), endless, Priority::kInteractive, {}});  // waits
  try {
    engine.submit({encode("Once upon a time"), endless, Priority::kInteractive, {}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBusy) << e.what();
  }
  a->cancel();
  b->cancel();
  a->wait();
  b->wait();
}

TEST_F(StoriesEngine, ASecondRequestReusesTheCachedPrefix) {
  Engine engine(*session_.model, *session_.tokenizer, {});
  const auto prompt = encode("The little bird was sad because it could not find its mother in the big tree");
  const GenerateResult first = engine.submit({prompt, greedy(8), Priority::kInteractive, {}})->wait();
  EXPECT_EQ(first.usage.cached_prompt_tokens, 0);
  auto longer = prompt;
  longer.insert(longer.end(), first.tokens.begin(), first.tokens.end());
  const GenerateResult second = engine.submit({longer, greedy(8), Priority::kInteractive, {}})->wait();
  // Whole blocks of what the first left cached (its last sampled token never ran).
  const int bs = engine.options().block_size;
  EXPECT_EQ(second.usage.cached_prompt_tokens, (int(longer.size()) - 1) / bs * bs);
  EXPECT_GT(second.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(second.tokens, alone(longer, greedy(8)).tokens);
}

TEST_F(StoriesEngine, RequestsRunningTogetherShareTheirCommonPrefixBlocks) {
  EngineOptions eo;
  eo.block_size = 4;
  Engine engine(*session_.model, *session_.tokenizer, eo);
  const auto system = encode("Once upon a time, there was a little girl named Lily. She liked to play outside.");
  const GenerateResult first = engine.submit({system, greedy(4), Priority::kInteractive, {}})->wait();
  // Four requests at once, each the shared beginning and a question of its own: each attaches the blocks.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::shared_ptr<Job>> jobs;
  for (const char* q : {" One day", " Tom saw", " The sun", " Her mom"}) {
    auto p = system;
    const auto more = session_.tokenizer->encode(q, false, false);
    p.insert(p.end(), more.begin(), more.end());
    prompts.push_back(p);
    jobs.push_back(engine.submit({p, seeded(12, 3), Priority::kInteractive, {}}));
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    const GenerateResult r = jobs[i]->wait();
    EXPECT_GE(r.usage.cached_prompt_tokens, int(system.size()) / 4 * 4 - 4) << i;
    EXPECT_EQ(r.tokens, alone(prompts[i], seeded(12, 3)).tokens) << i;
  }
}

TEST_F(StoriesEngine, AFullCachePreemptsTheLastAdmittedWhichResumesWithTheSameOutput) {
  // Room for 96 positions in blocks of 8, four slots: four 60-token runs cannot all fit at once.
  EngineOptions eo;
  eo.slots = 4;
  eo.context = 64;
  eo.cache_positions = 96;
  eo.block_size = 8;
  Engine engine(*session_.model, *session_.tokenizer, eo);
  std::vector<std::shared_ptr<Job>> jobs;
  GenerateOptions o = seeded(48, 11);
  o.stop_at_eog = false;
  for (size_t i = 0; i < 4; ++i) jobs.push_back(engine.submit({encode(prompts_[i]), o, Priority::kInteractive, {}}));
  for (size_t i = 0; i < 4; ++i) {
    const GenerateResult r = jobs[i]->wait();
    EXPECT_EQ(r.tokens, alone(encode(prompts_[i]), o, eo.context).tokens) << i;
  }
  EXPECT_GT(engine.stats().preemptions, 0u);
  // A cache that cannot hold one whole context is refused up front (a lone sequence could never finish).
  eo.cache_positions = 32;
  EXPECT_THROW(Engine(*session_.model, *session_.tokenizer, eo), Error);
}

TEST_F(StoriesEngine, ALongPromptNeverHoldsBackDecodingSequencesMoreThanOneStep) {
  // 8 sequences decoding; a 128-token prompt arrives. Every step while it is read must carry the next token of
  // all 8 and stay within the step budget: the prompt is read in chunks of what the decoders leave.
  std::mutex mu;
  std::vector<StepReport> steps;
  EngineOptions eo;
  eo.slots = 9;
  eo.context = 256;
  eo.step_tokens = 40;
  eo.on_step = [&](const StepReport& r) {
    std::lock_guard<std::mutex> lock(mu);
    steps.push_back(r);
  };
  Engine engine(*session_.model, *session_.tokenizer, eo);
  GenerateOptions endless = greedy(100000);
  endless.stop_at_eog = false;
  std::vector<std::shared_ptr<Job>> decoders;
  for (int i = 0; i < 8; ++i) decoders.push_back(engine.submit({encode(prompts_[size_t(i) % 4]), endless, Priority::kInteractive, {}}));
  auto settled = [&] {  // every decoder past its prompt: a step of 8 decode tokens
    std::lock_guard<std::mutex> lock(mu);
    return !steps.empty() && steps.back().decode_tokens == 8 && steps.back().prompt_tokens == 0;
  };
  while (!settled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  size_t before;
  {
    std::lock_guard<std::mutex> lock(mu);
    before = steps.size();
  }
  std::vector<int32_t> prompt = encode("Once upon a time");
  while (prompt.size() < 128) prompt.push_back(prompt[prompt.size() % 5 + 1]);
  prompt.resize(128);
  const GenerateResult r = engine.submit({prompt, greedy(1), Priority::kInteractive, {}})->wait();
  for (auto& d : decoders) d->cancel();
  for (auto& d : decoders) d->wait();
  std::lock_guard<std::mutex> lock(mu);
  int prompt_steps = 0, read = 0;
  for (size_t i = before; i < steps.size() && read < 128; ++i) {
    const StepReport& s = steps[i];
    EXPECT_LE(s.decode_tokens + s.prompt_tokens, eo.step_tokens) << "step " << i;
    if (s.prompt_tokens == 0) continue;
    EXPECT_EQ(s.decode_tokens, 8) << "step " << i << ": a decoder waited while the prompt was read";
    ++prompt_steps;
    read += s.prompt_tokens;
  }
  EXPECT_EQ(read, 128);
  EXPECT_EQ(prompt_steps, (128 + 31) / 32);  // 32 prompt tokens per step beside the 8 decode tokens
  EXPECT_EQ(r.tokens.size(), 1u);
}

TEST_F(StoriesEngine, BadRequestsAreErrorsOfTheRightKind) {
  EngineOptions eo;
  eo.context = 16;
  Engine engine(*session_.model, *session_.tokenizer, eo);
  auto kind_of = [&](std::vector<int32_t> prompt) {
    try {
      engine.submit({std::move(prompt), greedy(4), Priority::kInteractive, {}});
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::kCancelled;  // no error: never expected below
  };
  EXPECT_EQ(kind_of({}), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of({1, 99999}), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of(std::vector<int32_t>(17, 5)), ErrorKind::kResourceExhausted);
  EngineOptions bad;
  bad.slots = 8;
  bad.step_tokens = 4;
  EXPECT_THROW(Engine(*session_.model, *session_.tokenizer, bad), Error);
}

}  // namespace
}  // namespace hearth
