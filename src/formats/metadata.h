// Key/value metadata of a model, in GGUF's vocabulary ("general.architecture", "bert.block_count",
// "tokenizer.ggml.tokens", ...). Every loader (GGUF, safetensors + config.json, TF.js import) fills one, so
// models and tokenizers read hyper-parameters one way whatever the file format.
// Getters throw Error naming the key when it is missing or of the wrong type; find_* return nullopt instead.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hearth {

// GGUF value type codes.
enum class MetaType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};

struct MetaValue;

// Arrays are stored by element kind; only the vector matching `elem` is used.
struct MetaArray {
  MetaType elem = MetaType::U8;
  std::vector<int64_t> ints;           // U8..I64, Bool
  std::vector<double> floats;          // F32, F64
  std::vector<std::string> strings;    // String
  std::vector<MetaValue> arrays;       // Array (nested)
  size_t size() const;
};

struct MetaValue {
  MetaType type = MetaType::U32;
  std::variant<int64_t, uint64_t, double, bool, std::string, MetaArray> value;
};

class Metadata {
 public:
  bool has(std::string_view key) const { return values_.count(std::string(key)) != 0; }
  const MetaValue* find(std::string_view key) const;

  std::optional<std::string> find_string(std::string_view key) const;
  std::optional<int64_t> find_int(std::string_view key) const;   // any integer type (u64 must fit int64)
  std::optional<double> find_float(std::string_view key) const;  // float or integer types
  std::optional<bool> find_bool(std::string_view key) const;

  std::string get_string(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;

  // Array getters; nullptr / nullopt when missing, Error when of the wrong element kind.
  const std::vector<std::string>* find_strings(std::string_view key) const;
  std::optional<std::vector<double>> find_floats(std::string_view key) const;
  std::optional<std::vector<int64_t>> find_ints(std::string_view key) const;

  void set(std::string key, MetaValue value) { values_[std::move(key)] = std::move(value); }
  void set_string(std::string key, std::string v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_u64(std::string key, uint64_t v);
  void set_f32(std::string key, float v);
  void set_bool(std::string key, bool v);
  void set_strings(std::string key, std::vector<std::string> v);
  void set_f32s(std::string key, const std::vector<float>& v);
  void set_i32s(std::string key, const std::vector<int32_t>& v);

  const std::map<std::string, MetaValue, std::less<>>& entries() const { return values_; }

 private:
  std::map<std::string, MetaValue, std::less<>> values_;
};

std::string_view meta_type_name(MetaType t);

}  // namespace hearth
