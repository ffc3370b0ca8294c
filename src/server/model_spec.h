// What names a model to the server before anything is loaded: its id, path, aliases and per-model settings, from
// `-m`, a `[[model]]` table of the configuration file, or a scan of the models folder. Depends on core only, so the
// configuration file's parser (and its fuzz target) need nothing of the runtime.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hearth::server {

struct ModelSpec {
  std::string id;                     // ALIAS, or the file name without its extension
  std::string path;                   // GGUF file or Hugging Face folder
  std::vector<std::string> aliases;   // more names requests may use
  std::optional<int64_t> ttl_seconds;  // idle seconds before it is unloaded (0: never); unset: the set's idle_ttl
  std::string draft;                  // text models: draft model (ID or PATH) for speculative decoding; "": the set's
  std::optional<int> parallel;        // text models: engine slots (sequences run together); unset: the set's
  std::optional<int> context;         // text models: positions per sequence; unset: the set's
  bool preload = true;                // loaded by preload() (at start); false: on first use (the models folder)
};

// "PATH" or "ALIAS=PATH" (an '=' before the first '/' marks an alias, so a path holding '=' still works).
ModelSpec parse_model_spec(const std::string& arg);

// The models in `dir`, sorted by id: *.gguf files (id: the name without ".gguf") and Hugging Face folders (a
// config.json inside; id: the folder's name), loaded on demand. Error when `dir` is not a folder.
std::vector<ModelSpec> scan_models_dir(const std::string& dir);

}  // namespace hearth::server
