// The admin API of `hearth serve` (docs/server.md, "Admin API") as plain functions from the ModelSet and the
// process's state to JSON bodies, so that tests drive them without HTTP; http_server.cpp only routes to them.
//
//   GET  /admin/status         admin_status: version, uptime, devices and backends, memory, every model's state
//                              (loaded ones with their memory, engine slots in use and queue depth), the stack,
//                              configuration reloads
//   GET  /admin/models         admin_models: the model files the server knows (the models folder scanned again)
//                              with their metadata
//   POST /admin/models/load    admin_load {"model": NAME}: loads it (waits for the load) and returns its status
//   POST /admin/models/unload  admin_unload {"model": NAME}: unloads it now; 409 while requests use it
//   POST /admin/models/pull    admin_pull {"model": "OWNER/REPO[:QUANT]", "revision"?: REV}: downloads it from the
//                              Hugging Face Hub into the hub cache, streaming its progress as server-sent events
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "hub/hub_ref.h"
#include "server/model_set.h"
#include "server/responses.h"

namespace hearth::server {

// hearth's version (the CMake project's).
const char* hearth_version();

// What the admin API reports about the process beside its models. Thread-safe.
class AdminState {
 public:
  AdminState();
  void set_config_path(std::string path);
  // The outcome of a configuration reload (SIGHUP): applied, or kept the old one because of `error`.
  void record_reload(bool ok, const std::string& error = "");
  double uptime_seconds() const;
  // {"path", "reloads", "failed_reloads", "last_reload" (Unix seconds or null), "last_error" (or null)}
  Json config_json() const;

 private:
  mutable std::mutex mu_;
  std::chrono::steady_clock::time_point started_;
  std::string config_path_;
  int reloads_ = 0, failed_reloads_ = 0;
  int64_t last_reload_ = 0;
  std::string last_error_;
};

// {"cpu": {model, arch, physical_cores, logical_cpus, memory_bytes, kernels}, "backends": [{name, available, detail}]}
Json devices_json();

// One model's state: id, kind, state, aliases, roles, path, preload, ttl_seconds, in_use, idle_seconds, loaded_at,
// memory {weights_bytes, kv_cache_bytes, total_bytes}, engine {slots, slots_in_use, queued} (loaded text models),
// draft, last_error.
Json model_status_json(const ModelInfo& info);

// GET /admin/status. `in_flight`: HTTP requests being served (-1: not reported).
Json admin_status(const ModelSet& models, const AdminState& state, int in_flight = -1);

// What a model file (or Hugging Face folder) says about itself: format, size_bytes, architecture, name,
// parameters, tensors, file_type, context_length, embedding_length, layers; "error" instead when it cannot be read.
Json model_file_json(const std::string& path);

// GET /admin/models: {"object": "list", "models_dir", "data": [{"id", "state", ...model_file_json}]}.
Json admin_models(ModelSet& models);

// POST /admin/models/load and /unload; the body is {"model": NAME} (an id, alias or role). ApiError 400 for a
// body without one, 404 for an unknown model; load's errors as ModelSet::decoder, unload's 409 while in use.
Json admin_load(ModelSet& models, const std::string& body);
Json admin_unload(ModelSet& models, const std::string& body);

// POST /admin/models/pull's body checked: ApiError 400 for a body without a Hub name ("OWNER/REPO[:QUANT]") or with a
// revision that is not a string.
struct PullRequest {
  hub::HubRef ref;
  std::string revision = "main";
};
PullRequest parse_pull_request(const std::string& body);

// Runs the pull, handing `send` each server-sent event (sse_event framing): {"status": "resolving"}, then
// {"status": "downloading", file, file_index, file_count, completed, total, resumed_from, bytes_per_second} about
// ten times a second per file, then {"status": "success", model, path, commit, files, files_downloaded,
// bytes_downloaded}, or an OpenAI error body ({"error": {...}}) if it failed; always "data: [DONE]" last. `send`
// returning false (the client left) cancels the pull; the partial download stays to be resumed.
void admin_pull(const PullRequest& request, const std::function<bool(const std::string&)>& send);

// A model object of /v1/models: OpenAI's fields (id, object, created, owned_by), then hearth's: "aliases", and once
// the file was opened "capabilities" (of "chat", "completions", "embeddings", "rerank") and a loaded text model's
// run-time LoRA "adapters" (names a request's "lora" field takes).
Json model_json(const ModelInfo& model);
// /v1/models: every known model, loaded or not.
Json models_list_json(const ModelSet& models);

}  // namespace hearth::server
