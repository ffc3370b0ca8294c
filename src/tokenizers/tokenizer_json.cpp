#include "tokenizers/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizers/hf/pipeline.h"

namespace hearth {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) fail(errno_kind(errno), "{}: cannot open", p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    fail(ErrorKind::kCorruptData, "{}: invalid JSON: {}", p.string(), e.what());
  }
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& dir) {
  const fs::path path = fs::path(dir) / "tokenizer.json";
  const json j = read_json_file(path);
  json config = json::object();
  if (fs::exists(fs::path(dir) / "tokenizer_config.json")) {
    config = read_json_file(fs::path(dir) / "tokenizer_config.json");
    if (!config.is_object()) fail(ErrorKind::kCorruptData, "{}/tokenizer_config.json: not a JSON object", dir);
  }
  return hf::make_tokenizer(j, config, path.string());
}

}  // namespace hearth
