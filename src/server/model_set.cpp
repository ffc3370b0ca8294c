#include "server/model_set.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "backends/registry.h"
#include "models/decoder_embedding.h"
#include "models/llama.h"
#include "models/registry.h"
#include "hub/hub_cache.h"
#include "server/api_error.h"

namespace hearth::server {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---- sizes ----

uint64_t parse_byte_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  std::string unit;
  for (size_t j = i; j < text.size(); ++j)
    if (!std::isspace(static_cast<unsigned char>(text[j]))) unit += char(std::toupper(static_cast<unsigned char>(text[j])));
  const std::string number = text.substr(0, i);
  double value = 0;
  bool ok = !number.empty() && std::count(number.begin(), number.end(), '.') <= 1 && number != ".";
  if (ok) value = std::strtod(number.c_str(), nullptr);
  double scale = 0;
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (unit.size() == 2 && unit.back() == 'I') unit.pop_back();
  if (unit.empty()) scale = 1;
  else if (unit == "K") scale = 1024.0;
  else if (unit == "M") scale = 1024.0 * 1024;
  else if (unit == "G") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  const double bytes = value * scale;
  if (!ok || scale == 0 || !std::isfinite(bytes) || bytes >= 9.2e18)
    fail("'{}' is not a byte count (e.g. 4G, 512M, 1.5GiB, 1048576)", text);
  return uint64_t(std::llround(bytes));
}

const std::vector<std::string>& stack_roles() {
  static const std::vector<std::string> roles = {"chat", "embed", "rerank", "draft"};
  return roles;
}

const char* to_string(ModelState state) {
  switch (state) {
    case ModelState::kUnloaded: return "unloaded";
    case ModelState::kLoading: return "loading";
    case ModelState::kLoaded: return "loaded";
  }
  return "unloaded";
}

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t file_mtime(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? int64_t(st.st_mtime) : unix_now();
}

std::string canonical_path(const std::string& path) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(path, ec);
  return ec ? path : c.string();
}

std::string format_bytes(uint64_t n) {
  if (n >= (1ull << 30)) return fmt::format("{:.2f} GiB", double(n) / double(1ull << 30));
  if (n >= (1ull << 20)) return fmt::format("{:.1f} MiB", double(n) / double(1ull << 20));
  if (n >= (1ull << 10)) return fmt::format("{:.1f} KiB", double(n) / double(1ull << 10));
  return fmt::format("{} B", n);
}

std::string error_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

int64_t weights_bytes(const Weights& w) {
  int64_t n = 0;
  for (const WeightTensor& t : w.tensors()) n += int64_t(t.nbytes);
  return n;
}

// The context an engine gets for this model (as DecoderSession::context_size).
int engine_context(const DecoderHParams& hp, int requested) {
  return requested > 0 ? requested : std::max(1, std::min(hp.n_ctx_train, 4096));
}

// The bytes of the KV cache an engine of `slots` x `context` positions allocates for a model of these
// hyper-parameters, in F16 (as DecoderCache sizes it: whole blocks of EngineOptions' block size).
int64_t kv_cache_bytes(const DecoderHParams& hp, int slots, int context) {
  const int64_t block = EngineOptions{}.block_size;
  const int64_t rows = (int64_t(slots) * context + block - 1) / block * block;
  return 2 * int64_t(hp.n_layer) * rows * int64_t(row_bytes(DType::F16, hp.kv_dim()));
}

enum class Want { kAny, kDecoder, kEncoder, kReranker };

void default_log(const std::string& line) {
  fmt::print(stderr, "hearth: {}\n", line);
  std::fflush(stderr);
}

struct Loaded {
  // Exactly one of the three is set, except for a text model that also embeds: decoder and encoder, whose embedder
  // runs the decoder's model (declared after it, so destroyed before it).
  std::unique_ptr<DecoderEntry> decoder;
  std::unique_ptr<EncoderEntry> encoder;
  std::unique_ptr<RerankerEntry> reranker;
  int64_t weights_bytes = 0, cache_bytes = 0;
  int64_t loaded_at = 0;
  int64_t bytes() const { return weights_bytes + cache_bytes; }
};

