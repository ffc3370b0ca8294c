#include "formats/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/safetensors_internal.h"

namespace hearth {
namespace {

// The safetensors reference implementation refuses headers over 100 MB; so do we, before reading one.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// nlohmann's parser is iterative, but a deeply nested value still costs recursion when it is walked or
// destroyed; real headers nest 3 levels.
constexpr int kMaxJsonDepth = 64;

size_t element_size(const std::string& dtype) {
  static const std::pair<const char*, size_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"I64", 8}, {"U64", 8}, {"F64", 8},
  };
  for (const auto& [name, size] : kSizes)
    if (dtype == name) return size;
  return 0;
}

// Depth of the deepest bracket nesting, ignoring brackets inside strings.
int json_depth(std::string_view s) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

nlohmann::json parse_json_checked(std::string_view text, const std::string& source) {
  if (json_depth(text) > kMaxJsonDepth)
    fail(ErrorKind::kCorruptData, "{}: JSON nested deeper than {} levels", source, kMaxJsonDepth);
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kCorruptData, "{}: invalid JSON: {}", source, e.what());
  }
}

std::vector<SafetensorsEntry> read_safetensors(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 8) fail(ErrorKind::kCorruptData, "{}: file too short for a safetensors header ({} bytes)", source, size);
  uint64_t header_len;
  std::memcpy(&header_len, data, 8);
  if (header_len > kMaxHeaderBytes)
    fail(ErrorKind::kCorruptData, "{}: header length {} exceeds the 100 MB limit (offset 0)", source, header_len);
  if (header_len > size - 8)
    fail(ErrorKind::kCorruptData, "{}: header length {} runs past the end of the file ({} bytes) (offset 0)", source,
         header_len, size);
  const std::string_view text(reinterpret_cast<const char*>(data + 8), size_t(header_len));
  if (text.empty() || text.front() != '{')
    fail(ErrorKind::kCorruptData, "{}: header is not a JSON object (offset 8)", source);
  const nlohmann::json header = parse_json_checked(text, source);
  if (!header.is_object()) fail(ErrorKind::kCorruptData, "{}: header is not a JSON object (offset 8)", source);

  const uint8_t* base = data + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<SafetensorsEntry> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // (begin, end) parallel to `out`
  for (const auto& item : header.items()) {
    // Plain references, not structured bindings: clang 14 cannot capture those in the lambda below.
    const std::string& name = item.key();
    const nlohmann::json& info = item.value();
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) {
      fail(ErrorKind::kCorruptData, "{}: tensor '{}': {}", source, name, what);
    };
    if (!info.is_object()) bad("entry is not an object");
    const auto dt = info.find("dtype");
    const auto sh = info.find("shape");
    const auto off = info.find("data_offsets");
    if (dt == info.end() || !dt->is_string()) bad("missing or non-string \"dtype\"");
    if (sh == info.end() || !sh->is_array()) bad("missing or non-array \"shape\"");
    if (off == info.end() || !off->is_array() || off->size() != 2) bad("\"data_offsets\" must be [begin, end]");
    SafetensorsEntry e;
    e.name = name;
    e.dtype = dt->get<std::string>();
    const size_t esize = element_size(e.dtype);
    if (esize == 0) bad(fmt::format("unknown dtype '{}'", e.dtype));
    if (sh->size() > 8) bad(fmt::format("{} dimensions", sh->size()));
    uint64_t n = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) bad("shape holds a value that is not a non-negative integer");
      const uint64_t v = d.get<uint64_t>();
      if (v > uint64_t(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(n, v, &n))
        bad("shape overflows 64 bits");
      e.shape.push_back(int64_t(v));
    }
    for (const auto& o : *off)
      if (!o.is_number_unsigned()) bad("\"data_offsets\" must be non-negative integers");
    const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(n, uint64_t(esize), &nbytes)) bad("data size overflows 64 bits");
    if (begin > end || end > data_size)
      bad(fmt::format("data_offsets [{}, {}] lie outside the {}-byte data section (offset {})", begin, end, data_size,
                      8 + header_len));
    if (end - begin != nbytes)
      bad(fmt::format("data_offsets [{}, {}] hold {} bytes, shape and dtype {} need {}", begin, end, end - begin,
                      e.dtype, nbytes));
    e.data = base + begin;
    e.nbytes = size_t(nbytes);
    out.push_back(std::move(e));
    ranges.emplace_back(begin, end);
  }

  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& prev = ranges[order[k - 1]];
    const auto& cur = ranges[order[k]];
    if (cur.first < prev.second && cur.first != cur.second)
      fail(ErrorKind::kCorruptData, "{}: tensor '{}': data overlaps tensor '{}'", source, out[order[k]].name,
           out[order[k - 1]].name);
  }
  std::vector<SafetensorsEntry> sorted;
  sorted.reserve(out.size());
  for (size_t i : order) sorted.push_back(std::move(out[i]));
  return sorted;
}

std::optional<DType> safetensors_dtype(const std::string& dtype) {
  if (dtype == "F32") return DType::F32;
  if (dtype == "F16") return DType::F16;
  if (dtype == "BF16") return DType::BF16;
  return std::nullopt;
}

WeightTensor to_weight_tensor(const SafetensorsEntry& e, const std::string& source, std::string gguf_name) {
  const auto type = safetensors_dtype(e.dtype);
  if (!type)
    fail(ErrorKind::kUnsupported, "{}: tensor '{}' has dtype {}; only F32, F16 and BF16 are supported", source, e.name,
         e.dtype);
  WeightTensor t;
  t.name = std::move(gguf_name);
  t.type = *type;
  t.ne.assign(e.shape.rbegin(), e.shape.rend());  // safetensors lists the outermost dimension first
  t.data = e.data;
  t.nbytes = e.nbytes;
  return t;
}

std::unique_ptr<Weights> load_safetensors(const std::string& path) {
  auto map = std::make_shared<MappedFile>(path);
  auto w = std::make_unique<Weights>();
  w->set_source(path);
  w->keep_alive(map);
  for (const auto& e : read_safetensors(map->data(), map->size(), path)) w->add_tensor(to_weight_tensor(e, path, e.name));
  return w;
}

std::string write_safetensors(const std::vector<SafetensorsWriterTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::string body;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {body.size(), body.size() + t.bytes.size()}}};
    body += t.bytes;
  }
  std::string h = header.dump();
  h.resize((h.size() + 7) / 8 * 8, ' ');  // the format pads the header with spaces to 8-byte alignment
  std::string out(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  return out + h + body;
}

}  // namespace hearth
