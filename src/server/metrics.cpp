#include "server/metrics.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace hearth::server {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_sample_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// ---- MetricFamily ----

MetricFamily::MetricFamily(std::string name, std::string help, std::string type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(std::move(type)), label_names_(std::move(label_names)) {}

void MetricFamily::check(const LabelValues& values) const {
  if (values.size() != label_names_.size())
    fail("metric {} takes {} label values, not {}", name_, label_names_.size(), values.size());
}

std::string MetricFamily::label_text(const LabelValues& values, const std::string& extra) const {
  if (label_names_.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i) out += ',';
    out += label_names_[i] + "=\"" + escape_label_value(values[i]) + '"';
  }
  if (!extra.empty()) out += (label_names_.empty() ? "" : ",") + extra;
  return out + "}";
}

void MetricFamily::render(std::string& out) const {
  out += "# HELP " + name_ + ' ' + escape_help(help_) + '\n';
  out += "# TYPE " + name_ + ' ' + type_ + '\n';
  std::lock_guard<std::mutex> lock(mu_);
  render_samples(out);
}

// ---- Counter ----

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), "counter", std::move(label_names)) {
  if (label_names_.empty()) values_[{}] = 0;  // a counter without labels exists from the start
}

void Counter::add(const LabelValues& labels, double value) {
  check(labels);
  if (!(value >= 0)) fail("counter {} cannot go down", name_);
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] += value;
}

void Counter::set(const LabelValues& labels, double value) {
  check(labels);
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] = value;
}

double Counter::value(const LabelValues& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Counter::render_samples(std::string& out) const {
  for (const auto& [labels, v] : values_) out += name_ + label_text(labels) + ' ' + format_sample_value(v) + '\n';
}

// ---- Gauge ----

Gauge::Gauge(std::string name, std::string help, std::vector<std::string> label_names)
    : MetricFamily(std::move(name), std::move(help), "gauge", std::move(label_names)) {
  if (label_names_.empty()) values_[{}] = 0;
}

void Gauge::set(const LabelValues& labels, double value) {
  check(labels);
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] = value;
}

void Gauge::add(const LabelValues& labels, double value) {
  check(labels);
  std::lock_guard<std::mutex> lock(mu_);
  values_[labels] += value;
}

double Gauge::value(const LabelValues& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Gauge::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  values_.clear();
  if (label_names_.empty()) values_[{}] = 0;
}

void Gauge::render_samples(std::string& out) const {
  for (const auto& [labels, v] : values_) out += name_ + label_text(labels) + ' ' + format_sample_value(v) + '\n';
}

// ---- Histogram ----

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> bounds)
    : MetricFamily(std::move(name), std::move(help), "histogram", std::move(label_names)), bounds_(std::move(bounds)) {
  for (size_t i = 1; i < bounds_.size(); ++i)
    if (!(bounds_[i] > bounds_[i - 1])) fail("histogram {}: bucket bounds must increase", name_);
  for (const std::string& l : label_names_)
    if (l == "le") fail("histogram {}: 'le' is the bucket label", name_);
}

void Histogram::observe(const LabelValues& labels, double value) {
  check(labels);
  size_t b = 0;
  while (b < bounds_.size() && value > bounds_[b]) ++b;  // bucket b: value <= bounds_[b]
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = series_[labels];
  s.counts.resize(bounds_.size() + 1);
  ++s.counts[b];
  s.sum += value;
}

void Histogram::set(const LabelValues& labels, const std::vector<uint64_t>& counts, double sum) {
  check(labels);
  if (counts.size() != bounds_.size() + 1) fail("histogram {}: {} bucket counts for {} bounds", name_, counts.size(), bounds_.size());
  std::lock_guard<std::mutex> lock(mu_);
  series_[labels] = {counts, sum};
}

void Histogram::render_samples(std::string& out) const {
  for (const auto& [labels, s] : series_) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= bounds_.size(); ++b) {
      cumulative += s.counts[b];
      const std::string le = b < bounds_.size() ? format_sample_value(bounds_[b]) : "+Inf";
      out += name_ + "_bucket" + label_text(labels, "le=\"" + le + '"') + ' ' + std::to_string(cumulative) + '\n';
    }
    out += name_ + "_sum" + label_text(labels) + ' ' + format_sample_value(s.sum) + '\n';
    out += name_ + "_count" + label_text(labels) + ' ' + std::to_string(cumulative) + '\n';
  }
}

// ---- Registry ----

template <class F, class... A>
F& Registry::add(A&&... args) {
  auto f = std::make_unique<F>(std::forward<A>(args)...);
  F& ref = *f;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& g : families_)
    if (g->name() == ref.name()) fail("metric {} is registered twice", ref.name());
  families_.push_back(std::move(f));
  return ref;
}

Counter& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names) {
  return add<Counter>(std::move(name), std::move(help), std::move(label_names));
}

Gauge& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  return add<Gauge>(std::move(name), std::move(help), std::move(label_names));
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<std::string> label_names,
                               std::vector<double> bounds) {
  return add<Histogram>(std::move(name), std::move(help), std::move(label_names), std::move(bounds));
}

void Registry::add_collector(std::function<void()> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);  // one scrape at a time: collectors write the gauges they render
  for (const auto& c : collectors_) c();
  std::string out;
  for (const auto& f : families_) f->render(out);
  return out;
}

int64_t resident_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return int64_t(resident) * int64_t(::sysconf(_SC_PAGESIZE));
}

}  // namespace hearth::server
