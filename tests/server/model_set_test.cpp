// ModelSet in process: lazy loading, one load for concurrent first uses, leases, idle TTL, the memory budget and
// its least-recently-used eviction, aliases and stack roles, the models folder, reconfiguration. Uses the trained
// stories260K (text) and bert-dev (embeddings); skipped without ../shared.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "server/api_error.h"
#include "server/model_set.h"
#include "test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;
using server::ModelSet;
using server::ModelSetOptions;
using server::ModelSpec;
using server::ModelState;

std::string stories() { return shared_dir() + "/models/stories260K.gguf"; }
std::string bert() { return shared_dir() + "/golden/models/bert-dev.f16.gguf"; }

ModelSpec spec(const std::string& id, const std::string& path, bool preload = false) {
  ModelSpec s;
  s.id = id;
  s.path = path;
  s.preload = preload;
  return s;
}

ModelSetOptions quiet() {
  ModelSetOptions o;
  o.parallel = 2;
  o.context = 256;
  o.log = [](const std::string&) {};
  return o;
}

// The HTTP status an ApiError carries (0: no error, -1: another Error).
template <class F>
int status_of(F&& f) {
  try {
    f();
  } catch (const server::ApiError& e) {
    return e.status();
  } catch (const Error&) {
    return -1;
  }
  return 0;
}

TEST(ModelSetParse, SpecsAndSizes) {
  EXPECT_EQ(server::parse_model_spec("a/b/model.q8.gguf").id, "model.q8");
  EXPECT_EQ(server::parse_model_spec("chat=/x/y.gguf").id, "chat");
  EXPECT_EQ(server::parse_model_spec("chat=/x/y.gguf").path, "/x/y.gguf");
  EXPECT_EQ(server::parse_model_spec("/x=y/z.gguf").id, "z");  // '=' after a '/' is part of the path
  EXPECT_EQ(server::parse_model_spec("models/hf/").id, "hf");
  EXPECT_EQ(server::parse_byte_size("0"), 0u);
  EXPECT_EQ(server::parse_byte_size("1048576"), 1048576u);
  EXPECT_EQ(server::parse_byte_size("4G"), 4ull << 30);
  EXPECT_EQ(server::parse_byte_size("512M"), 512ull << 20);
  EXPECT_EQ(server::parse_byte_size("512MiB"), 512ull << 20);
  EXPECT_EQ(server::parse_byte_size("1.5GB"), 3ull << 29);
  EXPECT_EQ(server::parse_byte_size("64k"), 64ull << 10);
  for (const char* bad : {"", "G", "4X", "-1", "1.2.3", "4 GiBs"})
    EXPECT_THROW(server::parse_byte_size(bad), Error) << bad;
}

TEST(ModelSet, LoadsOnFirstUseAndCountsLeases) {
  HEARTH_REQUIRE_SHARED();
  ModelSet set({spec("stories", stories())}, quiet());
  EXPECT_EQ(set.info("stories").state, ModelState::kUnloaded);
  EXPECT_EQ(set.memory_used(), 0u);
  {
    server::DecoderLease a = set.decoder("stories");
    ASSERT_TRUE(a && a->engine);
    EXPECT_EQ(a->id, "stories");
    const server::ModelInfo i = set.info("stories");
    EXPECT_EQ(i.state, ModelState::kLoaded);
    EXPECT_EQ(i.kind, "text");
    EXPECT_EQ(i.leases, 1);
    EXPECT_GT(i.weights_bytes, 0);
    EXPECT_GT(i.cache_bytes, 0);
    ASSERT_TRUE(i.has_engine);
    EXPECT_EQ(i.engine.slots, 2);
    EXPECT_EQ(set.memory_used(), uint64_t(i.weights_bytes + i.cache_bytes));
    server::DecoderLease b = set.decoder("stories");
    EXPECT_EQ(a.get(), b.get());
    EXPECT_EQ(set.info("stories").leases, 2);
  }
  EXPECT_EQ(set.info("stories").leases, 0);
  EXPECT_EQ(set.info("stories").state, ModelState::kLoaded);  // no TTL: it stays
  // The kind is checked before anything more is loaded.
  EXPECT_EQ(status_of([&] { set.encoder("stories"); }), 400);
}

