// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition
// format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/): per family a `# HELP` and a
// `# TYPE` line, then one sample per label set, `name{label="value",...} value`; histograms as cumulative
// `_bucket{le="..."}` samples ending with le="+Inf", then `_sum` and `_count`. Label values escape `\`, `"` and
// newlines; help texts `\` and newlines.
//
// Thread-safe: any thread may update a family while another renders. Updates take the family's mutex (a map
// lookup and an add), which is cheap next to an HTTP request or an engine step.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::server {

using LabelValues = std::vector<std::string>;  // in the order of the family's label names

std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view help);
// A sample value as Prometheus writes it: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string format_sample_value(double value);

class MetricFamily {
 public:
  MetricFamily(std::string name, std::string help, std::string type, std::vector<std::string> label_names);
  virtual ~MetricFamily() = default;
  const std::string& name() const { return name_; }
  void render(std::string& out) const;

 protected:
  // `{a="x",b="y"}` (with `extra` appended, e.g. le="0.5"), or "" without labels.
  std::string label_text(const LabelValues& values, const std::string& extra = "") const;
  void check(const LabelValues& values) const;  // as many values as label names
  virtual void render_samples(std::string& out) const = 0;

  const std::string name_, help_, type_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
};

class Counter : public MetricFamily {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names);
  void add(const LabelValues& labels, double value = 1);  // value >= 0
  // For counts kept elsewhere (the engines' statistics), copied in at scrape time.
  void set(const LabelValues& labels, double value);
  double value(const LabelValues& labels) const;

 private:
  void render_samples(std::string& out) const override;
  std::map<LabelValues, double> values_;
};

class Gauge : public MetricFamily {
 public:
  Gauge(std::string name, std::string help, std::vector<std::string> label_names);
  void set(const LabelValues& labels, double value);
  void add(const LabelValues& labels, double value);
  double value(const LabelValues& labels) const;
  void clear();  // drops every label set (gauges re-read at each scrape: models that went away disappear)

 private:
  void render_samples(std::string& out) const override;
  std::map<LabelValues, double> values_;
};

class Histogram : public MetricFamily {
 public:
  // `bounds`: the buckets' upper bounds, increasing (the +Inf bucket is implied).
  Histogram(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds);
  void observe(const LabelValues& labels, double value);
  // For distributions kept elsewhere: `counts[i]` observations in bucket i (not cumulative; one more entry than
  // bounds, the last for values above every bound) and their sum, copied in at scrape time.
  void set(const LabelValues& labels, const std::vector<uint64_t>& counts, double sum);
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct Series {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; the last one is +Inf
    double sum = 0;
  };
  void render_samples(std::string& out) const override;
  const std::vector<double> bounds_;
  std::map<LabelValues, Series> series_;
};

class Registry {
 public:
  // The families are owned by the registry and live as long as it; names must be unique.
  Counter& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Gauge& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  Histogram& histogram(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds);
  // Runs before each render (gauges read from elsewhere: queue depths, memory).
  void add_collector(std::function<void()> collect);
  // Every family, in the order they were added.
  std::string render() const;

 private:
  template <class F, class... A>
  F& add(A&&... args);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_;
  std::vector<std::function<void()>> collectors_;
};

// The resident set size of this process (from /proc/self/statm), 0 where it cannot be read.
int64_t resident_memory_bytes();

// The content type of the text format.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace hearth::server
