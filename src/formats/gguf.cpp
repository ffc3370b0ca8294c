#include "formats/gguf.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "core/mapped_file.h"

namespace hearth {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMaxMetaType = static_cast<uint32_t>(MetaType::F64);
// Nested arrays recurse; a file could otherwise nest deep enough to overflow the stack.
constexpr int kMaxArrayDepth = 8;
constexpr size_t kMaxDims = 4;
constexpr size_t kMaxNameBytes = 63;  // llama.cpp's GGML_MAX_NAME (64) includes the terminating NUL

// Fewest bytes a value of this type takes in a file: bounds element counts before anything is allocated.
size_t min_encoded_size(MetaType t) {
  switch (t) {
    case MetaType::U8: case MetaType::I8: case MetaType::Bool: return 1;
    case MetaType::U16: case MetaType::I16: return 2;
    case MetaType::U32: case MetaType::I32: case MetaType::F32: return 4;
    case MetaType::U64: case MetaType::I64: case MetaType::F64: return 8;
    case MetaType::String: return 8;   // the length
    case MetaType::Array: return 12;   // element type + count
  }
  return 1;
}

size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& source) : data_(data), size_(size), source_(source) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  void set_context(std::string c) { context_ = std::move(c); }

  // Damage by default; kUnsupported for what a well-formed file of another GGUF version or a newer ggml may hold.
  [[noreturn]] void fault(const std::string& what, size_t at, ErrorKind kind = ErrorKind::kCorruptData) const {
    fail(kind, "{}: {} ({}offset {})", source_, what, context_.empty() ? "" : context_ + ", ", at);
  }

  void need(size_t n, const char* what) const {
    if (n > remaining())
      fault(fmt::format("{} runs past the end of the file ({} bytes needed, {} left)", what, n, remaining()), pos_);
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }

  std::string read_string(const char* what) {
    const size_t at = pos_;
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fault(fmt::format("{} length {} exceeds the {} bytes left in the file", what, len, remaining()), at);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }

  // Reads an element count and checks that `count` elements of at least `min_size` bytes each fit in the
  // rest of the file, so the caller may reserve() safely.
  uint64_t read_count(const char* what, size_t min_size) {
    const size_t at = pos_;
    const uint64_t n = read<uint64_t>(what);
    if (min_size != 0 && n > remaining() / min_size)
      fault(fmt::format("{} {} is impossible: the {} bytes left in the file hold at most {}", what, n, remaining(),
                        remaining() / min_size),
            at);
    return n;
  }

  MetaType read_type(const char* what) {
    const size_t at = pos_;
    const uint32_t t = read<uint32_t>(what);
    if (t > kMaxMetaType) fault(fmt::format("unknown {} {}", what, t), at);
    return static_cast<MetaType>(t);
  }

  MetaValue read_value(MetaType type, int depth) {
    MetaValue v;
    v.type = type;
    switch (type) {
      case MetaType::U8: v.value = uint64_t(read<uint8_t>("value")); break;
      case MetaType::U16: v.value = uint64_t(read<uint16_t>("value")); break;
      case MetaType::U32: v.value = uint64_t(read<uint32_t>("value")); break;
      case MetaType::U64: v.value = read<uint64_t>("value"); break;
      case MetaType::I8: v.value = int64_t(read<int8_t>("value")); break;
      case MetaType::I16: v.value = int64_t(read<int16_t>("value")); break;
      case MetaType::I32: v.value = int64_t(read<int32_t>("value")); break;
      case MetaType::I64: v.value = read<int64_t>("value"); break;
      case MetaType::F32: v.value = double(read<float>("value")); break;
      case MetaType::F64: v.value = read<double>("value"); break;
      case MetaType::Bool: v.value = read<uint8_t>("value") != 0; break;
      case MetaType::String: v.value = read_string("string"); break;
      case MetaType::Array: v.value = read_array(depth + 1); break;
    }
    return v;
  }

 private:
  MetaArray read_array(int depth) {
    if (depth > kMaxArrayDepth) fault(fmt::format("arrays nested deeper than {}", kMaxArrayDepth), pos_);
    MetaArray a;
    a.elem = read_type("array element type");
    const uint64_t n = read_count("array length", min_encoded_size(a.elem));
    switch (a.elem) {
      case MetaType::F32:
      case MetaType::F64:
        a.floats.reserve(n);
        for (uint64_t i = 0; i < n; ++i)
          a.floats.push_back(a.elem == MetaType::F32 ? double(read<float>("array element")) : read<double>("array element"));
        break;
      case MetaType::String:
        a.strings.reserve(n);
        for (uint64_t i = 0; i < n; ++i) a.strings.push_back(read_string("array string"));
        break;
      case MetaType::Array:
        a.arrays.reserve(n);
        for (uint64_t i = 0; i < n; ++i) a.arrays.push_back(read_value(MetaType::Array, depth));
        break;
      default:
        a.ints.reserve(n);
        for (uint64_t i = 0; i < n; ++i) {
          MetaValue e = read_value(a.elem, depth);
          if (auto* u = std::get_if<uint64_t>(&e.value)) a.ints.push_back(static_cast<int64_t>(*u));
          else if (auto* s = std::get_if<int64_t>(&e.value)) a.ints.push_back(*s);
          else a.ints.push_back(std::get<bool>(e.value) ? 1 : 0);
        }
        break;
    }
    return a;
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& source_;
  std::string context_;
};

}  // namespace

