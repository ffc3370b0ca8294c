#include "runtime/reranker.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "models/registry.h"

namespace hearth {

Reranker::Reranker(std::shared_ptr<const Weights> weights, Backend& backend, int64_t batch_tokens)
    : weights_(std::move(weights)) {
  HEARTH_ASSERT(weights_ != nullptr);
  if (batch_tokens > 0) batch_tokens_ = batch_tokens;
  model_ = load_encoder(*weights_, backend);
  if (model_->n_classes() == 0)
    fail(ErrorKind::kUnsupported,
         "{}: this model has no classification head: it is an embedding model, and reranking needs a cross-encoder "
         "(e.g. a *ForSequenceClassification checkpoint)",
         weights_->source());
  if (model_->n_classes() != 1)
    fail(ErrorKind::kUnsupported,
         "{}: the classification head has {} outputs; a reranker has one (the relevance logit)", weights_->source(),
         model_->n_classes());
  tokenizer_ = load_tokenizer(weights_->metadata(), weights_->source());
  template_ = tokenizer_->pair_template();
  if (!template_.valid)
    fail(ErrorKind::kUnsupported, "{}: the vocabulary has no tokens to frame a query-document pair with",
         weights_->source());
  if (model_->n_token_types() < 2) {
    // One segment: every token is type 0, whatever the template says.
    for (auto* list : {&template_.prefix, &template_.middle, &template_.suffix})
      for (PairTemplate::Token& t : *list) t.type = 0;
    template_.type_a = template_.type_b = 0;
  }
  max_tokens_ = model_->max_tokens();
  if (tokenizer_->max_tokens() > 0) max_tokens_ = std::min(max_tokens_, tokenizer_->max_tokens());
  const size_t framing = template_.prefix.size() + template_.middle.size() + template_.suffix.size();
  if (size_t(max_tokens_) < framing + 2)
    fail(ErrorKind::kCorruptData, "{}: the model takes {} tokens, too few for a pair", weights_->source(),
         max_tokens_);
}

Reranker::~Reranker() = default;

std::vector<int32_t> Reranker::tokenize_query(std::string_view query) const {
  // parse_special = false: text that spells a special token stays text.
  return tokenizer_->encode(query, /*add_special=*/false, /*parse_special=*/false);
}

PairTokens Reranker::tokenize_pair(const std::vector<int32_t>& query, std::string_view document) const {
  const std::vector<int32_t> doc = tokenizer_->encode(document, false, false);
  const size_t framing = template_.prefix.size() + template_.middle.size() + template_.suffix.size();
  const size_t room = size_t(max_tokens_) - framing;
  // Longest first: the longer side gives up tokens until both fit.
  size_t nq = query.size(), nd = doc.size();
  if (nq + nd > room) {
    if (nq <= room / 2) {
      nd = room - nq;
    } else if (nd <= room / 2) {
      nq = room - nd;
    } else {
      nd = room / 2;
      nq = room - nd;
    }
  }
  PairTokens p;
  p.truncated = nq < query.size() || nd < doc.size();
  p.ids.reserve(nq + nd + framing);
  p.types.reserve(nq + nd + framing);
  auto framing_tokens = [&](const std::vector<PairTemplate::Token>& list) {
    for (const PairTemplate::Token& t : list) p.ids.push_back(t.id), p.types.push_back(t.type);
  };
  framing_tokens(template_.prefix);
  p.ids.insert(p.ids.end(), query.begin(), query.begin() + std::ptrdiff_t(nq));
  p.types.resize(p.ids.size(), template_.type_a);
  framing_tokens(template_.middle);
  p.ids.insert(p.ids.end(), doc.begin(), doc.begin() + std::ptrdiff_t(nd));
  p.types.resize(p.ids.size(), template_.type_b);
  framing_tokens(template_.suffix);
  return p;
}

RerankResult Reranker::score(std::string_view query, const std::vector<std::string>& documents) const {
  const std::vector<int32_t> q = tokenize_query(query);
  std::vector<PairTokens> pairs;
  pairs.reserve(documents.size());
  for (const std::string& d : documents) pairs.push_back(tokenize_pair(q, d));
  return score_pairs(pairs);
}

RerankResult Reranker::score_pairs(const std::vector<PairTokens>& pairs) const {
  RerankResult r;
  r.scores.resize(pairs.size());
  r.n_tokens.resize(pairs.size());
  r.truncated.resize(pairs.size());
  bool any_type = false;
  for (size_t i = 0; i < pairs.size(); ++i) {
    r.n_tokens[i] = int(pairs[i].ids.size());
    r.truncated[i] = pairs[i].truncated;
    r.total_tokens += int64_t(pairs[i].ids.size());
    for (int32_t t : pairs[i].types) any_type |= t != 0;
  }
  // Shortest first, so each forward pass holds pairs of similar length.
  std::vector<size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return pairs[a].ids.size() < pairs[b].ids.size(); });
  std::vector<std::vector<int32_t>> ids, types;
  std::vector<size_t> members;
  int64_t batch = 0;
  auto flush = [&] {
    if (ids.empty()) return;
    const auto logits = model_->classify(ids, types);
    HEARTH_ASSERT(logits.size() == ids.size());
    for (size_t j = 0; j < members.size(); ++j) r.scores[members[j]] = logits[j].at(0);
    ids.clear();
    types.clear();
    members.clear();
    batch = 0;
  };
  for (size_t i : order) {
    const int64_t n = int64_t(pairs[i].ids.size());
    if (!ids.empty() && batch + n > batch_tokens_) flush();
    ids.push_back(pairs[i].ids);
    if (any_type) types.push_back(pairs[i].types);
    members.push_back(i);
    batch += n;
  }
  flush();
  return r;
}

}  // namespace hearth
