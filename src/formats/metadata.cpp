#include "formats/metadata.h"

#include <limits>

#include "core/error.h"

namespace hearth {

size_t MetaArray::size() const {
  switch (elem) {
    case MetaType::F32:
    case MetaType::F64:
      return floats.size();
    case MetaType::String:
      return strings.size();
    case MetaType::Array:
      return arrays.size();
    default:
      return ints.size();
  }
}

std::string_view meta_type_name(MetaType t) {
  switch (t) {
    case MetaType::U8: return "u8";
    case MetaType::I8: return "i8";
    case MetaType::U16: return "u16";
    case MetaType::I16: return "i16";
    case MetaType::U32: return "u32";
    case MetaType::I32: return "i32";
    case MetaType::F32: return "f32";
    case MetaType::Bool: return "bool";
    case MetaType::String: return "string";
    case MetaType::Array: return "array";
    case MetaType::U64: return "u64";
    case MetaType::I64: return "i64";
    case MetaType::F64: return "f64";
  }
  return "unknown";
}

const MetaValue* Metadata::find(std::string_view key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

std::optional<std::string> Metadata::find_string(std::string_view key) const {
  const MetaValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto* s = std::get_if<std::string>(&v->value)) return *s;
  fail(ErrorKind::kCorruptData, "metadata key '{}' has type {}, expected string", key, meta_type_name(v->type));
}

std::optional<int64_t> Metadata::find_int(std::string_view key) const {
  const MetaValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto* i = std::get_if<int64_t>(&v->value)) return *i;
  if (auto* u = std::get_if<uint64_t>(&v->value)) {
    if (*u > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(ErrorKind::kCorruptData, "metadata key '{}' value {} is too large", key, *u);
    return int64_t(*u);
  }
  if (auto* b = std::get_if<bool>(&v->value)) return *b ? 1 : 0;
  fail(ErrorKind::kCorruptData, "metadata key '{}' has type {}, expected an integer", key, meta_type_name(v->type));
}

std::optional<double> Metadata::find_float(std::string_view key) const {
  const MetaValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto* d = std::get_if<double>(&v->value)) return *d;
  if (auto* i = std::get_if<int64_t>(&v->value)) return double(*i);
  if (auto* u = std::get_if<uint64_t>(&v->value)) return double(*u);
  fail(ErrorKind::kCorruptData, "metadata key '{}' has type {}, expected a number", key, meta_type_name(v->type));
}

std::optional<bool> Metadata::find_bool(std::string_view key) const {
  const MetaValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (auto* b = std::get_if<bool>(&v->value)) return *b;
  if (auto* i = std::get_if<int64_t>(&v->value)) return *i != 0;
  if (auto* u = std::get_if<uint64_t>(&v->value)) return *u != 0;
  fail(ErrorKind::kCorruptData, "metadata key '{}' has type {}, expected bool", key, meta_type_name(v->type));
}

std::string Metadata::get_string(std::string_view key) const {
  if (auto v = find_string(key)) return *v;
  fail(ErrorKind::kCorruptData, "missing metadata key '{}'", key);
}
int64_t Metadata::get_int(std::string_view key) const {
  if (auto v = find_int(key)) return *v;
  fail(ErrorKind::kCorruptData, "missing metadata key '{}'", key);
}
double Metadata::get_float(std::string_view key) const {
  if (auto v = find_float(key)) return *v;
  fail(ErrorKind::kCorruptData, "missing metadata key '{}'", key);
}
bool Metadata::get_bool(std::string_view key) const {
  if (auto v = find_bool(key)) return *v;
  fail(ErrorKind::kCorruptData, "missing metadata key '{}'", key);
}

namespace {
const MetaArray* find_array(const Metadata& m, std::string_view key) {
  const MetaValue* v = m.find(key);
  if (v == nullptr) return nullptr;
  if (auto* a = std::get_if<MetaArray>(&v->value)) return a;
  fail(ErrorKind::kCorruptData, "metadata key '{}' has type {}, expected an array", key, meta_type_name(v->type));
}
}  // namespace

const std::vector<std::string>* Metadata::find_strings(std::string_view key) const {
  const MetaArray* a = find_array(*this, key);
  if (a == nullptr) return nullptr;
  if (a->elem != MetaType::String)
    fail(ErrorKind::kCorruptData, "metadata key '{}' is an array of {}, expected strings", key,
         meta_type_name(a->elem));
  return &a->strings;
}

std::optional<std::vector<double>> Metadata::find_floats(std::string_view key) const {
  const MetaArray* a = find_array(*this, key);
  if (a == nullptr) return std::nullopt;
  if (a->elem == MetaType::F32 || a->elem == MetaType::F64) return a->floats;
  if (a->elem == MetaType::String || a->elem == MetaType::Array)
    fail(ErrorKind::kCorruptData, "metadata key '{}' is an array of {}, expected numbers", key,
         meta_type_name(a->elem));
  return std::vector<double>(a->ints.begin(), a->ints.end());
}

std::optional<std::vector<int64_t>> Metadata::find_ints(std::string_view key) const {
  const MetaArray* a = find_array(*this, key);
  if (a == nullptr) return std::nullopt;
  if (a->elem == MetaType::F32 || a->elem == MetaType::F64 || a->elem == MetaType::String ||
      a->elem == MetaType::Array)
    fail(ErrorKind::kCorruptData, "metadata key '{}' is an array of {}, expected integers", key,
         meta_type_name(a->elem));
  return a->ints;
}

void Metadata::set_string(std::string key, std::string v) { set(std::move(key), {MetaType::String, std::move(v)}); }
void Metadata::set_u32(std::string key, uint32_t v) { set(std::move(key), {MetaType::U32, uint64_t(v)}); }
void Metadata::set_i32(std::string key, int32_t v) { set(std::move(key), {MetaType::I32, int64_t(v)}); }
void Metadata::set_u64(std::string key, uint64_t v) { set(std::move(key), {MetaType::U64, v}); }
void Metadata::set_f32(std::string key, float v) { set(std::move(key), {MetaType::F32, double(v)}); }
void Metadata::set_bool(std::string key, bool v) { set(std::move(key), {MetaType::Bool, v}); }
void Metadata::set_strings(std::string key, std::vector<std::string> v) {
  MetaArray a;
  a.elem = MetaType::String;
  a.strings = std::move(v);
  set(std::move(key), {MetaType::Array, std::move(a)});
}
void Metadata::set_f32s(std::string key, const std::vector<float>& v) {
  MetaArray a;
  a.elem = MetaType::F32;
  a.floats.assign(v.begin(), v.end());
  set(std::move(key), {MetaType::Array, std::move(a)});
}
void Metadata::set_i32s(std::string key, const std::vector<int32_t>& v) {
  MetaArray a;
  a.elem = MetaType::I32;
  a.ints.assign(v.begin(), v.end());
  set(std::move(key), {MetaType::Array, std::move(a)});
}

}  // namespace hearth