bool is_gguf(const uint8_t* data, size_t size) {
  if (size < 4) return false;
  uint32_t magic;
  std::memcpy(&magic, data, 4);
  return magic == kGgufMagic;
}

GgufInfo read_gguf(const uint8_t* data, size_t size, const std::string& source, Weights& out) {
  Reader r(data, size, source);
  GgufInfo info;
  out.set_source(source);

  if (size < 4) r.fault(fmt::format("file too short for a GGUF header ({} bytes)", size), 0);
  if (!is_gguf(data, size)) r.fault("not a GGUF file (bad magic)", 0);
  r.read<uint32_t>("magic");
  info.version = r.read<uint32_t>("version");
  if (info.version == 1)
    r.fault("GGUF version 1 is not supported (32-bit counts); re-convert the model with a current tool", 4,
            ErrorKind::kUnsupported);
  if (info.version != 2 && info.version != 3) {
    if (__builtin_bswap32(info.version) == 2 || __builtin_bswap32(info.version) == 3)
      r.fault("big-endian GGUF files are not supported", 4, ErrorKind::kUnsupported);
    r.fault(fmt::format("unsupported GGUF version {}", info.version), 4, ErrorKind::kUnsupported);
  }
  // A tensor info takes at least 24 bytes (name length, n_dims, type, offset), a key/value at least 13.
  info.n_tensors = r.read_count("tensor count", 24);
  info.n_kv = r.read_count("key/value count", 13);

  Metadata& meta = out.mutable_metadata();
  size_t alignment_at = 0;
  for (uint64_t i = 0; i < info.n_kv; ++i) {
    const size_t at = r.pos();
    r.set_context("");
    std::string key = r.read_string("key");
    r.set_context(fmt::format("key '{}'", key));
    if (meta.has(key)) r.fault("duplicate key", at);
    if (key == "general.alignment") alignment_at = at;
    const MetaType type = r.read_type("value type");
    meta.set(std::move(key), r.read_value(type, 0));
  }
  r.set_context("");

  if (const MetaValue* a = meta.find("general.alignment")) {
    const auto* v = std::get_if<uint64_t>(&a->value);
    r.set_context("key 'general.alignment'");
    if (a->type != MetaType::U32 || v == nullptr) r.fault(fmt::format("must be u32, not {}", meta_type_name(a->type)), alignment_at);
    if (*v == 0 || (*v & (*v - 1)) != 0) r.fault(fmt::format("alignment {} is not a power of two", *v), alignment_at);
    info.alignment = size_t(*v);
    r.set_context("");
  }

  struct Pending {
    WeightTensor t;
    uint64_t offset;
    size_t info_at;
  };
  std::vector<Pending> pending;
  pending.reserve(info.n_tensors);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < info.n_tensors; ++i) {
    Pending p;
    p.info_at = r.pos();
    r.set_context("");
    p.t.name = r.read_string("tensor name");
    r.set_context(fmt::format("tensor '{}'", p.t.name));
    if (!names.insert(p.t.name).second) r.fault("duplicate tensor name", p.info_at);
    const size_t dims_at = r.pos();
    const uint32_t n_dims = r.read<uint32_t>("dimension count");
    if (n_dims > kMaxDims) r.fault(fmt::format("{} dimensions, at most {} supported", n_dims, kMaxDims), dims_at);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const size_t ne_at = r.pos();
      const uint64_t ne = r.read<uint64_t>("dimension");
      if (ne > uint64_t(std::numeric_limits<int64_t>::max()))
        r.fault(fmt::format("dimension {} is negative ({})", d, int64_t(ne)), ne_at);
      if (__builtin_mul_overflow(n_elements, int64_t(ne), &n_elements))
        r.fault("element count overflows 64 bits", ne_at);
      p.t.ne.push_back(int64_t(ne));
    }
    const size_t type_at = r.pos();
    const uint32_t type_id = r.read<uint32_t>("tensor type");
    const auto tr = dtype_traits(type_id);
    if (!tr) r.fault(fmt::format("unknown tensor type id {}", type_id), type_at, ErrorKind::kUnsupported);
    p.t.type = static_cast<DType>(type_id);
    const int64_t row = p.t.ne.empty() ? 1 : p.t.ne[0];
    if (row % tr->block_size != 0)
      r.fault(fmt::format("row length {} is not a multiple of the {} block size {}", row, tr->name, tr->block_size),
              dims_at);
    const int64_t n_rows = row == 0 ? 0 : n_elements / row;
    if (n_rows % tr->row_group != 0)
      r.fault(fmt::format("{} rows, not a multiple of the {} row group {}", n_rows, tr->name, tr->row_group), dims_at);
    const std::optional<uint64_t> nbytes = tensor_bytes(*tr, row, n_rows);
    if (!nbytes || *nbytes > size)
      r.fault(fmt::format("data size of {} elements of {} exceeds the file", n_elements, tr->name), dims_at);
    p.t.nbytes = size_t(*nbytes);
    const size_t off_at = r.pos();
    p.offset = r.read<uint64_t>("tensor data offset");
    if (p.offset % info.alignment != 0)
      r.fault(fmt::format("data offset {} is not a multiple of the alignment {}", p.offset, info.alignment), off_at);
    pending.push_back(std::move(p));
  }
  r.set_context("");

  info.data_offset = align_up(r.pos(), info.alignment);
  for (auto& p : pending) {
    uint64_t begin = 0, end = 0;
    if (__builtin_add_overflow(uint64_t(info.data_offset), p.offset, &begin) ||
        __builtin_add_overflow(begin, uint64_t(p.t.nbytes), &end) || end > size) {
      r.set_context(fmt::format("tensor '{}'", p.t.name));
      r.fault(fmt::format("data [{} + {}, {} bytes) lies beyond the end of the file ({} bytes)", info.data_offset,
                          p.offset, p.t.nbytes, size),
              p.info_at);
    }
    p.t.data = data + begin;
  }

  // Overlapping tensors would alias each other's bytes: almost certainly a corrupt or malicious file.
  std::vector<const Pending*> by_offset;
  by_offset.reserve(pending.size());
  for (const auto& p : pending)
    if (p.t.nbytes != 0) by_offset.push_back(&p);
  std::sort(by_offset.begin(), by_offset.end(), [](const Pending* a, const Pending* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Pending& prev = *by_offset[i - 1];
    const Pending& cur = *by_offset[i];
    if (prev.offset + prev.t.nbytes > cur.offset) {
      r.set_context(fmt::format("tensor '{}'", cur.t.name));
      r.fault(fmt::format("data overlaps tensor '{}'", prev.t.name), cur.info_at);
    }
  }

  for (auto& p : pending) out.add_tensor(std::move(p.t));
  return info;
}

