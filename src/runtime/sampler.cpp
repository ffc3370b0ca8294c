#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hearth {

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[size_t(best)]) best = int32_t(i);
  return best;
}

Sampler::Sampler(const SamplerOptions& options) : opt_(options), rng_(options.seed) {
  if (!(opt_.temperature >= 0) || std::isinf(opt_.temperature)) fail("temperature must be >= 0");
  if (!(opt_.top_p >= 0 && opt_.top_p <= 1)) fail("top-p must be in [0, 1]");
  if (!(opt_.min_p >= 0 && opt_.min_p <= 1)) fail("min-p must be in [0, 1]");
  if (!(opt_.repeat_penalty > 0) || std::isinf(opt_.repeat_penalty)) fail("repeat penalty must be > 0");
  if (!std::isfinite(opt_.frequency_penalty) || !std::isfinite(opt_.presence_penalty))
    fail("frequency / presence penalties must be finite");
  if (opt_.penalty_last_n < -1) fail("penalty window must be >= -1");
}

void Sampler::reset() {
  rng_.seed(opt_.seed);
  recent_.clear();
  counts_.clear();
}

double Sampler::uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

void Sampler::accept(int32_t id) {
  if (opt_.penalty_last_n == 0) return;
  recent_.push_back(id);
  ++counts_[id];
  if (opt_.penalty_last_n > 0 && recent_.size() > size_t(opt_.penalty_last_n)) {
    const int32_t old = recent_.front();
    recent_.pop_front();
    if (--counts_[old] == 0) counts_.erase(old);
  }
}

void Sampler::apply_penalties(std::vector<Candidate>& c) const {
  if (counts_.empty() ||
      (opt_.repeat_penalty == 1.0f && opt_.frequency_penalty == 0.0f && opt_.presence_penalty == 0.0f))
    return;
  for (auto& [logit, id] : c) {
    auto it = counts_.find(id);
    if (it == counts_.end()) continue;
    // llama.cpp's rule: dividing a negative logit would raise it, so negative logits are multiplied.
    logit = logit <= 0 ? logit * opt_.repeat_penalty : logit / opt_.repeat_penalty;
    logit -= float(it->second) * opt_.frequency_penalty + opt_.presence_penalty;
  }
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.empty()) fail("sampler: empty logits");
  cand_.clear();
  cand_.reserve(logits.size());
  // A NaN would break the sort's ordering (undefined behaviour in std::sort), so it counts as -inf.
  for (size_t i = 0; i < logits.size(); ++i)
    cand_.emplace_back(std::isnan(logits[i]) ? -INFINITY : logits[i], int32_t(i));
  apply_penalties(cand_);

  auto better = [](const Candidate& a, const Candidate& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (opt_.temperature <= 0) return std::min_element(cand_.begin(), cand_.end(), better)->second;

  // Sorted descending from here on (top-k sorts only what it keeps).
  if (opt_.top_k > 0 && size_t(opt_.top_k) < cand_.size()) {
    std::partial_sort(cand_.begin(), cand_.begin() + opt_.top_k, cand_.end(), better);
    cand_.resize(size_t(opt_.top_k));
  } else {
    std::sort(cand_.begin(), cand_.end(), better);
  }
  if (!std::isfinite(cand_.front().first)) return cand_.front().second;  // no distribution to draw from

  auto softmax = [&] {
    probs_.resize(cand_.size());
    const double mx = cand_.front().first;
    double sum = 0;
    for (size_t i = 0; i < cand_.size(); ++i) sum += probs_[i] = std::exp(double(cand_[i].first) - mx);
    for (double& p : probs_) p /= sum;
  };
  if (opt_.top_p < 1.0f) {
    softmax();
    double cum = 0;
    size_t keep = cand_.size();
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += probs_[i];
      if (cum >= opt_.top_p) {
        keep = i + 1;
        break;
      }
    }
    cand_.resize(keep);
  }
  if (opt_.min_p > 0.0f) {
    const float threshold = cand_.front().first + std::log(opt_.min_p);
    size_t keep = 1;
    while (keep < cand_.size() && cand_[keep].first >= threshold) ++keep;
    cand_.resize(keep);
  }
  for (auto& c : cand_) c.first /= opt_.temperature;
  softmax();
  const double u = uniform01(rng_);
  double cum = 0;
  for (size_t i = 0; i < cand_.size(); ++i) {
    cum += probs_[i];
    if (u < cum) return cand_[i].second;
  }
  return cand_.back().second;  // u within rounding of 1
}

}  // namespace hearth