struct Slot {
  ModelSpec spec;
  std::string canonical;  // the path, for comparing specs
  int64_t created = 0;
  std::string kind;  // "text" / "embedding" / "rerank" once known
  bool text_embeds = false;  // a text model that serves embeddings too (known with kind)
  ModelState state = ModelState::kUnloaded;
  std::shared_ptr<Loaded> loaded;
  int leases = 0;
  Clock::time_point last_used = Clock::now();
  int64_t reserved = 0;  // budget bytes held while it loads
  uint64_t attempt = 0;  // loads started
  std::exception_ptr error;  // how the last load failed
  std::string last_error;
  bool removed = false;  // dropped by a reload: unloaded as soon as idle
};

// Loads a text model's run-time LoRA adapters, each "[NAME=]FILE[:SCALE]": NAME= when an '=' comes before the first
// '/'. An adapter without a name is applied by default (to requests that name none) and is named by its file.
void load_adapters(DecoderEntry& d, const std::vector<std::string>& specs,
                   const std::function<void(const std::string&)>& log) {
  auto defaults = std::make_shared<LoraStack>();
  for (const std::string& text : specs) {
    const size_t eq = text.find('='), slash = text.find('/');
    const bool named = eq != std::string::npos && eq > 0 && (slash == std::string::npos || eq < slash);
    const LoraSpec spec = parse_lora_spec(named ? text.substr(eq + 1) : text);
    std::string name = named ? text.substr(0, eq) : std::filesystem::path(spec.path).stem().string();
    if (name.empty()) name = std::filesystem::path(spec.path).parent_path().filename().string();  // "dir/"
    if (d.adapters.count(name)) fail("model '{}': two LoRA adapters are named '{}'", d.id, name);
    LoraUse use{std::make_shared<PreparedLora>(load_lora_adapter(spec.path, *d.session.weights), *d.session.model),
                spec.scale};
    log(fmt::format("model '{}': LoRA adapter '{}' from {} (scale {}{})", d.id, name, spec.path, spec.scale,
                    named ? "" : ", applied by default"));
    if (!named) defaults->adapters.push_back(use);
    d.adapters.emplace(name, std::move(use));
  }
  if (!defaults->adapters.empty()) d.default_lora = std::move(defaults);
}

}  // namespace

struct ModelSet::Impl : std::enable_shared_from_this<ModelSet::Impl> {
  mutable std::mutex mu;
  std::condition_variable loaded_cv;  // a load ended
  std::condition_variable reap_cv;    // something the reaper watches changed
  std::condition_variable budget_cv;  // a lease ended: a load waiting for the memory budget may go on
  std::mutex config_mu;               // one reconfigure at a time
  ModelSetOptions options;
  std::vector<ModelSpec> explicit_specs;
  std::vector<std::shared_ptr<Slot>> slots;     // registered, in order
  std::vector<std::shared_ptr<Slot>> retiring;  // dropped by a reload but still loaded or loading
  std::atomic<bool> ready{false};
  bool stopping = false;
  std::thread reaper;

  struct LeaseToken {
    LeaseToken(std::shared_ptr<Impl> i, std::shared_ptr<Slot> s, std::shared_ptr<Loaded> l)
        : impl(std::move(i)), slot(std::move(s)), loaded(std::move(l)) {}
    ~LeaseToken() { impl->release(*slot); }
    LeaseToken(const LeaseToken&) = delete;
    LeaseToken& operator=(const LeaseToken&) = delete;
    std::shared_ptr<Impl> impl;
    std::shared_ptr<Slot> slot;
    std::shared_ptr<Loaded> loaded;  // released after the count: a dropped model is freed by its last lease
  };

  void log(const std::string& line) const {
    if (options.log) options.log(line);
    else default_log(line);
  }

  std::shared_ptr<Slot> find_locked(const std::string& name, bool roles = true) const {
    for (const auto& s : slots)
      if (s->spec.id == name) return s;
    for (const auto& s : slots)
      for (const auto& a : s->spec.aliases)
        if (a == name) return s;
    if (roles) {
      const auto r = options.stack.find(name);
      if (r != options.stack.end()) return find_locked(r->second, false);
    }
    return nullptr;
  }

  std::shared_ptr<Slot> get_locked(const std::string& name) const {
    auto s = find_locked(name);
    if (!s)
      throw ApiError(404, fmt::format("the model '{}' does not exist (GET /v1/models lists the known ones)", name),
                     "model", "model_not_found", ErrorKind::kNotFound);
    return s;
  }

  int64_t ttl_of(const Slot& s) const { return s.spec.ttl_seconds.value_or(options.idle_ttl); }