std::unique_ptr<Weights> load_gguf(const std::string& path, GgufInfo* info) {
  auto map = std::make_shared<MappedFile>(path);
  auto w = std::make_unique<Weights>();
  w->keep_alive(map);
  GgufInfo i = read_gguf(map->data(), map->size(), path, *w);
  if (info != nullptr) *info = i;
  return w;
}

// ---------------------------------------------------------------------------------------------------------------
// Writer

namespace {

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

// Writes one scalar of type t holding the integer `i` or float `f`.
void put_number(std::string& out, MetaType t, int64_t i, double f) {
  switch (t) {
    case MetaType::U8: put<uint8_t>(out, uint8_t(i)); break;
    case MetaType::I8: put<int8_t>(out, int8_t(i)); break;
    case MetaType::U16: put<uint16_t>(out, uint16_t(i)); break;
    case MetaType::I16: put<int16_t>(out, int16_t(i)); break;
    case MetaType::U32: put<uint32_t>(out, uint32_t(i)); break;
    case MetaType::I32: put<int32_t>(out, int32_t(i)); break;
    case MetaType::U64: put<uint64_t>(out, uint64_t(i)); break;
    case MetaType::I64: put<int64_t>(out, i); break;
    case MetaType::Bool: put<uint8_t>(out, i != 0); break;
    case MetaType::F32: put<float>(out, float(f)); break;
    case MetaType::F64: put<double>(out, f); break;
    default: HEARTH_ASSERT(false && "not a number type");
  }
}

[[noreturn]] void type_mismatch(const std::string& key, MetaType t) {
  fail(ErrorKind::kCorruptData, "metadata key '{}': declared type {} does not match the stored value", key,
       meta_type_name(t));
}

void put_value(std::string& out, const std::string& key, const MetaValue& v, int depth) {
  if (depth > kMaxArrayDepth)
    fail(ErrorKind::kCorruptData, "metadata key '{}': arrays nested deeper than {}", key, kMaxArrayDepth);
  switch (v.type) {
    case MetaType::String:
      if (auto* s = std::get_if<std::string>(&v.value)) return put_string(out, *s);
      type_mismatch(key, v.type);
    case MetaType::F32:
    case MetaType::F64:
      if (auto* d = std::get_if<double>(&v.value)) return put_number(out, v.type, 0, *d);
      type_mismatch(key, v.type);
    case MetaType::Array: {
      const auto* a = std::get_if<MetaArray>(&v.value);
      if (a == nullptr) type_mismatch(key, v.type);
      put<uint32_t>(out, uint32_t(a->elem));
      put<uint64_t>(out, a->size());
      switch (a->elem) {
        case MetaType::String:
          for (const auto& s : a->strings) put_string(out, s);
          break;
        case MetaType::F32:
        case MetaType::F64:
          for (double d : a->floats) put_number(out, a->elem, 0, d);
          break;
        case MetaType::Array:
          for (const auto& e : a->arrays) {
            if (e.type != MetaType::Array)
              fail(ErrorKind::kCorruptData, "metadata key '{}': nested array element is not an array", key);
            put_value(out, key, e, depth + 1);
          }
          break;
        default:
          for (int64_t i : a->ints) put_number(out, a->elem, i, 0);
          break;
      }
      return;
    }
    default: {
      int64_t i = 0;
      if (auto* s = std::get_if<int64_t>(&v.value)) i = *s;
      else if (auto* u = std::get_if<uint64_t>(&v.value)) i = static_cast<int64_t>(*u);
      else if (auto* b = std::get_if<bool>(&v.value)) i = *b;
      else type_mismatch(key, v.type);
      return put_number(out, v.type, i, 0);
    }
  }
}

void write_all(int fd, const void* p, size_t n, const std::string& path) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t k = ::write(fd, c, std::min<size_t>(n, size_t(1) << 30));
    if (k < 0) {
      if (errno == EINTR) continue;
      fail(errno_kind(errno), "{}: write failed: {}", path, std::strerror(errno));
    }
    c += k;
    n -= size_t(k);
  }
}

}  // namespace

