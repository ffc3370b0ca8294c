#include "context/data_dir.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace hearth::context {

namespace fs = std::filesystem;

std::string data_dir(const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  if (const char* d = std::getenv("HEARTH_DATA_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_DATA_HOME"); d && *d) return std::string(d) + "/hearth";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/hearth";
  fail(ErrorKind::kNotFound, "no data folder: set HEARTH_DATA_DIR, XDG_DATA_HOME or HOME, or pass --data-dir");
}

void validate_index_name(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                           c == '_' || c == '-';
                  });
  if (!ok) fail("invalid index name '{}': use 1-64 letters, digits, '.', '_' or '-', not starting with '.'", name);
}

std::string index_dir(const std::string& name, const std::string& override_dir) {
  validate_index_name(name);
  return data_dir(override_dir) + "/indexes/" + name;
}

std::vector<std::string> list_indexes(const std::string& override_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir(override_dir) + "/indexes", ec)) {
    if (entry.is_directory(ec) && fs::exists(entry.path() / "index.sqlite", ec))
      names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace hearth::context
