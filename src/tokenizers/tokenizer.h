// Tokenizers: text <-> token ids, one implementation per algorithm (WordPiece, SentencePiece-style BPE,
// byte-level BPE, unigram), each configured from a vocabulary's metadata (GGUF tokenizer.ggml.* keys, or a
// Hugging Face tokenizer.json / vocab.txt translated into those keys by the loader).
// Tokenizers are immutable after construction and safe to use from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

class Weights;
class Metadata;

struct SpecialTokens {
  int32_t bos = -1, eos = -1, eot = -1, unk = -1, sep = -1, pad = -1, cls = -1, mask = -1;
  bool add_bos = false, add_eos = false;  // added by encode(add_special = true)
};

// How a cross-encoder's input frames a pair of texts A (the query) and B (the document): prefix A middle B suffix,
// each framing token with its token type ("segment") id, as Hugging Face's pair template does. BERT:
// [CLS]:0 A:0 [SEP]:0 B:1 [SEP]:1; XLM-RoBERTa: <s> A </s> </s> B </s>, all type 0.
struct PairTemplate {
  struct Token {
    int32_t id = -1;
    int32_t type = 0;
  };
  std::vector<Token> prefix, middle, suffix;
  int32_t type_a = 0, type_b = 0;  // the token types of A's and B's own tokens
  bool valid = false;              // false: the vocabulary has no tokens to frame a pair with
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // add_special: add the model's framing tokens ([CLS] … [SEP], BOS, …) as the vocabulary says.
  // parse_special: recognize the text of special/control tokens (e.g. "<|im_start|>") as those tokens.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const = 0;

  // The bytes token `id` stands for when decoding (byte tokens give their raw byte; may be partial UTF-8).
  virtual std::string token_to_piece(int32_t id, bool render_special = false) const = 0;
  // Decodes a whole sequence (handles the algorithm's word-boundary rules, e.g. "##" or the leading space).
  virtual std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  // The pair framing: the vocabulary's post-processor's pair template when it has one (tokenizer.json), else from
  // the special tokens: BERT's for a WordPiece vocabulary with [CLS] and [SEP], RoBERTa's (<s> A </s></s> B </s>,
  // with cls/bos, sep/eos) otherwise.
  virtual PairTemplate pair_template() const;

  virtual int32_t n_vocab() const = 0;
  virtual std::string type_name() const = 0;  // "wordpiece", "spm", "bpe", "unigram"
  const SpecialTokens& special() const { return special_; }
  virtual bool is_end_of_generation(int32_t id) const;
  // The longest sequence the model accepts (0 = unlimited); encode() never truncates, callers do.
  int max_tokens() const { return max_tokens_; }
  void set_max_tokens(int n) { max_tokens_ = n; }
  // A number no other tokenizer of this process has (a copy shares it: same vocabulary). What is derived from
  // a vocabulary and cached (grammar/token_constraint.h) is keyed by it, since an address can be reused.
  uint64_t instance_id() const { return instance_id_; }

 protected:
  SpecialTokens special_;
  int max_tokens_ = 0;

 private:
  static uint64_t next_instance_id();
  uint64_t instance_id_ = next_instance_id();
};

// Builds the tokenizer a model's metadata describes (tokenizer.ggml.model = "bert", "llama", "gpt2", ...).
// Error naming the model type if it is unknown or the vocabulary is inconsistent.
std::unique_ptr<Tokenizer> load_tokenizer(const Metadata& metadata, const std::string& source);
// From a path: a GGUF file (full model or vocabulary only), or a folder holding tokenizer.json or vocab.txt.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// Incremental detokenizer for streaming: returns only complete UTF-8, holding back a partial sequence until
// the tokens that complete it arrive.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  std::string push(int32_t id);
  std::string flush();  // whatever is held back (incomplete bytes are emitted as-is)

 private:
  const Tokenizer& tok_;
  std::string pending_;
  bool first_ = true;
};

}  // namespace hearth
