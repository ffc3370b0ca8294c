// hearth inspect MODEL: what a model file or folder holds: architecture, metadata and the tensor table.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/command.h"
#include "core/dtype.h"
#include "formats/weights.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string model;
  size_t max_items = 8;  // array elements shown before "..."
  bool no_tensors = false;
};

std::string scalar_str(const MetaValue& v) {
  if (auto* s = std::get_if<std::string>(&v.value)) return fmt::format("\"{}\"", *s);
  if (auto* i = std::get_if<int64_t>(&v.value)) return std::to_string(*i);
  if (auto* u = std::get_if<uint64_t>(&v.value)) return std::to_string(*u);
  // F32 values print as the float they are (1e-12, not 9.999999960041972e-13).
  if (auto* d = std::get_if<double>(&v.value)) return v.type == MetaType::F32 ? fmt::format("{}", float(*d)) : fmt::format("{}", *d);
  if (auto* b = std::get_if<bool>(&v.value)) return *b ? "true" : "false";
  return "?";
}

// Long arrays (vocabularies: tens of thousands of entries) are abbreviated to their first elements.
std::string value_str(const MetaValue& v, size_t max_items) {
  const auto* a = std::get_if<MetaArray>(&v.value);
  if (a == nullptr) return scalar_str(v);
  std::string out = fmt::format("[{} x {}] [", a->size(), meta_type_name(a->elem));
  const size_t n = std::min(a->size(), max_items);
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ", ";
    switch (a->elem) {
      case MetaType::String: out += fmt::format("\"{}\"", a->strings[i]); break;
      case MetaType::F32: out += fmt::format("{}", float(a->floats[i])); break;
      case MetaType::F64: out += fmt::format("{}", a->floats[i]); break;
      case MetaType::Array: out += value_str(a->arrays[i], max_items); break;
      default: out += std::to_string(a->ints[i]); break;
    }
  }
  if (a->size() > n) out += ", ...";
  return out + "]";
}

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
  return s.empty() ? "scalar" : s;
}

int run(const Options& o) {
  auto w = Weights::open(o.model);
  const Metadata& m = w->metadata();
  fmt::print("source: {}\n", w->source());
  fmt::print("architecture: {}\n", m.find_string("general.architecture").value_or("(none)"));
  fmt::print("metadata ({} keys):\n", m.entries().size());
  for (const auto& [key, value] : m.entries())
    fmt::print("  {:<44} {:<6} {}\n", key, meta_type_name(value.type), value_str(value, o.max_items));
  size_t total = 0;
  for (const auto& t : w->tensors()) total += t.nbytes;
  fmt::print("tensors ({}, {} bytes = {:.2f} MiB):\n", w->tensors().size(), total, double(total) / (1 << 20));
  if (o.no_tensors) return 0;
  fmt::print("  {:<40} {:<6} {:<22} {:>12}\n", "name", "type", "shape (ne)", "bytes");
  for (const auto& t : w->tensors())
    fmt::print("  {:<40} {:<6} {:<22} {:>12}\n", t.name, dtype_name(t.type), shape_str(t.ne), t.nbytes);
  return 0;
}

CommandRegistration reg({"inspect"}, "Show a model's architecture, metadata and tensors", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("model", o->model, "GGUF file or Hugging Face model folder")->required();
  app.add_option("--max-items", o->max_items, "Array elements shown before abbreviating")->capture_default_str();
  app.add_flag("--no-tensors", o->no_tensors, "Only the metadata and the tensor count");
  return CommandAction([o] { return run(*o); });
});

}  // namespace
}  // namespace hearth::cli
