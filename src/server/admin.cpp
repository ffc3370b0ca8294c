#include "server/admin.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "backends/registry.h"
#include "core/cpu_features.h"
#include "formats/weights.h"
#include "hub/hub_client.h"
#include "server/api_error.h"
#include "server/sse.h"

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "unknown"
#endif

namespace hearth::server {

namespace fs = std::filesystem;

const char* hearth_version() { return HEARTH_VERSION; }

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json null_if_empty(const std::string& s) { return s.empty() ? Json() : Json(s); }

// llama.cpp's general.file_type numbering (LLAMA_FTYPE_MOSTLY_*).
std::string file_type_name(int64_t t) {
  static const std::map<int64_t, const char*> names = {
      {0, "F32"},     {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},    {8, "Q5_0"},
      {9, "Q5_1"},    {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"},
      {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"},   {19, "IQ2_XXS"}, {20, "IQ2_XS"},
      {21, "Q2_K_S"}, {22, "IQ3_XS"}, {23, "IQ3_XXS"}, {24, "IQ1_S"}, {25, "IQ4_NL"}, {26, "IQ3_S"},
      {27, "IQ3_M"},  {28, "IQ2_S"},  {29, "IQ2_M"},  {30, "IQ4_XS"}, {31, "IQ1_M"},  {32, "BF16"}};
  const auto it = names.find(t);
  return it != names.end() ? it->second : fmt::format("type {}", t);
}

std::string model_name(const std::string& body) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    throw ApiError(400, "the body must be a JSON object: {\"model\": \"<id>\"}");
  if (!j.contains("model") || !j["model"].is_string() || j["model"].get<std::string>().empty())
    throw ApiError(400, "missing field 'model' (a model id, alias or role)", "model");
  return j["model"].get<std::string>();
}

}  // namespace

// ---- AdminState ----

AdminState::AdminState() : started_(std::chrono::steady_clock::now()) {}

void AdminState::set_config_path(std::string path) {
  std::lock_guard<std::mutex> lock(mu_);
  config_path_ = std::move(path);
}

void AdminState::record_reload(bool ok, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  ++reloads_;
  if (!ok) ++failed_reloads_;
  last_reload_ = unix_now();
  last_error_ = ok ? std::string() : error;
}

double AdminState::uptime_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

Json AdminState::config_json() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {{"path", null_if_empty(config_path_)},
          {"reloads", reloads_},
          {"failed_reloads", failed_reloads_},
          {"last_reload", last_reload_ ? Json(last_reload_) : Json()},
          {"last_error", null_if_empty(last_error_)}};
}

// ---- JSON bodies ----

Json devices_json() {
  const CpuInfo& cpu = cpu_info();
  Json backends = Json::array();
  for (const BackendEntry& b : list_backends())
    backends.push_back({{"name", b.name}, {"available", b.available}, {"detail", b.detail}});
  return {{"cpu",
           {{"model", cpu.model_name},
            {"arch", cpu.arch},
            {"physical_cores", cpu.physical_cores},
            {"logical_cpus", cpu.logical_cpus},
            {"memory_bytes", cpu.memory_bytes},
            {"kernels", cpu.kernel_level()}}},
          {"backends", backends}};
}

Json model_status_json(const ModelInfo& i) {
  const bool loaded = i.state == ModelState::kLoaded;
  Json j;
  j["id"] = i.id;
  j["kind"] = null_if_empty(i.kind);
  j["state"] = to_string(i.state);
  j["aliases"] = i.aliases;
  j["roles"] = i.roles;
  j["path"] = i.path;
  j["preload"] = i.preload;
  j["ttl_seconds"] = i.ttl_seconds;
  j["in_use"] = i.leases;
  j["idle_seconds"] = loaded && i.leases == 0 ? Json(i.idle_seconds) : Json();
  j["loaded_at"] = loaded ? Json(i.loaded_at) : Json();
  j["memory"] = {{"weights_bytes", i.weights_bytes},
                 {"kv_cache_bytes", i.cache_bytes},
                 {"total_bytes", i.weights_bytes + i.cache_bytes}};
  j["engine"] = i.has_engine ? Json{{"slots", i.engine.slots},
                                    {"slots_in_use", i.engine.running},
                                    {"queued", i.engine.queued}}
                             : Json();
  j["draft"] = null_if_empty(i.draft);
  j["embeddings"] = i.serves_embeddings();
  j["adapters"] = i.adapters;
  j["last_error"] = null_if_empty(i.last_error);
  return j;
}

Json admin_status(const ModelSet& models, const AdminState& state, int in_flight) {
  Json list = Json::array();
  for (const ModelInfo& i : models.list()) list.push_back(model_status_json(i));
  const uint64_t budget = models.memory_budget();
  Json stack = Json::object();
  for (const auto& [role, name] : models.stack()) stack[role] = name;
  Json j;
  j["object"] = "hearth.status";
  j["version"] = hearth_version();
  j["uptime_seconds"] = state.uptime_seconds();
  j["ready"] = models.ready();
  j["devices"] = devices_json();
  j["memory"] = {{"budget_bytes", budget ? Json(budget) : Json()}, {"used_bytes", models.memory_used()}};
  j["models"] = list;
  j["stack"] = stack;
  j["models_dir"] = null_if_empty(models.models_dir());
  j["config"] = state.config_json();
  if (in_flight >= 0) j["http"] = {{"in_flight", in_flight}};
  return j;
}