  uint64_t used_locked() const {
    uint64_t n = 0;
    for (const auto* list : {&slots, &retiring})
      for (const auto& s : *list) n += uint64_t(s->reserved) + (s->loaded ? uint64_t(s->loaded->bytes()) : 0);
    return n;
  }

  std::shared_ptr<Loaded> detach_locked(Slot& s) {
    s.state = ModelState::kUnloaded;
    return std::move(s.loaded);
  }

  void forget_retiring_locked(const Slot& s) {
    retiring.erase(std::remove_if(retiring.begin(), retiring.end(), [&](const auto& r) { return r.get() == &s; }),
                   retiring.end());
  }

  void release(Slot& s) {
    std::shared_ptr<Loaded> drop;
    {
      std::lock_guard<std::mutex> lock(mu);
      --s.leases;
      s.last_used = Clock::now();
      if (s.leases == 0) budget_cv.notify_all();
      if (s.removed && s.leases == 0 && s.state == ModelState::kLoaded) {
        drop = detach_locked(s);
        forget_retiring_locked(s);
        log(fmt::format("model '{}' unloaded (no longer configured)", s.spec.id));
      }
    }
    reap_cv.notify_all();
  }

  static void check_kind(const Slot& s, Want want) {
    if (s.kind.empty() || want == Want::kAny) return;
    const std::string& id = s.spec.id;
    if (s.kind == "rerank" && want != Want::kReranker)
      throw ApiError(400,
                     fmt::format("the model '{}' is a reranker (cross-encoder): it cannot {}; it scores documents "
                                 "against a query at /v1/rerank",
                                 id, want == Want::kDecoder ? "generate text" : "embed texts"),
                     "model", "model_not_supported", ErrorKind::kUnsupported);
    if (want == Want::kDecoder && s.kind == "embedding")
      throw ApiError(400, fmt::format("the model '{}' is an embedding model (encoder): it cannot generate text", id),
                     "model", "model_not_supported", ErrorKind::kUnsupported);
    if (want == Want::kEncoder && s.kind == "text" && !s.text_embeds)
      throw ApiError(400,
                     fmt::format("the model '{}' is a text generation model (decoder) whose file declares no embedding "
                                 "pooling: start the server with --embedding to embed with it",
                                 id),
                     "model", "model_not_supported", ErrorKind::kUnsupported);
    if (want == Want::kReranker && s.kind != "rerank")
      throw ApiError(400,
                     fmt::format("the model '{}' is {}: it cannot rerank; /v1/rerank needs a cross-encoder (an encoder "
                                 "with a classification head, such as bge-reranker or ms-marco-MiniLM)",
                                 id, s.kind == "text" ? "a text generation model (decoder)" : "an embedding model (encoder)"),
                     "model", "model_not_supported", ErrorKind::kUnsupported);
  }

  // Evicts idle models, least recently used first, until `bytes` more fit the budget; holds them for `slot`. When
  // the rest of the budget is held by models in use, waits (up to budget_wait_seconds) for their requests to end.
  void reserve_locked(std::unique_lock<std::mutex>& lk, Slot& slot, int64_t bytes,
                      std::vector<std::shared_ptr<Loaded>>& victims) {
    const uint64_t budget = options.memory_budget;
    if (budget > 0) {
      if (uint64_t(bytes) > budget)
        throw ApiError(507,
                       fmt::format("the model '{}' needs {} (weights and KV cache), more than the whole memory budget "
                                   "of {} (--memory-budget)",
                                   slot.spec.id, format_bytes(uint64_t(bytes)), format_bytes(budget)),
                       "model", "model_too_large", ErrorKind::kResourceExhausted);
      const auto deadline = Clock::now() + std::chrono::seconds(options.budget_wait_seconds);
      while (used_locked() + uint64_t(bytes) > budget) {
        std::shared_ptr<Slot> lru;
        for (const auto& s : slots)
          if (s.get() != &slot && s->state == ModelState::kLoaded && s->leases == 0 &&
              (!lru || s->last_used < lru->last_used))
            lru = s;
        // Nothing idle to evict: wait for a lease to end (re-checking now and then: memory also frees when a
        // load fails or a model is unloaded), unless the wait is over.
        if (!lru && !stopping && Clock::now() < deadline) {
          budget_cv.wait_until(lk, std::min(deadline, Clock::now() + std::chrono::milliseconds(250)));
          continue;
        }
        if (!lru)
          throw ApiError(503,
                         fmt::format("the model '{}' needs {} but the memory budget of {} is held by models in use "
                                     "(waited {} s for their requests to finish); try again later",
                                     slot.spec.id, format_bytes(uint64_t(bytes)), format_bytes(budget),
                                     options.budget_wait_seconds),
                         "model", "memory_budget_busy", ErrorKind::kResourceExhausted);
        log(fmt::format("model '{}' unloaded to make room for '{}' (memory budget {})", lru->spec.id, slot.spec.id,
                        format_bytes(budget)));
        victims.push_back(detach_locked(*lru));
      }
    }
    slot.reserved = bytes;
  }

