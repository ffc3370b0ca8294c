// The TOML configuration file of `hearth serve --config FILE` (docs/server.md, "Configuration file"), read with
// toml++.
//
// Every top-level key is a long flag of `hearth serve` with its value (`port = 8080`, `api-key-file = "…"`), so
// the flags are not listed twice: read_config_file turns the keys into the command-line arguments
// ("--port=8080") that the CLI parser takes with the real command line (whose flags win). Arrays give one
// argument per element (`model = ["a.gguf", "b=c.gguf"]`), a table one "KEY=VALUE" argument per entry
// (`[stack]` → --stack=chat=qwen). Two keys are more than a flag: `[[model]]` tables (id, path, aliases, ttl, lora,
// draft, preload) and `[stack]` as said.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/model_spec.h"

namespace hearth::server {

struct ConfigFile {
  std::vector<std::string> args;  // "--key=value", one per value, keys sorted (an array's values in its order)
  std::vector<ModelSpec> models;  // [[model]] tables
};

// `is_option(name)`: whether a top-level key names a flag. Error naming the file and line on a TOML syntax error,
// an unknown key, a value of the wrong type, or a [[model]] table without a path.
ConfigFile parse_config(std::string_view text, const std::string& source,
                        const std::function<bool(const std::string&)>& is_option);
ConfigFile read_config_file(const std::string& path, const std::function<bool(const std::string&)>& is_option);

// Where `hearth setup` writes the configuration and where `hearth serve` looks for one when it is given no model:
// $XDG_CONFIG_HOME/hearth/serve.toml, else ~/.config/hearth/serve.toml.
std::string default_config_path();

}  // namespace hearth::server
