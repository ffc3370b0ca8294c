#include "tokenizers/tokenizer.h"

#include <atomic>

#include "core/utf8.h"

namespace hearth {

uint64_t Tokenizer::next_instance_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += token_to_piece(id, render_special);
  return out;
}

PairTemplate Tokenizer::pair_template() const {
  PairTemplate p;
  const int32_t cls = special_.cls >= 0 ? special_.cls : special_.bos;
  const int32_t sep = special_.sep >= 0 ? special_.sep : special_.eos;
  if (cls < 0 || sep < 0) return p;
  p.valid = true;
  if (type_name() == "wordpiece") {  // BERT: [CLS] A [SEP] B [SEP], B and its [SEP] in segment 1
    p.prefix = {{cls, 0}};
    p.middle = {{sep, 0}};
    p.suffix = {{sep, 1}};
    p.type_b = 1;
  } else {  // RoBERTa: <s> A </s> </s> B </s>, one segment
    p.prefix = {{cls, 0}};
    p.middle = {{sep, 0}, {sep, 0}};
    p.suffix = {{sep, 0}};
  }
  return p;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && (id == special_.eos || id == special_.eot);
}

std::string StreamDecoder::push(int32_t id) {
  // The first token goes through decode() so that the algorithm's start-of-text rule (e.g. dropping the
  // leading space SentencePiece adds) applies exactly as it does to a whole sequence.
  pending_ += first_ ? tok_.decode({id}) : tok_.token_to_piece(id);
  first_ = false;
  const size_t hold = utf8_incomplete_tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace hearth