  // Loads the slot's model (the caller marked it loading). Holds its estimated memory from the budget first.
  std::shared_ptr<Loaded> load_slot(const std::shared_ptr<Slot>& slot) {
    ModelSpec spec;
    ModelSetOptions o;
    std::string draft_path;
    bool draft_explicit = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      spec = slot->spec;
      o = options;
      std::string draft = spec.draft;
      draft_explicit = !draft.empty();
      if (draft.empty()) draft = o.draft;
      if (draft.empty()) {
        const auto r = o.stack.find("draft");
        if (r != o.stack.end()) draft = r->second;
      }
      if (!draft.empty()) {
        const auto d = find_locked(draft, false);
        draft_path = d ? d->spec.path : draft;
        if (canonical_path(draft_path) == slot->canonical) draft_path.clear();  // not its own draft
      }
    }
    if (o.before_load) o.before_load(spec.id);
    const auto start = Clock::now();
    std::shared_ptr<const Weights> weights = Weights::open(spec.path);
    const bool decoder = is_decoder_architecture(weights->architecture());

    int64_t estimate = weights_bytes(*weights);
    std::shared_ptr<const Weights> draft_weights;
    // A [[model]] table's own slots and context win over the flags'.
    if (spec.parallel) o.parallel = *spec.parallel;
    if (spec.context) o.context = *spec.context;
    if (decoder) {
      const DecoderHParams hp = read_llama_hparams(*weights);
      const int context = engine_context(hp, o.context);
      estimate += kv_cache_bytes(hp, o.parallel, context);
      if (!draft_path.empty()) {
        try {
          draft_weights = Weights::open(draft_path);
          estimate += weights_bytes(*draft_weights) + kv_cache_bytes(read_llama_hparams(*draft_weights), o.parallel, context);
        } catch (const Error& e) {
          if (draft_explicit) throw;
          draft_weights.reset();
          log(fmt::format("model '{}' runs without a draft: {}", spec.id, e.what()));
        }
      }
    }
    {
      std::vector<std::shared_ptr<Loaded>> victims;
      {
        std::unique_lock<std::mutex> lock(mu);
        reserve_locked(lock, *slot, estimate, victims);
      }
      // Evicted models are freed (outside the lock) before this one takes their memory.
    }

