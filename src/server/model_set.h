// The models a server knows, by id, and the ones it holds in memory (docs/server.md, "Models").
//
// A model is registered from `-m` (ALIAS=PATH), a `[[model]]` table of the config file, or a scan of the models
// folder; registering reads nothing but the path's existence. It is loaded on first use: the request that finds
// it unloaded loads it, requests arriving meanwhile wait for that one load. A decoder (text generation) gets a
// batching Engine and its chat template, an encoder (embeddings) an EmbedBatcher, a cross-encoder (an encoder
// with a classification head: reranking) a Reranker.
//
// Requests hold a lease (a shared_ptr to the entry) for as long as they use the model, streams included: a model
// is unloaded only when no lease is held. Loaded models are unloaded
//   - after an idle time (a per-model TTL, else the set's; a reaper thread watches),
//   - least recently used first, when loading another would exceed the memory budget (weights + KV cache),
//   - on request (admin API: refused with 409 while leased), or when a reload drops them (once idle).
// Every operation is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/chat_template.h"
#include "runtime/embed_batcher.h"
#include "runtime/embedder.h"
#include "runtime/engine.h"
#include "runtime/reranker.h"
#include "runtime/session.h"
#include "server/model_spec.h"

namespace hearth::server {


// A byte count: "4G", "512M", "1.5GiB", "64k", "1048576" (K, M, G, T are powers of 1024; "B" / "iB" may follow).
// Error for anything else.
uint64_t parse_byte_size(const std::string& text);

// The roles of the model stack: clients may name a role instead of a model ("model": "embed").
const std::vector<std::string>& stack_roles();  // chat, embed, rerank, draft

struct ModelSetOptions {
  int threads = 0;      // the process-wide backend's threads (0: as it is / one per physical core)
  int parallel = 4;     // engine slots per decoder
  int context = 0;      // positions per sequence (0: the model's, at most 4096)
  int max_queued = 64;  // requests waiting per engine before 429
  int64_t idle_ttl = 0;        // seconds a model may stay idle before it is unloaded (0: never); a spec's ttl wins
  uint64_t memory_budget = 0;  // bytes of weights + KV cache the loaded models may hold together (0: no limit)
  // Seconds a load waits for models in use to finish their requests when the budget is held by them, before a
  // 503 (0: refuse at once).
  int budget_wait_seconds = 30;
  std::string draft;     // text models' draft (ID or PATH) unless their spec names one; "": the stack's draft role
  int draft_max = 4;     // tokens the draft guesses per step
  std::vector<std::string> lora;  // text models' run-time LoRA adapters ([NAME=]FILE[:SCALE]) unless their spec names some
  std::string models_dir;  // scanned for models loaded on demand ("": none)
  // Every text model also serves /v1/embeddings from its loaded weights (pooling: the one its file declares, else
  // the last token's). Text models whose file declares mean or last pooling (Qwen3-Embedding) always do.
  bool embedding = false;
  std::map<std::string, std::string> stack;  // role -> model id or alias
  // One line per event (load, unload, eviction, a draft left out); default: stderr, prefixed "hearth: ".
  std::function<void(const std::string&)> log;
  // Tests: runs on the loading thread before a model is loaded (to make a load slow, or to count loads).
  std::function<void(const std::string& id)> before_load;
};

struct DecoderEntry {
  std::string id;
  DecoderSession session;
  ChatTemplateSource template_source;
  std::unique_ptr<ChatTemplate> chat_template;
  std::unique_ptr<DecoderSession> draft;  // the engine's draft model (declared before the engine: it outlives it)
  std::string draft_path;
  std::unique_ptr<Engine> engine;
  // Run-time LoRA adapters (docs/server.md), loaded with the model: by name, with the scale they were given; and
  // the ones a request that names none runs with (null: the base model).
  std::map<std::string, LoraUse> adapters;
  std::shared_ptr<const LoraStack> default_lora;
};

// An embedding model, or the embedding side of a text model that also embeds (then `embedder` runs the
// DecoderEntry's own decoder, which outlives it: see Loaded).
struct EncoderEntry {
  std::string id;
  std::shared_ptr<const Weights> weights;
  std::unique_ptr<Embedder> embedder;
  std::unique_ptr<EmbedBatcher> batcher;
};

// A cross-encoder (an encoder with a classification head): scores query-document pairs, runs on the request's
// thread.
struct RerankerEntry {
  std::string id;
  std::shared_ptr<const Weights> weights;
  std::unique_ptr<Reranker> reranker;
};

// A lease on a loaded model: while any copy is alive the model stays loaded (and its entry valid).
using DecoderLease = std::shared_ptr<DecoderEntry>;
using EncoderLease = std::shared_ptr<EncoderEntry>;
using RerankerLease = std::shared_ptr<RerankerEntry>;

enum class ModelState { kUnloaded, kLoading, kLoaded };
const char* to_string(ModelState state);

// A snapshot of one model, for /v1/models and the admin API.
struct ModelInfo {
  std::string id;
  std::vector<std::string> aliases;
  std::vector<std::string> roles;  // stack roles naming it
  std::string path;
  std::string kind;  // "text", "embedding", "rerank", or "" before the file was first opened
  bool text_embeds = false;           // a text model that serves /v1/embeddings too (known with kind)
  std::vector<std::string> adapters;  // a loaded text model's run-time LoRA adapters, by name
  ModelState state = ModelState::kUnloaded;
  bool preload = false;
  int64_t ttl_seconds = 0;  // in effect (0: never unloaded for idleness)
  int64_t created = 0;      // the file's modification time (Unix seconds): /v1/models' "created"
  int leases = 0;           // requests using it now
  double idle_seconds = 0;  // loaded and unused: since its last use
  int64_t loaded_at = 0;    // Unix seconds
  int64_t weights_bytes = 0, cache_bytes = 0;  // loaded: mapped weights (draft's included), KV cache
  bool has_engine = false;  // a loaded text model: `engine` is its load
  EngineLoad engine;
  std::string draft;       // a loaded text model's draft (its path), "" without
  std::string last_error;  // the last failed load, "" if none