TEST(ModelSet, ConcurrentFirstUsesLoadOnce) {
  HEARTH_REQUIRE_SHARED();
  std::atomic<int> loads{0};
  ModelSetOptions o = quiet();
  o.before_load = [&](const std::string&) {
    ++loads;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the others arrive while it loads
  };
  ModelSet set({spec("stories", stories())}, o);
  std::vector<std::future<server::DecoderEntry*>> users;
  for (int i = 0; i < 8; ++i)
    users.push_back(std::async(std::launch::async, [&] {
      server::DecoderLease l = set.decoder("stories");
      return l.get();
    }));
  server::DecoderEntry* first = users[0].get();
  for (size_t i = 1; i < users.size(); ++i) EXPECT_EQ(users[i].get(), first);
  EXPECT_EQ(loads.load(), 1);
}

TEST(ModelSet, FailedLoadReachesEveryWaiterAndIsRetried) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  { std::ofstream(dir / "broken.gguf") << "GGUF but not really"; }
  ModelSet set({spec("broken", dir / "broken.gguf")}, quiet());
  EXPECT_EQ(status_of([&] { set.load("broken"); }), -1);
  EXPECT_EQ(set.info("broken").state, ModelState::kUnloaded);
  EXPECT_FALSE(set.info("broken").last_error.empty());
  fs::copy_file(stories(), dir / "broken.gguf", fs::copy_options::overwrite_existing);
  EXPECT_EQ(status_of([&] { set.load("broken"); }), 0);  // a later use tries again
  EXPECT_TRUE(set.info("broken").last_error.empty());
}

TEST(ModelSet, LeaseBlocksUnload) {
  HEARTH_REQUIRE_SHARED();
  ModelSet set({spec("stories", stories())}, quiet());
  EXPECT_FALSE(set.unload("stories"));  // not loaded
  server::DecoderLease lease = set.decoder("stories");
  try {
    set.unload("stories");
    FAIL() << "unloaded under a lease";
  } catch (const server::ApiError& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_EQ(e.code(), "model_in_use");
  }
  // The lease keeps working: a generation runs on it.
  EngineRequest req;
  req.prompt = lease->session.tokenizer->encode("Once upon a time", true, false);
  req.options.max_tokens = 4;
  EXPECT_NO_THROW(lease->engine->submit(std::move(req))->wait());
  lease.reset();
  EXPECT_TRUE(set.unload("stories"));
  EXPECT_EQ(set.info("stories").state, ModelState::kUnloaded);
  EXPECT_EQ(set.memory_used(), 0u);
}

TEST(ModelSet, IdleTtlUnloads) {
  HEARTH_REQUIRE_SHARED();
  ModelSpec s = spec("stories", stories());
  s.ttl_seconds = 1;
  ModelSet set({s, spec("bert", bert())}, quiet());  // bert: the set's TTL, 0 = never
  {
    server::DecoderLease lease = set.decoder("stories");
    set.load("bert");
    // Held past its TTL: still loaded.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(set.info("stories").state, ModelState::kLoaded);
  }
  const auto released = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return set.info("stories").state == ModelState::kUnloaded; }));
  EXPECT_GE(std::chrono::steady_clock::now() - released, std::chrono::milliseconds(900));
  EXPECT_EQ(set.info("bert").state, ModelState::kLoaded);
  // Used again: loaded again.
  EXPECT_NO_THROW(set.decoder("stories"));
}

