// A small parser of the Prometheus text exposition format 0.0.4 for the tests: it checks the shape strictly
// (every sample belongs to a family announced by # TYPE, label values are properly quoted and escaped, values
// parse) and returns the samples so that tests can read counters and histograms.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::test {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromText {
  std::map<std::string, std::string> types;  // family -> counter | gauge | histogram | ...
  std::map<std::string, std::string> help;
  std::vector<PromSample> samples;
  std::string error;  // the first problem found, "" if none

  // The sum of the samples named `name` whose labels include `want` (0 when none).
  double sum(const std::string& name, const std::map<std::string, std::string>& want = {}) const {
    double total = 0;
    for (const PromSample& s : samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : want) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) match = false;
      }
      if (match) total += s.value;
    }
    return total;
  }
  bool has(const std::string& name) const {
    for (const PromSample& s : samples)
      if (s.name == name) return true;
    return false;
  }
};

inline PromText parse_prometheus_text(const std::string& text) {
  PromText out;
  auto fail = [&](const std::string& why, const std::string& line) {
    if (out.error.empty()) out.error = why + ": " + line;
  };
  auto family_of = [&](const std::string& sample) -> std::string {
    if (out.types.count(sample)) return sample;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
        const std::string base = sample.substr(0, sample.size() - s.size());
        auto it = out.types.find(base);
        if (it != out.types.end() && (it->second == "histogram" || it->second == "summary")) return base;
      }
    }
    return "";
  };
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name;
      words >> hash >> kind >> name;
      std::string rest;
      std::getline(words, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (kind == "TYPE") {
        if (out.types.count(name)) fail("family typed twice", line);
        if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" && rest != "untyped")
          fail("unknown type", line);
        out.types[name] = rest;
      } else if (kind == "HELP") {
        out.help[name] = rest;
      }
      continue;
    }
    PromSample s;
    size_t i = 0;
    while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == ':')) ++i;
    s.name = line.substr(0, i);
    if (s.name.empty() || std::isdigit(static_cast<unsigned char>(s.name[0]))) {
      fail("bad metric name", line);
      continue;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t k = i;
        while (k < line.size() && (std::isalnum(static_cast<unsigned char>(line[k])) || line[k] == '_')) ++k;
        const std::string key = line.substr(i, k - i);
        if (key.empty() || k + 1 >= line.size() || line[k] != '=' || line[k + 1] != '"') {
          fail("bad label", line);
          break;
        }
        std::string value;
        size_t v = k + 2;
        bool closed = false;
        for (; v < line.size(); ++v) {
          if (line[v] == '\\') {
            if (v + 1 >= line.size()) break;
            const char e = line[++v];
            if (e == 'n') value += '\n';
            else if (e == '\\' || e == '"') value += e;
            else fail("bad escape in label value", line);
          } else if (line[v] == '"') {
            closed = true;
            break;
          } else {
            value += line[v];
          }
        }
        if (!closed) {
          fail("unterminated label value", line);
          break;
        }
        if (s.labels.count(key)) fail("label given twice", line);
        s.labels[key] = value;
        i = v + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        fail("unterminated labels", line);
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      fail("no value", line);
      continue;
    }
    const std::string value = line.substr(i + 1);
    if (value == "+Inf") s.value = INFINITY;
    else if (value == "-Inf") s.value = -INFINITY;
    else if (value == "NaN") s.value = NAN;
    else {
      char* end = nullptr;
      s.value = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0') fail("bad value", line);
    }
    if (family_of(s.name).empty()) fail("sample without a # TYPE", line);
    out.samples.push_back(std::move(s));
  }
  // Histograms: buckets cumulative and ending with +Inf equal to _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    for (const PromSample& s : out.samples) {
      if (s.name == family + "_bucket") {
        auto labels = s.labels;
        auto le = labels.find("le");
        if (le == labels.end()) {
          out.error = "bucket without le in " + family;
          continue;
        }
        const double bound = le->second == "+Inf" ? INFINITY : std::strtod(le->second.c_str(), nullptr);
        labels.erase(le);
        buckets[labels].push_back({bound, s.value});
      } else if (s.name == family + "_count") {
        counts[s.labels] = s.value;
      }
    }
    for (const auto& [labels, b] : buckets) {
      for (size_t k = 1; k < b.size(); ++k)
        if (!(b[k].first > b[k - 1].first) || b[k].second < b[k - 1].second)
          if (out.error.empty()) out.error = "histogram buckets not increasing in " + family;
      if (b.empty() || !std::isinf(b.back().first) || counts[labels] != b.back().second)
        if (out.error.empty()) out.error = "histogram +Inf bucket differs from _count in " + family;
    }
  }
  return out;
}

}  // namespace hearth::test