    auto loaded = std::make_shared<Loaded>();
    loaded->loaded_at = unix_now();
    if (decoder) {
      auto d = std::make_unique<DecoderEntry>();
      d->id = spec.id;
      d->session = open_decoder(std::move(weights), o.threads);
      d->template_source = chat_template_from_metadata(d->session.weights->metadata(), false, spec.path);
      d->chat_template = std::make_unique<ChatTemplate>(d->template_source.source, d->template_source.bos_token,
                                                        d->template_source.eos_token);
      EngineOptions eo;
      eo.slots = o.parallel;
      eo.context = d->session.context_size(o.context);
      eo.max_queued = o.max_queued;
      eo.step_tokens = std::max(eo.step_tokens, eo.slots);
      loaded->weights_bytes = weights_bytes(*d->session.weights);
      if (draft_weights) {
        auto ds = std::make_unique<DecoderSession>(open_decoder(draft_weights, o.threads));
        const int dv = ds->model->hparams().n_vocab, tv = d->session.model->hparams().n_vocab;
        if (dv != tv) {
          const std::string why = fmt::format("the draft {} has a vocabulary of {} tokens, the model {}", draft_path, dv, tv);
          if (draft_explicit) fail("model '{}': {}", spec.id, why);
          log(fmt::format("model '{}' runs without a draft: {}", spec.id, why));
        } else {
          eo.draft = ds->model.get();
          eo.draft_max = o.draft_max;
          loaded->weights_bytes += weights_bytes(*ds->weights);
          d->draft = std::move(ds);
          d->draft_path = draft_path;
        }
      }
      load_adapters(*d, spec.lora.empty() ? o.lora : spec.lora, [&](const std::string& line) { log(line); });
      for (const auto& [name, use] : d->adapters) loaded->weights_bytes += use.adapter->bytes();
      d->engine = std::make_unique<Engine>(*d->session.model, *d->session.tokenizer, eo);
      loaded->cache_bytes = d->engine->cache_bytes();
      if (o.embedding || declares_embedding_pooling(*d->session.weights)) {
        // One loaded decoder serves chat and embeddings: the embedder runs the engine's model, not a copy.
        auto e = std::make_unique<EncoderEntry>();
        e->id = spec.id;
        e->weights = d->session.weights;
        e->embedder = std::make_unique<Embedder>(e->weights, *d->session.model, Pooling::kLast);
        e->batcher = std::make_unique<EmbedBatcher>(*e->embedder);
        loaded->encoder = std::move(e);
      }
      loaded->decoder = std::move(d);
    } else if (is_cross_encoder(*weights)) {
      auto r = std::make_unique<RerankerEntry>();
      r->id = spec.id;
      r->weights = weights;
      r->reranker = std::make_unique<Reranker>(weights, *shared_backend("auto", o.threads));
      loaded->weights_bytes = weights_bytes(*weights);
      loaded->reranker = std::move(r);
    } else {
      auto e = std::make_unique<EncoderEntry>();
      e->id = spec.id;
      e->weights = weights;
      e->embedder = std::make_unique<Embedder>(weights, *shared_backend("auto", o.threads));
      e->batcher = std::make_unique<EmbedBatcher>(*e->embedder);
      loaded->weights_bytes = weights_bytes(*weights);
      loaded->encoder = std::move(e);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    log(fmt::format("model '{}' loaded ({}, {} weights{}, {:.2f} s)", spec.id, decoder ? "text generation" : loaded->reranker ? "reranking: a cross-encoder" : "embeddings",
                    format_bytes(uint64_t(loaded->weights_bytes)),
                    decoder ? " + " + format_bytes(uint64_t(loaded->cache_bytes)) + " KV cache" : std::string(),
                    seconds));
    return loaded;
  }

  // The kind of model at `path`, and for a text model whether its file declares an embedding pooling.
  std::string probe_kind(const std::string& path, bool* declares_pooling) {
    const auto weights = Weights::open(path);
    if (is_decoder_architecture(weights->architecture())) {
      *declares_pooling = declares_embedding_pooling(*weights);
      return "text";
    }
    return is_cross_encoder(*weights) ? "rerank" : "embedding";
  }