void GgufWriter::add_tensor(std::string name, DType type, std::vector<int64_t> ne, const void* data, size_t nbytes) {
  if (name.size() > kMaxNameBytes) fail("GGUF writer: tensor name '{}' is longer than {} bytes", name, kMaxNameBytes);
  for (const auto& t : tensors_)
    if (t.name == name) fail("GGUF writer: duplicate tensor '{}'", name);
  if (ne.size() > kMaxDims) fail("GGUF writer: tensor '{}' has {} dimensions, at most {}", name, ne.size(), kMaxDims);
  int64_t n = 1;
  for (int64_t d : ne)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) fail("GGUF writer: tensor '{}' has an invalid shape", name);
  const auto& tr = traits(type);
  const int64_t row = ne.empty() ? 1 : ne[0];
  if (row % tr.block_size != 0)
    fail("GGUF writer: tensor '{}' row length {} is not a multiple of the {} block size {}", name, row, tr.name,
         tr.block_size);
  const std::optional<uint64_t> expected = tensor_bytes(tr, row, row == 0 ? 0 : n / row);
  if (!expected)
    fail("GGUF writer: tensor '{}' has {} rows, not a multiple of the {} row group {}", name, row == 0 ? 0 : n / row,
         tr.name, tr.row_group);
  if (nbytes != *expected)
    fail("GGUF writer: tensor '{}' has {} bytes, its shape and type need {}", name, nbytes, *expected);
  if (nbytes != 0 && data == nullptr) fail("GGUF writer: tensor '{}' has no data", name);
  tensors_.push_back({std::move(name), type, std::move(ne), data, nbytes});
}