TEST(ModelSet, MemoryBudgetEvictsLeastRecentlyUsed) {
  HEARTH_REQUIRE_SHARED();
  // One model's memory, from a set without a budget.
  uint64_t one = 0;
  {
    ModelSet probe({spec("s", stories())}, quiet());
    probe.load("s");
    one = probe.memory_used();
  }
  ASSERT_GT(one, 0u);
  ModelSetOptions o = quiet();
  o.memory_budget = 2 * one + one / 2;  // two fit, three do not
  o.budget_wait_seconds = 0;             // ModelSet.LoadWaitsForTheBudget covers the wait
  ModelSet set({spec("a", stories()), spec("b", stories()), spec("c", stories())}, o);
  set.load("a");
  set.load("b");
  set.decoder("a");  // a is now the more recently used
  set.load("c");     // evicts b
  EXPECT_EQ(set.info("a").state, ModelState::kLoaded);
  EXPECT_EQ(set.info("b").state, ModelState::kUnloaded);
  EXPECT_EQ(set.info("c").state, ModelState::kLoaded);
  EXPECT_LE(set.memory_used(), o.memory_budget);

  // Models in use are never evicted: with both held and no wait allowed, there is no room (503,
  // memory_budget_busy).
  {
    server::DecoderLease a = set.decoder("a");
    server::DecoderLease c = set.decoder("c");
    try {
      set.load("b");
      FAIL() << "loaded beyond the budget";
    } catch (const server::ApiError& e) {
      EXPECT_EQ(e.status(), 503);
      EXPECT_EQ(e.code(), "memory_budget_busy");
    }
    EXPECT_EQ(set.info("b").state, ModelState::kUnloaded);
  }
  EXPECT_NO_THROW(set.load("b"));

  // A model that alone exceeds the budget: 507, model_too_large, and nothing was evicted for it.
  ModelSetOptions tiny = quiet();
  tiny.memory_budget = one / 2;
  ModelSet small({spec("s", stories())}, tiny);
  try {
    small.load("s");
    FAIL() << "loaded beyond the budget";
  } catch (const server::ApiError& e) {
    EXPECT_EQ(e.status(), 507);
    EXPECT_EQ(e.code(), "model_too_large");
  }
  EXPECT_EQ(small.memory_used(), 0u);
}