  std::shared_ptr<LeaseToken> acquire(const std::string& name, Want want) {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      if (stopping) fail(ErrorKind::kCancelled, "the server is shutting down");
      const std::shared_ptr<Slot> slot = get_locked(name);
      if (slot->kind.empty() && want != Want::kAny && slot->state == ModelState::kUnloaded) {
        // Which kind of model it is, from its metadata alone, so that a wrong request loads nothing.
        const std::string path = slot->spec.path;
        lk.unlock();
        bool declares_pooling = false;
        const std::string kind = probe_kind(path, &declares_pooling);
        lk.lock();
        slot->kind = kind;
        slot->text_embeds = kind == "text" && (declares_pooling || options.embedding);
        continue;
      }
      check_kind(*slot, want);
      if (slot->state == ModelState::kLoaded) {
        ++slot->leases;
        slot->last_used = Clock::now();
        return std::make_shared<LeaseToken>(shared_from_this(), slot, slot->loaded);
      }
      if (slot->state == ModelState::kLoading) {
        const uint64_t attempt = slot->attempt;
        loaded_cv.wait(lk, [&] { return slot->state != ModelState::kLoading || slot->attempt != attempt || stopping; });
        if (slot->state == ModelState::kUnloaded && slot->attempt == attempt && slot->error)
          std::rethrow_exception(slot->error);
        continue;
      }
      // Unloaded: this request loads it; others wait for this load.
      slot->state = ModelState::kLoading;
      ++slot->attempt;
      slot->error = nullptr;
      lk.unlock();
      std::shared_ptr<Loaded> loaded;
      std::exception_ptr error;
      try {
        loaded = load_slot(slot);
      } catch (...) {
        error = std::current_exception();
      }
      lk.lock();
      slot->reserved = 0;
      if (error) {
        slot->state = ModelState::kUnloaded;
        slot->error = error;
        slot->last_error = error_text(error);
        log(fmt::format("model '{}' failed to load: {}", slot->spec.id, slot->last_error));
        if (slot->removed) forget_retiring_locked(*slot);
        loaded_cv.notify_all();
        std::rethrow_exception(error);
      }
      slot->kind = loaded->decoder ? "text" : loaded->reranker ? "rerank" : "embedding";
      slot->text_embeds = loaded->decoder && loaded->encoder;
      slot->loaded = std::move(loaded);
      slot->state = ModelState::kLoaded;
      slot->last_used = Clock::now();
      slot->last_error.clear();
      loaded_cv.notify_all();
      reap_cv.notify_all();
      if (slot->removed) {  // dropped by a reload while it loaded
        std::shared_ptr<Loaded> drop = detach_locked(*slot);
        forget_retiring_locked(*slot);
        lk.unlock();
        drop.reset();
        lk.lock();
      }
    }
  }

  // Unloads idle models whose TTL passed; sleeps until the next one could expire or something changes.
  void reap_loop() {
    std::unique_lock<std::mutex> lk(mu);
    while (!stopping) {
      const auto now = Clock::now();
      auto next = Clock::time_point::max();
      std::vector<std::shared_ptr<Loaded>> victims;
      for (const auto& s : slots) {
        const int64_t ttl = ttl_of(*s);
        if (s->state != ModelState::kLoaded || s->leases > 0 || ttl <= 0) continue;
        const auto expiry = s->last_used + std::chrono::seconds(ttl);
        if (expiry <= now) {
          log(fmt::format("model '{}' unloaded after {} s idle", s->spec.id, ttl));
          victims.push_back(detach_locked(*s));
        } else {
          next = std::min(next, expiry);
        }
      }
      if (!victims.empty()) {
        lk.unlock();
        victims.clear();
        lk.lock();
        continue;
      }
      if (next == Clock::time_point::max()) reap_cv.wait(lk);
      else reap_cv.wait_until(lk, next);
    }
  }

  ModelInfo info_locked(const Slot& s) const {
    ModelInfo i;
    i.id = s.spec.id;
    i.aliases = s.spec.aliases;
    for (const auto& [role, name] : options.stack) {
      const auto target = find_locked(name, false);
      if (target.get() == &s) i.roles.push_back(role);
    }
    i.path = s.spec.path;
    i.kind = s.kind;
    i.text_embeds = s.text_embeds;
    i.state = s.state;
    i.preload = s.spec.preload;
    i.ttl_seconds = ttl_of(s);
    i.created = s.created;
    i.leases = s.leases;
    i.last_error = s.last_error;
    if (s.state == ModelState::kLoaded && s.loaded) {
      if (s.leases == 0) i.idle_seconds = std::chrono::duration<double>(Clock::now() - s.last_used).count();
      i.loaded_at = s.loaded->loaded_at;
      i.weights_bytes = s.loaded->weights_bytes;
      i.cache_bytes = s.loaded->cache_bytes;
      if (s.loaded->decoder) {
        i.has_engine = true;
        i.engine = s.loaded->decoder->engine->load();
        i.draft = s.loaded->decoder->draft_path;
        for (const auto& [name, use] : s.loaded->decoder->adapters) i.adapters.push_back(name);
      }
    }
    return i;
  }

  // The registry a list of specs (and the models folder) makes, checked. Error on a conflict.
  std::vector<ModelSpec> plan(const std::vector<ModelSpec>& specs, const ModelSetOptions& o) const {
    std::vector<ModelSpec> merged;
    std::set<std::string> paths;
    for (ModelSpec spec : specs) {
      if (spec.id.empty() || spec.path.empty())
        fail("model '{}={}': the id and the path must not be empty", spec.id, spec.path);
      std::error_code ec;
      // A model pulled from the Hugging Face Hub, named as `hearth pull` took it: its file in the hub cache.
      if (!fs::exists(spec.path, ec))
        if (const auto ref = hub::parse_hub_ref(spec.path)) spec.path = hub::resolve_cached(*ref);
      if (!fs::exists(spec.path, ec)) fail(ErrorKind::kNotFound, "model '{}': {}: no such file or folder", spec.id, spec.path);
      if (spec.ttl_seconds && *spec.ttl_seconds < 0) fail("model '{}': the ttl must be >= 0", spec.id);
      merged.push_back(spec);
      paths.insert(canonical_path(spec.path));
    }
    if (!o.models_dir.empty())
      for (ModelSpec& spec : scan_models_dir(o.models_dir)) {
        // A file also given by -m or [[model]] is that model; an id taken by one of them leaves the file out.
        if (paths.count(canonical_path(spec.path))) continue;
        if (std::any_of(specs.begin(), specs.end(), [&](const ModelSpec& s) { return s.id == spec.id; })) {
          log(fmt::format("{} left out: the id '{}' is another model's", spec.path, spec.id));
          continue;
        }
        merged.push_back(std::move(spec));
      }
    if (merged.empty())
      fail("no model: give -m PATH, --models-dir DIR or [[model]] tables in the config file (`hearth setup` writes "
           "one that `hearth serve` reads by default)");
    std::map<std::string, std::string> names;  // name -> id
    for (const ModelSpec& spec : merged) {
      if (names.count(spec.id)) {
        if (names[spec.id] == spec.id)
          fail("two models have the id '{}': give one an alias (-m ALIAS=PATH)", spec.id);
        fail("the name '{}' is the id of one model and an alias of '{}'", spec.id, names[spec.id]);
      }
      names[spec.id] = spec.id;
    }
    for (const ModelSpec& spec : merged)
      for (const std::string& a : spec.aliases) {
        if (a.empty()) fail("model '{}': an empty alias", spec.id);
        const auto it = names.find(a);
        if (it != names.end() && it->second != spec.id)
          fail("the name '{}' is used by two models ('{}' and '{}')", a, it->second, spec.id);
        names[a] = spec.id;
      }
    for (const auto& [role, name] : o.stack) {
      const auto& roles = stack_roles();
      if (std::find(roles.begin(), roles.end(), role) == roles.end())
        fail("unknown role '{}' in the model stack (chat, embed, rerank, draft)", role);
      if (!names.count(name)) fail("the model stack's role '{}' names '{}', which is no model", role, name);
    }
    if (o.parallel < 1 || o.max_queued < 0) fail("parallel must be >= 1 and max-queued >= 0");
    return merged;
  }

  // A new registry and options; the caller holds config_mu.
  void reconfigure(std::vector<ModelSpec> specs, ModelSetOptions o) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!o.log) o.log = options.log;
      if (!o.before_load) o.before_load = options.before_load;
      if (o.threads != options.threads) {
        log(fmt::format("threads stay {} until a restart (one backend serves every model)", options.threads));
        o.threads = options.threads;
      }
    }
    const std::vector<ModelSpec> merged = plan(specs, o);
    std::vector<std::shared_ptr<Loaded>> drop;
    {
      std::lock_guard<std::mutex> lock(mu);
      options = std::move(o);
      explicit_specs = std::move(specs);
      drop = apply_locked(merged, true);
      for (const auto& s : slots)
        if (s->loaded && s->loaded->decoder) s->loaded->decoder->engine->set_max_queued(options.max_queued);
    }
    reap_cv.notify_all();
    drop.clear();  // engines join outside the lock
  }

  // Makes `merged` the registry (under the lock). Returns the models to free once the lock is released.
  std::vector<std::shared_ptr<Loaded>> apply_locked(const std::vector<ModelSpec>& merged, bool announce) {
    std::vector<std::shared_ptr<Slot>> next;
    std::vector<std::shared_ptr<Loaded>> drop;
    std::set<Slot*> kept;
    for (const ModelSpec& spec : merged) {
      const std::string canon = canonical_path(spec.path);
      std::shared_ptr<Slot> slot;
      for (const auto& s : slots)
        if (s->spec.id == spec.id && s->canonical == canon) slot = s;
      if (slot) {
        slot->spec = spec;
        kept.insert(slot.get());
      } else {
        slot = std::make_shared<Slot>();
        slot->spec = spec;
        slot->canonical = canon;
        slot->created = file_mtime(spec.path);
        if (announce) log(fmt::format("model '{}' added ({})", spec.id, spec.path));
      }
      next.push_back(std::move(slot));
    }
    for (const auto& s : slots) {
      if (kept.count(s.get())) continue;
      s->removed = true;
      if (announce) log(fmt::format("model '{}' removed{}", s->spec.id,
                                    s->state == ModelState::kUnloaded ? "" : " (unloaded once idle)"));
      if (s->state == ModelState::kLoaded && s->leases == 0) drop.push_back(detach_locked(*s));
      else if (s->state != ModelState::kUnloaded) retiring.push_back(s);
    }
    slots = std::move(next);
    return drop;
  }
};

