// Typed reads of tokenizer.json fields, shared by the stages: a wrong type is an Error naming the file, the
// section and the field, never a JSON exception; a missing or null optional field gives the fallback.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace hearth::hf {

// A section's identity in error messages: "<source>: <stage> '<type>'", e.g. "…/tokenizer.json: decoder 'Strip'".
struct Where {
  const std::string& source;
  const char* stage;
  const std::string& type;
};

// The member `key` of obj, or nullptr when obj is not an object or the member is absent or null.
inline const nlohmann::json* find(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

inline const nlohmann::json& require(const nlohmann::json& obj, const char* key, const Where& w) {
  const nlohmann::json* v = find(obj, key);
  if (!v) fail(ErrorKind::kCorruptData, "{}: {} '{}' has no '{}'", w.source, w.stage, w.type, key);
  return *v;
}

inline std::string string_or(const nlohmann::json& obj, const char* key, const std::string& fallback, const Where& w) {
  const nlohmann::json* v = find(obj, key);
  if (!v) return fallback;
  if (!v->is_string())
    fail(ErrorKind::kCorruptData, "{}: {} '{}': '{}' is not a string", w.source, w.stage, w.type, key);
  return v->get<std::string>();
}

inline bool bool_or(const nlohmann::json& obj, const char* key, bool fallback, const Where& w) {
  const nlohmann::json* v = find(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean())
    fail(ErrorKind::kCorruptData, "{}: {} '{}': '{}' is not a boolean", w.source, w.stage, w.type, key);
  return v->get<bool>();
}

inline int64_t int_or(const nlohmann::json& obj, const char* key, int64_t fallback, const Where& w) {
  const nlohmann::json* v = find(obj, key);
  if (!v) return fallback;
  if (!v->is_number_integer())
    fail(ErrorKind::kCorruptData, "{}: {} '{}': '{}' is not an integer", w.source, w.stage, w.type, key);
  return v->get<int64_t>();
}

inline size_t count_or(const nlohmann::json& obj, const char* key, size_t fallback, const Where& w) {
  const nlohmann::json* v = find(obj, key);
  if (!v) return fallback;
  if (!v->is_number_integer() || v->get<int64_t>() < 0)
    fail(ErrorKind::kCorruptData, "{}: {} '{}': '{}' is not a non-negative integer", w.source, w.stage, w.type, key);
  return v->get<size_t>();
}

}  // namespace hearth::hf