TEST(ModelSet, LoadWaitsForTheBudgetHeldByModelsInUse) {
  HEARTH_REQUIRE_SHARED();
  uint64_t one = 0;
  {
    ModelSet probe({spec("s", stories())}, quiet());
    probe.load("s");
    one = probe.memory_used();
  }
  ModelSetOptions o = quiet();
  o.memory_budget = one + one / 2;  // one fits
  o.budget_wait_seconds = 20;
  ModelSet set({spec("a", stories()), spec("b", stories())}, o);
  auto a = std::make_unique<server::DecoderLease>(set.decoder("a"));
  std::atomic<bool> loaded{false};
  std::string error;
  std::thread loader([&] {
    try {
      set.load("b");  // waits: a holds the budget while its request runs
      loaded = true;
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_FALSE(loaded.load());
  EXPECT_EQ(set.info("a").state, ModelState::kLoaded);
  a.reset();  // a's request ends: it is now idle, so evicted for b
  loader.join();
  EXPECT_TRUE(loaded.load()) << error;
  EXPECT_EQ(set.info("a").state, ModelState::kUnloaded);
  EXPECT_EQ(set.info("b").state, ModelState::kLoaded);
}

TEST(ModelSet, PerModelSlotsAndContext) {
  HEARTH_REQUIRE_SHARED();
  ModelSpec s = spec("own", stories());
  s.parallel = 2;
  s.context = 128;
  ModelSetOptions o = quiet();
  o.parallel = 5;
  ModelSet set({s, spec("flags", stories())}, o);
  EXPECT_EQ(set.decoder("own")->engine->options().slots, 2);
  EXPECT_EQ(set.decoder("own")->engine->options().context, 128);
  EXPECT_EQ(set.decoder("flags")->engine->options().slots, 5);
}

TEST(ModelSet, AliasesAndRoles) {
  HEARTH_REQUIRE_SHARED();
  ModelSpec s = spec("stories", stories());
  s.aliases = {"tiny", "story"};
  ModelSetOptions o = quiet();
  o.stack = {{"chat", "tiny"}, {"embed", "bert"}};
  ModelSet set({s, spec("bert", bert())}, o);
  EXPECT_EQ(set.resolve("stories"), "stories");
  EXPECT_EQ(set.resolve("tiny"), "stories");
  EXPECT_EQ(set.resolve("story"), "stories");
  EXPECT_EQ(set.resolve("chat"), "stories");
  EXPECT_EQ(set.resolve("embed"), "bert");
  EXPECT_EQ(set.decoder("chat")->id, "stories");
  EXPECT_EQ(set.encoder("embed")->id, "bert");
  EXPECT_EQ(status_of([&] { set.encoder("chat"); }), 400);
  EXPECT_EQ(status_of([&] { set.decoder("rerank"); }), 404);  // a role the stack does not name
  const server::ModelInfo i = set.info("tiny");
  EXPECT_EQ(i.aliases, (std::vector<std::string>{"tiny", "story"}));
  EXPECT_EQ(i.roles, std::vector<std::string>{"chat"});

  // Conflicts are refused when the set is made.
  ModelSpec clash = spec("bert", bert());
  clash.aliases = {"tiny"};
  EXPECT_THROW(ModelSet({s, clash}, quiet()), Error);
  EXPECT_THROW(ModelSet({spec("x", stories()), spec("x", bert())}, quiet()), Error);
  ModelSetOptions bad_role = quiet();
  bad_role.stack = {{"vision", "stories"}};
  EXPECT_THROW(ModelSet({s}, bad_role), Error);
  ModelSetOptions no_model = quiet();
  no_model.stack = {{"chat", "gpt-4o"}};
  EXPECT_THROW(ModelSet({s}, no_model), Error);
}

TEST(ModelSet, UnknownModelIs404) {
  HEARTH_REQUIRE_SHARED();
  ModelSet set({spec("stories", stories())}, quiet());
  try {
    set.decoder("gpt-4o");
    FAIL();
  } catch (const server::ApiError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.code(), "model_not_found");
    EXPECT_NE(std::string(e.what()).find("gpt-4o"), std::string::npos);
  }
  EXPECT_EQ(status_of([&] { set.info("gpt-4o"); }), 404);
  EXPECT_EQ(status_of([&] { set.unload("gpt-4o"); }), 404);
  EXPECT_THROW(ModelSet({spec("missing", "/nonexistent/model.gguf")}, quiet()), Error);
  EXPECT_THROW(ModelSet({}, quiet()), Error);  // no model at all
}

TEST(ModelSet, ModelsFolder) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  fs::create_symlink(stories(), dir / "alpha.gguf");
  fs::create_symlink(bert(), dir / "beta.gguf");
  { std::ofstream(dir / "notes.txt") << "not a model"; }
  fs::create_directories(dir / "hf-model");
  { std::ofstream(dir / "hf-model/config.json") << "{}"; }
  fs::create_directories(dir / "empty-folder");
  const std::vector<ModelSpec> scanned = server::scan_models_dir(dir.path());
  ASSERT_EQ(scanned.size(), 3u);
  EXPECT_EQ(scanned[0].id, "alpha");
  EXPECT_EQ(scanned[1].id, "beta");
  EXPECT_EQ(scanned[2].id, "hf-model");
  EXPECT_FALSE(scanned[0].preload);
  EXPECT_THROW(server::scan_models_dir(dir / "notes.txt"), Error);

  ModelSetOptions o = quiet();
  o.models_dir = dir.path();
  // A file also given explicitly is that model (its id), not a second one.
  ModelSet set({spec("story", dir / "alpha.gguf", true)}, o);
  std::vector<std::string> ids;
  for (const auto& i : set.list()) ids.push_back(i.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"story", "beta", "hf-model"}));
  EXPECT_EQ(set.info("beta").state, ModelState::kUnloaded);
  set.preload();  // loads the explicit one only
  EXPECT_TRUE(set.ready());
  EXPECT_EQ(set.info("story").state, ModelState::kLoaded);
  EXPECT_EQ(set.info("beta").state, ModelState::kUnloaded);
  EXPECT_EQ(set.encoder("beta")->id, "beta");  // on first use

  // A rescan registers new files and drops vanished ones.
  fs::copy_file(stories(), dir / "gamma.gguf");  // a copy: a link to a file given explicitly would be that model
  fs::remove(dir / "beta.gguf");
  set.rescan();
  ids.clear();
  for (const auto& i : set.list()) ids.push_back(i.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"story", "gamma", "hf-model"}));
  EXPECT_EQ(status_of([&] { set.encoder("beta"); }), 404);
  EXPECT_NE(set.decoder("gamma"), nullptr);
}