// ---- ModelSet ----

ModelSet::ModelSet(std::vector<ModelSpec> specs, ModelSetOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = std::move(options);
  const std::vector<ModelSpec> merged = impl_->plan(specs, impl_->options);
  impl_->explicit_specs = std::move(specs);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->apply_locked(merged, false);
  }
  impl_->reaper = std::thread([impl = impl_.get()] { impl->reap_loop(); });
}

ModelSet::~ModelSet() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->reap_cv.notify_all();
  impl_->loaded_cv.notify_all();
  impl_->budget_cv.notify_all();
  impl_->reaper.join();
}

void ModelSet::preload() {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const auto& s : impl_->slots)
      if (s->spec.preload) ids.push_back(s->spec.id);
  }
  for (const std::string& id : ids) impl_->acquire(id, Want::kAny);
  impl_->ready = true;
}

bool ModelSet::ready() const { return impl_->ready.load(); }

std::string ModelSet::resolve(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->get_locked(name)->spec.id;
}

DecoderLease ModelSet::decoder(const std::string& name) {
  auto token = impl_->acquire(name, Want::kDecoder);
  DecoderEntry* entry = token->loaded->decoder.get();
  return DecoderLease(std::move(token), entry);
}

EncoderLease ModelSet::encoder(const std::string& name) {
  auto token = impl_->acquire(name, Want::kEncoder);
  EncoderEntry* entry = token->loaded->encoder.get();
  HEARTH_ASSERT(entry != nullptr);  // check_kind let through only models loaded with an embedder
  return EncoderLease(std::move(token), entry);
}