size_t GgufWriter::alignment() const {
  const MetaValue* a = metadata_.find("general.alignment");
  if (a == nullptr) return kGgufDefaultAlignment;
  const auto* v = std::get_if<uint64_t>(&a->value);
  if (a->type != MetaType::U32 || v == nullptr || *v == 0 || (*v & (*v - 1)) != 0)
    fail("GGUF writer: general.alignment must be a u32 power of two");
  return size_t(*v);
}

std::string GgufWriter::header(std::vector<uint64_t>& offsets) const {
  const size_t align = alignment();
  std::string out;
  put<uint32_t>(out, kGgufMagic);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, metadata_.entries().size());
  for (const auto& [key, value] : metadata_.entries()) {
    put_string(out, key);
    put<uint32_t>(out, uint32_t(value.type));
    put_value(out, key, value, 0);
  }
  offsets.clear();
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(out, uint64_t(d));
    put<uint32_t>(out, uint32_t(t.type));
    put<uint64_t>(out, offset);
    offsets.push_back(offset);
    offset = align_up(offset + t.nbytes, align);
  }
  out.resize(align_up(out.size(), align), '\0');
  return out;
}

std::string GgufWriter::serialize() const {
  std::vector<uint64_t> offsets;
  std::string out = header(offsets);
  const size_t base = out.size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.resize(base + offsets[i], '\0');
    out.append(static_cast<const char*>(tensors_[i].data), tensors_[i].nbytes);
  }
  out.resize(align_up(out.size(), alignment()), '\0');
  return out;
}

void GgufWriter::write(const std::string& path) const {
  std::vector<uint64_t> offsets;
  const std::string head = header(offsets);
  const size_t align = alignment();
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(errno_kind(errno), "{}: cannot create: {}", tmp, std::strerror(errno));
  try {
    write_all(fd, head.data(), head.size(), path);
    const std::string zeros(align, '\0');
    uint64_t pos = 0;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      write_all(fd, zeros.data(), offsets[i] - pos, path);
      write_all(fd, tensors_[i].data, tensors_[i].nbytes, path);
      pos = offsets[i] + tensors_[i].nbytes;
    }
    write_all(fd, zeros.data(), align_up(pos, align) - pos, path);
    if (::fsync(fd) != 0) fail(errno_kind(errno), "{}: fsync failed: {}", path, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail(errno_kind(e), "{}: write failed: {}", path, std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    fail(errno_kind(e), "{}: cannot rename into place: {}", path, std::strerror(e));
  }
}

}  // namespace hearth