// A draft for speculative decoding: an id or a path; a model is never its own draft; a draft with another
// vocabulary is left out when it is the set's default, and fails the load when the model's own spec names it.
TEST(ModelSet, DraftModels) {
  HEARTH_REQUIRE_SHARED();
  TempDir dir;
  fs::copy_file(stories(), dir / "draft.gguf");
  const std::string llama = shared_dir() + "/golden/models/llama-dev.q8_0.gguf";  // another vocabulary
  std::vector<std::string> lines;
  ModelSetOptions o = quiet();
  o.draft = "small";
  o.log = [&](const std::string& line) { lines.push_back(line); };
  ModelSpec wrong = spec("wrong", stories());
  wrong.draft = llama;
  ModelSet set({spec("stories", stories()), spec("small", dir / "draft.gguf"), spec("other", llama), wrong}, o);
  {
    server::DecoderLease m = set.decoder("stories");
    ASSERT_TRUE(m->draft);
    EXPECT_EQ(set.info("stories").draft, dir / "draft.gguf");
    EngineRequest req;
    req.prompt = m->session.tokenizer->encode("Once upon a time", true, false);
    req.options.max_tokens = 8;
    EXPECT_NO_THROW(m->engine->submit(std::move(req))->wait());
  }
  EXPECT_FALSE(set.decoder("small")->draft);  // not its own draft
  EXPECT_FALSE(set.decoder("other")->draft);  // another vocabulary: left out, and said so
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.find("'other' runs without a draft") != std::string::npos; }));
  EXPECT_EQ(status_of([&] { set.load("wrong"); }), -1);
  EXPECT_NE(set.info("wrong").last_error.find("vocabulary"), std::string::npos) << set.info("wrong").last_error;
}

TEST(ModelSet, ReconfigureKeepsLeasedModelsUntilTheirLastUse) {
  HEARTH_REQUIRE_SHARED();
  ModelSet set({spec("stories", stories()), spec("bert", bert())}, quiet());
  set.load("bert");
  server::DecoderLease held = set.decoder("stories");
  const uint64_t both = set.memory_used();

  ModelSetOptions o = quiet();
  o.max_queued = 3;
  ModelSpec renamed = spec("bert", bert());
  renamed.aliases = {"embedder"};
  set.reconfigure({renamed, spec("story2", stories())}, o);
  std::vector<std::string> ids;
  for (const auto& i : set.list()) ids.push_back(i.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"bert", "story2"}));
  EXPECT_EQ(set.info("bert").state, ModelState::kLoaded);  // kept, with its new alias
  EXPECT_EQ(set.resolve("embedder"), "bert");
  EXPECT_EQ(status_of([&] { set.decoder("stories"); }), 404);  // gone for new requests ...
  EXPECT_EQ(set.memory_used(), both);                          // ... but still held by the lease
  EngineRequest req;
  req.prompt = held->session.tokenizer->encode("Once", true, false);
  req.options.max_tokens = 2;
  EXPECT_NO_THROW(held->engine->submit(std::move(req))->wait());
  held.reset();  // its last use: unloaded now
  EXPECT_LT(set.memory_used(), both);

  // A bad configuration changes nothing.
  EXPECT_THROW(set.reconfigure({spec("x", "/nonexistent.gguf")}, quiet()), Error);
  ids.clear();
  for (const auto& i : set.list()) ids.push_back(i.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"bert", "story2"}));
  EXPECT_EQ(set.resolve("embedder"), "bert");
}

}  // namespace
}  // namespace hearth::test