  bool serves_embeddings() const { return kind == "embedding" || text_embeds; }
};

class ModelSet {
 public:
  // Registers the models (loads nothing; see preload()) and the models folder's. Error when two models share an
  // id or a name (id or alias), a path does not exist, a stack role is unknown or names no model.
  ModelSet(std::vector<ModelSpec> specs, ModelSetOptions options);
  // Stops the reaper. Models still leased are freed with their last lease.
  ~ModelSet();
  ModelSet(const ModelSet&) = delete;
  ModelSet& operator=(const ModelSet&) = delete;

  // Loads the preload models in order (Error on the first that fails), then ready() is true.
  void preload();
  bool ready() const;

  // The id a name means: an id, an alias, or a stack role. ApiError 404 (model_not_found) otherwise.
  std::string resolve(const std::string& name) const;
  // A lease on the model, loaded first if it is not (waiting for a load in progress). ApiError 404 for an unknown
  // name, 400 (model_not_supported) when the model cannot do it (embeddings from a decoder, text from an
  // encoder, reranking from either, embeddings or text from a reranker), 507 (model_too_large) when it alone exceeds the memory budget, 503 (memory_budget_busy) when the
  // budget is held by models in use; the load's own Error when it fails.
  DecoderLease decoder(const std::string& name);
  EncoderLease encoder(const std::string& name);
  RerankerLease reranker(const std::string& name);

  std::vector<ModelInfo> list() const;  // in registration order
  // Calls `fn` with each loaded model's entry (exactly one of the two set), without taking a lease: it neither
  // counts as a use nor delays an unload beyond the call. For the metrics.
  void for_each_loaded(const std::function<void(const std::string& id, const DecoderEntry*, const EncoderEntry*)>& fn) const;
  ModelInfo info(const std::string& name) const;
  // Loads the model (or waits for its load); errors as decoder().
  void load(const std::string& name);
  // Unloads it now. false: it was not loaded. ApiError 409 (model_in_use) while requests hold it or it loads.
  bool unload(const std::string& name);

  // Replaces the registry and the options (a configuration reload): new models are registered, models no longer
  // listed (or whose path changed) are unloaded as soon as no request holds them, the others keep their state.
  // Everything is checked first: on Error nothing changed. Limits apply at once (queue bounds to loaded engines,
  // the budget and TTLs to the next load and reaper pass); parallel, context and drafts to the next load.
  void reconfigure(std::vector<ModelSpec> specs, ModelSetOptions options);
  // Scans the models folder again: new files are registered, vanished ones dropped as by reconfigure.
  void rescan();

  uint64_t memory_used() const;  // bytes held (and reserved by loads in progress)
  uint64_t memory_budget() const;
  std::string models_dir() const;
  std::map<std::string, std::string> stack() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the leases (a lease's end updates its model's state)
};

}  // namespace hearth::server
