// libFuzzer target: arbitrary text as `hearth serve --config FILE`. A file toml++ or the key checks refuse must be
// a hearth::Error naming the file; any other exception, crash, sanitizer report or hang is a finding. What it
// accepts must come out as "--key=value" arguments of known keys and [[model]] tables that each have a path.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "core/error.h"
#include "server/config_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::set<std::string> kFlags = {"model", "models-dir", "port", "host", "api-key", "stack", "parallel",
                                               "idle-ttl", "memory-budget", "cors-origin", "quiet"};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const hearth::server::ConfigFile f =
        hearth::server::parse_config(text, "fuzz.toml", [](const std::string& k) { return kFlags.count(k) > 0; });
    for (const std::string& a : f.args) {
      const size_t eq = a.find('=');
      if (a.rfind("--", 0) != 0 || eq == std::string::npos || !kFlags.count(a.substr(2, eq - 2))) std::abort();
    }
    for (const auto& m : f.models)
      if (m.path.empty()) std::abort();
  } catch (const hearth::Error& e) {
    if (std::string_view(e.what()).find("fuzz.toml") == std::string_view::npos) std::abort();
  }
  return 0;
}
