// How a user names a model on the Hugging Face Hub: "OWNER/REPO" or "OWNER/REPO:FILE_OR_QUANT" (":Q4_K_M" picks
// the GGUF file whose name holds that quant; a full file name picks that file). Header-only and free of anything
// but the standard library, so the server's model spec parser (fuzzed alone) can tell a Hub name from a path.
#pragma once

#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::hub {

struct HubRef {
  std::string repo;     // "OWNER/REPO"
  std::string select;   // "" (the repo decides), a quant ("Q4_K_M") or a file name
  std::string text() const { return select.empty() ? repo : repo + ":" + select; }
};

// The name parsed, or nullopt when `name` cannot be a Hub name: exactly one '/', each side a Hub name (letters,
// digits, '-', '_', '.'; not starting with '.' or '-'), then an optional ":" and a non-empty selection without
// '/'. A path like "models/x.gguf" also parses: callers try the file system first.
inline std::optional<HubRef> parse_hub_ref(std::string_view name) {
  const size_t colon = name.find(':');
  const std::string_view repo = name.substr(0, colon);
  const std::string_view select = colon == std::string_view::npos ? std::string_view() : name.substr(colon + 1);
  if (colon != std::string_view::npos && (select.empty() || select.find('/') != std::string_view::npos))
    return std::nullopt;
  const size_t slash = repo.find('/');
  if (slash == std::string_view::npos || repo.find('/', slash + 1) != std::string_view::npos) return std::nullopt;
  auto valid_part = [](std::string_view part) {
    if (part.empty() || part.size() > 96 || part[0] == '.' || part[0] == '-') return false;
    for (char c : part)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return part.find("..") == std::string_view::npos;
  };
  if (!valid_part(repo.substr(0, slash)) || !valid_part(repo.substr(slash + 1))) return std::nullopt;
  return HubRef{std::string(repo), std::string(select)};
}

}  // namespace hearth::hub