RerankerLease ModelSet::reranker(const std::string& name) {
  auto token = impl_->acquire(name, Want::kReranker);
  RerankerEntry* entry = token->loaded->reranker.get();
  return RerankerLease(std::move(token), entry);
}

std::vector<ModelInfo> ModelSet::list() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<ModelInfo> out;
  for (const auto& s : impl_->slots) out.push_back(impl_->info_locked(*s));
  return out;
}

void ModelSet::for_each_loaded(
    const std::function<void(const std::string& id, const DecoderEntry*, const EncoderEntry*)>& fn) const {
  std::vector<std::pair<std::string, std::shared_ptr<Loaded>>> loaded;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const auto& s : impl_->slots)
      if (s->state == ModelState::kLoaded && s->loaded) loaded.emplace_back(s->spec.id, s->loaded);
  }
  for (const auto& [id, l] : loaded) fn(id, l->decoder.get(), l->encoder.get());
}

ModelInfo ModelSet::info(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->info_locked(*impl_->get_locked(name));
}

void ModelSet::load(const std::string& name) { impl_->acquire(name, Want::kAny); }

bool ModelSet::unload(const std::string& name) {
  std::shared_ptr<Loaded> drop;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    const auto slot = impl_->get_locked(name);
    if (slot->state == ModelState::kLoading)
      throw ApiError(409, fmt::format("the model '{}' is loading; unload it once it has loaded", slot->spec.id),
                     "model", "model_in_use", ErrorKind::kBusy);
    if (slot->leases > 0)
      throw ApiError(409,
                     fmt::format("the model '{}' is in use by {} request{}; unload it when they have finished",
                                 slot->spec.id, slot->leases, slot->leases == 1 ? "" : "s"),
                     "model", "model_in_use", ErrorKind::kBusy);
    if (slot->state == ModelState::kUnloaded) return false;
    drop = impl_->detach_locked(*slot);
    impl_->log(fmt::format("model '{}' unloaded (admin request)", slot->spec.id));
  }
  drop.reset();  // the engine's thread joins outside the lock
  return true;
}

void ModelSet::reconfigure(std::vector<ModelSpec> specs, ModelSetOptions options) {
  std::lock_guard<std::mutex> config_lock(impl_->config_mu);
  impl_->reconfigure(std::move(specs), std::move(options));
}

void ModelSet::rescan() {
  std::lock_guard<std::mutex> config_lock(impl_->config_mu);
  std::vector<ModelSpec> specs;
  ModelSetOptions options;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    specs = impl_->explicit_specs;
    options = impl_->options;
  }
  impl_->reconfigure(std::move(specs), std::move(options));
}

uint64_t ModelSet::memory_used() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->used_locked();
}

uint64_t ModelSet::memory_budget() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->options.memory_budget;
}

std::string ModelSet::models_dir() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->options.models_dir;
}

std::map<std::string, std::string> ModelSet::stack() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->options.stack;
}

}  // namespace hearth::server