Json model_file_json(const std::string& path) {
  Json j;
  std::error_code ec;
  const bool folder = fs::is_directory(path, ec);
  j["format"] = folder ? "huggingface" : "gguf";
  uint64_t size = 0;
  if (folder) {
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code e2;
      if (it->is_regular_file(e2)) size += it->file_size(e2);
    }
  } else {
    size = fs::file_size(path, ec);
    if (ec) size = 0;
  }
  j["size_bytes"] = size;
  try {
    const auto w = Weights::open(path);
    const Metadata& m = w->metadata();
    const std::string arch = w->architecture();
    int64_t parameters = 0;
    for (const WeightTensor& t : w->tensors()) parameters += t.n_elements();
    const auto ftype = m.find_int("general.file_type");
    const auto ctx = m.find_int(arch + ".context_length");
    const auto embd = m.find_int(arch + ".embedding_length");
    const auto layers = m.find_int(arch + ".block_count");
    j["architecture"] = arch;
    j["name"] = m.find_string("general.name") ? Json(*m.find_string("general.name")) : Json();
    j["parameters"] = parameters;
    j["tensors"] = w->tensors().size();
    j["file_type"] = ftype ? Json(file_type_name(*ftype)) : Json();
    j["context_length"] = ctx ? Json(*ctx) : Json();
    j["embedding_length"] = embd ? Json(*embd) : Json();
    j["layers"] = layers ? Json(*layers) : Json();
  } catch (const std::exception& e) {
    j["error"] = e.what();
  }
  return j;
}

Json admin_models(ModelSet& models) {
  Json out;
  out["object"] = "list";
  out["models_dir"] = null_if_empty(models.models_dir());
  // Files added to (or removed from) the folder since the last scan.
  try {
    models.rescan();
  } catch (const std::exception& e) {
    out["scan_error"] = e.what();
  }
  Json data = Json::array();
  for (const ModelInfo& i : models.list()) {
    Json j;
    j["id"] = i.id;
    j["path"] = i.path;
    j["state"] = to_string(i.state);
    j["preload"] = i.preload;
    const Json file = model_file_json(i.path);
    for (const auto& [k, v] : file.items()) j[k] = v;
    data.push_back(std::move(j));
  }
  out["data"] = std::move(data);
  return out;
}

Json admin_load(ModelSet& models, const std::string& body) {
  const std::string name = model_name(body);
  try {
    models.resolve(name);
  } catch (const ApiError& e) {
    if (e.status() != 404) throw;
    try {
      models.rescan();  // a file put into the models folder since the last scan
    } catch (const std::exception&) {
    }
  }
  models.load(name);
  return model_status_json(models.info(name));
}

PullRequest parse_pull_request(const std::string& body) {
  const std::string name = model_name(body);
  const auto ref = hub::parse_hub_ref(name);
  if (!ref)
    throw ApiError(400, fmt::format("'{}' is not a Hugging Face model name: expected OWNER/REPO or OWNER/REPO:QUANT", name),
                   "model");
  PullRequest r{*ref};
  const Json j = Json::parse(body);
  if (j.contains("revision")) {
    if (!j["revision"].is_string() || j["revision"].get<std::string>().empty())
      throw ApiError(400, "'revision' must be a branch, tag or commit (a non-empty string)", "revision");
    r.revision = j["revision"].get<std::string>();
  }
  return r;
}

void admin_pull(const PullRequest& request, const std::function<bool(const std::string&)>& send) {
  const std::string model = request.ref.text();
  try {
    const hub::PullResult r = hub::pull(request.ref, request.revision, hub::hub_options_from_env(),
                                        [&](const hub::PullProgress& p) {
      Json e = {{"object", "hearth.pull"}, {"model", model}};
      if (p.stage == hub::PullProgress::Stage::kResolving) {
        e["status"] = "resolving";
      } else if (p.stage == hub::PullProgress::Stage::kDownloading) {
        e["status"] = "downloading";
        e["file"] = p.file;
        e["file_index"] = p.file_index;
        e["file_count"] = p.file_count;
        e["completed"] = p.done;
        e["total"] = p.total;
        e["resumed_from"] = p.resumed_from;
        e["bytes_per_second"] = p.bytes_per_second;
      } else {
        return true;  // the success event below says it
      }
      return send(sse_event(e));
    });
    send(sse_event(Json{{"object", "hearth.pull"},
                        {"model", model},
                        {"status", "success"},
                        {"path", r.path},
                        {"commit", r.commit},
                        {"files", r.files},
                        {"files_downloaded", r.files_downloaded},
                        {"bytes_downloaded", r.bytes_downloaded}}));
  } catch (const Error& e) {
    send(sse_event(error_body(e.what(), http_status(e.kind()))));
  } catch (const std::exception& e) {
    send(sse_event(error_body(fmt::format("internal error: {}", e.what()), 500)));
  }
  send(std::string(kSseDone));
}

Json admin_unload(ModelSet& models, const std::string& body) {
  const std::string name = model_name(body);
  const bool was_loaded = models.unload(name);
  Json j = model_status_json(models.info(name));
  j["unloaded"] = was_loaded;
  return j;
}

Json model_json(const ModelInfo& model) {
  Json j = {{"id", model.id}, {"object", "model"}, {"created", model.created}, {"owned_by", "hearth"}};
  if (!model.aliases.empty()) j["aliases"] = model.aliases;
  if (model.kind == "text") j["capabilities"] = {"chat", "completions"};
  if (model.kind == "rerank") j["capabilities"] = {"rerank"};
  if (model.serves_embeddings()) j["capabilities"].push_back("embeddings");
  if (!model.adapters.empty()) j["adapters"] = model.adapters;
  return j;
}

Json models_list_json(const ModelSet& models) {
  Json data = Json::array();
  for (const ModelInfo& i : models.list()) data.push_back(model_json(i));
  return {{"object", "list"}, {"data", data}};
}

}  // namespace hearth::server
