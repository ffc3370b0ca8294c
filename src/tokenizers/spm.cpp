#include "tokenizers/spm.h"

#include <algorithm>
#include <cstdint>
#include <queue>

#include "core/error.h"
#include "core/utf8.h"
#include "formats/metadata.h"
#include "tokenizers/vocab.h"

namespace hearth {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

class SpmTokenizer final : public VocabTokenizer {
 public:
  SpmTokenizer(Vocab vocab, bool add_space_prefix) : VocabTokenizer(std::move(vocab)), add_space_prefix_(add_space_prefix) {}

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_special && special_.add_bos && special_.bos >= 0) out.push_back(special_.bos);
    bool after_special = true;  // the text start counts as following a special token
    for (const auto& frag : vocab_.split_special(text, parse_special)) {
      if (frag.token >= 0) {
        out.push_back(frag.token);
        after_special = true;
        continue;
      }
      std::string raw;
      if (add_space_prefix_ && after_special) raw += ' ';
      raw += frag.text;
      encode_text(escape_spaces(raw), out);
      after_special = false;
    }
    if (add_special && special_.add_eos && special_.eos >= 0) out.push_back(special_.eos);
    return out;
  }

  std::string token_to_piece(int32_t id, bool render_special) const override {
    check_id(id);
    const uint16_t a = vocab_.attr(id);
    const std::string& t = vocab_.text(id);
    if (a & (kAttrControl | kAttrUnknown)) return render_special ? t : std::string();
    if (a & kAttrUserDefined) return t;
    if (a & kAttrNormal) return unescape_spaces(t);
    if (a & kAttrByte) {
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hex_digit(t[3]) >= 0 && hex_digit(t[4]) >= 0)
        return std::string(1, char(hex_digit(t[3]) * 16 + hex_digit(t[4])));
      return t;
    }
    return {};
  }

  std::string decode(const std::vector<int32_t>& ids, bool render_special) const override {
    std::string text;
    for (size_t i = 0; i < ids.size(); ++i) {
      std::string piece = token_to_piece(ids[i], render_special);
      // Only the very first token loses its space: after a BOS kept in the sequence the space stays
      // (llama.cpp's detokenize does the same).
      if (i == 0 && add_space_prefix_ && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
      text += piece;
    }
    return text;
  }

  std::string type_name() const override { return "spm"; }

 private:
  struct Symbol {
    uint32_t offset, size;
    int32_t prev, next;
  };
  struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
    // Priority order: higher score first, then the leftmost pair.
    bool operator<(const Bigram& o) const { return score < o.score || (score == o.score && left > o.left); }
  };

  void encode_text(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    if (text.size() >= UINT32_MAX)
      fail(ErrorKind::kResourceExhausted, "text too long to tokenize ({} bytes)", text.size());
    std::vector<Symbol> sym;
    sym.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
      const size_t len = std::min<size_t>(utf8_seq_len(static_cast<unsigned char>(text[off])), text.size() - off);
      const int32_t index = int32_t(sym.size());
      sym.push_back({uint32_t(off), uint32_t(len), index - 1, off + len == text.size() ? -1 : index + 1});
      off += len;
    }
    std::priority_queue<Bigram> queue;
    auto try_add = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const uint32_t size = sym[size_t(left)].size + sym[size_t(right)].size;
      const int32_t id = vocab_.find(text.substr(sym[size_t(left)].offset, size));
      if (id >= 0) queue.push({vocab_.score(id), left, right, size});
    };
    for (int32_t i = 1; i < int32_t(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      Symbol& l = sym[size_t(b.left)];
      Symbol& r = sym[size_t(b.right)];
      // Stale: one side has merged with something else since this pair was queued (sizes only grow).
      if (l.size == 0 || r.size == 0 || l.size + r.size != b.size) continue;
      l.size += r.size;
      r.size = 0;
      l.next = r.next;
      if (r.next >= 0) sym[size_t(r.next)].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int32_t i = 0; i != -1; i = sym[size_t(i)].next) {
      const std::string_view piece = text.substr(sym[size_t(i)].offset, sym[size_t(i)].size);
      if (int32_t id = vocab_.find(piece); id >= 0) {
        out.push_back(id);
        continue;
      }
      for (char c : piece) out.push_back(byte_fallback(static_cast<uint8_t>(c)));
    }
  }

  int32_t byte_fallback(uint8_t byte) const {
    if (int32_t id = vocab_.byte_token(byte); id >= 0) return id;
    // Vocabularies without byte tokens may still hold the character itself.
    if (int32_t id = vocab_.find(std::string(1, char(byte))); id >= 0) return id;
    return special_.unk;
  }

  bool add_space_prefix_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(const Metadata& md, const std::string& source) {
  // llama.cpp's defaults for SentencePiece vocabularies, used where the file names none.
  SpecialTokens defaults;
  defaults.bos = 1;
  defaults.eos = 2;
  defaults.unk = 0;
  defaults.add_bos = true;
  Vocab vocab = Vocab::from_metadata(md, source, defaults);
  if (vocab.special().unk < 0)
    fail(ErrorKind::kCorruptData, "{}: SentencePiece vocabulary has no unknown token", source);
  const bool add_space_prefix = md.find_bool("tokenizer.ggml.add_space_prefix").value_or(true);
  return std::make_unique<SpmTokenizer>(std::move(vocab), add_space_prefix);
}

}  // namespace hearth
