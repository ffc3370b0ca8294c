// Loads the daemon's settings from an INI-style file:
//
//   [server]
//   port = 8080
//   ; comment
//   [storage]
//   path = /var/lib/ferry
//
// Keys are stored as "section.key". Values keep inner spaces but lose surrounding ones.
#include "config_loader.h"

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ferry {
namespace {

std::string trim(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1]))) --end;
  return s.substr(begin, end - begin);
}

}  // namespace

Settings parse_settings_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open settings file " + path);
  Settings settings;
  std::string section, line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == ';' || t[0] == '#') continue;
    if (t.front() == '[') {
      if (t.back() != ']') throw std::runtime_error(path + ":" + std::to_string(line_no) + ": unclosed section");
      section = trim(t.substr(1, t.size() - 2));
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": expected key = value");
    const std::string key = trim(t.substr(0, eq));
    const std::string full_key = section.empty() ? key : section + "." + key;
    if (settings.values.count(full_key))
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": duplicate key " + full_key);
    settings.values[full_key] = trim(t.substr(eq + 1));
  }
  return settings;
}

int Settings::get_int(const std::string& key, int fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  size_t used = 0;
  const int v = std::stoi(it->second, &used);
  if (used != it->second.size()) throw std::runtime_error("setting " + key + " is not an integer: " + it->second);
  return v;
}

bool Settings::get_bool(const std::string& key, bool fallback) const {
  auto it = values.find(key);
  if (it == values.end()) return fallback;
  const std::string& v = it->second;
  if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  throw std::runtime_error("setting " + key + " is not a boolean: " + v);
}

}  // namespace ferry
